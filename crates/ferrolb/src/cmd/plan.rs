//! `ferrolb plan FILE...`: what every LoadBalancer Service would get.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ferrolb_announce::{Alive, Election, Interfaces};
use ferrolb_api::Snapshot;
use ferrolb_bgp::HoldTime;
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
    /// Also show what this node announces by BGP, to which peer, which VIPs it
    /// leads in L2 mode, and why.
    #[arg(long)]
    node: Option<String>,
    #[command(flatten)]
    namespace: super::validate::NamespaceArg,
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

/// What one node announces by BGP and L2, and why.
#[derive(Serialize)]
pub struct NodeReport {
    /// The node.
    pub name: String,
    /// Every peer: whether this node has a session with it, and the routes.
    pub peers: Vec<PeerRow>,
    /// Every decision about a VIP, with its reason.
    pub decisions: Vec<DecisionRow>,
    /// The L2 elections; absent when no L2Advertisement covers any VIP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<L2Report>,
}

/// The L2 elections as one node sees them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Report {
    /// The nodes that take part in elections.
    pub alive: Vec<String>,
    /// Where the alive nodes come from.
    pub alive_from: &'static str,
    /// Every VIP from a pool some L2Advertisement covers.
    pub vips: Vec<L2Row>,
}

/// Where `ferrolb plan` takes the alive nodes from, as it says it.
pub const ALIVE_FROM_FILE: &str = "every Node of the configuration, as plan runs no gossip";

/// One VIP's election, and this node's part in it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Row {
    /// `namespace/name`.
    pub service: String,
    /// The VIP.
    pub ip: IpAddr,
    /// Its pool.
    pub pool: String,
    /// The L2Advertisements that select it.
    pub advertisements: Vec<String>,
    /// The nodes that could lead, in election order, with their scores.
    pub candidates: Vec<CandidateRow>,
    /// The leader; absent when no node leads.
    pub leader: Option<String>,
    /// Why no node leads; absent when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_leader: Option<String>,
    /// The leader answers ARP/NDP on every interface.
    pub all_interfaces: bool,
    /// Otherwise, the interfaces it answers on.
    pub interfaces: Vec<String>,
    /// Whether this node leads the VIP.
    pub leads: bool,
    /// Why (not).
    pub reason: String,
}

/// A node that could lead a VIP.
#[derive(Serialize)]
pub struct CandidateRow {
    /// The node.
    pub node: String,
    /// The sum of the weights of the preferredNodeSelectors it matches.
    pub score: i64,
}

impl L2Report {
    /// The report of a node's L2 plan, `None` when it has no VIP.
    pub fn of(plan: &ferrolb_announce::L2Plan, alive: &Alive, alive_from: &'static str) -> Option<Self> {
        if plan.vips.is_empty() {
            return None;
        }
        let vips = plan
            .vips
            .iter()
            .map(|v| {
                let leader = v.election.leader();
                let (all_interfaces, interfaces) = match leader.map(|l| &l.interfaces) {
                    Some(Interfaces::All) => (true, Vec::new()),
                    Some(Interfaces::Only(names)) => (false, names.clone()),
                    None => (false, Vec::new()),
                };
                L2Row {
                    service: v.service.clone(),
                    ip: v.ip,
                    pool: v.pool.clone(),
                    advertisements: v.advertisements.clone(),
                    candidates: v
                        .candidates
                        .iter()
                        .map(|c| CandidateRow { node: c.node.to_string(), score: c.score })
                        .collect(),
                    leader: leader.map(|l| l.node.to_string()),
                    no_leader: match &v.election {
                        Election::NoLeader(reason) => Some(reason.to_string()),
                        Election::Leader(_) => None,
                    },
                    all_interfaces,
                    interfaces,
                    leads: v.leads(),
                    reason: v.reason.to_string(),
                }
            })
            .collect();
        Some(L2Report { alive: alive.iter().map(str::to_owned).collect(), alive_from, vips })
    }
}

/// A peer as seen from one node.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerRow {
    /// The `BGPPeer`'s name.
    pub peer: String,
    /// Whether there is a session.
    pub session: bool,
    /// The hold time the session offers, as `90s` (0s: no hold timer).
    pub hold_time: String,
    /// The keepalive interval, as `30s`.
    pub keepalive_time: String,
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
    /// The report of a node's BGP plan (its L2 part is added apart).
    pub fn of(plan: &ferrolb_announce::BgpPlan) -> Self {
        let peers = plan
            .peers
            .iter()
            .map(|p| PeerRow {
                peer: p.peer.clone(),
                session: p.has_session(),
                hold_time: format!("{}s", timers(p).0.seconds()),
                keepalive_time: format!("{:?}", timers(p).1),
                reason: p.session.to_string(),
                routes: p
                    .routes
                    .iter()
                    .map(|r| RouteRow {
                        prefix: r.prefix.to_string(),
                        local_pref: r.local_pref,
                        communities: r.communities.iter().map(ToString::to_string).collect(),
                        services: r.services.iter().map(ToString::to_string).collect(),
                    })
                    .collect(),
            })
            .collect();
        let decisions = plan
            .decisions
            .iter()
            .map(|d| DecisionRow {
                service: d.service.to_string(),
                ip: d.ip,
                peer: d.peer.as_deref().map(str::to_owned),
                announced: d.announced(),
                reason: d.reason.to_string(),
            })
            .collect();
        NodeReport { name: plan.node.clone(), peers, decisions, l2: None }
    }
}

