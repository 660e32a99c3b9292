//! Both address families over one session (`dualStackAddressFamily`,
//! RFC 4760 and RFC 8950) and graceful restart (RFC 4724), against FRR.
//!
//! ```text
//!   ┌─ router ─────────────────┐  veth  ┌─ node1 ─────────────────────┐
//!   │ FRR AS 64513             ├────────┤ ferrolb AS 64512            │
//!   │ 192.0.2.1, 2001:db8::1   │  eth0  │ 192.0.2.11, 2001:db8::11    │
//!   └──────────────────────────┘        └─────────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_lab::{Frr, FrrConfig, Netns};

use crate::support::{Ferrolb, lab_ready, pair, stale, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const V4_VIP: &str = "203.0.113.10";
const V6_VIP: &str = "2001:db8:100::";

/// One node with a dual-stack Service (one VIP of each family) and one peer.
fn cluster(peer_address: &str, peer_extra: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: vips}}
spec:
  addresses: [{V4_VIP}/32, \"{V6_VIP}/128\"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: \"{peer_address}\"
  holdTime: 9s
{peer_extra}---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: up}}
---
apiVersion: v1
kind: Node
metadata: {{name: node1}}
status:
  addresses: [{{type: InternalIP, address: 192.0.2.11}}, {{type: InternalIP, address: \"2001:db8::11\"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  ports: [{{port: 80}}]
"
    )
}

/// The router and the node on one veth; the node gets `node_addresses`.
fn gateways(ns: &Netns, prefix: &str) -> Vec<String> {
    ns.route(prefix).unwrap().map(|r| r.gateways()).unwrap_or_default()
}

#[test]
fn ipv6_vips_ride_an_ipv4_session_with_the_interface_ipv6_next_hop() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24", "2001:db8::11/64"]);
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    // `ipv6: true` activates the IPv4 neighbor in FRR's IPv6 unicast family too.
    let frr = Frr::start(&router, &FrrConfig::new(64513, ROUTER_ID).neighbor(neighbor, 64512, true)).unwrap();

    let ferrolb = Ferrolb::start(&node, "node1", &cluster("192.0.2.1", "  dualStackAddressFamily: true\n"));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("both VIPs in the router's kernel over the IPv4 session", TIMEOUT, || {
        gateways(&router, V4_VIP) == ["192.0.2.11"] && gateways(&router, V6_VIP) == ["2001:db8::11"]
    });
    let log = ferrolb.stop();
    wait_for("the IPv6 VIP withdrawn", TIMEOUT, || gateways(&router, V6_VIP).is_empty());
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}

#[test]
fn without_dual_stack_an_ipv4_session_carries_only_ipv4() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24", "2001:db8::11/64"]);
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let frr = Frr::start(&router, &FrrConfig::new(64513, ROUTER_ID).neighbor(neighbor, 64512, true)).unwrap();

    let mut ferrolb = Ferrolb::start(&node, "node1", &cluster("192.0.2.1", ""));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("the IPv4 VIP in the router's kernel", TIMEOUT, || gateways(&router, V4_VIP) == ["192.0.2.11"]);
    // The IPv4 route came; give an IPv6 one the same time again to (wrongly) arrive.
    std::thread::sleep(Duration::from_secs(1));
    assert!(gateways(&router, V6_VIP).is_empty(), "IPv6 over an IPv4 session without dualStackAddressFamily");
    let rib = frr.bgp_ipv6_unicast().unwrap();
    assert!(rib["routes"].as_object().is_none_or(|r| r.is_empty()), "{rib}");
    ferrolb.assert_running();
}

#[test]
fn ipv4_vips_ride_an_ipv6_session_with_an_ipv6_next_hop_by_rfc_8950() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    // The node has no IPv4 address on the link: only RFC 8950 can carry its IPv4 VIP.
    let (router, node) = pair(&["2001:db8::11/64"]);
    let neighbor: IpAddr = "2001:db8::11".parse().unwrap();
    let mut config = FrrConfig::new(64513, ROUTER_ID).neighbor(neighbor, 64512, true);
    config.extra = format!("router bgp 64513\n neighbor {neighbor} capability extended-nexthop\n!\n");
    let frr = Frr::start(&router, &config).unwrap();

    let ferrolb = Ferrolb::start(&node, "node1", &cluster("2001:db8::1", "  dualStackAddressFamily: true\n"));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("both VIPs in the router's kernel via 2001:db8::11", TIMEOUT, || {
        gateways(&router, V4_VIP) == ["2001:db8::11"] && gateways(&router, V6_VIP) == ["2001:db8::11"]
    });
    let rib = frr.bgp_ipv4_unicast().unwrap();
    assert_eq!(rib["routes"][&format!("{V4_VIP}/32")][0]["path"], "64512", "{rib}");
    ferrolb.stop();
    wait_for("the IPv4 VIP withdrawn", TIMEOUT, || gateways(&router, V4_VIP).is_empty());
}

/// Whether FRR holds the IPv4 VIP, and whether its path is marked stale.
fn vip_in_rib(frr: &Frr) -> Option<bool> {
    stale(frr, V4_VIP)
}

#[test]
fn with_graceful_restart_the_router_keeps_the_routes_while_ferrolb_restarts() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let frr =
        Frr::start(&router, &FrrConfig::new(64513, ROUTER_ID).neighbor(neighbor, 64512, false)).unwrap();

    // Without enableGracefulRestart a crash withdraws at once.
    let plain = Ferrolb::start(&node, "node1", &cluster("192.0.2.1", ""));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("the VIP in the router's kernel", TIMEOUT, || gateways(&router, V4_VIP) == ["192.0.2.11"]);
    drop(plain); // SIGKILL: no NOTIFICATION, the kernel closes the TCP connection.
    wait_for("the VIP gone after a crash without graceful restart", TIMEOUT, || {
        gateways(&router, V4_VIP).is_empty()
    });

    let config = cluster("192.0.2.1", "  enableGracefulRestart: true\n");
    let first = Ferrolb::start(&node, "node1", &config);
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("the VIP back, not stale", TIMEOUT, || vip_in_rib(&frr) == Some(false));
    drop(first);
    wait_for("the session down", TIMEOUT, || {
        frr.neighbor_state(neighbor).unwrap().as_deref() != Some("Established")
    });
    // The router keeps forwarding to the node while it is away (stale path, route in the kernel).
    let away = Instant::now();
    while away.elapsed() < Duration::from_secs(2) {
        assert_eq!(vip_in_rib(&frr), Some(true), "the VIP must stay, marked stale");
        assert_eq!(gateways(&router, V4_VIP), ["192.0.2.11"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Back: routes and End-of-RIB clear the stale mark.
    let second = Ferrolb::start(&node, "node1", &config);
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("the path fresh again after End-of-RIB", TIMEOUT, || vip_in_rib(&frr) == Some(false));
    let log = second.stop();
    wait_for("the VIP withdrawn by the Cease on SIGTERM", TIMEOUT, || gateways(&router, V4_VIP).is_empty());
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}

#[test]
fn a_vrf_the_host_lacks_is_named_in_the_log() {
    if !lab_ready(&["ip"]) {
        return;
    }
    let (_router, node) = pair(&["192.0.2.11/24"]);
    let mut ferrolb = Ferrolb::start(&node, "node1", &cluster("192.0.2.1", "  vrf: blue\n"));
    wait_for("the VRF error in the log", TIMEOUT, || ferrolb.log().contains("vrf \"blue\""));
    assert!(ferrolb.log().contains("expected a VRF device on this host"), "{}", ferrolb.log());
    ferrolb.assert_running();
}
