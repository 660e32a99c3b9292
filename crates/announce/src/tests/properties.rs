//! Property tests over random small clusters: a model of the configuration
//! is written out as YAML, planned, and the plan checked against the model.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use ferrolb_ipam::ServiceChange;
use ipnet::IpNet;

use super::Config;
use crate::{BgpPlan, Route};

const RACKS: [&str; 2] = ["r1", "r2"];
const POOLS: [(&str, &str); 3] =
    [("blue", "192.0.2.0/28"), ("red", "198.51.100.0/28"), ("six", "2001:db8::/124")];
const TIERS: [&str; 2] = ["a", "b"];
const COMMUNITIES: [&str; 2] = ["'64512:1'", "'large:64512:2:3'"];

#[derive(Clone, Debug)]
struct NodeModel {
    rack: usize,
    excluded: bool,
}

/// Which pools an advertisement covers.
#[derive(Clone, Debug)]
enum PoolChoice {
    All,
    Named(BTreeSet<usize>),
    Selected(usize),
}

#[derive(Clone, Debug)]
struct AdModel {
    pools: PoolChoice,
    rack: Option<usize>,
    peers: BTreeSet<usize>,
    length_v4: Option<u8>,
    length_v6: Option<u8>,
    local_pref: u32,
    communities: BTreeSet<usize>,
    tier: Option<usize>,
}

#[derive(Clone, Debug)]
struct PeerModel {
    ibgp: bool,
    v6: bool,
    dual_stack: bool,
    rack: Option<usize>,
}

#[derive(Clone, Debug)]
struct ServiceModel {
    pool: usize,
    tier: usize,
    local: bool,
    /// `(node, ready)` of each endpoint; `None`: no EndpointSlice.
    endpoints: Option<Vec<(usize, Option<bool>)>>,
}

#[derive(Clone, Debug)]
struct Model {
    nodes: Vec<NodeModel>,
    ads: Vec<AdModel>,
    peers: Vec<PeerModel>,
    services: Vec<ServiceModel>,
}

fn node_model() -> impl Strategy<Value = NodeModel> {
    (0..RACKS.len(), prop::bool::weighted(0.25)).prop_map(|(rack, excluded)| NodeModel { rack, excluded })
}

fn ad_model(peers: usize) -> impl Strategy<Value = AdModel> {
    let pools = prop_oneof![
        Just(PoolChoice::All),
        prop::collection::btree_set(0..POOLS.len(), 1..=2).prop_map(PoolChoice::Named),
        (0..POOLS.len()).prop_map(PoolChoice::Selected),
    ];
    (
        pools,
        prop::option::of(0..RACKS.len()),
        prop::collection::btree_set(0..peers, 0..=peers),
        prop::option::of(prop::sample::select(vec![28u8, 30, 32])),
        prop::option::of(prop::sample::select(vec![124u8, 126, 128])),
        prop::sample::select(vec![0u32, 100, 200]),
        prop::collection::btree_set(0..COMMUNITIES.len(), 0..=2),
        prop::option::of(0..TIERS.len()),
    )
        .prop_map(|(pools, rack, peers, length_v4, length_v6, local_pref, communities, tier)| AdModel {
            pools,
            rack,
            peers,
            length_v4,
            length_v6,
            local_pref,
            communities,
            tier,
        })
}

fn peer_model() -> impl Strategy<Value = PeerModel> {
    (any::<bool>(), any::<bool>(), any::<bool>(), prop::option::of(0..RACKS.len()))
        .prop_map(|(ibgp, v6, dual_stack, rack)| PeerModel { ibgp, v6, dual_stack, rack })
}

fn service_model(nodes: usize) -> impl Strategy<Value = ServiceModel> {
    let endpoint = (0..nodes, prop::option::of(any::<bool>()));
    (0..POOLS.len(), 0..TIERS.len(), any::<bool>(), prop::option::of(prop::collection::vec(endpoint, 0..3)))
        .prop_map(|(pool, tier, local, endpoints)| ServiceModel { pool, tier, local, endpoints })
}

