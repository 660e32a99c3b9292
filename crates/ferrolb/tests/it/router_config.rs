//! `ferrolb router-config`: the FRR and BIRD configurations it writes are
//! loaded as they are by real FRR and BIRD routers, which then spread every
//! VIP over both nodes (ECMP) and refuse a prefix outside the pools.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferrolb_lab::{Bird, Frr, Netns, Segment};

use crate::support::{Ferrolb, lab_ready, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);
const NODE1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const NODE2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
const NODE1_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11));
const NODE2_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x12));

/// Two nodes, a router over IPv4 and the same router over IPv6 (one BGPPeer
/// each), one pool of both families, an IPv4 and an IPv6 Service: what the
/// router's configuration is written from.
const CLUSTER: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips}
spec:
  addresses: [203.0.113.10-203.0.113.20, '2001:db8:100::/120']
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-v4}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s, password: lab-s3cret}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-v6}
spec: {myASN: 64512, peerASN: 64513, peerAddress: '2001:db8::1', holdTime: 9s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}, {type: InternalIP, address: '2001:db8::11'}]
---
apiVersion: v1
kind: Node
metadata: {name: node2}
status:
  addresses: [{type: InternalIP, address: 192.0.2.12}, {type: InternalIP, address: '2001:db8::12'}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: default}
spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 80}]}
";

/// What the nodes run: the cluster above plus a pool the router was not
/// told about, and a Service that takes its address from it.
fn with_rogue_pool() -> String {
    format!(
        "{CLUSTER}---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: rogue}}
spec: {{addresses: [198.51.100.0/24], autoAssign: false}}
---
apiVersion: v1
kind: Service
metadata:
  name: rogue
  namespace: default
  annotations: {{metallb.io/address-pool: rogue}}
spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}
"
    )
}

/// `ferrolb router-config --for DIALECT` of `config` (from standard input).
fn router_config(dialect: &str, config: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["router-config", "--for", dialect, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(config.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "router-config --for {dialect} failed:\n{stderr}");
    assert_eq!(stderr, "", "router-config --for {dialect} warned");
    String::from_utf8(out.stdout).unwrap()
}

/// The router (192.0.2.1, 2001:db8::1) and two nodes on one segment, each
/// node running `ferrolb run` with `config`.
struct Lab {
    router: Netns,
    _nodes: Vec<Ferrolb>,
    _namespaces: Vec<Netns>,
    _segment: Segment,
}

impl Lab {
    fn topology() -> (Segment, Netns, Vec<Netns>) {
        let segment = Segment::new().unwrap();
        let router = Netns::new("router").unwrap();
        segment.attach(&router, "eth0").unwrap();
        router.add_addr("eth0", "192.0.2.1/24").unwrap();
        router.add_addr("eth0", "2001:db8::1/64").unwrap();
        let mut nodes = Vec::new();
        for (name, v4, v6) in
            [("node1", "192.0.2.11/24", "2001:db8::11/64"), ("node2", "192.0.2.12/24", "2001:db8::12/64")]
        {
            let ns = Netns::new(name).unwrap();
            segment.attach(&ns, "eth0").unwrap();
            ns.add_addr("eth0", v4).unwrap();
            ns.add_addr("eth0", v6).unwrap();
            nodes.push(ns);
        }
        (segment, router, nodes)
    }

    fn start_nodes(segment: Segment, router: Netns, namespaces: Vec<Netns>) -> Lab {
        let config = with_rogue_pool();
        let nodes = namespaces
            .iter()
            .zip(["node1", "node2"])
            .map(|(ns, name)| Ferrolb::start(ns, name, &config))
            .collect();
        Lab { router, _nodes: nodes, _namespaces: namespaces, _segment: segment }
    }

    /// The next hops of the router's kernel route to `prefix`, sorted.
    fn gateways(&self, prefix: &str) -> Vec<String> {
        let mut g = self.router.route(prefix).unwrap().map(|r| r.gateways()).unwrap_or_default();
        g.sort();
        g
    }

    /// Waits for both VIPs (IPv4 and IPv6) through both nodes in the router's kernel.
    fn wait_for_ecmp(&self) {
        wait_for("the IPv4 VIP through both nodes", TIMEOUT, || {
            self.gateways("203.0.113.10/32") == ["192.0.2.11", "192.0.2.12"]
        });
        wait_for("the IPv6 VIP through both nodes", TIMEOUT, || {
            self.gateways("2001:db8:100::/128") == ["2001:db8::11", "2001:db8::12"]
        });
    }
}

#[test]
fn frr_loads_its_config_spreads_every_vip_over_both_nodes_and_refuses_other_prefixes() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let generated = router_config("frr", CLUSTER);
    // Only to see what the nodes sent before the policy (FRR keeps it then).
    let observed = format!(
        "{generated}router bgp 64513\n address-family ipv4 unicast\n  neighbor {NODE1} soft-reconfiguration inbound\n exit-address-family\nexit\n"
    );
    let (segment, router, namespaces) = Lab::topology();
    let frr = Frr::start_with_text(&router, &observed, false).unwrap();
    let lab = Lab::start_nodes(segment, router, namespaces);
    for neighbor in [NODE1, NODE2, NODE1_V6, NODE2_V6] {
        frr.wait_established(neighbor, TIMEOUT).unwrap();
    }
    lab.wait_for_ecmp();

    // node1 did send the rogue pool's VIP; the router kept it out.
    wait_for("node1's rogue route received", TIMEOUT, || {
        let received =
            frr.vtysh_json(&format!("show bgp ipv4 unicast neighbors {NODE1} received-routes json")).unwrap();
        received.to_string().contains("198.51.100.")
    });
    let table = frr.bgp_ipv4_unicast().unwrap();
    assert!(!table.to_string().contains("198.51.100."), "a prefix outside the pools was accepted: {table}");
    assert!(table.to_string().contains("203.0.113.10/32"), "{table}");
    assert!(lab.router.routes(false).unwrap().iter().all(|r| !r.dst.starts_with("198.51.100.")));
    // And the router sends the nodes nothing.
    let advertised =
        frr.vtysh_json(&format!("show bgp ipv4 unicast neighbors {NODE1} advertised-routes json")).unwrap();
    assert_eq!(advertised["totalPrefixCounter"], 0, "{advertised}");
}

