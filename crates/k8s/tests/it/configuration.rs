//! Whole-config validation in a cluster (issue 6, points 2 and 4): a
//! configuration with errors is not applied, the last good one keeps
//! running, and each component says so in its `ConfigurationState` and in
//! Events; the deprecatedAnnotation Events of the controller.

use ferrolb_k8s::configuration_state::{ConfigurationReport, pod_owner};
use ferrolb_k8s::events::Publisher;
use ferrolb_k8s::validation::Component;
use serde_json::{Value, json};

use crate::controller::{NS, cluster, ingress, reasons, service_holding, settle, start};
use crate::fake::{FakeApi, objects};

/// The controller's ConfigurationState.
fn controller_state(fake: &FakeApi) -> Value {
    fake.get("ConfigurationState", NS, "controller").expect("the controller's ConfigurationState")
}

/// The status patches of ConfigurationStates seen so far.
fn state_status_writes(fake: &FakeApi) -> Vec<Value> {
    fake.configuration_state_writes()
        .into_iter()
        .filter(|w| w.method == "PATCH" && w.path.ends_with("/status"))
        .map(|w| w.body)
        .collect()
}

/// The Events about ConfigurationState `name`.
fn state_events(fake: &FakeApi, name: &str) -> Vec<Value> {
    fake.events()
        .into_iter()
        .filter(|e| e["regarding"]["kind"] == "ConfigurationState" && e["regarding"]["name"] == name)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_invalid_pool_change_moves_no_service_and_is_reported_until_fixed() {
    let fake = cluster();
    fake.apply(objects::service("default", "web"));
    let _controller = start(&fake);
    settle().await;
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);
    let state = controller_state(&fake);
    assert_eq!(state["metadata"]["labels"], json!({"metallb.io/component-type": "controller"}));
    assert_eq!(state["status"]["result"], "Valid");
    assert_eq!(state["status"]["conditions"][0]["type"], "poolReconcilerValid");
    assert_eq!(state["status"]["conditions"][0]["status"], "True");
    assert_eq!(state["status"]["conditions"][0]["reason"], "Reconciled");

    // Applied, this would move web to 203.0.113.0: one entry does not parse.
    fake.apply(objects::pool(NS, "a", &["203.0.113.0/28", "nonsense"]));
    settle().await;
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"], "the last good pool keeps running");
    assert_eq!(fake.status_patches().len(), 1, "no Service written: {:?}", fake.status_patches());
    let state = controller_state(&fake);
    assert_eq!(state["status"]["result"], "Invalid");
    let summary = state["status"]["errorSummary"].as_str().unwrap();
    assert!(
        summary.starts_with("configuration error: IPAddressPool/a: spec.addresses[1]: "),
        "what, where: {summary}"
    );
    assert!(summary.contains("nonsense"), "{summary}");
    assert_eq!(state["status"]["conditions"][0]["status"], "False");
    assert_eq!(state["status"]["conditions"][0]["reason"], "ConfigurationError");
    assert_eq!(state["status"]["conditions"][0]["message"], summary);
    let warnings = state_events(&fake, "controller");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["type"], "Warning");
    assert_eq!(warnings[0]["reason"], "ConfigurationError");
    assert_eq!(warnings[0]["regarding"]["uid"], "uid-controller");
    assert!(warnings[0]["note"].as_str().unwrap().contains("nonsense"));

    // While invalid, a new Service gets an address of the last good pool,
    // and nothing about the verdict is written again.
    fake.apply(objects::service("default", "api"));
    settle().await;
    assert_eq!(ingress(&fake, "api"), ["192.0.2.1"]);
    assert_eq!(state_status_writes(&fake).len(), 2, "Valid, Invalid: {:?}", state_status_writes(&fake));
    assert_eq!(state_events(&fake, "controller").len(), 1, "the same error is published once");

    // Fixed: applied (web and api move) and Valid again, with no summary.
    fake.apply(objects::pool(NS, "a", &["203.0.113.0/28"]));
    settle().await;
    let mut moved = [ingress(&fake, "web"), ingress(&fake, "api")].concat();
    moved.sort();
    assert_eq!(moved, ["203.0.113.0", "203.0.113.1"]);
    let state = controller_state(&fake);
    assert_eq!(state["status"]["result"], "Valid");
    assert!(state["status"].get("errorSummary").is_none(), "{state}");
    assert_eq!(state_status_writes(&fake).len(), 3);
    let events = state_events(&fake, "controller");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["type"], "Normal");
    assert_eq!(events[1]["reason"], "ConfigurationValid");
}

