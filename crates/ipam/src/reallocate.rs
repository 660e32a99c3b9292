//! [`reallocate`]: the allocation after an edit that touched only Services,
//! computed from the previous one by running the passes over the Services
//! that changed, while the others keep what they hold.
//!
//! A file of 100,000 Services gains one: a full [`allocate`] redoes the keep
//! pass for 100,000 Services to find the one that needs an address. The
//! answer must stay exactly that of [`allocate`] (a property test compares
//! them), so this takes the short way only where it provably agrees, and
//! says `None` otherwise:
//!
//! - everything but the Services is as before (pools, namespaces, ...);
//! - every Service that did not change was settled: it holds every address
//!   it wants, with no error and nothing released, so a full run would only
//!   keep what it holds (a failed one might now succeed, in name order
//!   among the others);
//! - no Service that changed asks to share an address (sharing makes one
//!   Service's outcome depend on who else holds an address and with which
//!   ports);
//! - no Service that changed ran into an address a settled one holds: in a
//!   full run the name order decides who keeps such an address.
//!
//! [`allocate`]: crate::allocate

use ferrolb_api::Snapshot;

use crate::allocate::{Allocation, Options, ServiceOutcome, allocate_services, handled_services};
use crate::assignments::{Assignments, ServiceKey};
use crate::families::Families;
use crate::request::Request;

/// What [`allocate`](crate::allocate)`(after, &previous.assignments(), options)`
/// returns, computed from `previous`, the allocation of `before`; `None`
/// when only a full run can tell (see the module's conditions).
pub fn reallocate(
    previous: &Allocation,
    before: &Snapshot,
    after: &Snapshot,
    options: &Options,
) -> Option<Reallocation> {
    if !after.same_except_services(before) {
        return None;
    }
    // Each list is sorted by name: two sorts of 100,000 names, side by side.
    let (old, new) = std::thread::scope(|scope| {
        let old = scope.spawn(|| handled_services(before, options));
        let new = handled_services(after, options);
        (old.join().expect("sorting does not panic"), new)
    });
    let is_previous = old.len() == previous.services.len()
        && old
            .iter()
            .zip(&previous.services)
            .all(|(s, o)| (s.0, s.1) == (o.namespace.as_str(), o.name.as_str()));
    if !is_previous {
        return None;
    }

    // One walk over both sorted lists: each Service of `after` is either
    // unchanged (its outcome carries over) or to be allocated again.
    let mut carried: Vec<Option<&ServiceOutcome>> = Vec::with_capacity(new.len());
    let mut changed = Vec::new();
    let mut held = Assignments::new();
    let mut removed = Vec::new();
    let mut before_it = old.iter().zip(&previous.services).peekable();
    for &(namespace, name, service) in &new {
        while let Some((s, _)) = before_it.next_if(|(s, _)| (s.0, s.1) < (namespace, name)) {
            removed.push(ServiceKey::new(s.0, s.1));
        }
        match before_it.next_if(|(s, _)| (s.0, s.1) == (namespace, name)) {
            Some((s, outcome)) if s.2 == service => {
                if !settled(outcome) {
                    return None;
                }
                carried.push(Some(outcome));
            }
            earlier => {
                if Request::of(service).sharing.is_some() {
                    return None;
                }
                if let Some((_, outcome)) = earlier
                    && let (Some(pool), false) = (&outcome.pool, outcome.ips.is_empty())
                {
                    held.insert(namespace, name, pool.as_str(), outcome.ips.clone());
                }
                carried.push(None);
                changed.push((namespace, name, service));
            }
        }
    }

    removed.extend(before_it.map(|(s, _)| ServiceKey::new(s.0, s.1)));
    let outside: Vec<&ServiceOutcome> = carried.iter().flatten().copied().collect();
    let (allocated, met_outside) = allocate_services(after, &changed, &held, &outside);
    if met_outside {
        return None;
    }
    let mut fresh = allocated.services.into_iter();
    let services = carried
        .into_iter()
        .map(|carried| match carried {
            Some(outcome) => Some(outcome.clone()),
            None => fresh.next(),
        })
        .collect::<Option<Vec<_>>>()?;
    let mut changed: Vec<ServiceKey> = changed
        .iter()
        .map(|(namespace, name, _)| ServiceKey::new(*namespace, *name))
        .chain(removed)
        .collect();
    changed.sort_unstable();
    Some(Reallocation { allocation: Allocation { services, pools: allocated.pools }, changed })
}

/// What [`reallocate`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reallocation {
    /// The new allocation.
    pub allocation: Allocation,
    /// The Services added, removed or edited, sorted: every other one has
    /// the same object and outcome as before.
    pub changed: Vec<ServiceKey>,
}

/// Whether a full run would leave the Service as it is: it holds an address
/// of every family it wants (a Service that merely prefers dual-stack and
/// holds one family would get the other if one were freed), with no error
/// and nothing released.
fn settled(outcome: &ServiceOutcome) -> bool {
    let wants_more = matches!(outcome.families, Families::PreferDual(_)) && outcome.ips.len() < 2;
    !outcome.ips.is_empty()
        && outcome.pool.is_some()
        && outcome.error.is_none()
        && outcome.released.is_none()
        && !wants_more
}
