//! `ferrolb run` as a BGP speaker against BIRD 2, GoBGP 3 and FRR: attributes as
//! each peer sees them, ECMP over two nodes, TCP MD5 and an IPv6 session.
//!
//! ```text
//!   one node (BIRD, GoBGP, MD5):             ECMP:
//!   ┌─ router ───────┐  veth  ┌─ node ─────┐   ┌─ router ─┐ ┌─ node1 ─┐ ┌─ node2 ─┐
//!   │ peer 192.0.2.1 ├────────┤ .11 ferrolb│   │ FRR .1   │ │ .11     │ │ .12     │
//!   │ AS 64513       │  eth0  │ AS 64512   │   └────┬─────┘ └────┬────┘ └────┬────┘
//!   └────────────────┘        └────────────┘   ┌────┴────────────┴───────────┴────┐
//!   IPv6: FRR 2001:db8::1 ↔ node 2001:db8::11  │ br0 (Segment)                    │
//!                                              └──────────────────────────────────┘
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_lab::{Bird, BirdConfig, Frr, FrrConfig, GoBgp, GoBgpConfig, Netns, Segment, veth};

use crate::support::{Ferrolb, lab_ready, wait_for};

/// Upper bound for anything to happen; no test waits this long when things work.
const TIMEOUT: Duration = Duration::from_secs(20);
const NODE1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const NODE2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The cluster file every test builds on.
struct Cluster<'a> {
    pool: &'a str,
    peer_address: &'a str,
    password: Option<&'a str>,
    /// Nodes and their InternalIPs.
    nodes: &'a [(&'a str, &'a [&'a str])],
    /// The Service's `ipFamilies` (`IPv6`); IPv4 when `None`.
    family: Option<&'a str>,
}

impl Cluster<'_> {
    fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = write!(
            w,
            "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: vips}}
spec:
  addresses: [{pool}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: {peer}
  holdTime: 9s
",
            pool = self.pool,
            peer = self.peer_address
        );
        if let Some(password) = self.password {
            let _ = writeln!(w, "  password: {password}");
        }
        let _ = write!(
            w,
            "---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: up}}
spec:
  communities: [\"64512:100\", \"large:64512:1:2\"]
"
        );
        for (name, ips) in self.nodes {
            let addresses: Vec<String> =
                ips.iter().map(|ip| format!("{{type: InternalIP, address: \"{ip}\"}}")).collect();
            let _ = write!(
                w,
                "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus:\n  addresses: [{}]\n",
                addresses.join(", ")
            );
        }
        let _ = write!(
            w,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n"
        );
        if let Some(family) = self.family {
            let _ = writeln!(w, "  ipFamilies: [{family}]");
        }
        out
    }
}

/// One IPv4 node, one VIP (203.0.113.10), one peer at 192.0.2.1.
fn single_node(password: Option<&str>) -> String {
    Cluster {
        pool: "203.0.113.10-203.0.113.20",
        peer_address: "192.0.2.1",
        password,
        nodes: &[("node1", &["192.0.2.11"])],
        family: None,
    }
    .render()
}

/// A router and one node joined by a veth, 192.0.2.1/24 and 192.0.2.11/24.
fn pair() -> (Netns, Netns) {
    crate::support::pair(&["192.0.2.11/24"])
}

/// The gateways of the kernel route for `prefix` in `ns` (empty when there is none).
fn gateways(ns: &Netns, prefix: &str) -> Vec<String> {
    let mut g = ns.route(prefix).unwrap().map(|r| r.gateways()).unwrap_or_default();
    g.sort();
    g
}

