//! `ferrolb run --config FILE --node NAME`: ferrolb without Kubernetes.
//!
//! ```text
//!   config file ──(inotify)──► Config::load ──► valid? ──no──► log FILE:LINE, keep last good
//!                                                  │yes
//!   state file ◄── Assignments ◄── ipam::allocate ◄┘ (previous assignments keep IPs stable)
//!                                     │
//!   gossip (alive speakers) ──► announce::plan_l2 ──► VIPs led here ──► ARP/NDP responder
//!                               announce::plan_bgp ──► routes per peer ──► BgpSessions (TCP 179)
//!                          both ──► the host accepts those VIPs (local routes)
//!   SIGTERM / SIGINT ──► leave the gossip, Cease to every peer, release every VIP, stop
//! ```
//!
//! One task runs the loop below; rtnetlink's carries the netlink socket; each
//! BGP session, the gossip and the ARP/NDP responder have their own tasks.
//! Everything after allocation is the [`announcer::Announcer`], which
//! `ferrolb speaker` shares.

pub mod announcer;
mod bgp;
mod config;
mod host;
mod l2;
mod state;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ferrolb_ipam::{Allocation, Assignments, Options};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, info, warn};

use self::announcer::{Announcer, GossipOptions};
use self::config::Config;
use self::host::HostVips;
use self::state::StateFile;
use self::watch::ConfigWatch;

/// Arguments of `ferrolb run`.
#[derive(clap::Args)]
pub struct Args {
    /// The cluster file (MetalLB resources plus Nodes and Services), or a directory of them.
    #[arg(long)]
    config: PathBuf,
    /// This host's Node in the file.
    #[arg(long)]
    node: String,
    /// Where the assignments are kept across restarts.
    #[arg(long, default_value = "/var/lib/ferrolb")]
    state_dir: PathBuf,
    /// The loadBalancerClass ferrolb serves; without it, only Services with no class.
    #[arg(long)]
    lb_class: Option<String>,
    #[command(flatten)]
    gossip: GossipOptions,
}

/// Runs until SIGTERM or SIGINT.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::cmd::init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<ExitCode> {
    let state = StateFile::new(&args.state_dir, &args.node);
    let options = Options { lb_class: args.lb_class.clone() };
    let mut watch = ConfigWatch::new(&args.config);
    let config = match load(&args.config, &args.node).await {
        Ok(config) => config,
        Err(problems) => {
            for d in &problems {
                warn!(problem = %d, "configuration rejected");
            }
            anyhow::bail!("{}: no valid configuration to start from", args.config.display());
        }
    };
    let previous = state.load().with_context(|| format!("reading {}", state.path().display()))?;
    let host = HostVips::open().await.context("opening a netlink socket")?;
    let gossip = args.gossip.clone();
    let mut running =
        Running { announcer: Announcer::new(&args.node, gossip, Some(host)), assignments: previous };
    running.apply(config, &options, &state).await?;

    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            event = running.announcer.next_event() => running.announcer.on_event(event).await,
            () = watch.changed() => {
                match load(&args.config, &args.node).await {
                    Ok(config) => running.apply(config, &options, &state).await?,
                    Err(problems) => {
                        for d in &problems {
                            warn!(problem = %d, "configuration change rejected; the last good one keeps running");
                        }
                    }
                }
            }
        }
    }
    info!(node = %args.node, "stopping");
    running.announcer.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// What is in force.
struct Running {
    announcer: Announcer,
    /// The assignments saved in the state file.
    assignments: Assignments,
}

impl Running {
    /// Plans `config` against what is in force, saves the assignments and
    /// logs what changed.
    async fn apply(&mut self, config: Config, options: &Options, state: &StateFile) -> anyhow::Result<()> {
        let snapshot = Arc::new(config.snapshot);
        let (allocation, assignments) = {
            let (snapshot, assignments, options) =
                (Arc::clone(&snapshot), self.assignments.clone(), options.clone());
            off_thread(move || {
                let allocation = ferrolb_ipam::allocate(&snapshot, &assignments, &options);
                let assignments = allocation.assignments();
                (allocation, assignments)
            })
            .await?
        };
        let previous = self.announcer.announce(snapshot, allocation).await?;
        // Let the sessions send before the bookkeeping below: the routers hear
        // of a change first. (Allocation is deterministic, so a crash before
        // the save hands out the same IPs again.)
        tokio::task::yield_now().await;
        let Some(allocation) = self.announcer.allocation() else { return Ok(()) };
        log_changes(previous.as_ref(), allocation);
        info!(
            services = allocation.services.len(),
            assigned = allocation.services.iter().filter(|s| !s.ips.is_empty()).count(),
            "configuration applied"
        );
        if assignments != self.assignments {
            let state = state.clone();
            let (assignments, saved) = off_thread(move || {
                let saved =
                    state.save(&assignments).with_context(|| format!("writing {}", state.path().display()));
                (assignments, saved)
            })
            .await?;
            saved?;
            self.assignments = assignments;
        }
        Ok(())
    }
}

/// Beyond this many changed Services, each is logged at debug level and a
/// count at info: a first start with 100,000 Services should not spend most of
/// its time writing log lines.
const CHANGES_LOGGED_ONE_BY_ONE: usize = 100;

/// Loads and validates the configuration on a blocking thread: the gossip,
/// the BGP keepalives and the ARP/NDP responder run on this one and must not
/// wait behind a large file.
async fn load(path: &std::path::Path, node: &str) -> Result<Config, Vec<ferrolb_api::Diagnostic>> {
    let (path, node) = (path.to_path_buf(), node.to_owned());
    match tokio::task::spawn_blocking(move || Config::load(&path, &node)).await {
        Ok(loaded) => loaded,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs CPU-heavy work (allocation and planning of a large configuration,
/// writing the state file) on a blocking thread, for the same reason.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| anyhow::anyhow!("planning thread failed: {e}"))
}

/// One line per Service whose addresses or error changed, and per Service
/// gone (a summary instead when there are many).
fn log_changes(before: Option<&Allocation>, after: &Allocation) {
    let changed = after
        .services
        .iter()
        .filter(|s| {
            before
                .and_then(|b| b.get(&s.namespace, &s.name))
                .is_none_or(|o| o.ips != s.ips || o.error != s.error)
        })
        .count();
    if changed > CHANGES_LOGGED_ONE_BY_ONE {
        info!(services = changed, "IPs assigned or changed (each one at debug level)");
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
    }
    let one_by_one = changed <= CHANGES_LOGGED_ONE_BY_ONE;
    for s in &after.services {
        let old = before.and_then(|b| b.get(&s.namespace, &s.name));
        let service = format!("{}/{}", s.namespace, s.name);
        let unchanged = old.is_some_and(|o| o.ips == s.ips && o.error == s.error);
        if unchanged {
            continue;
        }
        let ips: Vec<String> = s.ips.iter().map(ToString::to_string).collect();
        let pool = s.pool.as_deref().unwrap_or("");
        match (&s.error, one_by_one) {
            (None, true) => info!(service, pool, ips = ips.join(","), "IPs assigned"),
            (None, false) => debug!(service, pool, ips = ips.join(","), "IPs assigned"),
            (Some(e), true) => warn!(service, reason = %e, "no IPs"),
            (Some(e), false) => debug!(service, reason = %e, "no IPs"),
        }
    }
    for s in before.map(|b| b.services.as_slice()).unwrap_or_default() {
        if after.get(&s.namespace, &s.name).is_none() {
            info!(service = format!("{}/{}", s.namespace, s.name), "service removed, IPs released");
        }
    }
}
