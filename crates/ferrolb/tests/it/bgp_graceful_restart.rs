//! Graceful restart (RFC 4724): `ferrolb run` stopped with SIGUSR2 (a restart,
//! as in an upgrade) closes its session without a NOTIFICATION, FRR keeps the
//! route as stale, the next process sends it again with End-of-RIB, and a
//! client sending a request to the VIP every 10 ms loses none. SIGTERM, or
//! SIGUSR2 without `enableGracefulRestart`, withdraws: the client loses some.
//!
//! ```text
//!   ┌─ router ─────────────────────┐        ┌─ node ─────────────────────┐
//!   │ FRR 192.0.2.1  AS 64513      ├────────┤ ferrolb  192.0.2.11        │
//!   │ bgp graceful-restart         │  veth  │ AS 64512, VIP 203.0.113.10 │
//!   │ client: UDP every 10 ms ─────┼───────►│ sink on every address      │
//!   └──────────────────────────────┘        └────────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrolb_lab::traffic::{Loss, Sink, Stream};
use ferrolb_lab::{Frr, FrrBfdPeer, FrrConfig, Netns, Topology};

use crate::support::{self, Ferrolb, established, has_route, lab_ready, pair, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const PORT: u16 = 9000;
const EVERY: Duration = Duration::from_millis(10);

/// A cluster file: VIPs announced by BGP to `peer` from `nodes` (name, InternalIP).
fn cluster(graceful_restart: bool, peer: &str, pool: &str, nodes: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: vips}}
spec:
  addresses: [{pool}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec: {{myASN: 64512, peerASN: 64513, peerAddress: {peer}, holdTime: 9s, enableGracefulRestart: {graceful_restart}}}
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
"
    );
    for (name, address) in nodes {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {address}}}]\n"
        ));
    }
    out
}

/// The single node's cluster.
fn one_node(graceful_restart: bool) -> String {
    cluster(graceful_restart, "192.0.2.1", "203.0.113.10-203.0.113.20", &[("node1", "192.0.2.11")])
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
        let sink = Sink::bind(&self.node, PORT).unwrap();
        let stream = Stream::start(&self.router, SocketAddr::from((VIP, PORT)), EVERY).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let ferrolb = restart();
        std::thread::sleep(Duration::from_millis(300));
        let sent = stream.stop();
        // The last datagrams are in flight for a moment.
        std::thread::sleep(Duration::from_millis(100));
        (Loss::of(sent, &sink.received()), ferrolb)
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

/// Two nodes announce one VIP to the router (ECMP); a client behind the
/// router sends to it every 10 ms while each node restarts in turn.
#[test]
fn restarting_every_node_in_turn_loses_no_request() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    let topology = Topology::new(2).unwrap();
    let mut config = topology.router_frr_config(64513, 64512);
    config.extra = "router bgp 64513\n bgp graceful-restart\n!\n".to_owned();
    let frr = Frr::start(&topology.router, &config).unwrap();
    let nodes: Vec<(String, String)> = topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("node{}", i + 1), n.ipv4.to_string()))
        .collect();
    let named: Vec<(&str, &str)> = nodes.iter().map(|(n, a)| (n.as_str(), a.as_str())).collect();
    let cluster = cluster(true, "198.51.100.1", "192.0.2.10-192.0.2.20", &named);
    let both_paths = || {
        topology.nodes.iter().all(|n| established(&frr, IpAddr::V4(n.ipv4)))
            && topology.router.route("192.0.2.10/32").ok().flatten().is_some_and(|r| r.gateways().len() == 2)
            && !stale_path(&frr, VIP)
    };
    let start = |i: usize| Ferrolb::start(&topology.nodes[i].netns, &nodes[i].0, &cluster);
    let mut running: Vec<Option<Ferrolb>> = (0..2).map(|i| Some(start(i))).collect();
    wait_for("both nodes' paths in the router's kernel", TIMEOUT, both_paths);

    // Each node in turn, stopped by `signal`; the requests lost meanwhile.
    let mut restart_each = |signal: &str| {
        let sinks: Vec<Sink> = topology.nodes.iter().map(|n| Sink::bind(&n.netns, PORT).unwrap()).collect();
        let stream = Stream::start(&topology.remote, SocketAddr::from((VIP, PORT)), EVERY).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        for (i, speaker) in running.iter_mut().enumerate() {
            let log = speaker.take().unwrap().stop_with(signal);
            if signal == "USR2" {
                assert!(log.contains("closing the session without a NOTIFICATION"), "{log}");
                wait_for("FRR to keep the node's path as stale", TIMEOUT, || stale_path(&frr, VIP));
            }
            *speaker = Some(start(i));
            wait_for("both paths again, none stale", TIMEOUT, both_paths);
            std::thread::sleep(Duration::from_millis(300));
        }
        let sent = stream.stop();
        std::thread::sleep(Duration::from_millis(100));
        let received = sinks.into_iter().flat_map(Sink::received).collect();
        Loss::of(sent, &received)
    };
    let graceful = restart_each("USR2");
    eprintln!("every node restarted in turn (SIGUSR2): {graceful}");
    assert!(graceful.sent > 100, "{graceful}");
    assert_eq!(graceful.lost, 0, "{graceful}");
    // For the record only: with the other node's path in place, what a
    // withdrawal loses depends on timing (the requests in flight while the
    // router moves the flow), which a test must not assert.
    let withdrawn = restart_each("TERM");
    eprintln!("every node restarted in turn (SIGTERM): {withdrawn}");
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
