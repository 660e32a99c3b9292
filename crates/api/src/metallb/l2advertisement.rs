use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabelSelector;
use super::schema::atomic_selectors;

/// Announces the addresses of some pools on the local network by ARP and NDP.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta1",
    kind = "L2Advertisement",
    doc = "Announces the addresses of some pools on the local network by ARP and NDP.",
    plural = "l2advertisements",
    namespaced,
    printcolumn = r#"{"name":"IPAddressPools","type":"string","jsonPath":".spec.ipAddressPools"}"#,
    printcolumn = r#"{"name":"IPAddressPool Selectors","type":"string","jsonPath":".spec.ipAddressPoolSelectors"}"#,
    printcolumn = r#"{"name":"Interfaces","type":"string","jsonPath":".spec.interfaces"}"#,
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
pub struct L2AdvertisementSpec {
    /// Pools announced, by name. With no pool named or selected, every pool is.
    #[serde(default, rename = "ipAddressPools", skip_serializing_if = "Vec::is_empty")]
    pub ip_address_pools: Vec<String>,
    /// Pools announced, by label selector.
    #[serde(default, rename = "ipAddressPoolSelectors", skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that may announce; every node when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub node_selectors: Vec<LabelSelector>,
    /// Host interfaces to answer ARP/NDP on; all interfaces when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    /// Services announced; every Service of the selected pools when empty.
    /// Services selected here cannot share an IP with allow-shared-ip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub service_selectors: Vec<LabelSelector>,
    /// Soft preferences in the election of the announcing node: a matching
    /// node gains the weight, and the highest total wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
}

/// A weighted preference for some nodes in the L2 leader election.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferredNodeSelector {
    /// Score a matching node gains, 1 to 100; weights of several matching
    /// selectors add up.
    #[schemars(range(min = 1, max = 100))]
    pub weight: i32,
    /// The nodes that gain the weight; an empty selector matches every node.
    #[schemars(transform = atomic_selectors)]
    pub preference: LabelSelector,
}