fn model() -> impl Strategy<Value = Model> {
    (1..=3usize, 1..=3usize).prop_flat_map(|(nodes, peers)| {
        (
            prop::collection::vec(node_model(), nodes),
            prop::collection::vec(ad_model(peers), 0..=4),
            prop::collection::vec(peer_model(), peers),
            prop::collection::vec(service_model(nodes), 1..=5),
        )
            .prop_map(|(nodes, ads, peers, services)| Model { nodes, ads, peers, services })
    })
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

impl Model {
    /// The configuration as YAML documents, advertisements and peers in
    /// the order given.
    fn config(&self, ad_order: &[usize], peer_order: &[usize]) -> Config {
        let mut config = Config::default();
        for (i, node) in self.nodes.iter().enumerate() {
            let exclude = if node.excluded {
                ", node.kubernetes.io/exclude-from-external-load-balancers: ''"
            } else {
                ""
            };
            config = config.node(&format!("node{i}"), &format!("{{rack: {}{exclude}}}", RACKS[node.rack]));
        }
        for (name, cidr) in POOLS {
            config = config.pool(name, &format!("['{cidr}']"), &format!("{{color: {name}}}"));
        }
        for &i in ad_order {
            let ad = &self.ads[i];
            let mut spec = Vec::new();
            match &ad.pools {
                PoolChoice::All => {}
                PoolChoice::Named(pools) => spec
                    .push(format!("ipAddressPools: {}", list(pools.iter().map(|&p| POOLS[p].0.to_owned())))),
                PoolChoice::Selected(p) => spec
                    .push(format!("ipAddressPoolSelectors: [{{matchLabels: {{color: {}}}}}]", POOLS[*p].0)),
            }
            if let Some(rack) = ad.rack {
                spec.push(format!("nodeSelectors: [{{matchLabels: {{rack: {}}}}}]", RACKS[rack]));
            }
            if !ad.peers.is_empty() {
                spec.push(format!("peers: {}", list(ad.peers.iter().map(|p| format!("p{p}")))));
            }
            if let Some(length) = ad.length_v4 {
                spec.push(format!("aggregationLength: {length}"));
            }
            if let Some(length) = ad.length_v6 {
                spec.push(format!("aggregationLengthV6: {length}"));
            }
            if ad.local_pref != 0 {
                spec.push(format!("localPref: {}", ad.local_pref));
            }
            if !ad.communities.is_empty() {
                spec.push(format!(
                    "communities: {}",
                    list(ad.communities.iter().map(|&c| COMMUNITIES[c].to_owned()))
                ));
            }
            if let Some(tier) = ad.tier {
                spec.push(format!("serviceSelectors: [{{matchLabels: {{tier: {}}}}}]", TIERS[tier]));
            }
            config = config.advertisement(&format!("ad{i}"), &format!("{{{}}}", spec.join(", ")));
        }
        for &i in peer_order {
            let peer = &self.peers[i];
            let asn = if peer.ibgp { 64512 } else { 64513 + i };
            let address =
                if peer.v6 { format!("'2001:db8:ff::{}'", i + 1) } else { format!("203.0.113.{}", i + 1) };
            let mut spec = format!("myASN: 64512, peerASN: {asn}, peerAddress: {address}");
            if peer.dual_stack {
                spec.push_str(", dualStackAddressFamily: true");
            }
            if let Some(rack) = peer.rack {
                spec.push_str(&format!(", nodeSelectors: [{{matchLabels: {{rack: {}}}}}]", RACKS[rack]));
            }
            config = config.peer(&format!("p{i}"), &format!("{{{spec}}}"));
        }
        for (i, service) in self.services.iter().enumerate() {
            let name = format!("s{i}");
            let pool = POOLS[service.pool].0;
            let family = if pool == "six" { "IPv6" } else { "IPv4" };
            let policy = if service.local { "Local" } else { "Cluster" };
            config = config.service_spec(
                &name,
                &format!("{{tier: {}}}", TIERS[service.tier]),
                &format!("{{metallb.io/address-pool: {pool}}}"),
                &format!("externalTrafficPolicy: {policy}, ipFamilies: [{family}]"),
            );
            if let Some(endpoints) = &service.endpoints {
                let endpoints = endpoints.iter().enumerate().map(|(j, (node, ready))| {
                    let conditions = ready.map_or(String::new(), |r| format!(", conditions: {{ready: {r}}}"));
                    format!("{{addresses: [10.0.{i}.{j}], nodeName: node{node}{conditions}}}")
                });
                config = config.endpoints(&format!("{name}-x"), &name, &list(endpoints));
            }
        }
        config
    }

    fn in_order(&self) -> Config {
        let ads: Vec<usize> = (0..self.ads.len()).collect();
        let peers: Vec<usize> = (0..self.peers.len()).collect();
        self.config(&ads, &peers)
    }

    /// Whether, by the model alone, some advertisement lets `node` send
    /// Service `service` to peer `peer`.
    fn allows(&self, node: usize, service: usize, peer: usize) -> bool {
        let node_model = &self.nodes[node];
        let svc = &self.services[service];
        let peer_model = &self.peers[peer];
        let serving_here =
            svc.endpoints.iter().flatten().any(|&(n, ready)| n == node && ready != Some(false));
        let serving_anywhere = svc.endpoints.iter().flatten().any(|&(_, ready)| ready != Some(false));
        let endpoints_allow =
            if svc.local { serving_here } else { svc.endpoints.is_none() || serving_anywhere };
        let session = peer_model.rack.is_none_or(|r| r == node_model.rack);
        let covers = |ad: &AdModel| match &ad.pools {
            PoolChoice::All => true,
            PoolChoice::Named(pools) => pools.contains(&svc.pool),
            PoolChoice::Selected(p) => *p == svc.pool,
        };
        !node_model.excluded
            && endpoints_allow
            && session
            && self.ads.iter().any(|ad| {
                covers(ad)
                    && ad.rack.is_none_or(|r| r == node_model.rack)
                    && ad.tier.is_none_or(|t| t == svc.tier)
                    && (ad.peers.is_empty() || ad.peers.contains(&peer))
            })
    }
}

fn index(name: &str, prefix: char) -> usize {
    name.trim_start_matches(prefix).parse().unwrap()
}

fn service_index(key: &str) -> usize {
    index(key.trim_start_matches("default/"), 's')
}

fn announces_anything(plan: &BgpPlan) -> bool {
    plan.peers.iter().any(|p| !p.routes.is_empty()) || plan.decisions.iter().any(|d| d.announced())
}

#[test]
fn replanning_takes_the_short_way_for_host_routes_and_not_for_aggregates() {
    let before = Config::base().service("api", "{}", "{}");
    let after =
        before.clone().service("web", "{tier: b}", "{}").without("Service", "api").service("db", "{}", "{}");
    let names = ["api", "db", "web"];
    // The plan before, and what replanning after the edit gives.
    let replanned = |before: Config, after: Config| {
        let ((s1, a1), (s2, a2)) = (before.allocate(), after.allocate());
        let previous = crate::plan_bgp(&crate::tests::resolved(&s1), &s1, &a1, "node1");
        let replanned = crate::replan_bgp(
            previous.clone(),
            &crate::tests::resolved(&s2),
            &s2,
            &a2,
            &changes(&s2, &names),
            "node1",
        );
        (previous, replanned, (s1, a1), (s2, a2))
    };
    let (_, quick, (_, a1), (s2, a2)) = replanned(before.clone(), after.clone());
    let quick = quick.expect("the short way");
    assert_eq!(quick.plan, crate::plan_bgp(&crate::tests::resolved(&s2), &s2, &a2, "node1"));
    assert_eq!(quick.plan.peers[0].routes.len(), 2, "{quick:#?}");
    // What the peer is told: db's and web's routes (one of them on the
    // address api gave up), and what api had and nobody has now withdrawn.
    let ip = |a: &ferrolb_ipam::Allocation, name: &str| a.get("default", name).map(|o| o.ips[0]).unwrap();
    let mut now = vec![ip(&a2, "db"), ip(&a2, "web")];
    now.sort();
    let sent: Vec<_> = quick.peers[0].announced.iter().map(|r| r.prefix.addr()).collect();
    assert_eq!(sent, now);
    let withdrawn: Vec<_> = quick.peers[0].withdrawn.iter().map(|p| p.addr()).collect();
    let api = ip(&a1, "api");
    assert_eq!(withdrawn, if now.contains(&api) { vec![] } else { vec![api] });
    let mut before_ips: Vec<_> =
        names.iter().filter_map(|n| a1.get("default", n).map(|o| o.ips[0])).collect();
    before_ips.sort();
    assert_eq!((quick.announced_before, quick.announced_now), (before_ips, now));

    let aggregated = |c: Config| c.advertisement("all", "{aggregationLength: 30}");
    let (previous, given_back, _, _) = replanned(aggregated(before), aggregated(after));
    assert_eq!(given_back, Err(previous));
}

/// The changes of the Services of `names` (namespace `default`, sorted), as in `after`.
fn changes<'a>(after: &'a ferrolb_api::Snapshot, names: &[&'a str]) -> Vec<ServiceChange<'a>> {
    names
        .iter()
        .map(|&name| ServiceChange {
            namespace: "default",
            name,
            now: after.services.iter().find(|s| *s.name == *name).map(|s| &s.object),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn replanning_after_an_edit_to_services_agrees_with_a_full_plan(
        model in model(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..TIERS.len(), any::<bool>(), 0..POOLS.len()), 0..3),
        added in prop::option::of(service_model(1)),
        drop_last in any::<bool>(),
    ) {
        let mut edited = model.clone();
        for (at, tier, local, pool) in &edits {
            let service = at.get_mut(&mut edited.services);
            (service.tier, service.local, service.pool) = (*tier, *local, *pool);
        }
        if drop_last && edited.services.len() > 1 && edited.services.last().is_some_and(|s| s.endpoints.is_none()) {
            edited.services.pop();
        }
        if let Some(mut service) = added {
            service.endpoints = None;
            edited.services.push(service);
        }
        let (before, first) = model.in_order().allocate();
        let (after, second) = edited.in_order().allocate();
        prop_assume!(after.same_except_services(&before));
        // Every Service whose object or outcome differs, or that came or went.
        let names: BTreeSet<String> =
            first.services.iter().chain(&second.services).map(|o| o.name.clone()).collect();
        let object = |snapshot: &ferrolb_api::Snapshot, name: &str| {
            snapshot.services.iter().find(|s| *s.name == *name).map(|s| s.object.clone())
        };
        let changed: Vec<&str> = names
            .iter()
            .filter(|n| first.get("default", n) != second.get("default", n) || object(&before, n) != object(&after, n))
            .map(String::as_str)
            .collect();
        for node in 0..model.nodes.len() {
            let node = format!("node{node}");
            let previous = crate::plan_bgp(&crate::tests::resolved(&before), &before, &first, &node);
            match crate::replan_bgp(previous.clone(), &crate::tests::resolved(&after), &after, &second, &changes(&after, &changed), &node) {
                Ok(quick) => {
                    let full = crate::plan_bgp(&crate::tests::resolved(&after), &after, &second, &node);
                    // What the peers are told turns each one's routes into the full plan's.
                    for ((old, change), new) in previous.peers.iter().zip(&quick.peers).zip(&full.peers) {
                        let mut routes: BTreeMap<IpNet, Route> = old.routes.iter().map(|r| (r.prefix, r.clone())).collect();
                        for p in &change.withdrawn {
                            routes.remove(p);
                        }
                        routes.extend(change.announced.iter().map(|r| (r.prefix, r.clone())));
                        prop_assert_eq!(routes.into_values().collect::<Vec<_>>(), new.routes.clone());
                    }
                    prop_assert_eq!(quick.plan, full);
                }
                Err(given_back) => prop_assert_eq!(given_back, previous),
            }
        }
    }

    #[test]
    fn an_excluded_node_never_announces(model in model()) {
        let config = model.in_order();
        for (i, node) in model.nodes.iter().enumerate() {
            if node.excluded {
                let plan = config.plan(&format!("node{i}"));
                prop_assert!(!announces_anything(&plan), "{plan:#?}");
            }
        }
    }

    #[test]
    fn the_plan_does_not_depend_on_the_order_of_advertisements_and_peers(model in model(), seed in any::<u64>()) {
        let mut ads: Vec<usize> = (0..model.ads.len()).collect();
        let mut peers: Vec<usize> = (0..model.peers.len()).collect();
        // A cheap deterministic shuffle from the seed.
        ads.sort_by_key(|i| (seed.rotate_left(*i as u32 * 7) ^ *i as u64, *i));
        peers.sort_by_key(|i| (seed.rotate_right(*i as u32 * 5) ^ *i as u64, *i));
        for node in 0..model.nodes.len() {
            let node = format!("node{node}");
            let first = model.in_order().plan(&node);
            prop_assert_eq!(&first, &model.in_order().plan(&node));
            prop_assert_eq!(&first, &model.config(&ads, &peers).plan(&node));
        }
    }

    #[test]
    fn every_announced_route_carries_a_vip_that_an_advertisement_allows(model in model()) {
        let config = model.in_order();
        let (_, allocation) = config.allocate();
        for node in 0..model.nodes.len() {
            let plan = config.plan(&format!("node{node}"));
            for peer in &plan.peers {
                let p = index(&peer.peer, 'p');
                prop_assert!(peer.has_session() || peer.routes.is_empty());
                for route in &peer.routes {
                    prop_assert!(!route.services.is_empty());
                    prop_assert!(peer.ibgp || route.local_pref.is_none(), "LOCAL_PREF to an eBGP peer: {route:?}");
                    for key in &route.services {
                        let s = service_index(key);
                        let outcome = allocation.get("default", &format!("s{s}")).unwrap();
                        prop_assert!(outcome.ips.iter().any(|ip| route.prefix.contains(ip)), "{route:?} {outcome:?}");
                        prop_assert!(model.allows(node, s, p), "node{node} {key} -> {}: {route:?}", peer.peer);
                    }
                }
            }
        }
    }

    #[test]
    fn decisions_and_routes_agree(model in model()) {
        let config = model.in_order();
        for node in 0..model.nodes.len() {
            let plan = config.plan(&format!("node{node}"));
            for decision in plan.decisions.iter().filter(|d| d.announced()) {
                let peer = plan.peer(decision.peer.as_deref().unwrap()).unwrap();
                let crate::Reason::Announced { prefixes } = &decision.reason else { unreachable!() };
                for prefix in prefixes {
                    prop_assert!(prefix.contains(&decision.ip));
                    let route = peer.routes.iter().find(|r| r.prefix == *prefix);
                    prop_assert!(route.is_some_and(|r| r.services.contains(&decision.service)), "{decision:?}");
                }
            }
            let mut seen = BTreeSet::new();
            for peer in &plan.peers {
                for route in &peer.routes {
                    prop_assert!(seen.insert((&peer.peer, route.prefix)), "one route per peer and prefix");
                }
            }
        }
    }
}
