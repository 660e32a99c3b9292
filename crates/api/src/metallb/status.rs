//! Resources that ferrolb writes to report what it did: which node announces a
//! Service (L2 or BGP), and whether the configuration as a whole is valid.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube_derive::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Nothing to configure: the resource only carries a status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceL2Status",
    doc = "The node answering ARP/NDP for a Service, written by the speaker.",
    plural = "servicel2statuses",
    namespaced,
    status = "ServiceL2StatusStatus",
    printcolumn = r#"{"name":"Allocated Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Service Name","type":"string","jsonPath":".status.serviceName"}"#,
    printcolumn = r#"{"name":"Service Namespace","type":"string","jsonPath":".status.serviceNamespace"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
pub struct ServiceL2StatusSpec {}

/// The node answering ARP/NDP for a Service, and on which interfaces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
// MetalLB's rules: an object stays about one node and one Service for
// good (the speaker deletes it and makes another instead).
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct ServiceL2StatusStatus {
    /// The announcing node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("Value is immutable"))]
    pub node: String,
    /// Name of the announced Service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("Value is immutable"))]
    pub service_name: String,
    /// Namespace of the announced Service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("Value is immutable"))]
    pub service_namespace: String,
    /// Interfaces the node answers on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceInfo>,
}

/// A host interface.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct InterfaceInfo {
    /// The interface's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Nothing to configure: the resource only carries a status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceBGPStatus",
    doc = "A node announcing a Service by BGP, written by the speaker.",
    plural = "servicebgpstatuses",
    namespaced,
    status = "ServiceBGPStatusStatus",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.node"}"#,
    printcolumn = r#"{"name":"Service Name","type":"string","jsonPath":".status.serviceName"}"#,
    printcolumn = r#"{"name":"Service Namespace","type":"string","jsonPath":".status.serviceNamespace"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
pub struct ServiceBGPStatusSpec {}

/// A node announcing a Service by BGP, and to which peers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
// MetalLB's rules: an object stays about one node and one Service for
// good (the speaker deletes it and makes another instead).
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct ServiceBGPStatusStatus {
    /// The announcing node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("Value is immutable"))]
    pub node: String,
    /// Name of the announced Service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("Value is immutable"))]
    pub service_name: String,
    /// Namespace of the announced Service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("Value is immutable"))]
    pub service_namespace: String,
    /// Names of the `BGPPeer`s the routes go to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

/// No fields: a `ConfigurationState` has no spec, only a status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta1",
    kind = "ConfigurationState",
    doc = "Whether the configuration a component read is valid, written by that component.",
    plural = "configurationstates",
    namespaced,
    // As MetalLB's: no `spec` on the wire or in the schema.
    no_spec,
    status = "ConfigurationStateStatus",
    printcolumn = r#"{"name":"Result","type":"string","jsonPath":".status.result"}"#,
    printcolumn = r#"{"name":"ErrorSummary","type":"string","jsonPath":".status.errorSummary"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
pub struct ConfigurationStateSpec {}

/// Whether the last configuration a component read was valid, and why not.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStateStatus {
    /// The verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConfigurationResult>,
    /// Every problem found, one per line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_summary: String,
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = condition_markers)]
    pub conditions: Vec<Condition>,
}

/// A condition's `reason`: CamelCase, as `metav1.Condition` has it.
const REASON: &str = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";
/// A condition's `type`: a name, optionally prefixed by a DNS subdomain.
const CONDITION_TYPE: &str = concat!(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?",
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
);

/// `metav1.Condition`'s own markers, which k8s-openapi's schema leaves out:
/// conditions are a map keyed by `type` (a server-side apply merges them by
/// type), and each field is bounded as in every Kubernetes API.
fn condition_markers(schema: &mut Schema) {
    schema.insert("x-kubernetes-list-type".to_owned(), json!("map"));
    schema.insert("x-kubernetes-list-map-keys".to_owned(), json!(["type"]));
    let Some(fields) = schema.pointer_mut("/items/properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let bounds = [
        ("message", json!({"maxLength": 32768})),
        ("observedGeneration", json!({"minimum": 0})),
        ("reason", json!({"maxLength": 1024, "minLength": 1, "pattern": REASON})),
        ("status", json!({"enum": ["True", "False", "Unknown"]})),
        ("type", json!({"maxLength": 316, "pattern": CONDITION_TYPE})),
    ];
    for (field, bound) in bounds {
        if let (Some(field), Some(bound)) =
            (fields.get_mut(field).and_then(|f| f.as_object_mut()), bound.as_object())
        {
            field.extend(bound.clone());
        }
    }
}

/// Verdict on a configuration.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConfigurationResult {
    /// Every rule holds; the configuration is in use.
    Valid,
    /// A rule is broken; the last valid configuration stays in use.
    Invalid,
    /// Not checked yet.
    Unknown,
}
