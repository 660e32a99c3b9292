//! The Adj-RIB-Out of one peer (RFC 4271 §3.2): the routes we advertised to
//! it, and what to send to bring it to the routes we want it to have.
//!
//! The driver hands over the whole desired set every time (DESIGN: "told
//! the whole desired state each time"); [`AdjRibOut::converge`] answers with
//! the fewest changes — withdrawals, and announcements grouped by identical
//! attributes so that prefixes sharing attributes travel in one UPDATE.
//! Applying the same desired set twice sends nothing. The desired set is
//! shared, not copied: with 100,000 routes the peer's task, the watch that
//! hands it over and the record of what was sent hold one map between them.

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

    /// Everything sent, again: for a ROUTE-REFRESH (RFC 2918) or a session
    /// that has just come up.
    pub fn everything(&self) -> Changes<P, A> {
        Changes { withdrawn: Vec::new(), announced: group(self.sent.iter()) }
    }

    /// Forgets what was sent: the session went down, and the peer with it.
    pub fn clear(&mut self) {
        self.sent = Arc::new(BTreeMap::new());
    }

    /// What the peer has been sent.
    pub fn sent(&self) -> &BTreeMap<P, A> {
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
    }
}
