//! Graceful restart (RFC 4724): `ferrolb run` stopped with SIGUSR2 (a restart,
//! as in an upgrade) closes its session without a NOTIFICATION, FRR keeps the
//! route as stale, the next process sends it again with End-of-RIB, and a
//! client sending a request to the VIP every 10 ms loses none. SIGTERM, or
//! SIGUSR2 without `enableGracefulRestart`, withdraws: the client loses some.
//! Two ECMP nodes restarting in turn lose nothing either, for an IPv4, an
//! IPv6 and a dual-stack Service (one session per family).
//!
//! ```text
//!   ┌─ router ─────────────────────┐        ┌─ node ─────────────────────┐
//!   │ FRR 192.0.2.1  AS 64513      ├────────┤ ferrolb  192.0.2.11        │
//!   │ bgp graceful-restart         │  veth  │ AS 64512, VIP 203.0.113.10 │
//!   │ client: UDP every 10 ms ─────┼───────►│ sink on every address      │
//!   └──────────────────────────────┘        └────────────────────────────┘
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_lab::traffic::{Flows, Loss};
use ferrolb_lab::{Frr, FrrBfdPeer, FrrConfig, Netns, ROUTER_V4, ROUTER_V6, Topology};

use crate::support::{self, Ferrolb, established, has_route, lab_ready, pair, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const PORT: u16 = 9000;
const EVERY: Duration = Duration::from_millis(10);

/// A cluster file: a Service of `families` (none: the cluster's default)
/// from `pool`, announced by BGP to `peers` from `nodes` (name, InternalIPs).
fn cluster(
    graceful_restart: bool,
    peers: &[IpAddr],
    pool: &[&str],
    families: &[&str],
    nodes: &[(String, Vec<IpAddr>)],
) -> String {
    let quoted = |items: Vec<String>| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: vips}}
spec:
  addresses: [{}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: up}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  type: LoadBalancer
  ports: [{{port: 80}}]
",
        quoted(pool.iter().map(|p| p.to_string()).collect())
    );
    if families.len() > 1 {
        out.push_str("  ipFamilyPolicy: RequireDualStack\n");
    }
    if !families.is_empty() {
        let _ = writeln!(out, "  ipFamilies: [{}]", families.join(", "));
    }
    for (i, peer) in peers.iter().enumerate() {
        let _ = write!(
            out,
            "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: router{i}}}\nspec: {{myASN: 64512, peerASN: 64513, peerAddress: \"{peer}\", holdTime: 9s, enableGracefulRestart: {graceful_restart}}}\n"
        );
    }
    for (name, addresses) in nodes {
        let addresses: Vec<String> =
            addresses.iter().map(|a| format!("{{type: InternalIP, address: \"{a}\"}}")).collect();
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus:\n  addresses: [{}]\n",
            addresses.join(", ")
        );
    }
    out
}

/// The single node's cluster.
fn one_node(graceful_restart: bool) -> String {
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    cluster(
        graceful_restart,
        &[peer],
        &["203.0.113.10-203.0.113.20"],
        &[],
        &[("node1".into(), vec![NODE_IP])],
    )
}

fn has_vip(router: &Netns) -> bool {
    has_route(router, "203.0.113.10")
}

/// Whether FRR holds a path of `vip` as stale (kept for a restarting peer).
fn stale_path(frr: &Frr, vip: Ipv4Addr) -> bool {
    support::stale(frr, &vip.to_string()) == Some(true)
}

fn stale(frr: &Frr) -> bool {
    stale_path(frr, VIP)
}

/// The lab: FRR (graceful restart helper and restarting speaker) and a node.
struct Lab {
    router: Netns,
    node: Netns,
    frr: Frr,
}

impl Lab {
    /// With `bfd`, FRR runs BFD (50 ms × 3) with the node and ties the session to it.
    fn new(bfd: bool) -> Lab {
        let (router, node) = pair(&["192.0.2.11/24"]);
        let mut config = FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(NODE_IP, 64512, false);
        config.extra = "router bgp 64513\n bgp graceful-restart\n!\n".to_owned();
        if bfd {
            config = config.bfd_peer(FrrBfdPeer {
                detect_multiplier: 3,
                receive_interval_ms: 50,
                transmit_interval_ms: 50,
                ..FrrBfdPeer::single_hop(NODE_IP, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "eth0")
            });
            config.extra =
                "router bgp 64513\n bgp graceful-restart\n neighbor 192.0.2.11 bfd\n!\n".to_owned();
        }
        let frr = Frr::start(&router, &config).unwrap();
        Lab { router, node, frr }
    }

