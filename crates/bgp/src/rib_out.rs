//! The Adj-RIB-Out of one peer (RFC 4271 §3.2): the routes we advertised to
//! it, and what to send to bring it to the routes we want it to have.
//!
//! The driver hands over either the whole desired set (DESIGN: "told the
//! whole desired state each time"), which [`AdjRibOut::converge`] diffs
//! against what was sent, or a [`Patch`] of it, which [`AdjRibOut::apply`]
//! applies: an edit to a file of 100,000 Services changes one route, and
//! diffing 100,000 routes to find it costs tens of milliseconds where the
//! patch costs a few map lookups. Both answer with the fewest changes —
//! withdrawals, and announcements grouped by identical attributes so that
//! prefixes sharing attributes travel in one UPDATE — and the same for the
//! same resulting set. Applying the same desired set twice sends nothing.
//! The desired set is shared, not copied: with 100,000 routes the peer's
//! task and the record of what was sent hold one map between them, which a
//! patch changes in place once the record is its only holder.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Routes to send to bring a peer to the desired set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes<P, A> {
    /// Prefixes to withdraw, in order.
    pub withdrawn: Vec<P>,
    /// Prefixes to announce, grouped by their attributes; groups in the order
    /// of their attributes, prefixes in order.
    pub announced: Vec<(A, Vec<P>)>,
}

impl<P, A> Changes<P, A> {
    /// Whether nothing needs to be sent.
    pub fn is_empty(&self) -> bool {
        self.withdrawn.is_empty() && self.announced.is_empty()
    }
}

impl<P, A> Default for Changes<P, A> {
    fn default() -> Self {
        Changes { withdrawn: Vec::new(), announced: Vec::new() }
    }
}

/// A change to a set of routes: `withdrawn` goes first, then `announced`, so
/// a prefix in both ends up announced; withdrawing an absent prefix does nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch<P, A> {
    /// Prefixes to remove.
    pub withdrawn: Vec<P>,
    /// Prefixes to add or replace, with their attributes; a later entry for a
    /// prefix wins over an earlier one.
    pub announced: Vec<(P, A)>,
}

impl<P, A> Patch<P, A> {
    /// A patch that changes nothing.
    pub fn new() -> Self {
        Patch { withdrawn: Vec::new(), announced: Vec::new() }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.withdrawn.is_empty() && self.announced.is_empty()
    }
}

impl<P, A> Default for Patch<P, A> {
    fn default() -> Self {
        Patch::new()
    }
}

impl<P: Ord, A> Patch<P, A> {
    /// Changes `routes` by this patch.
    pub fn apply_to(self, routes: &mut BTreeMap<P, A>) {
        for prefix in &self.withdrawn {
            routes.remove(prefix);
        }
        routes.extend(self.announced);
    }
}

/// What one peer has been sent.
#[derive(Clone, Debug)]
pub struct AdjRibOut<P, A> {
    sent: Arc<BTreeMap<P, A>>,
}

impl<P, A> Default for AdjRibOut<P, A> {
    fn default() -> Self {
        AdjRibOut { sent: Arc::new(BTreeMap::new()) }
    }
}

impl<P: Ord + Clone, A: Ord + Clone> AdjRibOut<P, A> {
    /// The changes that turn what was sent into `desired`, which from now on
    /// counts as sent.
    pub fn converge(&mut self, desired: &Arc<BTreeMap<P, A>>) -> Changes<P, A> {
        if Arc::ptr_eq(&self.sent, desired) {
            return Changes::default();
        }
        let withdrawn = self.sent.keys().filter(|p| !desired.contains_key(*p)).cloned().collect();
        let changed = desired.iter().filter(|(p, a)| self.sent.get(*p) != Some(*a));
        let announced = group(changed);
        self.sent = Arc::clone(desired);
        Changes { withdrawn, announced }
    }

    /// The changes that apply `patch` to what was sent, which from now on
    /// counts as sent; exactly what [`AdjRibOut::converge`] answers for the
    /// patched set, at the cost of the patch rather than of the set.
    pub fn apply(&mut self, patch: Patch<P, A>) -> Changes<P, A> {
        // Only the last attributes of a prefix count, as in the patched set.
        let announced: BTreeMap<P, A> = patch.announced.into_iter().collect();
        // In place when the record is the map's only holder, as it is while in sync.
        let sent = Arc::make_mut(&mut self.sent);
        let mut withdrawn = Vec::new();
        for prefix in patch.withdrawn {
            if !announced.contains_key(&prefix) && sent.remove(&prefix).is_some() {
                withdrawn.push(prefix);
            }
        }
        // In order, as `converge` withdraws; each at most once, since only the first removal finds it.
        withdrawn.sort_unstable();
        let mut changed = Vec::new();
        for (prefix, attributes) in announced {
            if sent.get(&prefix) != Some(&attributes) {
                sent.insert(prefix.clone(), attributes.clone());
                changed.push((prefix, attributes));
            }
        }
        Changes { withdrawn, announced: group(changed.iter().map(|(p, a)| (p, a))) }
    }

