//! Every rule of MetalLB's CRD schemas, and every CEL rule of ferrolb's
//! CRDs, enforced by the API server with ferrolb's CRDs: per rule, one object
//! that breaks that rule and no other, refused with a message that names the
//! field.
//!
//! The schema rules (type, required, minimum, maximum, enum, pattern, length,
//! items, date-time) are read from MetalLB's own CRDs (`config/crd/bases` of
//! its module), so a rule MetalLB adds is tested without a line here. A CEL
//! rule cannot be broken mechanically: [`CEL_CASES`] breaks each CEL rule of
//! ferrolb's CRDs (MetalLB's are among them: `crd_parity`), and the test fails
//! on a rule without a case or a case without a rule.

use std::collections::BTreeSet;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::support::{Cleanup, Cluster, documents};

/// Spec parts, written to break nothing, per kind: what each broken object starts from.
const BASE_SPECS: &[(&str, &str)] = &[
    ("BGPPeer", r#"{"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1"}"#),
    ("IPAddressPool", r#"{"addresses": ["192.0.2.0/28"]}"#),
];

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    /// The first item of a list.
    Item,
    /// An entry of a map (`additionalProperties`), named `key`.
    Entry,
}

/// A path as the API server names it in its messages: `spec.a[0].b`.
fn field_path(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(name) if out.is_empty() => out.push_str(name),
            Step::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Item => out.push_str("[0]"),
            Step::Entry => out.push_str(".key"),
        }
    }
    out
}

/// One broken object: what it breaks and what its refusal must say.
#[derive(Debug)]
struct Case {
    kind: String,
    version: String,
    /// The rule broken, as the failure shows it: `.spec.peerPort maximum 16384`.
    rule: String,
    /// The object (a whole one, or the status for a status subresource write).
    body: Value,
    /// The status of an existing object is written, not an object created.
    status: bool,
    /// The field the refusal must name.
    field: String,
}

/// What a schema node of MetalLB's CRDs asks for, broken one rule at a time.
struct Breaker<'a> {
    kind: &'a str,
    version: &'a str,
    root: &'a Value,
    cases: Vec<Case>,
}

impl Breaker<'_> {
    /// Every case below `node` at `path`.
    fn walk(&mut self, node: &Value, path: &mut Vec<Step>) {
        if !path.is_empty() {
            self.node(node, path);
        }
        if let Some(properties) = node["properties"].as_object() {
            for (name, child) in properties {
                if path.is_empty() && matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                path.push(Step::Field(name.clone()));
                self.walk(child, path);
                path.pop();
            }
        }
        for (key, step) in [("items", Step::Item), ("additionalProperties", Step::Entry)] {
            if node[key].is_object() {
                path.push(step);
                self.walk(&node[key], path);
                path.pop();
            }
        }
        for required in node["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if path.is_empty() && required != "spec" {
                continue;
            }
            let mut body = self.start(path);
            if let Some(object) = at(&mut body, self.root, path).as_object_mut() {
                object.remove(required);
            }
            let mut field = path.clone();
            field.push(Step::Field(required.to_owned()));
            self.push(path, format!("required {required}"), body, field_path(&field));
        }
    }

    /// The cases of one node's own keywords.
    fn node(&mut self, node: &Value, path: &[Step]) {
        let mut broken: Vec<(String, Value)> = Vec::new();
        if let Some(kind) = node["type"].as_str() {
            let wrong = if kind == "string" { json!(7) } else { json!("seven") };
            broken.push((format!("type {kind}"), wrong));
        }
        if let Some(min) = node["minimum"].as_i64() {
            broken.push((format!("minimum {min}"), json!(min - 1)));
        }
        if let Some(max) = node["maximum"].as_i64() {
            broken.push((format!("maximum {max}"), json!(max + 1)));
        }
        if node["enum"].is_array() {
            broken.push(("enum".to_owned(), json!("NotOneOfThem")));
        }
        if let Some(pattern) = node["pattern"].as_str() {
            let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let candidate = ["-", "_x", "x y", "x/", "1"].into_iter().find(|c| !regex.is_match(c));
            let candidate = candidate.unwrap_or_else(|| panic!("no string breaks pattern {pattern}"));
            broken.push((format!("pattern {pattern}"), json!(candidate)));
        }
        if let Some(max) = node["maxLength"].as_u64() {
            broken.push((format!("maxLength {max}"), json!("x".repeat(max as usize + 1))));
        }
        if let Some(min) = node["minLength"].as_u64().filter(|&m| m > 0) {
            broken.push((format!("minLength {min}"), json!("x".repeat(min as usize - 1))));
        }
        if let Some(max) = node["maxItems"].as_u64() {
            broken.push((format!("maxItems {max}"), json!(vec![minimal(&node["items"]); max as usize + 1])));
        }
        if let Some(min) = node["minItems"].as_u64().filter(|&m| m > 0) {
            broken.push((format!("minItems {min}"), json!(vec![minimal(&node["items"]); min as usize - 1])));
        }
        if node["format"] == "date-time" {
            broken.push(("format date-time".to_owned(), json!("yesterday")));
        }
        for (rule, value) in broken {
            let mut body = self.start(path);
            *at(&mut body, self.root, path) = value;
            self.push(path, rule, body, field_path(path));
        }
    }

    /// What a case at `path` starts from: the whole object for the spec,
    /// the status alone for the status.
    fn start(&self, path: &[Step]) -> Value {
        match is_status(path) {
            true => json!({"status": minimal(&self.root["properties"]["status"])}),
            false => base(self.kind, self.version, self.root),
        }
    }

    fn push(&mut self, path: &[Step], rule: String, body: Value, field: String) {
        let shown = format!(".{} {rule}", field_path(path));
        let (kind, version) = (self.kind.to_owned(), self.version.to_owned());
        self.cases.push(Case { kind, version, rule: shown, body, status: is_status(path), field });
    }
}