/// The hold time and keepalive interval a peer's session offers: its own,
/// or the session's defaults (RFC 4271 §10: 90 s, a third of it).
fn timers(peer: &ferrolb_announce::PeerPlan) -> (HoldTime, std::time::Duration) {
    match peer.timers {
        Some(t) => (t.hold, t.keepalive),
        None => (HoldTime::DEFAULT, HoldTime::DEFAULT.keepalive_interval().unwrap_or_default()),
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
    /// The node that answers ARP/NDP for its IPs (`none` when no node can);
    /// absent when no L2Advertisement covers them.
    #[serde(rename = "l2Leader", skip_serializing_if = "Option::is_none")]
    pub l2_leader: Option<String>,
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
                l2_leader: None,
            })
            .collect();
        Report { services, node: None }
    }

    /// Adds to each Service the leader of its L2 election, from any node's
    /// plan (every node elects the same).
    pub fn with_l2_leaders(mut self, plan: &ferrolb_announce::L2Plan) -> Self {
        for row in &mut self.services {
            let key = format!("{}/{}", row.namespace, row.name);
            row.l2_leader = plan
                .vips_of(&key)
                .next()
                .map(|v| v.election.leader().map_or_else(|| "none".to_owned(), |l| l.node.to_string()));
        }
        self
    }
}

/// Validates, plans and prints; exit 1 when the configuration is invalid.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (snapshot, diagnostics) = super::validate::load_and_validate(&args.files, &args.namespace.options());
    super::validate::report(&diagnostics);
    if diagnostics.iter().any(|d| d.is_error()) {
        eprintln!("not planned: the configuration is invalid");
        return Ok(ExitCode::FAILURE);
    }
    let decided = Decided::of(&snapshot, args.lb_class.clone(), args.node.as_deref());
    print!("{}", decided.render(args.output)?);
    Ok(ExitCode::SUCCESS)
}

/// Everything `plan` decides for a valid snapshot, before it is printed.
pub struct Decided {
    /// Every Service's pool and IPs.
    pub allocation: Allocation,
    /// The nodes that take part in L2 elections.
    pub alive: Alive,
    /// The L2 elections, from the node asked for (any node elects the same).
    pub l2: ferrolb_announce::L2Plan,
    /// What the node asked for announces by BGP; `None` without `--node`.
    pub bgp: Option<ferrolb_announce::BgpPlan>,
}

impl Decided {
    /// Allocates, elects and, for `node`, plans BGP.
    pub fn of(snapshot: &Snapshot, lb_class: Option<String>, node: Option<&str>) -> Self {
        let allocation = plan(snapshot, lb_class);
        // Without gossip, every Node of the file counts as alive (as MetalLB
        // does with its memberlist disabled); the output says so.
        let alive = Alive::every_node(snapshot);
        // The two planners read the same allocation and nothing of each
        // other: the BGP one runs on a second core.
        let (l2, bgp) = std::thread::scope(|scope| {
            let bgp =
                node.map(|node| scope.spawn(|| ferrolb_announce::plan_bgp(snapshot, &allocation, node)));
            let l2 = ferrolb_announce::plan_l2(snapshot, &allocation, node.unwrap_or(""), &alive);
            (l2, bgp.map(joined))
        });
        Decided { allocation, alive, l2, bgp }
    }

    /// The plan as `ferrolb plan` prints it in `format`.
    pub fn render(&self, format: Format) -> anyhow::Result<String> {
        // The node's part and the Services' part on two cores: at 100k
        // Services each is hundreds of thousands of rows.
        let (mut report, node_report) = std::thread::scope(|scope| {
            let node_report = self.bgp.as_ref().map(|bgp| {
                scope.spawn(|| {
                    let mut node_report = NodeReport::of(bgp);
                    node_report.l2 = L2Report::of(&self.l2, &self.alive, ALIVE_FROM_FILE);
                    node_report
                })
            });
            (Report::of(&self.allocation).with_l2_leaders(&self.l2), node_report.map(joined))
        });
        report.node = node_report;
        Ok(match format {
            Format::Table => table(&report),
            format => output::render(&report, format)?,
        })
    }
}

/// Allocates from scratch (plus what the Services' status already records).
pub fn plan(snapshot: &Snapshot, lb_class: Option<String>) -> Allocation {
    ferrolb_ipam::allocate(snapshot, &Assignments::default(), &Options { lb_class })
}

fn table(report: &Report<'_>) -> String {
    std::thread::scope(|scope| {
        // The node's tables on a second core while the Services' is built.
        let node = report.node.as_ref().map(|node| {
            scope.spawn(move || {
                let mut out = node_tables(node);
                if let Some(l2) = &node.l2 {
                    out.push_str(&l2_table(&node.name, l2));
                }
                out
            })
        });
        let mut out = services_table(report);
        if let Some(node) = node {
            out.push_str(&joined(node));
        }
        out
    })
}

