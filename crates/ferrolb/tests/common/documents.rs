//! YAML streams as JSON values, for the tests that read manifests (shared by
//! the `it` and `cluster` test binaries through `#[path]`).

use serde_json::Value;

/// The documents of a YAML stream (empty ones skipped), as JSON.
pub fn parse_documents(text: &str) -> Vec<Value> {
    let (documents, error) = ferrolb_api::yaml::parse_documents(text);
    assert_eq!(error, None, "YAML syntax");
    documents
        .iter()
        .filter(|d| !d.is_null())
        .map(|d| ferrolb_api::yaml::de::from_node::<Value>(d, &[]).expect("JSON-like YAML").0)
        .collect()
}
