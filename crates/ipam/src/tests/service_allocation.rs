//! `serviceAllocation`: which Services may use a pool, and in what order
//! pools are tried.

use ferrolb_api::Located;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::fixtures::*;

#[test]
fn pool_selecting_the_namespace_is_tried_before_open_pools() {
    let snap = snapshot(
        vec![pool("a-open", &["192.0.2.0/28"]), pool("z-team", &["198.51.100.0/28"]).namespaces(&["team"])],
        vec![lb_service("team", "web"), lb_service("other", "web")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "team", "web"), ["198.51.100.0"]);
    assert_eq!(ips_of(&result, "other", "web"), ["192.0.2.0"]);
}

#[test]
fn pool_for_other_namespaces_is_not_used() {
    let snap = snapshot(
        vec![pool("team", &["198.51.100.0/28"]).namespaces(&["team"])],
        vec![lb_service("other", "web")],
    );
    let result = run(&snap);
    assert!(outcome(&result, "other", "web").ips.is_empty());
    assert!(error_of(&result, "other", "web").unwrap().starts_with("no available IPs"));
}

#[test]
fn namespace_selector_matches_namespace_labels() {
    let mut snap = snapshot(
        vec![pool("prod", &["198.51.100.0/28"]).namespace_selector(&[("env", "prod")])],
        vec![lb_service("shop", "web"), lb_service("lab", "web")],
    );
    snap.namespaces = vec![
        Located::unsourced(namespace("shop", &[("env", "prod")])),
        Located::unsourced(namespace("lab", &[("env", "dev")])),
    ];
    let result = run(&snap);
    assert_eq!(ips_of(&result, "shop", "web"), ["198.51.100.0"]);
    assert!(outcome(&result, "lab", "web").ips.is_empty());
}

#[test]
fn namespace_listed_or_selected_is_enough() {
    let mut snap = snapshot(
        vec![pool("p", &["198.51.100.0/28"]).namespaces(&["listed"]).namespace_selector(&[("env", "prod")])],
        vec![lb_service("listed", "web"), lb_service("selected", "web"), lb_service("neither", "web")],
    );
    snap.namespaces = vec![Located::unsourced(namespace("selected", &[("env", "prod")]))];
    let result = run(&snap);
    assert_eq!(ips_of(&result, "listed", "web"), ["198.51.100.0"]);
    assert_eq!(ips_of(&result, "selected", "web"), ["198.51.100.1"]);
    assert!(outcome(&result, "neither", "web").ips.is_empty());
}

#[test]
fn service_selector_matches_service_labels() {
    let snap = snapshot(
        vec![pool("gold", &["198.51.100.0/28"]).service_selector(&[("tier", "gold")])],
        vec![lb_service("ns", "gold").label("tier", "gold"), lb_service("ns", "plain")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "gold"), ["198.51.100.0"]);
    assert!(outcome(&result, "ns", "plain").ips.is_empty());
}

#[test]
fn namespace_and_service_selectors_must_both_match() {
    let snap = snapshot(
        vec![pool("p", &["198.51.100.0/28"]).namespaces(&["team"]).service_selector(&[("tier", "gold")])],
        vec![
            lb_service("team", "gold").label("tier", "gold"),
            lb_service("team", "plain"),
            lb_service("other", "gold").label("tier", "gold"),
        ],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "team", "gold"), ["198.51.100.0"]);
    assert!(outcome(&result, "team", "plain").ips.is_empty());
    assert!(outcome(&result, "other", "gold").ips.is_empty());
}

#[test]
fn selector_that_does_not_parse_selects_nothing() {
    let mut p = pool("p", &["198.51.100.0/28"]).build();
    p.spec.service_allocation = Some(ferrolb_api::metallb::ServiceAllocation {
        service_selectors: vec![LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Bogus".into(),
                values: None,
            }]),
            match_labels: None,
        }],
        ..Default::default()
    });
    let mut snap = snapshot(vec![], vec![lb_service("ns", "web").label("tier", "x")]);
    snap.pools = vec![Located::unsourced(p)];
    assert!(outcome(&run(&snap), "ns", "web").ips.is_empty());
}

#[test]
fn lower_priority_value_is_tried_first() {
    let snap = snapshot(
        vec![
            pool("a", &["192.0.2.0/28"]).namespaces(&["ns"]).priority(20),
            pool("b", &["198.51.100.0/28"]).namespaces(&["ns"]).priority(10),
        ],
        vec![lb_service("ns", "web")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0"]);
}

#[test]
fn pools_with_a_priority_come_before_pools_without() {
    let snap = snapshot(
        vec![
            pool("a", &["192.0.2.0/28"]).namespaces(&["ns"]),
            pool("b", &["198.51.100.0/28"]).namespaces(&["ns"]).priority(99),
        ],
        vec![lb_service("ns", "web")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0"]);
}

#[test]
fn equal_priority_is_broken_by_pool_name() {
    let snap = snapshot(
        vec![
            pool("b", &["198.51.100.0/28"]).namespaces(&["ns"]).priority(5),
            pool("a", &["192.0.2.0/28"]).namespaces(&["ns"]).priority(5),
        ],
        vec![lb_service("ns", "web")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["192.0.2.0"]);
}

#[test]
fn full_selected_pools_fall_back_to_open_pools() {
    let snap = snapshot(
        vec![pool("open", &["192.0.2.0/28"]), pool("team", &["198.51.100.0/32"]).namespaces(&["ns"])],
        vec![lb_service("ns", "1"), lb_service("ns", "2")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "1"), ["198.51.100.0"]);
    assert_eq!(ips_of(&result, "ns", "2"), ["192.0.2.0"]);
}

#[test]
fn service_allocation_with_only_a_priority_selects_every_service() {
    let snap = snapshot(
        vec![pool("a-open", &["192.0.2.0/28"]), pool("z-first", &["198.51.100.0/28"]).priority(1)],
        vec![lb_service("any", "web")],
    );
    assert_eq!(ips_of(&run(&snap), "any", "web"), ["198.51.100.0"]);
}

#[test]
fn selected_pool_without_auto_assign_is_not_used_automatically() {
    let snap = snapshot(
        vec![pool("team", &["198.51.100.0/28"]).namespaces(&["ns"]).manual()],
        vec![lb_service("ns", "web")],
    );
    assert!(outcome(&run(&snap), "ns", "web").ips.is_empty());
}

#[test]
fn named_pool_that_does_not_select_the_service_is_not_allowed() {
    let snap = snapshot(
        vec![pool("team", &["198.51.100.0/28"]).namespaces(&["team"])],
        vec![lb_service("other", "web").pool("team")],
    );
    assert_eq!(
        error_of(&run(&snap), "other", "web").as_deref(),
        Some("pool \"team\" is not allowed for this service")
    );
}

#[test]
fn requested_ip_in_a_pool_that_does_not_select_the_service_is_not_allowed() {
    let snap = snapshot(
        vec![pool("team", &["198.51.100.0/28"]).namespaces(&["team"])],
        vec![lb_service("other", "web").load_balancer_ip("198.51.100.3")],
    );
    assert_eq!(
        error_of(&run(&snap), "other", "web").as_deref(),
        Some("pool \"team\" is not allowed for this service")
    );
}
