//! The watchers against the fake API server, on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::Snapshot;
use ferrolb_k8s::watchers::QUICKEST_WINDOW;
use ferrolb_k8s::{Kind, Watchers};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

use crate::fake::{FakeApi, objects};

const NS: &str = "metallb-system";
const DEBOUNCE: Duration = Duration::from_millis(500);

/// A fake holding one object of every kind in ferrolb's namespace, plus a
/// pool and a Secret elsewhere that must never be seen.
fn cluster() -> FakeApi {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("ferrolb_k8s=debug,kube_runtime=debug,warn")
        .try_init();
    let fake = FakeApi::default();
    fake.apply(objects::service("default", "web"));
    fake.apply(objects::endpoint_slice("default", "web"));
    fake.apply(objects::node("node1", "198.51.100.11"));
    fake.apply(objects::namespace("default"));
    fake.apply(objects::pool(NS, "a", &["192.0.2.0/28"]));
    fake.apply(objects::l2_advertisement(NS, "l2"));
    fake.apply(objects::bgp_peer(NS, "peer"));
    fake.apply(objects::secret(NS, "peer-password"));
    fake.apply(objects::pool("default", "elsewhere", &["203.0.113.0/28"]));
    fake.apply(objects::secret("kube-system", "bootstrap-token"));
    fake
}

/// The next snapshot, failing the test if none comes within a few windows.
async fn next(rx: &mut watch::Receiver<Option<Arc<Snapshot>>>) -> Arc<Snapshot> {
    timeout(DEBOUNCE * 10, rx.changed()).await.expect("a snapshot in time").expect("the watchers run");
    rx.borrow_and_update().clone().expect("a snapshot")
}

