//! L2: which node answers ARP/NDP for each VIP, and why, as MetalLB's layer 2
//! speaker elects it.
//!
//! Contract: pure — no I/O, no clock, no globals. The caller passes the
//! [`Snapshot`], the IPAM [`Allocation`], the node planned for and the
//! [`Alive`] members (from gossip in `ferrolb run`; every `Node` in
//! `ferrolb plan`, which runs no gossip). Every node given the same inputs
//! elects the same leader for every VIP, so exactly one of them answers for
//! it; the L2 driver in `crates/l2` answers for the VIPs of [`L2Plan::led`].
//!
//! For each Service with addresses from a pool some `L2Advertisement` covers
//! (names, selects, or, naming and selecting none, implies), in MetalLB's
//! order (`speaker/layer2_controller.go`, `ShouldAnnounce`):
//!
//! 1. no node leads when the Service has EndpointSlices and no endpoint can
//!    serve, or (under `externalTrafficPolicy: Local`) has no EndpointSlice;
//! 2. the advertisements that apply are those covering the pool whose
//!    serviceSelectors select the Service (none: every Service); no node
//!    leads when none applies, nor when the Service has `allow-shared-ip` and
//!    an advertisement that applies has serviceSelectors;
//! 3. the candidates are the alive `Node`s that are fit (network up, no
//!    exclusion label), that some advertisement which applies selects by its
//!    nodeSelectors, and, under `Local`, that have an endpoint that can serve;
//! 4. each candidate scores the weights of the preferredNodeSelectors that
//!    match it, summed over the advertisements that apply and select it (an
//!    advertisement never lifts a node its nodeSelectors leave out);
//! 5. the leader is the highest score, ties going to the lowest
//!    `sha256(node + "#" + ip)`, bytes compared in order, where `ip` is the
//!    Service's first address: one election per Service, so both addresses
//!    of a dual-stack Service live on one node.
//!
//! The leader answers on the union of the interfaces of the advertisements
//! that apply and select it; any of them naming none means every interface
//! (the driver leaves out the ones it never answers on).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::Snapshot;
use ferrolb_api::config::{Config, L2Advertisement};
use ferrolb_api::core::Node;
use ferrolb_api::labels::{LabelSet, Labels};
use ferrolb_api::service::LbService;
use ferrolb_ipam::{Allocation, ServiceOutcome};
use sha2::{Digest, Sha256};

use crate::eligibility::{EndpointBar, EndpointIndex, ServiceEndpoints, ServiceIndex, node_bar};
use crate::reason::L2Reason;

/// The annotations by which Services share an IP; MetalLB reads either.
const ALLOW_SHARED_IP: [&str; 2] = ["metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"];

/// The nodes whose speakers are alive members of the cluster: the only ones
/// that take part in elections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alive(BTreeSet<String>);

impl Alive {
    /// Every `Node` of the snapshot, for when there is no gossip to ask (as
    /// MetalLB counts every node when its memberlist is disabled).
    pub fn every_node(snapshot: &Snapshot) -> Self {
        snapshot.nodes.iter().filter_map(|n| n.object.metadata.name.clone()).collect()
    }

    /// Whether `node` is alive.
    pub fn contains(&self, node: &str) -> bool {
        self.0.contains(node)
    }

    /// The alive nodes, by name.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// How many nodes are alive.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no node is alive.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for Alive {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Self {
        Alive(names.into_iter().map(Into::into).collect())
    }
}

/// What one node answers ARP/NDP for, and the election behind every VIP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Plan {
    /// The node planned for.
    pub node: String,
    /// Every VIP from a pool some L2Advertisement covers, by Service then VIP.
    pub vips: Vec<L2Vip>,
}

impl L2Plan {
    /// The VIPs this node leads: the ones it answers ARP/NDP for. Services
    /// sharing an IP each have an entry, so an IP may come more than once.
    pub fn led(&self) -> impl Iterator<Item = &L2Vip> {
        self.vips.iter().filter(|v| v.leads())
    }

    /// The first entry for `ip` (by Service, when Services share it).
    pub fn vip(&self, ip: IpAddr) -> Option<&L2Vip> {
        self.vips.iter().find(|v| v.ip == ip)
    }

    /// The entries of the Service `namespace/name`.
    pub fn vips_of<'a>(&'a self, service: &str) -> impl Iterator<Item = &'a L2Vip> {
        // `vips` is sorted by Service: a binary search, so that a caller going
        // over every Service stays O(n log n).
        let first = self.vips.partition_point(|v| v.service.as_str() < service);
        self.vips[first..].iter().take_while(move |v| v.service == service)
    }
}

