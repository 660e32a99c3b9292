//! Hostile load on `ferrolb run`'s BGP speaker, each with the bound it must keep, while its
//! session with a real FRR router never drops and keeps the VIP.
//!
//! The lab is [`ScriptedLab`]'s: FRR (AS 64513) learns the VIP from the node (AS 64512), and
//! python3 scripts in the peer's namespace (198.51.100.2 and .9, 2001:db8:1::2; AS 64514 a
//! BGPPeer) play the hostile peers.
//!
//! The scripted BGPPeer's port is 1179, where nothing listens, so the script is the one that
//! connects (to ferrolb's port 179). Memory is ferrolb's resident set (`VmRSS`), open
//! connections its open file descriptors, both read from `/proc`. Every bound is about memory
//! or behaviour; waiting for an event has a timeout, nothing is timed as a performance.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::lab_ready;
use crate::support::scripted_peer::{PythonScript, ScriptedLab};

const TIMEOUT: Duration = Duration::from_secs(60);
const MIB: u64 = 1024;

/// The scripts, run with `python3 hostile.py MODE ARGS...` in the peer's namespace; they
/// print one JSON line per result and read one JSON command a line where they wait for one.
const SCRIPT: &str = r#"# Hostile BGP peers for ferrolb's hostile-load test. See the modes below.
import json, select, socket, struct, sys, time

MARKER = b"\xff" * 16


def message(kind, body=b""):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


KEEPALIVE = message(4)


def say(obj):
    print(json.dumps(obj), flush=True)


def command():
    return json.loads(sys.stdin.readline())


class Conn:
    def __init__(self, sock):
        self.sock, self.buf, self.ended = sock, b"", None

    def recv(self, deadline):
        """The next whole message; None once ferrolb closed (self.ended: "eof" or "reset")."""
        while True:
            if len(self.buf) >= 19:
                length = struct.unpack("!H", self.buf[16:18])[0]
                if len(self.buf) >= length:
                    m, self.buf = self.buf[:length], self.buf[length:]
                    return m
            if self.ended:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing from ferrolb in time")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
                if not data:
                    self.ended = "eof"
            except ConnectionResetError:
                data, self.ended = b"", "reset"
            self.buf += data


