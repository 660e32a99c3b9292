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
//!   SIGUSR2 (restart) ──► close graceful-restart sessions without Cease, keep the VIPs, stop
//! ```
//!
//! One task runs the loop below; rtnetlink's carries the netlink socket; each
//! BGP session, the gossip and the ARP/NDP responder have their own tasks.
//! Everything after allocation is the node runtime ([`ferrolb_node::Announcer`]), which
//! `ferrolb speaker` shares.
//!
//! A change to a large file costs little. When it changed only a few
//! Service documents (`ferrolb_api::load::edit_services` compares the
//! documents with those of the last load, by the key of their text), the
//! configuration in force is patched in place: only those Services are
//! allocated and planned again (`ferrolb_ipam::reallocate`,
//! `ferrolb_announce::replan_bgp`, moving the rest of the previous result
//! into the new one), and each peer is sent a patch of its routes, not the
//! whole set to diff. Each step falls back to the full one when it cannot
//! be sure to agree with it. Otherwise the file is loaded again, sharing
//! the Services whose document did not change, and allocated and planned
//! in full. Loading, allocation, planning and the state file run on
//! blocking threads; the routers are told before the state file is written.

mod config;
mod state;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ferrolb_api::Snapshot;
use ferrolb_api::load::{AppliedEdit, ServiceDocuments};
use ferrolb_ipam::{Allocation, Assignments, AssignmentsOf, Kept, Options, ServiceKey, ServiceOutcome};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, info, warn};

use self::config::Config;
use self::state::StateFile;
use self::watch::ConfigWatch;
use ferrolb_node::host::HostVips;
use ferrolb_node::{Announcer, ChangedServices, Stop, drop_elsewhere, off_thread};

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
    /// Where to serve `/metrics` (Prometheus, plain HTTP) and `/healthz`.
    #[arg(long, default_value = "0.0.0.0:7472")]
    metrics_address: std::net::SocketAddr,
    #[command(flatten)]
    secure_metrics: crate::cmd::secure_metrics::SecureMetricsArgs,
    /// The control socket `ferrolb status` asks; default /run/ferrolb/NODE.sock.
    #[arg(long)]
    control_socket: Option<PathBuf>,
    #[command(flatten)]
    l2: L2Args,
    /// Gossip between the nodes without a secret (L2 mode): anyone who can
    /// reach the gossip port can then join the group or evict a member.
    /// Without this flag, a configuration with an L2Advertisement and no
    /// secret (MetalLB's `memberlist` Secret in the file,
    /// --gossip-secret-file, or FERROLB_MEMBERLIST_SECRET) is refused.
    #[arg(long)]
    insecure_gossip: bool,
    #[command(flatten)]
    namespace: crate::cmd::validate::NamespaceArg,
    #[command(flatten)]
    log: crate::cmd::LogArgs,
}

