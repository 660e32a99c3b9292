//! A scripted peer that sends malformed messages gets the right NOTIFICATION,
//! while `ferrolb run` keeps serving its other peer, a real FRR router.
//!
//! ```text
//!   ┌─ router ──────────┐       ┌─ node ─────────────────────┐       ┌─ peer ──────────────┐
//!   │ FRR, AS 64513     │ veth  │ ferrolb run --node node1   │ veth  │ python3 scripted    │
//!   │ 192.0.2.1         ├───────┤ 192.0.2.11     AS 64512    ├───────┤ BGP peer, AS 64514  │
//!   │ learns the VIP    │ eth0  │ 198.51.100.11        eth1  │ eth0  │ 198.51.100.2 :179   │
//!   └───────────────────┘       └────────────────────────────┘       └─────────────────────┘
//! ```
//!
//! ferrolb connects to both. For each case the scripted peer accepts a fresh
//! connection, brings the session up, sends one malformed message and reports
//! what ferrolb answers (ferrolb reconnects 1 s after a reset). Between cases
//! the test checks that the FRR session never dropped and still carries the VIP.
//! Every NOTIFICATION is compared byte for byte; the one malformed UPDATE that
//! RFC 7606 handles as treat-as-withdraw must get none, and the session stays up.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use ferrolb_lab::{Frr, FrrConfig, Netns, veth};
use serde_json::{Value, json};

use crate::support::{Ferrolb, lab_ready};

const TIMEOUT: Duration = Duration::from_secs(30);
const VIP: &str = "203.0.113.10";
/// The VIP as IPv4 NLRI (/32, 203.0.113.10): how an UPDATE announcing it ends.
const VIP_NLRI: &str = "20cb00710a";

const CONFIG: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips}
spec:
  addresses: [203.0.113.10-203.0.113.20]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: scripted}
spec: {myASN: 64512, peerASN: 64514, peerAddress: 198.51.100.2, holdTime: 9s}
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
metadata: {name: api, namespace: default}
spec:
  type: LoadBalancer
  ports: [{port: 80}]
";

/// The scripted peer, run with `python3 peer.py ADDRESS` inside its namespace.
const SCRIPT: &str = r#"# A scripted BGP peer (AS 64514) for ferrolb's malformed-message test.
# argv: listen address. stdin: one JSON command a line; stdout: one JSON result a line.
#   {"case": NAME, "send": HEX, "expect": "reset"|"stay", "announce": HEX}: accept ferrolb's
#       next connection, exchange OPEN/KEEPALIVE, wait for an UPDATE ending with "announce"
#       (Established, routes sent), send HEX, then
#       "reset": report the first NOTIFICATION and whether the connection then closed;
#       "stay": send a ROUTE-REFRESH and report ferrolb's answer (up to an UPDATE ending with
#       "announce" again); keep the session up (KEEPALIVE every 3 s) until the next command.
#   {"status": true}: is the kept session still up, and what did ferrolb send on it meanwhile.
import json, os, select, socket, struct, sys, time

MARKER = b"\xff" * 16
TIMEOUT = 20.0
ASN = 64514


def message(kind, body=b""):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


KEEPALIVE = message(4)
ROUTE_REFRESH = message(5, bytes([0, 1, 0, 1]))  # IPv4 unicast
# Multiprotocol IPv4 unicast, 4-octet AS, route refresh: one capabilities parameter.
CAPS = bytes([1, 4, 0, 1, 0, 1, 65, 4]) + struct.pack("!I", ASN) + bytes([2, 0])
PARAMS = bytes([2, len(CAPS)]) + CAPS


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closed = False

    def recv(self, deadline):
        """The next whole message, or None once the peer has closed."""
        while True:
            if len(self.buf) >= 19:
                length = struct.unpack("!H", self.buf[16:18])[0]
                if length >= 19 and len(self.buf) >= length:
                    m, self.buf = self.buf[:length], self.buf[length:]
                    return m
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from ferrolb in time")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            self.buf += data


