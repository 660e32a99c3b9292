//! Pool statistics, for the `IPAddressPool` status.

use crate::fixtures::*;

#[test]
fn pool_stats_count_assigned_and_available_addresses() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/24", "2001:db8::/120"]).avoid_buggy(), pool("q", &["198.51.100.0/30"])],
        vec![
            lb_service("ns", "a").policy("RequireDualStack").share("k").tcp(80),
            lb_service("ns", "b").policy("RequireDualStack").share("k").tcp(443),
            lb_service("ns", "c"),
        ],
    );
    let stats = run(&snap).pools;
    assert_eq!(stats.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["p", "q"]);
    let p = &stats[0];
    // Two services share one IPv4 and one IPv6 address; `c` takes another IPv4.
    assert_eq!((p.assigned_ipv4, p.assigned_ipv6), (2, 1));
    assert_eq!((p.available_ipv4, p.available_ipv6), (254 - 2, 256 - 1));
    let q = &stats[1];
    assert_eq!((q.assigned_ipv4, q.available_ipv4, q.available_ipv6), (0, 4, 0));
}

#[test]
fn huge_ipv6_pool_saturates_available_count() {
    let snap = snapshot(vec![pool("p", &["2001:db8::/32"])], vec![lb_service("ns", "a").families(&["IPv6"])]);
    let status = run(&snap).pools[0].status();
    assert_eq!(status.assigned_ipv6, 1);
    assert_eq!(status.available_ipv6, i64::MAX);
}