/// Runs until SIGTERM or SIGINT (stop for good) or SIGUSR2 (stop for a restart).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::cmd::serve_on_one_thread(&args.log, serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<ExitCode> {
    let state = StateFile::new(&args.state_dir, &args.node);
    let options = Options { lb_class: args.lb_class.clone() };
    let mut watch = ConfigWatch::new(&args.config);
    let config = match load(args, None).await {
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
    let l2 = args.l2.options();
    let announcer = Announcer::new(&args.node, l2, Some(host));
    let observed = announcer.observed();
    let metrics = observed.clone();
    let ready = tokio::sync::watch::channel(true).1;
    let metrics: crate::cmd::health::Metrics = Arc::new(move || metrics.metrics().render());
    crate::cmd::health::serve_or_warn(args.metrics_address, ready.clone(), Arc::clone(&metrics)).await;
    // Standalone, plain HTTP is the default (as MetalLB's older releases); HTTPS when asked.
    args.secure_metrics.serve_or_warn(None, &args.node, ready, metrics, None).await;
    let socket = args.control_socket.clone().unwrap_or_else(|| crate::cmd::status::socket_of(&args.node));
    let served = crate::cmd::status::serve(&socket, observed.clone()).await;
    if let Err(e) = &served {
        warn!(error = %format!("{e:#}"), "no control socket: `ferrolb status` cannot ask this process");
    }
    let mut generation = 0;
    let mut running = Running {
        announcer,
        saved: Some(state::digest(previous.entries())),
        restored: Some(previous),
        loaded: None,
        config: None,
    };
    running.apply(config, &options, &state).await?;
    running.taken(&mut generation);

    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut restart = signal(SignalKind::user_defined2())?;
    let stop = loop {
        tokio::select! {
            _ = term.recv() => break Stop::Final,
            _ = interrupt.recv() => break Stop::Final,
            _ = restart.recv() => break Stop::Restart,
            event = running.announcer.next_event() => running.announcer.on_event(event).await,
            () = watch.changed() => {
                if running.edit(&args.config, &options, &state).await? {
                    running.taken(&mut generation);
                    continue;
                }
                match load(args, running.loaded.clone()).await {
                    Ok(config) => {
                        running.apply(config, &options, &state).await?;
                        running.taken(&mut generation);
                    }
                    Err(problems) => {
                        let errors: Vec<String> =
                            problems.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
                        observed.configuration_refused(errors.join("\n"));
                        for d in &problems {
                            warn!(problem = %d, "configuration change rejected; the last good one keeps running");
                        }
                    }
                }
            }
        }
    };
    if stop == Stop::Restart {
        info!(node = %args.node, "stopping for a restart (SIGUSR2): routes kept where the peers allow it, VIPs kept");
    } else {
        info!(node = %args.node, "stopping");
    }
    running.announcer.stop(stop).await;
    Ok(ExitCode::SUCCESS)
}

/// What is in force.
struct Running {
    announcer: Announcer,
    /// The assignments read from the state file, until the first
    /// allocation starts from them; after that, each allocation starts from
    /// the one in force (no copy of 100,000 assignments is kept beside it).
    restored: Option<Assignments>,
    /// A digest of the assignments in the state file: the same ones are
    /// not written again.
    saved: Option<u64>,
    /// The configuration in force and where its Services were read: the
    /// next load copies those whose text did not change.
    loaded: Option<Loaded>,
    /// Its `metallb.io` objects, typed: an edit of Services only keeps it.
    config: Option<Arc<ferrolb_api::config::Config>>,
}

/// A snapshot and its Service documents, shared with the loading thread.
type Loaded = (Arc<Snapshot>, Arc<ServiceDocuments>);

impl Running {
    /// `allocated`'s allocation, its time shown to the observers.
    fn allocated_in<T>(&self, (allocated, took): (T, std::time::Duration)) -> T {
        self.announcer.observed().planned("allocation", took);
        allocated
    }

    /// Shows observers the configuration taken, the next `generation`, and its allocation.
    fn taken(&self, generation: &mut u64) {
        *generation += 1;
        let observed = self.announcer.observed();
        observed.configuration_taken(*generation);
        if let Some(allocation) = self.announcer.allocation() {
            observed.allocated(&allocation);
        }
    }

    /// Plans `config` against what is in force, saves the assignments and
    /// logs what changed.
    async fn apply(&mut self, config: Config, options: &Options, state: &StateFile) -> anyhow::Result<()> {
        let snapshot = Arc::new(config.snapshot);
        let before = self.loaded.replace((Arc::clone(&snapshot), Arc::new(config.documents)));
        let before_config = self.config.replace(Arc::clone(&config.config));
        drop_elsewhere((before, before_config));
        let allocation = {
            let (typed, snapshot, options) =
                (Arc::clone(&config.config), Arc::clone(&snapshot), options.clone());
            let previous = self.previous();
            off_thread(move || {
                ferrolb_metrics::timed(|| {
                    ferrolb_ipam::allocate(&typed, &snapshot, &previous.assignments(), &options)
                })
            })
            .await?
        };
        let allocation = self.allocated_in(allocation);
        match self.announce_in_full(config.config, snapshot, allocation).await? {
            Some(allocation) => self.save(allocation, state).await,
            None => Ok(()),
        }
    }

