//! `IPAddressPool`, typed: its address entries parsed once (as Go's
//! `net.ParseCIDR` and MetalLB's range syntax read them) and who may use it.

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_types::{IpFamily, IpRange};

use super::Source;
use crate::diagnostic::Severity;
use crate::findings::{Findings, check_unique, item, name_of};
use crate::labels::LabelSet;
use crate::metallb::IPAddressPool;
use crate::selector::{Selector, any_matches};
use crate::snapshot::Located;

/// A pool, ready to allocate from and to advertise.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`, which advertisements select pools by.
    pub labels: BTreeMap<String, String>,
    /// The entries of `spec.addresses` that parse, in order (the others are
    /// errors of [`resolve`](super::resolve)).
    pub ranges: Vec<PoolRange>,
    /// `spec.autoAssign` (default true).
    pub auto_assign: bool,
    /// `spec.avoidBuggyIPs`: no IPv4 address ending in `.0` or `.255`.
    pub avoid_buggy_ips: bool,
    /// `spec.serviceAllocation`: `None` lets every Service use the pool.
    pub allocation: Option<ServiceAllocation>,
    /// Where it was written.
    pub source: Source,
}

/// One entry of `spec.addresses` that parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolRange {
    /// Its index in `spec.addresses`.
    pub index: usize,
    /// The addresses it covers.
    pub range: IpRange,
}

/// Which Services may use a pool, and how it ranks (`spec.serviceAllocation`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAllocation {
    /// Lower first; `None` (no priority, or 0) after every pool with one.
    pub priority: Option<i32>,
    /// Namespaces whose Services may use the pool.
    pub namespaces: BTreeSet<String>,
    /// Namespaces selected by label.
    pub namespace_selectors: Vec<Selector>,
    /// Services selected by label.
    pub service_selectors: Vec<Selector>,
}

impl ServiceAllocation {
    /// Whether a Service in `namespace` (labelled `namespace_labels`) may
    /// use the pool: its namespace is listed or selected, when the pool
    /// names namespaces. The same for every Service of the namespace.
    pub fn allows_namespace(&self, namespace: &str, namespace_labels: &dyn LabelSet) -> bool {
        let any_namespace = self.namespaces.is_empty() && self.namespace_selectors.is_empty();
        any_namespace
            || self.namespaces.contains(namespace)
            || any_matches(&self.namespace_selectors, &namespace_labels)
    }

    /// Whether a Service with `labels` may use the pool: one service
    /// selector matches, when the pool has any.
    pub fn allows_service(&self, labels: &dyn LabelSet) -> bool {
        self.service_selectors.is_empty() || any_matches(&self.service_selectors, &labels)
    }
}

impl Pool {
    /// Whether the pool holds addresses of `family`.
    pub fn has_family(&self, family: IpFamily) -> bool {
        self.ranges.iter().any(|r| r.family() == family)
    }
}

impl PoolRange {
    /// The family of the entry.
    pub fn family(&self) -> IpFamily {
        self.range.family()
    }

    /// The shortest prefix among the fewest CIDRs that cover the entry (for a
    /// CIDR, its own length), as MetalLB compares aggregation lengths with.
    pub fn shortest_prefix(&self) -> u8 {
        let cidrs = self.range.cidrs();
        cidrs.iter().map(|net| net.prefix_len()).min().unwrap_or(self.family().bits())
    }
}

/// The pool `located` describes (item `index` of the snapshot's pools); an
/// entry that does not parse is an error and left out.
pub(super) fn resolve(index: usize, located: &Located<IPAddressPool>, findings: &mut Findings) -> Pool {
    let spec = &located.spec;
    if spec.addresses.is_empty() {
        findings.error(located, "spec.addresses", "no addresses (expected at least one CIDR or range)");
    }
    let mut ranges = Vec::with_capacity(spec.addresses.len());
    for (index, text) in spec.addresses.iter().enumerate() {
        match IpRange::parse(text) {
            Ok(range) => ranges.push(PoolRange { index, range }),
            Err(error) => findings.error(located, &item("spec.addresses", index), error.to_string()),
        }
    }
    if let Some(allocation) = &spec.service_allocation {
        let (path, namespaces) = ("spec.serviceAllocation.namespaces", &allocation.namespaces);
        check_unique(findings, located, path, namespaces, "namespace", Severity::Error);
    }
    let allocation = spec.service_allocation.as_ref().map(|a| ServiceAllocation {
        priority: Some(a.priority).filter(|p| *p > 0),
        namespaces: a.namespaces.iter().cloned().collect(),
        namespace_selectors: findings.selectors(
            located,
            "spec.serviceAllocation.namespaceSelectors",
            &a.namespace_selectors,
        ),
        service_selectors: findings.selectors(
            located,
            "spec.serviceAllocation.serviceSelectors",
            &a.service_selectors,
        ),
    });
    Pool {
        name: name_of(&located.object).to_owned(),
        labels: located.metadata.labels.clone().unwrap_or_default(),
        ranges,
        auto_assign: spec.auto_assign(),
        avoid_buggy_ips: spec.avoid_buggy_ips,
        allocation,
        source: Source::of(index, located),
    }
}
