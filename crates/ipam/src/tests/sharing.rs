//! `allow-shared-ip`: which Services may hold the same address.

use crate::Assignments;
use crate::fixtures::*;
use crate::request::annotation;

fn one_ip() -> Vec<PoolBuilder> {
    vec![pool("p", &["192.0.2.5/32"])]
}

#[test]
fn same_key_and_distinct_ports_share_an_ip() {
    let snap = snapshot(
        one_ip(),
        vec![lb_service("ns", "http").share("k").tcp(80), lb_service("ns", "https").share("k").tcp(443)],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "http"), ["192.0.2.5"]);
    assert_eq!(ips_of(&result, "ns", "https"), ["192.0.2.5"]);
}

#[test]
fn same_port_number_with_another_protocol_shares() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "dns-tcp").share("dns").tcp(53),
            lb_service("ns", "dns-udp").share("dns").port(Some("UDP"), 53),
        ],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "dns-udp"), ["192.0.2.5"]);
}

#[test]
fn same_key_and_same_port_do_not_share() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.5/32"])],
        vec![lb_service("ns", "a").share("k").tcp(80), lb_service("ns", "b").share("k").tcp(80)],
    );
    let result = run(&snap);
    assert!(outcome(&result, "ns", "b").ips.is_empty());
}

#[test]
fn services_with_a_port_clash_get_different_ips() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/30"])],
        vec![lb_service("ns", "a").share("k").tcp(80), lb_service("ns", "b").share("k").tcp(80)],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.0"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["192.0.2.1"]);
}

#[test]
fn different_keys_do_not_share() {
    let snap = snapshot(
        one_ip(),
        vec![lb_service("ns", "a").share("k1").tcp(80), lb_service("ns", "b").share("k2").tcp(443)],
    );
    assert!(outcome(&run(&snap), "ns", "b").ips.is_empty());
}

#[test]
fn services_without_a_key_do_not_share() {
    let snap =
        snapshot(one_ip(), vec![lb_service("ns", "a").share("k").tcp(80), lb_service("ns", "b").tcp(443)]);
    assert!(outcome(&run(&snap), "ns", "b").ips.is_empty());
}

#[test]
fn deprecated_sharing_annotation_is_honoured() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "a").share("k").tcp(80),
            lb_service("ns", "b").annotate(annotation::DEPRECATED_ALLOW_SHARED_IP, "k").tcp(443),
        ],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "b"), ["192.0.2.5"]);
}

#[test]
fn current_sharing_annotation_wins_over_deprecated() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "a").share("k").tcp(80),
            lb_service("ns", "b")
                .annotate(annotation::DEPRECATED_ALLOW_SHARED_IP, "k")
                .share("other")
                .tcp(443),
        ],
    );
    assert!(outcome(&run(&snap), "ns", "b").ips.is_empty());
}

#[test]
fn local_traffic_policy_needs_the_same_selector_to_share() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "a").share("k").tcp(80).local().selector(&[("app", "a")]),
            lb_service("ns", "b").share("k").tcp(443).local().selector(&[("app", "b")]),
        ],
    );
    assert!(outcome(&run(&snap), "ns", "b").ips.is_empty());
}

#[test]
fn local_traffic_policy_with_the_same_selector_shares() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "a").share("k").tcp(80).local().selector(&[("app", "x")]),
            lb_service("ns", "b").share("k").tcp(443).local().selector(&[("app", "x")]),
        ],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "b"), ["192.0.2.5"]);
}

#[test]
fn local_and_cluster_traffic_policies_do_not_share() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "a").share("k").tcp(80).local().selector(&[("app", "x")]),
            lb_service("ns", "b").share("k").tcp(443).selector(&[("app", "x")]),
        ],
    );
    assert!(outcome(&run(&snap), "ns", "b").ips.is_empty());
}

#[test]
fn cluster_traffic_policy_shares_whatever_the_selectors() {
    let snap = snapshot(
        one_ip(),
        vec![
            lb_service("ns", "a").share("k").tcp(80).selector(&[("app", "a")]),
            lb_service("ns", "b").share("k").tcp(443).selector(&[("app", "b")]),
        ],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "b"), ["192.0.2.5"]);
}

#[test]
fn sharing_service_prefers_an_ip_its_key_already_holds() {
    // `ns/a` keeps 192.0.2.7 from before; 192.0.2.0 is free, but `ns/b`
    // joins its key on 192.0.2.7.
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("ns", "a").share("k").tcp(80), lb_service("ns", "b").share("k").tcp(443)],
    );
    let mut previous = Assignments::new();
    previous.insert("ns", "a", "p", vec!["192.0.2.7".parse().unwrap()]);
    let result = crate::allocate(&config(&snap), &snap, &previous, &crate::Options::default());
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.7"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["192.0.2.7"]);
}

#[test]
fn requested_shared_ip_with_the_same_key_is_given() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![
            lb_service("ns", "a").share("k").tcp(80).ips("192.0.2.9"),
            lb_service("ns", "b").share("k").tcp(443).ips("192.0.2.9"),
        ],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.9"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["192.0.2.9"]);
}

#[test]
fn requested_shared_ip_with_a_port_clash_is_an_error() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![
            lb_service("default", "a").share("k").tcp(80).ips("192.0.2.9"),
            lb_service("default", "b").share("k").tcp(80).ips("192.0.2.9"),
        ],
    );
    assert_eq!(
        error_of(&run(&snap), "default", "b").as_deref(),
        Some("port TCP/80 is already in use on 192.0.2.9 by default/a")
    );
}

#[test]
fn requested_ip_held_under_another_key_is_an_error() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![
            lb_service("default", "a").share("k1").tcp(80).ips("192.0.2.9"),
            lb_service("default", "b").share("k2").tcp(443).ips("192.0.2.9"),
        ],
    );
    assert_eq!(
        error_of(&run(&snap), "default", "b").as_deref(),
        Some("IP 192.0.2.9 is already in use by default/a, whose sharing key \"k1\" differs from \"k2\"")
    );
}

#[test]
fn requested_ip_shared_by_services_with_other_backends_is_an_error() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![
            lb_service("default", "a").share("k").tcp(80).local().selector(&[("app", "a")]).ips("192.0.2.9"),
            lb_service("default", "b").share("k").tcp(443).local().selector(&[("app", "b")]).ips("192.0.2.9"),
        ],
    );
    let err = error_of(&run(&snap), "default", "b").unwrap();
    assert!(
        err.starts_with("IP 192.0.2.9 is already in use by default/a, which selects other pods"),
        "{err}"
    );
}

#[test]
fn dual_stack_services_share_both_addresses() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28", "2001:db8::/124"])],
        vec![
            lb_service("ns", "a").share("k").tcp(80).policy("RequireDualStack"),
            lb_service("ns", "b").share("k").tcp(443).policy("RequireDualStack"),
        ],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.0", "2001:db8::"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["192.0.2.0", "2001:db8::"]);
}
