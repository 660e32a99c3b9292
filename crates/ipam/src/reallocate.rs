//! [`reallocate`]: the allocation after an edit that touched only a few
//! Services, computed from the previous one by running the passes over the
//! Services that changed, while the others keep what they hold.
//!
//! A file of 100,000 Services gains one: a full [`allocate`] redoes the keep
//! pass for 100,000 Services to find the one that needs an address. The
//! caller says which Services changed (the file loader knows), so the
//! others are not even looked at: what the conditions below ask of them is
//! counted in the [`Kept`] allocation it starts from. The
//! answer must stay exactly that of [`allocate`] (a property test compares
//! them), so this takes the short way only where it provably agrees, and
//! gives the previous allocation back otherwise:
//!
//! - every Service that did not change was settled: it holds every address
//!   it wants, with no error and nothing released, so a full run would only
//!   keep what it holds (a failed one might now succeed, in name order
//!   among the others);
//! - no Service that changed has the sharing key of one that did not
//!   (sharing makes one Service's outcome depend on who else holds an
//!   address and with which ports), nor held an address that one that did
//!   not change still holds;
//! - no Service that changed ran into an address a settled one holds: in a
//!   full run the name order decides who keeps such an address.
//!
//! [`allocate`]: crate::allocate

use std::collections::HashMap;
use std::net::IpAddr;

use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_api::service::LbService;
use ferrolb_types::IpFamily;
use ferrolb_types::ip::to_u128;

use crate::allocate::{Allocation, Options, PoolStats, ServiceOutcome, allocate_services, handles};
use crate::assignments::Assignments;
use crate::kept::{Kept, SharingKeys, settled};
use crate::request::sharing_key;
use crate::sharing::{Outside, index};

/// A Service an edit added, removed or changed.
#[derive(Clone, Copy, Debug)]
pub struct ServiceChange<'a> {
    /// Its namespace (`default` when the object leaves it out).
    pub namespace: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The object now, as in the snapshot; `None` when it is gone.
    pub now: Option<&'a LbService>,
}

