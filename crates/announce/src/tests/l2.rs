//! One test per rule of the L2 election, named after the rule.

use std::net::IpAddr;

use super::{Config, ip};
use crate::eligibility::{EndpointBar, NodeBar};
use crate::l2::{Candidate, Election, Interfaces, L2Plan, L2Vip, election_hash, order};
use crate::{Alive, L2Reason, plan_l2};

impl Config {
    /// Nodes `node1` (rack r1), `node2` and `node3` (rack r2), pool `blue`
    /// holding only 192.0.2.10, L2Advertisement `local` with an empty spec,
    /// and Service `default/web`. By hash alone, node2 leads 192.0.2.10.
    pub fn l2_base() -> Self {
        Config::default()
            .node("node1", "{rack: r1}")
            .node("node2", "{rack: r2}")
            .node("node3", "{rack: r2}")
            .pool("blue", "[192.0.2.10/32]", "{}")
            .l2_advertisement("local", "{}")
            .service("web", "{}", "{}")
    }

    /// An L2Advertisement with `spec` (a flow mapping).
    pub fn l2_advertisement(self, name: &str, spec: &str) -> Self {
        self.doc(format!(
            "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
        ))
    }

    /// The L2 plan of `node`, every Node alive.
    pub fn l2_plan(&self, node: &str) -> L2Plan {
        let (snapshot, allocation) = self.allocate();
        plan_l2(
            &crate::tests::resolved(&snapshot),
            &snapshot,
            &allocation,
            node,
            &Alive::every_node(&snapshot),
        )
    }

    /// The L2 plan of `node`, only the `alive` nodes alive.
    pub fn l2_plan_alive(&self, node: &str, alive: &[&str]) -> L2Plan {
        let (snapshot, allocation) = self.allocate();
        plan_l2(
            &crate::tests::resolved(&snapshot),
            &snapshot,
            &allocation,
            node,
            &alive.iter().copied().collect(),
        )
    }
}

/// The one VIP of `default/name`.
fn vip<'a>(plan: &'a L2Plan, name: &str) -> &'a L2Vip {
    let key = format!("default/{name}");
    let found: Vec<&L2Vip> = plan.vips_of(&key).collect();
    assert_eq!(found.len(), 1, "{plan:#?}");
    found[0]
}

fn leader(vip: &L2Vip) -> &str {
    &vip.election.leader().unwrap_or_else(|| panic!("no leader: {vip:#?}")).node
}

