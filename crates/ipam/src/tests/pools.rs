//! Taking addresses from pools: order, names, autoAssign, avoidBuggyIPs.

use crate::fixtures::*;
use crate::request::annotation;

#[test]
fn first_service_gets_the_lowest_address() {
    let snap = snapshot(vec![pool("p", &["192.0.2.16/28"])], vec![lb_service("ns", "web")]);
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.16"]);
    assert_eq!(outcome(&result, "ns", "web").pool.as_deref(), Some("p"));
}

#[test]
fn ranges_are_used_in_the_order_written() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.10-192.0.2.11", "192.0.2.0/30"])],
        vec![lb_service("ns", "a"), lb_service("ns", "b"), lb_service("ns", "c")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.10"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["192.0.2.11"]);
    assert_eq!(ips_of(&result, "ns", "c"), ["192.0.2.0"]);
}

#[test]
fn open_pools_are_tried_by_name() {
    let snap = snapshot(
        vec![pool("b", &["198.51.100.0/31"]), pool("a", &["192.0.2.0/32"])],
        vec![lb_service("ns", "1"), lb_service("ns", "2")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "1"), ["192.0.2.0"]);
    assert_eq!(ips_of(&result, "ns", "2"), ["198.51.100.0"]);
}

#[test]
fn full_pools_give_no_available_ips() {
    let snap =
        snapshot(vec![pool("p", &["192.0.2.0/32"])], vec![lb_service("ns", "a"), lb_service("ns", "b")]);
    let result = run(&snap);
    let b = outcome(&result, "ns", "b");
    assert!(b.ips.is_empty() && b.pool.is_none());
    assert_eq!(
        error_of(&result, "ns", "b").as_deref(),
        Some("no available IPs: no pool this service may use has a free IPv4 address")
    );
}

#[test]
fn no_pools_is_an_error() {
    let snap = snapshot(vec![], vec![lb_service("ns", "a")]);
    assert_eq!(error_of(&run(&snap), "ns", "a").as_deref(), Some("no IPAddressPool is configured"));
}

#[test]
fn named_pool_is_used() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/28"]), pool("b", &["198.51.100.0/28"])],
        vec![lb_service("ns", "web").pool("b")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0"]);
}

#[test]
fn deprecated_pool_annotation_is_honoured() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/28"]), pool("b", &["198.51.100.0/28"])],
        vec![lb_service("ns", "web").annotate(annotation::DEPRECATED_ADDRESS_POOL, "b")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0"]);
}

#[test]
fn current_pool_annotation_wins_over_deprecated() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/28"]), pool("b", &["198.51.100.0/28"])],
        vec![lb_service("ns", "web").annotate(annotation::DEPRECATED_ADDRESS_POOL, "a").pool("b")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0"]);
}

#[test]
fn unknown_pool_is_an_error() {
    let snap = snapshot(vec![pool("a", &["192.0.2.0/28"])], vec![lb_service("ns", "web").pool("nope")]);
    assert_eq!(error_of(&run(&snap), "ns", "web").as_deref(), Some("unknown pool \"nope\""));
}

#[test]
fn unknown_pool_that_looks_like_a_typo_names_the_likely_one() {
    let snap =
        snapshot(vec![pool("public", &["192.0.2.0/28"])], vec![lb_service("ns", "web").pool("pubilc")]);
    assert_eq!(
        error_of(&run(&snap), "ns", "web").as_deref(),
        Some("unknown pool \"pubilc\" (did you mean \"public\"?)")
    );
}

#[test]
fn exhausted_named_pool_is_an_error() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/32"]), pool("b", &["198.51.100.0/28"])],
        vec![lb_service("ns", "1").pool("a"), lb_service("ns", "2").pool("a")],
    );
    let result = run(&snap);
    assert_eq!(error_of(&result, "ns", "2").as_deref(), Some("no available IPs in pool \"a\""));
    assert!(outcome(&result, "ns", "2").ips.is_empty(), "no fallback to another pool");
}

#[test]
fn auto_assign_false_pool_is_not_used_automatically() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/28"]).manual(), pool("b", &["198.51.100.0/32"])],
        vec![lb_service("ns", "1"), lb_service("ns", "2")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "1"), ["198.51.100.0"]);
    assert!(outcome(&result, "ns", "2").error.is_some());
}

#[test]
fn auto_assign_false_pool_is_used_when_named() {
    let snap = snapshot(vec![pool("a", &["192.0.2.0/28"]).manual()], vec![lb_service("ns", "web").pool("a")]);
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["192.0.2.0"]);
}

#[test]
fn auto_assign_false_pool_is_used_for_a_requested_ip() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/28"]).manual()],
        vec![lb_service("ns", "web").load_balancer_ip("192.0.2.9")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.9"]);
    assert_eq!(outcome(&result, "ns", "web").pool.as_deref(), Some("a"));
}

#[test]
fn avoid_buggy_ips_skips_addresses_ending_in_0_and_255() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.254-192.0.2.255", "198.51.100.0-198.51.100.1"]).avoid_buggy()],
        vec![lb_service("ns", "a"), lb_service("ns", "b")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.254"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["198.51.100.1"]);
}

#[test]
fn without_avoid_buggy_ips_network_and_broadcast_look_alikes_are_used() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.255/32", "198.51.100.0/32"])],
        vec![lb_service("ns", "a"), lb_service("ns", "b")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.255"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["198.51.100.0"]);
}

#[test]
fn avoid_buggy_ips_leaves_ipv6_alone() {
    let snap = snapshot(
        vec![pool("p", &["2001:db8::/120"]).avoid_buggy()],
        vec![lb_service("ns", "a").families(&["IPv6"])],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "a"), ["2001:db8::"]);
}

#[test]
fn requested_buggy_ip_is_not_allowed() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/24"]).avoid_buggy()],
        vec![lb_service("ns", "a").load_balancer_ip("192.0.2.255")],
    );
    let err = error_of(&run(&snap), "ns", "a").unwrap();
    assert!(err.starts_with("\"192.0.2.255\" is not allowed in config"), "{err}");
}

#[test]
fn range_that_does_not_parse_is_skipped() {
    let snap = snapshot(vec![pool("p", &["not-a-range", "192.0.2.7/32"])], vec![lb_service("ns", "a")]);
    assert_eq!(ips_of(&run(&snap), "ns", "a"), ["192.0.2.7"]);
}

#[test]
fn pool_with_no_usable_range_lacks_the_family() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/33"])], vec![lb_service("ns", "a").pool("p")]);
    assert_eq!(
        error_of(&run(&snap), "ns", "a").as_deref(),
        Some("no available IPs in pool \"p\" for IPv4 IPFamily")
    );
}