    /// Everything sent, again: for a session that has just come up.
    pub fn everything(&self) -> Changes<P, A> {
        self.everything_where(|_| true)
    }

    /// The routes sent whose prefix is `wanted`, again: for a ROUTE-REFRESH
    /// of one family (RFC 2918 §4).
    pub fn everything_where(&self, wanted: impl Fn(&P) -> bool) -> Changes<P, A> {
        Changes { withdrawn: Vec::new(), announced: group(self.sent.iter().filter(|(p, _)| wanted(p))) }
    }

    /// Forgets what was sent: the session went down, and the peer with it.
    pub fn clear(&mut self) {
        self.sent = Arc::new(BTreeMap::new());
    }

    /// What the peer has been sent.
    pub fn sent(&self) -> &BTreeMap<P, A> {
        &self.sent
    }

    /// What the peer has been sent, shared: to keep it wanted once the
    /// record is cleared, without copying it.
    pub fn sent_shared(&self) -> &Arc<BTreeMap<P, A>> {
        &self.sent
    }
}

/// Prefixes grouped by attributes.
fn group<'a, P: Ord + Clone + 'a, A: Ord + Clone + 'a>(
    routes: impl Iterator<Item = (&'a P, &'a A)>,
) -> Vec<(A, Vec<P>)> {
    let mut groups: BTreeMap<&A, Vec<P>> = BTreeMap::new();
    for (prefix, attributes) in routes {
        groups.entry(attributes).or_default().push(prefix.clone());
    }
    groups.into_iter().map(|(a, p)| (a.clone(), p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn routes(pairs: &[(u8, char)]) -> Arc<BTreeMap<u8, char>> {
        Arc::new(pairs.iter().copied().collect())
    }

    #[test]
    fn a_new_peer_gets_every_route_grouped_by_attributes() {
        let mut rib = AdjRibOut::default();
        let changes = rib.converge(&routes(&[(1, 'a'), (2, 'b'), (3, 'a')]));
        assert_eq!(
            changes,
            Changes { withdrawn: vec![], announced: vec![('a', vec![1, 3]), ('b', vec![2])] }
        );
    }

    #[test]
    fn a_refresh_of_some_prefixes_sends_those_again_and_changes_nothing() {
        let mut rib = AdjRibOut::default();
        rib.converge(&routes(&[(1, 'a'), (2, 'b'), (3, 'a')]));
        let odd = rib.everything_where(|p| p % 2 == 1);
        assert_eq!(odd, Changes { withdrawn: vec![], announced: vec![('a', vec![1, 3])] });
        assert_eq!(rib.everything().announced.len(), 2);
        assert!(rib.converge(&routes(&[(1, 'a'), (2, 'b'), (3, 'a')])).is_empty());
    }

    #[test]
    fn the_same_desired_set_twice_sends_nothing() {
        let mut rib = AdjRibOut::default();
        let desired = routes(&[(1, 'a'), (2, 'b')]);
        rib.converge(&desired);
        assert!(rib.converge(&desired).is_empty());
    }

    #[test]
    fn only_what_changed_is_sent() {
        let mut rib = AdjRibOut::default();
        rib.converge(&routes(&[(1, 'a'), (2, 'a'), (3, 'a')]));
        let changes = rib.converge(&routes(&[(1, 'a'), (2, 'b'), (4, 'a')]));
        assert_eq!(changes, Changes { withdrawn: vec![3], announced: vec![('a', vec![4]), ('b', vec![2])] });
    }

    #[test]
    fn route_refresh_resends_everything_and_clear_forgets_it() {
        let mut rib = AdjRibOut::default();
        rib.converge(&routes(&[(1, 'a'), (2, 'b')]));
        assert_eq!(rib.everything().announced, vec![('a', vec![1]), ('b', vec![2])]);
        rib.clear();
        assert_eq!(rib.converge(&routes(&[(1, 'a')])).announced, vec![('a', vec![1])]);
    }

    fn patch(withdrawn: &[u8], announced: &[(u8, char)]) -> Patch<u8, char> {
        Patch { withdrawn: withdrawn.to_vec(), announced: announced.to_vec() }
    }

    #[test]
    fn a_patch_withdraws_first_then_announces() {
        let mut routes: BTreeMap<u8, char> = [(1, 'a'), (2, 'b')].into_iter().collect();
        patch(&[1, 2, 7], &[(2, 'c'), (3, 'a'), (3, 'b')]).apply_to(&mut routes);
        assert_eq!(routes, [(2, 'c'), (3, 'b')].into_iter().collect());
    }

    #[test]
    fn a_patch_sends_only_what_it_changes() {
        let mut rib = AdjRibOut::default();
        rib.converge(&routes(&[(1, 'a'), (2, 'b'), (3, 'a')]));
        let changes = rib.apply(patch(&[3, 9], &[(2, 'b'), (4, 'a'), (1, 'c')]));
        assert_eq!(changes, Changes { withdrawn: vec![3], announced: vec![('a', vec![4]), ('c', vec![1])] });
        assert_eq!(rib.sent(), &*routes(&[(1, 'c'), (2, 'b'), (4, 'a')]));
    }

    #[test]
    fn a_prefix_withdrawn_and_announced_by_one_patch_is_not_withdrawn() {
        let mut rib = AdjRibOut::default();
        rib.converge(&routes(&[(1, 'a')]));
        let changes = rib.apply(patch(&[1, 2], &[(1, 'a'), (2, 'b')]));
        assert_eq!(changes, Changes { withdrawn: vec![], announced: vec![('b', vec![2])] });
        assert!(rib.apply(patch(&[1, 2], &[(1, 'a'), (2, 'b')])).is_empty());
    }

    #[test]
    fn a_patch_changes_the_record_in_place_unless_the_caller_still_holds_it() {
        let mut rib = AdjRibOut::default();
        let desired = routes(&[(1, 'a'), (2, 'b')]);
        rib.converge(&desired);
        rib.apply(patch(&[1], &[]));
        // The caller's set is left alone.
        assert_eq!(desired, routes(&[(1, 'a'), (2, 'b')]));
        drop(desired);
        let record = Arc::as_ptr(rib.sent_shared());
        rib.apply(patch(&[], &[(3, 'c')]));
        assert_eq!(Arc::as_ptr(rib.sent_shared()), record);
        assert_eq!(rib.sent(), &*routes(&[(2, 'b'), (3, 'c')]));
    }

    /// What a peer holds after receiving `changes`.
    fn apply(peer: &mut BTreeMap<u8, char>, changes: &Changes<u8, char>) {
        for p in &changes.withdrawn {
            peer.remove(p);
        }
        for (a, prefixes) in &changes.announced {
            for p in prefixes {
                peer.insert(*p, *a);
            }
        }
    }

    proptest! {
        #[test]
        fn the_peer_always_ends_with_the_desired_routes(
            steps in prop::collection::vec(prop::collection::btree_map(0u8..16, prop::char::range('a', 'c'), 0..12), 1..6)
        ) {
            let mut rib = AdjRibOut::default();
            let mut peer = BTreeMap::new();
            for desired in &steps {
                let changes = rib.converge(&Arc::new(desired.clone()));
                prop_assert!(changes.withdrawn.iter().all(|p| !desired.contains_key(p)));
                apply(&mut peer, &changes);
                prop_assert_eq!(&peer, desired);
            }
        }

        #[test]
        fn a_patch_answers_as_converging_to_the_patched_set(
            initial in prop::collection::btree_map(0u8..16, prop::char::range('a', 'c'), 0..12),
            patches in prop::collection::vec(
                (
                    prop::collection::vec(0u8..16, 0..6),
                    prop::collection::vec((0u8..16, prop::char::range('a', 'c')), 0..6),
                ),
                1..6,
            )
        ) {
            let (mut patched, mut converged) = (AdjRibOut::default(), AdjRibOut::default());
            patched.converge(&Arc::new(initial.clone()));
            converged.converge(&Arc::new(initial.clone()));
            let mut desired = initial;
            let mut peer = desired.clone();
            for (withdrawn, announced) in patches {
                let patch = Patch { withdrawn, announced };
                patch.clone().apply_to(&mut desired);
                let changes = patched.apply(patch);
                prop_assert_eq!(&changes, &converged.converge(&Arc::new(desired.clone())));
                prop_assert_eq!(patched.sent(), converged.sent());
                prop_assert_eq!(patched.sent(), &desired);
                apply(&mut peer, &changes);
                prop_assert_eq!(&peer, &desired);
            }
        }
    }
}
