//! The CEL rules (`x-kubernetes-validations`) of the CRDs, evaluated as the API
//! server would (kube-cel, through kube-core's `cel` feature) on good and bad
//! objects, and held against ferrolb's own `validate`: an object the API
//! server refuses, `validate` reports as an error, and the reverse for every
//! object here.

use kube_core::cel::{ErrorKind, Validator};
use serde_json::{Value, json};

use super::all;
use crate::diagnostic::Severity;

/// The schema of the stored version of `kind`.
fn schema(kind: &str) -> Value {
    let crd = all().into_iter().find(|c| c.spec.names.kind == kind).expect("a CRD of that kind");
    let version = crd.spec.versions.into_iter().find(|v| v.storage).expect("a stored version");
    let schema = version.schema.and_then(|s| s.open_api_v3_schema).expect("a schema");
    serde_json::to_value(schema).expect("the schema serializes")
}

/// An object of `kind` with `spec`, in MetalLB's namespace.
fn object(kind: &str, spec: Value) -> Value {
    let api_version = if kind == "BGPPeer" { "metallb.io/v1beta2" } else { "metallb.io/v1beta1" };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "metallb-system"},
        "spec": spec,
    })
}

/// What the API server says about `object` (with `old` for an update): the
/// message of every rule that fails. A rule that cannot even be evaluated
/// (a typo, a function the evaluator lacks) fails the test.
fn api_server(kind: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema(kind), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| {
                assert_eq!(
                    e.kind,
                    ErrorKind::ValidationFailure,
                    "rule {:?} did not evaluate: {}",
                    e.rule,
                    e.message
                );
                e.message
            })
            .collect(),
    }
}

/// The errors ferrolb's whole-config validation finds in `object` alone.
fn ferrolb_errors(object: &Value) -> Vec<String> {
    let text = serde_json::to_string(object).expect("JSON");
    let (snapshot, problems) = crate::load::load_str("t.yaml", &text);
    assert!(problems.is_empty(), "{object} does not load: {problems:#?}");
    let diagnostics = crate::validate::validate(&snapshot);
    // A missing referenced object (a Secret, an alias) is a rule of the
    // whole configuration, not of one object: no CEL rule can see it.
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && !d.message.contains("refuses the whole configuration"))
        .map(ToString::to_string)
        .collect()
}

/// Asserts that the API server refuses `spec` with exactly `messages`, and
/// that ferrolb's validation agrees that it is wrong (or right, when
/// `messages` is empty).
#[track_caller]
fn check(kind: &str, spec: Value, messages: &[&str]) {
    let object = object(kind, spec);
    assert_eq!(api_server(kind, &object, None), messages, "API server on {object}");
    let errors = ferrolb_errors(&object);
    if messages.is_empty() {
        assert_eq!(errors, Vec::<String>::new(), "ferrolb validate on {object}");
    } else {
        assert!(!errors.is_empty(), "ferrolb validate accepts {object}, which the API server refuses");
    }
}

/// A valid `BGPPeer` spec, with `extra` fields set or replaced.
fn peer(extra: Value) -> Value {
    let mut spec = json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1"});
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    spec
}

#[test]
fn bgppeer_good_peers_pass() {
    check("BGPPeer", peer(json!({})), &[]);
    check(
        "BGPPeer",
        peer(json!({"holdTime": "9s", "keepaliveTime": "3s", "connectTime": "5s", "routerID": "192.0.2.9",
                    "sourceAddress": "2001:db8::2", "password": "secret", "ebgpMultiHop": true})),
        &[],
    );
    check("BGPPeer", json!({"myASN": 64512, "dynamicASN": "external", "interface": "eth0"}), &[]);
    check("BGPPeer", peer(json!({"holdTime": "0s", "keepaliveTime": "0s"})), &[]);
    check("BGPPeer", peer(json!({"holdTime": "3500ms"})), &[]);
    check("BGPPeer", peer(json!({"keepaliveTime": "1s"})), &[]);
    check("BGPPeer", peer(json!({"passwordSecret": {"name": "bgp"}})), &[]);
}

