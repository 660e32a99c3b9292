//! One test per rule of BGP planning, named after the rule.

use ferrolb_types::IpFamily;
use ferrolb_types::{BgpCommunity, Community, LargeCommunity};
use k8s_openapi::api::core::v1::{NodeCondition, NodeStatus};

use super::{Config, decisions, ip, only_reason, prefixes};
use crate::eligibility::{EndpointBar, NodeBar};
use crate::{Reason, SessionReason, Unusable, plan_bgp};

fn announced_as(prefixes: &[&str]) -> Reason {
    Reason::Announced { prefixes: prefixes.iter().map(|p| p.parse().unwrap()).collect() }
}

#[test]
fn advertisement_naming_no_pool_covers_every_pool() {
    let config = Config::base().pool("red", "[198.51.100.16/28]", "{}").service(
        "db",
        "{}",
        "{metallb.io/address-pool: red}",
    );
    let plan = config.plan("node1");
    assert_eq!(prefixes(&plan, "tor"), ["192.0.2.8/32", "198.51.100.16/32"]);
}

#[test]
fn advertisement_covers_only_the_pools_it_names() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("blue-only", "{ipAddressPools: [blue]}")
        .pool("red", "[198.51.100.16/28]", "{}")
        .service("db", "{}", "{metallb.io/address-pool: red}");
    let plan = config.plan("node1");
    assert_eq!(prefixes(&plan, "tor"), ["192.0.2.8/32"]);
    assert_eq!(only_reason(&plan, "db"), Reason::NoAdvertisementForPool { pool: "red".into() });
}

#[test]
fn advertisement_covers_the_pools_its_selectors_select() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("red-ones", "{ipAddressPoolSelectors: [{matchLabels: {color: red}}]}")
        .pool("red", "[198.51.100.16/28]", "{color: red}")
        .service("db", "{}", "{metallb.io/address-pool: red}");
    let plan = config.plan("node1");
    assert_eq!(prefixes(&plan, "tor"), ["198.51.100.16/32"]);
    assert_eq!(only_reason(&plan, "web"), Reason::NoAdvertisementForPool { pool: "blue".into() });
}

#[test]
fn pool_without_bgp_advertisement_is_not_announced() {
    let plan = Config::base().without("BGPAdvertisement", "all").plan("node1");
    assert!(prefixes(&plan, "tor").is_empty());
    let reason = only_reason(&plan, "web");
    assert_eq!(reason, Reason::NoAdvertisementForPool { pool: "blue".into() });
    assert_eq!(reason.to_string(), "no BGPAdvertisement selects pool blue");
}

#[test]
fn advertisement_peers_limit_which_peers_get_the_routes() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .peer("spine", "{myASN: 64512, peerASN: 64514, peerAddress: 198.51.100.2}")
        .advertisement("to-spine", "{peers: [spine]}");
    let plan = config.plan("node1");
    assert_eq!(prefixes(&plan, "spine"), ["192.0.2.8/32"]);
    assert!(prefixes(&plan, "tor").is_empty());
    let to_tor = decisions(&plan, "web").into_iter().find(|d| d.peer.as_deref() == Some("tor")).unwrap();
    assert_eq!(
        to_tor.reason,
        Reason::PeerNotListed { limits: vec![("to-spine".into(), vec!["spine".into()])] }
    );
    assert_eq!(to_tor.reason.to_string(), "advertisement to-spine limits peers to [spine]");
}

#[test]
fn advertisement_node_selectors_limit_which_nodes_announce() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("rack1", "{nodeSelectors: [{matchLabels: {rack: r1}}]}");
    assert_eq!(prefixes(&config.plan("node1"), "tor"), ["192.0.2.8/32"]);
    let plan = config.plan("node2");
    assert!(prefixes(&plan, "tor").is_empty());
    let reason = only_reason(&plan, "web");
    assert_eq!(reason, Reason::NodeNotSelected { advertisements: vec!["rack1".into()] });
    assert_eq!(reason.to_string(), "nodeSelectors of advertisement rack1 do not select this node");
}

