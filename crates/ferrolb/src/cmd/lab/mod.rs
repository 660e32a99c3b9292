//! `ferrolb lab ...`: demonstrations and benchmarks.

use std::process::ExitCode;

use clap::Subcommand;

mod bench_bgp;
mod bench_bgp_failover;
mod bench_edit;
mod bench_graceful_restart;
mod bench_k8s;
mod bench_k8s_speakers;
mod bench_l2;
mod bench_plan;
mod bench_reconcile;
mod bgp_shape;
mod chaos;
mod demo;
mod memory;
mod plot;
mod progress;

/// ferrolb's own manifests (`deploy/ferrolb.yaml`, generated and kept
/// current by a test), built into the binary so that the Kubernetes demo
/// and bench apply what a user applies.
const BUNDLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/ferrolb.yaml"));

/// What `ferrolb lab` does.
#[derive(Subcommand)]
pub enum Command {
    /// Build the article's topology in network namespaces (FRR router, three
    /// nodes, two clients), run ferrolb on every node, show L2 and BGP mode
    /// and a measured failover, then remove everything.
    Demo(demo::Args),
    /// Inject a seeded random series of faults (kills, pauses, links down,
    /// FRR restarts, edits, a damaged state file) into nodes running ferrolb
    /// with a thousand VIPs, and check after each that clients and the router
    /// see every VIP served by exactly the nodes that should.
    Chaos(chaos::Args),
    /// Measure ferrolb, printing ratios between sizes or against a peer.
    Bench {
        #[command(subcommand)]
        target: Bench,
    },
}

/// The benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// `ferrolb plan` of N Services in every shape of configuration (L2, BGP,
    /// one node, shared and requested IPs, pools per namespace, dual-stack,
    /// JSON): time per size, the ratio, peak memory.
    Plan(bench_plan::Args),
    /// `ferrolb run` holding N Services, one Service appended to its file:
    /// the time until the first UPDATE and gratuitous ARP for it are on the
    /// wire, for every shape of configuration, with the ratio between sizes.
    Edit(bench_edit::Args),
    /// The controller holding N Services whose status it wrote, one
    /// Service created: its snapshot, validation, allocation and status
    /// plan, for every shape of configuration, with the ratio between sizes.
    Reconcile(bench_reconcile::Args),
    /// Time until a real FRR router's kernel holds N VIP routes from ferrolb,
    /// GoBGP and BIRD, with peak memory and ratios.
    Bgp(bench_bgp::Args),
    /// Time until a real FRR router drops the path of a node that lost power
    /// (no FIN, no NOTIFICATION): ferrolb with BFD at 50 ms × 3, at MetalLB's
    /// defaults and without BFD (hold time), against BIRD with BFD, with ratios.
    BgpFailover(bench_bgp_failover::Args),
    /// Requests lost while every node restarts its BGP speaker in turn, with
    /// and without graceful restart: ferrolb against BIRD.
    GracefulRestart(bench_graceful_restart::Args),
    /// Outage a client sees when the L2 leader's link goes down and its
    /// daemon is killed: ferrolb against keepalived (VRRP) at its default and
    /// fastest timers, with ratios.
    L2Failover(bench_l2::Args),
    /// ferrolb against MetalLB on a real control plane: the controllers'
    /// time to give N Services their addresses, status writes and peak
    /// memory, for every shape of Services (IPv6, IPv4, dual-stack, shared
    /// IPs); the speakers' routes to FRR at two sizes and L2 failover.
    K8s(bench_k8s::Args),
    /// One measured run of `plan` on FILE (used by `bench plan`, in a child
    /// process so that each run's peak memory is its own).
    #[command(hide = true)]
    PlanOnce(bench_plan::OnceArgs),
}

/// Runs a lab subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(&args),
        Command::Chaos(args) => chaos::run(&args),
        Command::Bench { target: Bench::Plan(args) } => bench_plan::run(&args),
        Command::Bench { target: Bench::Bgp(args) } => bench_bgp::run(&args),
        Command::Bench { target: Bench::Edit(args) } => bench_edit::run(&args),
        Command::Bench { target: Bench::Reconcile(args) } => bench_reconcile::run(&args),
        Command::Bench { target: Bench::BgpFailover(args) } => bench_bgp_failover::run(&args),
        Command::Bench { target: Bench::GracefulRestart(args) } => bench_graceful_restart::run(&args),
        Command::Bench { target: Bench::L2Failover(args) } => bench_l2::run(&args),
        Command::Bench { target: Bench::K8s(args) } => bench_k8s::run(&args),
        Command::Bench { target: Bench::PlanOnce(args) } => bench_plan::once(&args),
    }
}

/// Fails, saying what is missing (root, binaries with their Debian package),
/// when `what` cannot run here.
fn require(what: &str, binaries: &[&str]) -> anyhow::Result<()> {
    match ferrolb_lab::missing_requirements(binaries) {
        Some(reason) => anyhow::bail!("{what} cannot run here: {reason}"),
        None => Ok(()),
    }
}