def run_case(listener, command):
    deadline = time.monotonic() + TIMEOUT
    listener.settimeout(TIMEOUT)
    sock, _ = listener.accept()
    conn = Conn(sock)
    result = {"case": command["case"], "before": [], "after": []}
    first = conn.recv(deadline)
    if first is None or first[18] != 1:
        return conn, dict(result, error="expected ferrolb's OPEN, got %s" % (first and first.hex()))
    router_id = socket.inet_aton(sys.argv[1])
    sock.sendall(message(1, struct.pack("!BHH4sB", 4, ASN, 9, router_id, len(PARAMS)) + PARAMS) + KEEPALIVE)
    # Established once ferrolb announces its routes.
    while True:
        m = conn.recv(deadline)
        if m is None:
            return conn, dict(result, error="closed before Established")
        result["before"].append(m.hex())
        if m[18] == 3:
            return conn, dict(result, error="NOTIFICATION before Established")
        if m[18] == 2 and m.hex().endswith(command["announce"]):
            break
    sock.sendall(bytes.fromhex(command["send"]))
    if command["expect"] == "stay":
        sock.sendall(ROUTE_REFRESH)
    while True:
        m = conn.recv(deadline)
        if m is None:
            result["closed"] = True
            return conn, result
        result["after"].append(m.hex())
        if m[18] == 3 or (command["expect"] == "stay" and m[18] == 2 and m.hex().endswith(command["announce"])):
            break
    if command["expect"] == "reset":
        # ferrolb must close the connection after its NOTIFICATION.
        while conn.recv(deadline) is not None:
            pass
    result["closed"] = conn.closed
    return conn, result


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((sys.argv[1], 179))
    listener.listen(8)
    print(json.dumps({"listening": True}), flush=True)
    kept, kept_seen, last_keepalive = None, [], 0.0
    line = b""
    while True:
        if kept is not None and not kept.closed and time.monotonic() - last_keepalive >= 3:
            kept.sock.sendall(KEEPALIVE)
            last_keepalive = time.monotonic()
        fds = [0] + ([kept.sock] if kept is not None and not kept.closed else [])
        ready, _, _ = select.select(fds, [], [], 0.5)
        if kept is not None and kept.sock in ready:
            m = kept.recv(time.monotonic() + TIMEOUT)
            while m is not None:
                kept_seen.append(m.hex())
                if len(kept.buf) < 19 or len(kept.buf) < struct.unpack("!H", kept.buf[16:18])[0]:
                    break
                m = kept.recv(time.monotonic() + TIMEOUT)
        if 0 not in ready:
            continue
        data = os.read(0, 4096)
        if not data:
            return
        line += data
        if not line.endswith(b"\n"):
            continue
        command, line = json.loads(line), b""
        if "status" in command:
            print(json.dumps({"open": kept is not None and not kept.closed, "seen": kept_seen}), flush=True)
            continue
        if kept is not None:
            kept.sock.close()
            kept = None
        try:
            conn, result = run_case(listener, command)
        except Exception as e:  # reported, so the test fails with the reason
            conn, result = None, {"case": command.get("case"), "error": repr(e)}
        if conn is not None and command["expect"] == "stay" and not conn.closed:
            kept, kept_seen, last_keepalive = conn, [], time.monotonic()
        elif conn is not None:
            conn.sock.close()
        print(json.dumps(result), flush=True)


main()
"#;

/// A BGP message: marker, length, type, body (RFC 4271 §4.1).
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The type of a message the scripted peer reported in hex.
fn kind(message_hex: &str) -> &str {
    &message_hex[36..38]
}

/// One malformed message and the NOTIFICATION it must get (`None`: none, the session stays up).
struct Case {
    name: &'static str,
    send: Vec<u8>,
    /// Code, subcode, data.
    notification: Option<(u8, u8, Vec<u8>)>,
}

