//! Services asking for addresses: `spec.loadBalancerIP` and the
//! `loadBalancerIPs` annotation.

use crate::AllocationError;
use crate::fixtures::*;
use crate::request::annotation;

fn pools() -> Vec<PoolBuilder> {
    vec![pool("a", &["192.0.2.0/28", "2001:db8::/124"]), pool("b", &["198.51.100.0/28"])]
}

#[test]
fn spec_load_balancer_ip_is_given() {
    let snap = snapshot(pools(), vec![lb_service("ns", "web").load_balancer_ip("192.0.2.9")]);
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.9"]);
    assert_eq!(outcome(&result, "ns", "web").pool.as_deref(), Some("a"));
}

#[test]
fn requested_ips_annotation_is_given() {
    let snap = snapshot(pools(), vec![lb_service("ns", "web").ips("198.51.100.7")]);
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.7"]);
}

#[test]
fn deprecated_requested_ips_annotation_is_honoured() {
    let snap = snapshot(
        pools(),
        vec![lb_service("ns", "web").annotate(annotation::DEPRECATED_LOAD_BALANCER_IPS, "198.51.100.7")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.7"]);
}

#[test]
fn requested_dual_stack_ips_are_given() {
    let snap = snapshot(
        pools(),
        vec![lb_service("ns", "web").policy("RequireDualStack").ips("2001:db8::5,192.0.2.5")],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["192.0.2.5", "2001:db8::5"]);
}

#[test]
fn annotation_and_spec_load_balancer_ip_together_are_an_error() {
    let snap =
        snapshot(pools(), vec![lb_service("ns", "web").ips("192.0.2.5").load_balancer_ip("192.0.2.6")]);
    assert_eq!(
        error_of(&run(&snap), "ns", "web").as_deref(),
        Some("service can not have both metallb.io/loadBalancerIPs and spec.loadBalancerIP")
    );
}

#[test]
fn requested_ip_outside_named_pool_is_an_error() {
    let snap = snapshot(pools(), vec![lb_service("ns", "web").pool("b").ips("192.0.2.5")]);
    let result = run(&snap);
    assert_eq!(
        error_of(&result, "ns", "web").as_deref(),
        Some(
            "requested loadBalancer IP(s) \"192.0.2.5\" is not compatible with requested address pool \"b\""
        )
    );
    assert!(outcome(&result, "ns", "web").ips.is_empty());
}

#[test]
fn requested_ip_inside_named_pool_is_given() {
    let snap = snapshot(pools(), vec![lb_service("ns", "web").pool("b").ips("198.51.100.2")]);
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["198.51.100.2"]);
}

#[test]
fn requested_ip_in_no_pool_is_an_error() {
    let snap = snapshot(pools(), vec![lb_service("ns", "web").load_balancer_ip("203.0.113.9")]);
    assert_eq!(
        error_of(&run(&snap), "ns", "web").as_deref(),
        Some("\"203.0.113.9\" is not allowed in config")
    );
}

#[test]
fn requested_ips_in_different_pools_are_an_error() {
    let snap = snapshot(
        vec![pool("v4", &["192.0.2.0/28"]), pool("v6", &["2001:db8::/124"])],
        vec![lb_service("ns", "web").policy("RequireDualStack").ips("192.0.2.1,2001:db8::1")],
    );
    let err = outcome(&run(&snap), "ns", "web").error.clone().unwrap();
    assert!(
        matches!(*err, AllocationError::IpsInDifferentPools { ref first_pool, ref second_pool, .. }
        if first_pool == "v4" && second_pool == "v6"),
        "{err}"
    );
}

#[test]
fn requested_ip_of_a_family_not_wanted_is_an_error() {
    let snap = snapshot(pools(), vec![lb_service("ns", "web").ips("2001:db8::5")]);
    assert_eq!(
        error_of(&run(&snap), "ns", "web").as_deref(),
        Some(
            "requested loadBalancer IP(s) \"2001:db8::5\" does not match the ipFamily of the service (IPv4)"
        )
    );
}

#[test]
fn requested_ip_in_use_is_an_error() {
    let snap = snapshot(
        pools(),
        vec![lb_service("default", "other").ips("192.0.2.5"), lb_service("default", "web").ips("192.0.2.5")],
    );
    assert_eq!(
        error_of(&run(&snap), "default", "web").as_deref(),
        Some("IP 192.0.2.5 is already in use by default/other")
    );
}

#[test]
fn requested_ips_are_served_before_automatic_allocation() {
    // Sorted first, the automatic Service would otherwise take the address
    // the other one asks for; it can do with any.
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/30"])],
        vec![lb_service("ns", "a-auto"), lb_service("ns", "b-asks").ips("192.0.2.0")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "b-asks"), ["192.0.2.0"]);
    assert_eq!(ips_of(&result, "ns", "a-auto"), ["192.0.2.1"]);
}

#[test]
fn changing_the_requested_ip_moves_the_service() {
    let before = snapshot(pools(), vec![lb_service("ns", "web").ips("192.0.2.1")]);
    let first = run(&before);
    let after = snapshot(pools(), vec![lb_service("ns", "web").ips("192.0.2.2")]);
    let second = rerun(&after, &first);
    let web = outcome(&second, "ns", "web");
    assert_eq!(ips_of(&second, "ns", "web"), ["192.0.2.2"]);
    assert_eq!(
        web.released.as_ref().map(|r| r.reason.to_string()).as_deref(),
        Some("the service asks for \"192.0.2.2\"")
    );
}