#[test]
fn bird_receives_the_vip_with_our_as_path_and_communities() {
    if !lab_ready(&["ip", "bird", "birdc"]) {
        return;
    }
    let (router, node) = pair();
    let bird = Bird::start(&router, &BirdConfig::new(64513, ROUTER_ID).neighbor(NODE1, 64512)).unwrap();
    let mut ferrolb = Ferrolb::start(&node, "node1", &single_node(None));
    bird.wait_established("peer1", TIMEOUT).unwrap();
    wait_for("the VIP in BIRD's table", TIMEOUT, || {
        bird.route_prefixes().unwrap().iter().any(|p| p == "203.0.113.10/32")
    });
    let text = bird.routes_text().unwrap();
    // BIRD prints one block per route; take the VIP's.
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with("203.0.113.10/32"))
        .take_while(|l| l.starts_with("203.0.113.10/32") || l.starts_with(char::is_whitespace))
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "BGP.origin: IGP",
        "BGP.as_path: 64512\n",
        "BGP.next_hop: 192.0.2.11",
        "BGP.community: (64512,100)",
        "BGP.large_community: (64512, 1, 2)",
    ] {
        assert!(format!("{block}\n").contains(expected), "no {expected:?} in\n{block}");
    }
    assert!(!block.contains("BGP.local_pref") || block.contains("BGP.local_pref: 100"), "{block}");
    ferrolb.assert_running();

    // SIGTERM: BIRD sees the session close and drops the route.
    let log = ferrolb.stop();
    wait_for("the VIP gone from BIRD", TIMEOUT, || {
        !bird.route_prefixes().unwrap().iter().any(|p| p == "203.0.113.10/32")
    });
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}

/// The attribute of `path` (gobgp JSON) with type `code`.
fn gobgp_attr(path: &serde_json::Value, code: u64) -> Option<&serde_json::Value> {
    path["attrs"].as_array()?.iter().find(|a| a["type"].as_u64() == Some(code))
}

#[test]
fn gobgp_receives_the_vip_with_our_as_path_and_communities() {
    if !lab_ready(&["ip", "gobgpd", "gobgp"]) {
        return;
    }
    let (router, node) = pair();
    let gobgp =
        GoBgp::start(&router, &GoBgpConfig::new(64513, ROUTER_ID).neighbor(NODE1, 64512, false)).unwrap();
    let mut ferrolb = Ferrolb::start(&node, "node1", &single_node(None));
    gobgp.wait_established(NODE1, TIMEOUT).unwrap();
    let mut rib = serde_json::Value::Null;
    wait_for("the VIP in GoBGP's global RIB", TIMEOUT, || {
        rib = gobgp.global_rib(false).unwrap();
        rib.get("203.0.113.10/32").is_some()
    });
    let path = &rib["203.0.113.10/32"][0];
    // ORIGIN (1) IGP, AS_PATH (2) one AS_SEQUENCE [64512], NEXT_HOP (3), COMMUNITIES (8),
    // LARGE_COMMUNITY (32).
    assert_eq!(gobgp_attr(path, 1).map(|a| &a["value"]), Some(&serde_json::json!(0)), "{path}");
    let as_path = gobgp_attr(path, 2).unwrap_or_else(|| panic!("no AS_PATH in {path}"));
    assert_eq!(
        as_path["as_paths"],
        serde_json::json!([{"segment_type": 2, "num": 1, "asns": [64512]}]),
        "{path}"
    );
    assert_eq!(gobgp_attr(path, 3).map(|a| &a["nexthop"]), Some(&serde_json::json!("192.0.2.11")), "{path}");
    let communities = gobgp_attr(path, 8).unwrap_or_else(|| panic!("no COMMUNITIES in {path}"));
    assert_eq!(communities["communities"], serde_json::json!([(64512u64 << 16) | 100]), "{path}");
    let large = gobgp_attr(path, 32).unwrap_or_else(|| panic!("no LARGE_COMMUNITY in {path}"));
    assert_eq!(
        large["value"],
        serde_json::json!([{"ASN": 64512, "LocalData1": 1, "LocalData2": 2}]),
        "{path}"
    );
    assert!(gobgp_attr(path, 5).is_none(), "no LOCAL_PREF over eBGP: {path}");

    // The same route in the neighbor's Adj-RIB-In.
    let adj_in = gobgp.cli_json(&["neighbor", &NODE1.to_string(), "adj-in"]).unwrap();
    assert!(adj_in.get("203.0.113.10/32").is_some(), "{adj_in}");
    ferrolb.assert_running();

    let log = ferrolb.stop();
    wait_for("the VIP gone from GoBGP", TIMEOUT, || {
        gobgp.global_rib(false).unwrap().get("203.0.113.10/32").is_none()
    });
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}

