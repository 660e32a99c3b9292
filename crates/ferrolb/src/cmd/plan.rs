//! `ferrolb plan FILE...`: what every LoadBalancer Service would get.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ferrolb_announce::{Alive, Election, Interfaces};
use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_api::service::{NotActedOn, not_acted_on};
use ferrolb_bgp::HoldTime;
use ferrolb_ipam::{Allocation, Assignments, Options};
use serde::Serialize;

use crate::output::{self, Format};

mod table;

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
                    pool: v.pool.to_string(),
                    advertisements: v.advertisements.to_vec(),
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
    /// The BFD session watching the forwarding path (`bfdProfile`), and what of its
    /// profile is not acted on; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bfd: Option<String>,
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
                hold_time: hold_time(p),
                keepalive_time: keepalive_time(p),
                bfd: bfd(p),
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

/// The BFD session a peer's session has, as `fast: rx 50ms tx 50ms x3 from 192.0.2.11`,
/// with what of the profile is not acted on and why.
fn bfd(peer: &ferrolb_announce::PeerPlan) -> Option<String> {
    let bfd = peer.bfd.as_ref()?;
    let profile = &bfd.profile;
    let mut out = format!(
        "{}: rx {:?} tx {:?} x{}{}",
        profile.name,
        profile.receive_interval,
        profile.transmit_interval,
        profile.detect_multiplier,
        if profile.passive { " passive" } else { "" },
    );
    match bfd.local {
        Some(local) => out.push_str(&format!(" from {local}")),
        None => out.push_str(
            " (not run: no sourceAddress and no InternalIP of the peer's family on this node; \
             the session relies on its hold time)",
        ),
    }
    if profile.echo_mode {
        out.push_str(" (echoMode not acted on: ferrolb runs no BFD echo)");
    }
    Some(out)
}

/// The hold time a peer's session offers, as `90s` (0s: no hold timer).
fn hold_time(peer: &ferrolb_announce::PeerPlan) -> String {
    format!("{}s", timers(peer).0.seconds())
}

/// The keepalive interval a peer's session offers, as `30s`.
fn keepalive_time(peer: &ferrolb_announce::PeerPlan) -> String {
    format!("{:?}", timers(peer).1)
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
    /// The fields of the Service ferrolb accepts but does not act on, each
    /// with why; absent when none.
    #[serde(rename = "notActedOn", skip_serializing_if = "<[_]>::is_empty")]
    pub not_acted_on: &'a [String],
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
                not_acted_on: &[],
            })
            .collect();
        Report { services, node: None }
    }

    /// Adds to each Service the fields it has that ferrolb does not act on,
    /// from `not_acted_on` (by `namespace/name`).
    pub fn with_not_acted_on(mut self, not_acted_on: &'a HashMap<String, Vec<String>>) -> Self {
        // Most plans have none: no key is built for 100k rows then.
        if not_acted_on.is_empty() {
            return self;
        }
        for row in &mut self.services {
            if let Some(reasons) = not_acted_on.get(&format!("{}/{}", row.namespace, row.name)) {
                row.not_acted_on = reasons;
            }
        }
        self
    }

    /// Adds to each Service the leader of its L2 election, from any node's
    /// plan (every node elects the same).
    pub fn with_l2_leaders(mut self, plan: &ferrolb_announce::L2Plan) -> Self {
        let mut first_vips = FirstVips::new(plan);
        for row in &mut self.services {
            row.l2_leader = first_vips
                .of(row.namespace, row.name)
                .map(|v| v.election.leader().map_or_else(|| "none".to_owned(), |l| l.node.to_string()));
        }
        self
    }
}

/// Each Service's first entry in an L2 plan, for Services asked for in
/// (namespace, name) order: the plan lists them in nearly that order, so the
/// entry is most often the one after the last found, and otherwise found by
/// binary search.
struct FirstVips<'a> {
    vips: &'a [ferrolb_announce::L2Vip],
    /// Where the entries of the Service after the last found start.
    next: usize,
    /// `namespace/name` of the Service looked up, reused.
    key: String,
}

impl<'a> FirstVips<'a> {
    fn new(plan: &'a ferrolb_announce::L2Plan) -> Self {
        FirstVips { vips: &plan.vips, next: 0, key: String::new() }
    }

    /// The first entry of `namespace/name`, if it has one.
    fn of(&mut self, namespace: &str, name: &str) -> Option<&'a ferrolb_announce::L2Vip> {
        if self.vips.is_empty() {
            return None;
        }
        self.key.clear();
        self.key.extend([namespace, "/", name]);
        let key = self.key.as_str();
        let start = match self.vips.get(self.next) {
            Some(v) if v.service == key => self.next,
            _ => {
                let at = self.vips.partition_point(|v| v.service.as_str() < key);
                self.vips.get(at).filter(|v| v.service == key)?;
                at
            }
        };
        // A Service has an entry per address: a step or two, not a search.
        self.next = start + self.vips[start..].iter().take_while(|v| v.service == key).count();
        Some(&self.vips[start])
    }
}

