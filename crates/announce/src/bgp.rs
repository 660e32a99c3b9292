//! BGP: which VIPs one node sends to which peer, with which attributes, and
//! why, as MetalLB's BGP speaker decides it.
//!
//! For each Service with addresses, in this order (MetalLB's):
//!
//! 1. the advertisements that cover its pool, then those whose nodeSelectors
//!    select this node, then those whose serviceSelectors select the Service;
//! 2. those must agree on LOCAL_PREF where their routes meet;
//! 3. the node must be fit (network up, not excluded by label);
//! 4. its endpoints must allow this node (`externalTrafficPolicy`).
//!
//! Then, per peer: the node must keep a session with it (the peer's
//! nodeSelectors select it, and it has a router ID), an advertisement must not be limited to other peers, and
//! the session must carry the VIP's address family. Each VIP becomes one
//! route per aggregation length; routes that meet on one prefix are merged.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::Snapshot;
use ferrolb_api::config::{BgpAdvertisement, Config, PeerAddress};
use ferrolb_api::core::Node;
use ferrolb_api::labels::{LabelSet, Labels};
use ferrolb_api::service::LbService;
use ferrolb_ipam::{Allocation, ServiceChange, ServiceOutcome};
use ferrolb_types::{BgpCommunity, IpFamily, RouterId};
use ipnet::IpNet;

use crate::eligibility::{EndpointIndex, ServiceIndex, endpoint_bar, find_node, node_bar};
use crate::reason::{Reason, SessionReason, Unusable};

/// What one node announces by BGP, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPlan {
    /// The node planned for.
    pub node: String,
    /// Every `BGPPeer`, by name, with the routes this node sends it.
    pub peers: Vec<PeerPlan>,
    /// Every (Service, VIP, peer) decision, by Service, VIP, then peer; a
    /// decision that holds for every peer has no peer.
    pub decisions: Vec<Decision>,
}

impl BgpPlan {
    /// The plan for the peer called `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerPlan> {
        self.peers.iter().find(|p| p.peer == name)
    }

    /// The decisions about the Service `namespace/name`.
    pub fn decisions_for<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Decision> {
        // Sorted by Service: a binary search, not a scan.
        let first = self.decisions.partition_point(|d| &*d.service < service);
        self.decisions[first..].iter().take_while(move |d| &*d.service == service)
    }
}

/// A peer, whether this node keeps a session with it, and what it sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerPlan {
    /// The `BGPPeer`'s name.
    pub peer: String,
    /// Whether and why this node keeps a session with the peer.
    pub session: SessionReason,
    /// The session is internal (same AS): LOCAL_PREF is sent only then.
    pub ibgp: bool,
    /// Its hold and keepalive times (`api::peer::timers`); `None`: the
    /// session's defaults.
    pub timers: Option<ferrolb_api::peer::PeerTimers>,
    /// The router ID this node presents: the peer's `routerID`, else the
    /// node's first IPv4 InternalIP; `None` without a session.
    pub router_id: Option<RouterId>,
    /// The BFD session watching the session's forwarding path (`bfdProfile`), if any.
    pub bfd: Option<BfdPlan>,
    /// The routes sent, by prefix; none without a session.
    pub routes: Vec<Route>,
}

impl PeerPlan {
    /// Whether this node keeps a session with the peer.
    pub fn has_session(&self) -> bool {
        self.session.session()
    }
}

/// One route sent to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The prefix: a VIP masked to the aggregation length.
    pub prefix: IpNet,
    /// LOCAL_PREF, toward iBGP peers only; the highest when advertisements
    /// meeting on this prefix differ.
    pub local_pref: Option<u32>,
    /// Standard and large communities of every advertisement that yields
    /// this route, sorted, without repeats.
    pub communities: Vec<BgpCommunity>,
    /// The Services (`namespace/name`) whose VIPs the route carries, sorted.
    pub services: Vec<Arc<str>>,
}