#[test]
fn two_nodes_give_frr_two_equal_paths_and_sigterm_removes_one() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let segment = Segment::new().unwrap();
    let router = Netns::new("router").unwrap();
    let node1 = Netns::new("node1").unwrap();
    let node2 = Netns::new("node2").unwrap();
    for ns in [&router, &node1, &node2] {
        segment.attach(ns, "eth0").unwrap();
    }
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    node1.add_addr("eth0", "192.0.2.11/24").unwrap();
    node2.add_addr("eth0", "192.0.2.12/24").unwrap();
    let mut config =
        FrrConfig::new(64513, ROUTER_ID).neighbor(NODE1, 64512, false).neighbor(NODE2, 64512, false);
    config.maximum_paths = 2;
    let frr = Frr::start(&router, &config).unwrap();

    let cluster = Cluster {
        pool: "203.0.113.10-203.0.113.20",
        peer_address: "192.0.2.1",
        password: None,
        nodes: &[("node1", &["192.0.2.11"]), ("node2", &["192.0.2.12"])],
        family: None,
    }
    .render();
    let mut first = Ferrolb::start(&node1, "node1", &cluster);
    let second = Ferrolb::start(&node2, "node2", &cluster);
    frr.wait_established(NODE1, TIMEOUT).unwrap();
    frr.wait_established(NODE2, TIMEOUT).unwrap();
    wait_for("the VIP via both nodes in the router's kernel", TIMEOUT, || {
        gateways(&router, "203.0.113.10") == ["192.0.2.11", "192.0.2.12"]
    });
    // FRR chose both as multipath: the paths tie on every attribute.
    let detail = frr.vtysh_json("show bgp ipv4 unicast 203.0.113.10/32 json").unwrap();
    let paths = detail["paths"].as_array().unwrap_or_else(|| panic!("{detail}"));
    assert_eq!(paths.len(), 2, "{detail}");
    for key in ["origin", "aspath", "community", "largeCommunity"] {
        assert!(paths[0].get(key).is_some(), "no {key}: {detail}");
        assert_eq!(paths[0].get(key), paths[1].get(key), "{key} differs: {detail}");
    }
    assert_eq!(paths[0].get("med"), paths[1].get("med"), "MED differs: {detail}");
    assert!(paths.iter().all(|p| p["multipath"] == true), "{detail}");
    let route = router.route("203.0.113.10/32").unwrap().unwrap();
    assert_eq!(route.nexthops.len(), 2, "{route:?}");

    let log = second.stop();
    assert!(log.contains("NOTIFICATION sent"), "{log}");
    wait_for("one path left after SIGTERM to node2", TIMEOUT, || {
        gateways(&router, "203.0.113.10") == ["192.0.2.11"]
    });
    first.assert_running();
}

/// `neighbor NODE password SECRET` for FRR's config (raw lines after the generated ones).
fn frr_password(neighbor: IpAddr, secret: &str) -> String {
    format!("router bgp 64513\n neighbor {neighbor} password {secret}\nexit\n!\n")
}

#[test]
fn tcp_md5_with_the_right_password_establishes_and_a_wrong_one_never_does() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair();
    let mut config = FrrConfig::new(64513, ROUTER_ID).neighbor(NODE1, 64512, false);
    config.extra = frr_password(NODE1, "lab-s3cret");
    let frr = Frr::start(&router, &config).unwrap();

    // Right password: the session comes up and the VIP arrives.
    let mut ferrolb = Ferrolb::start(&node, "node1", &single_node(Some("lab-s3cret")));
    frr.wait_established(NODE1, TIMEOUT).unwrap();
    wait_for("the VIP in the router's kernel", TIMEOUT, || {
        gateways(&router, "203.0.113.10") == ["192.0.2.11"]
    });
    ferrolb.assert_running();
    ferrolb.stop();
    wait_for("the session down after SIGTERM", TIMEOUT, || {
        frr.neighbor_state(NODE1).unwrap().as_deref() != Some("Established")
    });

    // Wrong password: the segments fail verification, nothing comes up, nothing crashes.
    let mut ferrolb = Ferrolb::start(&node, "node1", &single_node(Some("not-the-secret")));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let state = frr.neighbor_state(NODE1).unwrap();
        assert_ne!(state.as_deref(), Some("Established"), "established with a wrong MD5 password");
        ferrolb.assert_running();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(gateways(&router, "203.0.113.10").is_empty());
    for pid in frr.pids() {
        assert!(router.exit_status(pid).is_none(), "an FRR daemon exited");
    }
    let log = ferrolb.stop();
    assert!(!log.contains("session established"), "{log}");
}

