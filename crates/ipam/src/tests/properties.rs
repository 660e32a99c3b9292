//! Property tests over random pools, Services and sharing keys.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_api::{Located, Snapshot};
use ferrolb_types::{IpFamily, IpRange};
use proptest::prelude::*;

use crate::fixtures::*;
use crate::kept::SharingKeys;
use crate::request::Request;
use crate::{Allocation, Assignments, Kept, Options, allocate, reallocate};

/// A random pool: small ranges in its own block, so that pools run full.
#[derive(Clone, Debug)]
struct PoolCase {
    v4: Option<(u8, u8)>,
    v6: Option<(u8, u8)>,
    manual: bool,
    avoid_buggy: bool,
    namespaces: Option<Vec<&'static str>>,
    priority: i32,
}

/// A random Service.
#[derive(Clone, Debug)]
struct ServiceCase {
    namespace: &'static str,
    share: Option<&'static str>,
    ports: Vec<(bool, i32)>,
    local: Option<&'static str>,
    policy: Option<&'static str>,
    families: Option<Vec<&'static str>>,
    pool: Option<&'static str>,
    /// (pool, offset, IPv6)
    requested: Option<(usize, u8, bool)>,
    /// (pool, offset, IPv6)
    status: Option<(usize, u8, bool)>,
}

const POOLS: [&str; 3] = ["p0", "p1", "p2"];

fn v4_range(i: usize, start: u8, len: u8) -> String {
    let base = i as u32 * 64 + u32::from(start);
    format!("192.0.2.{}-192.0.2.{}", base, base + u32::from(len))
}

fn v6_range(i: usize, start: u8, len: u8) -> String {
    let base = i as u32 * 64 + u32::from(start);
    format!("2001:db8::{:x}-2001:db8::{:x}", base, base + u32::from(len))
}

fn address(i: usize, offset: u8, v6: bool) -> String {
    let n = i as u32 * 64 + u32::from(offset);
    if v6 { format!("2001:db8::{n:x}") } else { format!("192.0.2.{n}") }
}

fn pool_case() -> impl Strategy<Value = PoolCase> {
    (
        proptest::option::weighted(0.9, (0u8..3, 0u8..6)),
        proptest::option::weighted(0.5, (0u8..3, 0u8..6)),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.3),
        proptest::option::weighted(0.3, proptest::sample::subsequence(vec!["a", "b"], 1..=2)),
        prop_oneof![Just(0), 1..4i32],
    )
        .prop_map(|(v4, v6, manual, avoid_buggy, namespaces, priority)| PoolCase {
            v4,
            v6,
            manual,
            avoid_buggy,
            namespaces,
            priority,
        })
}

fn service_case() -> impl Strategy<Value = ServiceCase> {
    // Few places, so that Services often ask for the same address.
    let place = (0usize..2, 0u8..3, proptest::bool::weighted(0.2));
    (
        prop_oneof![Just("a"), Just("b")],
        proptest::option::weighted(0.6, prop_oneof![3 => Just("k1"), 1 => Just("k2")]),
        proptest::collection::vec((proptest::bool::weighted(0.2), prop_oneof![Just(80), Just(443)]), 0..3),
        proptest::option::weighted(0.3, prop_oneof![Just("x"), Just("y")]),
        prop_oneof![Just(None), Just(Some("PreferDualStack")), Just(Some("RequireDualStack"))],
        prop_oneof![Just(None), Just(Some(vec!["IPv6"])), Just(Some(vec!["IPv6", "IPv4"]))],
        proptest::option::weighted(0.2, prop_oneof![Just("p0"), Just("p1"), Just("p2"), Just("nope")]),
        proptest::option::weighted(0.25, place.clone()),
        proptest::option::weighted(0.2, place),
    )
        .prop_map(|(namespace, share, ports, local, policy, families, pool, requested, status)| {
            ServiceCase { namespace, share, ports, local, policy, families, pool, requested, status }
        })
}