#[test]
fn advertisement_service_selectors_limit_which_services_are_announced() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("public", "{serviceSelectors: [{matchLabels: {exposure: public}}]}")
        .service("api", "{exposure: public}", "{}");
    let plan = config.plan("node1");
    let api_ip = plan.decisions_for("default/api").next().unwrap().ip;
    assert_eq!(prefixes(&plan, "tor"), [format!("{api_ip}/32")]);
    let reason = only_reason(&plan, "web");
    assert_eq!(reason, Reason::ServiceNotSelected { advertisements: vec!["public".into()] });
    assert_eq!(reason.to_string(), "serviceSelectors of advertisement public do not select the service");
}

#[test]
fn peer_node_selectors_decide_which_nodes_keep_a_session() {
    let config = Config::base()
        .without("BGPPeer", "tor")
        .peer("tor", "{myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1, nodeSelectors: [{matchLabels: {rack: r1}}]}")
        .peer("anywhere", "{myASN: 64512, peerASN: 64514, peerAddress: 198.51.100.2}");
    let on_rack1 = config.plan("node1");
    assert_eq!(on_rack1.peer("tor").unwrap().session, SessionReason::Selected);
    assert_eq!(prefixes(&on_rack1, "tor"), ["192.0.2.8/32"]);

    let on_rack2 = config.plan("node2");
    let tor = on_rack2.peer("tor").unwrap();
    assert!(!tor.has_session() && tor.routes.is_empty());
    assert_eq!(on_rack2.peer("anywhere").unwrap().session, SessionReason::EveryNode);
    assert_eq!(prefixes(&on_rack2, "anywhere"), ["192.0.2.8/32"]);
    let to_tor = decisions(&on_rack2, "web").into_iter().find(|d| d.peer.as_deref() == Some("tor")).unwrap();
    assert_eq!(to_tor.reason, Reason::PeerNotForNode);
    assert_eq!(to_tor.reason.to_string(), "the peer's nodeSelectors do not select this node");
}

#[test]
fn node_with_exclude_from_external_load_balancers_label_announces_nothing() {
    let config = Config::base()
        .without("Node", "node1")
        .node("node1", "{rack: r1, node.kubernetes.io/exclude-from-external-load-balancers: ''}");
    let plan = config.plan("node1");
    assert!(prefixes(&plan, "tor").is_empty());
    // The session stays up: only announcements stop, as in MetalLB.
    assert!(plan.peer("tor").unwrap().has_session());
    let reason = only_reason(&plan, "web");
    assert_eq!(reason, Reason::NodeBarred(NodeBar::ExcludedByLabel));
    assert_eq!(
        reason.to_string(),
        "node excluded by label node.kubernetes.io/exclude-from-external-load-balancers"
    );
    assert_eq!(prefixes(&config.plan("node2"), "tor"), ["192.0.2.8/32"]);
}