    /// `ferrolb run` on `cluster`, once its route is in the router's kernel.
    fn start(&self, cluster: &str) -> Ferrolb {
        let ferrolb = Ferrolb::start(&self.node, "node1", cluster);
        wait_for("the session Established", TIMEOUT, || established(&self.frr, NODE_IP));
        wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&self.router) && !stale(&self.frr));
        ferrolb
    }

    /// The requests lost while `restart` runs, sent every 10 ms from the router to the VIP.
    fn loss_during(&self, restart: impl FnOnce() -> Ferrolb) -> (Loss, Ferrolb) {
        let flows = Flows::start(&self.router, &[VIP.into()], PORT, &[&self.node], EVERY).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let ferrolb = restart();
        std::thread::sleep(Duration::from_millis(300));
        (flows.stop(), ferrolb)
    }
}

#[test]
fn a_graceful_restart_loses_no_request_and_a_withdrawing_one_loses_some() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let lab = Lab::new(false);
    let ferrolb = lab.start(&one_node(true));

    // SIGUSR2 with enableGracefulRestart: FRR keeps the route (stale) until the next process is back.
    let (graceful, ferrolb) = lab.loss_during(|| {
        let log = ferrolb.stop_with("USR2");
        assert!(log.contains("closing the session without a NOTIFICATION"), "{log}");
        assert!(!log.contains("NOTIFICATION sent"), "{log}");
        wait_for("FRR to keep the path as stale", TIMEOUT, || stale(&lab.frr));
        assert!(has_vip(&lab.router), "the stale route left the router's kernel");
        lab.start(&one_node(true))
    });
    eprintln!("graceful restart (SIGUSR2): {graceful}");
    assert!(graceful.sent > 50, "{graceful}");
    assert_eq!(graceful.lost, 0, "{graceful}\n{}", ferrolb.log());

    // SIGTERM: ferrolb stops for good, withdraws, and the client loses requests until it is
    // back (started once the route is gone, so that the loss does not depend on timing).
    let (stopped, ferrolb) = lab.loss_during(|| {
        let log = ferrolb.stop();
        assert!(log.contains("NOTIFICATION sent"), "{log}");
        wait_for("the VIP withdrawn", TIMEOUT, || !has_vip(&lab.router));
        lab.start(&one_node(true))
    });
    eprintln!("restart after SIGTERM: {stopped}");
    assert!(stopped.lost > 0, "{stopped}");

    // SIGUSR2 without enableGracefulRestart: FRR would not keep the route, so ferrolb withdraws.
    let ferrolb = {
        let log = ferrolb.stop();
        assert!(log.contains("NOTIFICATION sent"), "{log}");
        lab.start(&one_node(false))
    };
    let (refused, ferrolb) = lab.loss_during(|| {
        let log = ferrolb.stop_with("USR2");
        assert!(!log.contains("without a NOTIFICATION"), "{log}");
        assert!(log.contains("NOTIFICATION sent"), "{log}");
        wait_for("the VIP withdrawn", TIMEOUT, || !has_vip(&lab.router));
        lab.start(&one_node(false))
    });
    eprintln!("SIGUSR2 without enableGracefulRestart: {refused}");
    assert!(refused.lost > 0, "{refused}");
    drop(ferrolb);
}

