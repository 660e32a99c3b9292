//! Property tests of the L2 election over random small clusters: every node
//! elects the same leader, exactly one node leads each VIP that has
//! candidates, and leaders stay put when other nodes come and go.

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;

use super::Config;
use crate::{Alive, L2Plan, plan_l2};

const RACKS: [&str; 2] = ["r1", "r2"];
const ZONES: [&str; 2] = ["primary", "secondary"];
const TIERS: [&str; 2] = ["a", "b"];
const POOLS: [(&str, &str); 2] = [("blue", "[192.0.2.0/28]"), ("both", "[198.51.100.0/28, 2001:db8::/124]")];
const INTERFACES: [&str; 3] = ["eth0", "eth1", "bond0"];

#[derive(Clone, Debug)]
struct NodeModel {
    rack: usize,
    zone: usize,
    excluded: bool,
    alive: bool,
}

#[derive(Clone, Debug)]
struct AdModel {
    /// `None`: every pool.
    pool: Option<usize>,
    rack: Option<usize>,
    tier: Option<usize>,
    /// Weight by zone preferred.
    preferred: BTreeMap<usize, i32>,
    interfaces: Vec<usize>,
}

#[derive(Clone, Debug)]
struct ServiceModel {
    pool: usize,
    tier: usize,
    local: bool,
    six_first: bool,
    /// `(node, ready)` of each endpoint; `None`: no EndpointSlice.
    endpoints: Option<Vec<(usize, bool)>>,
}

#[derive(Clone, Debug)]
struct Model {
    nodes: Vec<NodeModel>,
    ads: Vec<AdModel>,
    services: Vec<ServiceModel>,
}

fn node_model() -> impl Strategy<Value = NodeModel> {
    (0..RACKS.len(), 0..ZONES.len(), prop::bool::weighted(0.2), prop::bool::weighted(0.8))
        .prop_map(|(rack, zone, excluded, alive)| NodeModel { rack, zone, excluded, alive })
}

fn ad_model() -> impl Strategy<Value = AdModel> {
    (
        prop::option::of(0..POOLS.len()),
        prop::option::weighted(0.3, 0..RACKS.len()),
        prop::option::weighted(0.3, 0..TIERS.len()),
        prop::collection::btree_map(0..ZONES.len(), 1..=100i32, 0..=2),
        prop::collection::vec(0..INTERFACES.len(), 0..=2),
    )
        .prop_map(|(pool, rack, tier, preferred, interfaces)| AdModel {
            pool,
            rack,
            tier,
            preferred,
            interfaces,
        })
}

fn service_model(nodes: usize) -> impl Strategy<Value = ServiceModel> {
    (
        0..POOLS.len(),
        0..TIERS.len(),
        prop::bool::weighted(0.4),
        any::<bool>(),
        prop::option::weighted(0.7, prop::collection::vec((0..nodes, prop::bool::weighted(0.8)), 0..=3)),
    )
        .prop_map(|(pool, tier, local, six_first, endpoints)| ServiceModel {
            pool,
            tier,
            local,
            six_first,
            endpoints,
        })
}

fn model() -> impl Strategy<Value = Model> {
    prop::collection::vec(node_model(), 1..=5).prop_flat_map(|nodes| {
        let count = nodes.len();
        (
            Just(nodes),
            prop::collection::vec(ad_model(), 1..=3),
            prop::collection::vec(service_model(count), 1..=3),
        )
            .prop_map(|(nodes, ads, services)| Model { nodes, ads, services })
    })
}

fn node_name(i: usize) -> String {
    format!("node{i}")
}

impl Model {
    fn config(&self) -> Config {
        let mut config = Config::default();
        for (i, node) in self.nodes.iter().enumerate() {
            let exclude = if node.excluded {
                ", node.kubernetes.io/exclude-from-external-load-balancers: ''"
            } else {
                ""
            };
            let labels = format!("{{rack: {}, zone: {}{exclude}}}", RACKS[node.rack], ZONES[node.zone]);
            config = config.node(&node_name(i), &labels);
        }
        for (name, addresses) in POOLS {
            config = config.pool(name, addresses, "{}");
        }
        for (i, ad) in self.ads.iter().enumerate() {
            let mut fields = Vec::new();
            if let Some(pool) = ad.pool {
                fields.push(format!("ipAddressPools: [{}]", POOLS[pool].0));
            }
            if let Some(rack) = ad.rack {
                fields.push(format!("nodeSelectors: [{{matchLabels: {{rack: {}}}}}]", RACKS[rack]));
            }
            if let Some(tier) = ad.tier {
                fields.push(format!("serviceSelectors: [{{matchLabels: {{tier: {}}}}}]", TIERS[tier]));
            }
            if !ad.preferred.is_empty() {
                let preferred: Vec<String> = ad
                    .preferred
                    .iter()
                    .map(|(zone, weight)| {
                        format!(
                            "{{weight: {weight}, preference: {{matchLabels: {{zone: {}}}}}}}",
                            ZONES[*zone]
                        )
                    })
                    .collect();
                fields.push(format!("preferredNodeSelectors: [{}]", preferred.join(", ")));
            }
            if !ad.interfaces.is_empty() {
                let names: Vec<&str> = ad.interfaces.iter().map(|&i| INTERFACES[i]).collect();
                fields.push(format!("interfaces: [{}]", names.join(", ")));
            }
            config = config.l2_advertisement(&format!("ad{i}"), &format!("{{{}}}", fields.join(", ")));
        }
        for (i, service) in self.services.iter().enumerate() {
            let name = format!("svc{i}");
            let families = if service.six_first { "[IPv6, IPv4]" } else { "[IPv4, IPv6]" };
            let policy = if service.local { "Local" } else { "Cluster" };
            config = config.service_spec(
                &name,
                &format!("{{tier: {}}}", TIERS[service.tier]),
                &format!("{{metallb.io/address-pool: {}}}", POOLS[service.pool].0),
                &format!(
                    "externalTrafficPolicy: {policy}, ipFamilyPolicy: PreferDualStack, ipFamilies: {families}"
                ),
            );
            if let Some(endpoints) = &service.endpoints {
                let endpoints: Vec<String> = endpoints
                    .iter()
                    .enumerate()
                    .map(|(e, (node, ready))| {
                        format!(
                            "{{addresses: [10.0.{i}.{e}], nodeName: {}, conditions: {{ready: {ready}}}}}",
                            node_name(*node)
                        )
                    })
                    .collect();
                config =
                    config.endpoints(&format!("{name}-1"), &name, &format!("[{}]", endpoints.join(", ")));
            }
        }
        config
    }

