//! MetalLB's own speaker (native BGP, memberlist) and ferrolb's, one after
//! the other on the same node of the lab, for the same two Services (one
//! by L2, one by BGP to a real FRR): the ServiceL2Status and
//! ServiceBGPStatus objects each writes, and the Events each gives the
//! Services, have the same shape.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ferrolb_k8s::announcements::SPEAKER_NAME;
use ferrolb_lab::k8s::{ApiRelay, MetalLbSpeaker, MetalLbSpeakerSpec, StandInPod};
use ferrolb_lab::{Frr, Topology, lab_ready};
use serde_json::{Value, json};

use crate::support::{Cleanup, Cluster, NAMESPACE};

const NODE_ASN: u32 = 64512;
const ROUTER_ASN: u32 = 64513;
const TIMEOUT: Duration = Duration::from_secs(60);
const L2_VIP: &str = "198.51.100.210";
const BGP_VIP: &str = "192.0.2.110";

/// The pools, advertisements and peer, for the Services of `namespace` only.
fn configuration(namespace: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {namespace}-lan, namespace: {NAMESPACE}}}\n\
         spec:\n  addresses: [{L2_VIP}/32]\n  serviceAllocation: {{namespaces: [{namespace}], serviceSelectors: [{{matchLabels: {{mode: l2}}}}]}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {namespace}-lan, namespace: {NAMESPACE}}}\n\
         spec:\n  ipAddressPools: [{namespace}-lan]\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {namespace}-routed, namespace: {NAMESPACE}}}\n\
         spec:\n  addresses: [{BGP_VIP}/32]\n  serviceAllocation: {{namespaces: [{namespace}], serviceSelectors: [{{matchLabels: {{mode: bgp}}}}]}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {namespace}-routed, namespace: {NAMESPACE}}}\n\
         spec:\n  ipAddressPools: [{namespace}-routed]\n---\n\
         apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  myASN: {NODE_ASN}\n  peerASN: {ROUTER_ASN}\n  peerAddress: {}\n",
        ferrolb_lab::ROUTER_V4
    )
}

/// The two Services, each with an EndpointSlice of one ready endpoint on `node`.
fn services(namespace: &str, node: &str) -> String {
    ["l2", "bgp"]
        .iter()
        .map(|mode| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: web-{mode}, namespace: {namespace}, labels: {{mode: {mode}}}}}\n\
                 spec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n---\n\
                 apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-{mode}-a\n  namespace: {namespace}\n  \
                 labels: {{kubernetes.io/service-name: web-{mode}}}\naddressType: IPv4\nports: [{{port: 80, protocol: TCP}}]\n\
                 endpoints:\n- addresses: [\"203.0.113.50\"]\n  conditions: {{ready: true}}\n  nodeName: {node}\n---\n"
            )
        })
        .collect()
}

/// What one speaker wrote: its status objects and the Services' Events, as
/// comparable shapes (names made by the API server left out).
#[derive(Debug, Default, PartialEq)]
struct Written {
    /// Per kind: the labels, the name's prefix, the owner's kind and
    /// whether it names the speaker's Pod, the status.
    objects: BTreeMap<String, Value>,
    /// Per Service: the Events (type, reason, note, reporting controller), sorted.
    events: BTreeMap<String, Vec<Value>>,
}

fn shape_of(object: &Value, pod: &str) -> Value {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let prefix = object["metadata"]["generateName"].as_str().unwrap_or_default();
    let owners: Vec<Value> = object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| json!({"kind": o["kind"], "apiVersion": o["apiVersion"], "the speaker's pod": o["name"] == pod}))
        .collect();
    json!({
        "labels": object["metadata"]["labels"],
        "generateName": prefix,
        "name made from it": name.starts_with(prefix) && !prefix.is_empty(),
        "ownerReferences": owners,
        "status": object["status"],
    })
}

/// Reads what the speaker of Pod `pod` wrote for the Services of `namespace`.
fn written(cluster: &Cluster, namespace: &str, pod: &str) -> Written {
    let mut out = Written::default();
    for kind in ["servicel2statuses", "servicebgpstatuses"] {
        let selector = format!("metallb.io/service-namespace={namespace}");
        let list = cluster.kubectl_json(&["get", kind, "-n", NAMESPACE, "-l", &selector]);
        for object in list["items"].as_array().into_iter().flatten() {
            out.objects.insert(kind.to_owned(), shape_of(object, pod));
        }
    }
    let events = cluster.kubectl_json(&["get", "events.events.k8s.io", "-n", namespace]);
    for event in events["items"].as_array().into_iter().flatten() {
        // The controllers' Events are not the speakers'. ferrolb's speaker
        // reports as itself (deploy/README.md), and is read as MetalLB's
        // here. MetalLB's Events also carry the core/v1 `source`, which an
        // Event created through events.k8s.io/v1 (as ferrolb's) must not:
        // `kubectl describe` shows the reporting controller in its place.
        let reporter = event["reportingController"]
            .as_str()
            .unwrap_or_default()
            .replace(SPEAKER_NAME, "metallb-speaker");
        if reporter != "metallb-speaker" {
            continue;
        }
        let service = event["regarding"]["name"].as_str().unwrap_or_default().to_owned();
        out.events.entry(service).or_default().push(json!({
            "type": event["type"],
            "reason": event["reason"],
            "note": event["note"],
            "regarding": {"kind": event["regarding"]["kind"], "apiVersion": event["regarding"]["apiVersion"]},
            "reportingController": reporter,
        }));
    }
    for list in out.events.values_mut() {
        list.sort_by_key(Value::to_string);
        list.dedup();
    }
    out
}