fn candidates(vip: &L2Vip) -> Vec<(&str, i64)> {
    vip.candidates.iter().map(|c| (&*c.node, c.score)).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn equal_candidates(names: &[&str]) -> Vec<Candidate> {
    names.iter().map(|n| Candidate { node: (*n).into(), score: 0 }).collect()
}

fn ordered(mut candidates: Vec<Candidate>, ip: IpAddr) -> Vec<String> {
    order(&mut candidates, ip);
    candidates.into_iter().map(|c| c.node.to_string()).collect()
}

#[test]
fn election_hash_is_sha256_of_node_hash_ip() {
    assert_eq!(
        hex(&election_hash("node1", "192.0.2.10")),
        "8ca210481d15cae5b41525a6e5fbf545b6c70c6718346ab9cb82349c0faaf214"
    );
}

#[test]
fn candidates_of_equal_score_go_by_lowest_hash_as_metallb_sorts_them() {
    // sha256("node2#192.0.2.10") = 63af…, ("node1#…") = 8ca2…, ("node3#…") = aa44…
    let nodes = equal_candidates(&["node1", "node2", "node3"]);
    assert_eq!(ordered(nodes.clone(), ip("192.0.2.10")), ["node2", "node1", "node3"]);
    // 752f… (node3), a6f9… (node1), d968… (node2)
    assert_eq!(ordered(nodes.clone(), ip("192.0.2.11")), ["node3", "node1", "node2"]);
    // 0395… (node1), 427e… (node2), c474… (node3): Go writes IPv6 compressed, as Rust does.
    assert_eq!(ordered(nodes, ip("2001:db8::10")), ["node1", "node2", "node3"]);
}

#[test]
fn a_higher_score_comes_before_a_lower_hash() {
    let mut nodes = equal_candidates(&["node1", "node2", "node3"]);
    nodes[2].score = 1;
    assert_eq!(ordered(nodes, ip("192.0.2.10")), ["node3", "node2", "node1"]);
}

#[test]
fn an_ipv4_mapped_address_is_hashed_as_go_writes_it() {
    assert_eq!(crate::l2::go_ip_string(ip("::ffff:192.0.2.10")), "192.0.2.10");
    assert_eq!(crate::l2::go_ip_string(ip("2001:db8::10")), "2001:db8::10");
}

#[test]
fn every_node_elects_the_first_candidate() {
    let config = Config::l2_base();
    let on_leader = config.l2_plan("node2");
    let web = vip(&on_leader, "web");
    assert_eq!(candidates(web), [("node2", 0), ("node1", 0), ("node3", 0)]);
    assert_eq!(leader(web), "node2");
    assert_eq!(web.reason, L2Reason::Elected { candidates: 3 });
    assert_eq!(web.reason.to_string(), "elected: first of 3 candidates");
    assert_eq!(web.interfaces(), Some(&Interfaces::All));
    assert_eq!(on_leader.led().map(|v| v.ip).collect::<Vec<_>>(), [ip("192.0.2.10")]);

    let elsewhere = config.l2_plan("node1");
    let web = vip(&elsewhere, "web");
    assert_eq!(web.reason, L2Reason::NotElected { leader: "node2".into() });
    assert_eq!(web.reason.to_string(), "not elected: the leader is node2");
    assert_eq!(web.interfaces(), None);
    assert_eq!(elsewhere.led().count(), 0);
}

#[test]
fn exclusion_label_takes_a_node_out_of_the_election() {
    let config = Config::l2_base()
        .without("Node", "node2")
        .node("node2", "{rack: r2, node.kubernetes.io/exclude-from-external-load-balancers: ''}");
    let plan = config.l2_plan("node2");
    let web = vip(&plan, "web");
    assert_eq!(candidates(web), [("node1", 0), ("node3", 0)]);
    assert_eq!(web.reason, L2Reason::NodeBarred(NodeBar::ExcludedByLabel));
    assert_eq!(
        web.reason.to_string(),
        "node excluded by label node.kubernetes.io/exclude-from-external-load-balancers"
    );
    assert_eq!(vip(&config.l2_plan("node1"), "web").reason, L2Reason::Elected { candidates: 2 });
}

#[test]
fn node_with_network_unavailable_is_not_a_candidate() {
    let config = Config::l2_base().without("Node", "node2").doc(
        "apiVersion: v1\nkind: Node\nmetadata: {name: node2, labels: {rack: r2}}\nstatus: {conditions: [{type: NetworkUnavailable, status: 'True'}]}\n",
    );
    let web = vip(&config.l2_plan("node2"), "web").clone();
    assert_eq!(leader(&web), "node1");
    assert_eq!(web.reason, L2Reason::NodeBarred(NodeBar::NetworkUnavailable));
}

#[test]
fn node_selectors_limit_the_candidates() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("rack2", "{nodeSelectors: [{matchLabels: {rack: r2}}]}");
    let plan = config.l2_plan("node1");
    let web = vip(&plan, "web");
    assert_eq!(candidates(web), [("node2", 0), ("node3", 0)]);
    assert_eq!(web.reason, L2Reason::NodeNotSelected { advertisements: vec!["rack2".into()] });
    assert_eq!(web.reason.to_string(), "nodeSelectors of L2Advertisement rack2 do not select this node");
}