#[test]
fn bgppeer_asn_rules() {
    check(
        "BGPPeer",
        json!({"myASN": 0, "peerASN": 64513, "peerAddress": "192.0.2.1"}),
        &["myASN is missing (expected a non-zero AS number)"],
    );
    check(
        "BGPPeer",
        json!({"myASN": 64512, "peerAddress": "192.0.2.1"}),
        &["neither peerASN nor dynamicASN is set (expected exactly one)"],
    );
    check(
        "BGPPeer",
        peer(json!({"dynamicASN": "internal"})),
        &["peerASN and dynamicASN are both set (expected exactly one)"],
    );
    let ibgp_multihop = "ebgpMultiHop is set for an iBGP peer (expected ebgpMultiHop only when the peer's \
                         AS differs from myASN)";
    check("BGPPeer", peer(json!({"peerASN": 64512, "ebgpMultiHop": true})), &[ibgp_multihop]);
    // MetalLB compares peerASN with myASN only: dynamicASN internal passes.
    check(
        "BGPPeer",
        json!({"myASN": 64512, "dynamicASN": "internal", "peerAddress": "192.0.2.1", "ebgpMultiHop": true}),
        &[],
    );
}

#[test]
fn bgppeer_address_rules() {
    check(
        "BGPPeer",
        json!({"myASN": 64512, "peerASN": 64513}),
        &["neither peerAddress nor interface is set (expected exactly one)"],
    );
    check(
        "BGPPeer",
        peer(json!({"interface": "eth0"})),
        &["peerAddress and interface are both set (expected exactly one)"],
    );
    check(
        "BGPPeer",
        peer(json!({"peerAddress": "192.0.2.300"})),
        &["invalid peerAddress (expected an IPv4 or IPv6 address)"],
    );
    check(
        "BGPPeer",
        peer(json!({"sourceAddress": "eth0"})),
        &["invalid sourceAddress (expected an IPv4 or IPv6 address)"],
    );
    check(
        "BGPPeer",
        peer(json!({"routerID": "2001:db8::1"})),
        &["invalid routerID (expected an IPv4 address)"],
    );
}

#[test]
fn bgppeer_timer_rules() {
    let short_hold = "holdTime is too short (expected 0 or at least 3s)";
    check("BGPPeer", peer(json!({"holdTime": "2s"})), &[short_hold]);
    // MetalLB truncates to whole seconds: 2.9 s is 2 s.
    check("BGPPeer", peer(json!({"holdTime": "2900ms"})), &[short_hold]);
    check(
        "BGPPeer",
        peer(json!({"holdTime": "30s", "keepaliveTime": "31s"})),
        &["keepaliveTime is longer than holdTime (expected at most the holdTime)"],
    );
    let implied = "keepaliveTime without holdTime makes holdTime three times keepaliveTime, which is too \
                   short (expected 0 or at least 3s)";
    check("BGPPeer", peer(json!({"keepaliveTime": "500ms"})), &[implied]);
    // 3 × 333.4 ms is 1.0002 s, 1 s once truncated: too short, though 333 ms would do.
    check("BGPPeer", peer(json!({"keepaliveTime": "333400us"})), &[implied]);
    check("BGPPeer", peer(json!({"keepaliveTime": "333ms"})), &[]);
    check(
        "BGPPeer",
        peer(json!({"connectTime": "0s"})),
        &["connectTime is out of range (expected 1s to 65535s)"],
    );
    check(
        "BGPPeer",
        peer(json!({"connectTime": "20h"})),
        &["connectTime is out of range (expected 1s to 65535s)"],
    );
    check(
        "BGPPeer",
        peer(json!({"connectTime": "1500ms"})),
        &["connectTime is not a whole number of seconds (expected whole seconds)"],
    );
    // MetalLB's rule counts whole milliseconds, so a fraction of one passes
    // the API server (ferrolb's validate is stricter and reports it).
    let sub_millisecond = object("BGPPeer", peer(json!({"connectTime": "1000500us"})));
    assert_eq!(api_server("BGPPeer", &sub_millisecond, None), Vec::<String>::new());
}

#[test]
fn bgppeer_password_rules() {
    check(
        "BGPPeer",
        peer(json!({"password": "a", "passwordSecret": {"name": "bgp"}})),
        &["password and passwordSecret are both set (expected one of them)"],
    );
}