/// Both speakers, one after the other on node1, for the same Services: the
/// same status objects and the same Events.
pub fn status_objects_and_events_are_metallbs(cluster: &Cluster) {
    if !lab_ready(&["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh"]) {
        return;
    }
    let Some(tools) = crate::metallb::metallb_tools() else { return };
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("speaker-parity");
    cleanup.delete(&["services,endpointslices,events.events.k8s.io", "--all", "-n", &namespace]);
    let statuses = format!("metallb.io/service-namespace={namespace}");
    cleanup.delete(&["servicel2statuses,servicebgpstatuses", "-n", NAMESPACE, "-l", &statuses]);
    let topology = Topology::new(1).unwrap_or_else(|e| panic!("{e}"));
    let _frr = Frr::start(&topology.router, &topology.router_frr_config(ROUTER_ASN, NODE_ASN))
        .unwrap_or_else(|e| panic!("{e}"));
    let node = format!("{namespace}-node1");
    cleanup.delete(&["node", &node]);
    cluster.create(&format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\nstatus:\n  addresses: [{{type: InternalIP, address: \"{}\"}}]\n",
        topology.nodes[0].ipv4
    ));
    let configuration = configuration(&namespace);
    let file = cluster.plane().write_manifest(&configuration).unwrap_or_else(|e| panic!("{e}"));
    cleanup.delete(&["-f", &file.to_string_lossy()]);
    cluster.try_apply(&configuration).unwrap_or_else(|e| panic!("{e}"));
    let mut controller = cluster.controller("controller-speaker-parity", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    cluster.create(&services(&namespace, &node));
    let _relay =
        ApiRelay::start(&topology.nodes[0].netns, cluster.plane().port()).unwrap_or_else(|e| panic!("{e}"));
    let netns = &topology.nodes[0].netns;
    // Both objects naming the node and both Services' Events, within the timeout.
    let wait_written = |who: &str, pod: &str, running: &dyn Fn() -> bool| -> Written {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let w = written(cluster, &namespace, pod);
            let node_named = w.objects.values().all(|o| o["status"]["node"] == node.as_str());
            if w.objects.len() == 2 && w.events.len() == 2 && node_named {
                return w;
            }
            assert!(running(), "{who}'s speaker exited");
            assert!(
                std::time::Instant::now() < deadline,
                "{who}'s speaker wrote within {TIMEOUT:?} only {w:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // Only the speaker's own objects and Events are compared: the next
    // speaker starts from none.
    let clear = || {
        let statuses = format!("metallb.io/service-namespace={namespace}");
        cluster.kubectl(&[
            "delete",
            "servicel2statuses,servicebgpstatuses",
            "-n",
            NAMESPACE,
            "-l",
            &statuses,
        ]);
        cluster.kubectl(&["delete", "events.events.k8s.io", "--all", "-n", &namespace]);
    };

    // MetalLB's speaker.
    let pod = format!("{namespace}-metallb");
    cleanup.delete(&["pod", "-n", NAMESPACE, &pod]);
    let spec = MetalLbSpeakerSpec {
        namespace: NAMESPACE,
        pod: &pod,
        node: &node,
        ip: IpAddr::V4(topology.nodes[0].ipv4),
        group: &namespace,
        args: &[],
    };
    let metallb = {
        let plane = cluster.plane();
        MetalLbSpeaker::prepare(&plane, &tools, &spec).unwrap_or_else(|e| panic!("{e}"));
        MetalLbSpeaker::start(&plane, &tools, netns, &spec).unwrap_or_else(|e| panic!("{e}"))
    };
    wait_written("MetalLB", &pod, &|| metallb.exit_status().is_none());
    std::thread::sleep(Duration::from_secs(2));
    let theirs = written(cluster, &namespace, &pod);
    // Killed, as a deleted DaemonSet's Pod after its grace period: what it wrote stays.
    metallb.kill();
    drop(metallb);
    clear();

    // ferrolb's speaker.
    let pod = format!("{namespace}-ferrolb");
    cleanup.delete(&["pod", "-n", NAMESPACE, &pod]);
    let uid = StandInPod {
        namespace: NAMESPACE,
        name: &pod,
        service_account: "ferrolb-speaker",
        node: &node,
        image: "ghcr.io/ferrolb/ferrolb:latest",
    }
    .create(&cluster.plane())
    .unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = cluster.service_account("ferrolb-speaker");
    let mut c = netns.command(env!("CARGO_BIN_EXE_ferrolb"));
    c.args(["speaker", "--node", &node])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", &pod)
        .env("POD_UID", uid)
        .env("FERROLB_MEMBERLIST_SECRET", "cluster-test-gossip-key")
        .env("RUST_LOG", "info");
    let ferrolb = netns.spawn(c, &netns.dir().join("ferrolb-speaker.log")).unwrap_or_else(|e| panic!("{e}"));
    wait_written("ferrolb", &pod, &|| netns.exit_status(ferrolb).is_none());
    std::thread::sleep(Duration::from_secs(2));
    let ours = written(cluster, &namespace, &pod);
    netns.stop(ferrolb, Duration::from_secs(5));
    drop(controller);

    println!(
        "    MetalLB's speaker wrote:\n{}",
        serde_json::to_string_pretty(&json!({"objects": theirs.objects, "events": theirs.events}))
            .unwrap_or_default()
    );
    assert_eq!(ours.objects, theirs.objects, "the status objects differ (left: ferrolb's)");
    assert_eq!(ours.events, theirs.events, "the Events differ (left: ferrolb's)");
}
