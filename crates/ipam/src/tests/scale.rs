//! Guards against accidental quadratic work (no timing asserted; the
//! benchmark measures time).

use ferrolb_api::Located;

use crate::fixtures::*;

/// `count` Services over every IPv4 documentation /24 and an IPv6 /64.
fn many(count: usize, build: impl Fn(usize) -> ServiceBuilder) -> ferrolb_api::Snapshot {
    let ranges = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/64"];
    let mut snap = snapshot(vec![pool("doc", &ranges)], vec![]);
    snap.services = (0..count).map(|i| Located::unsourced(build(i).build())).collect();
    snap
}

#[test]
fn ten_thousand_services_allocate_and_reallocate() {
    // 626 of them take IPv4 addresses (of 768); the rest IPv6.
    let snap = many(10_000, |i| {
        let s = lb_service(&format!("ns{}", i % 7), &format!("svc{i}"));
        match i % 32 {
            0 => s,
            1 => s.policy("RequireDualStack"),
            _ => s.families(&["IPv6"]),
        }
    });
    let first = run(&snap);
    assert!(first.services.iter().all(|s| s.error.is_none()));
    assert_eq!(first.pools[0].assigned_ipv4, 626);
    // Read, sorted and settled in halves on two threads: still one per
    // Service, in order, each with the families it asked for.
    assert_eq!(first.services.len(), 10_000);
    assert!(first.services.windows(2).all(|w| (&w[0].namespace, &w[0].name) < (&w[1].namespace, &w[1].name)));
    for s in &first.services {
        let i: usize = s.name["svc".len()..].parse().unwrap();
        assert_eq!(s.namespace, format!("ns{}", i % 7));
        assert_eq!(s.ips.len(), if i % 32 == 1 { 2 } else { 1 }, "{}/{}", s.namespace, s.name);
    }
    let second = rerun(&snap, &first);
    assert_eq!(first, second);
}

#[test]
fn ten_thousand_services_under_one_sharing_key_and_port() {
    // Every Service clashes with every other on port 443, so each needs its
    // own address; the search must not rescan the key's addresses each time.
    let snap =
        many(10_000, |i| lb_service("ns", &format!("svc{i}")).families(&["IPv6"]).share("all").tcp(443));
    let first = run(&snap);
    assert!(first.services.iter().all(|s| s.ips.len() == 1));
    assert_eq!(first.pools[0].assigned_ipv6, 10_000);
}
