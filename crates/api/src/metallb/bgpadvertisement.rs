use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabelSelector;

/// Announces the addresses of some pools to BGP peers, with route attributes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
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
#[serde(rename_all = "camelCase")]
pub struct BGPAdvertisementSpec {
    /// Prefix length IPv4 addresses are announced with, to roll several
    /// addresses into one route. Defaults to 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), extend("default" = 32))]
    pub aggregation_length: Option<i32>,
    /// Prefix length IPv6 addresses are announced with. Defaults to 128.
    #[serde(default, rename = "aggregationLengthV6", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 128))]
    pub aggregation_length_v6: Option<i32>,
    /// BGP LOCAL_PREF of the routes (iBGP peers only); a higher value wins.
    /// Zero means unset, as in MetalLB.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub local_pref: u32,
    /// BGP communities of the routes: `AA:NN`, `large:A:B:C`, or the name of
    /// an alias from a `Community` resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Pools announced, by name. With no pool named or selected, every pool is.
    #[serde(default, rename = "ipAddressPools", skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    /// Pools announced, by label selector.
    #[serde(default, rename = "ipAddressPoolSelectors", skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that announce (become next hops); every node when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LabelSelector>,
    /// Names of the `BGPPeer`s the routes go to; every peer when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Services announced; every Service of the selected pools when empty.
    /// Only with the default aggregation lengths (32 and 128).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
