//! What controller-gen writes into MetalLB's CRDs from its Go types and
//! kubebuilder markers that kube-derive and schemars do not write from
//! ferrolb's types: applied to every generated CRD, so that it reads as
//! MetalLB's, field for field (tests/it/crd_parity.rs holds them side by side).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

/// Kinds whose Go type tags `spec` `omitempty`: an object may leave it out.
/// `IPAddressPool` requires one, as in MetalLB; so does `BGPPeer`, which
/// cannot do without `myASN` (deploy/README.md lists why).
const SPEC_MAY_BE_LEFT_OUT: [&str; 6] =
    ["BFDProfile", "BGPAdvertisement", "Community", "L2Advertisement", "ServiceBGPStatus", "ServiceL2Status"];

/// Rewrites `crd` as controller-gen would have written it.
pub(super) fn apply(crd: &mut CustomResourceDefinition) {
    let names = &mut crd.spec.names;
    // The API server would default it to the same; written out, as MetalLB's is.
    names.list_kind = Some(format!("{}List", names.kind));
    let spec_optional = SPEC_MAY_BE_LEFT_OUT.contains(&names.kind.as_str());
    for version in &mut crd.spec.versions {
        with_status_subresource(version);
        let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) else {
            continue;
        };
        with_type_meta(schema);
        if spec_optional {
            without_required_spec(schema);
        }
        walk(schema, &mut |node| {
            without_nullable(node);
            without_title(node);
            with_go_integer_format(node);
        });
    }
}

/// Every MetalLB kind has a status subresource (most with an empty
/// status), so a write of the object leaves its status alone and the
/// reverse; a kind whose type has no status gets an empty one.
fn with_status_subresource(version: &mut CustomResourceDefinitionVersion) {
    let subresources = version.subresources.get_or_insert_with(CustomResourceSubresources::default);
    subresources.status.get_or_insert_with(|| CustomResourceSubresourceStatus(serde_json::json!({})));
    if let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
        let properties = schema.properties.get_or_insert_with(Default::default);
        properties.entry("status".to_owned()).or_insert_with(|| object_of_type("object"));
    }
}

/// `apiVersion`, `kind` and `metadata`, which kube-derive leaves to the API
/// server and controller-gen writes out.
fn with_type_meta(schema: &mut JSONSchemaProps) {
    let properties = schema.properties.get_or_insert_with(Default::default);
    for (name, type_) in [("apiVersion", "string"), ("kind", "string"), ("metadata", "object")] {
        properties.entry(name.to_owned()).or_insert_with(|| object_of_type(type_));
    }
}

fn object_of_type(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps { type_: Some(type_.to_owned()), ..JSONSchemaProps::default() }
}

/// kube-derive makes `spec` required whatever the type says; MetalLB's
/// `omitempty` specs are not.
fn without_required_spec(schema: &mut JSONSchemaProps) {
    if let Some(required) = &mut schema.required {
        required.retain(|name| name != "spec");
        if required.is_empty() {
            schema.required = None;
        }
    }
}

/// MetalLB's optional fields (Go pointers, `omitempty`) are optional, not
/// nullable: the API server prunes an explicit null from them instead of
/// storing it.
fn without_nullable(node: &mut JSONSchemaProps) {
    node.nullable = None;
}

/// schemars titles the root schema after the Rust type; controller-gen
/// writes no title.
fn without_title(node: &mut JSONSchemaProps) {
    node.title = None;
}

/// OpenAPI has no unsigned formats: controller-gen writes Go's `uint32` as
/// `int32`, and no format for `uint8` and `uint16`. (MetalLB's AS numbers
/// say `int64` outright, as their fields do here.)
fn with_go_integer_format(node: &mut JSONSchemaProps) {
    node.format = match node.format.take().as_deref() {
        Some("uint32") => Some("int32".to_owned()),
        Some("uint8" | "uint16") => None,
        other => other.map(str::to_owned),
    };
}

/// Calls `visit` on `schema` and on every schema below it.
fn walk(schema: &mut JSONSchemaProps, visit: &mut impl FnMut(&mut JSONSchemaProps)) {
    visit(schema);
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        walk(child, visit);
    }
    match &mut schema.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => walk(items, visit),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(|i| walk(i, visit)),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = &mut schema.additional_properties {
        walk(values, visit);
    }
    for alternatives in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of].into_iter().flatten() {
        alternatives.iter_mut().for_each(|a| walk(a, visit));
    }
}