fn build(pools: &[PoolCase], services: &[ServiceCase]) -> Snapshot {
    let pools = pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut ranges = Vec::new();
            if let Some((s, l)) = p.v4 {
                ranges.push(v4_range(i, s, l));
            }
            if let Some((s, l)) = p.v6 {
                ranges.push(v6_range(i, s, l));
            }
            let refs: Vec<&str> = ranges.iter().map(String::as_str).collect();
            let mut b = pool(POOLS[i], &refs);
            if p.manual {
                b = b.manual();
            }
            if p.avoid_buggy {
                b = b.avoid_buggy();
            }
            if let Some(ns) = &p.namespaces {
                b = b.namespaces(ns);
            }
            if p.priority > 0 {
                b = b.priority(p.priority);
            }
            b
        })
        .collect();
    let services = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut b = lb_service(s.namespace, &format!("s{i:02}"));
            if let Some(k) = s.share {
                b = b.share(k);
            }
            for (udp, port) in &s.ports {
                b = b.port(Some(if *udp { "UDP" } else { "TCP" }), *port);
            }
            if let Some(app) = s.local {
                b = b.local().selector(&[("app", app)]);
            }
            if let Some(p) = s.policy {
                b = b.policy(p);
            }
            if let Some(f) = &s.families {
                b = b.families(f);
            }
            if let Some(p) = s.pool {
                b = b.pool(p);
            }
            if let Some((p, o, v6)) = s.requested {
                b = b.ips(&address(p, o, v6));
            }
            if let Some((p, o, v6)) = s.status {
                b = b.status_ips(&[&address(p, o, v6)]);
            }
            b
        })
        .collect();
    snapshot(pools, services)
}

fn cases() -> impl Strategy<Value = (Vec<PoolCase>, Vec<ServiceCase>)> {
    (proptest::collection::vec(pool_case(), 1..=3), proptest::collection::vec(service_case(), 0..24))
}

fn requests(snap: &Snapshot) -> BTreeMap<(String, String), Request> {
    snap.services
        .iter()
        .map(|s| {
            let key = (s.namespace.to_string(), s.name.to_string());
            (key, Request::of(s))
        })
        .collect()
}

/// Which Services hold each address.
fn holders(result: &Allocation) -> BTreeMap<IpAddr, Vec<(String, String)>> {
    let mut out: BTreeMap<IpAddr, Vec<(String, String)>> = BTreeMap::new();
    for s in &result.services {
        for ip in &s.ips {
            out.entry(*ip).or_default().push((s.namespace.clone(), s.name.clone()));
        }
    }
    out
}

/// Pool, addresses and error of every Service.
/// Service, pool, addresses and error.
type Summary = (String, Option<String>, Vec<IpAddr>, Option<String>);

fn summary(result: &Allocation) -> Vec<Summary> {
    result
        .services
        .iter()
        .map(|s| {
            (
                format!("{}/{}", s.namespace, s.name),
                s.pool.clone(),
                s.ips.clone(),
                s.error.as_ref().map(ToString::to_string),
            )
        })
        .collect()
}