/// One VIP: its election, and this node's part in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Vip {
    /// The Service, `namespace/name`.
    pub service: String,
    /// The VIP.
    pub ip: IpAddr,
    /// The address the election hashes: the Service's first, so that every
    /// VIP of a Service has the same leader.
    pub election_ip: IpAddr,
    /// The pool the VIP comes from. (Shared, as the advertisements' names
    /// are: 100k VIPs name a few pools and advertisements over and over.)
    pub pool: Arc<str>,
    /// The L2Advertisements that apply (cover the pool, select the Service),
    /// by name.
    pub advertisements: Arc<[String]>,
    /// The nodes that could lead, in election order: the first leads.
    pub candidates: Vec<Candidate>,
    /// The leader, or why there is none.
    pub election: Election,
    /// This node's decision: whether it leads, and why.
    pub reason: L2Reason,
}

impl L2Vip {
    /// Whether this node leads the VIP (answers ARP/NDP for it).
    pub fn leads(&self) -> bool {
        self.reason.elected()
    }

    /// Where this node answers for the VIP; `None` when it does not lead.
    pub fn interfaces(&self) -> Option<&Interfaces> {
        self.leads().then(|| self.election.leader().map(|l| &l.interfaces)).flatten()
    }
}

/// A node that could lead a VIP, with its preference score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The node (shared: a plan of 100k VIPs names a few nodes over and
    /// over, in every candidate list, leader and reason).
    pub node: Arc<str>,
    /// The sum of the weights of the preferredNodeSelectors it matches.
    pub score: i64,
}

/// The outcome of one election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Election {
    /// A node leads.
    Leader(L2Leader),
    /// No node leads, and why (the same reason on every node).
    NoLeader(L2Reason),
}

impl Election {
    /// The leader, if any.
    pub fn leader(&self) -> Option<&L2Leader> {
        match self {
            Election::Leader(leader) => Some(leader),
            Election::NoLeader(_) => None,
        }
    }
}

/// The node that answers ARP/NDP for a VIP, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Leader {
    /// The node (shared with its [`Candidate`] entry).
    pub node: Arc<str>,
    /// The interfaces it answers on.
    pub interfaces: Interfaces,
}

/// The host interfaces a leader answers ARP/NDP on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interfaces {
    /// Every interface (but those the L2 driver always leaves out).
    All,
    /// Only these, by name, sorted.
    Only(Vec<String>),
}

impl std::fmt::Display for Interfaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interfaces::All => f.write_str("all"),
            Interfaces::Only(names) => f.write_str(&names.join(",")),
        }
    }
}

/// Plans the L2 announcements of `node`: elects the leader of every VIP
/// among the `alive` nodes and says whether `node` is it and why. The same
/// inputs give the same plan, and every node gets the same elections.
pub fn plan_l2(
    config: &Config,
    snapshot: &Snapshot,
    allocation: &Allocation,
    node: &str,
    alive: &Alive,
) -> L2Plan {
    let mut nodes: BTreeMap<&str, &Node> = BTreeMap::new();
    for n in snapshot.nodes.iter().map(|n| &n.object) {
        // The first of two Nodes with one name wins, as in `find_node`.
        nodes.entry(n.metadata.name.as_deref().unwrap_or("")).or_insert(n);
    }
    let mut advertisements: Vec<Advertisement> =
        config.l2_advertisements.iter().map(|a| Advertisement::new(a, &nodes)).collect();
    // By name, so that the plan does not depend on the order objects were read in.
    advertisements.sort_by(|a, b| a.name.cmp(b.name));
    if advertisements.is_empty() {
        // BGP only: no VIP to elect a leader for (and no index of 100k Services to build).
        return L2Plan { node: node.to_owned(), vips: Vec::new() };
    }
    let mut pool_labels: HashMap<&str, &(dyn LabelSet + Sync)> = HashMap::new();
    for pool in &config.pools {
        pool_labels.entry(pool.name.as_str()).or_insert(&pool.labels);
    }
    let context = Context {
        node,
        alive,
        nodes: &nodes,
        advertisements: &advertisements,
        pool_labels: &pool_labels,
        services: &ServiceIndex::new(snapshot),
        endpoints: &EndpointIndex::new(snapshot),
    };
    // Every Service's election is its own: half of them on a second core
    // (a plan of 100k Services spends most of its time here).
    let outcomes: Vec<&ServiceOutcome> = allocation.services.iter().filter(|o| !o.ips.is_empty()).collect();
    let (first, second) = outcomes.split_at(outcomes.len() / 2);
    let room = |outcomes: &[&ServiceOutcome]| outcomes.iter().map(|o| o.ips.len()).sum();
    // Room for every entry at once: the second half's are appended, not
    // the whole grown and copied.
    let mut vips = Vec::with_capacity(room(&outcomes));
    std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let mut vips = Vec::with_capacity(room(second));
            context.elect_all(second, &mut vips);
            vips
        });
        context.elect_all(first, &mut vips);
        vips.extend(second.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
    });
    // The outcomes come by (namespace, name), which orders `namespace/name`
    // alike unless a namespace is another's prefix followed by a character
    // below '/': then only is a sort (and its copy of the entries) needed.
    let order = |a: &L2Vip, b: &L2Vip| (&a.service, a.ip).cmp(&(&b.service, b.ip));
    if !vips.is_sorted_by(|a, b| order(a, b).is_le()) {
        vips.sort_by(order);
    }
    L2Plan { node: node.to_owned(), vips }
}