    /// Announces `allocation` of `snapshot` in place of what is announced,
    /// then logs what changed; the allocation now in force.
    async fn announce_in_full(
        &mut self,
        config: Arc<ferrolb_api::config::Config>,
        snapshot: Arc<Snapshot>,
        allocation: Allocation,
    ) -> anyhow::Result<Option<Arc<Allocation>>> {
        let previous = self.announcer.announce(config, snapshot, allocation).await?;
        // Let the sessions send before the bookkeeping below: the routers hear
        // of a change first. (Allocation is deterministic, so a crash before
        // the save hands out the same IPs again.)
        tokio::task::yield_now().await;
        let allocation = self.announcer.allocation();
        if let Some(allocation) = &allocation {
            log_changes(previous.as_deref(), allocation);
        }
        drop_elsewhere(previous);
        Ok(allocation)
    }

    /// Applies a change of the file the short way when it changed only a
    /// few Services (see [`ferrolb_api::load::edit_services`]): the snapshot
    /// in force is patched in place, only those Services are allocated and
    /// planned again, and each peer is sent only what changed. Whether it
    /// did; if not, nothing changed and the caller loads the file again.
    async fn edit(
        &mut self,
        path: &std::path::Path,
        options: &Options,
        state: &StateFile,
    ) -> anyhow::Result<bool> {
        let Some(config) = self.config.clone() else { return Ok(false) };
        let Some(loaded) = self.loaded.take() else { return Ok(false) };
        // The snapshot is changed in place: the announcer lets go of it meanwhile.
        self.announcer.release_snapshot();
        let path = path.to_path_buf();
        let (snapshot, documents, applied) = match off_thread(move || edit_loaded(&path, loaded)).await? {
            Edited::Long((snapshot, documents)) => {
                self.announcer.restore_snapshot(Arc::clone(&snapshot));
                self.loaded = Some((snapshot, documents));
                return Ok(false);
            }
            Edited::Unchanged(snapshot, documents) => {
                let snapshot = Arc::new(snapshot);
                self.announcer.restore_snapshot(Arc::clone(&snapshot));
                self.loaded = Some((snapshot, Arc::new(documents)));
                return Ok(true);
            }
            Edited::Short(snapshot, documents, applied) => (snapshot, documents, applied),
        };
        let changed = changed_services(&snapshot, &applied);
        let snapshot = Arc::new(snapshot);
        self.loaded = Some((Arc::clone(&snapshot), Arc::new(documents)));
        drop_elsewhere(applied);

        let previous = self.announcer.take_allocation();
        let timed = {
            let (config, snapshot, options, changed) =
                (Arc::clone(&config), Arc::clone(&snapshot), options.clone(), changed.clone());
            off_thread(move || {
                ferrolb_metrics::timed(|| {
                    let quick = match previous.map(Arc::try_unwrap) {
                        // Indexed anew at each edit: the announcer keeps the
                        // allocation alone (a pass over the outcomes, as the
                        // short way always made).
                        Some(Ok(previous)) => ferrolb_ipam::reallocate(
                            Kept::new(previous),
                            &config,
                            &snapshot,
                            &changed.of(&snapshot),
                            &options,
                        )
                        .map(Kept::into_allocation)
                        .map_err(|previous| Some(Arc::new(previous.into_allocation()))),
                        Some(Err(shared)) => Err(Some(shared)),
                        None => Err(None),
                    };
                    match quick {
                        Ok(quick) => (Ok(quick), None),
                        Err(previous) => {
                            let assignments = Previous::InForce(previous.clone()).assignments();
                            (
                                Err(ferrolb_ipam::allocate(&config, &snapshot, &assignments, &options)),
                                previous,
                            )
                        }
                    }
                })
            })
            .await?
        };
        let (allocated, previous) = self.allocated_in(timed);
        let reallocated = allocated.is_ok();
        let (allocation, replanned) = match allocated {
            Ok(allocation) => {
                let replanned =
                    self.announcer.announce_changes(config, snapshot, allocation, changed.clone()).await?;
                let allocation = self.announcer.allocation();
                if let Some(allocation) = &allocation {
                    log_changed(allocation, changed.keys());
                }
                (allocation, replanned)
            }
            Err(allocation) => {
                self.announcer.restore_allocation(previous);
                (self.announce_in_full(config, snapshot, allocation).await?, false)
            }
        };
        info!(services = changed.0.len(), reallocated, replanned, "configuration edited");
        if let Some(allocation) = allocation {
            self.save(allocation, state).await?;
        }
        Ok(true)
    }

