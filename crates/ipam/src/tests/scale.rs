//! Guards against accidental quadratic work, by counting the allocator's
//! inner steps (`crate::work`) over n and 10 n Services: a clock on a busy
//! machine cannot tell 10 times the work from 100 times; a count can. The
//! time a run takes is `ferrolb lab bench plan`'s.

use ferrolb_api::Located;

use crate::fixtures::*;
use crate::work::{Steps, counted};

/// `count` Services over every IPv4 documentation /24 and an IPv6 /64.
fn many(count: usize, build: impl Fn(usize) -> ServiceBuilder) -> ferrolb_api::Snapshot {
    let ranges = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/64"];
    let mut snap = snapshot(vec![pool("doc", &ranges)], vec![]);
    snap.services = (0..count).map(|i| Located::unsourced(build(i).build())).collect();
    snap
}

/// Service `i` of the first test: one in 32 IPv4, one in 32 dual-stack,
/// the rest IPv6, over 7 namespaces.
fn mixed(i: usize) -> ServiceBuilder {
    let s = lb_service(&format!("ns{}", i % 7), &format!("svc{i}"));
    match i % 32 {
        0 => s,
        1 => s.policy("RequireDualStack"),
        _ => s.families(&["IPv6"]),
    }
}

/// Service `i` of the second test: every one under one sharing key, on one
/// port, so that none may join another's address.
fn clashing(i: usize) -> ServiceBuilder {
    lb_service("ns", &format!("svc{i}")).families(&["IPv6"]).share("all").tcp(443)
}

#[test]
fn ten_thousand_services_allocate_and_reallocate() {
    // 626 of them take IPv4 addresses (of 768); the rest IPv6.
    let snap = many(10_000, mixed);
    let (first, steps) = counted(|| run(&snap));
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
    // A cursor looks at an address it hands out twice (free when offered,
    // taken at the next search), and at no other: 10,313 handed out.
    assert!(steps.free_probes <= 2 * 10_313, "{steps:?}");
    let (second, steps) = counted(|| rerun(&snap, &first));
    assert_eq!(first, second);
    assert_eq!(steps, Steps::default(), "every address kept: none looked for");
}

#[test]
fn ten_times_the_services_take_ten_times_the_steps() {
    let steps = |n| counted(|| run(&many(n, mixed))).1;
    let (few, lots) = (steps(1_000), steps(10_000));
    assert!(few.free_probes >= 1_000, "every address is looked at: {few:?}");
    assert!(lots.free_probes <= 11 * few.free_probes, "1,000 Services: {few:?}; 10,000: {lots:?}");
}

#[test]
fn ten_thousand_services_under_one_sharing_key_and_port() {
    // Every Service clashes with every other on port 443, so each needs its
    // own address; the search must not rescan the key's addresses each time.
    let snap = many(10_000, clashing);
    let (first, steps) = counted(|| run(&snap));
    assert!(first.services.iter().all(|s| s.ips.len() == 1));
    assert_eq!(first.pools[0].assigned_ipv6, 10_000);
    // Each address of the key is found to clash once, then never looked at
    // again: at most one candidate per Service, and a free address each.
    assert!(steps.shared_candidates <= 10_000, "{steps:?}");
    assert!(steps.free_probes <= 2 * 10_000, "{steps:?}");
    let few = counted(|| run(&many(1_000, clashing))).1;
    assert!(
        few.shared_candidates >= 999,
        "every Service after the first looks for a shared address: {few:?}"
    );
    assert!(
        steps.shared_candidates <= 11 * few.shared_candidates,
        "1,000 Services: {few:?}; 10,000: {steps:?}"
    );
}
