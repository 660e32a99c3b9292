use kube_derive::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most aliases in one resource: the API server refuses a CRD whose CEL
/// rules may cost more than its budget, and an unbounded list (or string) is
/// estimated as 3 MiB long.
pub(crate) const MAX_ALIASES: u32 = 1024;
/// Longest community value: `large:` and three 10-digit numbers are 38
/// characters.
pub(crate) const MAX_VALUE_LEN: u32 = 64;

/// Names for BGP community values, usable in `BGPAdvertisement.spec.communities`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    derive = "PartialEq",
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
    #[schemars(length(max = MAX_ALIASES))]
    pub communities: Vec<CommunityAlias>,
}

/// One alias: a name standing for a community value.
// The `x_kube` rules are the per-alias rules of `validate::community`, as CEL
// that the API server checks; a name defined twice stays in `validate`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[x_kube(
    crates(kube_core = "::kube_core"),
    validation = Rule::new("has(self.name) && self.name != ''")
        .message("alias name is empty (expected a name)")
        .field_path(".name"),
    validation = Rule::new(concat!("has(self.value) && [self.value].all(c, ", cel_community_literal!(), ")"))
        .message(
            "invalid community (expected AA:NN with both parts from 0 to 65535 or large:A:B:C with \
             each part from 0 to 4294967295)"
        )
        .field_path(".value"),
)]
#[serde(rename_all = "camelCase")]
pub struct CommunityAlias {
    /// The name used in place of the value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A standard (`AA:NN`) or large (`large:A:B:C`) community.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = MAX_VALUE_LEN))]
    pub value: String,
}
