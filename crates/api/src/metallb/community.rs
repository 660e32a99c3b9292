use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Names for BGP community values, usable in `BGPAdvertisement.spec.communities`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "Community",
    doc = "Names for BGP community values, usable in BGPAdvertisement communities.",
    plural = "communities",
    namespaced,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct CommunitySpec {
    /// The aliases this resource defines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<CommunityAlias>,
}

/// One alias: a name standing for a community value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommunityAlias {
    /// The name used in place of the value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A standard (`AA:NN`) or large (`large:A:B:C`) community.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}
