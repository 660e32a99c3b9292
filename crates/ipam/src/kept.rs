//! [`Kept`]: an allocation kept for the next [`reallocate`], with what
//! that asks of every outcome already counted.
//!
//! [`reallocate`] may take the short way only when every Service that did
//! not change is settled, holds no address a changed one ran into, and
//! has no sharing key of a changed one. Asked of 100,000 outcomes at each
//! edit, that was a walk over them all (each outcome's addresses are a
//! separate allocation: at that size, a cache miss each) and a sort of
//! their addresses: most of what one new Service cost the controller. Kept
//! here, the questions are counts and binary searches over the changed
//! Services, and the answers are patched with the outcomes.
//!
//! [`reallocate`]: crate::reallocate

use std::collections::{BTreeMap, HashMap};

use ferrolb_api::Snapshot;
use ferrolb_types::IpFamily;
use ferrolb_types::ip::to_u128;

use crate::allocate::{Allocation, Options, ServiceOutcome, handles, namespace_of};
use crate::families::Families;
use crate::request::sharing_key;
use crate::sharing::index;

/// An allocation and an index of what its outcomes hold.
#[derive(Clone, Debug)]
pub struct Kept {
    pub(crate) allocation: Allocation,
    /// Boxed: a `Kept` goes back and forth by value.
    pub(crate) index: Box<Index>,
}

/// What [`Kept`] counts of its outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Index {
    /// Every address an outcome holds, sorted, by family, once per holder
    /// (two Services sharing an address count twice).
    pub held: [Vec<u128>; 2],
    /// How many outcomes are not [`settled`].
    pub unsettled: usize,
    /// The sharing keys of the Services, read from a snapshot the first time
    /// a changed Service has one (most configurations share nothing).
    pub keys: Option<SharingKeys>,
}

impl Kept {
    /// `allocation`, indexed (one pass over its outcomes).
    pub fn new(allocation: Allocation) -> Kept {
        let mut held: [Vec<u128>; 2] = [Vec::with_capacity(allocation.services.len()), Vec::new()];
        for outcome in &allocation.services {
            add_addresses(&mut held, outcome);
        }
        for family in &mut held {
            family.sort_unstable();
        }
        let unsettled = allocation.services.iter().filter(|o| !settled(o)).count();
        Kept { allocation, index: Box::new(Index { held, unsettled, keys: None }) }
    }

    /// The allocation.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// The allocation, without its index.
    pub fn into_allocation(self) -> Allocation {
        self.allocation
    }

    /// Takes the addresses `gone` (sorted, by family) of outcomes no longer
    /// in the allocation, `unsettled` of which were not settled, out of the
    /// index, and puts those of `fresh` (their replacements) in.
    pub(crate) fn reindex(&mut self, gone: &[Vec<u128>; 2], unsettled: usize, fresh: &[ServiceOutcome]) {
        let mut added: [Vec<u128>; 2] = Default::default();
        for outcome in fresh {
            add_addresses(&mut added, outcome);
        }
        let index = &mut *self.index;
        for ((held, gone), added) in index.held.iter_mut().zip(gone).zip(&mut added) {
            added.sort_unstable();
            patch_sorted(held, gone, added);
        }
        index.unsettled = index.unsettled - unsettled + fresh.iter().filter(|o| !settled(o)).count();
    }
}

/// `held` (sorted, with repeats) without one of each of `gone` and with
/// `added` (both sorted): in place for a few, else in one merge (an edit
/// of 100,000 Services moved the addresses once, not once each).
fn patch_sorted(held: &mut Vec<u128>, gone: &[u128], added: &[u128]) {
    if gone.len() + added.len() <= IN_PLACE {
        for n in gone {
            if let Ok(at) = held.binary_search(n) {
                held.remove(at);
            }
        }
        for &n in added {
            held.insert(held.partition_point(|&h| h < n), n);
        }
        return;
    }
    let old = std::mem::take(held);
    held.reserve(old.len() + added.len());
    let (mut gone, mut added) = (gone.iter().peekable(), added.iter().peekable());
    for n in old {
        while let Some(&&a) = added.peek()
            && a < n
        {
            held.push(a);
            added.next();
        }
        while gone.next_if(|&&g| g < n).is_some() {}
        if gone.next_if_eq(&&n).is_none() {
            held.push(n);
        }
    }
    held.extend(added);
}