    fn alive(&self) -> Alive {
        self.nodes.iter().enumerate().filter(|(_, n)| n.alive).map(|(i, _)| node_name(i)).collect()
    }

    /// The plan of every node, seen with `alive`.
    fn plans(&self, alive: &Alive) -> Vec<L2Plan> {
        let (snapshot, allocation) = self.config().allocate();
        (0..self.nodes.len())
            .map(|i| {
                plan_l2(&crate::tests::resolved(&snapshot), &snapshot, &allocation, &node_name(i), alive)
            })
            .collect()
    }
}

/// The leader of every VIP, as seen from `plan`.
fn leaders(plan: &L2Plan) -> BTreeMap<IpAddr, Option<String>> {
    plan.vips.iter().map(|v| (v.ip, v.election.leader().map(|l| l.node.to_string()))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_node_elects_the_same_leader_and_exactly_one_leads(model in model()) {
        let plans = model.plans(&model.alive());
        let first = &plans[0];
        for plan in &plans[1..] {
            prop_assert_eq!(plan.vips.len(), first.vips.len());
            for (mine, theirs) in plan.vips.iter().zip(&first.vips) {
                prop_assert_eq!((&mine.service, mine.ip), (&theirs.service, theirs.ip));
                prop_assert_eq!(&mine.candidates, &theirs.candidates);
                prop_assert_eq!(&mine.election, &theirs.election);
            }
        }
        for (i, vip) in first.vips.iter().enumerate() {
            let leading: Vec<&str> =
                plans.iter().filter(|p| p.vips[i].leads()).map(|p| p.node.as_str()).collect();
            match vip.election.leader() {
                Some(leader) => {
                    prop_assert!(!vip.candidates.is_empty());
                    prop_assert_eq!(&vip.candidates[0].node, &leader.node);
                    prop_assert_eq!(leading, [&*leader.node]);
                }
                None => {
                    prop_assert!(vip.candidates.is_empty());
                    prop_assert!(leading.is_empty(), "{:?} lead {} without an election", leading, vip.ip);
                }
            }
            // Every VIP of a Service lives on one node.
            let siblings = first.vips.iter().filter(|v| v.service == vip.service);
            for sibling in siblings {
                prop_assert_eq!(&sibling.election, &vip.election);
            }
        }
    }

    #[test]
    fn removing_a_node_moves_only_the_vips_it_led(model in model(), pick in any::<prop::sample::Index>()) {
        let alive = model.alive();
        prop_assume!(!alive.is_empty());
        let gone = alive.iter().nth(pick.index(alive.len())).unwrap().to_owned();
        let fewer: Alive = alive.iter().filter(|n| *n != gone).collect();
        let before = &model.plans(&alive)[0];
        let after = &model.plans(&fewer)[0];
        for (was, now) in before.vips.iter().zip(&after.vips) {
            let was_leader = was.election.leader().map(|l| &*l.node);
            let now_leader = now.election.leader().map(|l| &*l.node);
            if was_leader == Some(gone.as_str()) {
                // The runner-up takes over: the order of the others is kept.
                prop_assert_eq!(now_leader, was.candidates.get(1).map(|c| &*c.node));
            } else {
                prop_assert_eq!(now_leader, was_leader, "{} moved when {} left", was.ip, gone);
            }
        }
    }

    #[test]
    fn a_node_that_joins_takes_a_vip_or_leaves_it_where_it_was(model in model(), pick in any::<prop::sample::Index>()) {
        let alive = model.alive();
        let dead: Vec<String> =
            (0..model.nodes.len()).map(node_name).filter(|n| !alive.contains(n)).collect();
        prop_assume!(!dead.is_empty());
        let joining = dead[pick.index(dead.len())].clone();
        let more: Alive = alive.iter().map(str::to_owned).chain([joining.clone()]).collect();
        let before = leaders(&model.plans(&alive)[0]);
        let after_plan = &model.plans(&more)[0];
        for (vip, now) in leaders(after_plan) {
            let was = &before[&vip];
            if was.is_some() {
                prop_assert!(now == *was || now.as_deref() == Some(joining.as_str()),
                    "{} moved from {:?} to {:?} when {} joined", vip, was, now, joining);
            }
            if let Some(was_leader) = was {
                let vip = after_plan.vip(vip).unwrap();
                let score = |node: &str| vip.candidates.iter().find(|c| *c.node == *node).map(|c| c.score);
                if score(&joining) < score(was_leader) {
                    prop_assert_eq!(now.as_deref(), Some(was_leader.as_str()), "a lower score took over");
                }
            }
        }
    }
}
