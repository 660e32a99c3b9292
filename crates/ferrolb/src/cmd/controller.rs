//! `ferrolb controller`: in a cluster, allocate addresses to LoadBalancer
//! Services and write them to their status, as MetalLB's controller.
//!
//! ```text
//!   kube Client (in-cluster, or KUBECONFIG)
//!      ├──► Election (Lease ferrolb-controller, holder = POD_NAME) ──► leading?
//!      └──► Controller: watchers ──► validate ──► allocate ──► Service status + Events
//!                                       └──► ConfigurationState "controller"   (only while leading)
//!   SIGTERM / SIGINT ──► stop, give up the Lease so the other replica takes over at once
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ferrolb_k8s::configuration_state::{OwnerReference, pod_owner};
use ferrolb_k8s::{Controller, ControllerOptions, Election, LeaseOptions};
use tokio::signal::unix::{SignalKind, signal};

/// Arguments of `ferrolb controller`.
#[derive(clap::Args)]
pub struct Args {
    /// The namespace of the metallb.io objects and of the Lease [default: $POD_NAMESPACE, else metallb-system].
    #[arg(long)]
    namespace: Option<String>,
    /// The loadBalancerClass ferrolb serves; without it, only Services with no class.
    #[arg(long)]
    lb_class: Option<String>,
    /// This replica's identity, the Lease holder [default: $POD_NAME, else the host name].
    #[arg(long)]
    pod_name: Option<String>,
    /// Write without taking the Lease: only for a single replica.
    #[arg(long)]
    no_leader_election: bool,
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
    let holder = super::flag_or_env(&args.pod_name, "POD_NAME")
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .context("no identity for the Lease: set --pod-name or POD_NAME")?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API server (in-cluster service account, or KUBECONFIG)")?;
    let election = (!args.no_leader_election)
        .then(|| Election::start(client.clone(), LeaseOptions::new(&namespace, &holder)));
    let metrics = ferrolb_k8s::controller::ControllerMetrics::default();
    let options = ControllerOptions {
        metrics: metrics.clone(),
        allocation: ferrolb_ipam::Options { lb_class: args.lb_class.clone() },
        instance: Some(holder.clone()),
        leading: election.as_ref().map(Election::leading),
        owner: own_pod(),
        ..ControllerOptions::default()
    };
    tracing::info!(
        namespace = %namespace,
        holder = %holder,
        lb_class = args.lb_class.as_deref().unwrap_or(""),
        leader_election = election.is_some(),
        "controller starting"
    );

    // Connected to the API server: ready (the Lease decides who writes).
    let render = move || metrics.lock().map(|m| m.render()).unwrap_or_default();
    let ready = tokio::sync::watch::channel(true).1;
    let render: super::health::Metrics = Arc::new(render);
    args.endpoints.serve(&holder, ready, render, client.clone()).await;
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let stopped = tokio::select! {
        result = Controller::run(client, &namespace, options) => Some(result),
        _ = term.recv() => None,
        _ = interrupt.recv() => None,
    };
    if let Some(election) = election {
        election.release().await;
    }
    match stopped {
        Some(result) => result.context("controller stopped")?,
        None => tracing::info!("controller stopped"),
    }
    Ok(ExitCode::SUCCESS)
}

/// This pod, from the downward API (`POD_NAME`, `POD_UID`), as the owner
/// of the objects that live and die with it; `None` outside a pod.
pub(super) fn own_pod() -> Option<OwnerReference> {
    let name = super::flag_or_env(&None, "POD_NAME")?;
    let uid = super::flag_or_env(&None, "POD_UID")?;
    Some(pod_owner(&name, &uid))
}