proptest! {
    /// A walk finds what a search finds, lookups in order or not, of
    /// Services listed or not.
    #[test]
    fn a_walk_finds_what_a_search_finds(
        (pools, services) in cases(),
        picks in proptest::collection::vec(0usize..64, 0..48),
        in_order in any::<bool>(),
    ) {
        let result = run(&build(&pools, &services));
        let mut keys: Vec<(String, String)> = Vec::new();
        for s in &result.services {
            keys.push((s.namespace.clone(), s.name.clone()));
            keys.push((s.namespace.clone(), format!("{}-gone", s.name)));
        }
        keys.extend([(String::new(), String::new()), ("zz".into(), "zz".into())]);
        let mut lookups: Vec<&(String, String)> = picks.iter().map(|&i| &keys[i % keys.len()]).collect();
        if in_order {
            lookups.sort();
        }
        let mut walk = result.walk();
        for (namespace, name) in lookups {
            prop_assert_eq!(
                walk.get(namespace, name).map(std::ptr::from_ref),
                result.get(namespace, name).map(std::ptr::from_ref),
                "{}/{}", namespace, name
            );
        }
    }

    /// (1) An address goes to two Services only if they share a key, have
    /// the same backends and no port in common.
    #[test]
    fn no_ip_is_given_to_two_services_unless_sharing_allows((pools, services) in cases()) {
        let snap = build(&pools, &services);
        let result = run(&snap);
        let requests = requests(&snap);
        for (ip, who) in holders(&result) {
            for (i, a) in who.iter().enumerate() {
                for b in &who[i + 1..] {
                    let (ra, rb) = (&requests[a], &requests[b]);
                    prop_assert!(ra.sharing.is_some() && ra.sharing == rb.sharing, "{ip}: {a:?} and {b:?} share without a common key");
                    prop_assert_eq!(&ra.backend, &rb.backend, "{}: backends differ", ip);
                    prop_assert!(ra.ports.iter().all(|p| !rb.ports.contains(p)), "{ip}: {a:?} and {b:?} clash on a port");
                }
            }
        }
    }

    /// (2) Every address lies in the Service's pool, which it may use, and
    /// is of a family it wants.
    #[test]
    fn every_ip_lies_in_a_pool_the_service_may_use((pools, services) in cases()) {
        let snap = build(&pools, &services);
        let result = run(&snap);
        let requests = requests(&snap);
        for s in &result.services {
            let request = &requests[&(s.namespace.clone(), s.name.clone())];
            if s.ips.is_empty() {
                prop_assert!(s.pool.is_none());
                continue;
            }
            prop_assert!(s.families.accepts(&s.ips), "{}/{}: {:?} for {}", s.namespace, s.name, s.ips, s.families);
            let name = s.pool.clone().unwrap();
            let i = POOLS.iter().position(|p| *p == name).unwrap();
            let case = &pools[i];
            let spec = &snap.pools.iter().find(|p| p.metadata.name.as_deref() == Some(&name)).unwrap().spec;
            for ip in &s.ips {
                let inside = spec.addresses.iter().any(|r| IpRange::parse(r).unwrap().contains(*ip));
                prop_assert!(inside, "{ip} not in {name}");
                if case.avoid_buggy && let IpAddr::V4(v4) = ip {
                    prop_assert!(!matches!(v4.octets()[3], 0 | 255), "{ip} is buggy");
                }
            }
            if let Some(ns) = &case.namespaces {
                prop_assert!(ns.contains(&s.namespace.as_str()), "{}/{} in {name}", s.namespace, s.name);
            }
            if let Some(wanted) = &request.pool {
                prop_assert_eq!(wanted, &name);
            }
            if case.manual {
                let asked = request.pool.is_some()
                    || request.ips.as_ref().is_ok_and(|ips| !ips.is_empty())
                    || s.ips.iter().any(|ip| had_status(&snap, s, *ip));
                prop_assert!(asked, "{}/{} got {name} without asking", s.namespace, s.name);
            }
            if let Ok(asked) = &request.ips && !asked.is_empty() {
                let mut got = s.ips.clone();
                let mut want = asked.clone();
                got.sort();
                want.sort();
                prop_assert_eq!(got, want);
            }
        }
    }

    /// (3) Allocating again from the result changes nothing.
    #[test]
    fn allocating_again_with_the_previous_result_is_a_fixpoint((pools, services) in cases()) {
        let snap = build(&pools, &services);
        let first = run(&snap);
        // As the controller would: statuses now say what the first run gave.
        let second = rerun(&with_status(&snap, &first), &first);
        prop_assert_eq!(summary(&first), summary(&second));
        prop_assert!(second.services.iter().all(|s| s.released.is_none()));
        prop_assert_eq!(&first.pools, &second.pools);
        prop_assert_eq!(first.assignments(), second.assignments());
    }

    /// (4) Deleting a Service frees its addresses: a new Service asking for
    /// them gets them, unless one went to a Service whose addresses changed.
    #[test]
    fn deleting_a_service_frees_its_ips((pools, services) in cases(), pick in any::<prop::sample::Index>()) {
        let snap = build(&pools, &services);
        let first = run(&snap);
        let holding: Vec<_> = first.services.iter().filter(|s| !s.ips.is_empty()).collect();
        prop_assume!(!holding.is_empty());
        let gone = pick.get(&holding);
        let mut after = snap.clone();
        let at = after.services.iter().position(|s| *s.name == *gone.name).unwrap();
        let mut newcomer = after.services.remove(at).object;
        newcomer.name = "0-new".into();
        newcomer.ingress_ips = Box::new([]);
        let ips: Vec<String> = gone.ips.iter().map(ToString::to_string).collect();
        newcomer.annotations = newcomer.annotations.with(crate::annotation::LOAD_BALANCER_IPS, &ips.join(","));
        newcomer.load_balancer_ip = None;
        after.services.push(Located::unsourced(newcomer));
        let second = rerun(&after, &first);
        let new = outcome(&second, &gone.namespace, "0-new");
        if new.ips.is_empty() {
            let changed: Vec<_> = second.services.iter().filter(|s| {
                s.name != "0-new" && first.get(&s.namespace, &s.name).is_some_and(|f| f.ips != s.ips)
            }).collect();
            let taken = gone.ips.iter().any(|ip| changed.iter().any(|s| s.ips.contains(ip)));
            prop_assert!(taken, "{:?} not given back: {:?}", gone.ips, new.error);
        } else {
            let (mut got, mut want) = (new.ips.clone(), gone.ips.clone());
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }

    /// (5) The result depends on the snapshot, not on the order of its lists.
    #[test]
    fn output_is_deterministic((pools, services) in cases()) {
        let snap = build(&pools, &services);
        let first = run(&snap);
        prop_assert_eq!(&first, &run(&snap));
        let mut reversed = snap.clone();
        reversed.pools.reverse();
        reversed.services.reverse();
        prop_assert_eq!(&first, &run(&reversed));
    }

    /// (6) After an edit to Services only, [`reallocate`] gives exactly what
    /// a full run gives, whenever it answers at all.
    #[test]
    fn reallocating_after_an_edit_agrees_with_a_full_run(
        (pools, services) in cases(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), proptest::option::of(service_case())), 0..4),
        added in proptest::collection::vec(service_case(), 0..4),
        unshared in proptest::collection::vec(any::<bool>(), 8),
        roomy in any::<bool>(),
    ) {
        let (mut pools, mut services) = (pools, services);
        if roomy {
            make_roomy(&mut pools, &mut services);
        }
        let before = build(&pools, &services);
        let first = run(&before);
        // Edits: a Service replaced by another under its name, or removed;
        // Services added under new names. Half of the new ones share nothing,
        // so that the short way is often taken.
        let mut cases = services.clone();
        let mut removed = Vec::new();
        let mut flags = unshared.iter().cycle();
        let mut edited = |mut case: ServiceCase| {
            if *flags.next().unwrap() {
                case.share = None;
            }
            case
        };
        for (at, replacement) in &edits {
            if cases.is_empty() {
                break;
            }
            let i = at.index(cases.len());
            match replacement {
                Some(case) => cases[i] = edited(case.clone()),
                None => removed.push(format!("s{i:02}")),
            }
        }
        cases.extend(added.iter().cloned().map(&mut edited));
        let mut after = build(&pools, &cases);
        after.services.retain(|s| !removed.contains(&s.name.to_string()));
        let full = allocate(&config(&after), &after, &first.assignments(), &Options::default());
        match reallocate(Kept::new(first.clone()), &config(&after), &after, &changes(&before, &after), &Options::default()) {
            Ok(quick) => prop_assert_eq!(quick.allocation(), &full),
            Err(previous) => prop_assert_eq!(previous.allocation(), &first, "given back unchanged"),
        }
    }

    /// (7) Edit after edit, each from what the last one gave back (as the
    /// controller keeps it): every answer is a full run's, and what
    /// [`Kept`] counts of the outcomes (addresses held, Services not
    /// settled, sharing keys) is what counting them anew finds.
    #[test]
    fn reallocating_edit_after_edit_keeps_its_counts_right(
        (pools, services) in cases(),
        steps in proptest::collection::vec(
            (any::<prop::sample::Index>(), proptest::option::of(service_case()), any::<bool>()),
            1..12,
        ),
        roomy in any::<bool>(),
    ) {
        let (mut pools, mut cases) = (pools, services);
        if roomy {
            make_roomy(&mut pools, &mut cases);
        }
        let mut before = build(&pools, &cases);
        let mut kept = Kept::new(run(&before));
        for (at, replacement, share) in steps {
            // A Service replaced (sharing or not), removed, or added.
            let mut case = replacement.clone();
            if let Some(case) = &mut case && roomy {
                (case.requested, case.pool, case.policy, case.families) = (None, None, None, None);
                if !share {
                    case.share = None;
                }
            }
            match case {
                Some(case) if !cases.is_empty() && share => { let i = at.index(cases.len()); cases[i] = case; }
                Some(case) => cases.push(case),
                None if !cases.is_empty() => { let i = at.index(cases.len()); cases[i].requested = None; }
                None => {}
            }
            let after = build(&pools, &cases);
            let previous = kept.allocation().clone();
            let full = allocate(&config(&after), &after, &previous.assignments(), &Options::default());
            kept = match reallocate(kept, &config(&after), &after, &changes(&before, &after), &Options::default()) {
                Ok(quick) => {
                    prop_assert_eq!(quick.allocation(), &full);
                    let counted = Kept::new(full.clone());
                    prop_assert_eq!(&quick.index.held, &counted.index.held);
                    prop_assert_eq!(quick.index.unsettled, counted.index.unsettled);
                    if let Some(keys) = &quick.index.keys {
                        prop_assert_eq!(keys, &SharingKeys::of(&after, &Options::default()));
                    }
                    quick
                }
                Err(given_back) => {
                    prop_assert_eq!(given_back.allocation(), &previous, "given back unchanged");
                    Kept::new(full)
                }
            };
            before = after;
        }
    }

    /// Nothing panics, whatever the strings say.
    #[test]
    fn garbage_in_never_panics(
        addresses in proptest::collection::vec("[0-9a-f:./ -]{0,24}", 0..4),
        requested in "[0-9a-f:., ]{0,30}",
        status in proptest::collection::vec("[0-9a-f:.]{0,20}", 0..3),
        cluster_ips in proptest::collection::vec("[0-9a-fNone:.]{0,20}", 0..3),
        policy in "(SingleStack|PreferDualStack|RequireDualStack|x)?",
        families in proptest::collection::vec("(IPv4|IPv6|x)", 0..3),
        share in "[a-z]{0,2}",
        previous_ips in proptest::collection::vec(any::<IpAddr>(), 0..4),
    ) {
        let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let status: Vec<&str> = status.iter().map(String::as_str).collect();
        let cluster: Vec<&str> = cluster_ips.iter().map(String::as_str).collect();
        let families: Vec<&str> = families.iter().map(String::as_str).collect();
        let snap = snapshot(
            vec![pool("p", &refs).avoid_buggy(), pool("q", &["192.0.2.0/30", "2001:db8::/126"])],
            vec![
                lb_service("ns", "a").ips(&requested).status_ips(&status).cluster_ips(&cluster)
                    .policy(&policy).families(&families).share(&share).tcp(80),
                lb_service("ns", "b").load_balancer_ip(&requested).share(&share).tcp(80),
            ],
        );
        let mut previous = Assignments::new();
        previous.insert("ns", "b", "q", previous_ips);
        let first = allocate(&config(&snap), &snap, &previous, &Options::default());
        let _ = rerun(&snap, &first);
    }
}

