//! `ferrolb run` is both active and passive (RFC 4271 §8): it connects to
//! its peers and accepts their connections on TCP 179, resolving collisions
//! (RFC 4271 §6.8) so that one connection per peer remains.
//!
//! ```text
//!   ┌─ router ─────────────────┐        ┌─ node ─────────────────────┐
//!   │ FRR 192.0.2.1  AS 64513  ├────────┤ ferrolb  192.0.2.11        │
//!   │ passive / active / MD5   │  veth  │ AS 64512, listens on :179  │
//!   └──────────────────────────┘        └────────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::Duration;

use ferrolb_lab::{Frr, FrrConfig, Netns, veth};

use crate::support::{Ferrolb, bgp_cluster, established, has_route, lab_ready, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));

/// One Service, and a BGPPeer with the extra `peer` spec fields.
fn cluster(peer: &str) -> String {
    bgp_cluster("203.0.113.10-203.0.113.20", &["web"])
        .replace("holdTime: 9s}", &format!("holdTime: 9s{peer}}}"))
}

/// The router and node namespaces, linked, with FRR started with `extra` config lines.
fn lab(extra: &str) -> (Netns, Netns, Frr) {
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node").unwrap();
    veth(&router, "eth0", &node, "eth0").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    node.add_addr("eth0", "192.0.2.11/24").unwrap();
    let mut config = FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(NODE_IP, 64512, false);
    config.extra = format!("router bgp 64513\n{extra}!\n");
    let frr = Frr::start(&router, &config).unwrap();
    (router, node, frr)
}

fn has_vip(router: &Netns) -> bool {
    has_route(router, "203.0.113.10")
}

/// The established TCP connections between the node and the router, seen from the node.
fn bgp_connections(node: &Netns) -> Vec<String> {
    let out = node.exec("ss", &["-Htn", "state", "established"]).unwrap();
    out.lines().filter(|l| l.contains("192.0.2.1:") && l.contains(":179")).map(str::to_owned).collect()
}

#[test]
fn ferrolb_connects_to_a_passive_frr() {
    if !lab_ready(&["ip", "vtysh", "ss"]) {
        return;
    }
    let (router, node, frr) = lab(" neighbor 192.0.2.11 passive\n");
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(""));
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&router));
    let log = ferrolb.log();
    assert!(log.contains("TCP connected") && !log.contains("TCP connection accepted"), "{log}");
}

#[test]
fn frr_connects_in_when_ferrolb_cannot_connect_out() {
    if !lab_ready(&["ip", "vtysh", "ss"]) {
        return;
    }
    // FRR does not listen on 1179: every connection ferrolb opens is refused,
    // while FRR connects to the node's port 179.
    let (router, node, frr) = lab("");
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(", peerPort: 1179"));
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&router));
    let log = ferrolb.log();
    assert!(log.contains("TCP connection accepted") && log.contains("session established"), "{log}");
    assert!(!log.contains("TCP connected"), "{log}");
}

#[test]
fn the_listener_checks_the_tcp_md5_key_of_an_incoming_connection() {
    if !lab_ready(&["ip", "vtysh", "ss"]) {
        return;
    }
    let (router, node, frr) = lab(" neighbor 192.0.2.11 password s3cret\n");
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(", peerPort: 1179, password: s3cret"));
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&router));
    assert!(ferrolb.log().contains("TCP connection accepted"), "{}", ferrolb.log());
}

#[test]
fn both_sides_connecting_leaves_one_connection_and_a_steady_session() {
    if !lab_ready(&["ip", "vtysh", "ss"]) {
        return;
    }
    // Both sides connect (FRR retries every second); whatever crossed, one
    // connection remains and FRR saw the session come up once.
    let (router, node, frr) = lab("");
    let _ferrolb = Ferrolb::start(&node, "node1", &cluster(""));
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("the VIP in the router's kernel", TIMEOUT, || has_vip(&router));
    std::thread::sleep(Duration::from_secs(4));
    wait_for("a single connection", TIMEOUT, || bgp_connections(&node).len() == 1);
    assert!(established(&frr, NODE_IP));
    let neighbors = frr.vtysh_json("show bgp neighbors 192.0.2.11 json").unwrap();
    assert_eq!(neighbors["192.0.2.11"]["connectionsEstablished"], 1, "{neighbors}");
}

