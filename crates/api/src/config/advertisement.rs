//! `L2Advertisement` and `BGPAdvertisement`, typed: what they cover (pools,
//! nodes, Services) read by one rule, and what a BGP route carries resolved
//! (aggregation lengths as prefix lengths, community aliases as values).

use ferrolb_types::{BgpCommunity, IpFamily};
use kube_core::Resource;

use super::Source;
use crate::community::CommunityAliases;
use crate::diagnostic::Severity;
use crate::findings::{Findings, check_unique, item, name_of};
use crate::labels::LabelSet;
use crate::metallb::{BGPAdvertisement, LabelSelector};
use crate::selector::{Selector, any_matches};
use crate::snapshot::Located;

/// What an advertisement covers, as MetalLB reads it for both kinds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// `spec.ipAddressPools`: pools by name.
    pub pools: Vec<String>,
    /// `spec.ipAddressPoolSelectors`: pools by label.
    pub pool_selectors: Vec<Selector>,
    /// `spec.nodeSelectors`: none selects every node.
    pub node_selectors: Vec<Selector>,
    /// `spec.serviceSelectors`: none selects every Service.
    pub service_selectors: Vec<Selector>,
}

impl Scope {
    /// The scope written in `object`'s spec, its selectors compiled.
    fn resolve<K: Resource<DynamicType = ()>>(
        findings: &mut Findings,
        object: &Located<K>,
        pools: &[String],
        [pool_selectors, node_selectors, service_selectors]: [&[LabelSelector]; 3],
    ) -> Scope {
        check_unique(findings, object, "spec.ipAddressPools", pools, "pool", Severity::Error);
        Scope {
            pools: pools.to_vec(),
            pool_selectors: findings.selectors(object, "spec.ipAddressPoolSelectors", pool_selectors),
            node_selectors: findings.selectors(object, "spec.nodeSelectors", node_selectors),
            service_selectors: findings.selectors(object, "spec.serviceSelectors", service_selectors),
        }
    }

    /// Whether the advertisement covers the pool `pool` labelled `labels`:
    /// naming and selecting no pool covers every pool.
    pub fn covers_pool(&self, pool: &str, labels: &dyn LabelSet) -> bool {
        (self.pools.is_empty() && self.pool_selectors.is_empty())
            || self.pools.iter().any(|p| p == pool)
            || any_matches(&self.pool_selectors, &labels)
    }

    /// Whether it selects a node labelled `labels`.
    pub fn selects_node(&self, labels: &impl LabelSet) -> bool {
        self.node_selectors.is_empty() || any_matches(&self.node_selectors, labels)
    }

    /// Whether it selects a Service labelled `labels`.
    pub fn selects_service(&self, labels: &impl LabelSet) -> bool {
        self.service_selectors.is_empty() || any_matches(&self.service_selectors, labels)
    }
}

/// An `L2Advertisement`.
#[derive(Clone, Debug, PartialEq)]
pub struct L2Advertisement {
    /// `metadata.name`.
    pub name: String,
    /// What it covers.
    pub scope: Scope,
    /// `spec.interfaces`: none, every interface.
    pub interfaces: Vec<String>,
    /// `spec.preferredNodeSelectors`: weights that favour nodes in the election.
    pub preferred_node_selectors: Vec<Preference>,
    /// Where it was written.
    pub source: Source,
}

/// Range of a preferred node selector's weight (CRD schema).
const WEIGHTS: std::ops::RangeInclusive<i32> = 1..=100;

/// A weight given to the nodes a selector selects (`preferredNodeSelectors`).
#[derive(Clone, Debug, PartialEq)]
pub struct Preference {
    /// `weight`.
    pub weight: i32,
    /// `preference`, compiled.
    pub selector: Selector,
}

/// A `BGPAdvertisement` whose routes can be built.
#[derive(Clone, Debug, PartialEq)]
pub struct BgpAdvertisement {
    /// `metadata.name`.
    pub name: String,
    /// What it covers.
    pub scope: Scope,
    /// `spec.peers`: none, every peer.
    pub peers: Vec<String>,
    /// The prefix length of IPv4 routes (`aggregationLength`, 32 unless written).
    pub length_v4: u8,
    /// The prefix length of IPv6 routes (`aggregationLengthV6`, 128 unless written).
    pub length_v6: u8,
    /// `spec.localPref`; 0 is unset.
    pub local_pref: u32,
    /// `spec.communities` as values, sorted, once each.
    pub communities: Vec<BgpCommunity>,
    /// Where it was written.
    pub source: Source,
}

impl BgpAdvertisement {
    /// The prefix length of routes of `family`.
    pub fn length(&self, family: IpFamily) -> u8 {
        match family {
            IpFamily::V4 => self.length_v4,
            IpFamily::V6 => self.length_v6,
        }
    }

    /// Whether it sends routes to the peer named `peer`.
    pub fn sends_to(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|p| p == peer)
    }
}

pub(super) fn resolve_l2(
    index: usize,
    located: &Located<crate::metallb::L2Advertisement>,
    findings: &mut Findings,
) -> L2Advertisement {
    let spec = &located.spec;
    let selectors = [&*spec.ip_address_pool_selectors, &spec.node_selectors, &spec.service_selectors];
    // MetalLB accepts a repeated interface; it only does nothing.
    check_unique(findings, located, "spec.interfaces", &spec.interfaces, "interface", Severity::Warning);
    let preferred_node_selectors = spec
        .preferred_node_selectors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = item("spec.preferredNodeSelectors", i);
            if !WEIGHTS.contains(&p.weight) {
                let message = format!("weight {} is out of range (expected 1 to 100)", p.weight);
                findings.error(located, &format!("{path}.weight"), message);
            }
            Preference {
                weight: p.weight,
                selector: findings.selector(located, &format!("{path}.preference"), &p.preference),
            }
        })
        .collect();
    L2Advertisement {
        name: name_of(&located.object).to_owned(),
        scope: Scope::resolve(findings, located, &spec.ip_address_pools, selectors),
        interfaces: spec.interfaces.clone(),
        preferred_node_selectors,
        source: Source::of(index, located),
    }
}

