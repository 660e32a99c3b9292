//! A speaker's ServiceL2Status / ServiceBGPStatus objects and `nodeAssigned`
//! Events against the fake API server: created, updated and deleted as what
//! the node announces changes, and nothing written when nothing changed.

use ferrolb_api::metallb::{InterfaceInfo, ServiceBGPStatusStatus, ServiceL2StatusStatus};
use ferrolb_ipam::ServiceKey;
use ferrolb_k8s::Stores;
use ferrolb_k8s::announcements::{AnnouncementStatus, Announcements};
use ferrolb_k8s::configuration_state::pod_owner;
use serde_json::json;

use crate::fake::FakeApi;

const NS: &str = "metallb-system";

fn l2(name: &str, interfaces: &[&str]) -> (ServiceKey, ServiceL2StatusStatus) {
    let status = ServiceL2StatusStatus {
        node: "node1".into(),
        service_name: name.into(),
        service_namespace: "default".into(),
        interfaces: interfaces.iter().map(|&i| InterfaceInfo { name: i.into() }).collect(),
    };
    (ServiceKey::new("default", name), status)
}

fn bgp(name: &str, peers: &[&str]) -> (ServiceKey, ServiceBGPStatusStatus) {
    let status = ServiceBGPStatusStatus {
        node: "node1".into(),
        service_name: name.into(),
        service_namespace: "default".into(),
        peers: peers.iter().map(|&p| p.into()).collect(),
    };
    (ServiceKey::new("default", name), status)
}

/// An object another node wrote: never touched by node1.
fn other_nodes_status() -> serde_json::Value {
    json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {"name": "l2-other", "namespace": NS, "labels": {
            "metallb.io/node": "node2",
            "metallb.io/service-name": "db",
            "metallb.io/service-namespace": "default",
        }},
        "status": {"node": "node2", "serviceName": "db", "serviceNamespace": "default"},
    })
}