/// `snap` with each Service's status set to what `result` gave it.
fn with_status(snap: &Snapshot, result: &Allocation) -> Snapshot {
    let mut out = snap.clone();
    for svc in &mut out.services {
        let ips: Vec<String> = result
            .get(&svc.namespace, &svc.name)
            .map(|o| o.ips.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        svc.object.ingress_ips = ips.into_iter().map(Into::into).collect();
    }
    out
}

fn had_status(snap: &Snapshot, s: &crate::ServiceOutcome, ip: IpAddr) -> bool {
    snap.services.iter().any(|svc| {
        *svc.namespace == *s.namespace
            && *svc.name == *s.name
            && svc.ingress_ips.iter().any(|t| t.parse().ok() == Some(ip))
    })
}

#[test]
fn reallocating_takes_the_short_way_for_plain_services_and_not_after_a_pool_change() {
    let services =
        |n: usize| (0..n).map(|i| lb_service("a", &format!("s{i:02}")).tcp(80)).collect::<Vec<_>>();
    let pools = || vec![pool("p0", &["192.0.2.0/28"])];
    let before = snapshot(pools(), services(3));
    let first = run(&before);
    // One Service added, one removed, one edited.
    let mut after = snapshot(pools(), services(5));
    after.services.remove(0);
    after.services[0].object.labels = after.services[0].object.labels.with("tier", "web");
    let edit = changes(&before, &after);
    let quick = reallocate(Kept::new(first.clone()), &config(&after), &after, &edit, &Options::default())
        .map(Kept::into_allocation)
        .expect("the short way");
    assert_eq!(quick, allocate(&config(&after), &after, &first.assignments(), &Options::default()));
    assert_eq!(quick.services.len(), 4);
    let changed: Vec<String> = edit.iter().map(|c| format!("{}/{}", c.namespace, c.name)).collect();
    assert_eq!(changed, ["a/s00", "a/s01", "a/s03", "a/s04"], "what the test edited");

    // A Service that failed before might succeed now: the long way.
    let crowded = snapshot(vec![pool("p0", &["192.0.2.0/31"])], services(3));
    let failed = run(&crowded);
    assert!(failed.services[2].error.is_some());
    let mut after = crowded.clone();
    after.services.remove(0);
    let given_back = reallocate(
        Kept::new(failed.clone()),
        &config(&after),
        &after,
        &changes(&crowded, &after),
        &Options::default(),
    );
    assert_eq!(given_back.map_err(Kept::into_allocation).err(), Some(failed));
}

#[test]
fn a_sharing_service_takes_the_short_way_only_with_a_key_of_its_own() {
    let pools = || vec![pool("p0", &["192.0.2.0/28"])];
    let before = snapshot(pools(), vec![lb_service("a", "s0").share("k").tcp(80)]);
    let first = run(&before);
    let quick = |added: ServiceBuilder| {
        let after = snapshot(pools(), vec![lb_service("a", "s0").share("k").tcp(80), added]);
        let full = allocate(&config(&after), &after, &first.assignments(), &Options::default());
        let quick = reallocate(
            Kept::new(first.clone()),
            &config(&after),
            &after,
            &changes(&before, &after),
            &Options::default(),
        )
        .map(Kept::into_allocation);
        if let Ok(quick) = &quick {
            assert_eq!(*quick, full);
        }
        (quick.is_ok(), ips_of(&full, "a", "s1"))
    };
    // Its own key: as if it shared nothing.
    assert_eq!(quick(lb_service("a", "s1").share("other").tcp(80)), (true, vec!["192.0.2.1".to_owned()]));
    // The key of a Service that did not change: a full run joins its address.
    assert_eq!(quick(lb_service("a", "s1").share("k").tcp(81)), (false, vec!["192.0.2.0".to_owned()]));
}

/// Roomy pools and Services that ask for no given address and share
/// nothing: more Services settled, which the short way of [`reallocate`]
/// needs.
fn make_roomy(pools: &mut [PoolCase], services: &mut [ServiceCase]) {
    for p in pools {
        p.v4 = Some((p.v4.map_or(0, |(start, _)| start), 40));
        p.v6 = p.v6.map(|(start, _)| (start, 40));
        (p.manual, p.namespaces) = (false, None);
    }
    for s in services {
        (s.share, s.requested, s.pool, s.policy, s.families) = (None, None, None, None, None);
    }
}

/// What changed from `before` to `after`, as the file loader tells it.
fn changes<'a>(before: &'a Snapshot, after: &'a Snapshot) -> Vec<crate::ServiceChange<'a>> {
    let mut names: Vec<(&str, &str)> =
        before.services.iter().chain(&after.services).map(|s| (&*s.namespace, &*s.name)).collect();
    names.sort_unstable();
    names.dedup();
    let find = |s: &'a Snapshot, (namespace, name): (&str, &str)| {
        s.services.iter().find(|s| *s.namespace == *namespace && *s.name == *name).map(|s| &s.object)
    };
    names
        .into_iter()
        .filter(|&n| find(before, n) != find(after, n))
        .map(|(namespace, name)| crate::ServiceChange {
            namespace,
            name,
            now: find(after, (namespace, name)),
        })
        .collect()
}
#[test]
fn families_of_generated_addresses_are_documentation_ranges() {
    // Keeps the generators honest: every address they make is in
    // 192.0.2.0/24 or 2001:db8::/32.
    for i in 0..3 {
        for o in 0..16 {
            for v6 in [false, true] {
                let ip: IpAddr = address(i, o, v6).parse().unwrap();
                let doc = match IpFamily::of(ip) {
                    IpFamily::V4 => IpRange::parse("192.0.2.0/24").unwrap().contains(ip),
                    IpFamily::V6 => IpRange::parse("2001:db8::/32").unwrap().contains(ip),
                };
                assert!(doc, "{ip}");
            }
        }
    }
}