fn names<'a, T: 'a>(list: impl IntoIterator<Item = &'a ferrolb_api::Located<T>>) -> Vec<String> {
    list.into_iter().map(|o| o.location.file.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn the_first_snapshot_waits_until_every_kind_is_listed() {
    let fake = cluster();
    fake.hold("secrets");
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    assert!(timeout(DEBOUNCE * 4, rx.changed()).await.is_err(), "no snapshot while Secrets are not listed");
    assert!(rx.borrow().is_none());

    fake.release("secrets");
    let snapshot = next(&mut rx).await;
    assert_eq!(names(&snapshot.services), ["kube:Service/default/web"]);
    assert_eq!(names(&snapshot.endpoint_slices), ["kube:EndpointSlice/default/web-x7k2p"]);
    assert_eq!(names(&snapshot.nodes), ["kube:Node/node1"]);
    assert_eq!(names(&snapshot.namespaces), ["kube:Namespace/default"]);
    assert_eq!(names(&snapshot.pools), ["kube:IPAddressPool/metallb-system/a"]);
    assert_eq!(names(&snapshot.l2_advertisements), ["kube:L2Advertisement/metallb-system/l2"]);
    assert_eq!(names(&snapshot.bgp_peers), ["kube:BGPPeer/metallb-system/peer"]);
    assert_eq!(names(&snapshot.secrets), ["kube:Secret/metallb-system/peer-password"]);
    assert!(snapshot.bgp_advertisements.is_empty() && snapshot.bfd_profiles.is_empty());

    let web = &snapshot.services[0];
    assert!(web.load_balancer);
    assert_eq!(web.annotation("metallb.io/address-pool"), Some("a"));
    assert_eq!(snapshot.pools[0].spec.addresses, ["192.0.2.0/28"]);
    assert_eq!(snapshot.bgp_peers[0].spec.password_secret.name, "peer-password");
    let node = &snapshot.nodes[0];
    assert!(node.metadata.managed_fields.is_none());
    let address = &node.status.as_ref().unwrap().addresses.as_ref().unwrap()[0];
    assert_eq!(address.address, "198.51.100.11");
}

#[tokio::test(start_paused = true)]
async fn a_service_added_later_appears_in_a_new_snapshot() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    let first = next(&mut rx).await;
    assert_eq!(first.services.len(), 1);

    fake.apply(objects::service("shop", "cart"));
    let second = next(&mut rx).await;
    assert_eq!(names(&second.services), ["kube:Service/default/web", "kube:Service/shop/cart"]);
    assert_eq!(second.services[1].key(), "shop/cart");
}

#[tokio::test(start_paused = true)]
async fn a_closed_watch_resumes_from_its_resource_version_without_a_new_list() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    next(&mut rx).await;

    fake.close_watches();
    fake.apply(objects::service("shop", "cart"));
    let snapshot = next(&mut rx).await;
    assert_eq!(snapshot.services.len(), 2);
    let requests = fake.requests();
    let services = |watch: bool| {
        requests
            .iter()
            .filter(|r| r.contains("/api/v1/services?") && r.contains("watch=true") == watch)
            .count()
    };
    assert_eq!((services(false), services(true)), (1, 2), "one LIST, two WATCHes: {requests:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_modified_pool_changes_the_snapshot_and_a_deleted_one_leaves_it() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    next(&mut rx).await;

    fake.apply(objects::pool(NS, "a", &["192.0.2.0/28", "2001:db8::/120"]));
    let modified = next(&mut rx).await;
    assert_eq!(modified.pools[0].spec.addresses, ["192.0.2.0/28", "2001:db8::/120"]);

    fake.delete("IPAddressPool", NS, "a");
    let deleted = next(&mut rx).await;
    assert!(deleted.pools.is_empty());
    assert_eq!(deleted.services.len(), 1, "the rest stays");
}

#[tokio::test(start_paused = true)]
async fn a_node_heartbeat_gives_no_snapshot_but_a_new_label_does() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    next(&mut rx).await;

    let mut node = objects::node("node1", "198.51.100.11");
    node["status"]["conditions"] = serde_json::json!([{"type": "Ready", "status": "True",
        "lastHeartbeatTime": "2026-11-25T15:00:10Z", "lastTransitionTime": "2026-11-25T09:00:00Z"}]);
    fake.apply(node.clone());
    next(&mut rx).await; // the Ready condition is new
    node["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-11-25T15:05:10Z".into();
    fake.apply(node.clone());
    assert!(timeout(DEBOUNCE * 4, rx.changed()).await.is_err(), "a heartbeat alone changes nothing");

    node["metadata"]["labels"]["rack"] = "r2".into();
    fake.apply(node);
    let snapshot = next(&mut rx).await;
    assert_eq!(snapshot.nodes[0].metadata.labels.as_ref().unwrap()["rack"], "r2");
}

#[tokio::test(start_paused = true)]
async fn changes_within_one_window_give_one_snapshot() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    next(&mut rx).await;

    // A build takes no time on the paused clock: the window is the quickest.
    let start = Instant::now();
    fake.apply(objects::service("shop", "a"));
    tokio::time::sleep(QUICKEST_WINDOW / 3).await;
    fake.apply(objects::service("shop", "b"));
    tokio::time::sleep(QUICKEST_WINDOW / 3).await;
    fake.delete("Service", "default", "web");
    let snapshot = next(&mut rx).await;
    assert!(start.elapsed() >= QUICKEST_WINDOW, "not before the window ends");
    assert_eq!(names(&snapshot.services), ["kube:Service/shop/a", "kube:Service/shop/b"]);
    assert!(timeout(DEBOUNCE * 4, rx.changed()).await.is_err(), "no second snapshot without a change");
}

#[tokio::test(start_paused = true)]
async fn a_change_after_a_quiet_window_is_built_at_once() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    next(&mut rx).await;
    tokio::time::sleep(DEBOUNCE * 2).await;

    let start = Instant::now();
    fake.apply(objects::service("shop", "a"));
    let snapshot = next(&mut rx).await;
    assert!(start.elapsed() < QUICKEST_WINDOW, "built {:?} after the change, not at once", start.elapsed());
    assert_eq!(names(&snapshot.services), ["kube:Service/default/web", "kube:Service/shop/a"]);
    // The next change within the window waits for the window's end.
    let again = Instant::now();
    fake.apply(objects::service("shop", "b"));
    next(&mut rx).await;
    assert!(again.elapsed() + start.elapsed() >= QUICKEST_WINDOW, "two snapshots within one window");
}

#[tokio::test(start_paused = true)]
async fn secrets_and_metallb_objects_are_only_asked_for_in_the_namespace() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    let snapshot = next(&mut rx).await;
    assert_eq!(
        fake.paths(),
        [
            "/api/v1/namespaces",
            "/api/v1/namespaces/metallb-system/secrets",
            "/api/v1/nodes",
            "/api/v1/services",
            "/apis/discovery.k8s.io/v1/endpointslices",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/bfdprofiles",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/bgpadvertisements",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/communities",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements",
            "/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers",
        ]
    );
    assert_eq!(names(&snapshot.pools), ["kube:IPAddressPool/metallb-system/a"]);

    // A Secret elsewhere changing is not even sent to ferrolb.
    fake.apply(objects::secret("kube-system", "other"));
    assert!(timeout(DEBOUNCE * 4, rx.changed()).await.is_err());
    assert!(fake.requests().iter().all(|r| !r.contains("kube-system")));
}