#[test]
fn an_ipv6_vip_reaches_frr_over_an_ipv6_session() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node1").unwrap();
    veth(&router, "eth0", &node, "eth0").unwrap();
    router.add_addr("eth0", "2001:db8::1/64").unwrap();
    node.add_addr("eth0", "2001:db8::11/64").unwrap();
    let neighbor: IpAddr = "2001:db8::11".parse().unwrap();
    let frr = Frr::start(&router, &FrrConfig::new(64513, ROUTER_ID).neighbor(neighbor, 64512, true)).unwrap();

    let cluster = Cluster {
        pool: "2001:db8:100::/120",
        peer_address: "2001:db8::1",
        password: None,
        // The IPv4 InternalIP is the router ID only; nothing uses IPv4 on the wire.
        nodes: &[("node1", &["192.0.2.11", "2001:db8::11"])],
        family: Some("IPv6"),
    }
    .render();
    let mut ferrolb = Ferrolb::start(&node, "node1", &cluster);
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    let mut vip = None;
    wait_for("an IPv6 VIP via 2001:db8::11 in the router's kernel", TIMEOUT, || {
        vip = frr
            .kernel_routes(true)
            .unwrap()
            .into_iter()
            .find(|r| r.dst.starts_with("2001:db8:100::") && r.gateways() == ["2001:db8::11"]);
        vip.is_some()
    });
    let vip = vip.unwrap();
    let prefix = if vip.dst.contains('/') { vip.dst.clone() } else { format!("{}/128", vip.dst) };
    assert!(prefix.ends_with("/128"), "{vip:?}");
    let rib = frr.bgp_ipv6_unicast().unwrap();
    let path = &rib["routes"][&prefix][0];
    assert_eq!(path["path"], "64512", "{rib}");
    ferrolb.assert_running();

    let log = ferrolb.stop();
    wait_for("the IPv6 VIP withdrawn after SIGTERM", TIMEOUT, || {
        frr.kernel_routes(true).unwrap().iter().all(|r| !r.is(&prefix))
    });
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}

#[test]
fn services_added_edited_and_removed_in_the_file_reach_frr_by_the_short_way() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair();
    let frr = Frr::start(&router, &FrrConfig::new(64513, ROUTER_ID).neighbor(NODE1, 64512, false)).unwrap();
    let base = single_node(None);
    let service = |name: &str, extra: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n{extra}"
        )
    };
    let mut ferrolb = Ferrolb::start(&node, "node1", &base);
    frr.wait_established(NODE1, TIMEOUT).unwrap();
    wait_for("web's VIP in the router's kernel", TIMEOUT, || {
        gateways(&router, "203.0.113.10") == ["192.0.2.11"]
    });

    // Added: the next free address.
    ferrolb.rewrite(&(base.clone() + &service("api", "")));
    wait_for("api's VIP", TIMEOUT, || gateways(&router, "203.0.113.11") == ["192.0.2.11"]);
    // Edited to ask for another address: the old one withdrawn, the new one sent.
    ferrolb.rewrite(&(base.clone() + &service("api", "  loadBalancerIP: 203.0.113.15\n")));
    wait_for("api's VIP moved", TIMEOUT, || {
        gateways(&router, "203.0.113.15") == ["192.0.2.11"] && gateways(&router, "203.0.113.11").is_empty()
    });
    // Removed, with a Service inserted above it: web's VIP stays.
    let without_api = base.replace(
        "---\napiVersion: v1\nkind: Service",
        &(service("db", "") + "---\napiVersion: v1\nkind: Service"),
    );
    ferrolb.rewrite(&without_api);
    wait_for("api's VIP withdrawn, db's sent", TIMEOUT, || {
        gateways(&router, "203.0.113.15").is_empty() && gateways(&router, "203.0.113.11") == ["192.0.2.11"]
    });
    assert_eq!(gateways(&router, "203.0.113.10"), ["192.0.2.11"], "web kept its VIP throughout");
    ferrolb.assert_running();

    let log = ferrolb.stop();
    let short = log
        .lines()
        .filter(|l| l.contains("configuration edited") && l.contains("reallocated=true replanned=true"));
    assert_eq!(short.count(), 3, "every change took the short way:\n{log}");
}