/// Whether one VIP of a Service goes to one peer, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The Service, `namespace/name` (shared by its decisions and routes:
    /// a plan of 100,000 Services holds each name once).
    pub service: Arc<str>,
    /// The VIP.
    pub ip: IpAddr,
    /// The peer; `None` when the reason holds for every peer.
    pub peer: Option<Arc<str>>,
    /// Why; says whether it is announced.
    pub reason: Reason,
}

impl Decision {
    /// Whether the VIP is announced to the peer.
    pub fn announced(&self) -> bool {
        self.reason.announced()
    }
}

/// Plans the BGP announcements of `node` from `config`, the Services and
/// Nodes of `snapshot` and the addresses in `allocation`. The same inputs
/// give the same plan.
pub fn plan_bgp(config: &Config, snapshot: &Snapshot, allocation: &Allocation, node: &str) -> BgpPlan {
    with_planner(config, snapshot, node, |planner| {
        let services = ServiceIndex::new(snapshot);
        let mut routes: Vec<BTreeMap<IpNet, RouteBuilder>> = vec![BTreeMap::new(); planner.peers.len()];
        // At most one decision per VIP and peer: reserved at once, the vector of
        // a 100k-Service plan is not copied while it grows.
        let vips: usize = allocation.services.iter().map(|o| o.ips.len()).sum();
        let mut decisions =
            Vec::with_capacity(ferrolb_ipam::sorted::room_for_edits(vips * planner.peers.len().max(1)));
        for outcome in allocation.services.iter().filter(|o| !o.ips.is_empty()) {
            let service = services.get(&outcome.namespace, &outcome.name);
            planner.plan_service(outcome, service, &mut decisions, &mut routes);
        }
        // Stable and so nearly linear: the decisions come mostly in order already.
        decisions.sort_by(decision_order);
        let peers = planner
            .peers
            .iter()
            .zip(routes)
            .map(|(peer, routes)| PeerPlan {
                peer: peer.name.to_owned(),
                session: peer.session,
                ibgp: peer.ibgp,
                timers: peer.timers,
                router_id: peer.router_id,
                bfd: peer.bfd.clone(),
                routes: {
                    let mut built = Vec::with_capacity(ferrolb_ipam::sorted::room_for_edits(routes.len()));
                    built.extend(routes.into_iter().map(|(prefix, r)| r.build(prefix)));
                    built
                },
            })
            .collect();
        BgpPlan { node: node.to_owned(), peers, decisions }
    })
}