def connect(local, remote, rcvbuf=None):
    sock = socket.socket(socket.AF_INET6 if ":" in remote else socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((local, 0))
    sock.settimeout(10)
    sock.connect((remote, 179))
    return sock


def peer_open(afi):
    """AS 64514, hold 9 s, identifier 198.51.100.2: one family, 4-octet AS, route refresh."""
    caps = bytes([1, 4, 0, afi, 0, 1, 65, 4]) + struct.pack("!I", 64514) + bytes([2, 0])
    params = bytes([2, len(caps)]) + caps
    return message(1, struct.pack("!BHH4sB", 4, 64514, 9, socket.inet_aton("198.51.100.2"), len(params)) + params)


def establish(conn, afi):
    """OPEN and KEEPALIVE exchanged, and ferrolb's first UPDATE read."""
    deadline = time.monotonic() + 60
    first = conn.recv(deadline)
    assert first is not None and first[18] == 1, "expected ferrolb's OPEN"
    conn.sock.sendall(peer_open(afi) + KEEPALIVE)
    while True:
        m = conn.recv(deadline)
        assert m is not None and m[18] != 3, "closed or NOTIFICATION before Established: %s" % (m and m.hex())
        if m[18] == 2:
            return m


def stranger(local, remote, count, parallel):
    """Connections from an address that is no BGPPeer, `parallel` at a time, half of them
    sending an OPEN: how each ended, and what ferrolb sent on it."""
    closed = sent_us = still_open = refused = 0
    for start in range(0, count, parallel):
        socks = []
        for i in range(start, min(count, start + parallel)):
            try:
                sock = connect(local, remote)
            except OSError:
                refused += 1
                continue
            if i % 2:
                try:
                    sock.sendall(peer_open(1))
                except OSError:
                    pass
            socks.append(sock)
        for sock in socks:
            sock.settimeout(5)
            try:
                data = sock.recv(4096)
                if data:
                    sent_us += 1
                else:
                    closed += 1
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                still_open += 1
            sock.close()
    say({"closed": closed, "sent_us": sent_us, "still_open": still_open, "refused": refused})


def stalled(local, remote):
    """Established over IPv6 with a 4 kB receive buffer, then neither reads nor sends until
    told to read again: then what ferrolb had sent, up to its end."""
    conn = Conn(connect(local, remote, rcvbuf=4096))
    establish(conn, 2)
    say({"established": True})
    command()
    counts, last, deadline = {}, None, time.monotonic() + 30
    while True:
        m = conn.recv(deadline)
        if m is None:
            break
        counts[m[18]] = counts.get(m[18], 0) + 1
        last = m.hex()
    say({"counts": {str(k): v for k, v in counts.items()}, "last": last, "ended": conn.ended})


def table(local, remote, prefixes):
    """Established over IPv6, then `prefixes` IPv6 /56s of 2001:db8::/32 announced in
    UPDATEs of at most 4096 octets (MP_REACH_NLRI), a KEEPALIVE a second meanwhile, then a
    ROUTE-REFRESH; the session is then kept up until stdin closes, answering status."""
    conn = Conn(connect(local, remote))
    establish(conn, 2)
    say({"established": True})
    command()
    origin_path = bytes([0x40, 1, 1, 0, 0x40, 2, 6, 2, 1]) + struct.pack("!I", 64514)
    next_hop = socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
    per_update = (4096 - 19 - 4 - len(origin_path) - 4 - 4 - len(next_hop) - 1) // 8
    sent, updates, last_keepalive, seen = 0, 0, time.monotonic(), []
    while sent < prefixes:
        n = min(per_update, prefixes - sent)
        nlri = b"".join(bytes([56]) + struct.pack("!HHHB", 0x2001, 0x0db8, i >> 8, i & 0xff) for i in range(sent, sent + n))
        value = struct.pack("!HBB", 2, 1, 16) + next_hop + b"\x00" + nlri
        attrs = origin_path + bytes([0x90, 14]) + struct.pack("!H", len(value)) + value
        update = message(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs)
        assert len(update) <= 4096
        conn.sock.sendall(update)
        sent, updates = sent + n, updates + 1
        if time.monotonic() - last_keepalive >= 1:
            conn.sock.sendall(KEEPALIVE)
            last_keepalive = time.monotonic()
        while select.select([conn.sock], [], [], 0)[0]:
            m = conn.recv(time.monotonic() + 5)
            if m is None:
                break
            seen.append(m.hex()[36:38])
    conn.sock.sendall(message(5, bytes([0, 2, 0, 1])))
    deadline = time.monotonic() + 30
    while True:
        m = conn.recv(deadline)
        if m is None:
            break
        seen.append(m.hex()[36:38])
        if m[18] in (2, 3):
            break
    say({"updates": updates, "prefixes": sent, "seen": seen, "ended": conn.ended})
    last_keepalive = 0
    while True:
        if time.monotonic() - last_keepalive >= 3 and not conn.ended:
            conn.sock.sendall(KEEPALIVE)
            last_keepalive = time.monotonic()
        ready = select.select([sys.stdin] + ([] if conn.ended else [conn.sock]), [], [], 0.5)[0]
        if conn.sock in ready:
            m = conn.recv(time.monotonic() + 5)
            if m is not None:
                seen.append(m.hex()[36:38])
        if sys.stdin in ready:
            if not sys.stdin.readline():
                return
            say({"open": conn.ended is None, "seen": seen})


def silent(local, remote, extra):
    """Two connections that never send an OPEN, then `extra` more: what ferrolb sends on each,
    and when the first two end."""
    first = Conn(connect(local, remote))
    deadline = time.monotonic() + 30
    m1 = first.recv(deadline)
    t1 = time.monotonic()
    second = Conn(connect(local, remote))
    m2 = second.recv(deadline)
    t2 = time.monotonic()
    others = {"closed": 0, "sent_us": 0, "still_open": 0}
    for _ in range(extra):
        sock = connect(local, remote)
        sock.settimeout(5)
        try:
            others["sent_us" if sock.recv(4096) else "closed"] += 1
        except ConnectionResetError:
            others["closed"] += 1
        except socket.timeout:
            others["still_open"] += 1
        sock.close()
    say({"first": m1 and m1.hex()[36:38], "second": m2 and m2.hex()[36:38], "others": others})
    result = {}
    for name, conn, t in (("first", first, t1), ("second", second, t2)):
        after = []
        while True:
            m = conn.recv(time.monotonic() + 330)
            if m is None:
                break
            after.append(m.hex())
        result[name] = {"after": after, "ended": conn.ended, "seconds": time.monotonic() - t}
    say(result)


mode, args = sys.argv[1], sys.argv[2:]
if mode == "stranger":
    stranger(args[0], args[1], int(args[2]), int(args[3]))
elif mode == "stalled":
    stalled(args[0], args[1])
elif mode == "table":
    table(args[0], args[1], int(args[2]))
elif mode == "silent":
    silent(args[0], args[1], int(args[2]))
"#;

/// The cluster: the router as a BGPPeer, `peer` (a BGPPeer's spec, if any), a BGPAdvertisement,
/// the IPv4 Service whose VIP FRR learns and `v6_services` IPv6 Services.
fn cluster(peer: Option<&str>, v6_services: usize) -> String {
    let mut out = String::from(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips}
spec:
  addresses: [203.0.113.10-203.0.113.20]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips6}
spec:
  addresses: [2001:db8:100::/108]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: up}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}, {type: InternalIP, address: \"2001:db8:1::11\"}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
",
    );
    if let Some(spec) = peer {
        out.push_str(&format!(
            "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: scripted}}\nspec: {spec}\n"
        ));
    }
    for i in 0..v6_services {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: v6-{i}, namespace: default}}\nspec: {{type: LoadBalancer, ipFamilies: [IPv6], ports: [{{port: 80}}]}}\n"
        ));
    }
    out
}

