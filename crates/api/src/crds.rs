//! The CustomResourceDefinitions of every `metallb.io` kind, generated from
//! the types with MetalLB's group, names, versions and storage versions.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition, CustomResourceDefinitionVersion, JSON,
    JSONSchemaProps,
};
use kube_core::CustomResourceExt;
use kube_core::crd::merge_crds;

use crate::metallb::{
    BFDProfile, BGPAdvertisement, BGPPeer, Community, ConfigurationState, IPAddressPool, L2Advertisement,
    ServiceBGPStatus, ServiceL2Status, v1beta1,
};

mod controller_gen;

/// Every CRD, sorted by name, ready to apply.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut bgppeer = merge_crds(vec![v1beta1::BGPPeer::crd(), BGPPeer::crd()], "v1beta2")
        .expect("both BGPPeer versions share group, kind and scope");
    // Oldest first, as MetalLB's manifests list them.
    bgppeer.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
    // No conversion webhook: every v1beta1 field is a v1beta2 field of the
    // same shape, so the API server's own conversion (the apiVersion only)
    // gives what MetalLB's webhook gives, once v1beta1's timers default as
    // its conversion sets them (below). Said outright, so that applying this
    // CRD over MetalLB's replaces its `Webhook` strategy.
    bgppeer.spec.conversion = Some(CustomResourceConversion { strategy: "None".to_owned(), webhook: None });
    v1beta1_timers_default_to_zero(&mut bgppeer);
    let mut crds = vec![
        BFDProfile::crd(),
        BGPAdvertisement::crd(),
        bgppeer,
        Community::crd(),
        ConfigurationState::crd(),
        IPAddressPool::crd(),
        L2Advertisement::crd(),
        ServiceBGPStatus::crd(),
        ServiceL2Status::crd(),
    ];
    crds.iter_mut().for_each(controller_gen::apply);
    crds.iter_mut().for_each(optional_spec_defaults_to_empty);
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds
}

/// The `spec` properties of every version of `crd`, where its schema has one.
fn specs(crd: &mut CustomResourceDefinition) -> impl Iterator<Item = (&str, &mut JSONSchemaProps)> {
    crd.spec.versions.iter_mut().filter_map(|version| {
        let schema = version.schema.as_mut()?.open_api_v3_schema.as_mut()?;
        let spec = schema.properties.as_mut()?.get_mut("spec")?;
        Some((version.name.as_str(), spec))
    })
}

/// A kind whose `spec` may be left out (MetalLB's documentation shows such
/// an L2Advertisement) gets `{}` instead from the API server, on every read
/// too, objects stored before a move from MetalLB included: the watchers'
/// typed objects always have a spec, as the file loader's do.
fn optional_spec_defaults_to_empty(crd: &mut CustomResourceDefinition) {
    let required = |version: &CustomResourceDefinitionVersion| {
        version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| s.required.as_ref())
            .is_some_and(|r| r.iter().any(|name| name == "spec"))
    };
    let optional: Vec<bool> = crd.spec.versions.iter().map(|v| !required(v)).collect();
    for ((_, spec), optional) in specs(crd).zip(optional) {
        if optional {
            spec.default = Some(JSON(serde_json::json!({})));
        }
    }
}

/// MetalLB's webhook converts a v1beta1 BGPPeer without `holdTime` or
/// `keepaliveTime` into v1beta2 with both `0s` (v1beta1's fields are not
/// pointers, so their zero is written out). The same defaults in the v1beta1
/// schema make the API server store the same, with no webhook: it defaults
/// an object in the version it is written in.
fn v1beta1_timers_default_to_zero(crd: &mut CustomResourceDefinition) {
    for (version, spec) in specs(crd) {
        if version != "v1beta1" {
            continue;
        }
        for timer in ["holdTime", "keepaliveTime"] {
            if let Some(property) = spec.properties.as_mut().and_then(|p| p.get_mut(timer)) {
                property.default = Some(JSON(serde_json::json!("0s")));
            }
        }
    }
}

#[cfg(test)]
mod rules;

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        all().into_iter().map(|c| c.metadata.name.unwrap_or_default()).collect()
    }

    #[test]
    fn crd_names_are_metallbs() {
        assert_eq!(
            names(),
            [
                "bfdprofiles.metallb.io",
                "bgpadvertisements.metallb.io",
                "bgppeers.metallb.io",
                "communities.metallb.io",
                "configurationstates.metallb.io",
                "ipaddresspools.metallb.io",
                "l2advertisements.metallb.io",
                "servicebgpstatuses.metallb.io",
                "servicel2statuses.metallb.io",
            ]
        );
    }

    #[test]
    fn bgppeer_serves_two_versions_and_stores_v1beta2() {
        let crd = all().into_iter().find(|c| c.spec.names.kind == "BGPPeer").unwrap();
        let versions: Vec<_> =
            crd.spec.versions.iter().map(|v| (v.name.as_str(), v.served, v.storage)).collect();
        assert_eq!(versions, [("v1beta1", true, false), ("v1beta2", true, true)]);
        let conversion = crd.spec.conversion.expect("a conversion strategy");
        assert_eq!((conversion.strategy.as_str(), conversion.webhook), ("None", None));
    }
}
