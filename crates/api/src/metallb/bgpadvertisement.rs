use kube_derive::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::LabelSelector;
use super::schema::atomic_selectors;

/// Most communities on one advertisement, far more than a route carries in
/// practice: the API server refuses a CRD whose CEL rules may cost more than
/// its budget, and an unbounded list (or string) is estimated as 3 MiB long.
pub(crate) const MAX_COMMUNITIES: u32 = 256;
/// Longest community as written: an alias name (a DNS-style name at most) or
/// a value.
pub(crate) const MAX_COMMUNITY_LEN: u32 = 253;

/// Announces the addresses of some pools to BGP peers, with route attributes.
// The `x_kube` rules are the per-object rules of `validate::bgp_advertisement`,
// as CEL that the API server checks.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPAdvertisement",
    doc = "Announces the addresses of some pools to BGP peers, with route attributes.",
    plural = "bgpadvertisements",
    namespaced,
    printcolumn = r#"{"name":"IPAddressPools","type":"string","jsonPath":".spec.ipAddressPools"}"#,
    printcolumn = r#"{"name":"IPAddressPool Selectors","type":"string","jsonPath":".spec.ipAddressPoolSelectors"}"#,
    printcolumn = r#"{"name":"Peers","type":"string","jsonPath":".spec.peers"}"#,
    printcolumn = r#"{"name":"Node Selectors","type":"string","jsonPath":".spec.nodeSelectors","priority":10}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[x_kube(
    crates(kube_core = "::kube_core"),
    // The rule is MetalLB's own, word for word, so that both CRDs refuse the
    // same objects; the message says what is expected.
    validation = Rule::new(
        "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 \
         || ((!has(self.aggregationLength) || self.aggregationLength == 32) \
         && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))"
    )
    .message(
        "aggregationLength or aggregationLengthV6 is set together with serviceSelectors (expected the \
         defaults 32 and 128 when serviceSelectors are set)"
    ),
)]
#[serde(rename_all = "camelCase")]
pub struct BGPAdvertisementSpec {
    /// Prefix length IPv4 addresses are announced with, to roll several
    /// addresses into one route. Defaults to 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32), extend("default" = 32))]
    pub aggregation_length: Option<i32>,
    /// Prefix length IPv6 addresses are announced with. Defaults to 128.
    #[serde(default, rename = "aggregationLengthV6", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 128), extend("default" = 128))]
    pub aggregation_length_v6: Option<i32>,
    /// BGP LOCAL_PREF of the routes (iBGP peers only); a higher value wins.
    /// Zero means unset, as in MetalLB.
    // No bound: the schema's format is MetalLB's `int32` (a Go uint32 written
    // by controller-gen), and kube-apiserver refuses every object that sets
    // the field when a bound does not fit that format.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub local_pref: u32,
    /// Times the AS number is prepended to the routes' AS_PATH, 1 to 10; 0
    /// means unset. MetalLB applies it with its frr-k8s backend only (its
    /// native one refuses it); ferrolb reads it and does not apply it.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    #[schemars(range(min = 1, max = 10))]
    pub as_path_prepend: u8,
    /// BGP communities of the routes: `AA:NN`, `large:A:B:C`, or the name of
    /// an alias from a `Community` resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_COMMUNITIES), inner(length(max = MAX_COMMUNITY_LEN)))]
    // A word without a colon names an alias, which may come later; with a
    // colon, a value was meant.
    #[x_kube(validation = Rule::new(concat!("self.all(c, !c.contains(':') || ", cel_community_literal!(), ")"))
        .message(
            "invalid community (expected AA:NN with both parts from 0 to 65535, large:A:B:C with each \
             part from 0 to 4294967295, or the name of an alias of a Community resource)"
        ))]
    pub communities: Vec<String>,
    /// Pools announced, by name. With no pool named or selected, every pool is.
    #[serde(default, rename = "ipAddressPools", skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    /// Pools announced, by label selector.
    #[serde(default, rename = "ipAddressPoolSelectors", skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that announce (become next hops); every node when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub node_selectors: Vec<LabelSelector>,
    /// Names of the `BGPPeer`s the routes go to; every peer when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Services announced; every Service of the selected pools when empty.
    /// Only with the default aggregation lengths (32 and 128).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub service_selectors: Vec<LabelSelector>,
}

impl BGPAdvertisementSpec {
    /// The IPv4 aggregation length, with MetalLB's default.
    pub fn aggregation_length_v4(&self) -> i32 {
        self.aggregation_length.unwrap_or(32)
    }

    /// The IPv6 aggregation length, with MetalLB's default.
    pub fn aggregation_length_v6(&self) -> i32 {
        self.aggregation_length_v6.unwrap_or(128)
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}