/// What every election of one plan reads.
struct Context<'a, 'p> {
    node: &'p str,
    alive: &'p Alive,
    nodes: &'p BTreeMap<&'a str, &'a Node>,
    advertisements: &'p [Advertisement<'a>],
    pool_labels: &'p HashMap<&'a str, &'a (dyn LabelSet + Sync)>,
    services: &'p ServiceIndex<'a>,
    endpoints: &'p EndpointIndex,
}

impl Context<'_, '_> {
    /// Appends the entries of `outcomes`' VIPs to `vips`, each Service's
    /// election held once.
    fn elect_all(&self, outcomes: &[&ServiceOutcome], vips: &mut Vec<L2Vip>) {
        let mut electorates = Electorates::default();
        // Which advertisements cover a pool depends on the pool alone: found
        // once per pool, not once per Service.
        let mut covering: HashMap<&str, (Arc<str>, Vec<&Advertisement>)> = HashMap::new();
        let no_labels = Labels::default();
        for outcome in outcomes {
            let Some(pool) = outcome.pool.as_deref() else { continue };
            let (pool, for_pool) = covering.entry(pool).or_insert_with(|| {
                let labels = self.pool_labels.get(pool).copied().map_or(&no_labels as &dyn LabelSet, |l| l);
                (
                    Arc::from(pool),
                    self.advertisements.iter().filter(|a| a.covers_pool(pool, labels)).collect(),
                )
            });
            if for_pool.is_empty() {
                continue;
            }
            let election_ip = outcome.ips[0];
            let ballot = Ballot {
                for_pool: for_pool.as_slice(),
                service: self.services.get(&outcome.namespace, &outcome.name),
                endpoints: self.endpoints.get(&outcome.namespace, &outcome.name),
                nodes: self.nodes,
                alive: self.alive,
            };
            let (applying, candidates, election) = ballot.elect(election_ip, &mut electorates);
            let reason = ballot.decide(self.node, &applying, &candidates, &election);
            let vip = L2Vip {
                service: [outcome.namespace.as_str(), "/", outcome.name.as_str()].concat(),
                ip: election_ip,
                election_ip,
                pool: pool.clone(),
                advertisements: electorates.names(&applying),
                candidates,
                election,
                reason,
            };
            // The other family of a dual-stack Service: the same election.
            // Pushed in address order, so that the plan's final sort finds
            // the entries in order (a dual-stack Service lists IPv4 first).
            let first = vips.len();
            for &ip in &outcome.ips[1..] {
                vips.push(L2Vip { ip, ..vip.clone() });
            }
            vips.push(vip);
            vips[first..].sort_unstable_by_key(|v| v.ip);
        }
    }
}

/// An `L2Advertisement` with the nodes it selects and scores.
struct Advertisement<'a> {
    name: &'a str,
    config: &'a L2Advertisement,
    /// The known nodes its nodeSelectors select, with the weights of its
    /// preferredNodeSelectors they match (MetalLB resolves both once per
    /// configuration, over every node, whatever its state).
    nodes: BTreeMap<&'a str, i64>,
}

impl<'a> Advertisement<'a> {
    fn new(config: &'a L2Advertisement, nodes: &BTreeMap<&'a str, &'a Node>) -> Self {
        let selected = nodes
            .iter()
            .filter(|(_, n)| config.scope.selects_node(&n.metadata.labels))
            .map(|(&name, n)| {
                let score = config
                    .preferred_node_selectors
                    .iter()
                    .filter(|p| p.selector.matches(&n.metadata.labels))
                    .map(|p| i64::from(p.weight))
                    .sum();
                (name, score)
            })
            .collect();
        Advertisement { name: &config.name, config, nodes: selected }
    }