#[test]
fn service_selectors_leave_other_services_without_a_leader() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .without("IPAddressPool", "blue")
        .pool("blue", "[192.0.2.10/31]", "{}")
        .l2_advertisement("public", "{serviceSelectors: [{matchLabels: {exposure: public}}]}")
        .service("api", "{exposure: public}", "{}");
    for node in ["node1", "node2", "node3"] {
        let plan = config.l2_plan(node);
        let web = vip(&plan, "web");
        let not_selected = L2Reason::ServiceNotSelected { advertisements: vec!["public".into()] };
        assert_eq!(web.election, Election::NoLeader(not_selected.clone()));
        assert_eq!(web.reason, not_selected);
        assert!(web.candidates.is_empty());
        assert_eq!(*vip(&plan, "api").advertisements, ["public"]);
    }
    assert_eq!(
        L2Reason::ServiceNotSelected { advertisements: vec!["public".into()] }.to_string(),
        "serviceSelectors of L2Advertisement public do not select the service"
    );
    let api = vip(&config.l2_plan("node1"), "api").clone();
    assert_eq!(api.candidates.len(), 3);
    assert!(api.election.leader().is_some());
}

#[test]
fn pools_no_l2_advertisement_covers_are_not_in_the_plan() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("red-only", "{ipAddressPools: [red]}")
        .pool("red", "[198.51.100.16/28]", "{}")
        .service("db", "{}", "{metallb.io/address-pool: red}");
    let plan = config.l2_plan("node1");
    let services: Vec<&str> = plan.vips.iter().map(|v| v.service.as_str()).collect();
    assert_eq!(services, ["default/db"]);
    assert_eq!(&*plan.vips[0].pool, "red");
}

#[test]
fn pool_selectors_cover_the_pools_they_select() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("red-ones", "{ipAddressPoolSelectors: [{matchLabels: {color: red}}]}")
        .pool("red", "[198.51.100.16/28]", "{color: red}")
        .service("db", "{}", "{metallb.io/address-pool: red}");
    let plan = config.l2_plan("node1");
    let services: Vec<&str> = plan.vips.iter().map(|v| v.service.as_str()).collect();
    assert_eq!(services, ["default/db"]);
}

#[test]
fn a_bgp_only_configuration_has_an_empty_l2_plan() {
    assert!(Config::base().l2_plan("node1").vips.is_empty());
}

#[test]
fn local_service_elects_among_the_nodes_with_endpoints() {
    let config = Config::l2_base().service_with("web", "{}", "{}", "Local").endpoints(
        "web-1",
        "web",
        "[{addresses: [10.0.0.1], nodeName: node1}, {addresses: [10.0.0.3], nodeName: node3}]",
    );
    let plan = config.l2_plan("node2");
    let web = vip(&plan, "web");
    assert_eq!(candidates(web), [("node1", 0), ("node3", 0)]);
    assert_eq!(leader(web), "node1");
    assert_eq!(web.reason, L2Reason::Endpoints(EndpointBar::NoLocalEndpoint));
    assert_eq!(web.reason.to_string(), "no ready endpoint on this node (externalTrafficPolicy: Local)");
}

#[test]
fn local_service_without_endpoints_has_no_leader() {
    let config = Config::l2_base().service_with("web", "{}", "{}", "Local");
    let web = vip(&config.l2_plan("node2"), "web").clone();
    assert_eq!(web.election, Election::NoLeader(L2Reason::Endpoints(EndpointBar::NoEndpoint)));
    assert_eq!(web.reason, L2Reason::Endpoints(EndpointBar::NoEndpoint));

    let not_ready = config.endpoints(
        "web-1",
        "web",
        "[{addresses: [10.0.0.1], nodeName: node2, conditions: {ready: false}}]",
    );
    let web = vip(&not_ready.l2_plan("node2"), "web").clone();
    assert_eq!(web.election, Election::NoLeader(L2Reason::Endpoints(EndpointBar::NoEndpoint)));
}

