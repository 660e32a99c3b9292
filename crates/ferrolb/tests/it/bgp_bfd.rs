//! BFD drives the BGP session (RFC 9384): `ferrolb run` with a peer whose
//! `bfdProfile` is 50 ms × 3, against FRR with `neighbor X bfd` and a matching
//! bfdd peer.
//!
//! ```text
//!   ┌─ router ─────────────────────┐        ┌─ node ─────────────────────┐
//!   │ FRR 192.0.2.1  AS 64513      ├────────┤ ferrolb  192.0.2.11        │
//!   │ bgpd + bfdd (50 ms × 3)      │  veth  │ AS 64512, bfdProfile fast  │
//!   └──────────────────────────────┘        └────────────────────────────┘
//! ```
//!
//! A bfdd that dies is a forwarding path that stops answering: ferrolb's BFD
//! session goes Down and the BGP session is closed with Cease / BFD Down; bfdd
//! back brings BFD Up and the session back. FRR's `shutdown` of the bfd peer is
//! its operator's AdminDown, not a path failure (RFC 5882 §3.2): the BGP session
//! is kept.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_lab::{Frr, FrrBfdPeer, FrrConfig, Netns};

use crate::support::{Ferrolb, established, has_route, lab_ready, pair, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const ROUTER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

const CLUSTER: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips}
spec:
  addresses: [203.0.113.10-203.0.113.20]
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast}
spec: {receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: up}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  ports: [{port: 80}]
";

fn has_vip(router: &Netns) -> bool {
    has_route(router, "203.0.113.10")
}

fn bfd_status(frr: &Frr) -> String {
    let peer = frr.bfd_peer(NODE_IP).ok().flatten();
    peer.and_then(|p| p["status"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// The NOTIFICATIONs Cease / BFD Down ferrolb logged as sent.
fn bfd_downs_sent(log: &str) -> usize {
    log.lines().filter(|l| l.contains("NOTIFICATION sent") && l.contains("Cease / BFD Down")).count()
}

#[test]
fn bfd_down_closes_the_bgp_session_with_cease_bfd_down_and_bfd_up_reopens_it() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let bfd_peer = FrrBfdPeer {
        detect_multiplier: 3,
        receive_interval_ms: 50,
        transmit_interval_ms: 50,
        ..FrrBfdPeer::single_hop(NODE_IP, ROUTER_IP, "eth0")
    };
    let mut config = FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1))
        .neighbor(NODE_IP, 64512, false)
        .bfd_peer(bfd_peer.clone());
    config.extra = "router bgp 64513\n neighbor 192.0.2.11 bfd\n!\n".to_owned();
    let mut frr = Frr::start(&router, &config).unwrap();
    let mut ferrolb = Ferrolb::start(&node, "node1", CLUSTER);

    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("BFD up in FRR", TIMEOUT, || bfd_status(&frr) == "up");
    wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&router));
    // From Init or straight from Down (FRR's Init may arrive first): either is Up.
    let bfd_up =
        |log: &str| log.lines().any(|l| l.contains("BFD session state changed") && l.contains(" state=Up "));
    wait_for("ferrolb to see BFD up", TIMEOUT, || bfd_up(&ferrolb.log()));

    // FRR's operator shuts its bfd peer down: AdminDown, which closes no BGP session here.
    frr.configure_bfd_peer(&bfd_peer, &["shutdown"]).unwrap();
    wait_for("ferrolb to hear AdminDown", TIMEOUT, || ferrolb.log().contains("BGP session kept"));
    frr.configure_bfd_peer(&bfd_peer, &["no shutdown"]).unwrap();
    wait_for("BFD up again in FRR", TIMEOUT, || bfd_status(&frr) == "up");
    assert_eq!(bfd_downs_sent(&ferrolb.log()), 0, "{}", ferrolb.log());
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));

    // bfdd dies: nothing more reaches ferrolb, whose BFD session goes Down and
    // closes the BGP session at once, then keeps it closed.
    frr.kill_bfdd().unwrap();
    wait_for("ferrolb to send Cease / BFD Down", TIMEOUT, || bfd_downs_sent(&ferrolb.log()) == 1);
    wait_for("FRR to leave Established", TIMEOUT, || !established(&frr, NODE_IP));
    wait_for("the VIP gone from the router's kernel", TIMEOUT, || !has_vip(&router));
    // FRR retries every second (`timers connect 1`); ferrolb neither connects nor accepts.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!established(&frr, NODE_IP), "{}", ferrolb.log());
    ferrolb.assert_running();

    // bfdd is back: BFD Up, and the session with it.
    frr.start_bfdd().unwrap();
    wait_for("BFD up in FRR after bfdd restarted", TIMEOUT, || bfd_status(&frr) == "up");
    wait_for("the session Established again", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("the VIP back in the router's kernel", TIMEOUT, || has_vip(&router));
    let log = ferrolb.stop();
    assert!(log.contains("BFD down: closing the BGP session"), "{log}");
    assert!(log.contains("BFD up: forwarding path up"), "{log}");
    assert_eq!(bfd_downs_sent(&log), 1, "{log}");
}

/// One BFD shape of the runtime: the session comes up with BFD, bfdd's death
/// closes it with Cease / BFD Down, and bfdd's return brings it back.
struct Shape {
    router: &'static str,
    node: &'static str,
    /// The node's InternalIPs: BFD runs from the one of the peer's family.
    internal_ips: &'static [&'static str],
    pool: &'static str,
    family: &'static str,
    multihop: bool,
}