/// The scripted BGPPeer over IPv4 and over IPv6; ferrolb's own connections to it fail (port 1179).
const SCRIPTED_V4: &str =
    "{myASN: 64512, peerASN: 64514, peerAddress: 198.51.100.2, peerPort: 1179, holdTime: 9s}";
const SCRIPTED_V6: &str =
    "{myASN: 64512, peerASN: 64514, peerAddress: \"2001:db8:1::2\", peerPort: 1179, holdTime: 9s}";

/// Runs the script with `args`, its mode first, in the peer's namespace.
fn script(lab: &ScriptedLab, args: &[&str]) -> PythonScript {
    PythonScript::start(&lab.peer, "hostile.py", SCRIPT, args, &format!("hostile-{}.log", args[0]))
}

/// (a) Connections from an address that is no BGPPeer (198.51.100.9): 1000 of them, 100 open
/// at a time, half sending an OPEN. Bounds: every one is closed by ferrolb without a single
/// octet sent (no OPEN) before the script's 5 s wait for it ends; afterwards ferrolb holds no
/// more file descriptors than before, and its RSS grew by less than 2 MiB; FRR's session
/// never dropped and kept the VIP.
#[test]
fn connections_from_an_address_that_is_no_bgppeer_are_closed_at_once() {
    if !lab_ready(&["ip", "vtysh", "python3"]) {
        return;
    }
    let mut lab = ScriptedLab::start(&cluster(None, 0));
    let (rss, fds) = (lab.settled_rss(), lab.fds());
    let mut stranger = script(&lab, &["stranger", "198.51.100.9", "198.51.100.11", "1000", "100"]);
    let result = stranger.read();
    assert_eq!(
        result,
        json!({"closed": 1000, "sent_us": 0, "still_open": 0, "refused": 0}),
        "{}",
        lab.ferrolb.log()
    );
    let (rss_after, fds_after) = (lab.settled_rss(), lab.fds());
    eprintln!("1000 connections from a stranger: RSS {rss} -> {rss_after} KiB, fds {fds} -> {fds_after}");
    assert!(fds_after <= fds, "file descriptors {fds} -> {fds_after}");
    assert!(rss_after < rss + 2 * MIB, "RSS {rss} -> {rss_after} KiB");
    lab.assert_frr_unaffected("1000 connections from a stranger");
}