    /// Logs a summary of `allocation` and saves its assignments if they changed.
    async fn save(&mut self, allocation: Arc<Allocation>, state: &StateFile) -> anyhow::Result<()> {
        info!(
            services = allocation.services.len(),
            assigned = allocation.services.iter().filter(|s| !s.ips.is_empty()).count(),
            "configuration applied"
        );
        let (state, saved) = (state.clone(), self.saved);
        let written = off_thread(move || -> anyhow::Result<Option<u64>> {
            let assignments = AssignmentsOf(&allocation);
            let digest = state::digest(assignments.iter());
            if saved == Some(digest) {
                return Ok(None);
            }
            state.save(&assignments).with_context(|| format!("writing {}", state.path().display()))?;
            Ok(Some(digest))
        })
        .await?;
        match written {
            Ok(Some(digest)) => self.saved = Some(digest),
            Ok(None) => {}
            // The VIPs keep running; the next change tries again (`saved` is
            // unchanged). A restart before then starts from the file as it is.
            Err(e) => {
                warn!(error = %format!("{e:#}"), "cannot save the assignments; they hold in memory, and the next change writes them")
            }
        }
        Ok(())
    }

    /// What the next full allocation starts from: the assignments read from
    /// the state file the first time, then the allocation in force.
    fn previous(&mut self) -> Previous {
        match self.restored.take() {
            Some(restored) => Previous::Restored(restored),
            None => Previous::InForce(self.announcer.allocation()),
        }
    }
}

/// The assignments an allocation starts from.
enum Previous {
    /// Read from the state file.
    Restored(Assignments),
    /// Those of the allocation in force, if any.
    InForce(Option<Arc<Allocation>>),
}

impl Previous {
    /// The assignments, built on the allocating thread and dropped with the rest of its work.
    fn assignments(self) -> Assignments {
        match self {
            Previous::Restored(assignments) => assignments,
            Previous::InForce(allocation) => allocation.map(|a| a.assignments()).unwrap_or_default(),
        }
    }
}

/// What [`edit_loaded`] found.
enum Edited {
    /// Only a full load can tell; the configuration in force, as it was.
    Long(Loaded),
    /// The files did not change.
    Unchanged(Snapshot, ServiceDocuments),
    /// Only Services changed: the configuration in force, patched.
    Short(Snapshot, ServiceDocuments, AppliedEdit),
}

/// Patches the configuration in force for the change of the file at
/// `path`, if only Services changed ([`ferrolb_api::load::edit_services`]).
fn edit_loaded(path: &std::path::Path, (snapshot, documents): Loaded) -> Edited {
    // Only when nothing else holds them, which is the rule: a copy of
    // 100,000 Services would cost more than a full load saves.
    let (mut snapshot, mut documents) = match (Arc::try_unwrap(snapshot), Arc::try_unwrap(documents)) {
        (Ok(snapshot), Ok(documents)) => (snapshot, documents),
        (snapshot, documents) => {
            let (snapshot, documents) = (
                snapshot.map_or_else(|shared| shared, Arc::new),
                documents.map_or_else(|shared| shared, Arc::new),
            );
            return Edited::Long((snapshot, documents));
        }
    };
    match ferrolb_api::load::edit_services(&[path], &snapshot, &documents) {
        None => Edited::Long((Arc::new(snapshot), Arc::new(documents))),
        Some(edit) if edit.is_empty() => Edited::Unchanged(snapshot, documents),
        Some(edit) => {
            let applied = edit.apply(&mut snapshot, &mut documents);
            Edited::Short(snapshot, documents, applied)
        }
    }
}

/// The Services an applied edit changed, with where each is now.
fn changed_services(snapshot: &Snapshot, applied: &AppliedEdit) -> ChangedServices {
    let key = |s: &ferrolb_api::service::LbServiceFields| ServiceKey::new(&*s.namespace, &*s.name);
    let mut changed: Vec<(ServiceKey, Option<usize>)> = applied
        .removed
        .iter()
        .map(|s| (key(s), None))
        .chain(applied.added.iter().map(|&i| (key(&snapshot.services[i]), Some(i))))
        .collect();
    // An edited Service is both removed and added: its place now counts.
    changed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.is_some().cmp(&a.1.is_some())));
    changed.dedup_by(|later, first| later.0 == first.0);
    ChangedServices(changed)
}