    fn covers_pool(&self, pool: &str, labels: &dyn LabelSet) -> bool {
        self.config.scope.covers_pool(pool, labels)
    }

    fn selects_service(&self, labels: &Labels) -> bool {
        self.config.scope.selects_service(labels)
    }

    fn selects_node(&self, node: &str) -> bool {
        self.nodes.contains_key(node)
    }
}

fn names(advertisements: &[&Advertisement]) -> Vec<String> {
    let mut names: Vec<String> = advertisements.iter().map(|a| a.name.to_owned()).collect();
    names.dedup();
    names
}

/// The candidates (unordered) of the Services that are not Local, by the
/// advertisements that apply to them.
/// (Keyed by the advertisements' addresses, which live as long as the plan.)
#[derive(Default)]
struct Electorates {
    by_advertisements: HashMap<Vec<usize>, Vec<Candidate>>,
    /// The names of each set of advertisements, shared by its VIPs.
    names: HashMap<Vec<usize>, Arc<[String]>>,
    /// The key being looked up, reused: most lookups find the set.
    key: Vec<usize>,
}

impl Electorates {
    /// The names of `applying`, made once per set.
    fn names(&mut self, applying: &[&Advertisement]) -> Arc<[String]> {
        self.set_key(applying);
        if let Some(found) = self.names.get(self.key.as_slice()) {
            return found.clone();
        }
        let made: Arc<[String]> = names(applying).into();
        self.names.insert(self.key.clone(), made.clone());
        made
    }

    fn set_key(&mut self, applying: &[&Advertisement]) {
        self.key.clear();
        self.key.extend(applying.iter().map(|a| std::ptr::from_ref(*a).addr()));
    }

    /// The candidates of `applying`, computed by `candidates` the first time.
    fn of(
        &mut self,
        applying: &[&Advertisement],
        candidates: impl FnOnce() -> Vec<Candidate>,
    ) -> Vec<Candidate> {
        self.set_key(applying);
        if let Some(found) = self.by_advertisements.get(self.key.as_slice()) {
            return found.clone();
        }
        let computed = candidates();
        self.by_advertisements.insert(self.key.clone(), computed.clone());
        computed
    }
}

/// What one Service's election reads.
struct Ballot<'a, 'b> {
    /// The advertisements covering the Service's pool.
    for_pool: &'b [&'b Advertisement<'a>],
    service: Option<&'a LbService>,
    endpoints: Option<&'b ServiceEndpoints>,
    nodes: &'b BTreeMap<&'a str, &'a Node>,
    alive: &'b Alive,
}

impl<'a, 'b> Ballot<'a, 'b> {
    fn traffic_policy_local(&self) -> bool {
        self.service.is_some_and(|s| s.traffic_policy_local)
    }

    /// The advertisements that apply, the candidates in election order, and
    /// the outcome: steps 1 to 5 of the module's list.
    fn elect(
        &self,
        election_ip: IpAddr,
        electorates: &mut Electorates,
    ) -> (Vec<&'b Advertisement<'a>>, Vec<Candidate>, Election) {
        let no_labels = Labels::default();
        let labels = self.service.map_or(&no_labels, |s| &s.labels);
        let applying: Vec<&Advertisement> =
            self.for_pool.iter().copied().filter(|a| a.selects_service(labels)).collect();
        if let Some(reason) = self.service_bar(&applying) {
            return (applying, Vec::new(), Election::NoLeader(reason));
        }
        let local = self.traffic_policy_local();
        let mut candidates = if local {
            self.candidates(&applying, |name| self.endpoints.is_some_and(|e| e.serving_nodes.contains(name)))
        } else {
            // Without Local, the candidates depend on the advertisements
            // alone: computed once per set of them, not once per Service.
            electorates.of(&applying, || self.candidates(&applying, |_| true))
        };
        order(&mut candidates, election_ip);
        let election = match candidates.first() {
            Some(first) => Election::Leader(L2Leader {
                node: first.node.clone(),
                interfaces: interfaces(&applying, &first.node),
            }),
            None => Election::NoLeader(L2Reason::NoCandidate),
        };
        (applying, candidates, election)
    }

