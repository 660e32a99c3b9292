//! The controller against the fake API server, on tokio's paused clock:
//! what it writes to Services (the PATCH bodies the fake recorded), and the
//! Events it publishes.

use std::time::Duration;

use ferrolb_k8s::{Controller, ControllerOptions};
use futures_util::FutureExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::fake::{FakeApi, objects};

pub const NS: &str = "metallb-system";

/// A fake with pool `a` (192.0.2.0/28), the `default` namespace and a Node.
pub fn cluster() -> FakeApi {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("ferrolb_k8s=debug,warn").try_init();
    let fake = FakeApi::default();
    fake.apply(objects::namespace("default"));
    fake.apply(objects::node("node1", "198.51.100.11"));
    fake.apply(objects::pool(NS, "a", &["192.0.2.0/28"]));
    fake
}

/// A LoadBalancer Service of pool `a` holding `ips` in its status, with the
/// pool annotation when it holds any.
pub fn service_holding(name: &str, ips: &[&str]) -> Value {
    let mut service = objects::service("default", name);
    if !ips.is_empty() {
        service["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] = "a".into();
        service["status"]["loadBalancer"]["ingress"] =
            ips.iter().map(|ip| json!({"ip": ip, "ipMode": "VIP"})).collect();
    }
    service
}

/// A controller in a task of the test's runtime, aborted when the handle is
/// dropped. It runs until aborted: one that stopped by itself (it panicked,
/// or `Controller::run` returned) fails the test when its handle is dropped,
/// with its own panic, so that a test of what it does not write cannot pass
/// because it never ran.
pub struct Running(JoinHandle<()>);

impl Running {
    /// `Controller::run` over `client` with `options`, in namespace [`NS`].
    pub fn spawn(client: kube::Client, options: ControllerOptions) -> Running {
        Running(tokio::spawn(async move {
            match Controller::run(client, NS, options).await {
                Ok(()) => panic!("the controller returned; it runs until aborted"),
                Err(error) => panic!("the controller failed: {error}"),
            }
        }))
    }

    /// Panics unless the controller is still running: with its own panic
    /// when it panicked.
    pub fn assert_running(&mut self) {
        if !self.0.is_finished() {
            return;
        }
        match (&mut self.0).now_or_never() {
            Some(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            ended => panic!("the controller stopped by itself: {ended:?}"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that already fails keeps its own message.
        if !std::thread::panicking() {
            self.assert_running();
        }
        self.0.abort();
    }
}

pub fn start(fake: &FakeApi) -> Running {
    let options = ControllerOptions { debounce: Duration::from_millis(200), ..ControllerOptions::default() };
    Running::spawn(fake.client(), options)
}

/// Lets the controller work until it has nothing left to do: with the
/// clock paused, this is many debounce windows and retries in no time.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(30)).await;
}

/// The ingress IPs the fake holds for `default/name`.
pub fn ingress(fake: &FakeApi, name: &str) -> Vec<String> {
    let service = fake.get("Service", "default", name).expect("the service");
    service["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["ip"].as_str().unwrap().to_owned())
        .collect()
}

pub fn reasons(fake: &FakeApi, name: &str) -> Vec<String> {
    fake.events()
        .iter()
        .filter(|e| e["regarding"]["name"] == name)
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_new_service_gets_its_status_and_annotation_in_one_patch() {
    let fake = cluster();
    fake.apply(objects::service("default", "web"));
    let _controller = start(&fake);
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 1, "one write, and none once the status is seen back: {patches:?}");
    assert_eq!(patches[0].method, "PATCH");
    assert_eq!(patches[0].path, "/api/v1/namespaces/default/services/web/status");
    assert_eq!(
        patches[0].body,
        json!({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "a"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.0"}]}}})
    );
    let stored = fake.get("Service", "default", "web").unwrap();
    assert_eq!(stored["metadata"]["annotations"]["metallb.io/address-pool"], "a", "other annotations stay");

    let events = fake.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["reason"], "IPAllocated");
    assert_eq!(events[0]["type"], "Normal");
    assert_eq!(events[0]["note"], r#"Assigned IP ["192.0.2.0"]"#);
    assert_eq!(events[0]["regarding"]["uid"], "uid-web", "kubectl describe finds it by uid");
    assert_eq!(events[0]["reportingController"], "ferrolb-controller");
}

#[tokio::test(start_paused = true)]
async fn a_service_already_holding_its_address_gets_no_write() {
    let fake = cluster();
    // ipMode, as an API server defaults it, is no difference.
    fake.apply(service_holding("web", &["192.0.2.5"]));
    // The pool already counts it.
    let mut pool = objects::pool(NS, "a", &["192.0.2.0/28"]);
    pool["status"] = json!({"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 15, "availableIPv6": 0});
    fake.apply(pool);
    let mut controller = start(&fake);
    settle().await;
    let writes = fake.writes_except_configuration_states();
    assert!(writes.is_empty(), "{writes:?}");

    // Not because it never ran: it is running, judged the configuration,
    // and counts web's address when a second Service comes.
    controller.assert_running();
    assert!(!fake.configuration_state_writes().is_empty(), "the controller wrote its ConfigurationState");
    fake.apply(objects::service("default", "api"));
    settle().await;
    let patches = fake.status_patches();
    assert_eq!(patches.len(), 1, "api only: {patches:?}");
    assert_eq!(patches[0].path, "/api/v1/namespaces/default/services/api/status");
    let pool = fake.get("IPAddressPool", NS, "a").unwrap();
    assert_eq!(pool["status"]["assignedIPv4"], 2, "web's address and api's: {pool}");
}

#[tokio::test(start_paused = true)]
async fn a_restarted_controller_keeps_every_address_and_writes_nothing_for_them() {
    let fake = cluster();
    for name in ["web-a", "web-b", "web-c"] {
        fake.apply(objects::service("default", name));
    }
    let first = start(&fake);
    settle().await;
    assert_eq!(ingress(&fake, "web-b"), ["192.0.2.1"]);
    assert_eq!(fake.status_patches().len(), 3);
    drop(first);

    // While no controller runs, web-a goes and web-d comes: a fresh
    // allocation in name order would hand web-b the first address again.
    fake.delete("Service", "default", "web-a");
    fake.apply(objects::service("default", "web-d"));
    let _second = start(&fake);
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 4, "only web-d is written: {patches:?}");
    assert_eq!(patches[3].path, "/api/v1/namespaces/default/services/web-d/status");
    assert_eq!(ingress(&fake, "web-b"), ["192.0.2.1"]);
    assert_eq!(ingress(&fake, "web-c"), ["192.0.2.2"]);
    assert_eq!(ingress(&fake, "web-d"), ["192.0.2.0"], "the address web-a left");
}

#[tokio::test(start_paused = true)]
async fn a_restarted_controller_keeps_addresses_recorded_without_the_pool_annotation() {
    let fake = cluster();
    // As an older MetalLB left it: the status, no annotation.
    let mut legacy = service_holding("web", &["192.0.2.9"]);
    legacy["metadata"]["annotations"].as_object_mut().unwrap().remove("metallb.io/ip-allocated-from-pool");
    fake.apply(legacy);
    let _controller = start(&fake);
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].body["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"], "a");
    assert_eq!(ingress(&fake, "web"), ["192.0.2.9"]);
    assert!(reasons(&fake, "web").is_empty(), "only the annotation changed: no event");
}

#[tokio::test(start_paused = true)]
async fn a_pool_change_that_makes_an_address_invalid_moves_the_service() {
    let fake = cluster();
    fake.apply(objects::service("default", "web"));
    let _controller = start(&fake);
    settle().await;
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);

    fake.apply(objects::pool(NS, "a", &["203.0.113.16/28"]));
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(patches[1].body["status"]["loadBalancer"]["ingress"], json!([{"ip": "203.0.113.16"}]));
    assert_eq!(ingress(&fake, "web"), ["203.0.113.16"]);
    assert_eq!(reasons(&fake, "web"), ["IPAllocated", "ClearAssignment", "IPAllocated"]);
    let clear = &fake.events()[1];
    assert!(
        clear["note"].as_str().unwrap().starts_with(
            r#"current IP for "default/web" not allowed by config, will attempt for new IP assignment: "#
        ),
        "{clear}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_whose_pool_goes_loses_its_status_and_annotation() {
    let fake = cluster();
    fake.apply(service_holding("web", &["192.0.2.5"]));
    let _controller = start(&fake);
    settle().await;
    fake.delete("IPAddressPool", NS, "a");
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(
        patches[0].body,
        json!({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": null}},
            "status": {"loadBalancer": {"ingress": null}}})
    );
    assert!(ingress(&fake, "web").is_empty());
    let stored = fake.get("Service", "default", "web").unwrap();
    assert!(stored["metadata"]["annotations"].get("metallb.io/ip-allocated-from-pool").is_none());
    assert_eq!(reasons(&fake, "web"), ["ClearAssignment", "AllocationFailed"]);
}

#[tokio::test(start_paused = true)]
async fn two_services_asking_for_one_address_without_sharing_one_gets_it_the_other_a_warning() {
    let fake = cluster();
    for name in ["first", "second"] {
        let mut service = objects::service("default", name);
        service["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.0.2.7".into();
        fake.apply(service);
    }
    let _controller = start(&fake);
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].path, "/api/v1/namespaces/default/services/first/status");
    assert_eq!(ingress(&fake, "first"), ["192.0.2.7"]);
    assert!(ingress(&fake, "second").is_empty());
    let warnings: Vec<Value> =
        fake.events().into_iter().filter(|e| e["regarding"]["name"] == "second").collect();
    assert_eq!(warnings.len(), 1, "one warning, not one per snapshot: {warnings:?}");
    assert_eq!(warnings[0]["reason"], "AllocationFailed");
    assert_eq!(warnings[0]["type"], "Warning");
    let note = warnings[0]["note"].as_str().unwrap();
    assert!(note.starts_with(r#"Failed to allocate IP for "default/second": "#), "{note}");
    assert!(note.contains("192.0.2.7") && note.contains("default/first"), "{note}");
}

#[tokio::test(start_paused = true)]
async fn n_services_created_at_once_take_n_writes() {
    let fake = cluster();
    let _controller = start(&fake);
    settle().await;
    const N: usize = 12;
    for i in 0..N {
        fake.apply(objects::service("default", &format!("web-{i:02}")));
    }
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), N, "{patches:?}");
    let mut ips: Vec<Vec<String>> = (0..N).map(|i| ingress(&fake, &format!("web-{i:02}"))).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), N, "every Service its own address");
    // Each Service's write came back through the watch; none was written twice.
    let mut paths: Vec<&str> = patches.iter().map(|p| p.path.as_str()).collect();
    paths.dedup();
    assert_eq!(paths.len(), N);
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_tried_again_without_a_new_snapshot() {
    let fake = cluster();
    fake.fail_next_writes(1);
    fake.apply(objects::service("default", "web"));
    let _controller = start(&fake);
    settle().await;

    assert_eq!(fake.status_patches().len(), 2, "the failed one, then the retry");
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);
    assert_eq!(reasons(&fake, "web"), ["IPAllocated"], "the event once, after the write that worked");
}

#[tokio::test(start_paused = true)]
async fn services_of_another_class_are_left_alone_and_a_former_load_balancer_is_cleared() {
    let fake = cluster();
    let mut other_class = service_holding("other", &["192.0.2.3"]);
    other_class["spec"]["loadBalancerClass"] = "example.com/other".into();
    fake.apply(other_class.clone());
    let mut former = service_holding("former", &["192.0.2.4"]);
    former["spec"]["type"] = "ClusterIP".into();
    fake.apply(former);
    let _controller = start(&fake);
    settle().await;

    let patches = fake.status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].path, "/api/v1/namespaces/default/services/former/status");
    assert!(ingress(&fake, "former").is_empty());
    assert_eq!(ingress(&fake, "other"), ["192.0.2.3"], "another controller's Service is not ours to touch");
}

