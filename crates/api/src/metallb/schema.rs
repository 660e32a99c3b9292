//! Schema markers of the Go types MetalLB's fields use, which the Rust
//! types' schemas lack, for `#[schemars(transform = ...)]` on those fields.

use schemars::Schema;
use serde_json::{Value, json};

/// Marks a label selector, or each selector of a list, atomic, as
/// `metav1.LabelSelector` declares itself: a server-side apply replaces a
/// selector whole instead of merging two. k8s-openapi's schema leaves the
/// markers out.
pub(crate) fn atomic_selectors(schema: &mut Schema) {
    let Some(mut selector) = schema.as_object_mut() else { return };
    if selector.contains_key("items") {
        let Some(items) = selector.get_mut("items").and_then(Value::as_object_mut) else { return };
        selector = items;
    }
    selector.insert("x-kubernetes-map-type".to_owned(), json!("atomic"));
    let Some(expressions) = selector.get_mut("properties").and_then(|p| p.get_mut("matchExpressions")) else {
        return;
    };
    set(expressions, "x-kubernetes-list-type", json!("atomic"));
    if let Some(values) = expressions.pointer_mut("/items/properties/values") {
        set(values, "x-kubernetes-list-type", json!("atomic"));
    }
}

/// Drops the format of an integer that is a Go `int` in MetalLB, for
/// which controller-gen writes none.
pub(crate) fn go_int(schema: &mut Schema) {
    schema.remove("format");
}

fn set(node: &mut Value, key: &str, value: Value) {
    if let Some(object) = node.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}