    /// The alive, fit nodes that an advertisement of `applying` selects and
    /// `has_endpoint` admits, with their scores, by name.
    fn candidates(&self, applying: &[&Advertisement], has_endpoint: impl Fn(&str) -> bool) -> Vec<Candidate> {
        self.nodes
            .iter()
            .filter(|(name, node)| {
                self.alive.contains(name)
                    && node_bar(node).is_none()
                    && applying.iter().any(|a| a.selects_node(name))
                    && has_endpoint(name)
            })
            .map(|(&name, _)| Candidate {
                node: Arc::from(name),
                score: applying.iter().filter_map(|a| a.nodes.get(name)).sum(),
            })
            .collect()
    }

    /// What keeps every node from leading the Service, whatever the node,
    /// in MetalLB's order of checking.
    fn service_bar(&self, applying: &[&Advertisement]) -> Option<L2Reason> {
        // MetalLB checks for an endpoint that can serve before anything
        // else. A Cluster Service without EndpointSlices is announced (see
        // `eligibility::endpoint_bar`); a Local one has nowhere to send traffic.
        let no_endpoint = match self.endpoints {
            Some(e) => !e.any_serving,
            None => self.traffic_policy_local(),
        };
        if no_endpoint {
            return Some(L2Reason::Endpoints(EndpointBar::NoEndpoint));
        }
        if applying.is_empty() {
            return Some(L2Reason::ServiceNotSelected { advertisements: names(self.for_pool) });
        }
        let shares_ip =
            self.service.is_some_and(|s| ALLOW_SHARED_IP.iter().any(|a| s.annotation(a).is_some()));
        let selective: Vec<&Advertisement> =
            applying.iter().copied().filter(|a| !a.config.scope.service_selectors.is_empty()).collect();
        (shares_ip && !selective.is_empty())
            .then(|| L2Reason::SharedIpWithServiceSelectors { advertisements: names(&selective) })
    }

    /// Why `node` leads the VIP or not, in MetalLB's order of checking.
    fn decide(
        &self,
        node: &str,
        applying: &[&Advertisement],
        candidates: &[Candidate],
        election: &Election,
    ) -> L2Reason {
        // A vacancy that holds for every node is this node's reason too.
        match election {
            Election::NoLeader(reason) if *reason != L2Reason::NoCandidate => return reason.clone(),
            _ => {}
        }
        let Some(object) = self.nodes.get(node) else { return L2Reason::UnknownNode };
        if !applying.iter().any(|a| a.selects_node(node)) {
            return L2Reason::NodeNotSelected { advertisements: names(applying) };
        }
        if !self.alive.contains(node) {
            return L2Reason::NotAlive;
        }
        if let Some(bar) = node_bar(object) {
            return L2Reason::NodeBarred(bar);
        }
        if self.traffic_policy_local() && !self.endpoints.is_some_and(|e| e.serving_nodes.contains(node)) {
            return L2Reason::Endpoints(EndpointBar::NoLocalEndpoint);
        }
        match election.leader() {
            Some(leader) if *leader.node == *node => L2Reason::Elected { candidates: candidates.len() },
            Some(leader) => L2Reason::NotElected { leader: leader.node.clone() },
            // A fit, alive, selected node with endpoints is a candidate, so
            // an election without a leader has none of them.
            None => L2Reason::NoCandidate,
        }
    }
}

/// Sorts `candidates` into election order: highest score first, then the
/// lowest `sha256(node + "#" + ip)`.
pub fn order(candidates: &mut [Candidate], election_ip: IpAddr) {
    let ip = go_ip_string(election_ip);
    candidates.sort_by_cached_key(|c| (std::cmp::Reverse(c.score), election_hash(&c.node, &ip)));
}

/// `sha256(node + "#" + ip)`, the key MetalLB orders candidates of equal
/// score by (lowest first).
pub fn election_hash(node: &str, ip: &str) -> [u8; 32] {
    Sha256::new().chain_update(node).chain_update("#").chain_update(ip).finalize().into()
}

/// `ip` as Go's `net.IP.String` writes it, which MetalLB hashes: as Rust
/// does, except that an IPv4-mapped IPv6 address is written as IPv4.
pub fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Where `leader` answers: the union of the interfaces of the advertisements
/// that apply and select it, or every interface when one of them names none.
fn interfaces(applying: &[&Advertisement], leader: &str) -> Interfaces {
    let mut names = BTreeSet::new();
    for ad in applying.iter().filter(|a| a.selects_node(leader)) {
        if ad.config.interfaces.is_empty() {
            return Interfaces::All;
        }
        names.extend(ad.config.interfaces.iter().cloned());
    }
    Interfaces::Only(names.into_iter().collect())
}
