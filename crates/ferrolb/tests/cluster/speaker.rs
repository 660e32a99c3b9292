//! Three `ferrolb speaker` processes, each in a node namespace of the lab
//! topology with its own Node name and token (through an [`ApiRelay`]),
//! announcing to a real FRR router by BGP (ECMP) and to a client by ARP and
//! NDP, for Services created, changed and deleted with kubectl.

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_lab::k8s::{ApiRelay, StandInPod};
use ferrolb_lab::{Frr, Topology, lab_ready, probe};
use serde_json::Value;

use crate::support::{Cleanup, Cluster, NAMESPACE, credential_of, wait_for};

const NODE_ASN: u32 = 64512;
const ROUTER_ASN: u32 = 64513;
const TIMEOUT: Duration = Duration::from_secs(60);
const L2_VIP_V4: &str = "198.51.100.200";
const L2_VIP_V6: &str = "2001:db8:100::200";
const BGP_VIP: &str = "192.0.2.100";
const LOCAL_VIP: &str = "192.0.2.101";

/// The configuration of this test, in ferrolb's namespace, for the
/// Services of `namespace` only.
fn configuration(namespace: &str) -> String {
    let router = ferrolb_lab::ROUTER_V4;
    format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {namespace}-lan, namespace: {NAMESPACE}}}
spec:
  addresses: [{L2_VIP_V4}/32, {L2_VIP_V6}/128]
  serviceAllocation: {{namespaces: [{namespace}]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: {namespace}-lan, namespace: {NAMESPACE}}}
spec:
  ipAddressPools: [{namespace}-lan]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {namespace}-routed, namespace: {NAMESPACE}}}
spec:
  addresses: [{BGP_VIP}-{LOCAL_VIP}]
  serviceAllocation: {{namespaces: [{namespace}]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: {namespace}-routed, namespace: {NAMESPACE}}}
spec:
  ipAddressPools: [{namespace}-routed]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: {namespace}-router, namespace: {NAMESPACE}}}
spec:
  myASN: {NODE_ASN}
  peerASN: {ROUTER_ASN}
  peerAddress: {router}
  holdTime: 9s
  enableGracefulRestart: true
"
    )
}

/// Whether FRR holds a path of the IPv4 host route `vip` as stale (kept for a peer that restarts).
fn stale(frr: &Frr, vip: &str) -> bool {
    frr.stale(vip).ok().flatten() == Some(true)
}

/// A LoadBalancer Service of `namespace` asking for `ip`.
fn service(namespace: &str, name: &str, ip: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  \
         annotations: {{metallb.io/loadBalancerIPs: \"{ip}\"}}\nspec:\n  type: LoadBalancer\n  \
         selector: {{app: {name}}}\n  ports: [{{port: 80, protocol: TCP}}]\n{extra}"
    )
}

/// An EndpointSlice of Service `service` with one ready endpoint on `node`, as
/// the EndpointSlice controller would make it (no controller runs here).
fn endpoints_on(namespace: &str, service: &str, node: &str) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}-a\n  \
         namespace: {namespace}\n  labels: {{kubernetes.io/service-name: {service}}}\naddressType: IPv4\n\
         ports: [{{port: 80, protocol: TCP}}]\nendpoints:\n- addresses: [\"203.0.113.50\"]\n  \
         conditions: {{ready: true, serving: true, terminating: false}}\n  nodeName: {node}\n"
    )
}

/// `curl -k URL` from inside `netns` (the speakers' certificates are self-signed).
fn curl(netns: &ferrolb_lab::Netns, url: &str) -> String {
    curl_with(netns, url, &[])
}