/// The plan of [`plan_bgp`]`(config, snapshot, allocation, node)`, from `previous`,
/// the plan of the configuration before an edit that changed only the
/// Services of `changes` (sorted by namespace and name, each with its object
/// now; no other Service bears one of their names), and what changed for
/// each peer. Only those Services are planned again; the rest of `previous`
/// is moved into the new plan, not copied.
///
/// `previous` comes back when only a full plan can tell: an advertisement
/// aggregates (several Services may then meet on one route), a changed
/// Service's route meets another Service's, or so many changed that a full
/// plan is as quick. The caller makes sure that nothing but those Services
/// changed since `previous` (in object or in outcome).
pub fn replan_bgp(
    previous: BgpPlan,
    config: &Config,
    snapshot: &Snapshot,
    allocation: &Allocation,
    changes: &[ServiceChange<'_>],
    node: &str,
) -> Result<BgpReplan, BgpPlan> {
    if previous.node != node || changes.len() > allocation.services.len() / 8 + 16 {
        return Err(previous);
    }
    let planned = with_planner(config, snapshot, node, |planner| {
        let host_routes_only = planner
            .context
            .advertisements
            .iter()
            .all(|a| a.config.length_v4 == 32 && a.config.length_v6 == 128);
        let same_peers = planner.peers.len() == previous.peers.len()
            && planner.peers.iter().zip(&previous.peers).all(|(a, b)| a.name == b.peer);
        if !host_routes_only || !same_peers {
            return None;
        }
        let mut routes: Vec<BTreeMap<IpNet, RouteBuilder>> = vec![BTreeMap::new(); planner.peers.len()];
        let mut decisions = Vec::new();
        for change in changes {
            let Some(outcome) = allocation.get(change.namespace, change.name).filter(|o| !o.ips.is_empty())
            else {
                continue;
            };
            // As the full plan's index: a LoadBalancer Service.
            let service = change.now.filter(|s| s.load_balancer);
            planner.plan_service(outcome, service, &mut decisions, &mut routes);
        }
        decisions.sort_by(decision_order);
        let fresh: Vec<Vec<Route>> =
            routes.into_iter().map(|r| r.into_iter().map(|(prefix, r)| r.build(prefix)).collect()).collect();
        Some((decisions, fresh))
    });
    let Some((decisions, fresh)) = planned else { return Err(previous) };

    // The decisions are sorted by Service: each changed one's are a run,
    // found by binary search (not a look at all 100,000).
    let mut names: Vec<String> = changes.iter().map(|c| format!("{}/{}", c.namespace, c.name)).collect();
    names.sort_unstable();
    let runs: Vec<std::ops::Range<usize>> = names
        .iter()
        .map(|name| {
            let start = previous.decisions.partition_point(|d| *d.service < **name);
            let end = start + previous.decisions[start..].partition_point(|d| *d.service == **name);
            start..end
        })
        .collect();
    let is_changed = |service: &str| names.binary_search_by(|n| n.as_str().cmp(service)).is_ok();

    // The routes the changed Services had, per peer: they must carry no
    // other Service, and the new ones must meet no route kept.
    let mut gone: Vec<Vec<IpNet>> = vec![Vec::new(); previous.peers.len()];
    for decision in runs.iter().flat_map(|run| &previous.decisions[run.clone()]) {
        let (Some(peer), Reason::Announced { prefixes }) = (&decision.peer, &decision.reason) else {
            continue;
        };
        let Some(p) = previous.peers.iter().position(|p| p.peer == **peer) else { return Err(previous) };
        gone[p].extend(prefixes.iter().copied());
    }
    for ((plan, gone), fresh) in previous.peers.iter().zip(&mut gone).zip(&fresh) {
        gone.sort_unstable();
        gone.dedup();
        for prefix in gone.iter() {
            let Ok(at) = plan.routes.binary_search_by(|r| r.prefix.cmp(prefix)) else { return Err(previous) };
            if !plan.routes[at].services.iter().all(|s| is_changed(s)) {
                return Err(previous);
            }
        }
        let meets_kept = fresh.iter().any(|r| {
            plan.routes.binary_search_by(|k| k.prefix.cmp(&r.prefix)).is_ok()
                && gone.binary_search(&r.prefix).is_err()
        });
        if meets_kept {
            return Err(previous);
        }
    }

    let announced = |decisions: &mut dyn Iterator<Item = &Decision>| {
        let mut ips: Vec<IpAddr> = decisions.filter(|d| d.announced()).map(|d| d.ip).collect();
        ips.sort_unstable();
        ips.dedup();
        ips
    };
    let announced_before = announced(&mut runs.iter().flat_map(|run| &previous.decisions[run.clone()]));
    let announced_now = announced(&mut decisions.iter());

    let BgpPlan { node: planned_for, peers: previous_peers, decisions: previous_decisions } = previous;
    let mut peers = Vec::with_capacity(previous_peers.len());
    let mut changed_peers = Vec::with_capacity(previous_peers.len());
    for ((plan, gone), fresh) in previous_peers.into_iter().zip(gone).zip(fresh) {
        let withdrawn: Vec<IpNet> =
            gone.iter().filter(|p| fresh.binary_search_by(|r| r.prefix.cmp(p)).is_err()).copied().collect();
        let gone: Vec<usize> =
            gone.iter().filter_map(|p| plan.routes.binary_search_by(|r| r.prefix.cmp(p)).ok()).collect();
        let mut routes = plan.routes;
        ferrolb_ipam::sorted::patch(&mut routes, &gone, fresh.clone(), |old, new| old.prefix < new.prefix);
        peers.push(PeerPlan { routes, ..plan });
        changed_peers.push(PeerRoutesChange { withdrawn, announced: fresh });
    }
    let runs: Vec<usize> = runs.into_iter().flatten().collect();
    let mut kept = previous_decisions;
    ferrolb_ipam::sorted::patch(&mut kept, &runs, decisions, |old, new| decision_order(old, new).is_lt());
    Ok(BgpReplan {
        plan: BgpPlan { node: planned_for, peers, decisions: kept },
        peers: changed_peers,
        announced_before,
        announced_now,
    })
}

/// What [`replan_bgp`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpReplan {
    /// The new plan.
    pub plan: BgpPlan,
    /// What changed for each peer, in the order of the plan's peers.
    pub peers: Vec<PeerRoutesChange>,
    /// The VIPs the changed Services announced to some peer before, sorted.
    pub announced_before: Vec<IpAddr>,
    /// Those they announce now, sorted.
    pub announced_now: Vec<IpAddr>,
}

