//! `L2Advertisement` and `BGPAdvertisement`, typed: what they cover (pools,
//! nodes, Services) read by one rule, and what a BGP route carries resolved
//! (aggregation lengths as prefix lengths, community aliases as values).

use ferrolb_types::{BgpCommunity, IpFamily};

use super::Source;
use crate::community::CommunityAliases;
use crate::findings::name_of;
use crate::labels::{LabelSet, any_matches};
use crate::metallb::{BGPAdvertisement, LabelSelector, PreferredNodeSelector};
use crate::snapshot::Located;

/// What an advertisement covers, as MetalLB reads it for both kinds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// `spec.ipAddressPools`: pools by name.
    pub pools: Vec<String>,
    /// `spec.ipAddressPoolSelectors`: pools by label.
    pub pool_selectors: Vec<LabelSelector>,
    /// `spec.nodeSelectors`: none selects every node.
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.serviceSelectors`: none selects every Service.
    pub service_selectors: Vec<LabelSelector>,
}

impl Scope {
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
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
    /// Where it was written.
    pub source: Source,
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
) -> L2Advertisement {
    let spec = &located.spec;
    L2Advertisement {
        name: name_of(&located.object).to_owned(),
        scope: Scope {
            pools: spec.ip_address_pools.clone(),
            pool_selectors: spec.ip_address_pool_selectors.clone(),
            node_selectors: spec.node_selectors.clone(),
            service_selectors: spec.service_selectors.clone(),
        },
        interfaces: spec.interfaces.clone(),
        preferred_node_selectors: spec.preferred_node_selectors.clone(),
        source: Source::of(index, located),
    }
}

/// The advertisement `located` describes, or `None` when a community names
/// no alias and is no value, or an aggregation length is out of range:
/// `validate` reports both, with the rules that need the other objects
/// (which pools it selects, which aliases exist).
pub(super) fn resolve_bgp(
    index: usize,
    located: &Located<BGPAdvertisement>,
    aliases: &CommunityAliases,
) -> Option<BgpAdvertisement> {
    let spec = &located.spec;
    let length = |value: i32, family: IpFamily| {
        // A negative IPv6 length is refused for each IPv6 pool the
        // advertisement selects, as MetalLB does: without one it is never used.
        let value = if family == IpFamily::V6 { value.max(0) } else { value };
        u8::try_from(value).ok().filter(|&l| l <= family.bits())
    };
    let mut communities =
        spec.communities.iter().map(|c| aliases.resolve(c).ok()).collect::<Option<Vec<BgpCommunity>>>()?;
    communities.sort_unstable();
    communities.dedup();
    Some(BgpAdvertisement {
        name: name_of(&located.object).to_owned(),
        scope: Scope {
            pools: spec.ip_address_pools.clone(),
            pool_selectors: spec.ip_address_pool_selectors.clone(),
            node_selectors: spec.node_selectors.clone(),
            service_selectors: spec.service_selectors.clone(),
        },
        peers: spec.peers.clone(),
        length_v4: length(spec.aggregation_length_v4(), IpFamily::V4)?,
        length_v6: length(spec.aggregation_length_v6(), IpFamily::V6)?,
        local_pref: spec.local_pref,
        communities,
        source: Source::of(index, located),
    })
}