/// The advertisement `located` describes, or `None` when an aggregation
/// length is out of range or a community names no alias and is no value
/// (each an error here). The aliases are those of the namespace's
/// `Community` objects, the only ones MetalLB reads.
pub(super) fn resolve_bgp(
    index: usize,
    located: &Located<BGPAdvertisement>,
    aliases: &CommunityAliases,
    findings: &mut Findings,
) -> Option<BgpAdvertisement> {
    let spec = &located.spec;
    let selectors = [&*spec.ip_address_pool_selectors, &spec.node_selectors, &spec.service_selectors];
    let scope = Scope::resolve(findings, located, &spec.ip_address_pools, selectors);
    for family in [IpFamily::V4, IpFamily::V6] {
        check_aggregation_length(located, family, findings);
    }
    check_unique(findings, located, "spec.peers", &spec.peers, "peer", Severity::Error);
    // MetalLB's FRR mode refuses it (frr-k8s only); the schema wants 1 to 10.
    if spec.as_path_prepend != 0 {
        let message = format!(
            "asPathPrepend {} is refused by MetalLB in FRR mode (only its frr-k8s backend prepends), and \
             ferrolb does not prepend (expected no asPathPrepend)",
            spec.as_path_prepend
        );
        findings.error(located, "spec.asPathPrepend", message);
    } else if located.fields.has("spec.asPathPrepend") {
        let message = "asPathPrepend 0 is out of range (expected 1 to 10, or no asPathPrepend)";
        findings.error(located, "spec.asPathPrepend", message);
    }
    // A uint32 in MetalLB's Go type, but its CRD declares the format int32.
    if i64::from(spec.local_pref) > i64::from(i32::MAX) {
        let message = format!(
            "localPref {} is out of range (expected 0 to {}, the int32 of MetalLB's CRD)",
            spec.local_pref,
            i32::MAX
        );
        findings.error(located, "spec.localPref", message);
    }
    // A negative IPv6 length is refused for each IPv6 pool the advertisement
    // selects (validate's rule), as MetalLB does: without one it is never used.
    let length = |value: i32, family: IpFamily| {
        in_range(value, family).then(|| u8::try_from(value.max(0)).unwrap_or_default())
    };
    let communities = &spec.communities;
    check_unique(findings, located, "spec.communities", communities, "community", Severity::Error);
    for (index, community) in spec.communities.iter().enumerate() {
        if let Some(message) = aliases.problem(community) {
            findings.error(located, &item("spec.communities", index), message);
        }
    }
    let mut communities =
        spec.communities.iter().map(|c| aliases.resolve(c).ok()).collect::<Option<Vec<BgpCommunity>>>()?;
    communities.sort_unstable();
    communities.dedup();
    Some(BgpAdvertisement {
        name: name_of(&located.object).to_owned(),
        scope,
        peers: spec.peers.clone(),
        length_v4: length(spec.aggregation_length_v4(), IpFamily::V4)?,
        length_v6: length(spec.aggregation_length_v6(), IpFamily::V6)?,
        local_pref: spec.local_pref,
        communities,
        source: Source::of(index, located),
    })
}

/// The field that holds the aggregation length of `family`, and its bounds.
pub(crate) fn aggregation_field(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "aggregationLength",
        IpFamily::V6 => "aggregationLengthV6",
    }
}

/// The aggregation length of `family`, if set; and the length in effect.
pub(crate) fn aggregation_length(advertisement: &BGPAdvertisement, family: IpFamily) -> (Option<i32>, i32) {
    let spec = &advertisement.spec;
    match family {
        IpFamily::V4 => (spec.aggregation_length, spec.aggregation_length_v4()),
        IpFamily::V6 => (spec.aggregation_length_v6, spec.aggregation_length_v6()),
    }
}

/// Whether an aggregation length passes MetalLB's schema and `config.For`:
/// IPv4 1 to 32; IPv6 at most 128, with no lower bound (a length below a
/// pool's prefix is refused per pool).
pub(crate) fn in_range(length: i32, family: IpFamily) -> bool {
    match family {
        IpFamily::V4 => (1..=32).contains(&length),
        IpFamily::V6 => length <= 128,
    }
}

/// Reports the aggregation length of `family` if MetalLB refuses it for
/// the advertisement alone (the rule against each pool is
/// [`crate::validate`]'s).
fn check_aggregation_length(
    advertisement: &Located<BGPAdvertisement>,
    family: IpFamily,
    findings: &mut Findings,
) {
    let (Some(length), _) = aggregation_length(advertisement, family) else {
        return;
    };
    let field = aggregation_field(family);
    let path = format!("spec.{field}");
    let bits = family.bits();
    if !in_range(length, family) {
        findings.error(
            advertisement,
            &path,
            match family {
                IpFamily::V4 => format!("{field} {length} is out of range (expected 1 to {bits})"),
                IpFamily::V6 => format!("{field} {length} is out of range (expected at most {bits})"),
            },
        );
    }
    if !advertisement.spec.service_selectors.is_empty() && length != i32::from(bits) {
        let message = format!(
            "{field} {length} is set together with serviceSelectors (expected the default {bits} when \
             serviceSelectors are set)"
        );
        findings.error(advertisement, &path, message);
    }
}