/// The routes of one peer that an edit changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRoutesChange {
    /// Prefixes no longer sent, sorted.
    pub withdrawn: Vec<IpNet>,
    /// Routes of the changed Services, sent anew or again (the peer's
    /// Adj-RIB-Out drops those it already has), sorted.
    pub announced: Vec<Route>,
}

/// The order of a plan's decisions: by Service, VIP, then peer.
fn decision_order(a: &Decision, b: &Decision) -> std::cmp::Ordering {
    (&a.service, a.ip, &a.peer).cmp(&(&b.service, b.ip, &b.peer))
}

/// What planning any Service on this node needs, built once per plan.
struct Planner<'p, 'a> {
    node: &'p str,
    node_object: Option<&'a Node>,
    peers: &'p [Peer<'a>],
    peer_names: &'p [Arc<str>],
    endpoints: &'p EndpointIndex,
    context: Context<'p>,
}

/// Runs `f` with the planner of `node` under `config`.
fn with_planner<R>(config: &Config, snapshot: &Snapshot, node: &str, f: impl FnOnce(&Planner) -> R) -> R {
    let node_object = find_node(snapshot, node);
    let labels = node_object.map(|n| &n.metadata.labels);
    let mut advertisements: Vec<Advertisement> =
        config.bgp_advertisements.iter().map(|a| Advertisement::new(a, &labels)).collect();
    // By name, so that the plan and its reasons do not depend on the order
    // the objects were read in.
    advertisements.sort_by(|a, b| a.name().cmp(b.name()));
    let peers = peers(config, node_object);
    let pools = pools(config);
    let endpoints = EndpointIndex::new(snapshot);
    let peer_names: Vec<Arc<str>> = peers.iter().map(|p| Arc::from(p.name)).collect();
    let context =
        Context { node_known: node_object.is_some(), advertisements: &advertisements, pools: &pools };
    f(&Planner { node, node_object, peers: &peers, peer_names: &peer_names, endpoints: &endpoints, context })
}