/// Two nodes announce the VIPs to the router (ECMP), one session per family;
/// a client behind the router sends to each VIP every 10 ms while each node
/// restarts in turn.
fn restarting_every_node_in_turn_loses_no_request(vips: &[IpAddr]) {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let topology = Topology::new(2).unwrap();
    let peers: Vec<IpAddr> = vips
        .iter()
        .map(|v| if v.is_ipv6() { IpAddr::V6(ROUTER_V6) } else { IpAddr::V4(ROUTER_V4) })
        .collect();
    let node_address =
        |n: &ferrolb_lab::Node, v6: bool| if v6 { IpAddr::V6(n.ipv6) } else { IpAddr::V4(n.ipv4) };
    let mut config = FrrConfig::new(64513, ROUTER_V4);
    for node in &topology.nodes {
        for peer in &peers {
            config = config.neighbor(node_address(node, peer.is_ipv6()), 64512, peer.is_ipv6());
        }
    }
    config.maximum_paths = 2;
    config.extra = "router bgp 64513\n bgp graceful-restart\n!\n".to_owned();
    let frr = Frr::start(&topology.router, &config).unwrap();
    let nodes: Vec<(String, Vec<IpAddr>)> = topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("node{}", i + 1), vec![n.ipv4.into(), n.ipv6.into()]))
        .collect();
    let pool: Vec<String> =
        vips.iter().map(|v| format!("{v}/{}", if v.is_ipv6() { 128 } else { 32 })).collect();
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    let families: Vec<&str> = vips.iter().map(|v| if v.is_ipv6() { "IPv6" } else { "IPv4" }).collect();
    let cluster = cluster(true, &peers, &pool, &families, &nodes);
    let every_path = || {
        topology.nodes.iter().all(|n| peers.iter().all(|p| established(&frr, node_address(n, p.is_ipv6()))))
            && vips.iter().all(|vip| {
                let route = topology.router.route(&vip.to_string()).ok().flatten();
                route.is_some_and(|r| r.gateways().len() == 2)
                    && support::stale(&frr, &vip.to_string()) == Some(false)
            })
    };
    let start = |i: usize| Ferrolb::start(&topology.nodes[i].netns, &nodes[i].0, &cluster);
    let mut running: Vec<Option<Ferrolb>> = (0..2).map(|i| Some(start(i))).collect();
    wait_for("both nodes' paths in the router's kernel", TIMEOUT, every_path);

    // Each node in turn, stopped by `signal`; the requests lost meanwhile.
    let mut restart_each = |signal: &str| {
        let receivers: Vec<&Netns> = topology.nodes.iter().map(|n| &n.netns).collect();
        let flows = Flows::start(&topology.remote, vips, PORT, &receivers, EVERY).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for (i, speaker) in running.iter_mut().enumerate() {
            // Counted, so that the paths before the router heard of the stop are not taken for
            // the paths after the restart.
            let sessions: Vec<IpAddr> =
                peers.iter().map(|p| node_address(&topology.nodes[i], p.is_ipv6())).collect();
            let established =
                || sessions.iter().map(|s| frr.established_count(*s).unwrap().unwrap()).collect::<Vec<_>>();
            let before = established();
            let log = speaker.take().unwrap().stop_with(signal);
            if signal == "USR2" {
                assert!(log.contains("closing the session without a NOTIFICATION"), "{log}");
                wait_for("FRR to keep the node's paths as stale", TIMEOUT, || {
                    vips.iter().all(|vip| support::stale(&frr, &vip.to_string()) == Some(true))
                });
            }
            *speaker = Some(start(i));
            wait_for("the node's sessions Established again", TIMEOUT, || {
                established().iter().zip(&before).all(|(now, then)| now > then)
            });
            wait_for("both paths again, none stale", TIMEOUT, every_path);
            std::thread::sleep(Duration::from_millis(300));
        }
        flows.stop()
    };
    let graceful = restart_each("USR2");
    eprintln!("every node restarted in turn (SIGUSR2), VIPs {vips:?}: {graceful}");
    assert!(graceful.sent > 100 * vips.len() as u64, "{graceful}");
    assert_eq!(graceful.lost, 0, "{graceful}");
    // For the record only: with the other node's path in place, what a
    // withdrawal loses depends on timing (the requests in flight while the
    // router moves the flow), which a test must not assert.
    let withdrawn = restart_each("TERM");
    eprintln!("every node restarted in turn (SIGTERM), VIPs {vips:?}: {withdrawn}");
}

#[test]
fn restarting_every_node_in_turn_loses_no_request_to_an_ipv4_vip() {
    restarting_every_node_in_turn_loses_no_request(&["192.0.2.10".parse().unwrap()]);
}

#[test]
fn restarting_every_node_in_turn_loses_no_request_to_an_ipv6_vip() {
    restarting_every_node_in_turn_loses_no_request(&["2001:db8:10::10".parse().unwrap()]);
}

#[test]
fn restarting_every_node_in_turn_loses_no_request_to_a_dual_stack_service() {
    restarting_every_node_in_turn_loses_no_request(&[
        "192.0.2.10".parse().unwrap(),
        "2001:db8:10::10".parse().unwrap(),
    ]);
}

/// With BFD, a restart tells the router AdminDown after closing the session,
/// which FRR does not take for a path failure (RFC 5882 §3.2): it keeps the
/// routes as for any graceful restart.
#[test]
fn a_graceful_restart_with_bfd_loses_no_request() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let lab = Lab::new(true);
    let cluster = one_node(true)
        .replace("enableGracefulRestart: true}", "enableGracefulRestart: true, bfdProfile: fast}")
        + "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3}\n";
    let bfd_up = |f: &Ferrolb| f.log().contains("state=Up");
    let ferrolb = lab.start(&cluster);
    wait_for("BFD up", TIMEOUT, || bfd_up(&ferrolb));
    // FRR ties the BGP session to BFD (the test is void otherwise).
    let neighbor = lab.frr.vtysh("show bgp neighbors 192.0.2.11 json").unwrap();
    assert!(neighbor.contains("peerBfdInfo"), "{neighbor}");
    let (loss, ferrolb) = lab.loss_during(|| {
        let log = ferrolb.stop_with("USR2");
        assert!(log.contains("closing the session without a NOTIFICATION"), "{log}");
        assert!(log.contains("state=AdminDown"), "{log}");
        wait_for("FRR to keep the path as stale", TIMEOUT, || stale(&lab.frr));
        let ferrolb = lab.start(&cluster);
        wait_for("BFD up again", TIMEOUT, || bfd_up(&ferrolb));
        ferrolb
    });
    eprintln!("graceful restart with BFD (SIGUSR2): {loss}");
    assert_eq!(loss.lost, 0, "{loss}\n{}", ferrolb.log());
}