/// The Services' table: pool, IPs, L2 leader, error.
fn services_table(report: &Report<'_>) -> String {
    // The L2 column only when some Service is in L2 mode, so that a
    // BGP-only plan reads as before.
    let l2 = report.services.iter().any(|s| s.l2_leader.is_some());
    // Cells borrow from the report where they can: 100k rows.
    let rows: Vec<Vec<Cow<'_, str>>> = report
        .services
        .iter()
        .map(|s| {
            let ips: Vec<String> = s.ips.iter().map(ToString::to_string).collect();
            let mut row = vec![
                Cow::Borrowed(s.namespace),
                Cow::Borrowed(s.name),
                Cow::Borrowed(s.pool.unwrap_or("-")),
                if ips.is_empty() { "-".into() } else { ips.join(",").into() },
            ];
            if l2 {
                row.push(Cow::Borrowed(s.l2_leader.as_deref().unwrap_or("-")));
            }
            row.push(Cow::Borrowed(s.error.as_deref().unwrap_or_default()));
            row
        })
        .collect();
    let header: &[&str] = if l2 {
        &["NAMESPACE", "NAME", "POOL", "IPS", "L2 LEADER", "ERROR"]
    } else {
        &["NAMESPACE", "NAME", "POOL", "IPS", "ERROR"]
    };
    output::table(header, &rows)
}

/// The result of a scoped thread, its panic passed on.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The L2 part of the table output: every VIP's election and this node's part.
fn l2_table(node: &str, l2: &L2Report) -> String {
    let mut out = format!("\nL2 from node {node} (alive: {}):\n", l2.alive_from);
    let rows: Vec<Vec<Cow<'_, str>>> = l2
        .vips
        .iter()
        .map(|v| {
            let candidates: Vec<Cow<'_, str>> = v
                .candidates
                .iter()
                .map(|c| {
                    if c.score == 0 {
                        c.node.as_str().into()
                    } else {
                        format!("{}({})", c.node, c.score).into()
                    }
                })
                .collect();
            let interfaces: Cow<'_, str> = match (&v.leader, v.all_interfaces) {
                (None, _) => "-".into(),
                (Some(_), true) => "all".into(),
                (Some(_), false) => v.interfaces.join(",").into(),
            };
            let why: Cow<'_, str> = match &v.no_leader {
                Some(vacancy) if *vacancy != v.reason => format!("{}; no leader: {vacancy}", v.reason).into(),
                _ => v.reason.as_str().into(),
            };
            vec![
                v.service.as_str().into(),
                v.ip.to_string().into(),
                v.leader.as_deref().unwrap_or("none").into(),
                if candidates.is_empty() { "-".into() } else { candidates.join(",").into() },
                if v.leads { "yes" } else { "no" }.into(),
                interfaces,
                why,
            ]
        })
        .collect();
    out.push_str(&output::table(
        &["SERVICE", "IP", "LEADER", "CANDIDATES", "LEADS", "INTERFACES", "WHY"],
        &rows,
    ));
    out
}

/// The BGP part of the table output: sessions and routes, then every decision.
fn node_tables(node: &NodeReport) -> String {
    let mut out = format!("\nBGP from node {}:\n", node.name);
    let peers: Vec<Vec<Cow<'_, str>>> = node
        .peers
        .iter()
        .flat_map(|p| {
            let session: Cow<'_, str> = if p.session {
                format!("up (hold {}, keepalive {})", p.hold_time, p.keepalive_time).into()
            } else {
                format!("none: {}", p.reason).into()
            };
            let routes: Vec<Vec<Cow<'_, str>>> = p
                .routes
                .iter()
                .map(|r| {
                    vec![
                        p.peer.as_str().into(),
                        session.clone(),
                        r.prefix.as_str().into(),
                        r.local_pref.map_or("-".into(), |l| l.to_string().into()),
                        if r.communities.is_empty() { "-".into() } else { r.communities.join(",").into() },
                        match r.services.as_slice() {
                            [one] => one.as_str().into(),
                            many => many.join(",").into(),
                        },
                    ]
                })
                .collect();
            if routes.is_empty() {
                vec![vec![p.peer.as_str().into(), session, "-".into(), "-".into(), "-".into(), "-".into()]]
            } else {
                routes
            }
        })
        .collect();
    out.push_str(&output::table(
        &["PEER", "SESSION", "PREFIX", "LOCALPREF", "COMMUNITIES", "SERVICES"],
        &peers,
    ));
    let decisions: Vec<Vec<Cow<'_, str>>> = node
        .decisions
        .iter()
        .map(|d| {
            vec![
                d.service.as_str().into(),
                d.ip.to_string().into(),
                d.peer.as_deref().unwrap_or("(all)").into(),
                if d.announced { "yes" } else { "no" }.into(),
                d.reason.as_str().into(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&output::table(&["SERVICE", "IP", "PEER", "ANNOUNCED", "WHY"], &decisions));
    out
}