fn is_status(path: &[Step]) -> bool {
    path.first() == Some(&Step::Field("status".to_owned()))
}

/// The object of `kind` that breaks no rule.
fn base(kind: &str, version: &str, root: &Value) -> Value {
    let mut object = json!({"apiVersion": format!("metallb.io/{version}"), "kind": kind, "metadata": {}});
    if root["properties"]["spec"].is_object() {
        let spec = BASE_SPECS.iter().find(|(k, _)| *k == kind).map_or("{}", |(_, spec)| spec);
        object["spec"] = serde_json::from_str(spec).expect("a base spec is JSON");
    }
    object
}

/// The smallest value `schema` accepts: required fields filled, lists as
/// short as allowed, numbers at their minimum (at least 1).
fn minimal(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                object.insert(name.to_owned(), minimal(&schema["properties"][name]));
            }
            Value::Object(object)
        }
        Some("array") => {
            let count = schema["minItems"].as_u64().unwrap_or(0) as usize;
            json!(vec![minimal(&schema["items"]); count])
        }
        Some("integer" | "number") => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        Some("boolean") => json!(false),
        _ if schema["format"] == "date-time" => json!("2026-01-01T00:00:00Z"),
        _ => json!("x".repeat(schema["minLength"].as_u64().unwrap_or(1).max(1) as usize)),
    }
}

/// The value at `path` in `object`, made (as the smallest valid value) where missing.
fn at<'v>(object: &'v mut Value, schema: &Value, path: &[Step]) -> &'v mut Value {
    let (mut value, mut schema) = (object, schema);
    for step in path {
        (value, schema) = match step {
            Step::Field(name) => {
                let child = &schema["properties"][name];
                let object = value.as_object_mut().expect("a field of an object");
                (object.entry(name.clone()).or_insert_with(|| minimal(child)), child)
            }
            Step::Item => {
                let items = &schema["items"];
                let list = value.as_array_mut().expect("an item of a list");
                if list.is_empty() {
                    list.push(minimal(items));
                }
                (&mut list[0], items)
            }
            Step::Entry => {
                let entries = &schema["additionalProperties"];
                let map = value.as_object_mut().expect("an entry of a map");
                (map.entry("key").or_insert_with(|| minimal(entries)), entries)
            }
        };
    }
    value
}

/// MetalLB's CRDs, as JSON.
fn metallb_crds(cluster: &Cluster) -> Vec<Value> {
    let dir = cluster.tools.metallb_crds().expect("MetalLB's CRDs: run scripts/go-tools metallb");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| documents(file))
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect()
}