/// Beyond this many addresses gone and added, [`patch_sorted`] merges.
const IN_PLACE: usize = 8;

/// Puts the addresses of `outcome` in `held` (unsorted).
fn add_addresses(held: &mut [Vec<u128>; 2], outcome: &ServiceOutcome) {
    for &ip in &outcome.ips {
        held[index(IpFamily::of(ip))].push(to_u128(ip));
    }
}

/// The sharing key of each Service of a snapshot that ferrolb handles and
/// that has one, and how many have each key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SharingKeys {
    of: BTreeMap<(Box<str>, Box<str>), Box<str>>,
    count: HashMap<Box<str>, usize>,
}

impl SharingKeys {
    /// The keys of the Services of `snapshot` that `options` handles.
    pub fn of(snapshot: &Snapshot, options: &Options) -> SharingKeys {
        let mut keys = SharingKeys::default();
        for service in snapshot.services.iter().filter(|s| handles(s, options)) {
            if let Some(key) = sharing_key(service) {
                keys.insert(namespace_of(service), &service.name, key);
            }
        }
        keys
    }

    /// The key of `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&str> {
        self.of.get(&(Box::from(namespace), Box::from(name))).map(|k| &**k)
    }

    /// How many Services have `key`.
    pub fn count(&self, key: &str) -> usize {
        self.count.get(key).copied().unwrap_or(0)
    }

    /// Records that `namespace/name` has `key`.
    pub fn insert(&mut self, namespace: &str, name: &str, key: &str) {
        self.remove(namespace, name);
        self.of.insert((namespace.into(), name.into()), key.into());
        *self.count.entry(key.into()).or_default() += 1;
    }

    /// Forgets the key of `namespace/name`, if it had one.
    pub fn remove(&mut self, namespace: &str, name: &str) {
        let Some(key) = self.of.remove(&(Box::from(namespace), Box::from(name))) else { return };
        if let Some(count) = self.count.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.count.remove(&key);
            }
        }
    }
}

/// Whether a full run would leave the Service as it is: it holds an address
/// of every family it wants (a Service that merely prefers dual-stack and
/// holds one family would get the other if one were freed), with no error
/// and nothing released.
pub(crate) fn settled(outcome: &ServiceOutcome) -> bool {
    let wants_more = matches!(outcome.families, Families::PreferDual(_)) && outcome.ips.len() < 2;
    !outcome.ips.is_empty()
        && outcome.pool.is_some()
        && outcome.error.is_none()
        && outcome.released.is_none()
        && !wants_more
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// In place or merged, the result is the sorted multiset.
        #[test]
        fn a_patch_takes_out_and_puts_in_one_of_each(
            held in proptest::collection::vec(0u128..40, 0..40),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
            added in proptest::collection::vec(0u128..40, 0..20),
        ) {
            let mut held = held;
            held.sort_unstable();
            let mut gone: Vec<u128> = if held.is_empty() { Vec::new() } else { picks.iter().map(|p| held[p.index(held.len())]).collect() };
            gone.sort_unstable();
            // No more of a value gone than held.
            gone.dedup();
            let mut added = added;
            added.sort_unstable();
            let mut expected = held.clone();
            for g in &gone {
                let at = expected.iter().position(|h| h == g).unwrap();
                expected.remove(at);
            }
            expected.extend(&added);
            expected.sort_unstable();
            patch_sorted(&mut held, &gone, &added);
            prop_assert_eq!(held, expected);
        }
    }

    #[test]
    fn a_key_counts_each_service_once() {
        let mut keys = SharingKeys::default();
        keys.insert("a", "s1", "k");
        keys.insert("a", "s2", "k");
        keys.insert("a", "s2", "k");
        assert_eq!(keys.count("k"), 2);
        keys.insert("a", "s2", "other");
        assert_eq!((keys.count("k"), keys.count("other")), (1, 1));
        keys.remove("a", "s1");
        keys.remove("a", "s1");
        assert_eq!((keys.count("k"), keys.get("a", "s2")), (0, Some("other")));
    }
}