#[tokio::test(start_paused = true)]
async fn a_controller_starting_over_an_invalid_configuration_clears_no_service() {
    let fake = cluster();
    fake.apply(service_holding("web", &["192.0.2.5"]));
    // Two pools over one range: MetalLB's webhook refuses the second.
    fake.apply(objects::pool(NS, "b", &["192.0.2.0/28"]));
    let _controller = start(&fake);
    settle().await;

    assert!(fake.status_patches().is_empty(), "{:?}", fake.status_patches());
    assert_eq!(ingress(&fake, "web"), ["192.0.2.5"]);
    let state = controller_state(&fake);
    assert_eq!(state["status"]["result"], "Invalid");
    let summary = state["status"]["errorSummary"].as_str().unwrap();
    assert!(summary.contains("IPAddressPool/"), "{summary}");
    assert!(fake.pool_status_patches().is_empty(), "nothing is counted under an unknown configuration");
}

#[tokio::test(start_paused = true)]
async fn a_speaker_reports_under_its_node_owned_by_its_pod_and_writes_only_changes() {
    let fake = FakeApi::default();
    let client = fake.client();
    let speaker = Component::Speaker { node: "node1".into() };
    let publisher = Publisher::new(client.clone(), "ferrolb-speaker", Some("node1"));
    let owner = pod_owner("ferrolb-speaker-x7k2p", "uid-pod");
    let mut report = ConfigurationReport::new(client, NS, speaker, Some(owner), publisher);

    report.report(&[]).await.unwrap();
    report.report(&[]).await.unwrap();
    let state = fake.get("ConfigurationState", NS, "speaker-node1").expect("created");
    assert_eq!(
        state["metadata"]["labels"],
        json!({"metallb.io/component-type": "speaker", "metallb.io/node-name": "node1"})
    );
    assert_eq!(
        state["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Pod", "name": "ferrolb-speaker-x7k2p", "uid": "uid-pod"}])
    );
    assert_eq!(state["status"]["result"], "Valid");
    assert_eq!(state["status"]["conditions"][0]["type"], "configReconcilerValid");
    assert_eq!(state_status_writes(&fake).len(), 1, "the same verdict twice: one write");
    assert!(state_events(&fake, "speaker-node1").is_empty(), "valid from the start: no Event");

    let errors = ["BGPPeer/p: spec.myASN: 0 is not an ASN (expected 1 to 4294967295)".to_owned()];
    report.report(&errors).await.unwrap();
    report.report(&errors).await.unwrap();
    let state = fake.get("ConfigurationState", NS, "speaker-node1").unwrap();
    assert_eq!(state["status"]["result"], "Invalid");
    assert_eq!(state["status"]["errorSummary"], format!("configuration error: {}", errors[0]));
    assert_eq!(state_status_writes(&fake).len(), 2);
    assert_eq!(state_events(&fake, "speaker-node1").len(), 1);
    assert_eq!(state_events(&fake, "speaker-node1")[0]["reportingInstance"], "node1");
}

#[tokio::test(start_paused = true)]
async fn a_restarted_component_adopts_its_configuration_state() {
    let fake = FakeApi::default();
    let report = |fake: &FakeApi| {
        let client = fake.client();
        let publisher = Publisher::new(client.clone(), "ferrolb-controller", None);
        ConfigurationReport::new(client, NS, Component::Controller, None, publisher)
    };
    report(&fake).report(&[]).await.unwrap();
    report(&fake).report(&[]).await.unwrap();
    let posts = fake.configuration_state_writes().into_iter().filter(|w| w.method == "POST").count();
    assert_eq!(posts, 1, "created once");
    assert_eq!(state_status_writes(&fake).len(), 1, "the status it finds is the one it would write");
}

#[tokio::test(start_paused = true)]
async fn a_service_with_deprecated_annotations_is_warned_once_per_change() {
    let fake = cluster();
    let mut service = objects::service("default", "web");
    service["metadata"]["annotations"] = json!({"metallb.universe.tf/address-pool": "a"});
    fake.apply(service);
    let _controller = start(&fake);
    settle().await;
    assert_eq!(reasons(&fake, "web"), ["IPAllocated", "deprecatedAnnotation"]);
    let warning = &fake.events()[fake.events().len() - 1];
    assert_eq!(warning["type"], "Warning");
    assert_eq!(warning["note"], "Service uses deprecated annotation metallb.universe.tf/address-pool");

    // A change that needs no write: no new warning.
    let mut labelled = fake.get("Service", "default", "web").unwrap();
    labelled["metadata"]["labels"] = json!({"tier": "front"});
    fake.apply(labelled);
    settle().await;
    assert_eq!(reasons(&fake, "web"), ["IPAllocated", "deprecatedAnnotation"]);
}

