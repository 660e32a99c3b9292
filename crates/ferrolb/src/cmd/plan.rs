//! `ferrolb plan FILE...`: what every LoadBalancer Service would get.

use std::path::PathBuf;
use std::process::ExitCode;

use ferrolb_api::Snapshot;
use ferrolb_ipam::{Allocation, Assignments, Options};
use serde::Serialize;

use crate::output::{self, Format};

/// Arguments of `ferrolb plan`.
#[derive(clap::Args)]
pub struct Args {
    /// YAML or JSON files, directories of them, or - for standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Format,
    /// The loadBalancerClass ferrolb serves; without it, only Services with no class.
    #[arg(long)]
    lb_class: Option<String>,
}

/// The plan as printed in JSON and YAML.
#[derive(Serialize)]
pub struct Report {
    /// One entry per LoadBalancer Service ferrolb handles, by namespace and name.
    pub services: Vec<ServiceRow>,
}

/// What one Service gets.
#[derive(Serialize)]
pub struct ServiceRow {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The pool its IPs come from.
    pub pool: Option<String>,
    /// Its IPs, one per family.
    pub ips: Vec<String>,
    /// Why it has no IPs.
    pub error: Option<String>,
}

/// Validates, plans and prints; exit 1 when the configuration is invalid.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (snapshot, diagnostics) = super::validate::load_and_validate(&args.files);
    super::validate::report(&diagnostics);
    if diagnostics.iter().any(|d| d.is_error()) {
        eprintln!("not planned: the configuration is invalid");
        return Ok(ExitCode::FAILURE);
    }
    let report = plan(&snapshot, args.lb_class.clone());
    let text = match args.output {
        Format::Table => table(&report),
        format => output::render(&report, format)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Allocates from scratch (plus what the Services' status already records).
pub fn plan(snapshot: &Snapshot, lb_class: Option<String>) -> Report {
    let allocation = ferrolb_ipam::allocate(snapshot, &Assignments::default(), &Options { lb_class });
    report(&allocation)
}

fn report(allocation: &Allocation) -> Report {
    let services = allocation
        .services
        .iter()
        .map(|s| ServiceRow {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            pool: s.pool.clone(),
            ips: s.ips.iter().map(ToString::to_string).collect(),
            error: s.error.as_ref().map(ToString::to_string),
        })
        .collect();
    Report { services }
}

fn table(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .services
        .iter()
        .map(|s| {
            vec![
                s.namespace.clone(),
                s.name.clone(),
                s.pool.clone().unwrap_or_else(|| "-".into()),
                if s.ips.is_empty() { "-".into() } else { s.ips.join(",") },
                s.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["NAMESPACE", "NAME", "POOL", "IPS", "ERROR"], &rows)
}