#[test]
fn cluster_service_elects_among_every_node_wherever_its_endpoints_are() {
    let config = Config::l2_base().endpoints("web-1", "web", "[{addresses: [10.0.0.3], nodeName: node3}]");
    let web = vip(&config.l2_plan("node2"), "web").clone();
    assert_eq!(web.candidates.len(), 3);
    assert_eq!(web.reason, L2Reason::Elected { candidates: 3 });
}

#[test]
fn cluster_service_whose_endpoints_cannot_serve_has_no_leader() {
    let config = Config::l2_base().endpoints(
        "web-1",
        "web",
        "[{addresses: [10.0.0.3], nodeName: node3, conditions: {ready: false}}]",
    );
    let web = vip(&config.l2_plan("node2"), "web").clone();
    assert_eq!(web.reason, L2Reason::Endpoints(EndpointBar::NoEndpoint));
    assert_eq!(web.reason.to_string(), "no ready endpoint on any node");
}

#[test]
fn preferred_node_selector_weights_beat_the_hash() {
    let config = Config::l2_base().without("L2Advertisement", "local").l2_advertisement(
        "prefer-rack1",
        "{preferredNodeSelectors: [{weight: 50, preference: {matchLabels: {rack: r1}}}]}",
    );
    let web = vip(&config.l2_plan("node1"), "web").clone();
    assert_eq!(candidates(&web), [("node1", 50), ("node2", 0), ("node3", 0)]);
    assert_eq!(web.reason, L2Reason::Elected { candidates: 3 });
}

#[test]
fn weights_of_matching_preferences_add_up_within_and_across_advertisements() {
    let config = Config::l2_base()
        .without("Node", "node3")
        .node("node3", "{rack: r2, zone: primary}")
        .without("L2Advertisement", "local")
        .l2_advertisement(
            "prefer",
            "{preferredNodeSelectors: [{weight: 60, preference: {matchLabels: {rack: r1}}}, \
             {weight: 50, preference: {matchLabels: {zone: primary}}}, \
             {weight: 20, preference: {matchLabels: {rack: r2}}}]}",
        )
        .l2_advertisement("more", "{preferredNodeSelectors: [{weight: 5, preference: {}}]}");
    let web = vip(&config.l2_plan("node1"), "web").clone();
    assert_eq!(candidates(&web), [("node3", 75), ("node1", 65), ("node2", 25)]);
}

#[test]
fn an_advertisement_never_lifts_a_node_its_node_selectors_leave_out() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("rack1", "{nodeSelectors: [{matchLabels: {rack: r1}}]}")
        .l2_advertisement(
            "rack2",
            "{nodeSelectors: [{matchLabels: {rack: r2}}], \
             preferredNodeSelectors: [{weight: 100, preference: {matchLabels: {rack: r1}}}]}",
        );
    let web = vip(&config.l2_plan("node1"), "web").clone();
    assert_eq!(candidates(&web), [("node2", 0), ("node1", 0), ("node3", 0)]);
}

#[test]
fn a_preferred_node_that_is_not_alive_gives_way_to_the_others() {
    let config = Config::l2_base().without("L2Advertisement", "local").l2_advertisement(
        "prefer-rack1",
        "{preferredNodeSelectors: [{weight: 50, preference: {matchLabels: {rack: r1}}}]}",
    );
    let web = vip(&config.l2_plan_alive("node1", &["node2", "node3"]), "web").clone();
    assert_eq!(candidates(&web), [("node2", 0), ("node3", 0)]);
    assert_eq!(web.reason, L2Reason::NotAlive);
    assert_eq!(web.reason.to_string(), "this node is not an alive member");
}