/// Validates, plans and prints; exit 1 when the configuration is invalid.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (snapshot, config, diagnostics) =
        super::validate::load_and_validate(&args.files, &args.namespace.options());
    super::validate::report(&diagnostics);
    if diagnostics.iter().any(|d| d.is_error()) {
        eprintln!("not planned: the configuration is invalid");
        return Ok(ExitCode::FAILURE);
    }
    let decided = Decided::of(&config, &snapshot, args.lb_class.clone(), args.node.as_deref());
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
    /// By `namespace/name`, the reasons of the Services' fields that
    /// ferrolb accepts but does not act on (only Services that have some).
    pub not_acted_on: HashMap<String, Vec<String>>,
}

impl Decided {
    /// Allocates, elects and, for `node`, plans BGP.
    pub fn of(config: &Config, snapshot: &Snapshot, lb_class: Option<String>, node: Option<&str>) -> Self {
        let allocation = plan(config, snapshot, lb_class);
        // Without gossip, every Node of the file counts as alive (as MetalLB
        // does with its memberlist disabled); the output says so.
        let alive = Alive::every_node(snapshot);
        // The two planners read the same allocation and nothing of each
        // other: the BGP one runs on a second core.
        let (l2, bgp) = std::thread::scope(|scope| {
            let bgp = node
                .map(|node| scope.spawn(|| ferrolb_announce::plan_bgp(config, snapshot, &allocation, node)));
            let l2 = ferrolb_announce::plan_l2(config, snapshot, &allocation, node.unwrap_or(""), &alive);
            (l2, bgp.map(joined))
        });
        let not_acted_on = snapshot
            .services
            .iter()
            .filter_map(|service| {
                let reasons: Vec<String> = not_acted_on(service).map(NotActedOn::reason).collect();
                (!reasons.is_empty()).then(|| (service.key(), reasons))
            })
            .collect();
        Decided { allocation, alive, l2, bgp, not_acted_on }
    }

    /// The plan as `ferrolb plan` prints it in `format`.
    pub fn render(&self, format: Format) -> anyhow::Result<String> {
        if format == Format::Table {
            return Ok(table::render(self));
        }
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
            let report =
                Report::of(&self.allocation).with_l2_leaders(&self.l2).with_not_acted_on(&self.not_acted_on);
            (report, node_report.map(joined))
        });
        report.node = node_report;
        output::render(&report, format)
    }
}

/// Allocates from scratch (plus what the Services' status already records).
pub fn plan(config: &Config, snapshot: &Snapshot, lb_class: Option<String>) -> Allocation {
    ferrolb_ipam::allocate(config, snapshot, &Assignments::default(), &Options { lb_class })
}

