//! Keeping addresses across runs, restarts and configuration changes.

use crate::fixtures::*;
use crate::{Assignments, Options, allocate};

fn with_previous(snap: &ferrolb_api::Snapshot, entries: &[(&str, &str, &str, &[&str])]) -> crate::Allocation {
    let mut previous = Assignments::new();
    for (ns, name, pool, ips) in entries {
        previous.insert(*ns, *name, *pool, ips.iter().map(|ip| ip.parse().unwrap()).collect());
    }
    allocate(&config(snap), snap, &previous, &Options::default())
}

#[test]
fn previous_ips_are_kept() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("ns", "web")]);
    let result = with_previous(&snap, &[("ns", "web", "p", &["192.0.2.7"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.7"]);
    assert!(outcome(&result, "ns", "web").released.is_none());
}

#[test]
fn status_ips_are_kept_after_a_restart() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("ns", "web").status_ips(&["192.0.2.7"])],
    );
    assert_eq!(ips_of(&run(&snap), "ns", "web"), ["192.0.2.7"]);
}

#[test]
fn previous_wins_over_status() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("ns", "web").status_ips(&["192.0.2.7"])],
    );
    let result = with_previous(&snap, &[("ns", "web", "p", &["192.0.2.9"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.9"]);
}

#[test]
fn kept_ips_are_reserved_before_new_allocations() {
    let snap =
        snapshot(vec![pool("p", &["192.0.2.0/31"])], vec![lb_service("a", "new"), lb_service("z", "old")]);
    let result = with_previous(&snap, &[("z", "old", "p", &["192.0.2.0"])]);
    assert_eq!(ips_of(&result, "z", "old"), ["192.0.2.0"]);
    assert_eq!(ips_of(&result, "a", "new"), ["192.0.2.1"]);
}

#[test]
fn renamed_pool_keeps_its_addresses() {
    let snap = snapshot(vec![pool("new-name", &["192.0.2.0/28"])], vec![lb_service("ns", "web")]);
    let result = with_previous(&snap, &[("ns", "web", "old-name", &["192.0.2.7"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.7"]);
    assert_eq!(outcome(&result, "ns", "web").pool.as_deref(), Some("new-name"));
}

#[test]
fn ip_removed_from_config_is_released_and_replaced() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("ns", "web")]);
    let result = with_previous(&snap, &[("ns", "web", "p", &["198.51.100.7"])]);
    let web = outcome(&result, "ns", "web");
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.0"]);
    let released = web.released.as_ref().unwrap();
    assert_eq!(released.ips, vec!["198.51.100.7".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(
        released.reason.to_string(),
        "current IPs are not allowed by config: \"198.51.100.7\" is not allowed in config"
    );
}

#[test]
fn ip_that_became_buggy_is_released() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/24"]).avoid_buggy()], vec![lb_service("ns", "web")]);
    let result = with_previous(&snap, &[("ns", "web", "p", &["192.0.2.0"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.1"]);
}

#[test]
fn ip_in_a_pool_no_longer_allowed_for_the_service_is_released() {
    let snap = snapshot(
        vec![pool("team", &["198.51.100.0/28"]).namespaces(&["team"]), pool("open", &["192.0.2.0/28"])],
        vec![lb_service("other", "web")],
    );
    let result = with_previous(&snap, &[("other", "web", "team", &["198.51.100.3"])]);
    assert_eq!(ips_of(&result, "other", "web"), ["192.0.2.0"]);
    assert_eq!(
        outcome(&result, "other", "web").released.as_ref().unwrap().reason.to_string(),
        "current IPs are not allowed by config: pool \"team\" is not allowed for this service"
    );
}

#[test]
fn ip_in_a_pool_turned_manual_is_kept() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/28"]).manual()], vec![lb_service("ns", "web")]);
    let result = with_previous(&snap, &[("ns", "web", "p", &["192.0.2.7"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.7"]);
}

#[test]
fn changing_the_pool_annotation_moves_the_service() {
    let snap = snapshot(
        vec![pool("a", &["192.0.2.0/28"]), pool("b", &["198.51.100.0/28"])],
        vec![lb_service("ns", "web").pool("b")],
    );
    let result = with_previous(&snap, &[("ns", "web", "a", &["192.0.2.7"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["198.51.100.0"]);
    assert_eq!(
        outcome(&result, "ns", "web").released.as_ref().unwrap().reason.to_string(),
        "the service asks for pool \"b\", its IPs are from pool \"a\""
    );
}

#[test]
fn conflicting_previous_ips_go_to_the_first_service_by_name() {
    let snap =
        snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("ns", "b"), lb_service("ns", "a")]);
    let result = with_previous(&snap, &[("ns", "a", "p", &["192.0.2.3"]), ("ns", "b", "p", &["192.0.2.3"])]);
    assert_eq!(ips_of(&result, "ns", "a"), ["192.0.2.3"]);
    assert_eq!(ips_of(&result, "ns", "b"), ["192.0.2.0"]);
    assert_eq!(
        outcome(&result, "ns", "b").released.as_ref().unwrap().reason.to_string(),
        "current IPs are not allowed by config: IP 192.0.2.3 is already in use by ns/a"
    );
}

#[test]
fn deleted_service_frees_its_ip_for_a_new_one() {
    let pools = || vec![pool("p", &["192.0.2.0/31"])];
    let first = run(&snapshot(pools(), vec![lb_service("ns", "a"), lb_service("ns", "b")]));
    assert_eq!(ips_of(&first, "ns", "a"), ["192.0.2.0"]);
    // `a` is deleted and `c` arrives while the pool is otherwise full.
    let second = rerun(&snapshot(pools(), vec![lb_service("ns", "b"), lb_service("ns", "c")]), &first);
    assert_eq!(ips_of(&second, "ns", "b"), ["192.0.2.1"]);
    assert_eq!(ips_of(&second, "ns", "c"), ["192.0.2.0"]);
}

#[test]
fn service_no_longer_of_type_load_balancer_frees_its_ip() {
    let pools = || vec![pool("p", &["192.0.2.0/32"])];
    let first = run(&snapshot(pools(), vec![lb_service("ns", "a")]));
    let second = rerun(
        &snapshot(pools(), vec![lb_service("ns", "a").type_("ClusterIP"), lb_service("ns", "b")]),
        &first,
    );
    assert_eq!(ips_of(&second, "ns", "b"), ["192.0.2.0"]);
}

#[test]
fn unreadable_request_keeps_previous_ips_with_an_error() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("ns", "web").ips("192.0.2.x")]);
    let result = with_previous(&snap, &[("ns", "web", "p", &["192.0.2.7"])]);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.7"]);
    assert_eq!(
        error_of(&result, "ns", "web").as_deref(),
        Some("invalid metallb.io/loadBalancerIPs: \"192.0.2.x\"")
    );
}

#[test]
fn unreadable_request_without_previous_ips_gets_nothing() {
    let snap = snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("ns", "web").ips("192.0.2.x")]);
    let result = run(&snap);
    assert!(outcome(&result, "ns", "web").ips.is_empty());
    assert!(outcome(&result, "ns", "web").pool.is_none());
}

#[test]
fn allocating_again_changes_nothing() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/29", "2001:db8::/125"]), pool("q", &["198.51.100.0/30"]).manual()],
        vec![
            lb_service("ns", "a"),
            lb_service("ns", "b").policy("PreferDualStack"),
            lb_service("ns", "c").pool("q"),
            lb_service("ns", "d").share("k").tcp(80),
            lb_service("ns", "e").share("k").tcp(443),
        ],
    );
    let first = run(&snap);
    let second = rerun(&snap, &first);
    assert_eq!(first, second);
}

#[test]
fn assignments_hold_only_services_with_addresses() {
    let snap =
        snapshot(vec![pool("p", &["192.0.2.0/32"])], vec![lb_service("ns", "a"), lb_service("ns", "b")]);
    let assignments = run(&snap).assignments();
    assert_eq!(assignments.len(), 1);
    let a = assignments.get("ns", "a").unwrap();
    assert_eq!((a.pool.as_str(), a.ips.len()), ("p", 1));
}