#[test]
fn node_with_network_unavailable_announces_nothing() {
    // Built in code: the file loader reads no `status` of a Node.
    let (mut snapshot, allocation) = Config::base().allocate();
    let node1 = snapshot.nodes.iter_mut().find(|n| n.metadata.name.as_deref() == Some("node1")).unwrap();
    node1.object.status = Some(NodeStatus {
        conditions: Some(vec![NodeCondition {
            type_: "NetworkUnavailable".into(),
            status: "True".into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let plan = plan_bgp(&crate::tests::resolved(&snapshot), &snapshot, &allocation, "node1");
    assert!(prefixes(&plan, "tor").is_empty());
    let reason = only_reason(&plan, "web");
    assert_eq!(reason, Reason::NodeBarred(NodeBar::NetworkUnavailable));
    assert_eq!(reason.to_string(), "node has condition NetworkUnavailable=True");
    assert_eq!(
        prefixes(&plan_bgp(&crate::tests::resolved(&snapshot), &snapshot, &allocation, "node2"), "tor"),
        ["192.0.2.8/32"]
    );
}

#[test]
fn node_missing_from_the_snapshot_announces_nothing() {
    let plan = Config::base().plan("node9");
    assert!(prefixes(&plan, "tor").is_empty());
    assert_eq!(only_reason(&plan, "web"), Reason::UnknownNode);
}

#[test]
fn local_traffic_policy_needs_a_serving_endpoint_on_this_node() {
    let config = Config::base()
        .service_with("web", "{}", "{}", "Local")
        .endpoints(
            "web-a",
            "web",
            "[{addresses: [10.0.0.1], nodeName: node1}, {addresses: [10.0.0.2], nodeName: node2, conditions: {ready: false}}]",
        );
    // node1's endpoint has no ready condition: that counts as ready.
    assert_eq!(prefixes(&config.plan("node1"), "tor"), ["192.0.2.8/32"]);
    let plan = config.plan("node2");
    assert!(prefixes(&plan, "tor").is_empty());
    let reason = only_reason(&plan, "web");
    assert_eq!(reason, Reason::Endpoints(EndpointBar::NoLocalEndpoint));
    assert_eq!(reason.to_string(), "no ready endpoint on this node (externalTrafficPolicy: Local)");
}

#[test]
fn local_traffic_policy_counts_a_terminating_endpoint_that_still_serves() {
    let config = Config::base().service_with("web", "{}", "{}", "Local").endpoints(
        "web-a",
        "web",
        "[{addresses: [10.0.0.2], nodeName: node2, conditions: {ready: false, serving: true, terminating: true}}]",
    );
    assert_eq!(prefixes(&config.plan("node2"), "tor"), ["192.0.2.8/32"]);
    assert!(prefixes(&config.plan("node1"), "tor").is_empty());
}

#[test]
fn local_traffic_policy_without_endpoint_slices_announces_nowhere() {
    let config = Config::base().service_with("web", "{}", "{}", "Local");
    for node in ["node1", "node2"] {
        assert_eq!(only_reason(&config.plan(node), "web"), Reason::Endpoints(EndpointBar::NoLocalEndpoint));
    }
}

#[test]
fn cluster_traffic_policy_announces_from_every_eligible_node() {
    // The only endpoint is on node2; node1 announces all the same.
    let config = Config::base().endpoints("web-a", "web", "[{addresses: [10.0.0.2], nodeName: node2}]");
    for node in ["node1", "node2"] {
        assert_eq!(prefixes(&config.plan(node), "tor"), ["192.0.2.8/32"], "{node}");
    }
    // Without EndpointSlices (a standalone file), too.
    assert_eq!(prefixes(&Config::base().plan("node1"), "tor"), ["192.0.2.8/32"]);
}

#[test]
fn cluster_traffic_policy_with_no_serving_endpoint_anywhere_is_not_announced() {
    let config = Config::base().endpoints(
        "web-a",
        "web",
        "[{addresses: [10.0.0.2], nodeName: node2, conditions: {ready: false, serving: false}}, {addresses: [], nodeName: node1}]",
    );
    let plan = config.plan("node1");
    assert!(prefixes(&plan, "tor").is_empty());
    assert_eq!(only_reason(&plan, "web"), Reason::Endpoints(EndpointBar::NoEndpoint));
}

#[test]
fn aggregation_length_masks_the_vip_and_merges_services_into_one_route() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("agg", "{aggregationLength: 29}")
        .service("api", "{}", "{}");
    let plan = config.plan("node1");
    let routes = &plan.peer("tor").unwrap().routes;
    assert_eq!(routes.len(), 1, "{routes:#?}");
    assert_eq!(routes[0].prefix.to_string(), "192.0.2.8/29");
    assert_eq!(routes[0].services.iter().map(|s| &**s).collect::<Vec<_>>(), ["default/api", "default/web"]);
    assert_eq!(only_reason(&plan, "api"), announced_as(&["192.0.2.8/29"]));
}

#[test]
fn aggregation_length_v6_masks_ipv6_vips() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .pool("six", "[2001:db8:0:1::/64]", "{}")
        .peer("tor6", "{myASN: 64512, peerASN: 64513, peerAddress: '2001:db8::1'}")
        .advertisement("agg", "{ipAddressPools: [six], aggregationLengthV6: 64}")
        .advertisement("plain", "{ipAddressPools: [six]}")
        .service_spec("api", "{}", "{metallb.io/address-pool: six}", "ipFamilies: [IPv6]");
    let plan = config.plan("node1");
    let api_ip = plan.decisions_for("default/api").next().unwrap().ip;
    assert_eq!(prefixes(&plan, "tor6"), ["2001:db8:0:1::/64".to_owned(), format!("{api_ip}/128")]);
}

#[test]
fn local_pref_is_sent_to_ibgp_peers_only() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("preferred", "{localPref: 150}")
        .peer("rr", "{myASN: 64512, peerASN: 64512, peerAddress: 198.51.100.3}")
        .peer("dyn", "{myASN: 64512, dynamicASN: internal, peerAddress: 198.51.100.4}")
        .peer("local-as", "{myASN: 64512, localASN: 64600, peerASN: 64600, peerAddress: 198.51.100.5}");
    let plan = config.plan("node1");
    for (peer, local_pref) in [("tor", None), ("rr", Some(150)), ("dyn", Some(150)), ("local-as", Some(150))]
    {
        let peer_plan = plan.peer(peer).unwrap();
        assert_eq!(peer_plan.ibgp, local_pref.is_some(), "{peer}");
        assert_eq!(peer_plan.routes[0].local_pref, local_pref, "{peer}");
    }
}

#[test]
fn communities_take_standard_large_and_alias_values() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .communities("names", "[{name: no-advertise, value: '65535:65282'}]")
        .advertisement("tagged", "{communities: ['64512:100', 'large:64512:1:2', no-advertise]}");
    let plan = config.plan("node1");
    assert_eq!(
        plan.peer("tor").unwrap().routes[0].communities,
        [
            BgpCommunity::Standard(Community::new(64512, 100)),
            BgpCommunity::Standard(Community::new(65535, 65282)),
            BgpCommunity::Large(LargeCommunity { global_admin: 64512, local_data_1: 1, local_data_2: 2 }),
        ]
    );
}

#[test]
fn advertisements_meeting_on_one_prefix_merge_communities_and_local_pref() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .without("BGPPeer", "tor")
        .peer("tor", "{myASN: 64512, peerASN: 64512, peerAddress: 198.51.100.1}")
        .advertisement("first", "{localPref: 100, communities: ['64512:1']}")
        .advertisement("second", "{localPref: 100, communities: ['64512:2', '64512:1']}");
    let plan = config.plan("node1");
    let routes = &plan.peer("tor").unwrap().routes;
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].local_pref, Some(100));
    let communities: Vec<String> = routes[0].communities.iter().map(ToString::to_string).collect();
    assert_eq!(communities, ["64512:1", "64512:2"]);
}