/// What [`allocate`](crate::allocate)`(config, snapshot, &previous.assignments(), options)`
/// returns, computed from `previous`, the allocation of the snapshot before
/// an edit that changed only the Services of `changes` (sorted by namespace
/// and name, one per name; no other Service of the snapshot bears one of
/// their names). When only a full run can tell (see the module's
/// conditions), `previous` comes back unchanged.
pub fn reallocate(
    mut previous: Kept,
    config: &Config,
    snapshot: &Snapshot,
    changes: &[ServiceChange<'_>],
    options: &Options,
) -> Result<Kept, Kept> {
    if !changes.is_sorted_by(|a, b| (a.namespace, a.name) < (b.namespace, b.name)) {
        return Err(previous);
    }
    let subjects: Vec<(&str, &str, &LbService)> = changes
        .iter()
        .filter_map(|c| Some((c.namespace, c.name, c.now.filter(|s| handles(s, options))?)))
        .collect();
    let keys: Vec<&str> = subjects.iter().filter_map(|(_, _, service)| sharing_key(service)).collect();
    if !keys.is_empty() && key_held_unchanged(&mut previous, snapshot, changes, &keys, options) {
        return Err(previous);
    }
    // Where each changed Service was, if it had an outcome.
    let at: Vec<usize> =
        changes.iter().filter_map(|c| previous.allocation.get_index(c.namespace, c.name)).collect();
    let gone: Vec<&ServiceOutcome> = at.iter().map(|&i| &previous.allocation.services[i]).collect();
    // Every Service that did not change must be settled.
    let unsettled = gone.iter().filter(|o| !settled(o)).count();
    if unsettled < previous.index.unsettled {
        return Err(previous);
    }
    let mut theirs: [Vec<u128>; 2] = Default::default();
    for outcome in &gone {
        for &ip in &outcome.ips {
            theirs[index(IpFamily::of(ip))].push(to_u128(ip));
        }
    }
    for family in &mut theirs {
        family.sort_unstable();
    }
    let outside = Outside::new(&previous.index.held, &theirs);
    // No changed Service may have held an address one that did not change holds.
    if gone.iter().flat_map(|o| &o.ips).any(|&ip| outside.holds(IpFamily::of(ip), to_u128(ip))) {
        return Err(previous);
    }
    let mut held = Assignments::new();
    for outcome in &gone {
        if let (Some(pool), false) = (&outcome.pool, outcome.ips.is_empty()) {
            held.insert(
                outcome.namespace.as_str(),
                outcome.name.as_str(),
                pool.as_str(),
                outcome.ips.clone(),
            );
        }
    }
    let (allocated, met_outside) = allocate_services(config, snapshot, &subjects, &held, outside);
    if met_outside {
        return Err(previous);
    }

    let pools = pool_stats(&previous.allocation, &at, &allocated.services);
    previous.reindex(&theirs, unsettled, &allocated.services);
    if let Some(known) = &mut previous.index.keys {
        for change in changes {
            known.remove(change.namespace, change.name);
        }
        for (namespace, name, service) in &subjects {
            if let Some(key) = sharing_key(service) {
                known.insert(namespace, name, key);
            }
        }
    }
    previous.allocation.pools = pools;
    crate::sorted::patch(&mut previous.allocation.services, &at, allocated.services, |o, n| {
        (o.namespace.as_str(), o.name.as_str()) < (n.namespace.as_str(), n.name.as_str())
    });
    Ok(previous)
}

/// Whether a Service that did not change has one of `keys`: a changed
/// Service of that key could join its address in a full run, which the
/// short way, seeing that address only as held, would not do. A key of the
/// changed Services alone makes them share among themselves only, as a full
/// run would. Counted from the keys `kept` knows (read from `snapshot` the
/// first time): the Services with the key, but the changed ones.
fn key_held_unchanged(
    kept: &mut Kept,
    snapshot: &Snapshot,
    changes: &[ServiceChange<'_>],
    keys: &[&str],
    options: &Options,
) -> bool {
    let known = kept.index.keys.get_or_insert_with(|| SharingKeys::of(snapshot, options));
    let mut changed: HashMap<&str, usize> = HashMap::new();
    for key in changes.iter().filter_map(|c| known.get(c.namespace, c.name)) {
        *changed.entry(key).or_default() += 1;
    }
    keys.iter().any(|key| known.count(key) > changed.get(key).copied().unwrap_or(0))
}

/// The pool counts of `previous` without the outcomes at `gone` and with `fresh`.
fn pool_stats(previous: &Allocation, gone: &[usize], fresh: &[ServiceOutcome]) -> Vec<PoolStats> {
    let mut pools = previous.pools.clone();
    // A Service holding addresses of a pool counts once for it.
    let holders = gone.iter().map(|&i| (&previous.services[i], -1)).chain(fresh.iter().map(|o| (o, 1)));
    for (outcome, by) in holders.filter(|(o, _)| !o.ips.is_empty()) {
        if let Some(stats) = outcome.pool.as_deref().and_then(|p| pools.iter_mut().find(|s| s.name == p)) {
            stats.services += by;
        }
    }
    let mut count = |pool: &str, ip: IpAddr, by: i64| {
        let Some(pool) = pools.iter_mut().find(|s| s.name == pool) else { return };
        let (assigned, available) = match IpFamily::of(ip) {
            IpFamily::V4 => (&mut pool.assigned_ipv4, &mut pool.available_ipv4),
            IpFamily::V6 => (&mut pool.assigned_ipv6, &mut pool.available_ipv6),
        };
        *assigned += by;
        // IPv6 availability saturates: a count at the limit stays there.
        if *available != i64::MAX {
            *available -= by;
        }
    };
    // Two of the Services gone may have shared an address: it counted once.
    let mut released: Vec<(IpAddr, &str)> = gone
        .iter()
        .map(|&i| &previous.services[i])
        .filter_map(|o| Some((o.pool.as_deref()?, &o.ips)))
        .flat_map(|(pool, ips)| ips.iter().map(move |ip| (*ip, pool)))
        .collect();
    released.sort_unstable();
    released.dedup_by_key(|(ip, _)| *ip);
    for (ip, pool) in released {
        count(pool, ip, -1);
    }
    // Two fresh ones may share an address (a key of their own): it counts once.
    let mut taken: Vec<(IpAddr, &str)> = fresh
        .iter()
        .flat_map(|o| o.ips.iter().map(move |ip| (*ip, o.pool.as_deref().unwrap_or_default())))
        .collect();
    taken.sort_unstable();
    taken.dedup_by_key(|(ip, _)| *ip);
    for (ip, pool) in taken {
        count(pool, ip, 1);
    }
    pools
}
