//! `ferrolb plan FILE...`: what every LoadBalancer Service would get.

use std::net::IpAddr;
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
pub struct Report<'a> {
    /// One entry per LoadBalancer Service ferrolb handles, by namespace and name.
    pub services: Vec<ServiceRow<'a>>,
}

/// What one Service gets.
#[derive(Serialize)]
pub struct ServiceRow<'a> {
    /// The Service's namespace.
    pub namespace: &'a str,
    /// The Service's name.
    pub name: &'a str,
    /// The pool its IPs come from.
    pub pool: Option<&'a str>,
    /// Its IPs, one per family.
    pub ips: &'a [IpAddr],
    /// Why it has no IPs.
    pub error: Option<String>,
}

impl<'a> Report<'a> {
    /// The report of `allocation`, borrowing from it.
    pub fn of(allocation: &'a Allocation) -> Self {
        let services = allocation
            .services
            .iter()
            .map(|s| ServiceRow {
                namespace: &s.namespace,
                name: &s.name,
                pool: s.pool.as_deref(),
                ips: &s.ips,
                error: s.error.as_ref().map(ToString::to_string),
            })
            .collect();
        Report { services }
    }
}

/// Validates, plans and prints; exit 1 when the configuration is invalid.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (snapshot, diagnostics) = super::validate::load_and_validate(&args.files);
    super::validate::report(&diagnostics);
    if diagnostics.iter().any(|d| d.is_error()) {
        eprintln!("not planned: the configuration is invalid");
        return Ok(ExitCode::FAILURE);
    }
    let allocation = plan(&snapshot, args.lb_class.clone());
    let report = Report::of(&allocation);
    let text = match args.output {
        Format::Table => table(&report),
        format => output::render(&report, format)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Allocates from scratch (plus what the Services' status already records).
pub fn plan(snapshot: &Snapshot, lb_class: Option<String>) -> Allocation {
    ferrolb_ipam::allocate(snapshot, &Assignments::default(), &Options { lb_class })
}

fn table(report: &Report<'_>) -> String {
    let rows: Vec<Vec<String>> = report
        .services
        .iter()
        .map(|s| {
            let ips: Vec<String> = s.ips.iter().map(ToString::to_string).collect();
            vec![
                s.namespace.to_owned(),
                s.name.to_owned(),
                s.pool.unwrap_or("-").to_owned(),
                if ips.is_empty() { "-".into() } else { ips.join(",") },
                s.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["NAMESPACE", "NAME", "POOL", "IPS", "ERROR"], &rows)
}