/// A scripted peer (192.0.2.1, AS 64513) that makes the two connections
/// cross: it accepts ferrolb's connection and holds back its OPEN, connects
/// to ferrolb's port 179 and opens there, then reports which connection got
/// Cease / Connection Collision Resolution and brings the other one up.
const COLLIDE: &str = r#"
import socket, struct, sys, time
MARKER = b"\xff" * 16
def message(kind, body=b""):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body
CAPS = bytes([1, 4, 0, 1, 0, 1, 65, 4]) + struct.pack("!I", 64513)
OPEN = message(1, struct.pack("!BHH4sB", 4, 64513, 9, socket.inet_aton(sys.argv[1]), len(CAPS) + 2) + bytes([2, len(CAPS)]) + CAPS)
def recv(sock, buf):
    while True:
        if len(buf[0]) >= 19:
            n = struct.unpack("!H", buf[0][16:18])[0]
            if len(buf[0]) >= n:
                m, buf[0] = buf[0][:n], buf[0][n:]
                return m
        data = sock.recv(65536)
        if not data:
            return None
        buf[0] += data
def kinds_until_close_or_notification(sock, buf):
    seen = []
    while True:
        m = recv(sock, buf)
        if m is None:
            return seen
        seen.append(m[18:21].hex() if m[18] == 3 else str(m[18]))
        if m[18] == 3:
            return seen
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("192.0.2.1", 179))
listener.listen(1)
print("listening", flush=True)
a, _ = listener.accept()
a.settimeout(20)
abuf = [b""]
assert recv(a, abuf)[18] == 1  # ferrolb's OPEN; ours is held back
b = socket.create_connection(("192.0.2.11", 179), timeout=20)
bbuf = [b""]
b.sendall(OPEN)
first = [str(recv(b, bbuf)[18]), str(recv(b, bbuf)[18])]  # OPEN, KEEPALIVE
if sys.argv[2] == "outgoing":  # ferrolb keeps its own connection, A
    out = {"incoming": first + kinds_until_close_or_notification(b, bbuf)}
    a.sendall(OPEN + message(4))
    while True:
        m = recv(a, abuf)
        if m[18] == 2:
            break
    out["outgoing"] = "update"
else:  # ferrolb keeps ours, B
    out = {"outgoing": kinds_until_close_or_notification(a, abuf)}
    b.sendall(message(4))
    while True:
        m = recv(b, bbuf)
        if m[18] == 2:
            break
    out["incoming"] = first + ["update"]
print(out, flush=True)
time.sleep(30)
"#;

fn collide(peer_router_id: &str, survivor: &str) -> String {
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node").unwrap();
    veth(&router, "eth0", &node, "eth0").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    node.add_addr("eth0", "192.0.2.11/24").unwrap();
    let script = router.dir().join("collide.py");
    std::fs::write(&script, COLLIDE).unwrap();
    let mut peer = router
        .command("python3")
        .arg(&script)
        .args([peer_router_id, survivor])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(peer.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "listening");
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(""));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lines.next().and_then(Result::ok));
    });
    let result = rx.recv_timeout(TIMEOUT).ok().flatten();
    let _ = peer.kill();
    let _ = peer.wait();
    result.unwrap_or_else(|| panic!("the scripted peer did not finish; ferrolb log:\n{}", ferrolb.log()))
}

#[test]
fn a_collision_keeps_the_connection_of_the_higher_identifier_ours() {
    if !lab_ready(&["ip", "vtysh", "ss"]) {
        return;
    }
    // 192.0.2.11 (ferrolb) > 192.0.2.1: ferrolb's own connection survives; the
    // peer's gets OPEN, KEEPALIVE, then Cease 6/7 (NOTIFICATION 03 06 07).
    let result = collide("192.0.2.1", "outgoing");
    assert_eq!(result, "{'incoming': ['1', '4', '030607'], 'outgoing': 'update'}");
}

#[test]
fn a_collision_keeps_the_connection_of_the_higher_identifier_theirs() {
    if !lab_ready(&["ip", "vtysh", "ss"]) {
        return;
    }
    // 192.0.2.200 > 192.0.2.11: the peer's connection survives and carries the
    // routes; ferrolb's (whose OPEN the peer read) gets Cease 6/7.
    let result = collide("192.0.2.200", "incoming");
    assert_eq!(result, "{'outgoing': ['030607'], 'incoming': ['1', '4', 'update']}");
}