/// Each served version of each CRD: (kind, plural, version, schema).
fn versions(crds: &[Value]) -> Vec<(String, String, String, Value)> {
    let mut out = Vec::new();
    for crd in crds {
        let kind = crd["spec"]["names"]["kind"].as_str().expect("a kind").to_owned();
        let plural = crd["spec"]["names"]["plural"].as_str().expect("a plural").to_owned();
        for version in crd["spec"]["versions"].as_array().into_iter().flatten() {
            if version["served"] == true {
                let name = version["name"].as_str().expect("a version name").to_owned();
                let schema = version["schema"]["openAPIV3Schema"].clone();
                out.push((kind.clone(), plural.clone(), name, schema));
            }
        }
    }
    out
}

/// A broken object's refusal, as one line per object of what kubectl said.
fn refusal_of<'s>(said: &'s str, kind: &str, name: &str) -> Option<&'s str> {
    let needle = format!("{kind}.metallb.io \"{name}\" is invalid");
    said.split("Error from server").find(|chunk| chunk.contains(&needle))
}

/// Every schema rule of MetalLB's CRDs (each served version) is refused by
/// the API server with ferrolb's CRDs, naming the field; the objects they
/// start from are accepted.
pub fn every_metallb_schema_rule_is_refused_naming_the_field(cluster: &Cluster) {
    let namespace = cluster.namespace("rules");
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&["namespace", &namespace]);
    let crds = metallb_crds(cluster);
    let mut cases = Vec::new();
    let mut bases = Vec::new();
    for (kind, plural, version, schema) in versions(&crds) {
        let mut breaker = Breaker { kind: &kind, version: &version, root: &schema, cases: Vec::new() };
        breaker.walk(&schema, &mut Vec::new());
        if breaker.cases.iter().any(|c| c.status) {
            bases.push((plural, kind.clone(), version.clone(), base(&kind, &version, &schema)));
        }
        cases.extend(breaker.cases);
    }
    assert!(cases.len() > 100, "too few rules found in MetalLB's CRDs: {}", cases.len());

    // The objects the status cases write to exist, as the cases start from.
    for (_, _, version, base) in &bases {
        let mut object = base.clone();
        object["metadata"] = json!({"name": format!("base-{version}"), "namespace": namespace});
        cluster.create(&object.to_string());
    }
    let (spec_cases, status_cases): (Vec<_>, Vec<_>) = cases.into_iter().partition(|c| !c.status);

    // One request per broken object, all in one kubectl.
    let mut stream = String::new();
    for (i, case) in spec_cases.iter().enumerate() {
        let mut object = case.body.clone();
        object["metadata"] = json!({"name": format!("rule-{i}"), "namespace": namespace});
        stream.push_str(&object.to_string());
        stream.push_str("\n---\n");
    }
    let said = {
        let plane = cluster.plane();
        let file = plane.write_manifest(&stream).expect("manifest written");
        match plane.kubectl(&["create", "--dry-run=server", "-f", &file.to_string_lossy()]) {
            Ok(accepted) => panic!("every broken object was accepted:\n{accepted}"),
            Err(e) => e.to_string(),
        }
    };
    let mut wrong = Vec::new();
    for (i, case) in spec_cases.iter().enumerate() {
        match refusal_of(&said, &case.kind, &format!("rule-{i}")) {
            Some(refusal) if refusal.contains(&format!("{}:", case.field)) => {}
            Some(refusal) => wrong.push(format!(
                "{} {}: refused without naming {}: {}",
                case.kind,
                case.version,
                case.field,
                refusal.trim()
            )),
            None => {
                wrong.push(format!("{} {} {}: accepted: {}", case.kind, case.version, case.rule, case.body))
            }
        }
    }
    for case in &status_cases {
        let plural =
            bases.iter().find(|b| b.1 == case.kind && b.2 == case.version).expect("a base").0.clone();
        let resource = format!("{plural}.{}.metallb.io", case.version);
        let patch = case.body.to_string();
        let name = format!("base-{}", case.version);
        let outcome = cluster.plane().kubectl(&[
            "patch",
            &resource,
            &name,
            "-n",
            &namespace,
            "--subresource=status",
            "--type=merge",
            "--dry-run=server",
            "-p",
            &patch,
        ]);
        match outcome {
            Err(e) if e.to_string().contains(&format!("{}:", case.field)) => {}
            Err(e) => {
                wrong.push(format!("{} {}: refused without naming {}: {e}", case.kind, case.rule, case.field))
            }
            Ok(_) => wrong.push(format!("{} {} {}: accepted: {patch}", case.kind, case.version, case.rule)),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rules:\n{}",
        wrong.len(),
        spec_cases.len() + status_cases.len(),
        wrong.join("\n")
    );
    println!(
        "    {} spec and {} status rules of MetalLB's CRDs refused",
        spec_cases.len(),
        status_cases.len()
    );
}

