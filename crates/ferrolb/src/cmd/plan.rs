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
    /// Also show what this node announces by BGP, to which peer, and why.
    #[arg(long)]
    node: Option<String>,
}

/// The plan as printed in JSON and YAML.
#[derive(Serialize)]
pub struct Report<'a> {
    /// One entry per LoadBalancer Service ferrolb handles, by namespace and name.
    pub services: Vec<ServiceRow<'a>>,
    /// What the node named by `--node` announces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeReport>,
}

/// What one node announces by BGP, and why.
#[derive(Serialize)]
pub struct NodeReport {
    /// The node.
    pub name: String,
    /// Every peer: whether this node has a session with it, and the routes.
    pub peers: Vec<PeerRow>,
    /// Every decision about a VIP, with its reason.
    pub decisions: Vec<DecisionRow>,
}

/// A peer as seen from one node.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerRow {
    /// The `BGPPeer`'s name.
    pub peer: String,
    /// Whether there is a session.
    pub session: bool,
    /// Why (not).
    pub reason: String,
    /// The routes sent.
    pub routes: Vec<RouteRow>,
}

/// One route sent to a peer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRow {
    /// The prefix.
    pub prefix: String,
    /// LOCAL_PREF, for iBGP peers.
    pub local_pref: Option<u32>,
    /// Standard and large communities.
    pub communities: Vec<String>,
    /// The Services it carries.
    pub services: Vec<String>,
}

/// Whether a VIP goes to a peer, and why.
#[derive(Serialize)]
pub struct DecisionRow {
    /// `namespace/name`.
    pub service: String,
    /// The VIP.
    pub ip: IpAddr,
    /// The peer; absent when the reason holds for every peer.
    pub peer: Option<String>,
    /// Whether it is announced.
    pub announced: bool,
    /// Why (not).
    pub reason: String,
}

impl NodeReport {
    /// The report of a node's BGP plan.
    pub fn of(plan: &ferrolb_announce::BgpPlan) -> Self {
        let peers = plan
            .peers
            .iter()
            .map(|p| PeerRow {
                peer: p.peer.clone(),
                session: p.has_session(),
                reason: p.session.to_string(),
                routes: p
                    .routes
                    .iter()
                    .map(|r| RouteRow {
                        prefix: r.prefix.to_string(),
                        local_pref: r.local_pref,
                        communities: r.communities.iter().map(ToString::to_string).collect(),
                        services: r.services.clone(),
                    })
                    .collect(),
            })
            .collect();
        let decisions = plan
            .decisions
            .iter()
            .map(|d| DecisionRow {
                service: d.service.clone(),
                ip: d.ip,
                peer: d.peer.clone(),
                announced: d.announced(),
                reason: d.reason.to_string(),
            })
            .collect();
        NodeReport { name: plan.node.clone(), peers, decisions }
    }
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
        Report { services, node: None }
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
    let mut report = Report::of(&allocation);
    if let Some(node) = &args.node {
        report.node = Some(NodeReport::of(&ferrolb_announce::plan_bgp(&snapshot, &allocation, node)));
    }
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
    let mut out = output::table(&["NAMESPACE", "NAME", "POOL", "IPS", "ERROR"], &rows);
    if let Some(node) = &report.node {
        out.push_str(&node_tables(node));
    }
    out
}

/// The BGP part of the table output: sessions and routes, then every decision.
fn node_tables(node: &NodeReport) -> String {
    let mut out = format!("\nBGP from node {}:\n", node.name);
    let peers: Vec<Vec<String>> = node
        .peers
        .iter()
        .flat_map(|p| {
            let session = if p.session { "up".to_owned() } else { format!("none: {}", p.reason) };
            let routes: Vec<Vec<String>> = p
                .routes
                .iter()
                .map(|r| {
                    vec![
                        p.peer.clone(),
                        session.clone(),
                        r.prefix.clone(),
                        r.local_pref.map_or("-".into(), |l| l.to_string()),
                        if r.communities.is_empty() { "-".into() } else { r.communities.join(",") },
                        r.services.join(","),
                    ]
                })
                .collect();
            if routes.is_empty() {
                vec![vec![p.peer.clone(), session, "-".into(), "-".into(), "-".into(), "-".into()]]
            } else {
                routes
            }
        })
        .collect();
    out.push_str(&output::table(
        &["PEER", "SESSION", "PREFIX", "LOCALPREF", "COMMUNITIES", "SERVICES"],
        &peers,
    ));
    let decisions: Vec<Vec<String>> = node
        .decisions
        .iter()
        .map(|d| {
            vec![
                d.service.clone(),
                d.ip.to_string(),
                d.peer.clone().unwrap_or_else(|| "(all)".into()),
                if d.announced { "yes".into() } else { "no".into() },
                d.reason.clone(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&output::table(&["SERVICE", "IP", "PEER", "ANNOUNCED", "WHY"], &decisions));
    out
}