#[tokio::test(start_paused = true)]
async fn the_controller_never_asks_for_secrets_or_endpoint_slices() {
    let fake = cluster();
    let mut watchers = Watchers::start_kinds(fake.client(), NS, &Kind::CONTROLLER);
    let mut rx = watchers.snapshots(DEBOUNCE);
    let snapshot = next(&mut rx).await;
    assert!(snapshot.secrets.is_empty() && snapshot.endpoint_slices.is_empty());
    assert_eq!(snapshot.services.len(), 1);
    assert!(fake.paths().iter().all(|p| !p.ends_with("/secrets") && !p.ends_with("/endpointslices")));
}

#[tokio::test(start_paused = true)]
async fn a_failed_list_is_retried_after_a_backoff() {
    let fake = cluster();
    fake.fail_next_list("ipaddresspools");
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    let snapshot = next(&mut rx).await;
    assert_eq!(names(&snapshot.pools), ["kube:IPAddressPool/metallb-system/a"]);
    let lists = fake
        .requests()
        .iter()
        .filter(|r| r.contains("/ipaddresspools?") && !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_watchers_ends_the_snapshots() {
    let fake = cluster();
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    next(&mut rx).await;
    drop(watchers);
    assert!(rx.changed().await.is_err(), "the sender is gone with its task");
}

#[tokio::test(start_paused = true)]
async fn a_long_list_comes_in_pages_and_the_snapshot_holds_every_page() {
    let fake = cluster();
    // The watcher asks for 500 at a time: three pages.
    for i in 0..1_200 {
        fake.apply(objects::service("default", &format!("svc-{i:04}")));
    }
    let mut watchers = Watchers::start_kinds(fake.client(), NS, &[Kind::Service]);
    let mut rx = watchers.snapshots(DEBOUNCE);
    let snapshot = next(&mut rx).await;
    assert_eq!(snapshot.services.len(), 1_201);
    let lists: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/services?") && !r.contains("watch=true"))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(lists.iter().all(|r| r.contains("limit=500")), "{lists:?}");
    assert!(lists[1].contains("continue=500") && lists[2].contains("continue=1000"), "{lists:?}");
}

/// The node that leads `service`'s VIP as a speaker plans it from `snapshot`.
fn l2_leader(snapshot: &Snapshot, service: &str) -> Option<String> {
    use ferrolb_announce::{Alive, plan_l2};
    let (config, _) =
        ferrolb_api::validate::validated(snapshot, &ferrolb_api::validate::Options::any_namespace());
    let allocation = ferrolb_ipam::allocate(&config, snapshot, &Default::default(), &Default::default());
    let alive = Alive::every_node(snapshot);
    ["node1", "node2"]
        .into_iter()
        .find(|node| {
            plan_l2(&config, snapshot, &allocation, node, &alive).vips_of(service).any(|v| v.leads())
        })
        .map(str::to_owned)
}

#[tokio::test(start_paused = true)]
async fn a_speakers_plan_follows_endpoint_slices_and_nodes() {
    let fake = cluster();
    fake.apply(objects::node("node2", "198.51.100.12"));
    let mut service = objects::service("default", "web");
    service["spec"]["externalTrafficPolicy"] = "Local".into();
    fake.apply(service);
    let mut watchers = Watchers::start(fake.client(), NS);
    let mut rx = watchers.snapshots(DEBOUNCE);
    let first = next(&mut rx).await;
    assert_eq!(l2_leader(&first, "default/web").as_deref(), Some("node1"), "the only node with an endpoint");

    // The pod moves: only node2 may announce the Local Service now.
    let mut slice = objects::endpoint_slice("default", "web");
    slice["endpoints"][0]["nodeName"] = "node2".into();
    fake.apply(slice);
    let moved = next(&mut rx).await;
    assert_eq!(l2_leader(&moved, "default/web").as_deref(), Some("node2"));

    // node2 is excluded from load balancers: nobody may announce.
    let mut node2 = objects::node("node2", "198.51.100.12");
    node2["metadata"]["labels"]["node.kubernetes.io/exclude-from-external-load-balancers"] = "".into();
    fake.apply(node2);
    let excluded = next(&mut rx).await;
    assert_eq!(l2_leader(&excluded, "default/web"), None);
}