impl Planner<'_, '_> {
    /// The decisions about every VIP of `outcome` (a Service with addresses),
    /// and its routes added to each peer's.
    fn plan_service(
        &self,
        outcome: &ServiceOutcome,
        service: Option<&LbService>,
        decisions: &mut Vec<Decision>,
        routes: &mut [BTreeMap<IpNet, RouteBuilder>],
    ) {
        let key: Arc<str> = [outcome.namespace.as_str(), "/", outcome.name.as_str()].concat().into();
        let verdict = self.context.service_verdict(outcome, service).and_then(|ads| {
            let bar = self.node_object.and_then(node_bar).map(Reason::NodeBarred);
            let local = service.is_some_and(|s| s.traffic_policy_local);
            let ends = endpoint_bar(local, self.endpoints.get(&outcome.namespace, &outcome.name), self.node);
            match bar.or(ends.map(Reason::Endpoints)) {
                Some(reason) => Err(reason),
                None if self.peers.is_empty() => Err(Reason::NoPeers),
                None => Ok(ads),
            }
        });
        let ads = match verdict {
            Ok(ads) => ads,
            Err(reason) => {
                decisions.extend(outcome.ips.iter().map(|&ip| Decision {
                    service: key.clone(),
                    ip,
                    peer: None,
                    reason: reason.clone(),
                }));
                return;
            }
        };
        for &ip in &outcome.ips {
            for ((peer, name), peer_routes) in self.peers.iter().zip(self.peer_names).zip(routes.iter_mut()) {
                let reason = peer.decide(ip, &ads, &key, peer_routes);
                decisions.push(Decision { service: key.clone(), ip, peer: Some(name.clone()), reason });
            }
        }
    }
}

/// What the per-Service checks read.
struct Context<'a> {
    node_known: bool,
    advertisements: &'a [Advertisement<'a>],
    pools: &'a HashMap<&'a str, Pool<'a>>,
}

impl<'a> Context<'a> {
    /// The advertisements that announce this Service from this node, or why
    /// none does (steps 1 and 2 of the module's list).
    fn service_verdict(
        &self,
        outcome: &ServiceOutcome,
        service: Option<&LbService>,
    ) -> Result<Vec<&'a Advertisement<'a>>, Reason> {
        if !self.node_known {
            return Err(Reason::UnknownNode);
        }
        let Some(pool_name) = outcome.pool.as_deref() else { return Err(Reason::NoPool) };
        let pool = self.pools.get(pool_name);
        let no_labels = Labels::default();
        let pool_labels: &dyn LabelSet = match pool {
            Some(pool) => pool.labels,
            None => &no_labels,
        };
        let for_pool: Vec<&Advertisement> =
            self.advertisements.iter().filter(|a| a.covers_pool(pool_name, pool_labels)).collect();
        if for_pool.is_empty() {
            return Err(Reason::NoAdvertisementForPool { pool: pool_name.to_owned() });
        }
        let for_node: Vec<&Advertisement> = for_pool.iter().copied().filter(|a| a.selects_node).collect();
        if for_node.is_empty() {
            return Err(Reason::NodeNotSelected { advertisements: names(&for_pool) });
        }
        let service_labels = service.map_or(&no_labels, |s| &s.labels);
        let for_service: Vec<&Advertisement> =
            for_node.iter().copied().filter(|a| a.selects_service(service_labels)).collect();
        if for_service.is_empty() {
            return Err(Reason::ServiceNotSelected { advertisements: names(&for_node) });
        }
        let families = pool.map_or(Families::default(), |p| p.families);
        local_pref_conflict(&for_service, families).map_or(Ok(for_service), Err)
    }
}

/// A `BGPAdvertisement` as seen from one node.
struct Advertisement<'a> {
    config: &'a BgpAdvertisement,
    selects_node: bool,
}

impl<'a> Advertisement<'a> {
    fn new(config: &'a BgpAdvertisement, node: &impl LabelSet) -> Self {
        Advertisement { config, selects_node: config.scope.selects_node(node) }
    }

    fn name(&self) -> &'a str {
        &self.config.name
    }

    fn covers_pool(&self, pool: &str, labels: &dyn LabelSet) -> bool {
        self.config.scope.covers_pool(pool, labels)
    }

    fn selects_service(&self, labels: &Labels) -> bool {
        self.config.scope.selects_service(labels)
    }

    /// The route of `ip`: the VIP masked to the aggregation length.
    fn prefix(&self, ip: IpAddr) -> IpNet {
        let length = self.config.length(IpFamily::of(ip));
        IpNet::new(ip, length).expect("resolve keeps lengths within the family").trunc()
    }
}