fn cases() -> Vec<Case> {
    let keepalive = message(4, &[]);
    let with = |at: usize, value: u8| {
        let mut m = keepalive.clone();
        m[at] = value;
        m
    };
    // Withdrawn length 0, Total Path Attribute Length 100, but only ORIGIN (4 octets) follows.
    let attributes_overrun = message(2, &[0, 0, 0, 100, 0x40, 1, 1, 0]);
    // ORIGIN 7, AS_PATH [64514] (4-octet, as negotiated), NEXT_HOP 198.51.100.2,
    // NLRI 203.0.113.128/25: RFC 7606 §7.1, treat-as-withdraw.
    let origin_7 = message(
        2,
        &[
            0, 0, 0, 20, //
            0x40, 1, 1, 7, //
            0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x02, //
            0x40, 3, 4, 198, 51, 100, 2, //
            25, 203, 0, 113, 128,
        ],
    );
    // Beyond the brief: a garbage header with its "body" still unread in the socket when ferrolb
    // closes (the NOTIFICATION must arrive all the same), lengths out of range for the type,
    // an OPEN in Established (RFC 6608), a ROUTE-REFRESH of 24 octets (RFC 7313 §5: data is the
    // whole message), a withdrawn length past the message, an unrecognized well-known
    // attribute, an NLRI of /33.
    let mut garbage = message(4, &[0; 21]);
    garbage[0] = 0;
    let mut length_4097 = with(16, 0x10);
    length_4097[17] = 0x01;
    let open = message(1, &[4, 0xfc, 0x02, 0, 9, 198, 51, 100, 2, 0]);
    let refresh_24 = message(5, &[0, 1, 0, 1, 0]);
    let n = |code: u8, subcode: u8, data: &[u8]| Some((code, subcode, data.to_vec()));
    vec![
        Case { name: "bad marker", send: with(15, 0xfe), notification: n(1, 1, &[]) },
        Case { name: "header length 18", send: with(17, 18), notification: n(1, 2, &[0, 18]) },
        Case { name: "message type 9", send: message(9, &[]), notification: n(1, 3, &[9]) },
        Case { name: "attributes past the message", send: attributes_overrun, notification: n(3, 1, &[]) },
        Case { name: "ORIGIN 7", send: origin_7, notification: None },
        Case { name: "bad marker, 21 more octets", send: garbage, notification: n(1, 1, &[]) },
        Case { name: "header length 4097", send: length_4097, notification: n(1, 2, &[0x10, 0x01]) },
        Case { name: "KEEPALIVE of 20 octets", send: message(4, &[0]), notification: n(1, 2, &[0, 20]) },
        Case { name: "UPDATE of 22 octets", send: message(2, &[0, 0, 0]), notification: n(1, 2, &[0, 22]) },
        Case { name: "OPEN in Established", send: open, notification: n(5, 3, &[]) },
        Case {
            name: "ROUTE-REFRESH of 24 octets",
            send: refresh_24.clone(),
            notification: n(7, 1, &refresh_24),
        },
        Case {
            name: "withdrawn past the message",
            send: message(2, &[0, 50, 0, 0]),
            notification: n(3, 1, &[]),
        },
        Case {
            name: "unrecognized well-known attribute",
            send: message(2, &[0, 0, 0, 3, 0x40, 99, 0]),
            notification: n(3, 2, &[0x40, 99, 0]),
        },
        Case {
            name: "NLRI /33",
            send: message(2, &[0, 0, 0, 0, 33, 203, 0, 113, 1, 1]),
            notification: n(3, 10, &[]),
        },
    ]
}

/// The python3 scripted peer: one JSON command a line on its stdin, one JSON result a line back.
struct ScriptedPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

impl ScriptedPeer {
    fn start(ns: &Netns, address: &str) -> ScriptedPeer {
        let script = ns.dir().join("peer.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let log = ns.dir().join("peer.log");
        let mut child = ns
            .command("python3")
            .arg(&script)
            .arg(address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut peer = ScriptedPeer { child, stdin, stdout, log };
        assert_eq!(peer.read(), json!({"listening": true}));
        peer
    }

    fn ask(&mut self, command: &Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.read()
    }

    /// The next result; the script bounds every wait, so this returns.
    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(n > 0, "the scripted peer exited:\n{log}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}\n{log}"))
    }
}

impl Drop for ScriptedPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// FRR's counters of the session with the node: (established, dropped).
fn frr_session_counters(frr: &Frr, neighbor: IpAddr) -> (u64, u64) {
    let json = frr.vtysh_json(&format!("show bgp neighbors {neighbor} json")).unwrap();
    let n = &json[neighbor.to_string()];
    match (n["connectionsEstablished"].as_u64(), n["connectionsDropped"].as_u64()) {
        (Some(established), Some(dropped)) => (established, dropped),
        _ => panic!("no connection counters in {json}"),
    }
}