#[test]
fn bird_loads_its_config_spreads_every_vip_over_both_nodes_and_refuses_other_prefixes() {
    if !lab_ready(&["ip", "bird", "birdc"]) {
        return;
    }
    let generated = router_config("bird", CLUSTER);
    let (segment, router, namespaces) = Lab::topology();
    let bird = Bird::start_with_text(&router, &generated).unwrap();
    let lab = Lab::start_nodes(segment, router, namespaces);
    for protocol in ["node1_router_v4", "node2_router_v4", "node1_router_v6", "node2_router_v6"] {
        let protocol = format!("ferrolb_{protocol}");
        let protocol = protocol.as_str();
        bird.wait_established(protocol, TIMEOUT).unwrap();
    }
    lab.wait_for_ecmp();

    // node1 did send the rogue pool's VIP (counted as filtered on import); BIRD kept it out.
    wait_for("node1's rogue route filtered", TIMEOUT, || {
        let stats = bird.birdc(&["show", "protocols", "all", "ferrolb_node1_router_v4"]).unwrap();
        import_filtered(&stats) > 0
    });
    let routes = bird.routes_text().unwrap();
    assert!(!routes.contains("198.51.100."), "a prefix outside the pools was accepted:\n{routes}");
    assert!(lab.router.routes(false).unwrap().iter().all(|r| !r.dst.starts_with("198.51.100.")));
}

/// The `filtered` column of the import updates in `birdc show protocols all`.
fn import_filtered(stats: &str) -> u64 {
    stats
        .lines()
        .find(|l| l.trim_start().starts_with("Import updates:"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The router side of the article's BGP example (examples/metallb-bgp.yaml
/// with examples/metallb-bgp-nodes.yaml) is the one examples/ shows, for
/// each router, and FRR's and BIRD's own parsers take it (`vtysh -C`, `bird
/// -p`: the article's private addresses go on no interface). The Cisco IOS
/// one has no IOS here to parse it: its lines are the ones IOS documents.
#[test]
fn the_articles_bgp_example_has_the_router_side_examples_show() {
    if !lab_ready(&["vtysh", "bird"]) {
        return;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for dialect in ["frr", "bird", "cisco-ios"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
            .args(["router-config", "--for", dialect])
            .args(["examples/metallb-bgp.yaml", "examples/metallb-bgp-nodes.yaml"])
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "{dialect}: {}", String::from_utf8_lossy(&out.stderr));
        let shown = format!("examples/metallb-bgp.router.{dialect}.txt");
        let expected = std::fs::read_to_string(repo.join(&shown)).unwrap_or_else(|e| panic!("{shown}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{shown} is not what router-config prints"
        );
        let parser = match dialect {
            "frr" => vec!["vtysh", "-C", "-f"],
            "bird" => vec!["bird", "-p", "-c"],
            _ => continue,
        };
        let parsed = Command::new(parser[0]).args(&parser[1..]).arg(repo.join(&shown)).output().unwrap();
        assert!(
            parsed.status.success(),
            "{} refuses {shown}:\n{}{}",
            parser[0],
            String::from_utf8_lossy(&parsed.stdout),
            String::from_utf8_lossy(&parsed.stderr)
        );
    }
}