#[test]
fn a_node_that_is_not_alive_is_skipped() {
    let config = Config::l2_base();
    let plan = config.l2_plan_alive("node1", &["node1", "node3"]);
    let web = vip(&plan, "web");
    assert_eq!(candidates(web), [("node1", 0), ("node3", 0)]);
    assert_eq!(web.reason, L2Reason::Elected { candidates: 2 });
    let nobody = config.l2_plan_alive("node1", &[]);
    assert_eq!(vip(&nobody, "web").election, Election::NoLeader(L2Reason::NoCandidate));
    assert_eq!(vip(&nobody, "web").reason, L2Reason::NotAlive);
}

#[test]
fn alive_names_that_are_no_node_are_ignored() {
    let plan = Config::l2_base().l2_plan_alive("node3", &["node3", "ghost"]);
    assert_eq!(candidates(vip(&plan, "web")), [("node3", 0)]);
    assert_eq!(vip(&plan, "web").reason.to_string(), "elected: the only candidate");
}

#[test]
fn dual_stack_service_has_one_leader_elected_by_its_first_address() {
    let config = Config::l2_base()
        .without("IPAddressPool", "blue")
        .pool("blue", "[192.0.2.10/32, 2001:db8::10/128]", "{}")
        .service_spec("web", "{}", "{}", "ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv4, IPv6]");
    let plan = config.l2_plan("node2");
    let web: Vec<&L2Vip> = plan.vips_of("default/web").collect();
    assert_eq!(web.len(), 2);
    for vip in &web {
        assert_eq!(vip.election_ip, ip("192.0.2.10"));
        assert_eq!(leader(vip), "node2", "the order for 192.0.2.10, not 2001:db8::10");
        assert!(vip.leads());
    }

    let six_first =
        config.service_spec("web", "{}", "{}", "ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv6, IPv4]");
    let plan = six_first.l2_plan("node1");
    let web: Vec<&L2Vip> = plan.vips_of("default/web").collect();
    assert_eq!(web.len(), 2);
    for vip in &web {
        assert_eq!(vip.election_ip, ip("2001:db8::10"));
        assert_eq!(leader(vip), "node1", "the order for 2001:db8::10");
    }
    assert_eq!(plan.led().count(), 2);
}

#[test]
fn leader_answers_on_the_interfaces_of_the_advertisements_that_select_it() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("a", "{interfaces: [eth1]}")
        .l2_advertisement("b", "{interfaces: [eth0, eth1]}")
        .l2_advertisement("c", "{interfaces: [eth9], nodeSelectors: [{matchLabels: {rack: r1}}]}");
    let plan = config.l2_plan("node2");
    let web = vip(&plan, "web");
    assert_eq!(web.interfaces(), Some(&Interfaces::Only(vec!["eth0".into(), "eth1".into()])));
    assert_eq!(web.interfaces().unwrap().to_string(), "eth0,eth1");

    let with_all = config.l2_advertisement("d", "{}");
    let plan = with_all.l2_plan("node2");
    assert_eq!(vip(&plan, "web").interfaces(), Some(&Interfaces::All));
}

#[test]
fn shared_ip_cannot_be_elected_under_service_selectors() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("public", "{serviceSelectors: [{matchLabels: {exposure: public}}]}")
        .service("web", "{exposure: public}", "{metallb.io/allow-shared-ip: key}");
    let web = vip(&config.l2_plan("node2"), "web").clone();
    let refused = L2Reason::SharedIpWithServiceSelectors { advertisements: vec!["public".into()] };
    assert_eq!(web.election, Election::NoLeader(refused.clone()));
    assert_eq!(web.reason, refused);
    assert_eq!(
        refused.to_string(),
        "the service has allow-shared-ip, which cannot be used with the serviceSelectors of \
         L2Advertisement public"
    );
}

#[test]
fn shared_ip_without_service_selectors_is_elected() {
    let config = Config::l2_base().service("web", "{}", "{metallb.io/allow-shared-ip: key}");
    assert!(vip(&config.l2_plan("node2"), "web").leads());
}