/// [`curl`] with more options (a bearer token's header).
fn curl_with(netns: &ferrolb_lab::Netns, url: &str, args: &[&str]) -> String {
    let out = netns
        .command("curl")
        .args(["-sfk", "--max-time", "5"])
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP port free on the host's loopback now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

/// A Pod standing for the speaker's own (no kubelet runs it): what its
/// status objects are owned by. Returns its uid.
fn speaker_pod(cluster: &Cluster, name: &str, node: &str) -> String {
    let pod = StandInPod {
        namespace: NAMESPACE,
        name,
        service_account: "ferrolb-speaker",
        node,
        image: "ghcr.io/ferrolb/ferrolb:latest",
    };
    pod.create(&cluster.plane()).unwrap_or_else(|e| panic!("{e}"))
}

/// Which node names the ServiceL2Status and ServiceBGPStatus objects of `service` give.
fn status_nodes(cluster: &Cluster, kind: &str, namespace: &str, service: &str) -> Vec<String> {
    let selector = format!("metallb.io/service-namespace={namespace},metallb.io/service-name={service}");
    let list = cluster.kubectl_json(&["get", kind, "-n", NAMESPACE, "-l", &selector]);
    let mut nodes: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["status"]["node"].as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    nodes
}

/// The gateways of the router's kernel route to `vip` (empty: no route).
fn paths(topology: &Topology, vip: &str) -> Vec<String> {
    let mut gateways = topology.router.route(vip).ok().flatten().map(|r| r.gateways()).unwrap_or_default();
    gateways.sort();
    gateways
}

/// Services created, changed and deleted with kubectl are announced by
/// BGP and ARP/NDP, with the status objects and Events MetalLB's speaker writes.
pub fn three_speakers_announce_by_bgp_and_l2(cluster: &Cluster) {
    if !lab_ready(&["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "arping", "ndisc6"]) {
        return;
    }
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("speakers");
    cleanup.delete(&["services,endpointslices", "--all", "-n", &namespace]);
    let statuses = format!("metallb.io/service-namespace={namespace}");
    cleanup.delete(&["servicel2statuses,servicebgpstatuses", "-n", NAMESPACE, "-l", &statuses]);
    let topology = Topology::new(3).unwrap_or_else(|e| panic!("{e}"));
    let frr = Frr::start(&topology.router, &topology.router_frr_config(ROUTER_ASN, NODE_ASN))
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = (1..=3).map(|i| format!("{namespace}-node{i}")).collect();
    for (name, node) in names.iter().zip(&topology.nodes) {
        cleanup.delete(&["node", name]);
        cluster.create(&format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus:\n  addresses: [{{type: InternalIP, address: \"{}\"}}]\n",
            node.ipv4
        ));
    }
    let configuration = configuration(&namespace);
    let file = cluster.plane().write_manifest(&configuration).unwrap_or_else(|e| panic!("{e}"));
    cleanup.delete(&["-f", &file.to_string_lossy()]);
    cluster.try_apply(&configuration).unwrap_or_else(|e| panic!("{e}"));

    // HTTPS metrics on a port of its own: the host's 9120 may be taken.
    let secure = format!("127.0.0.1:{}", free_port());
    let mut controller = cluster
        .controller("controller-speakers", &["--no-leader-election", "--secure-metrics-address", &secure]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    let port = cluster.plane().port();
    let relays: Vec<ApiRelay> = topology
        .nodes
        .iter()
        .map(|n| ApiRelay::start(&n.netns, port).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    // Each speaker is the process of a Pod (as the DaemonSet's), the owner of its status objects.
    let start_speaker = |i: usize, pod: &str| -> (u32, String) {
        let uid = speaker_pod(cluster, pod, &names[i]);
        let kubeconfig = cluster.service_account("ferrolb-speaker");
        let credential = credential_of(&kubeconfig);
        let netns = &topology.nodes[i].netns;
        let mut c = netns.command(env!("CARGO_BIN_EXE_ferrolb"));
        c.args(["speaker", "--node", &names[i]])
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", pod)
            .env("POD_UID", uid)
            .env("FERROLB_MEMBERLIST_SECRET", "cluster-test-gossip-key")
            .env("RUST_LOG", "info");
        (netns.spawn(c, &netns.dir().join("speaker.log")).unwrap_or_else(|e| panic!("{e}")), credential)
    };
    for name in &names {
        cleanup.delete(&[
            "pod",
            "-n",
            NAMESPACE,
            &format!("{name}-a"),
            &format!("{name}-b"),
            &format!("{name}-c"),
        ]);
    }
    let mut speakers: Vec<u32> = (0..3).map(|i| start_speaker(i, &format!("{}-a", names[i])).0).collect();
    let logs = || {
        let read = |n: &ferrolb_lab::Node| {
            std::fs::read_to_string(n.netns.dir().join("speaker.log")).unwrap_or_default()
        };
        topology.nodes.iter().map(read).collect::<Vec<_>>().join("\n---\n")
    };
    for node in &topology.nodes {
        if let Err(e) = frr.wait_established(IpAddr::V4(node.ipv4), TIMEOUT) {
            panic!("{e}\nspeaker logs:\n{}", logs());
        }
    }

    // BGP, traffic policy Cluster: every node, ECMP at the router.
    cluster.create(&service(&namespace, "web-bgp", BGP_VIP, ""));
    let all: Vec<String> = topology.nodes.iter().map(|n| n.ipv4.to_string()).collect();
    wait_for("three paths to the BGP VIP", TIMEOUT, || paths(&topology, BGP_VIP) == all);
    wait_for("a ServiceBGPStatus per node", TIMEOUT, || {
        status_nodes(cluster, "servicebgpstatuses", &namespace, "web-bgp") == names
    });

    // Traffic policy Local: only the node with an endpoint; the endpoint moves, so does the route.
    cluster.create(&service(&namespace, "web-local", LOCAL_VIP, "  externalTrafficPolicy: Local\n"));
    cluster.create(&endpoints_on(&namespace, "web-local", &names[1]));
    let via = |i: usize| vec![topology.nodes[i].ipv4.to_string()];
    wait_for("the Local VIP via node2 only", TIMEOUT, || paths(&topology, LOCAL_VIP) == via(1));
    cluster.try_apply(&endpoints_on(&namespace, "web-local", &names[2])).unwrap_or_else(|e| panic!("{e}"));
    wait_for("the Local VIP via node3 only", TIMEOUT, || paths(&topology, LOCAL_VIP) == via(2));

    // L2, dual-stack: one node answers ARP and NDP, the one its status object names.
    let dual = "  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n";
    cluster.create(&service(&namespace, "web-l2", &format!("{L2_VIP_V4},{L2_VIP_V6}"), dual));
    let mut leader = Vec::new();
    wait_for("one ServiceL2Status", TIMEOUT, || {
        leader = status_nodes(cluster, "servicel2statuses", &namespace, "web-l2");
        leader.len() == 1
    });
    let index = names.iter().position(|n| *n == leader[0]).expect("a node of the test");
    let mac = probe::mac(&topology.nodes[index].netns, "eth0").unwrap_or_else(|e| panic!("{e}"));
    let arp = probe::arping(&topology.client, "eth0", L2_VIP_V4, 2).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !arp.is_empty() && arp.iter().all(|m| *m == mac),
        "ARP replies {arp:?}, expected only {mac} ({})",
        leader[0]
    );
    let mut ndp = Vec::new();
    wait_for("an NDP answer", TIMEOUT, || {
        ndp = probe::ndisc6_all(&topology.client, "eth0", L2_VIP_V6).unwrap_or_default();
        !ndp.is_empty()
    });
    assert!(ndp.iter().all(|m| *m == mac), "NDP answers {ndp:?}, expected only {mac}");
    let events = cluster.kubectl_json(&[
        "get",
        "events.events.k8s.io",
        "-n",
        &namespace,
        "--field-selector",
        "regarding.name=web-l2",
    ]);
    let assigned: Vec<&Value> =
        events["items"].as_array().into_iter().flatten().filter(|e| e["reason"] == "nodeAssigned").collect();
    let expected = format!("announcing from node \"{}\" with protocol \"layer2\"", leader[0]);
    assert!(assigned.iter().any(|e| e["note"] == expected.as_str()), "no event {expected:?} in {assigned:?}");

    // What an operator sees of it: the speakers' metrics over HTTPS on 9120
    // (self-signed, as MetalLB's) and plain on 7472, `ferrolb status` on the
    // node (what `kubectl exec` into the speaker runs), the controller's metrics.
    let netns = &topology.nodes[index].netns;
    let peer = format!("peer=\"{}:179\"", ferrolb_lab::ROUTER_V4);
    let announced = format!(
        "metallb_speaker_announced{{ip=\"{L2_VIP_V4}\",node=\"{}\",protocol=\"layer2\",service=\"{namespace}/web-l2\"}} 1",
        leader[0]
    );
    // HTTPS /metrics only to a token allowed to get it, as MetalLB's: a
    // scraper bound to deploy/'s ferrolb-metrics-reader (as a Prometheus
    // would be), not another account, not without a token.
    for account in ["metrics-scraper", "metrics-nosy"] {
        cleanup.delete(&["serviceaccount", "-n", NAMESPACE, account]);
        cluster.kubectl(&["create", "serviceaccount", "-n", NAMESPACE, account]);
    }
    cleanup.delete(&["clusterrolebinding", "metrics-scraper"]);
    let scraper = format!("{NAMESPACE}:metrics-scraper");
    cluster.kubectl(&[
        "create",
        "clusterrolebinding",
        "metrics-scraper",
        "--clusterrole=ferrolb-metrics-reader",
        &format!("--serviceaccount={scraper}"),
    ]);
    let bearer = |account: &str| {
        let token = cluster.kubectl(&["create", "token", account, "-n", NAMESPACE]);
        format!("Authorization: Bearer {}", token.trim())
    };
    let (allowed, nosy) = (bearer("metrics-scraper"), bearer("metrics-nosy"));
    let code = |netns: &ferrolb_lab::Netns, url: &str, header: Option<&str>| {
        let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        if let Some(header) = header {
            args.extend(["-H", header]);
        }
        let out = netns.command("curl").args(["-sk", "--max-time", "5"]).args(&args).arg(url).output();
        String::from_utf8_lossy(&out.unwrap_or_else(|e| panic!("{e}")).stdout).into_owned()
    };
    let https = "https://127.0.0.1:9120/metrics";
    assert_eq!(code(netns, https, None), "401", "no token");
    assert_eq!(code(netns, https, Some(&nosy)), "403", "a token without get on /metrics");
    for (url, header) in [(https, Some(allowed.as_str())), ("http://127.0.0.1:7472/metrics", None)] {
        let text = curl_with(netns, url, &header.map(|h| vec!["-H", h]).unwrap_or_default());
        assert!(text.lines().any(|l| l == format!("metallb_bgp_session_up{{{peer}}} 1")), "{url}:\n{text}");
        assert!(text.lines().any(|l| l == announced), "{url}: no {announced}:\n{text}");
    }
    // The probes' port, as MetalLB's: health alone.
    assert_eq!(curl(netns, "http://127.0.0.1:17472/readyz"), "ok\n");
    let metrics_there = netns.command("curl").args(["-sf", "http://127.0.0.1:17472/metrics"]).status();
    assert!(!metrics_there.unwrap_or_else(|e| panic!("{e}")).success(), "/metrics on the probes' port");
    let status = netns
        .command(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["status", "--node", &leader[0], "-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let status: Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("ferrolb status: {e}: {}", String::from_utf8_lossy(&status.stderr)));
    assert_eq!(status["node"], leader[0].as_str(), "{status}");
    assert_eq!(status["sessions"][0]["state"], "Established", "{status}");
    let vips: Vec<&Value> = status["vips"].as_array().into_iter().flatten().collect();
    assert!(
        vips.iter().any(|v| v["ip"] == L2_VIP_V4 && v["service"] == format!("{namespace}/web-l2").as_str()),
        "{status}"
    );
    let controller_metrics = std::process::Command::new("curl")
        .args(["-sfk", "--max-time", "5", "-H", &allowed, &format!("https://{secure}/metrics")])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&controller_metrics.stdout);
    let in_use = format!("metallb_allocator_addresses_in_use_total{{pool=\"{namespace}-routed\"}} 2");
    assert!(text.lines().any(|l| l == in_use), "controller: no {in_use}:\n{text}");

    // The leader's speaker dies without a word; the pod that replaces it
    // adopts the status objects the dead one left, of both kinds.
    topology.nodes[index].netns.kill(speakers[index]);
    let (pid, credential) = start_speaker(index, &format!("{}-b", names[index]));
    speakers[index] = pid;
    let adopted = |resource: &str| {
        cluster.audit().iter().any(|e| {
            e.verb == "patch"
                && e.is_about(resource)
                && e.user.credential() == Some(credential.as_str())
                && e.code() == 200
        })
    };
    wait_for("both kinds of status adopted by the new pod", TIMEOUT, || {
        adopted("servicel2statuses") && adopted("servicebgpstatuses")
    });
    wait_for("three paths again", TIMEOUT, || paths(&topology, BGP_VIP) == all);
    wait_for("no stale path", TIMEOUT, || !stale(&frr, BGP_VIP));

    // A pod stops (SIGTERM, as when an upgrade rolls the DaemonSet): as in
    // MetalLB's FRR mode, the peer with enableGracefulRestart keeps the
    // node's path, stale, until the next pod is back; nothing is withdrawn.
    let rolled = (index + 1) % 3;
    topology.nodes[rolled].netns.stop(speakers[rolled], Duration::from_secs(5));
    let log =
        std::fs::read_to_string(topology.nodes[rolled].netns.dir().join("speaker.log")).unwrap_or_default();
    assert!(log.contains("closing the session without a NOTIFICATION"), "{log}");
    wait_for("the stopped node's path stale at the router", TIMEOUT, || stale(&frr, BGP_VIP));
    assert_eq!(paths(&topology, BGP_VIP), all, "the router kept every path");
    speakers[rolled] = start_speaker(rolled, &format!("{}-c", names[rolled])).0;
    wait_for("three fresh paths after the new pod", TIMEOUT, || {
        paths(&topology, BGP_VIP) == all && !stale(&frr, BGP_VIP)
    });

    // Deleted: withdrawn from the router, status objects gone.
    cluster.kubectl(&["delete", "service", "-n", &namespace, "web-bgp"]);
    wait_for("the BGP VIP withdrawn", TIMEOUT, || paths(&topology, BGP_VIP).is_empty());
    wait_for("no ServiceBGPStatus left", TIMEOUT, || {
        status_nodes(cluster, "servicebgpstatuses", &namespace, "web-bgp").is_empty()
    });
    // Stopped while the API server is reachable: each removes its status objects.
    for (pid, node) in speakers.iter().zip(&topology.nodes) {
        node.netns.stop(*pid, Duration::from_secs(5));
    }
    drop(relays);
    let selector = format!("metallb.io/service-namespace={namespace}");
    let left = cluster.kubectl_json(&[
        "get",
        "servicel2statuses,servicebgpstatuses",
        "-n",
        NAMESPACE,
        "-l",
        &selector,
    ]);
    assert_eq!(
        left["items"].as_array().map(Vec::len),
        Some(0),
        "status objects left by stopped speakers: {left}"
    );
    drop(controller);
}
