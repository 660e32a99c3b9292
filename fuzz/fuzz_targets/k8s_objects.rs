//! An API server (or whoever may create objects in the cluster) hands the watchers any
//! JSON it likes: Services, EndpointSlices, Nodes, Namespaces, Secrets and the
//! `metallb.io` objects. The input is a JSON list of objects, or one object; each is
//! decoded as the kind it names, as the watchers decode it, and trimmed as they trim it.
//! The cluster state they make then goes the controller's pure way: the snapshot
//! (`ClusterState::snapshot`), validation, the last good configuration, the allocation
//! (`allocation::decide`) and the Service writes and Events (`status::plan_decision`).
//! Nothing may panic, and a trimmed object reads the same as itself.
#![no_main]

use std::sync::Arc;

use ferrolb_api::validate::{Options as ValidateOptions, validated};
use ferrolb_k8s::allocation::decide;
use ferrolb_k8s::status::{Warned, plan_decision};
use ferrolb_k8s::validation::{LastGood, errors};
use ferrolb_k8s::{ClusterState, Watched};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NAMESPACE: &str = "metallb-system";

fuzz_target!(|data: &[u8]| {
    let objects = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(objects)) => objects,
        Ok(object) => vec![object],
        Err(_) => return,
    };
    let mut state = ClusterState::default();
    for object in objects {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
        let s = &mut state;
        match kind.as_str() {
            "IPAddressPool" => add(&mut s.pools, object),
            "L2Advertisement" => add(&mut s.l2_advertisements, object),
            "BGPAdvertisement" => add(&mut s.bgp_advertisements, object),
            "BGPPeer" => add(&mut s.bgp_peers, object),
            "BFDProfile" => add(&mut s.bfd_profiles, object),
            "Community" => add(&mut s.communities, object),
            "Service" => add(&mut s.services, object),
            "EndpointSlice" => add(&mut s.endpoint_slices, object),
            "Node" => add(&mut s.nodes, object),
            "Namespace" => add(&mut s.namespaces, object),
            "Secret" => add(&mut s.secrets, object),
            _ => {}
        }
    }
    let snapshot = Arc::new(state.snapshot(NAMESPACE));
    // As the controller's Validation::judge: the watchers read one namespace already.
    let (config, diagnostics) = validated(&snapshot, &ValidateOptions::any_namespace());
    let _ = errors(&diagnostics);
    if let Some(run) = LastGood::default().admit(snapshot, config, &diagnostics) {
        let options = ferrolb_ipam::Options::default();
        let decided = decide(run, None, &options);
        let plan = plan_decision(&decided, &options, &mut Warned::default());
        for write in &plan.writes {
            let _ = write.patch();
        }
    }
});

/// Decodes `object` as a `K`, as a watcher would, and keeps it trimmed.
fn add<K: Watched + serde::de::DeserializeOwned>(into: &mut Vec<Arc<K>>, object: Value) {
    if let Ok(mut decoded) = serde_json::from_value::<K>(object) {
        decoded.trim();
        assert!(decoded.same_as(&decoded), "a trimmed object reads the same as itself");
        into.push(Arc::new(decoded));
    }
}
