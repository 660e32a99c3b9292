//! `ferrolb lab ...`: demonstrations and benchmarks.

use std::process::ExitCode;

use clap::Subcommand;

mod bench_bgp;
mod bench_plan;

/// What `ferrolb lab` does.
#[derive(Subcommand)]
pub enum Command {
    /// Measure ferrolb, printing ratios between sizes or against a peer.
    Bench {
        #[command(subcommand)]
        target: Bench,
    },
}

/// The benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// Load, validate and plan N Services over an IPv4 /15 and an IPv6 /64 pool.
    Plan(bench_plan::Args),
    /// Time until a real FRR router's kernel holds N VIP routes from ferrolb,
    /// GoBGP and BIRD, with peak memory and ratios.
    Bgp(bench_bgp::Args),
    /// One measured run of `plan` on FILE (used by `bench plan`, in a child
    /// process so that each run's peak memory is its own).
    #[command(hide = true)]
    PlanOnce {
        /// The generated configuration.
        file: std::path::PathBuf,
    },
}

/// Runs a lab subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Bench { target: Bench::Plan(args) } => bench_plan::run(&args),
        Command::Bench { target: Bench::Bgp(args) } => bench_bgp::run(&args),
        Command::Bench { target: Bench::PlanOnce { file } } => bench_plan::once(&file),
    }
}
