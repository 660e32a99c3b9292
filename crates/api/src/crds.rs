//! The CustomResourceDefinitions of every `metallb.io` kind, generated from
//! the types with MetalLB's group, names, versions and storage versions.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition,
};
use kube_core::CustomResourceExt;
use kube_core::crd::merge_crds;

use crate::metallb::{
    BFDProfile, BGPAdvertisement, BGPPeer, Community, ConfigurationState, IPAddressPool, L2Advertisement,
    ServiceBGPStatus, ServiceL2Status, v1beta1,
};

/// Every CRD, sorted by name, ready to apply.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut bgppeer = merge_crds(vec![v1beta1::BGPPeer::crd(), BGPPeer::crd()], "v1beta2")
        .expect("both BGPPeer versions share group, kind and scope");
    // Oldest first, as MetalLB's manifests list them.
    bgppeer.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
    // No conversion webhook: every v1beta1 field is a v1beta2 field of the
    // same shape, so the API server's own conversion (the apiVersion only)
    // loses nothing. Said outright, so that applying this CRD over MetalLB's
    // replaces its `Webhook` strategy.
    bgppeer.spec.conversion = Some(CustomResourceConversion { strategy: "None".to_owned(), webhook: None });
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
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds
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
