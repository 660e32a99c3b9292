//! MetalLB's namespace: its webhooks refuse a `metallb.io` object created
//! anywhere else, and its controller lists its own namespace only, so an
//! object elsewhere (even one a webhook lets through, a `BGPPeer` with
//! `disableMP`) is never part of its configuration.

use kube_core::Resource;

use super::{Findings, kind_of};
use crate::config::is_in;
use crate::snapshot::{Located, Snapshot};

/// Reports every `metallb.io` object outside `namespace`.
pub(super) fn check(snapshot: &Snapshot, namespace: &str, findings: &mut Findings) {
    check_kind(&snapshot.pools, namespace, findings);
    check_kind(&snapshot.l2_advertisements, namespace, findings);
    check_kind(&snapshot.bgp_advertisements, namespace, findings);
    check_kind(&snapshot.bgp_peers, namespace, findings);
    check_kind(&snapshot.bfd_profiles, namespace, findings);
    check_kind(&snapshot.communities, namespace, findings);
}

fn check_kind<K: Resource<DynamicType = ()>>(
    objects: &[Located<K>],
    namespace: &str,
    findings: &mut Findings,
) {
    for object in objects {
        let its = object.meta().namespace.as_deref();
        if is_in(its, namespace) {
            continue;
        }
        let message = format!(
            "{} in namespace {:?}: MetalLB's webhook refuses it and its controller, which reads {namespace:?} \
             only, would ignore it (expected namespace {namespace:?}, or --namespace)",
            kind_of::<K>(),
            its.unwrap_or_default(),
        );
        findings.error(object, "metadata.namespace", message);
    }
}
