//! Address families: `ipFamilyPolicy`, `ipFamilies`, cluster IPs.

use crate::fixtures::*;

fn dual_and_single_pools() -> Vec<PoolBuilder> {
    vec![
        pool("a-v4", &["192.0.2.0/28"]),
        pool("b-v6", &["2001:db8:b::/124"]),
        pool("c-dual", &["198.51.100.0/28", "2001:db8:c::/124"]),
    ]
}

#[test]
fn single_stack_defaults_to_ipv4() {
    let snap =
        snapshot(vec![pool("dual", &["2001:db8::/124", "192.0.2.0/28"])], vec![lb_service("ns", "web")]);
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["192.0.2.0"]);
}

#[test]
fn ipv6_single_stack_gets_ipv6() {
    let snap = snapshot(dual_and_single_pools(), vec![lb_service("ns", "web").families(&["IPv6"])]);
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["2001:db8:b::"]);
}

#[test]
fn family_comes_from_cluster_ips_without_ip_families() {
    let snap =
        snapshot(dual_and_single_pools(), vec![lb_service("ns", "web").cluster_ips(&["2001:db8:ff::1"])]);
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["2001:db8:b::"]);
}

#[test]
fn require_dual_stack_gets_one_of_each_from_one_pool() {
    let snap = snapshot(dual_and_single_pools(), vec![lb_service("ns", "web").policy("RequireDualStack")]);
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["198.51.100.0", "2001:db8:c::"]);
    assert_eq!(outcome(&result, "ns", "web").pool.as_deref(), Some("c-dual"));
}

#[test]
fn require_dual_stack_fails_without_a_pool_holding_both() {
    let snap = snapshot(
        vec![pool("a-v4", &["192.0.2.0/28"]), pool("b-v6", &["2001:db8:b::/124"])],
        vec![lb_service("ns", "web").policy("RequireDualStack")],
    );
    let result = run(&snap);
    assert!(outcome(&result, "ns", "web").ips.is_empty());
    assert_eq!(
        error_of(&result, "ns", "web").as_deref(),
        Some("no available IPs: no pool this service may use has both a free IPv4 and a free IPv6 address")
    );
}

#[test]
fn prefer_dual_stack_gets_both_when_a_pool_has_both() {
    let snap = snapshot(dual_and_single_pools(), vec![lb_service("ns", "web").policy("PreferDualStack")]);
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0", "2001:db8:c::"]);
}

#[test]
fn prefer_dual_stack_settles_for_the_family_listed_first() {
    let snap = snapshot(
        vec![pool("a-v4", &["192.0.2.0/28"]), pool("b-v6", &["2001:db8:b::/124"])],
        vec![
            lb_service("ns", "v6-first").policy("PreferDualStack").families(&["IPv6", "IPv4"]),
            lb_service("ns", "v4-first").policy("PreferDualStack"),
        ],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "v6-first"), ["2001:db8:b::"]);
    assert_eq!(ips_of(&result, "ns", "v4-first"), ["192.0.2.0"]);
}

#[test]
fn prefer_dual_stack_takes_the_other_family_when_the_first_is_missing() {
    let snap = snapshot(
        vec![pool("b-v6", &["2001:db8:b::/124"])],
        vec![lb_service("ns", "web").policy("PreferDualStack")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["2001:db8:b::"]);
}

#[test]
fn ips_are_listed_with_the_first_family_first() {
    let snap = snapshot(
        dual_and_single_pools(),
        vec![lb_service("ns", "web").policy("RequireDualStack").families(&["IPv6", "IPv4"])],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["2001:db8:c::", "198.51.100.0"]);
}

#[test]
fn kept_ips_stay_in_the_order_the_service_holds_them() {
    // MetalLB writes an automatic dual-stack pair IPv4 first whatever
    // spec.ipFamilies says: taking over from it must not rewrite the status.
    let snap = snapshot(
        dual_and_single_pools(),
        vec![
            lb_service("ns", "web")
                .policy("RequireDualStack")
                .families(&["IPv6", "IPv4"])
                .status_ips(&["198.51.100.3", "2001:db8:c::3"]),
        ],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["198.51.100.3", "2001:db8:c::3"]);
    assert_eq!(ips_of(&rerun(&snap, &result), "ns", "web"), ["198.51.100.3", "2001:db8:c::3"]);
}

#[test]
fn named_pool_without_the_family_is_an_error() {
    let snap =
        snapshot(dual_and_single_pools(), vec![lb_service("ns", "web").pool("a-v4").families(&["IPv6"])]);
    assert_eq!(
        error_of(&run(&snap), "ns", "web").as_deref(),
        Some("no available IPs in pool \"a-v4\" for IPv6 IPFamily")
    );
}

#[test]
fn kept_single_ip_of_a_service_preferring_dual_stack_gains_the_other_family() {
    let snap = snapshot(
        dual_and_single_pools(),
        vec![lb_service("ns", "web").policy("PreferDualStack").status_ips(&["198.51.100.5"])],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["198.51.100.5", "2001:db8:c::"]);
    assert!(outcome(&result, "ns", "web").released.is_none());
}

#[test]
fn kept_ip_of_a_family_no_longer_wanted_is_released() {
    let snap = snapshot(
        dual_and_single_pools(),
        vec![lb_service("ns", "web").families(&["IPv6"]).status_ips(&["192.0.2.5"])],
    );
    let result = run(&snap);
    let web = outcome(&result, "ns", "web");
    assert_eq!(ips_of(&result, "ns", "web"), ["2001:db8:b::"]);
    assert_eq!(web.released.as_ref().unwrap().reason.to_string(), "the service wants IPv6 addresses");
}

#[test]
fn kept_single_ip_of_a_service_requiring_dual_stack_is_replaced() {
    let snap = snapshot(
        dual_and_single_pools(),
        vec![lb_service("ns", "web").policy("RequireDualStack").status_ips(&["198.51.100.5"])],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.0", "2001:db8:c::"]);
}
