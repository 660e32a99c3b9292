//! `kubectl apply -f deploy/ferrolb.yaml` on a real API server, and MetalLB
//! configurations applied over ferrolb's CRDs unchanged.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Cleanup, Cluster, documents};

/// Every CRD is accepted (structural schemas, CEL rules within their cost
/// budget), its names too, and becomes Established.
pub fn ferrolb_yaml_applies_and_every_crd_is_established(cluster: &Cluster) {
    let printed = cluster.deploy();
    let crds: Vec<String> =
        ferrolb_api::crds::all().into_iter().map(|c| c.metadata.name.expect("a named CRD")).collect();
    for crd in &crds {
        assert!(
            printed.contains(&format!("customresourcedefinition.apiextensions.k8s.io/{crd} ")),
            "kubectl apply did not mention {crd}:\n{printed}"
        );
        cluster.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", &format!("crd/{crd}")]);
        let conditions = cluster.kubectl_json(&["get", "crd", crd])["status"]["conditions"].clone();
        let status = |kind: &str| {
            conditions
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == kind)
                .map(|c| (c["status"].as_str().unwrap_or("").to_owned(), c["message"].clone()))
        };
        assert_eq!(status("NamesAccepted").map(|s| s.0), Some("True".into()), "{crd}: {conditions}");
        assert_eq!(status("NonStructuralSchema"), None, "{crd}: {conditions}");
    }
    // Everything else of the bundle is there too.
    for object in [
        "namespace/metallb-system",
        "-n metallb-system serviceaccount/ferrolb-controller",
        "-n metallb-system serviceaccount/ferrolb-speaker",
        "-n metallb-system deployment/ferrolb-controller",
        "-n metallb-system daemonset/ferrolb-speaker",
        "clusterrole/ferrolb-controller",
        "clusterrole/ferrolb-speaker",
    ] {
        let args: Vec<&str> = ["get"].into_iter().chain(object.split(' ')).collect();
        cluster.kubectl(&args);
    }
}

/// The two configurations ferrolb starts from (`examples/metallb-*.yaml`) and every
/// example MetalLB ships (`configsamples/` of its module) are accepted by the
/// API server with ferrolb's CRDs, as they are.
pub fn metallb_configurations_apply_unchanged(cluster: &Cluster) {
    cluster.deploy();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let samples = cluster.tools.metallb_src.as_ref().map(|src| src.join("configsamples"));
    let mut files = vec![examples.join("metallb-l2.yaml"), examples.join("metallb-bgp.yaml")];
    assert!(files.iter().all(|f| f.is_file()), "missing examples: {files:?}");
    match samples.filter(|s| s.is_dir()) {
        Some(samples) => files.extend(yaml_files(&samples).into_iter().filter(|f| is_configuration(f))),
        None => panic!("MetalLB's configsamples/ not found: run scripts/go-tools metallb"),
    }
    assert!(files.len() >= 12, "too few configurations found: {files:?}");
    let mut cleanup = Cleanup::new(cluster);
    for file in &files {
        let path = file.to_string_lossy();
        cleanup.delete(&["-f", &path]);
        if let Err(refusal) = cluster.plane().kubectl(&["apply", "-f", &path]) {
            panic!("{} is refused:\n{refusal}", file.display());
        }
        // Every field written is stored as written: nothing pruned, nothing
        // rewritten (defaults may be added).
        let stored = cluster.kubectl_json(&["get", "-f", &path]);
        for (written, stored) in documents(file).iter().zip(items(&stored)) {
            if let Some(path) = first_difference(&written["spec"], &stored["spec"], "spec") {
                panic!(
                    "{}: {path} was not stored as written:\n{}\nstored:\n{}",
                    file.display(),
                    written["spec"],
                    stored["spec"]
                );
            }
        }
    }
}

/// The `*.yaml` files of `dir`, sorted; none when it does not exist.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Whether a sample holds `metallb.io` objects only (MetalLB's samples
/// also hold demo Deployments, which need a scheduler to mean anything).
fn is_configuration(file: &Path) -> bool {
    let docs = documents(file);
    !docs.is_empty()
        && docs.iter().all(|d| {
            d["apiVersion"].as_str().is_some_and(|v| v.starts_with("metallb.io/")) || d["kind"] == "Secret"
        })
}

/// The objects of `kubectl get -o json` (a List, or one object).
fn items(value: &Value) -> Vec<Value> {
    match value["items"].as_array() {
        Some(items) => items.clone(),
        None => vec![value.clone()],
    }
}

/// The first place where `stored` lacks or changed what `written` says (`None`: none).
fn first_difference(written: &Value, stored: &Value, path: &str) -> Option<String> {
    match (written, stored) {
        // Not written: whatever the API server defaults is fine.
        (Value::Null, _) => None,
        (Value::Object(w), Value::Object(s)) => w
            .iter()
            .find_map(|(k, v)| first_difference(v, s.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"))),
        (Value::Array(w), Value::Array(s)) if w.len() == s.len() => w
            .iter()
            .zip(s)
            .enumerate()
            .find_map(|(i, (w, s))| first_difference(w, s, &format!("{path}[{i}]"))),
        (w, s) if w == s => None,
        _ => Some(path.to_owned()),
    }
}
