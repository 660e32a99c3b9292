//! BGPPeer in its two served versions, with no conversion webhook: written
//! in one, read in the other, it says what MetalLB's conversion webhook
//! (`api/v1beta1/bgppeer_conversion.go`, run on MetalLB's own code to get
//! the values below) makes of it.

use serde_json::{Value, json};

use crate::support::{Cleanup, Cluster, NAMESPACE};

fn peer(version: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: metallb.io/{version}\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: {NAMESPACE}}}\nspec:\n{spec}"
    )
}

fn read(cluster: &Cluster, version: &str, name: &str) -> Value {
    cluster.kubectl_json(&["get", &format!("bgppeers.{version}.metallb.io"), "-n", NAMESPACE, name])["spec"]
        .clone()
}

/// v1beta1 without timers reads as v1beta2 with both `0s`, as MetalLB's
/// webhook converts it; v1beta2 reads as v1beta1 without what v1beta1 has
/// no field for.
pub fn bgppeer_versions_convert_as_metallbs_webhook(cluster: &Cluster) {
    cluster.deploy();
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&["bgppeers.metallb.io", "-n", NAMESPACE, "conversion-old", "conversion-new"]);
    let selectors = "  nodeSelectors:\n  - matchLabels: {rack: r1}\n    matchExpressions: [{key: zone, operator: In, values: [a, b]}]\n";
    let old = format!("  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n{selectors}");
    let printed =
        cluster.try_apply(&peer("v1beta1", "conversion-old", &old)).unwrap_or_else(|e| panic!("{e}"));
    assert!(printed.contains("created"), "{printed}");
    // MetalLB's ConvertTo gives holdTime and keepaliveTime "0s" (and an empty
    // passwordSecret, which names no Secret: ferrolb stores none); the
    // v1beta2 schema's defaults come on top, the same with either CRD.
    let expected = json!({
        "myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1",
        "holdTime": "0s", "keepaliveTime": "0s",
        "nodeSelectors": [{"matchLabels": {"rack": "r1"}, "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}],
        "disableMP": false, "dualStackAddressFamily": false, "peerPort": 179,
    });
    assert_eq!(read(cluster, "v1beta2", "conversion-old"), expected, "v1beta1 read as v1beta2");

    let new = "  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.2\n  holdTime: 90s\n  vrf: red\n  \
               passwordSecret: {name: s}\n  enableGracefulRestart: true\n";
    cluster.try_apply(&peer("v1beta2", "conversion-new", new)).unwrap_or_else(|e| panic!("{e}"));
    // MetalLB's ConvertFrom drops what v1beta1 cannot say, and the API server
    // drops the same (pruned to the v1beta1 schema). The one difference:
    // MetalLB writes the keepaliveTime the object does not have as "0s", the
    // API server leaves it out (it defaults reads in the stored version
    // only). Only a client reading v1beta1 sees it (deploy/README.md).
    let expected = json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.2", "holdTime": "90s", "peerPort": 179});
    assert_eq!(read(cluster, "v1beta1", "conversion-new"), expected, "v1beta2 read as v1beta1");
    // Read in its own version, nothing was lost.
    let stored = read(cluster, "v1beta2", "conversion-new");
    assert_eq!((stored["vrf"].as_str(), stored["passwordSecret"]["name"].as_str()), (Some("red"), Some("s")));
}