#[test]
fn conflicting_local_prefs_withhold_the_service() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("low", "{localPref: 100}")
        .advertisement("high", "{localPref: 200}");
    let plan = config.plan("node1");
    assert!(prefixes(&plan, "tor").is_empty());
    let reason = only_reason(&plan, "web");
    assert_eq!(
        reason,
        Reason::ConflictingLocalPref { first: ("high".into(), 200), second: ("low".into(), 100) }
    );
}

#[test]
fn different_local_prefs_agree_on_different_aggregation_lengths_or_disjoint_peers() {
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .without("BGPPeer", "tor")
        .peer("tor", "{myASN: 64512, peerASN: 64512, peerAddress: 198.51.100.1}")
        .peer("spine", "{myASN: 64512, peerASN: 64512, peerAddress: 198.51.100.2}")
        .advertisement("host", "{localPref: 100, peers: [tor]}")
        .advertisement("aggregate", "{localPref: 200, aggregationLength: 29, peers: [tor]}")
        .advertisement("spine", "{localPref: 300, peers: [spine]}");
    let plan = config.plan("node1");
    let tor: Vec<(String, Option<u32>)> =
        plan.peer("tor").unwrap().routes.iter().map(|r| (r.prefix.to_string(), r.local_pref)).collect();
    assert_eq!(tor, [("192.0.2.8/29".into(), Some(200)), ("192.0.2.8/32".into(), Some(100))]);
    assert_eq!(plan.peer("spine").unwrap().routes[0].local_pref, Some(300));
}

#[test]
fn ipv6_vip_is_not_sent_over_an_ipv4_session_without_dual_stack() {
    let config = Config::base()
        .pool("six", "[2001:db8::100/120]", "{}")
        .peer(
            "dual",
            "{myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.2, dualStackAddressFamily: true}",
        )
        .service_spec("api", "{}", "{metallb.io/address-pool: six}", "ipFamilies: [IPv6]");
    let plan = config.plan("node1");
    assert_eq!(prefixes(&plan, "tor"), ["192.0.2.8/32"]);
    assert_eq!(prefixes(&plan, "dual"), ["192.0.2.8/32", "2001:db8::100/128"]);
    let to_tor = decisions(&plan, "api").into_iter().find(|d| d.peer.as_deref() == Some("tor")).unwrap();
    assert_eq!(to_tor.reason, Reason::FamilyNotCarried { family: IpFamily::V6 });
}

