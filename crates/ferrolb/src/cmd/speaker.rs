//! `ferrolb speaker --node NAME`: in a cluster, one per node, announce by L2
//! and BGP the addresses the controller wrote to the Services' status, as
//! MetalLB's speaker.
//!
//! ```text
//!   kube Client ──► Watchers (every kind: EndpointSlices for Local traffic,
//!                   Secrets for BGP passwords) ──debounced Snapshot──┐
//!   validate ──► errors ──► ConfigurationState speaker-NODE + Events
//!      └──► the snapshot, or its Services under the last good configuration
//!   allocate(previous = status) ──► only Services whose status holds exactly those IPs
//!                                 ──► Announcer: BGP sessions, L2 gossip + ARP/NDP responder
//!                                               └──► ServiceL2Status / ServiceBGPStatus
//!                                                    + nodeAssigned Events (what changed only)
//!   SIGTERM / SIGINT ──► leave the gossip, Cease to every peer (none to a graceful-restart
//!                        peer, which keeps the routes for the next pod), delete this node's status objects
//! ```
//!
//! The speaker does not make the host accept VIP traffic (no local routes):
//! in a cluster kube-proxy does, on every node.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrolb_api::Snapshot;
use ferrolb_ipam::{Allocation, Options};
use ferrolb_k8s::Watchers;
use ferrolb_k8s::announcements::{AnnouncementStatus, Announcements, SPEAKER_NAME};
use ferrolb_k8s::configuration_state::{ConfigurationReport, Validation};
use ferrolb_k8s::events::Publisher;
use ferrolb_k8s::validation::Component;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use ferrolb_node::{Announcer, Stop};

use super::run::L2Args;

/// Changes within this window give one snapshot, as the controller's.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// How long after a failed status write the speaker tries again when
/// nothing changes first.
const RETRY: Duration = Duration::from_secs(5);

/// How long a stopping speaker spends removing its status objects: well
/// within the DaemonSet's 10 s grace period.
const CLEAR_TIMEOUT: Duration = Duration::from_secs(3);

/// Arguments of `ferrolb speaker`.
#[derive(clap::Args)]
pub struct Args {
    /// This speaker's Node (the DaemonSet passes spec.nodeName).
    #[arg(long)]
    node: String,
    /// The namespace of the metallb.io objects and Secrets [default: $POD_NAMESPACE, else metallb-system].
    #[arg(long)]
    namespace: Option<String>,
    /// The loadBalancerClass ferrolb serves; without it, only Services with no class.
    #[arg(long)]
    lb_class: Option<String>,
    #[command(flatten)]
    l2: L2Args,
    #[command(flatten)]
    endpoints: super::health::DaemonEndpoints,
    #[command(flatten)]
    log: super::LogArgs,
}

