//! What L2 and BGP advertisements share: the pools they apply to, the nodes
//! they announce from, and references to pools by name.

use std::collections::BTreeSet;

use kube_core::Resource;

use super::{Findings, ParsedPools, item, name_of};
use crate::config::{Pool, Scope};
use crate::metallb::{IPAddressPool, LabelSelector};
use crate::selector::{Selector, any_matches};
use crate::snapshot::{Located, Snapshot};

/// A pool an advertisement applies to, with its valid address entries.
pub(super) type SelectedPool<'p, 'a> = &'p (&'a Located<IPAddressPool>, &'a Pool);

/// The pools an advertisement applies to ([`Scope::covers_pool`]): those
/// it names or selects by label, or every pool when it does neither. Each
/// pool once, in snapshot order; names of no pool are left out (MetalLB
/// ignores them). The selectors' problems are [`crate::config::resolve`]'s.
pub(super) fn selected_pools<'p, 'a>(
    parsed: &'p ParsedPools<'a>,
    names: &[String],
    selectors: &[LabelSelector],
) -> Vec<SelectedPool<'p, 'a>> {
    let pool_selectors = Selector::compile_list("", selectors).0;
    let scope = Scope { pools: names.to_vec(), pool_selectors, ..Scope::default() };
    parsed.pools.iter().filter(|(_, pool)| scope.covers_pool(&pool.name, &pool.labels)).collect()
}

/// The nodes an advertisement (or peer) with `selectors` covers.
pub(super) enum NodeScope<'s> {
    /// The snapshot has nodes: exactly these.
    Known(BTreeSet<&'s str>),
    /// The snapshot has no node.
    Unknown,
}

impl<'s> NodeScope<'s> {
    /// The nodes of `snapshot` that `selectors` select (all nodes when empty).
    pub fn of(snapshot: &'s Snapshot, selectors: &[LabelSelector]) -> Self {
        if snapshot.nodes.is_empty() {
            return NodeScope::Unknown;
        }
        let selectors = Selector::compile_list("", selectors).0;
        let nodes = snapshot
            .nodes
            .iter()
            .filter(|node| selectors.is_empty() || any_matches(&selectors, &node.metadata.labels));
        NodeScope::Known(nodes.map(|node| name_of(&node.object)).collect())
    }

    /// Whether some node is in both scopes. Without any node, none is, as
    /// MetalLB's `haveSharedNodes` finds: advertisements then never clash.
    pub fn shares_a_node(&self, other: &NodeScope<'_>) -> bool {
        match (self, other) {
            (NodeScope::Known(a), NodeScope::Known(b)) => a.iter().any(|node| b.contains(node)),
            _ => false,
        }
    }
}

/// Warns about each name in the list at `path` that names no pool: MetalLB
/// accepts it (the pool may come later) and announces nothing for it.
pub(super) fn check_pool_names<K>(
    snapshot: &Snapshot,
    findings: &mut Findings,
    object: &Located<K>,
    path: &str,
    names: &[String],
) where
    K: Resource<DynamicType = ()>,
{
    for (index, name) in names.iter().enumerate() {
        if !snapshot.pools.iter().any(|pool| name_of(&pool.object) == name) {
            let message = format!("no IPAddressPool named {name:?} (expected the name of an IPAddressPool)");
            findings.warning(object, &item(path, index), message);
        }
    }
}

/// Checks every L2 and BGP advertisement.
pub(super) fn check(snapshot: &Snapshot, parsed: &ParsedPools<'_>, findings: &mut Findings) {
    super::l2_advertisement::check(snapshot, findings);
    super::bgp_advertisement::check(snapshot, parsed, findings);
}