/// (b) A peer that completes the OPENs over IPv6 with a 4 kB receive buffer, then neither
/// reads nor sends, while ferrolb has 50,000 IPv6 VIPs for it (about 850 kB of UPDATEs, far
/// more than the socket buffers take). Bounds: ferrolb's RSS while stuck stays under its
/// settled RSS before the peer came plus 8 MiB (what waits is one copy of that table's
/// UPDATEs, never one per KEEPALIVE or change); the session ends by ferrolb's hold time (9 s)
/// with a Hold Timer Expired, which the peer reads after the rest once it reads again (ferrolb
/// lingers 5 s for it); FRR's session never dropped and kept the VIP.
#[test]
fn a_peer_that_stops_reading_ends_by_hold_time_in_bounded_memory() {
    if !lab_ready(&["ip", "vtysh", "python3"]) {
        return;
    }
    const SERVICES: usize = 50_000;
    let mut lab = ScriptedLab::start(&cluster(Some(SCRIPTED_V6), SERVICES));
    let rss = lab.settled_rss();
    let mut peer = script(&lab, &["stalled", "2001:db8:1::2", "2001:db8:1::11"]);
    assert_eq!(peer.read(), json!({"established": true}), "{}", lab.ferrolb.log());
    let stuck_since = Instant::now();
    // The session ends by the hold time: ferrolb's NOTIFICATION to the silent peer, logged.
    let hold_expired = |log: &str| {
        log.lines().any(|l| {
            l.contains("NOTIFICATION sent") && l.contains("\"scripted\"") && l.contains("Hold Timer Expired")
        })
    };
    let mut peak = rss;
    let deadline = Instant::now() + TIMEOUT;
    while !hold_expired(&lab.ferrolb.log()) {
        assert!(
            Instant::now() < deadline,
            "the session did not end by its hold time:\n{}",
            lab.ferrolb.log()
        );
        peak = peak.max(lab.rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    let stuck_for = stuck_since.elapsed();
    peer.tell(&json!({"read": true}));
    let drained = peer.read();
    eprintln!(
        "stuck peer: ended after {stuck_for:?}; RSS settled {rss} KiB, peak {peak} KiB while stuck; peer then read {drained}"
    );
    assert!(stuck_for >= Duration::from_secs(8), "ended before the hold time: {stuck_for:?}");
    assert!(peak < rss + 8 * MIB, "RSS {rss} -> {peak} KiB while the peer took nothing");
    assert_eq!(drained["last"], "ffffffffffffffffffffffffffffffff0015030400", "{drained}");
    assert_eq!(drained["ended"], "eof", "{drained}");
    assert!(drained["counts"]["2"].as_u64().is_some_and(|n| n > 0), "{drained}");
    lab.assert_frr_unaffected("a peer that stopped reading");
}

/// (c) A peer that sends ferrolb a full table: 250,000 IPv6 /56s (about the IPv6 Internet's
/// table; 2 MB of NLRI) in about 500 UPDATEs of up to 4096 octets. Bounds: no NOTIFICATION, the
/// session stays up and still answers a ROUTE-REFRESH; ferrolb's settled RSS grows by less than
/// 2 MiB, where keeping the prefixes alone would take 4.25 MB (17 octets each); FRR's session
/// never dropped and kept the VIP.
#[test]
fn a_full_table_from_a_peer_is_ignored_without_storing_it() {
    if !lab_ready(&["ip", "vtysh", "python3"]) {
        return;
    }
    let mut lab = ScriptedLab::start(&cluster(Some(SCRIPTED_V6), 1));
    let mut peer = script(&lab, &["table", "2001:db8:1::2", "2001:db8:1::11", "250000"]);
    assert_eq!(peer.read(), json!({"established": true}), "{}", lab.ferrolb.log());
    let rss = lab.settled_rss();
    peer.tell(&json!({"send": true}));
    let result = peer.read();
    let rss_after = lab.settled_rss();
    eprintln!("full table: {result}; RSS {rss} -> {rss_after} KiB");
    assert_eq!(result["prefixes"], 250_000, "{result}");
    assert_eq!(result["ended"], Value::Null, "ferrolb closed the session: {result}\n{}", lab.ferrolb.log());
    let seen: Vec<&str> = result["seen"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(!seen.contains(&"03"), "a NOTIFICATION: {result}");
    assert_eq!(seen.last(), Some(&"02"), "the ROUTE-REFRESH was answered: {result}");
    assert!(rss_after < rss + 2 * MIB, "RSS {rss} -> {rss_after} KiB");
    lab.assert_frr_unaffected("a full table");
    // Still up a hold time later.
    std::thread::sleep(Duration::from_secs(10));
    peer.tell(&json!({"status": true}));
    let status = peer.read();
    assert_eq!(status["open"], true, "{status}\n{}", lab.ferrolb.log());
    assert!(status["seen"].as_array().unwrap().iter().all(|m| m != "03"), "{status}");
}

/// (d) A BGPPeer's address connects and never sends an OPEN, twice, then 20 more times.
/// Bounds: ferrolb answers the first two (its session and one collision candidate, RFC 4271
/// §6.8) with its OPEN and closes every further one at once without a word, so it holds at
/// most two connections per peer; it keeps the two for the OpenSent hold time RFC 4271 §8.2.2
/// suggests (4 minutes: not before 200 s, ended within 330 s), then sends Hold Timer Expired
/// and closes them; FRR's session never dropped and kept the VIP.
#[test]
fn an_open_that_never_comes_is_given_up_after_the_opensent_hold_time() {
    if !lab_ready(&["ip", "vtysh", "python3"]) {
        return;
    }
    let mut lab = ScriptedLab::start(&cluster(Some(SCRIPTED_V4), 0));
    let fds = lab.fds();
    let mut peer = script(&lab, &["silent", "198.51.100.2", "198.51.100.11", "20"]);
    let opened = peer.read();
    assert_eq!(
        opened,
        json!({"first": "01", "second": "01", "others": {"closed": 20, "sent_us": 0, "still_open": 0}}),
        "{}",
        lab.ferrolb.log()
    );
    assert!(lab.fds() <= fds + 2, "more than two connections held: {} -> {}", fds, lab.fds());
    lab.assert_frr_unaffected("connections that never send an OPEN");
    let ended = peer.read();
    eprintln!("OPEN that never comes: {ended}");
    for name in ["first", "second"] {
        let connection = &ended[name];
        let after: Vec<&str> =
            connection["after"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(after, ["ffffffffffffffffffffffffffffffff0015030400"], "{name}: {ended}");
        assert_eq!(connection["ended"], "eof", "{name}: {ended}");
        let seconds = connection["seconds"].as_f64().unwrap();
        assert!(seconds >= 200.0, "{name} given up before the OpenSent hold time: {ended}");
    }
    assert!(lab.fds() <= fds, "connections left open: {} -> {}", fds, lab.fds());
    lab.assert_frr_unaffected("OPENs that never came");
}