/// One line per Service of `keys` (a summary instead when there are many).
fn log_changed<'a>(allocation: &Allocation, keys: impl Iterator<Item = &'a ServiceKey>) {
    let keys: Vec<&ServiceKey> = keys.collect();
    let one_by_one = keys.len() <= CHANGES_LOGGED_ONE_BY_ONE;
    if !one_by_one {
        info!(services = keys.len(), "IPs assigned, changed or released (each one at debug level)");
    }
    for key in keys {
        match allocation.get(&key.namespace, &key.name) {
            Some(outcome) => log_outcome(outcome, one_by_one),
            None => log_removed(&key.to_string(), one_by_one),
        }
    }
}

/// Beyond this many changed Services, each is logged at debug level and a
/// count at info: a first start with 100,000 Services should not spend most of
/// its time writing log lines.
const CHANGES_LOGGED_ONE_BY_ONE: usize = 100;

/// Loads and validates the configuration on a blocking thread: the gossip,
/// the BGP keepalives and the ARP/NDP responder run on this one and must not
/// wait behind a large file.
async fn load(args: &Args, previous: Option<Loaded>) -> Result<Config, Vec<ferrolb_api::Diagnostic>> {
    let (path, node, options) = (args.config.clone(), args.node.clone(), args.namespace.options());
    let load = move || Config::load(&path, &node, &options, previous.as_ref().map(|(s, d)| (&**s, &**d)));
    let config = match tokio::task::spawn_blocking(load).await {
        Ok(loaded) => loaded?,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    match gossip_refused(args, &config) {
        Some(refused) => Err(vec![refused]),
        None => Ok(config),
    }
}

/// Why `config` cannot run: it uses L2 mode, whose gossip has no secret,
/// and `--insecure-gossip` does not allow that.
fn gossip_refused(args: &Args, config: &Config) -> Option<ferrolb_api::Diagnostic> {
    if args.insecure_gossip || config.config.l2_advertisements.is_empty() {
        return None;
    }
    let why = match ferrolb_node::gossip_secret(&args.l2.options(), &config.config) {
        Ok(Some(_)) => return None,
        Ok(None) => "L2 mode needs a gossip secret, and there is none: without one anyone who reaches the \
             gossip port joins the group or evicts a member (expected MetalLB's `memberlist` Secret, key \
             `secretkey`, in the file — the same on every node —, --gossip-secret-file, or \
             FERROLB_MEMBERLIST_SECRET; --insecure-gossip runs without)"
            .to_owned(),
        Err(e) => e,
    };
    let object = config.config.l2_advertisements.first().map(|a| format!("L2Advertisement/{}", a.name));
    Some(ferrolb_api::Diagnostic::error(
        ferrolb_api::diagnostic::Location::new(args.config.display().to_string(), 0),
        object.unwrap_or_default(),
        "",
        why,
    ))
}

/// L2 mode's settings from the command line (`run` and `speaker`).
#[derive(Clone, Debug, clap::Args)]
pub struct L2Args {
    /// UDP port of the gossip between speakers (L2 mode), on every node.
    #[arg(long = "gossip-port", default_value_t = ferrolb_membership::driver::DEFAULT_PORT)]
    port: u16,
    /// A file holding the gossip's shared secret (or a directory with a
    /// `secretkey` file, as MetalLB's memberlist Secret is mounted); without
    /// it, the FERROLB_MEMBERLIST_SECRET environment variable.
    #[arg(long = "gossip-secret-file")]
    secret_file: Option<PathBuf>,
    /// Announce every VIP led here again every SECONDS (gratuitous ARP,
    /// unsolicited NA), for switches that forget where a VIP is; 0: only at
    /// a takeover (MetalLB's flag and default). Costs one frame per VIP and
    /// interface each time, which every host of the segment receives.
    #[arg(long = "gratuitous-arp-interval", value_name = "SECONDS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    gratuitous_arp_interval: u32,
}

impl L2Args {
    /// The node runtime's settings.
    pub fn options(&self) -> ferrolb_node::L2Options {
        ferrolb_node::L2Options {
            port: self.port,
            secret_file: self.secret_file.clone(),
            gratuitous_interval: (self.gratuitous_arp_interval > 0)
                .then(|| std::time::Duration::from_secs(self.gratuitous_arp_interval.into())),
        }
    }
}

/// One line per Service whose addresses or error changed, and per Service
/// gone (a summary instead when there are many).
fn log_changes(before: Option<&Allocation>, after: &Allocation) {
    let changes = changes(before.map_or(&[][..], |b| &b.services), &after.services);
    let one_by_one = changes.len() <= CHANGES_LOGGED_ONE_BY_ONE;
    if !one_by_one {
        info!(services = changes.len(), "IPs assigned, changed or released (each one at debug level)");
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
    }
    for change in changes {
        match change {
            Change::Outcome(s) => log_outcome(s, one_by_one),
            Change::Removed(s) => log_removed(&format!("{}/{}", s.namespace, s.name), one_by_one),
        }
    }
}

/// One line for a Service gone, at info level or, when many changed, at debug level.
fn log_removed(service: &str, one_by_one: bool) {
    if one_by_one {
        info!(service, "service removed, IPs released");
    } else {
        debug!(service, "service removed, IPs released");
    }
}

/// One line for a Service's addresses or error, at info (warn) level or,
/// when many changed, at debug level.
fn log_outcome(s: &ServiceOutcome, one_by_one: bool) {
    let service = format!("{}/{}", s.namespace, s.name);
    let ips: Vec<String> = s.ips.iter().map(ToString::to_string).collect();
    let pool = s.pool.as_deref().unwrap_or("");
    match (&s.error, one_by_one) {
        (None, true) => info!(service, pool, ips = ips.join(","), "IPs assigned"),
        (None, false) => debug!(service, pool, ips = ips.join(","), "IPs assigned"),
        (Some(e), true) => warn!(service, reason = %e, "no IPs"),
        (Some(e), false) => debug!(service, reason = %e, "no IPs"),
    }
}

/// What changed for one Service between two allocations.
#[derive(Debug, PartialEq)]
enum Change<'a> {
    /// New, or its addresses or error changed: its outcome now.
    Outcome(&'a ServiceOutcome),
    /// Gone: its outcome before.
    Removed(&'a ServiceOutcome),
}

/// The changes from `before` to `after`, both sorted by (namespace, name)
/// as allocations are: one walk over both, not a search per Service (a
/// change to a file of 100,000 Services is logged in a few milliseconds).
fn changes<'a>(before: &'a [ServiceOutcome], after: &'a [ServiceOutcome]) -> Vec<Change<'a>> {
    use std::cmp::Ordering;
    let key = |s: &'a ServiceOutcome| (s.namespace.as_str(), s.name.as_str());
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < before.len() || j < after.len() {
        let order = match (before.get(i), after.get(j)) {
            (Some(o), Some(n)) => key(o).cmp(&key(n)),
            (Some(_), None) => Ordering::Less,
            (None, _) => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                out.push(Change::Removed(&before[i]));
                i += 1;
            }
            Ordering::Greater => {
                out.push(Change::Outcome(&after[j]));
                j += 1;
            }
            Ordering::Equal => {
                let (o, n) = (&before[i], &after[j]);
                if o.ips != n.ips || o.error != n.error {
                    out.push(Change::Outcome(n));
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, ip: &str) -> ServiceOutcome {
        ServiceOutcome {
            namespace: "default".into(),
            name: name.into(),
            pool: Some("p".into()),
            ips: vec![ip.parse().unwrap()],
            error: None,
            families: ferrolb_ipam::Families::of(&Default::default()),
            released: None,
        }
    }

    #[test]
    fn changes_are_new_moved_and_removed_services_in_order() {
        let before = [outcome("a", "192.0.2.1"), outcome("b", "192.0.2.2"), outcome("d", "192.0.2.4")];
        let after = [outcome("b", "192.0.2.2"), outcome("c", "192.0.2.3"), outcome("d", "192.0.2.5")];
        assert_eq!(
            changes(&before, &after),
            [Change::Removed(&before[0]), Change::Outcome(&after[1]), Change::Outcome(&after[2])]
        );
        assert_eq!(changes(&[], &after).len(), 3);
        assert_eq!(changes(&before, &[]).len(), 3);
        assert!(changes(&after, &after).is_empty());
    }
}