fn names(advertisements: &[&Advertisement]) -> Vec<String> {
    let mut names: Vec<String> = advertisements.iter().map(|a| a.name().to_owned()).collect();
    names.sort();
    names.dedup();
    names
}

/// Which address families a pool holds.
#[derive(Clone, Copy, Debug, Default)]
struct Families {
    v4: bool,
    v6: bool,
}

/// An `IPAddressPool`: what advertisements select it by, and its families.
struct Pool<'a> {
    labels: &'a dyn LabelSet,
    families: Families,
}

fn pools(config: &Config) -> HashMap<&str, Pool<'_>> {
    let mut pools = HashMap::new();
    for pool in &config.pools {
        let families = Families { v4: pool.has_family(IpFamily::V4), v6: pool.has_family(IpFamily::V6) };
        pools.entry(pool.name.as_str()).or_insert(Pool { labels: &pool.labels, families });
    }
    pools
}

/// The first pair of advertisements whose LOCAL_PREFs clash on the routes of
/// a pool with these `families`, as a reason.
///
/// Two advertisements agree when their LOCAL_PREFs are equal, when their
/// routes differ in length for every family the pool holds, or when both
/// name peers and no peer is named by both. They share this node, so a
/// shared node cannot set them apart. (MetalLB's rule.)
fn local_pref_conflict(advertisements: &[&Advertisement], families: Families) -> Option<Reason> {
    for (i, a) in advertisements.iter().enumerate() {
        for b in &advertisements[i + 1..] {
            if !local_prefs_agree(a.config, b.config, families) {
                return Some(Reason::ConflictingLocalPref {
                    first: (a.name().to_owned(), a.config.local_pref),
                    second: (b.name().to_owned(), b.config.local_pref),
                });
            }
        }
    }
    None
}

fn local_prefs_agree(a: &BgpAdvertisement, b: &BgpAdvertisement, families: Families) -> bool {
    if a.local_pref == b.local_pref {
        return true;
    }
    let v4_differs = a.length_v4 != b.length_v4;
    let v6_differs = a.length_v6 != b.length_v6;
    let lengths_differ = match (families.v4, families.v6) {
        (false, false) => true,
        (true, false) => v4_differs,
        (false, true) => v6_differs,
        (true, true) => v4_differs && v6_differs,
    };
    let peers_disjoint =
        !a.peers.is_empty() && !b.peers.is_empty() && !a.peers.iter().any(|p| b.peers.contains(p));
    lengths_differ || peers_disjoint
}

/// The BFD session a peer's `bfdProfile` asks of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdPlan {
    /// The profile: timers and mode.
    pub profile: ferrolb_api::config::BfdProfile,
    /// The address the session runs from: the peer's `sourceAddress`, else
    /// the node's first InternalIP of the peer's family; `None` when there
    /// is neither, and the BGP session then runs without BFD.
    pub local: Option<IpAddr>,
}

/// Where a session with `peer` runs from on `node`: the peer's
/// `sourceAddress`, else the node's first InternalIP of the peer's family
/// (the BFD session's address, and the neighbor address the router sees).
pub fn session_local(peer: &ferrolb_api::config::Peer, node: Option<&Node>) -> Option<IpAddr> {
    let PeerAddress::Ip(address) = peer.address else { return None };
    let v4 = address.to_canonical().is_ipv4();
    let mut node_addresses = node.into_iter().flat_map(ferrolb_api::node::internal_ips);
    peer.source_address
        .or_else(|| node_addresses.find(|a| a.to_canonical().is_ipv4() == v4))
        .map(|a| a.to_canonical())
}

/// A `BGPPeer` as seen from one node.
struct Peer<'a> {
    name: &'a str,
    session: SessionReason,
    ibgp: bool,
    timers: Option<ferrolb_api::peer::PeerTimers>,
    router_id: Option<RouterId>,
    bfd: Option<BfdPlan>,
    carries_v4: bool,
    carries_v6: bool,
}