#[test]
fn advertisement_with_an_unknown_community_withholds_what_it_covers() {
    // Not part of the configuration (`validate` refuses it, as MetalLB's
    // controller refuses the whole configuration): nothing is announced.
    let config = Config::base()
        .without("BGPAdvertisement", "all")
        .advertisement("tagged", "{communities: [no-such-alias]}");
    let plan = config.plan("node1");
    assert!(prefixes(&plan, "tor").is_empty());
    assert!(matches!(only_reason(&plan, "web"), Reason::NoAdvertisementForPool { .. }));
}

#[test]
fn a_session_without_a_router_id_is_a_reason_not_a_session() {
    // node2 has no IPv4 InternalIP and the peer sets no routerID.
    let config = Config::base().without("Node", "node2").doc(
        "apiVersion: v1\nkind: Node\nmetadata: {name: node2}\nstatus:\n  addresses: [{type: InternalIP, address: '2001:db8::2'}]\n"
            .to_owned(),
    );
    let plan = config.plan("node2");
    let tor = plan.peer("tor").unwrap();
    assert_eq!(tor.session, SessionReason::Unusable(Unusable::NoRouterId));
    assert_eq!(tor.router_id, None);
    assert!(tor.routes.is_empty());
    assert_eq!(only_reason(&plan, "web"), Reason::SessionUnusable(Unusable::NoRouterId));
    let with_id = Config::base()
        .without("BGPPeer", "tor")
        .peer("tor", "{myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1, routerID: 192.0.2.99}")
        .without("Node", "node2")
        .doc(
            "apiVersion: v1\nkind: Node\nmetadata: {name: node2}\nstatus:\n  addresses: [{type: InternalIP, address: '2001:db8::2'}]\n"
                .to_owned(),
        );
    let tor = with_id.plan("node2").peer("tor").cloned().unwrap();
    assert!(tor.has_session());
    assert_eq!(tor.router_id.map(|id| id.to_string()).as_deref(), Some("192.0.2.99"));
}

#[test]
fn an_unnumbered_peer_is_a_reason_not_a_session() {
    let config = Config::base()
        .without("BGPPeer", "tor")
        .peer("tor", "{myASN: 64512, peerASN: 64513, interface: eth1}");
    let plan = config.plan("node1");
    assert_eq!(plan.peer("tor").unwrap().session, SessionReason::Unusable(Unusable::Unnumbered));
    assert_eq!(only_reason(&plan, "web"), Reason::SessionUnusable(Unusable::Unnumbered));
}

#[test]
fn no_peer_means_nothing_to_announce_to() {
    let plan = Config::base().without("BGPPeer", "tor").plan("node1");
    assert!(plan.peers.is_empty());
    assert_eq!(only_reason(&plan, "web"), Reason::NoPeers);
}

#[test]
fn plan_is_sorted_by_peer_then_prefix() {
    let config = Config::base()
        .peer("alpha", "{myASN: 64512, peerASN: 64514, peerAddress: 198.51.100.2}")
        .service("api", "{}", "{metallb.io/loadBalancerIPs: 192.0.2.14}")
        .service("db", "{}", "{metallb.io/loadBalancerIPs: 192.0.2.12}");
    let plan = config.plan("node1");
    let peers: Vec<&str> = plan.peers.iter().map(|p| p.peer.as_str()).collect();
    assert_eq!(peers, ["alpha", "tor"]);
    assert_eq!(prefixes(&plan, "tor"), ["192.0.2.8/32", "192.0.2.12/32", "192.0.2.14/32"]);
    let order: Vec<(String, Option<String>)> = plan
        .decisions
        .iter()
        .map(|d| (d.service.to_string(), d.peer.as_deref().map(str::to_owned)))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(decisions(&plan, "api")[0].ip, ip("192.0.2.14"));
}