/// How a CEL case breaks its rule.
enum Change {
    /// Create an object with this merged into the base spec (`null` removes a field).
    Create(&'static str),
    /// Create it with `before` in the spec (or status), then write `after`.
    Update { status: bool, before: &'static str, after: &'static str },
}

/// One case per CEL rule of ferrolb's CRDs: (kind, version, path of the rule,
/// start of its message, how it is broken).
const CEL_CASES: &[(&str, &str, &str, &str, Change)] = &[
    (
        "BGPAdvertisement",
        "v1beta1",
        ".spec",
        "aggregationLength or aggregationLengthV6 is set together with serviceSelectors",
        Change::Create(r#"{"aggregationLength": 24, "serviceSelectors": [{"matchLabels": {"a": "b"}}]}"#),
    ),
    (
        "BGPAdvertisement",
        "v1beta1",
        ".spec.communities",
        "invalid community",
        Change::Create(r#"{"communities": ["65536:1"]}"#),
    ),
    ("BGPPeer", "v1beta2", ".spec", "neither peerASN nor dynamicASN", Change::Create(r#"{"peerASN": null}"#)),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "peerASN and dynamicASN are both set",
        Change::Create(r#"{"dynamicASN": "external"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "ebgpMultiHop is set for an iBGP peer",
        Change::Create(r#"{"peerASN": 64512, "ebgpMultiHop": true}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "neither peerAddress nor interface",
        Change::Create(r#"{"peerAddress": null}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "peerAddress and interface are both set",
        Change::Create(r#"{"interface": "eth0"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "keepaliveTime is longer than holdTime",
        Change::Create(r#"{"holdTime": "3s", "keepaliveTime": "10s"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "keepaliveTime without holdTime",
        Change::Create(r#"{"keepaliveTime": "500ms"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec",
        "password and passwordSecret are both set",
        Change::Create(r#"{"password": "x", "passwordSecret": {"name": "s"}}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.connectTime",
        "connectTime is out of range",
        Change::Create(r#"{"connectTime": "70000s"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.connectTime",
        "connectTime is not a whole",
        Change::Create(r#"{"connectTime": "1500ms"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.enableGracefulRestart",
        "enableGracefulRestart cannot be changed",
        Change::Update {
            status: false,
            before: r#"{"enableGracefulRestart": false}"#,
            after: r#"{"enableGracefulRestart": true}"#,
        },
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.holdTime",
        "holdTime is too short",
        Change::Create(r#"{"holdTime": "2s"}"#),
    ),
    ("BGPPeer", "v1beta2", ".spec.myASN", "myASN is missing", Change::Create(r#"{"myASN": 0}"#)),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.peerAddress",
        "invalid peerAddress",
        Change::Create(r#"{"peerAddress": "192.0.2.300"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.routerID",
        "invalid routerID",
        Change::Create(r#"{"routerID": "2001:db8::1"}"#),
    ),
    (
        "BGPPeer",
        "v1beta2",
        ".spec.sourceAddress",
        "invalid sourceAddress",
        Change::Create(r#"{"sourceAddress": "eth0"}"#),
    ),
    (
        "Community",
        "v1beta1",
        ".spec.communities[]",
        "alias name is empty",
        Change::Create(r#"{"communities": [{"name": "", "value": "64512:1"}]}"#),
    ),
    (
        "Community",
        "v1beta1",
        ".spec.communities[]",
        "invalid community",
        Change::Create(r#"{"communities": [{"name": "a", "value": "70000:1"}]}"#),
    ),
    ("IPAddressPool", "v1beta1", ".spec.addresses", "no addresses", Change::Create(r#"{"addresses": []}"#)),
    (
        "IPAddressPool",
        "v1beta1",
        ".spec.addresses",
        "invalid address",
        Change::Create(r#"{"addresses": ["192.0.2.10-2001:db8::1"]}"#),
    ),
    ("ServiceBGPStatus", "v1beta1", ".status.node", "Value is immutable", IMMUTABLE_NODE),
    ("ServiceBGPStatus", "v1beta1", ".status.serviceName", "Value is immutable", IMMUTABLE_NAME),
    ("ServiceBGPStatus", "v1beta1", ".status.serviceNamespace", "Value is immutable", IMMUTABLE_NAMESPACE),
    ("ServiceL2Status", "v1beta1", ".status.node", "Value is immutable", IMMUTABLE_NODE),
    ("ServiceL2Status", "v1beta1", ".status.serviceName", "Value is immutable", IMMUTABLE_NAME),
    ("ServiceL2Status", "v1beta1", ".status.serviceNamespace", "Value is immutable", IMMUTABLE_NAMESPACE),
];

/// A speaker's status object names its node and Service once.
const WRITTEN: &str = r#"{"node": "a", "serviceName": "b", "serviceNamespace": "c"}"#;
const IMMUTABLE_NODE: Change = Change::Update { status: true, before: WRITTEN, after: r#"{"node": "z"}"# };
const IMMUTABLE_NAME: Change =
    Change::Update { status: true, before: WRITTEN, after: r#"{"serviceName": "z"}"# };
const IMMUTABLE_NAMESPACE: Change =
    Change::Update { status: true, before: WRITTEN, after: r#"{"serviceNamespace": "z"}"# };

/// Each CEL rule of ferrolb's CRDs: (kind, version, path, message, field
/// path relative to the rule's node).
fn ferrolb_cel_rules() -> Vec<(String, String, String, String, String)> {
    fn walk(
        node: &Value,
        path: &str,
        at: &(String, String),
        out: &mut Vec<(String, String, String, String, String)>,
    ) {
        for rule in node["x-kubernetes-validations"].as_array().into_iter().flatten() {
            let message = rule["message"].as_str().unwrap_or_default().to_owned();
            let field = rule["fieldPath"].as_str().unwrap_or_default().to_owned();
            let path = if path.is_empty() { "." } else { path };
            out.push((at.0.clone(), at.1.clone(), path.to_owned(), message, field));
        }
        for (name, child) in node["properties"].as_object().into_iter().flatten() {
            walk(child, &format!("{path}.{name}"), at, out);
        }
        if node["items"].is_object() {
            walk(&node["items"], &format!("{path}[]"), at, out);
        }
    }
    let mut out = Vec::new();
    for crd in ferrolb_api::crds::all() {
        let crd = serde_json::to_value(&crd).expect("a CRD serializes");
        for (kind, _, version, schema) in versions(&[crd]) {
            walk(&schema, "", &(kind, version), &mut out);
        }
    }
    out
}

/// Every CEL rule of ferrolb's CRDs (MetalLB's and those that stand in for
/// its webhook) is enforced by the API server: the broken object is refused
/// with the rule's message, naming the field.
pub fn every_cel_rule_is_refused_naming_the_field(cluster: &Cluster) {
    let namespace = cluster.namespace("cel");
    let mut cleanup = Cleanup::new(cluster);
    cleanup.delete(&["namespace", &namespace]);
    let crds = metallb_crds(cluster);
    let rules = ferrolb_cel_rules();
    let plural_of = |kind: &str| {
        let crd = crds.iter().find(|c| c["spec"]["names"]["kind"] == kind).expect("a CRD of MetalLB's");
        crd["spec"]["names"]["plural"].as_str().expect("a plural").to_owned()
    };
    let schema_of = |kind: &str, version: &str| {
        versions(&crds).into_iter().find(|v| v.0 == kind && v.2 == version).expect("a version").3
    };

    // Every rule has one case, and every case one rule; MetalLB's rules are among them.
    let case_of = |rule: &(String, String, String, String, String)| {
        CEL_CASES
            .iter()
            .filter(|c| c.0 == rule.0 && c.1 == rule.1 && c.2 == rule.2 && rule.3.starts_with(c.3))
            .count()
    };
    let uncovered: Vec<_> = rules.iter().filter(|r| case_of(r) != 1).collect();
    assert!(uncovered.is_empty(), "CEL rules without exactly one case: {uncovered:#?}");
    assert_eq!(rules.len(), CEL_CASES.len(), "a case names no rule of ferrolb's CRDs");
    let metallb_rules: BTreeSet<(String, String)> = versions(&crds)
        .into_iter()
        .flat_map(|(kind, _, version, schema)| {
            let mut paths = Vec::new();
            collect_rule_paths(&schema, "", &mut paths);
            paths.into_iter().map(move |p| (format!("{kind}/{version}"), p))
        })
        .collect();
    for (at, path) in &metallb_rules {
        assert!(
            rules.iter().any(|r| format!("{}/{}", r.0, r.1) == *at && r.2 == *path),
            "MetalLB's CEL rule at {at} {path} has no counterpart in ferrolb's CRDs"
        );
    }

    let mut wrong = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let (kind, version, path, message, relative) = rule;
        let (.., change) = CEL_CASES
            .iter()
            .find(|c| c.0 == kind && c.1 == version && c.2 == path && message.starts_with(c.3))
            .expect("a case");
        let field = format!("{}{}", path.trim_start_matches('.').replace("[]", "[0]"), relative);
        let name = format!("cel-{i}");
        let mut object = base(kind, version, &schema_of(kind, version));
        object["metadata"] = json!({"name": name, "namespace": namespace});
        let resource = format!("{}.{version}.metallb.io", plural_of(kind));
        let outcome = match change {
            Change::Create(patch) => {
                merge(&mut object["spec"], &serde_json::from_str(patch).expect("a case is JSON"));
                let plane = cluster.plane();
                let file = plane.write_manifest(&object.to_string()).expect("manifest written");
                plane.kubectl(&["create", "--dry-run=server", "-f", &file.to_string_lossy()])
            }
            Change::Update { status, before, after } => {
                let before: Value = serde_json::from_str(before).expect("a case is JSON");
                let part = if *status { "status" } else { "spec" };
                if !status {
                    merge(&mut object["spec"], &before);
                }
                cluster.create(&object.to_string());
                let write = |patch: &str, dry_run: bool| {
                    let mut args =
                        vec!["patch", &resource, &name, "-n", &namespace, "--type=merge", "-p", patch];
                    args.extend(status.then_some("--subresource=status"));
                    args.extend(dry_run.then_some("--dry-run=server"));
                    cluster.plane().kubectl(&args)
                };
                if *status {
                    write(&json!({"status": before}).to_string(), false).unwrap_or_else(|e| panic!("{e}"));
                }
                write(&format!("{{\"{part}\": {after}}}"), true)
            }
        };
        match outcome {
            Err(e)
                if e.to_string().contains(&format!("{field}:"))
                    && e.to_string().contains(message.as_str()) => {}
            Err(e) => wrong.push(format!(
                "{kind} {version} {path} {message:?}: refused without naming {field} or the rule: {e}"
            )),
            Ok(_) => wrong.push(format!("{kind} {version} {path} {message:?}: accepted")),
        }
    }
    assert!(wrong.is_empty(), "{} of {} CEL rules:\n{}", wrong.len(), rules.len(), wrong.join("\n"));
    println!("    {} CEL rules refused, among them MetalLB's at {} places", rules.len(), metallb_rules.len());
}

/// Paths of the nodes of `node` that hold CEL rules.
fn collect_rule_paths(node: &Value, path: &str, out: &mut Vec<String>) {
    if node["x-kubernetes-validations"].is_array() {
        out.push(if path.is_empty() { ".".to_owned() } else { path.to_owned() });
    }
    for (name, child) in node["properties"].as_object().into_iter().flatten() {
        collect_rule_paths(child, &format!("{path}.{name}"), out);
    }
    if node["items"].is_object() {
        collect_rule_paths(&node["items"], &format!("{path}[]"), out);
    }
}

/// JSON merge patch (RFC 7386) of `patch` into `target`.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().expect("made an object");
    for (name, value) in fields {
        match value {
            Value::Null => {
                object.remove(name);
            }
            _ => merge(object.entry(name.clone()).or_insert(Value::Null), value),
        }
    }
}