fn has_route(router: &Netns, vip: &str) -> bool {
    router.routes(false).unwrap().iter().any(|r| r.dst == vip && r.gateway.as_deref() == Some("192.0.2.11"))
}

#[test]
fn malformed_messages_get_their_notification_and_the_other_peer_is_unaffected() {
    if !lab_ready(&["ip", "vtysh", "python3"]) {
        return;
    }
    let started = Instant::now();
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node").unwrap();
    let peer_ns = Netns::new("peer").unwrap();
    veth(&router, "eth0", &node, "eth0").unwrap();
    veth(&peer_ns, "eth0", &node, "eth1").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    node.add_addr("eth0", "192.0.2.11/24").unwrap();
    node.add_addr("eth1", "198.51.100.11/24").unwrap();
    peer_ns.add_addr("eth0", "198.51.100.2/24").unwrap();
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let frr = Frr::start(
        &router,
        &FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(neighbor, 64512, false),
    )
    .unwrap();
    let mut scripted = ScriptedPeer::start(&peer_ns, "198.51.100.2");

    let mut ferrolb = Ferrolb::start(&node, "node1", CONFIG);
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while !has_route(&router, VIP) {
        assert!(Instant::now() < deadline, "timed out waiting for the VIP at the router");
        std::thread::sleep(Duration::from_millis(50));
    }
    let frr_counters = frr_session_counters(&frr, neighbor);

    // ferrolb keeps serving FRR: the same session (never dropped), the VIP, the process.
    let assert_frr_unaffected = |ferrolb: &mut Ferrolb, after: &str| {
        ferrolb.assert_running();
        let state = frr.neighbor_state(neighbor).unwrap();
        assert_eq!(state.as_deref(), Some("Established"), "after {after}:\n{}", ferrolb.log());
        assert_eq!(frr_session_counters(&frr, neighbor), frr_counters, "FRR's session flapped after {after}");
        assert!(has_route(&router, VIP), "the router lost the VIP after {after}");
    };

    for case in cases() {
        let case_started = Instant::now();
        let expect = if case.notification.is_some() { "reset" } else { "stay" };
        let command =
            json!({"case": case.name, "send": hex(&case.send), "expect": expect, "announce": VIP_NLRI});
        let result = scripted.ask(&command);
        let context = || format!("case {}: {result}\nferrolb:\n{}", case.name, ferrolb.log());
        assert!(result["error"].is_null(), "{}", context());
        // The session was Established: ferrolb had announced the VIP to the scripted peer.
        let before = strings(&result["before"]);
        assert!(before.last().is_some_and(|m| kind(m) == "02" && m.ends_with(VIP_NLRI)), "{}", context());
        let after = strings(&result["after"]);
        let (last, others) = after.split_last().unwrap_or_else(|| panic!("no answer: {}", context()));
        assert!(others.iter().all(|m| kind(m) != "03"), "{}", context());
        match &case.notification {
            Some((code, subcode, data)) => {
                let mut body = vec![*code, *subcode];
                body.extend_from_slice(data);
                assert_eq!(*last, hex(&message(3, &body)), "{}", context());
                assert_eq!(result["closed"], true, "ferrolb kept the connection: {}", context());
            }
            None => {
                // RFC 7606 treat-as-withdraw: no NOTIFICATION, and the ROUTE-REFRESH sent after
                // the malformed UPDATE was answered with the VIP on the same connection.
                assert!(kind(last) == "02" && last.ends_with(VIP_NLRI), "{}", context());
                assert_eq!(result["closed"], false, "{}", context());
            }
        }
        assert_frr_unaffected(&mut ferrolb, case.name);
        if case.notification.is_none() {
            // Still up on the scripted side too, after the FRR checks took their time.
            let status = scripted.ask(&json!({"status": true}));
            assert_eq!(status["open"], true, "{status}\n{}", ferrolb.log());
            assert!(strings(&status["seen"]).iter().all(|m| kind(m) != "03"), "{status}");
        }
        eprintln!("case {:?}: ok in {:?}", case.name, case_started.elapsed());
    }
    assert_frr_unaffected(&mut ferrolb, "every case");
    eprintln!("malformed-message lab done in {:?}", started.elapsed());
}