#[test]
fn an_unknown_node_leads_nothing_but_sees_the_election() {
    let plan = Config::l2_base().l2_plan("node9");
    let web = vip(&plan, "web");
    assert_eq!(web.reason, L2Reason::UnknownNode);
    assert_eq!(leader(web), "node2");
}

#[test]
fn missing_endpoints_are_reported_before_service_selectors_as_metallb_checks() {
    let config = Config::l2_base()
        .without("L2Advertisement", "local")
        .l2_advertisement("public", "{serviceSelectors: [{matchLabels: {exposure: public}}]}")
        .service_with("web", "{}", "{}", "Local");
    let web = vip(&config.l2_plan("node2"), "web").clone();
    assert_eq!(web.election, Election::NoLeader(L2Reason::Endpoints(EndpointBar::NoEndpoint)));
}

#[test]
fn the_plan_does_not_depend_on_the_order_of_nodes_and_advertisements() {
    let config = Config::l2_base().l2_advertisement(
        "extra",
        "{interfaces: [eth0], preferredNodeSelectors: [{weight: 3, preference: {}}]}",
    );
    let mut reversed = Config::default();
    for doc in config.yaml().split("---\n").collect::<Vec<_>>().into_iter().rev() {
        reversed = reversed.doc(doc);
    }
    for node in ["node1", "node2", "node3"] {
        assert_eq!(config.l2_plan(node), reversed.l2_plan(node));
    }
}

#[test]
fn a_services_entries_are_found_among_many_and_in_order() {
    // vips_of searches the plan by halves: it relies on the entries being
    // sorted by Service, dual-stack pairs and names that prefix others included.
    let mut config = Config::default()
        .node("node1", "{}")
        .pool("wide", "[192.0.2.0/24, '2001:db8::/120']", "{}")
        .l2_advertisement("local", "{}");
    for name in ["web", "web-1", "web-10", "a", "zz", "web2"] {
        config = config.service_spec(
            name,
            "{}",
            "{}",
            "ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv6, IPv4]",
        );
    }
    let plan = config.l2_plan("node1");
    assert!(plan.vips.windows(2).all(|w| (&w[0].service, w[0].ip) <= (&w[1].service, w[1].ip)), "{plan:#?}");
    for name in ["web", "web-1", "web-10", "a", "zz", "web2"] {
        let found: Vec<&L2Vip> = plan.vips_of(&format!("default/{name}")).collect();
        assert_eq!(found.len(), 2, "{name}: both families");
        assert!(found.iter().all(|v| v.service == format!("default/{name}")));
    }
    assert_eq!(plan.vips_of("default/we").count(), 0);
    assert_eq!(plan.vips_of("default/zzz").count(), 0);
}

#[test]
fn entries_are_sorted_by_service_when_namespaces_sort_otherwise_as_names() {
    // Services come by (namespace, name): "a" before "a-b". As
    // `namespace/name`, "a-b/…" comes first ('-' sorts below '/').
    let mut config = Config::default()
        .node("node1", "{}")
        .pool("wide", "[192.0.2.0/24, '2001:db8::/120']", "{}")
        .l2_advertisement("local", "{}");
    for namespace in ["a", "a-b", "a.b", "ab"] {
        for name in ["x", "y"] {
            config = config.doc(format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
                 spec: {{type: LoadBalancer, ports: [{{port: 80}}], ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv6, IPv4]}}\n"
            ));
        }
    }
    let plan = config.l2_plan("node1");
    assert_eq!(plan.vips.len(), 16, "{plan:#?}");
    let keys: Vec<(&str, IpAddr)> = plan.vips.iter().map(|v| (v.service.as_str(), v.ip)).collect();
    assert!(keys.is_sorted(), "{keys:#?}");
    assert_eq!(keys[0].0, "a-b/x");
    assert_eq!(plan.vips_of("a/y").count(), 2);
}