fn peers<'a>(config: &'a Config, node: Option<&Node>) -> Vec<Peer<'a>> {
    let labels = node.map(|n| &n.metadata.labels);
    let mut peers: Vec<Peer> = config
        .peers
        .iter()
        .map(|peer| {
            let router_id = peer
                .router_id
                .or_else(|| node.and_then(ferrolb_api::node::first_internal_ipv4))
                .and_then(RouterId::new);
            let session = if !peer.selects_node(&labels) {
                SessionReason::NotSelected
            } else if matches!(peer.address, PeerAddress::Interface(_)) {
                SessionReason::Unusable(Unusable::Unnumbered)
            } else if router_id.is_none() {
                SessionReason::Unusable(Unusable::NoRouterId)
            } else if peer.node_selectors.is_empty() {
                SessionReason::EveryNode
            } else {
                SessionReason::Selected
            };
            Peer {
                name: &peer.name,
                session,
                ibgp: peer.ibgp,
                timers: peer.timers,
                router_id: router_id.filter(|_| session.session()),
                bfd: peer
                    .bfd
                    .as_ref()
                    .map(|profile| BfdPlan { profile: profile.clone(), local: session_local(peer, node) }),
                carries_v4: peer.carries(IpFamily::V4),
                carries_v6: peer.carries(IpFamily::V6),
            }
        })
        .collect();
    // Stable: of two peers with one name (in two namespaces), the first read stays first.
    peers.sort_by(|a, b| a.name.cmp(b.name));
    peers
}

impl Peer<'_> {
    /// Whether `ip` goes to this peer under `advertisements` (which apply to
    /// the Service on this node); if so, adds its routes to `routes`.
    fn decide(
        &self,
        ip: IpAddr,
        advertisements: &[&Advertisement],
        service: &Arc<str>,
        routes: &mut BTreeMap<IpNet, RouteBuilder>,
    ) -> Reason {
        match self.session {
            SessionReason::EveryNode | SessionReason::Selected => {}
            SessionReason::NotSelected => return Reason::PeerNotForNode,
            SessionReason::Unusable(why) => return Reason::SessionUnusable(why),
        }
        let ads = || advertisements.iter().copied().filter(|a| a.config.sends_to(self.name));
        if ads().next().is_none() {
            let mut limits: Vec<(String, Vec<String>)> =
                advertisements.iter().map(|a| (a.name().to_owned(), a.config.peers.clone())).collect();
            limits.sort();
            limits.dedup();
            return Reason::PeerNotListed { limits };
        }
        let family = IpFamily::of(ip);
        let carried = match family {
            IpFamily::V4 => self.carries_v4,
            IpFamily::V6 => self.carries_v6,
        };
        if !carried {
            return Reason::FamilyNotCarried { family };
        }
        let mut prefixes = Vec::with_capacity(1);
        for ad in ads() {
            let prefix = ad.prefix(ip);
            let route = routes.entry(prefix).or_default();
            route.communities.extend(ad.config.communities.iter().copied());
            if self.ibgp && ad.config.local_pref != 0 {
                route.local_pref = route.local_pref.max(Some(ad.config.local_pref));
            }
            route.services.push(Arc::clone(service));
            prefixes.push(prefix);
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        Reason::Announced { prefixes }
    }
}

/// A route being gathered from every VIP and advertisement that yields it.
/// Vectors, sorted once built: most routes carry one Service, and a tree
/// set per route would weigh a few hundred bytes each.
#[derive(Clone, Debug, Default)]
struct RouteBuilder {
    local_pref: Option<u32>,
    communities: Vec<BgpCommunity>,
    services: Vec<Arc<str>>,
}

impl RouteBuilder {
    fn build(mut self, prefix: IpNet) -> Route {
        self.communities.sort_unstable();
        self.communities.dedup();
        self.services.sort_unstable();
        self.services.dedup();
        Route { prefix, local_pref: self.local_pref, communities: self.communities, services: self.services }
    }
}