#[tokio::test(start_paused = true)]
async fn a_deleted_configuration_state_is_created_again_with_the_next_change() {
    let fake = FakeApi::default();
    let client = fake.client();
    let publisher = Publisher::new(client.clone(), "ferrolb-controller", None);
    let mut report = ConfigurationReport::new(client, NS, Component::Controller, None, publisher);
    report.report(&[]).await.unwrap();
    fake.delete("ConfigurationState", NS, "controller");

    report.report(&["IPAddressPool/a: spec.addresses: no addresses".to_owned()]).await.unwrap();
    let state = controller_state(&fake);
    assert_eq!(state["status"]["result"], "Invalid");
    assert_eq!(state["metadata"]["labels"]["metallb.io/component-type"], "controller");
}

/// The condition the controller's ConfigurationState lists ignored objects
/// under, if any.
fn ignored_condition(fake: &FakeApi) -> Option<Value> {
    let state = controller_state(fake);
    let conditions = state["status"]["conditions"].as_array().cloned().unwrap_or_default();
    conditions.into_iter().find(|c| c["type"] == "namespaceValid")
}

/// The Events about `namespace/name`.
fn events_about(fake: &FakeApi, namespace: &str, name: &str) -> Vec<Value> {
    fake.events()
        .into_iter()
        .filter(|e| e["regarding"]["namespace"] == namespace && e["regarding"]["name"] == name)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_pool_outside_the_namespace_is_ignored_with_one_event_and_a_reason_until_deleted() {
    let fake = cluster();
    fake.apply(objects::service("default", "web"));
    let _controller = start(&fake);
    settle().await;
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);
    assert_eq!(ignored_condition(&fake), None, "nothing ignored: MetalLB's one condition only");

    // Would overlap pool a, and give api an address of its own, were it read.
    let mut stray = objects::pool("default", "stray", &["192.0.2.0/28", "203.0.113.0/28"]);
    stray["metadata"]["uid"] = "uid-stray".into();
    fake.apply(stray);
    fake.apply(objects::service("default", "api"));
    settle().await;
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"], "the allocation is unchanged");
    assert_eq!(ingress(&fake, "api"), ["192.0.2.1"], "a new Service is served from pool a only");
    let state = controller_state(&fake);
    assert_eq!(state["status"]["result"], "Valid", "MetalLB ignores it: no configuration error");
    assert!(state["status"].get("errorSummary").is_none(), "{state}");
    let condition = ignored_condition(&fake).expect("the ignored object listed");
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "IgnoredOutsideNamespace");
    assert_eq!(
        condition["message"],
        "IPAddressPool/stray in namespace \"default\": ignored, MetalLB reads metallb.io objects only in \
         \"metallb-system\""
    );
    let events = events_about(&fake, "default", "stray");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "IgnoredOutsideNamespace");
    assert_eq!(events[0]["regarding"]["kind"], "IPAddressPool");
    assert_eq!(events[0]["regarding"]["uid"], "uid-stray");
    assert_eq!(events[0]["metadata"]["namespace"], "default", "the Event lives beside the object");
    let note = events[0]["note"].as_str().unwrap();
    assert!(note.contains("only in namespace \"metallb-system\"") && note.contains("webhook"), "{note}");
    assert!(
        fake.pool_status_patches().iter().all(|w| !w.path.ends_with("/stray/status")),
        "its status untouched"
    );

    // More snapshots, a change of the object, watches started again: still one Event.
    fake.apply(objects::service("default", "db"));
    let mut changed = fake.get("IPAddressPool", "default", "stray").unwrap();
    changed["metadata"]["labels"] = json!({"tier": "front"});
    fake.apply(changed);
    fake.close_watches();
    settle().await;
    assert_eq!(events_about(&fake, "default", "stray").len(), 1, "one Event per object");
    let writes = state_status_writes(&fake).len();

    fake.delete("IPAddressPool", "default", "stray");
    settle().await;
    assert_eq!(ignored_condition(&fake), None, "deleted: the reason is gone");
    assert_eq!(state_status_writes(&fake).len(), writes + 1, "one write to take it out");
    assert_eq!(controller_state(&fake)["status"]["result"], "Valid");
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);
}

#[tokio::test(start_paused = true)]
async fn an_object_in_a_namespace_being_deleted_is_listed_without_an_event() {
    let fake = cluster();
    let mut leaving = objects::namespace("leaving");
    leaving["status"]["phase"] = "Terminating".into();
    fake.apply(leaving);
    fake.apply(objects::pool("leaving", "stray", &["203.0.113.0/28"]));
    fake.apply(objects::pool("default", "other", &["203.0.113.16/28"]));
    let _controller = start(&fake);
    settle().await;
    let condition = ignored_condition(&fake).expect("both listed");
    let message = condition["message"].as_str().unwrap();
    assert!(message.contains("IPAddressPool/stray in namespace \"leaving\""), "{message}");
    assert!(message.contains("IPAddressPool/other in namespace \"default\""), "{message}");
    assert!(events_about(&fake, "leaving", "stray").is_empty(), "the API server would refuse it");
    assert_eq!(events_about(&fake, "default", "other").len(), 1);
}