/// The result of a scoped thread, its panic passed on.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_vips_finds_what_a_binary_search_finds_in_allocation_order() {
        // "a-b/…" sorts before "a/…" though namespace "a" comes first, the
        // dual-stack Services have two entries, and the BGP pool's none.
        let mut yaml = String::from(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: lan, namespace: metallb-system}\n\
             spec: {addresses: [192.0.2.0/26, 2001:db8::/120]}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: wan, namespace: metallb-system}\n\
             spec: {addresses: [198.51.100.0/26]}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: lan, namespace: metallb-system}\n\
             spec: {ipAddressPools: [lan]}\n---\n\
             apiVersion: v1\nkind: Node\nmetadata: {name: node1}\n",
        );
        for (i, namespace) in ["a", "a-b", "a.b", "ab", "a/b"].iter().cycle().take(25).enumerate() {
            let pool = if i % 4 == 3 { "wan" } else { "lan" };
            let families = if i % 3 == 0 { "ipFamilyPolicy: RequireDualStack, " } else { "" };
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: {namespace}, \
                 annotations: {{metallb.io/address-pool: {pool}}}}}\nspec: {{type: LoadBalancer, {families}ports: [{{port: 80}}]}}\n"
            ));
        }
        let (snapshot, _) = ferrolb_api::load::load_str("t.yaml", &yaml);
        let (config, _) = ferrolb_api::config::resolve(&snapshot, &ferrolb_api::config::Options::default());
        let decided = Decided::of(&config, &snapshot, None, None);
        assert!(decided.l2.vips.len() > 20, "{:?}", decided.l2.vips.len());
        let mut first_vips = FirstVips::new(&decided.l2);
        let mut found = 0;
        for s in &decided.allocation.services {
            let searched = decided.l2.vips_of(&format!("{}/{}", s.namespace, s.name)).next();
            let walked = first_vips.of(&s.namespace, &s.name);
            assert_eq!(
                walked.map(std::ptr::from_ref),
                searched.map(std::ptr::from_ref),
                "{}/{}",
                s.namespace,
                s.name
            );
            found += usize::from(walked.is_some());
        }
        assert!(found >= 15, "{found}");
    }

    /// `validate`, `plan --node` and the node runtime read a BGPPeer alike.
    mod with_the_node_runtime {
        use std::net::Ipv4Addr;
        use std::time::Duration;

        use ferrolb_bgp::RouterId;

        const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses: [{type: InternalIP, address: 192.0.2.11}]\n---\n";
        const FAST: &str = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {receiveInterval: 50, transmitInterval: 60, detectMultiplier: 4, passiveMode: true, minimumTtl: 250}\n---\n";

        fn bgp_peer(extra: &str) -> String {
            format!(
                "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n{extra}"
            )
        }

        #[test]
        fn validate_plan_and_the_session_read_metallbs_timer_cases_alike() {
            // (holdTime, keepaliveTime) -> the session's hold seconds and
            // keepalive, or refused (MetalLB's `parseTimers`).
            let cases: &[(&str, Option<(u16, Duration)>)] = &[
                ("", Some((90, Duration::ZERO))),
                ("  holdTime: 90s\n", Some((90, Duration::from_secs(30)))),
                ("  keepaliveTime: 10s\n", Some((30, Duration::from_secs(10)))),
                ("  holdTime: 30s\n  keepaliveTime: 10s\n", Some((30, Duration::from_secs(10)))),
                ("  holdTime: 0s\n", Some((0, Duration::ZERO))),
                ("  holdTime: 4500ms\n", Some((4, Duration::from_millis(1500)))),
                ("  holdTime: 500ms\n", Some((0, Duration::from_nanos(166_666_666)))),
                ("  holdTime: 2s\n", None),
                ("  keepaliveTime: 900ms\n", None),
                ("  holdTime: 9s\n  keepaliveTime: 10s\n", None),
            ];
            for (timers, want) in cases {
                let (s, diagnostics) = ferrolb_api::load::load_str(
                    "t.yaml",
                    &format!(
                        "{NODE}apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r, namespace: metallb-system}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n{timers}"
                    ),
                );
                let (config, diagnostics) =
                    crate::cmd::validate::with_broken_rules(&s, diagnostics, &Default::default());
                let refused = diagnostics.iter().any(|d| d.is_error());
                let session = config.peer("r").map(|peer| {
                    let id = RouterId::new(Ipv4Addr::new(192, 0, 2, 11)).unwrap();
                    ferrolb_node::bgp::peer_spec(peer, id).unwrap().session
                });
                match want {
                    Some((hold, keepalive)) => {
                        assert!(!refused, "{timers:?}: {diagnostics:?}");
                        let session =
                            session.unwrap_or_else(|| panic!("{timers:?}: not in the configuration"));
                        assert_eq!(session.hold_time.seconds(), *hold, "{timers:?}");
                        // No timers: the session's own default (a third of the hold time).
                        let keepalive = (!timers.is_empty()).then_some(*keepalive);
                        assert_eq!(session.keepalive, keepalive, "{timers:?}");
                        // And `plan --node` says the same.
                        let decided = crate::cmd::plan::Decided::of(&config, &s, None, Some("n1"));
                        let report = crate::cmd::plan::NodeReport::of(decided.bgp.as_ref().unwrap());
                        assert_eq!(report.peers[0].hold_time, format!("{hold}s"), "{timers:?}");
                        let shown = keepalive.map_or(format!("{}s", hold / 3), |k| format!("{k:?}"));
                        assert_eq!(report.peers[0].keepalive_time, shown, "{timers:?}");
                    }
                    None => {
                        assert!(refused, "{timers:?} validates");
                        assert!(session.is_none(), "{timers:?} makes a session");
                    }
                }
            }
        }

        #[test]
        fn plan_node_shows_the_bfd_profile_and_that_echo_is_not_acted_on() {
            // What `plan --node n1` shows of the BFD session of the one peer of `yaml` (after NODE).
            let shown = |yaml: &str| {
                let (snapshot, diagnostics) = ferrolb_api::load::load_str("t.yaml", &format!("{NODE}{yaml}"));
                let (config, _) =
                    crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
                let decided = crate::cmd::plan::Decided::of(&config, &snapshot, None, Some("n1"));
                crate::cmd::plan::NodeReport::of(decided.bgp.as_ref().unwrap()).peers[0].bfd.clone()
            };
            let with_fast = bgp_peer("  bfdProfile: fast\n");
            assert_eq!(
                shown(&format!("{FAST}{with_fast}")).as_deref(),
                Some("fast: rx 50ms tx 60ms x4 passive from 192.0.2.11")
            );
            let echo = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {echoMode: true}\n---\n";
            assert_eq!(
                shown(&format!("{echo}{with_fast}")).as_deref(),
                Some(
                    "fast: rx 300ms tx 300ms x3 from 192.0.2.11 (echoMode not acted on: ferrolb runs no BFD echo)"
                )
            );
            assert_eq!(shown(&format!("{FAST}{}", bgp_peer(""))), None);
            // No address of the peer's family to run from: said in the plan, not only logged.
            let v6 = with_fast.replace("peerAddress: 192.0.2.1\n", "peerAddress: 2001:db8::1\n");
            let why = shown(&format!("{FAST}{v6}")).unwrap_or_default();
            assert!(
                why.contains("not run: no sourceAddress and no InternalIP of the peer's family"),
                "{why}"
            );
        }
    }
}