#[test]
fn bgppeer_graceful_restart_cannot_change() {
    let old = object("BGPPeer", peer(json!({"enableGracefulRestart": true})));
    let new = object("BGPPeer", peer(json!({"enableGracefulRestart": false})));
    assert_eq!(
        api_server("BGPPeer", &new, Some(&old)),
        ["enableGracefulRestart cannot be changed after creation (expected the value it was created with)"]
    );
    assert_eq!(api_server("BGPPeer", &old, Some(&old)), Vec::<String>::new());
}

#[test]
fn bgpadvertisement_rules() {
    check("BGPAdvertisement", json!({}), &[]);
    check(
        "BGPAdvertisement",
        json!({"communities": ["65535:65282", "large:4294967295:0:00001", "no-advertise-alias"]}),
        &[],
    );
    let invalid = "invalid community (expected AA:NN with both parts from 0 to 65535, large:A:B:C with each \
                   part from 0 to 4294967295, or the name of an alias of a Community resource)";
    for bad in
        ["65536:1", "1:-2", "large:4294967296:1:2", "big:1:2:3", "1:2:3", "1: 2", "99999999999999999999:1"]
    {
        check("BGPAdvertisement", json!({"communities": [bad]}), &[invalid]);
    }
    let selector = json!([{"matchLabels": {"app": "web"}}]);
    check(
        "BGPAdvertisement",
        json!({"serviceSelectors": selector, "aggregationLength": 32, "aggregationLengthV6": 128}),
        &[],
    );
    check("BGPAdvertisement", json!({"serviceSelectors": [], "aggregationLength": 24}), &[]);
    let with_selectors = "aggregationLength or aggregationLengthV6 is set together with serviceSelectors \
                          (expected the defaults 32 and 128 when serviceSelectors are set)";
    check(
        "BGPAdvertisement",
        json!({"serviceSelectors": selector, "aggregationLength": 24}),
        &[with_selectors],
    );
    check(
        "BGPAdvertisement",
        json!({"serviceSelectors": selector, "aggregationLengthV6": 64}),
        &[with_selectors],
    );
}

#[test]
fn community_rules() {
    check(
        "Community",
        json!({"communities": [{"name": "no-advertise", "value": "65535:65282"},
                               {"name": "big", "value": "large:4200000000:1:2"}]}),
        &[],
    );
    check(
        "Community",
        json!({"communities": [{"value": "65535:65282"}]}),
        &["alias name is empty (expected a name)"],
    );
    let invalid = "invalid community (expected AA:NN with both parts from 0 to 65535 or large:A:B:C with \
                   each part from 0 to 4294967295)";
    for bad in ["65536:1", "no-advertise", "large:1:2", ""] {
        check("Community", json!({"communities": [{"name": "a", "value": bad}]}), &[invalid]);
    }
}

#[test]
fn ipaddresspool_rules() {
    check(
        "IPAddressPool",
        json!({"addresses": ["192.0.2.0/28", "198.51.100.10 - 198.51.100.20", "2001:db8::/120"]}),
        &[],
    );
    check("IPAddressPool", json!({"addresses": []}), &["no addresses (expected at least one CIDR or range)"]);
    let invalid = "invalid address (expected a CIDR such as 192.0.2.0/28 or a range of one family such as \
                   192.0.2.10-192.0.2.20)";
    for bad in ["192.0.2.1", "192.0.2.0/33", "192.0.2.1-2001:db8::1", "192.0.2.1-192.0.2.x", "a-b-c", ""] {
        check("IPAddressPool", json!({"addresses": [bad]}), &[invalid]);
    }
}

/// The speaker writes one status object per node and Service, and never
/// moves it to another: MetalLB's rules refuse a change of node or Service.
#[test]
fn announcement_statuses_cannot_change_node_or_service() {
    for kind in ["ServiceBGPStatus", "ServiceL2Status"] {
        let status = |node: &str| {
            json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": kind,
                "metadata": {"name": "x", "namespace": "metallb-system"},
                "spec": {},
                "status": {"node": node, "serviceName": "web", "serviceNamespace": "default"},
            })
        };
        let (first, moved) = (status("node1"), status("node2"));
        let created =
            json!({"apiVersion": "metallb.io/v1beta1", "kind": kind, "metadata": first["metadata"]});
        assert_eq!(api_server(kind, &first, Some(&created)), Vec::<String>::new(), "{kind}: first status");
        assert_eq!(api_server(kind, &first, Some(&first)), Vec::<String>::new(), "{kind}: same status");
        assert_eq!(api_server(kind, &moved, Some(&first)), ["Value is immutable"], "{kind}: moved");
    }
}

