//! `ferrolb`: the one binary. Each subcommand lives in its own module under
//! `cmd/`; this file only parses the command line and dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cmd;
mod output;

// Loading a large cluster file is mostly allocating small strings and
// vectors; mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long freed memory stays resident before mimalloc gives it back, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise: mimalloc 2's default. Version 3's
/// second kept every stage's garbage of a large load resident into the next
/// stage (at 100,000 Services, 151 MiB peak against 122 MiB, in the same time).
const PURGE_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

/// A load balancer for bare-metal Kubernetes clusters and plain Linux hosts,
/// configured with MetalLB's resources.
#[derive(Parser)]
#[command(name = "ferrolb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check configuration files; print every problem as FILE:LINE: Kind/name: field: reason.
    Validate {
        /// YAML or JSON files, directories of them, or - for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        namespace: cmd::validate::NamespaceArg,
    },
    /// In a cluster: allocate addresses to LoadBalancer Services and write them to their status.
    Controller(cmd::controller::Args),
    /// In a cluster, one per node: announce the Services' addresses by L2 and BGP.
    Speaker(cmd::speaker::Args),
    /// Show what every LoadBalancer Service would get, without touching the network.
    Plan(cmd::plan::Args),
    /// Print the routers' side of the BGP sessions: neighbors, ECMP, and a policy accepting only the pools.
    RouterConfig(cmd::router_config::Args),
    /// Run without Kubernetes, from one file for the whole cluster.
    Run(cmd::run::Args),
    /// Show what a running node does: sessions, VIPs, gossip, configuration (as root).
    Status(cmd::status::Args),
    /// Print the CustomResourceDefinitions of the metallb.io resources.
    Crds,
    /// Demonstrate or measure ferrolb in a lab.
    Lab {
        #[command(subcommand)]
        command: cmd::lab::Command,
    },
    /// Write the manual pages into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// Where to write ferrolb.1 and ferrolb-SUBCOMMAND.1.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        ferrolb_sys::allocator::purge_freed_memory_after(PURGE_DELAY);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { files, namespace } => cmd::validate::run(&files, &namespace),
        Command::Controller(args) => cmd::controller::run(&args),
        Command::Speaker(args) => cmd::speaker::run(&args),
        Command::Plan(args) => cmd::plan::run(&args),
        Command::RouterConfig(args) => cmd::router_config::run(&args),
        Command::Run(args) => cmd::run::run(&args),
        Command::Status(args) => cmd::status::run(&args),
        Command::Crds => cmd::crds::run(),
        Command::Lab { command } => cmd::lab::run(command),
        Command::Man { dir } => cmd::man::run(Cli::command(), &dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferrolb: {e:#}");
            ExitCode::from(2)
        }
    }
}