#[tokio::test]
async fn status_objects_follow_what_the_node_announces() {
    let fake = FakeApi::default();
    fake.apply(other_nodes_status());
    let mut writer = AnnouncementStatus::new(fake.client(), NS, "node1");
    let stores = Stores::default();

    // web by L2 on eth0, api by BGP to two peers.
    let first = Announcements {
        l2: [l2("web", &["eth0"])].into_iter().collect(),
        bgp: [bgp("api", &["r1", "r2"])].into_iter().collect(),
    };
    writer.write(&first, &stores).await.unwrap();
    let l2_objects: Vec<_> =
        fake.all("ServiceL2Status").into_iter().filter(|o| o["metadata"]["name"] != "l2-other").collect();
    assert_eq!(l2_objects.len(), 1);
    let web = &l2_objects[0];
    assert!(web["metadata"]["name"].as_str().unwrap().starts_with("l2-"));
    assert_eq!(web["metadata"]["labels"]["metallb.io/node"], "node1");
    assert_eq!(web["metadata"]["labels"]["metallb.io/service-name"], "web");
    assert_eq!(
        web["status"],
        json!({"node": "node1", "serviceName": "web", "serviceNamespace": "default",
            "interfaces": [{"name": "eth0"}]})
    );
    let bgp_objects = fake.all("ServiceBGPStatus");
    assert_eq!(bgp_objects.len(), 1);
    assert!(bgp_objects[0]["metadata"]["name"].as_str().unwrap().starts_with("bgp-"));
    assert_eq!(bgp_objects[0]["status"]["peers"], json!(["r1", "r2"]));
    let notes: Vec<String> = fake.events().iter().map(|e| e["note"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        notes,
        [
            r#"announcing from node "node1" with protocol "bgp""#,
            r#"announcing from node "node1" with protocol "layer2""#,
        ]
    );
    assert!(fake.events().iter().all(|e| e["reason"] == "nodeAssigned"));

    // The same again: nothing written.
    let writes = fake.writes().len();
    writer.write(&first, &stores).await.unwrap();
    assert_eq!(fake.writes().len(), writes);

    // web moves to eth1: its object is patched, no new Event.
    let moved = Announcements { l2: [l2("web", &["eth1"])].into_iter().collect(), ..first.clone() };
    writer.write(&moved, &stores).await.unwrap();
    let new_writes = &fake.writes()[writes..];
    assert_eq!(new_writes.len(), 1);
    assert_eq!(new_writes[0].method, "PATCH");
    assert!(new_writes[0].path.ends_with("/status"));
    let name = web["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        fake.get("ServiceL2Status", NS, name).unwrap()["status"]["interfaces"],
        json!([{"name": "eth1"}])
    );

    // Nothing announced any more: this node's objects go, node2's stays.
    writer.write(&Announcements::default(), &stores).await.unwrap();
    let names: Vec<_> = fake.all("ServiceL2Status").iter().map(|o| o["metadata"]["name"].clone()).collect();
    assert_eq!(names, [json!("l2-other")]);
    assert!(fake.all("ServiceBGPStatus").is_empty());
}

#[tokio::test]
async fn a_restarted_speaker_adopts_its_objects_and_removes_stale_ones() {
    let fake = FakeApi::default();
    let stores = Stores::default();
    let announced = Announcements { l2: [l2("web", &[])].into_iter().collect(), ..Announcements::default() };
    let gone =
        Announcements { l2: [l2("web", &[]), l2("old", &[])].into_iter().collect(), ..announced.clone() };
    AnnouncementStatus::new(fake.client(), NS, "node1").write(&gone, &stores).await.unwrap();
    let before = fake.writes().len();

    // A new process: it lists what node1 wrote, keeps web's object as it
    // is and deletes old's. (It tells nodeAssigned again: it announces
    // anew, as MetalLB's speaker does after a restart.)
    AnnouncementStatus::new(fake.client(), NS, "node1").write(&announced, &stores).await.unwrap();
    let methods: Vec<_> = fake.writes()[before..]
        .iter()
        .filter(|w| w.path.starts_with("/apis/metallb.io/"))
        .map(|w| w.method.clone())
        .collect();
    assert_eq!(methods, ["DELETE"]);
    let services: Vec<_> =
        fake.all("ServiceL2Status").iter().map(|o| o["status"]["serviceName"].clone()).collect();
    assert_eq!(services, [json!("web")]);
}

#[tokio::test]
async fn objects_are_owned_by_the_speaker_pod_and_a_new_pod_adopts_them() {
    let fake = FakeApi::default();
    let stores = Stores::default();
    let announced = Announcements { l2: [l2("web", &[])].into_iter().collect(), ..Announcements::default() };
    let first = pod_owner("ferrolb-speaker-aaaaa", "uid-first");
    AnnouncementStatus::new(fake.client(), NS, "node1")
        .owned_by(first)
        .write(&announced, &stores)
        .await
        .unwrap();
    let object = &fake.all("ServiceL2Status")[0];
    assert_eq!(
        object["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Pod", "name": "ferrolb-speaker-aaaaa", "uid": "uid-first"}]),
        "deleting the pod deletes the object"
    );

    // The DaemonSet replaced the pod: the new one takes the objects over
    // before the garbage collector removes them with the old pod.
    let second = pod_owner("ferrolb-speaker-bbbbb", "uid-second");
    let mut writer = AnnouncementStatus::new(fake.client(), NS, "node1").owned_by(second);
    writer.write(&announced, &stores).await.unwrap();
    let object = &fake.all("ServiceL2Status")[0];
    assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "uid-second");
    assert_eq!(object["metadata"]["ownerReferences"].as_array().unwrap().len(), 1);
    assert_eq!(object["status"]["serviceName"], "web", "the status stays");
    let before = fake.writes().len();
    writer.write(&announced, &stores).await.unwrap();
    assert_eq!(fake.writes().len(), before, "adopted once");
}