#[tokio::test(start_paused = true)]
async fn a_pool_status_counts_its_addresses_and_is_written_only_when_they_change() {
    let fake = cluster();
    let _controller = start(&fake);
    settle().await;
    let writes = fake.writes_except_configuration_states();
    assert!(writes.is_empty(), "the counts it holds are right: {writes:?}");

    fake.apply(objects::service("default", "web"));
    settle().await;
    let patches = fake.pool_status_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].method, "PATCH");
    assert_eq!(patches[0].path, "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/a/status");
    let counts = json!({"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 15, "availableIPv6": 0});
    assert_eq!(patches[0].body, json!({"status": counts}));
    let stored = fake.get("IPAddressPool", NS, "a").unwrap();
    assert_eq!(stored["status"], counts);
    assert_eq!(
        stored["spec"]["addresses"],
        json!(["192.0.2.0/28"]),
        "the spec is not the status's to change"
    );

    // A change that moves no count: a label on the Service.
    let mut labelled = fake.get("Service", "default", "web").unwrap();
    labelled["metadata"]["labels"] = json!({"tier": "front"});
    fake.apply(labelled);
    settle().await;
    assert_eq!(fake.pool_status_patches().len(), 1, "same counts, no write");

    fake.apply(objects::service("default", "api"));
    settle().await;
    let patches = fake.pool_status_patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(patches[1].body["status"]["assignedIPv4"], 2);
    assert_eq!(patches[1].body["status"]["availableIPv4"], 14);
}