impl Shape {
    fn ip(cidr: &str) -> IpAddr {
        cidr.split('/').next().unwrap().parse().unwrap()
    }

    fn cluster(&self) -> String {
        let peer = Self::ip(self.router);
        let multihop = if self.multihop { ", ebgpMultiHop: true" } else { "" };
        let addresses: Vec<String> =
            self.internal_ips.iter().map(|a| format!("{{type: InternalIP, address: {a}}}")).collect();
        format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: vips}}\nspec:\n  addresses: [{pool}]\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: fast}}\nspec: {{receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3}}\n---\n\
             apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: router}}\nspec: {{myASN: 64512, peerASN: 64513, peerAddress: '{peer}', holdTime: 9s, bfdProfile: fast{multihop}}}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: up}}\n---\n\
             apiVersion: v1\nkind: Node\nmetadata: {{name: node1}}\nstatus:\n  addresses: [{addresses}]\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec:\n  type: LoadBalancer\n  ipFamilies: [{family}]\n  ports: [{{port: 80}}]\n",
            pool = self.pool,
            family = self.family,
            addresses = addresses.join(", "),
        )
    }

    fn run(&self) {
        let (router, node) = pair(&[self.node]);
        let node_ip = Self::ip(self.node);
        // As routers are configured for MetalLB: `neighbor X bfd profile`.
        let mut config =
            FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(node_ip, 64512, node_ip.is_ipv6());
        let multihop =
            if self.multihop { format!(" neighbor {node_ip} ebgp-multihop 2\n") } else { String::new() };
        config.extra = format!(
            "router bgp 64513\n neighbor {node_ip} bfd\n neighbor {node_ip} bfd profile fast\n{multihop}!\n\
             bfd\n profile fast\n  detect-multiplier 3\n  receive-interval 50\n  transmit-interval 50\n exit\nexit\n"
        );
        let mut frr = Frr::start(&router, &config).unwrap();
        frr.start_bfdd().unwrap();
        let ferrolb = Ferrolb::start(&node, "node1", &self.cluster());
        let v6 = node_ip.is_ipv6();
        let has_vip = |frr: &Frr| {
            let routes = frr.kernel_routes(v6).unwrap();
            routes
                .iter()
                .any(|r| r.protocol.as_deref() == Some("bgp") && r.gateways() == [node_ip.to_string()])
        };
        let bfd_status = |frr: &Frr| {
            frr.bfd_peer(node_ip)
                .ok()
                .flatten()
                .and_then(|p| p["status"].as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        wait_for("the session Established", TIMEOUT, || established(&frr, node_ip));
        wait_for("BFD up in FRR", TIMEOUT, || bfd_status(&frr) == "up");
        let view = frr.bfd_peer(node_ip).unwrap().unwrap();
        assert_eq!(view["multihop"], self.multihop, "{view}");
        wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&frr));
        // FRR 8.4 makes its BFD session with an IPv6 peer anew once the BGP
        // session is up (with the source address it then knows), and its first
        // packet says Down: one flap, after which the session stays up.
        std::thread::sleep(Duration::from_millis(1500));
        wait_for("the session Established and steady", TIMEOUT, || {
            established(&frr, node_ip) && bfd_status(&frr) == "up" && has_vip(&frr)
        });
        let before = bfd_downs_sent(&ferrolb.log());
        assert!(before <= usize::from(v6), "{}", ferrolb.log());

        frr.kill_bfdd().unwrap();
        wait_for("ferrolb to send Cease / BFD Down", TIMEOUT, || {
            bfd_downs_sent(&ferrolb.log()) == before + 1
        });
        wait_for("the VIP gone from the router's kernel", TIMEOUT, || !has_vip(&frr));
        frr.start_bfdd().unwrap();
        wait_for("BFD up in FRR after bfdd restarted", TIMEOUT, || bfd_status(&frr) == "up");
        wait_for("the session Established again", TIMEOUT, || established(&frr, node_ip));
        wait_for("the VIP back in the router's kernel", TIMEOUT, || has_vip(&frr));
        let log = ferrolb.stop();
        assert_eq!(bfd_downs_sent(&log), before + 1, "{log}");
    }
}

#[test]
fn bfd_drives_an_ipv6_session() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    Shape {
        router: "2001:db8::1/64",
        node: "2001:db8::11/64",
        internal_ips: &["192.0.2.11", "2001:db8::11"],
        pool: "2001:db8:100::/120",
        family: "IPv6",
        multihop: false,
    }
    .run();
}

#[test]
fn bfd_drives_a_multihop_session() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    Shape {
        router: "192.0.2.1/24",
        node: "192.0.2.11/24",
        internal_ips: &["192.0.2.11"],
        pool: "203.0.113.10-203.0.113.20",
        family: "IPv4",
        multihop: true,
    }
    .run();
}

#[test]
fn bfd_drives_an_ipv6_multihop_session() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    Shape {
        router: "2001:db8::1/64",
        node: "2001:db8::11/64",
        internal_ips: &["192.0.2.11", "2001:db8::11"],
        pool: "2001:db8:100::/120",
        family: "IPv6",
        multihop: true,
    }
    .run();
}
