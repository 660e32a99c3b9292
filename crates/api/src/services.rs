//! [`Services`]: a snapshot's Services, sorted by namespace and name.
//!
//! A persistent vector ([`imbl::Vector`]): cloning one is O(1), and a copy
//! changed in one place shares everything else with the original. The
//! controller holds 100,000 Services and makes a snapshot after each
//! change: as a `Vec`, each snapshot copied all of them (a reference count
//! touched per Service, and as many released with the snapshot before),
//! which cost more than everything else one change asks. As a persistent
//! vector, the snapshot builder patches its list where the change is, and
//! the snapshot takes it whole.

use std::ops::{Index, IndexMut, Range};

use imbl::Vector;
use imbl::shared_ptr::DefaultSharedPtr;
use imbl::vector::{Chunks, ConsumingIter, IterMut};

use crate::service::LbService;
use crate::snapshot::Located;

/// One Service of a snapshot.
pub type LocatedService = Located<LbService>;

/// The Services of a [`Services`], in order.
pub type Leaves<'a> = std::iter::Flatten<Chunks<'a, LocatedService, DefaultSharedPtr>>;

/// The Services of a snapshot (see the module).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Services(Vector<LocatedService>);

impl Services {
    /// No Service.
    pub fn new() -> Services {
        Services::default()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each, in order: a leaf of the tree (a slice) after the other, which
    /// walks as fast as a `Vec` does (an element at a time through the tree
    /// cost a plan of 100,000 Services a tenth of its time).
    pub fn iter(&self) -> Leaves<'_> {
        self.0.leaves().flatten()
    }

    /// Each, in order, to change (copying what another snapshot shares).
    pub fn iter_mut(&mut self) -> IterMut<'_, LocatedService, DefaultSharedPtr> {
        self.0.iter_mut()
    }

    /// Those at `range`, in order.
    pub fn range(&self, range: Range<usize>) -> impl Iterator<Item = &LocatedService> {
        self.0.focus().narrow(range).into_iter()
    }

    /// Those at `range`, in order, to change.
    pub fn range_mut(&mut self, range: Range<usize>) -> impl Iterator<Item = &mut LocatedService> {
        self.0.focus_mut().narrow(range).into_iter()
    }

    /// The one at `index`.
    pub fn get(&self, index: usize) -> Option<&LocatedService> {
        self.0.get(index)
    }

    /// The first.
    pub fn first(&self) -> Option<&LocatedService> {
        self.0.front()
    }

    /// The last.
    pub fn last(&self) -> Option<&LocatedService> {
        self.0.back()
    }

    /// Appends `service`.
    pub fn push(&mut self, service: LocatedService) {
        self.0.push_back(service);
    }

    /// Removes the last.
    pub fn pop(&mut self) -> Option<LocatedService> {
        self.0.pop_back()
    }

    /// Puts `service` at `index`, moving those after it along.
    pub fn insert(&mut self, index: usize, service: LocatedService) {
        self.0.insert(index, service);
    }

    /// Takes out the one at `index`.
    pub fn remove(&mut self, index: usize) -> LocatedService {
        self.0.remove(index)
    }

    /// Replaces the one at `index`; gives it back.
    pub fn set(&mut self, index: usize, service: LocatedService) -> LocatedService {
        self.0.set(index, service)
    }

    /// Keeps those `keep` says to.
    pub fn retain(&mut self, keep: impl FnMut(&LocatedService) -> bool) {
        self.0.retain(keep);
    }

    /// Replaces those at `range` with `new`; gives back those replaced.
    pub fn splice(&mut self, range: Range<usize>, new: impl IntoIterator<Item = LocatedService>) -> Services {
        let start = range.start;
        let removed = self.0.slice(range);
        let tail = self.0.split_off(start);
        self.0.extend(new);
        self.0.append(tail);
        Services(removed)
    }

    /// Appends every one of `other`.
    pub fn append(&mut self, other: Services) {
        self.0.append(other.0);
    }

    /// Reverses their order.
    pub fn reverse(&mut self) {
        *self = self.0.iter().rev().cloned().collect();
    }

    /// The index of the first one for which `before` is false, all those
    /// before it being those for which it is true (as [`slice::partition_point`]).
    pub fn partition_point(&self, mut before: impl FnMut(&LocatedService) -> bool) -> usize {
        let (mut low, mut high) = (0, self.len());
        let mut focus = self.0.focus();
        while low < high {
            let middle = low + (high - low) / 2;
            match focus.get(middle).is_some_and(&mut before) {
                true => low = middle + 1,
                false => high = middle,
            }
        }
        low
    }
}

impl Index<usize> for Services {
    type Output = LocatedService;
    fn index(&self, index: usize) -> &LocatedService {
        &self.0[index]
    }
}

impl IndexMut<usize> for Services {
    fn index_mut(&mut self, index: usize) -> &mut LocatedService {
        &mut self.0[index]
    }
}

impl FromIterator<LocatedService> for Services {
    fn from_iter<I: IntoIterator<Item = LocatedService>>(services: I) -> Services {
        Services(services.into_iter().collect())
    }
}

impl From<Vec<LocatedService>> for Services {
    fn from(services: Vec<LocatedService>) -> Services {
        services.into_iter().collect()
    }
}

impl Extend<LocatedService> for Services {
    fn extend<I: IntoIterator<Item = LocatedService>>(&mut self, services: I) {
        self.0.extend(services);
    }
}

impl<'a> IntoIterator for &'a Services {
    type Item = &'a LocatedService;
    type IntoIter = Leaves<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Services {
    type Item = &'a mut LocatedService;
    type IntoIter = IterMut<'a, LocatedService, DefaultSharedPtr>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl IntoIterator for Services {
    type Item = LocatedService;
    type IntoIter = ConsumingIter<LocatedService, DefaultSharedPtr>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn named(name: &str) -> LocatedService {
        let mut service = LbService::default();
        service.name = name.into();
        Located::unsourced(service)
    }

    fn names(services: &Services) -> Vec<String> {
        services.iter().map(|s| s.name.to_string()).collect()
    }

    proptest! {
        /// The search finds where a sorted list splits, as a slice's does.
        #[test]
        fn partition_point_is_a_slices(names in proptest::collection::btree_set("[a-e]{1,3}", 0..40), probe in "[a-e]{1,3}") {
            let services: Services = names.iter().map(|n| named(n)).collect();
            let sorted: Vec<&String> = names.iter().collect();
            prop_assert_eq!(
                services.partition_point(|s| *s.name < *probe),
                sorted.partition_point(|n| **n < probe)
            );
        }
    }

    #[test]
    fn a_changed_copy_leaves_the_original_as_it_was() {
        let original: Services = ["a", "b", "c"].into_iter().map(named).collect();
        let mut copy = original.clone();
        copy.insert(1, named("ab"));
        copy.remove(3);
        copy.reverse();
        assert_eq!(names(&copy), ["b", "ab", "a"]);
        assert_eq!(names(&original), ["a", "b", "c"]);
        assert_eq!(copy.range(1..3).map(|s| s.name.to_string()).collect::<Vec<_>>(), ["ab", "a"]);
        let mut spliced = copy.clone();
        assert_eq!(names(&spliced.splice(0..1, [named("x"), named("y")])), ["b"]);
        assert_eq!(names(&spliced), ["x", "y", "ab", "a"]);
    }
}