/// Runs until SIGTERM or SIGINT.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::serve_on_one_thread(&args.log, serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<ExitCode> {
    let namespace = super::namespace(&args.namespace);
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API server (in-cluster service account, or KUBECONFIG)")?;
    let mut watchers = Watchers::start(client.clone(), &namespace);
    // Who may read the HTTPS metrics is asked of the API server (as MetalLB's).
    let client_for_metrics = client.clone();
    // The owner of every object this speaker writes, when the DaemonSet
    // passes the pod's name and uid.
    let pod = super::controller::own_pod();
    let mut configuration = ConfigurationReport::new(
        client.clone(),
        &namespace,
        Component::Speaker { node: args.node.clone() },
        pod.clone(),
        Publisher::new(client.clone(), SPEAKER_NAME, Some(&args.node)),
    );
    let mut validation = Validation::default();
    // The errors of the last snapshot, until written to the ConfigurationState.
    let mut unreported: Option<Vec<String>> = None;
    let mut status = AnnouncementStatus::new(client, &namespace, &args.node);
    if let Some(pod) = pod {
        status = status.owned_by(pod);
    }
    let mut retry: Option<tokio::time::Instant> = None;
    let mut snapshots = watchers.snapshots(DEBOUNCE);
    let options = Options { lb_class: args.lb_class.clone() };
    let l2 = args.l2.options();
    let mut announcer = Announcer::new(&args.node, l2, None);
    info!(node = %args.node, namespace = %namespace, "speaker starting");
    // Ready once the first snapshot is announced.
    let (ready, ready_rx) = tokio::sync::watch::channel(false);
    let observed = announcer.observed();
    let metrics: super::health::Metrics = Arc::new(move || observed.metrics().render());
    args.endpoints.serve(&args.node, ready_rx, metrics, client_for_metrics).await;
    let observed = announcer.observed();
    let socket = super::status::socket_of(&args.node);
    let served = super::status::serve(&socket, observed.clone()).await;
    if let Err(e) = &served {
        warn!(error = %format!("{e:#}"), "no control socket: `ferrolb status` cannot ask this speaker");
    }
    let mut generation = 0;

    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            event = announcer.next_event() => announcer.on_event(event).await,
            () = wait_until(retry) => {}
            changed = snapshots.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the watchers stopped");
                }
                let Some(snapshot) = snapshots.borrow_and_update().clone() else { continue };
                let verdict = validation.judge(snapshot).await;
                if verdict.errors.is_empty() {
                    generation += 1;
                    observed.configuration_taken(generation);
                } else {
                    observed.configuration_refused(verdict.errors.join("\n"));
                }
                unreported = Some(verdict.errors);
                // Before any configuration validated, nothing is announced
                // (but the errors are reported below).
                if let Some(ferrolb_k8s::validation::Admitted { snapshot, config }) = verdict.run {
                    let allocation = {
                        let (config, snapshot, options) = (Arc::clone(&config), Arc::clone(&snapshot), options.clone());
                        ferrolb_node::off_thread(move || announced(&config, &snapshot, &options)).await?
                    };
                    info!(services = allocation.services.len(), "announcing");
                    announcer.announce(config, snapshot, allocation).await?;
                    ready.send_replace(true);
                }
            }
        }
        let mut failed = false;
        if let Some(errors) = &unreported {
            match configuration.report(errors).await {
                Ok(()) => unreported = None,
                Err(error) => {
                    warn!(error = %error, "configuration state not written, retrying");
                    failed = true;
                }
            }
        }
        // After every change of what is announced (a new snapshot, an L2
        // re-election) or a retry; nothing is written when nothing differs.
        if let Some((l2, bgp)) = announcer.plans()
            && let Err(error) = status.write(&Announcements::of(l2, bgp), watchers.stores()).await
        {
            warn!(error = %error, "announcement status not written, retrying");
            failed = true;
        }
        retry = failed.then(|| tokio::time::Instant::now() + RETRY);
    }
    info!(node = %args.node, "stopping");
    // As MetalLB's FRR mode: a peer with enableGracefulRestart keeps our
    // routes until the next pod is back (an upgrade rolls the DaemonSet).
    announcer.stop(Stop::PodStop).await;
    // Nothing is announced from here any more: remove the status objects
    // now, within the grace period, rather than leave them to the garbage
    // collector (which only acts once the pod is deleted, and not at all
    // without POD_UID).
    let nothing = Announcements::default();
    let cleared = tokio::time::timeout(CLEAR_TIMEOUT, status.write(&nothing, watchers.stores()));
    match cleared.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(error = %error, "announcement status left behind"),
        Err(_) => warn!("announcement status left behind: the API server did not answer in time"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What this speaker may announce: the allocation that keeps every
/// Service's status, less the Services whose status does not hold exactly
/// what it gives (no status yet: the controller has not assigned them).
fn announced(config: &ferrolb_api::config::Config, snapshot: &Snapshot, options: &Options) -> Allocation {
    let previous = ferrolb_k8s::status::recorded_assignments(snapshot);
    let allocation = ferrolb_ipam::allocate(config, snapshot, &previous, options);
    ferrolb_k8s::status::announced_by_status(snapshot, allocation)
}

/// Sleeps until `deadline`, or forever without one.
async fn wait_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