/// Every rule object (`rule`, `message`, ...) anywhere under `value`.
fn rules_in<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                out.extend(rules);
            }
            map.values().for_each(|child| rules_in(child, out));
        }
        Value::Array(items) => items.iter().for_each(|item| rules_in(item, out)),
        _ => {}
    }
}

/// Each rule says what is wrong and what is expected, and a test above
/// breaks it: its message is one this file expects. The rules on the
/// status objects, which only the speaker writes, keep MetalLB's message.
#[test]
fn every_rule_has_a_message_and_a_test() {
    // The file with its string continuations undone, as the messages read.
    let this_file =
        include_str!("rules.rs").replace("\\\n", "\n").split_whitespace().collect::<Vec<_>>().join(" ");
    let mut count = 0;
    for crd in all() {
        let written_by_users =
            !["ServiceBGPStatus", "ServiceL2Status"].contains(&crd.spec.names.kind.as_str());
        let mut rules = Vec::new();
        let crd = serde_json::to_value(crd).unwrap();
        rules_in(&crd, &mut rules);
        for rule in &rules {
            let message = rule["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(" (expected ") || !written_by_users,
                "rule {rule} lacks a message saying what is expected"
            );
            assert!(this_file.contains(message), "no test expects the message of rule {rule}");
        }
        count += rules.len();
    }
    assert!(count >= 20, "only {count} rules");
}

/// Calls `visit(node, arrays)` for every schema node with CEL rules, with the
/// arrays that enclose it.
fn nodes_with_rules<'a>(
    node: &'a Value,
    arrays: &mut Vec<&'a Value>,
    visit: &mut impl FnMut(&'a Value, &[&'a Value]),
) {
    if node.get("x-kubernetes-validations").is_some() {
        visit(node, arrays);
    }
    if let Some(Value::Object(properties)) = node.get("properties") {
        properties.values().for_each(|child| nodes_with_rules(child, arrays, visit));
    }
    if let Some(items) = node.get("items") {
        arrays.push(node);
        nodes_with_rules(items, arrays, visit);
        arrays.pop();
    }
}

/// The API server refuses a CRD whose rules may cost more than its budget,
/// and estimates an unbounded list or string as long as a whole request
/// (3 MiB): a rule inside a list, or one that walks a list or string
/// (`all`, `matches`, `split`), needs `maxItems` and `maxLength` around it.
#[test]
fn rules_that_walk_lists_or_strings_have_bounds() {
    for kind in ["BFDProfile", "BGPAdvertisement", "BGPPeer", "Community", "IPAddressPool", "L2Advertisement"]
    {
        let schema = schema(kind);
        nodes_with_rules(&schema, &mut Vec::new(), &mut |node, arrays| {
            for rule in node["x-kubernetes-validations"].as_array().unwrap() {
                let rule = rule["rule"].as_str().unwrap();
                for array in arrays {
                    assert!(
                        array.get("maxItems").is_some(),
                        "{kind}: {rule:?} sits in a list without maxItems"
                    );
                }
                if !["all(", "matches(", "split("].iter().any(|walk| rule.contains(walk)) {
                    continue;
                }
                if node["type"] == "array" {
                    assert!(node.get("maxItems").is_some(), "{kind}: {rule:?} walks a list without maxItems");
                    if node["items"]["type"] == "string" {
                        let items = &node["items"];
                        assert!(items.get("maxLength").is_some(), "{kind}: {rule:?} walks unbounded strings");
                    }
                }
                for (name, property) in node["properties"].as_object().into_iter().flatten() {
                    let walked =
                        rule.contains(&format!("[self.{name}]")) || rule.contains(&format!("self.{name}."));
                    if property["type"] == "string" && walked {
                        assert!(
                            property.get("maxLength").is_some(),
                            "{kind}: {rule:?} walks {name}, unbounded"
                        );
                    }
                }
            }
        });
    }
}
