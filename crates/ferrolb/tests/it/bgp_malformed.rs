//! A scripted peer sends every error of RFC 4271 §6 and every attribute error class of
//! RFC 7606, and what ferrolb offers nothing for (capabilities, attributes), and checks
//! ferrolb's exact answer, while `ferrolb run` keeps serving its other peer, a real FRR router.
//!
//! The lab is [`ScriptedLab`]'s: FRR (AS 64513) learns the VIP from the node (AS 64512), and
//! a python3 script in the peer's namespace (198.51.100.2, AS 64514) plays the scripted peer.
//!
//! The scripted BGPPeer's port is 1179, where nothing listens: ferrolb's own connections
//! to it fail, and each case connects to ferrolb's port 179 instead (an accepted connection
//! starts a session at once, whatever ferrolb's reconnect backoff). A case sends the peer's
//! OPEN (or its own), then, at the state the case names (OpenSent: in place of the OPEN;
//! OpenConfirm: in place of the KEEPALIVE; Established: once ferrolb has announced the VIP),
//! one message, and checks what ferrolb does:
//! - a NOTIFICATION, compared byte for byte (code, subcode, data), then the connection closes;
//! - or it closes without one (it got a NOTIFICATION: RFC 4271 §6.4);
//! - or nothing: the session stays up (a ROUTE-REFRESH sent after the message is answered
//!   with the VIP on the same connection, between BoRR and EoRR when both sides offered
//!   enhanced route refresh, and the session is still up after the FRR checks),
//!   and ferrolb's log names exactly the RFC 7606 actions taken (treat-as-withdraw or
//!   attribute-discard, with the NOTIFICATION RFC 4271 alone would have sent), none for a
//!   message that is valid or offers what ferrolb ignores.
//!
//! Between cases the test checks that the FRR session never dropped and still carries the VIP.
//! A second test asks FRR itself for a refresh (RFC 7313, enhanced on both sides).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_lab::Frr;
use serde_json::{Value, json};

use crate::support::scripted_peer::{PythonScript, ScriptedLab, VIP, frr_session_counters};
use crate::support::{Ferrolb, has_route, lab_ready};

const TIMEOUT: Duration = Duration::from_secs(30);

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
spec: {myASN: 64512, peerASN: 64514, peerAddress: 198.51.100.2, peerPort: 1179, holdTime: 9s}
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

/// The scripted peer, run with `python3 peer.py OWN_ADDRESS FERROLB_ADDRESS` in its namespace.
const SCRIPT: &str = r#"# A scripted BGP peer (AS 64514) for ferrolb's malformed-message test.
# argv: own address, ferrolb's address. stdin: one JSON command a line; stdout: one JSON result a line.
#   {"case": NAME, "open": HEX, "at": "opensent"|"openconfirm"|"established", "send": HEX,
#    "expect": "reset"|"close"|"stay", "announce": HEX}: connect to ferrolb's port 179, read its
#       OPEN; at "opensent" send HEX at once; else send the OPEN "open", read up to ferrolb's
#       KEEPALIVE; at "openconfirm" send HEX; else send a KEEPALIVE, read up to the UPDATE
#       "announce" (Established, routes sent) and send HEX. Then report what ferrolb sends:
#       "reset", "close": everything until it closes the connection;
#       "stay": send a ROUTE-REFRESH, read up to the UPDATE "announce" again, and keep the
#       session up (KEEPALIVE every second) until the next command.
#   {"status": true}: is the kept session still up, and what did ferrolb send on it meanwhile.
import json, os, select, socket, struct, sys, time

MARKER = b"\xff" * 16
TIMEOUT = 20.0
KEEPALIVE = MARKER + struct.pack("!HB", 19, 4)
ROUTE_REFRESH = MARKER + struct.pack("!HB", 23, 5) + bytes([0, 1, 0, 1])  # IPv4 unicast


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

    def buffered(self):
        """The whole messages already read from the socket, taken out of the buffer."""
        out = []
        while len(self.buf) >= 19 and len(self.buf) >= struct.unpack("!H", self.buf[16:18])[0] >= 19:
            length = struct.unpack("!H", self.buf[16:18])[0]
            out.append(self.buf[:length].hex())
            self.buf = self.buf[length:]
        return out

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # ferrolb closed first: what it sent says why

    def until(self, deadline, seen, done):
        """Reads into `seen` up to a message `done` accepts; an error text if not there first."""
        while True:
            m = self.recv(deadline)
            if m is None:
                return "closed by ferrolb"
            seen.append(m.hex())
            if m[18] == 3:
                return "NOTIFICATION"
            if done(m):
                return None

    def end(self):
        """Closes our side, waits for ferrolb's (a few seconds at most), and the socket."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 5
            while not self.closed and time.monotonic() < deadline:
                self.recv(deadline)
        except (OSError, TimeoutError):
            pass
        self.sock.close()


def run_case(command):
    deadline = time.monotonic() + TIMEOUT
    result = {"case": command["case"], "before": [], "after": []}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((sys.argv[1], 0))
    sock.settimeout(TIMEOUT)
    sock.connect((sys.argv[2], 179))
    conn = Conn(sock)
    first = conn.recv(deadline)
    if first is None or first[18] != 1:
        return conn, dict(result, error="expected ferrolb's OPEN, got %s" % (first and first.hex()))
    result["open"] = first.hex()
    at, announce = command["at"], command["announce"]
    if at != "opensent":
        conn.send(bytes.fromhex(command["open"]))
        error = conn.until(deadline, result["before"], lambda m: m[18] == 4)
        if error:
            return conn, dict(result, error=error + " before ferrolb's KEEPALIVE")
        if at == "established":
            conn.send(KEEPALIVE)
            error = conn.until(deadline, result["before"], lambda m: m.hex() == announce)
            if error:
                return conn, dict(result, error=error + " before the announcement")
    conn.send(bytes.fromhex(command["send"]))
    if command["expect"] == "stay":
        conn.send(ROUTE_REFRESH)
    while True:
        m = conn.recv(deadline)
        if m is None:
            break
        result["after"].append(m.hex())
        if command["expect"] == "stay" and m.hex() == announce:
            break
    result["closed"] = conn.closed
    return conn, result


def main():
    print(json.dumps({"ready": True}), flush=True)
    kept, kept_seen, last_keepalive = None, [], 0.0
    line = b""
    while True:
        if kept is not None and not kept.closed and time.monotonic() - last_keepalive >= 1:
            kept.send(KEEPALIVE)
            last_keepalive = time.monotonic()
        fds = [0] + ([kept.sock] if kept is not None and not kept.closed else [])
        ready, _, _ = select.select(fds, [], [], 0.2)
        if kept is not None and kept.sock in ready:
            m = kept.recv(time.monotonic() + TIMEOUT)
            while m is not None:
                kept_seen.append(m.hex())
                if len(kept.buf) < 19 or len(kept.buf) < struct.unpack("!H", kept.buf[16:18])[0]:
                    break
                m = kept.recv(time.monotonic() + TIMEOUT)
        if 0 not in ready:
            continue
        data = os.read(0, 65536)
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
            kept.end()
            kept = None
        try:
            conn, result = run_case(command)
        except Exception as e:  # reported, so the test fails with the reason
            conn, result = None, {"case": command.get("case"), "error": repr(e)}
        if conn is not None and command["expect"] == "stay" and not conn.closed and "error" not in result:
            kept, kept_seen, last_keepalive = conn, conn.buffered(), time.monotonic()
        elif conn is not None:
            conn.end()
        print(json.dumps(result), flush=True)


main()
"#;

// Messages (RFC 4271 §4).

/// A BGP message: marker, length, type, body (RFC 4271 §4.1).
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The type of a message the scripted peer reported in hex.
fn kind(message_hex: &str) -> &str {
    &message_hex[36..38]
}

const KEEPALIVE: u8 = 4;
const NOTIFICATION: u8 = 3;
/// RFC 7313 §4 markers of IPv4 unicast: ROUTE-REFRESH (type 5), AFI 1, subtype 1 or 2, SAFI 1.
const BORR_IPV4: &str = "ffffffffffffffffffffffffffffffff00170500010101";
const EORR_IPV4: &str = "ffffffffffffffffffffffffffffffff00170500010201";

/// An UPDATE: withdrawn routes, path attributes, NLRI, with their lengths (RFC 4271 §4.3).
fn update(withdrawn: &[u8], attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = u16::try_from(withdrawn.len()).unwrap().to_be_bytes().to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&u16::try_from(attributes.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// One path attribute: flags, type, length (two octets with the Extended Length bit), value.
fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![flags, code];
    if flags & 0x10 != 0 {
        out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    } else {
        out.push(u8::try_from(value.len()).unwrap());
    }
    out.extend_from_slice(value);
    out
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
/// AS_PATH: one AS_SEQUENCE of AS 64514, 4-octet (the peer offers the 4-octet AS capability).
const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x02];
/// The same AS_PATH with 2-octet ASNs, for a session without the capability.
const AS_PATH_2: [u8; 7] = [0x40, 2, 4, 2, 1, 0xfc, 0x02];
/// NEXT_HOP 198.51.100.2, the scripted peer.
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 198, 51, 100, 2];
/// 203.0.113.128/25 as NLRI.
const NLRI: [u8; 5] = [25, 203, 0, 113, 128];

/// ORIGIN, AS_PATH, NEXT_HOP, then `extra`, for 203.0.113.128/25.
fn routed(extra: &[u8]) -> Vec<u8> {
    update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP, extra]), &NLRI)
}

/// The same with 2-octet ASNs.
fn routed_2(extra: &[u8]) -> Vec<u8> {
    update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH_2, &NEXT_HOP, extra]), &NLRI)
}

/// An MP_REACH_NLRI of IPv4 unicast, next hop 198.51.100.2, with `nlri` (RFC 4760 §3).
fn mp_reach_v4(nlri: &[u8]) -> Vec<u8> {
    attr(0x80, 14, &cat(&[&[0, 1, 1, 4, 198, 51, 100, 2, 0], nlri]))
}

/// What ferrolb announces the VIP with on a 4-octet session: ORIGIN IGP, AS_PATH 64512,
/// NEXT_HOP 198.51.100.11, 203.0.113.10/32.
fn announce() -> Vec<u8> {
    let path = [0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00];
    update(&[], &cat(&[&ORIGIN_IGP, &path, &[0x40, 3, 4, 198, 51, 100, 11]]), &[32, 203, 0, 113, 10])
}

/// The same on a 2-octet session.
fn announce_2() -> Vec<u8> {
    let path = [0x40, 2, 4, 2, 1, 0xfc, 0x00];
    update(&[], &cat(&[&ORIGIN_IGP, &path, &[0x40, 3, 4, 198, 51, 100, 11]]), &[32, 203, 0, 113, 10])
}

/// An OPEN: version, My AS, hold time, BGP identifier, optional parameters (RFC 4271 §4.2).
fn open(version: u8, my_as: u16, hold: u16, id: [u8; 4], parameters: &[u8]) -> Vec<u8> {
    let mut body = vec![version];
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&id);
    body.push(u8::try_from(parameters.len()).unwrap());
    body.extend_from_slice(parameters);
    message(1, &body)
}

/// One capability: code, length, value (RFC 5492 §4).
fn cap(code: u8, value: &[u8]) -> Vec<u8> {
    cat(&[&[code, u8::try_from(value.len()).unwrap()], value])
}

/// One Capabilities optional parameter (type 2) holding `caps`.
fn caps(caps: &[Vec<u8>]) -> Vec<u8> {
    let value = caps.concat();
    cat(&[&[2, u8::try_from(value.len()).unwrap()], &value])
}

const PEER_ID: [u8; 4] = [198, 51, 100, 2];

fn mp_ipv4() -> Vec<u8> {
    cap(1, &[0, 1, 0, 1])
}

fn as4(asn: u32) -> Vec<u8> {
    cap(65, &asn.to_be_bytes())
}

/// The scripted peer's OPEN with hold time `hold`: IPv4 unicast, 4-octet AS 64514, route refresh.
fn peer_open_hold(hold: u16) -> Vec<u8> {
    open(4, 64514, hold, PEER_ID, &caps(&[mp_ipv4(), as4(64514), cap(2, &[])]))
}

fn peer_open() -> Vec<u8> {
    peer_open_hold(9)
}

/// The peer's OPEN without the 4-octet AS capability: an old (2-octet) speaker.
fn peer_open_2() -> Vec<u8> {
    open(4, 64514, 9, PEER_ID, &caps(&[mp_ipv4(), cap(2, &[])]))
}

// Cases.

/// When the case's message is sent.
#[derive(Clone, Copy, Debug)]
enum At {
    /// In place of the peer's OPEN.
    OpenSent,
    /// After the OPENs, in place of the peer's KEEPALIVE.
    OpenConfirm,
    /// Once ferrolb has announced the VIP.
    Established,
}

/// An RFC 7606 action ferrolb logs instead of a NOTIFICATION.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Revised {
    /// "treat-as-withdraw" or "attribute-discard".
    action: &'static str,
    /// The NOTIFICATION RFC 4271 alone would have sent: UPDATE Message Error (3), subcode, data.
    subcode: u8,
    data: Vec<u8>,
}

/// What ferrolb must do.
#[derive(Clone, Debug)]
enum Expect {
    /// Send this NOTIFICATION (code, subcode, data) and close.
    Reset(u8, u8, Vec<u8>),
    /// Close without a NOTIFICATION.
    Close,
    /// Keep the session up, logging these RFC 7606 actions (none: the message is fine).
    Stay(Vec<Revised>),
}

fn reset(code: u8, subcode: u8, data: &[u8]) -> Expect {
    Expect::Reset(code, subcode, data.to_vec())
}

fn stays() -> Expect {
    Expect::Stay(Vec::new())
}

fn withdraw(subcode: u8, data: &[u8]) -> Expect {
    Expect::Stay(vec![Revised { action: "treat-as-withdraw", subcode, data: data.to_vec() }])
}

fn discard(subcode: u8, data: &[u8]) -> Expect {
    Expect::Stay(vec![Revised { action: "attribute-discard", subcode, data: data.to_vec() }])
}

struct Case {
    name: &'static str,
    /// The peer's OPEN (unless the case's message replaces it).
    open: Vec<u8>,
    at: At,
    send: Vec<u8>,
    expect: Expect,
    /// The UPDATE ferrolb announces the VIP with on this session.
    announce: Vec<u8>,
    /// Both sides offer enhanced route refresh: the ROUTE-REFRESH of a case that stays is
    /// answered with BoRR, the VIP and EoRR (RFC 7313 §4), else with the VIP alone.
    enhanced_refresh: bool,
}

impl Case {
    /// `send` once Established, after the usual OPEN.
    fn new(name: &'static str, send: Vec<u8>, expect: Expect) -> Case {
        Case {
            name,
            open: peer_open(),
            at: At::Established,
            send,
            expect,
            announce: announce(),
            enhanced_refresh: false,
        }
    }

    /// `send` at `at`.
    fn at(name: &'static str, at: At, send: Vec<u8>, expect: Expect) -> Case {
        Case { at, ..Case::new(name, send, expect) }
    }

    /// With this OPEN from the peer, with 4-octet ASNs.
    fn open(self, open: Vec<u8>) -> Case {
        Case { open, ..self }
    }

    /// With this OPEN from the peer, without the 4-octet AS capability.
    fn open_2(self, open: Vec<u8>) -> Case {
        Case { open, announce: announce_2(), ..self }
    }

    /// With this OPEN from the peer, which offers enhanced route refresh.
    fn open_enhanced(self, open: Vec<u8>) -> Case {
        Case { open, enhanced_refresh: true, ..self }
    }
}

/// Every case, one a line, its RFC section first.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use At::{OpenConfirm, OpenSent};
    let keepalive = message(KEEPALIVE, &[]);
    let header = |at: usize, value: u8| {
        let mut m = keepalive.clone();
        m[at] = value;
        m
    };
    let mut garbage = message(KEEPALIVE, &[0; 21]);
    garbage[0] = 0;
    let mut length_4097 = header(16, 0x10);
    length_4097[17] = 0x01;
    let update_4097 = update(&[], &[], &[24, 203, 0, 113].repeat(1019)[..4074]);
    let refresh_24 = message(5, &[0, 1, 0, 1, 0]);
    let refresh_22 = message(5, &[0, 1, 0]);
    let o = |version, my_as, hold, id, params: &[u8]| open(version, my_as, hold, id, params);
    let std_caps = caps(&[mp_ipv4(), as4(64514), cap(2, &[])]);
    let unknown_caps = caps(&[
        mp_ipv4(), as4(64514), cap(2, &[]),
        cap(69, &[0, 1, 1, 3]),                               // ADD-PATH, IPv4 unicast, send/receive
        cap(6, &[]),                                          // extended message
        cap(73, &cat(&[&[4], b"peer", &[7], b"example"])),    // FQDN
        cap(75, &cat(&[&[8], b"script/1"])),             // software version
        cap(9, &[3]),                                         // BGP role: customer
        cap(42, &[1, 2, 3]),                                  // unassigned
    ]);
    let one_per_parameter = [caps(&[mp_ipv4()]), caps(&[as4(64514)]), caps(&[cap(2, &[])])].concat();
    let ext_message = caps(&[mp_ipv4(), as4(64514), cap(6, &[])]);
    let communities = attr(0xc0, 8, &[0xfc, 0x02, 0, 1, 0xfc, 0x02, 0, 2]);
    let large = attr(0xc0, 32, &[0, 0, 0xfc, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    let extended = attr(0xc0, 16, &[0, 2, 0xfc, 2, 0, 0, 0, 1, 0x40, 4, 0xfc, 2, 0x4b, 0x18, 0, 0]);
    let as_set = [0x40, 2, 16, 2, 1, 0, 0, 0xfc, 2, 1, 2, 0, 0, 0xfd, 0xe8, 0, 0, 0xfd, 0xe9];
    let long_path = attr(0x50, 2, &cat(&[&[2, 255], &[0, 0, 0xfc, 2].repeat(255), &[2, 45], &[0, 0, 0xfc, 2].repeat(45)]));
    let aggregator_4 = attr(0xc0, 7, &[0, 0, 0xfc, 2, 198, 51, 100, 2]);
    // 43 octets of header and attributes, 1013 /24s and 0.0.0.0/0: 4096 octets.
    let full = update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]), &cat(&[&[24, 203, 0, 113].repeat(1013), &[0]]));
    let mp_reach_nlri = mp_reach_v4(&[25, 203, 0, 113, 128]);
    let mp_v6_unnegotiated = attr(0x80, 14, &cat(&[&[0, 2, 1, 16], &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], &[0, 128], &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]]));
    let mp_reach_twice = update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_nlri, &mp_reach_nlri]), &[]);
    let mp_unreach = attr(0x80, 15, &[0, 1, 1, 24, 203, 0, 113]);
    let mp_unreach_twice = update(&[], &cat(&[&mp_unreach, &mp_unreach]), &[]);
    let mp_reach_long_nh = attr(0x80, 14, &[0, 1, 1, 40, 198, 51, 100, 2]);
    let mp_reach_nh_5 = attr(0x80, 14, &[0, 1, 1, 5, 198, 51, 100, 2, 0, 0, 25, 203, 0, 113, 128]);
    let mp_reach_33 = mp_reach_v4(&[33, 203, 0, 113, 1, 1]);
    let mp_unreach_33 = attr(0x80, 15, &[0, 1, 1, 33, 203, 0, 113, 1, 1]);
    let mp_unreach_short = attr(0x80, 15, &[0, 1]);
    let mp_reach_transitive = attr(0xc0, 14, &cat(&[&[0, 1, 1, 4, 198, 51, 100, 2, 0], &[25, 203, 0, 113, 128]]));
    let notification = |code: u8, subcode: u8, data: &[u8]| message(NOTIFICATION, &cat(&[&[code, subcode], data]));
    let aggregator_5 = attr(0xc0, 7, &[0, 0, 0xfc, 2, 198]);
    let large_11 = attr(0xc0, 32, &large[3..14]);
    let extended_7 = attr(0xc0, 16, &extended[3..10]);
    let ipv6_extended = attr(0xc0, 25, &cat(&[&[0, 2], &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], &[0, 1]]));
    let ipv6_extended_19 = attr(0xc0, 25, &ipv6_extended[3..22]);
    let confed_sequence = [0x40, 2, 12, 3, 1, 0, 0, 0xfc, 3, 2, 1, 0, 0, 0xfc, 2];
    let confed_set = [0x40, 2, 12, 4, 1, 0, 0, 0xfc, 3, 2, 1, 0, 0, 0xfc, 2];
    vec![
        // RFC 4271 §6.1, Message Header Error: code 1; data the Length or the Type.
        Case::new("§6.1 marker not all ones", header(15, 0xfe), reset(1, 1, &[])),
        Case::new("§6.1 marker of zeros, 21 more octets unread", garbage, reset(1, 1, &[])),
        Case::new("§6.1 length 18", header(17, 18), reset(1, 2, &[0, 18])),
        Case::new("§6.1 length 4097 (header alone)", length_4097, reset(1, 2, &[0x10, 0x01])),
        Case::new("§6.1 UPDATE of 4097 octets though the peer offered extended messages (RFC 8654 §4: both must)", update_4097.clone(), reset(1, 2, &[0x10, 0x01])).open(o(4, 64514, 9, PEER_ID, &ext_message)),
        Case::new("§6.1 KEEPALIVE of 20 octets", message(KEEPALIVE, &[0]), reset(1, 2, &[0, 20])),
        Case::new("§6.1 UPDATE of 22 octets", message(2, &[0, 0, 0]), reset(1, 2, &[0, 22])),
        Case::new("§6.1 NOTIFICATION of 20 octets", message(NOTIFICATION, &[6]), reset(1, 2, &[0, 20])),
        Case::at("§6.1 OPEN of 28 octets", OpenSent, message(1, &[4, 0xfc, 2, 0, 9, 198, 51, 100, 2]), reset(1, 2, &[0, 28])),
        Case::new("§6.1 type 0", message(0, &[]), reset(1, 3, &[0])),
        Case::new("§6.1 type 9", message(9, &[]), reset(1, 3, &[9])),
        Case::at("§6.1 type 255 in OpenSent", OpenSent, message(255, &[]), reset(1, 3, &[255])),
        // RFC 7313 §5, ROUTE-REFRESH Message Error: code 7; data the whole message. RFC 2918 §4.
        Case::new("RFC 7313 §5 ROUTE-REFRESH of 24 octets", refresh_24.clone(), reset(7, 1, &refresh_24)),
        Case::new("RFC 7313 §5 ROUTE-REFRESH of 22 octets", refresh_22.clone(), reset(7, 1, &refresh_22)),
        Case::new("RFC 2918 §4 ROUTE-REFRESH of a family not negotiated (IPv6): ignored", message(5, &[0, 2, 0, 1]), stays()),
        Case::new("RFC 7313 §4 ROUTE-REFRESH of subtype 3: ignored", message(5, &[0, 1, 3, 1]), stays()),
        // RFC 4271 §6.2, OPEN Message Error: code 2, sent in place of the peer's OPEN.
        Case::at("§6.2 version 3: data 4, the smallest version supported", OpenSent, o(3, 64514, 9, PEER_ID, &std_caps), reset(2, 1, &[0, 4])),
        Case::at("§6.2 version 5: data 4, the largest below it", OpenSent, o(5, 64514, 9, PEER_ID, &std_caps), reset(2, 1, &[0, 4])),
        Case::at("§6.2 peer AS 64515, not the BGPPeer's", OpenSent, o(4, 64515, 9, PEER_ID, &caps(&[mp_ipv4(), as4(64515)])), reset(2, 2, &[])),
        Case::at("§6.2 4-octet AS capability 64515 (RFC 6793 §3: it wins over My AS)", OpenSent, o(4, 64514, 9, PEER_ID, &caps(&[mp_ipv4(), as4(64515)])), reset(2, 2, &[])),
        Case::at("§6.2 My AS 0 (RFC 7607 §2)", OpenSent, o(4, 0, 9, PEER_ID, &[]), reset(2, 2, &[])),
        Case::at("§6.2 4-octet AS capability 0 (RFC 7607 §2)", OpenSent, o(4, 23456, 9, PEER_ID, &caps(&[as4(0)])), reset(2, 2, &[])),
        Case::at("§6.2 BGP identifier 0.0.0.0 (RFC 6286 §2.2)", OpenSent, o(4, 64514, 9, [0; 4], &std_caps), reset(2, 3, &[])),
        Case::at("§6.2 optional parameter 1 (authentication, deprecated)", OpenSent, o(4, 64514, 9, PEER_ID, &[1, 1, 0]), reset(2, 4, &[])),
        Case::at("§6.2 optional parameter 200", OpenSent, o(4, 64514, 9, PEER_ID, &cat(&[&std_caps, &[200, 0]])), reset(2, 4, &[])),
        Case::at("§6.2 hold time 1", OpenSent, o(4, 64514, 1, PEER_ID, &std_caps), reset(2, 6, &[])),
        Case::at("§6.2 hold time 2", OpenSent, o(4, 64514, 2, PEER_ID, &std_caps), reset(2, 6, &[])),
        Case::at("§6.2 hold time 2 in OpenConfirm (§8.2.2 event 22)", OpenConfirm, o(4, 64514, 2, PEER_ID, &std_caps), reset(2, 6, &[])),
        Case::at("§6.2 optional parameter running past the message: unspecific", OpenSent, o(4, 64514, 9, PEER_ID, &[2, 8, 1, 4, 0, 1]), reset(2, 0, &[])),
        Case::at("§6.2 capability running past its parameter: unspecific", OpenSent, o(4, 64514, 9, PEER_ID, &[2, 4, 65, 4, 0, 0]), reset(2, 0, &[])),
        Case::at("§6.2 4-octet AS capability of 2 octets, recognized but malformed: unspecific", OpenSent, o(4, 64514, 9, PEER_ID, &caps(&[cap(65, &[0xfc, 2])])), reset(2, 0, &[])),
        // RFC 5492: capabilities ferrolb does not know change nothing (§3), nor their layout (§4).
        Case::new("RFC 5492 §3 ADD-PATH, extended message, FQDN, software version, role, code 42", vec![], stays()).open(o(4, 64514, 9, PEER_ID, &unknown_caps)),
        // RFC 7313 §4: both offer enhanced route refresh, so a request is framed by BoRR and EoRR.
        Case::new("RFC 7313 §4 enhanced route refresh: BoRR, the VIP, EoRR", vec![], stays()).open_enhanced(o(4, 64514, 9, PEER_ID, &caps(&[mp_ipv4(), as4(64514), cap(2, &[]), cap(70, &[])]))),
        Case::new("RFC 7313 §4 BoRR and EoRR from the peer change nothing", cat(&[&message(5, &[0, 1, 1, 1]), &message(5, &[0, 1, 2, 1])]), stays()).open_enhanced(o(4, 64514, 9, PEER_ID, &caps(&[mp_ipv4(), as4(64514), cap(2, &[]), cap(70, &[])]))),
        Case::new("RFC 5492 §4 one capability per optional parameter", vec![], stays()).open(o(4, 64514, 9, PEER_ID, &one_per_parameter)),
        Case::new("RFC 4271 §4.2 OPEN without optional parameters: IPv4, 2-octet ASNs", vec![], stays()).open_2(o(4, 64514, 9, PEER_ID, &[])),
        // RFC 4271 §6.3, UPDATE Message Error: code 3; as RFC 7606 revises it.
        Case::new("§6.3 withdrawn routes length past the message", message(2, &[0, 50, 0, 0]), reset(3, 1, &[])),
        Case::new("§6.3 total attribute length past the message (RFC 7606 §3(b))", message(2, &[0, 0, 0, 100, 0x40, 1, 1, 0]), reset(3, 1, &[])),
        Case::new("RFC 7606 §3(g) MP_REACH_NLRI twice", mp_reach_twice, reset(3, 1, &[])),
        Case::new("RFC 7606 §3(g) MP_UNREACH_NLRI twice", mp_unreach_twice, reset(3, 1, &[])),
        Case::new("RFC 7606 §3(g) ORIGIN twice: the second discarded, no error", routed(&[0x40, 1, 1, 2]), stays()),
        Case::new("§6.3 unrecognized well-known attribute 99", message(2, &[0, 0, 0, 3, 0x40, 99, 0]), reset(3, 2, &[0x40, 99, 0])),
        Case::new("RFC 7606 §3(d) ORIGIN missing: treat-as-withdraw", update(&[], &cat(&[&AS_PATH, &NEXT_HOP]), &NLRI), withdraw(3, &[1])),
        Case::new("RFC 7606 §3(d) AS_PATH missing: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &NEXT_HOP]), &NLRI), withdraw(3, &[2])),
        Case::new("RFC 7606 §3(d) NEXT_HOP missing: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH]), &NLRI), withdraw(3, &[3])),
        Case::new("RFC 7606 §3(c) ORIGIN optional transitive: treat-as-withdraw", update(&[], &cat(&[&[0xc0, 1, 1, 0], &AS_PATH, &NEXT_HOP]), &NLRI), withdraw(4, &[0xc0, 1, 1, 0])),
        Case::new("RFC 7606 §3(c) MULTI_EXIT_DISC well-known: treat-as-withdraw", routed(&[0x40, 4, 4, 0, 0, 0, 1]), withdraw(4, &[0x40, 4, 4, 0, 0, 0, 1])),
        Case::new("RFC 7606 §3(c) COMMUNITIES optional non-transitive: treat-as-withdraw", routed(&[0x80, 8, 4, 0xfc, 2, 0, 1]), withdraw(4, &[0x80, 8, 4, 0xfc, 2, 0, 1])),
        Case::new("RFC 7606 §3(c), §7.7 AGGREGATOR well-known: attribute discard", routed(&[0x40, 7, 8, 0, 0, 0xfc, 2, 198, 51, 100, 2]), discard(4, &[0x40, 7, 8, 0, 0, 0xfc, 2, 198, 51, 100, 2])),
        Case::new("RFC 7606 §5.3 MP_REACH_NLRI transitive: session reset", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_transitive]), &[]), reset(3, 4, &mp_reach_transitive)),
        Case::new("RFC 7606 §3(c) Partial bit on ORIGIN: no error", update(&[], &cat(&[&[0x60, 1, 1, 0], &AS_PATH, &NEXT_HOP]), &NLRI), stays()),
        Case::new("§4.3 unused flag bits on ORIGIN are ignored", update(&[], &cat(&[&[0x4f, 1, 1, 0], &AS_PATH, &NEXT_HOP]), &NLRI), stays()),
        Case::new("§4.3 Extended Length bit on a 1-octet ORIGIN", update(&[], &cat(&[&[0x50, 1, 0, 1, 0], &AS_PATH, &NEXT_HOP]), &NLRI), stays()),
        Case::new("RFC 7606 §7.1 ORIGIN of 2 octets: treat-as-withdraw", update(&[], &cat(&[&[0x40, 1, 2, 0, 0], &AS_PATH, &NEXT_HOP]), &NLRI), withdraw(5, &[0x40, 1, 2, 0, 0])),
        Case::new("RFC 7606 §7.1 ORIGIN 7: treat-as-withdraw", update(&[], &cat(&[&[0x40, 1, 1, 7], &AS_PATH, &NEXT_HOP]), &NLRI), withdraw(6, &[0x40, 1, 1, 7])),
        Case::new("RFC 7606 §7.2 AS_PATH segment type 5: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &[0x40, 2, 6, 5, 1, 0, 0, 0xfc, 2], &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 7606 §7.2 AS_PATH segment of length 0: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &[0x40, 2, 2, 2, 0], &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 7606 §7.2 AS_PATH segment overrun: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &[0x40, 2, 6, 2, 2, 0, 0, 0xfc, 2], &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 7606 §7.2 AS_PATH underrun, one octet left: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &[0x40, 2, 7, 2, 1, 0, 0, 0xfc, 2, 2], &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 7606 §7.2 AS_PATH of 2-octet ASNs on a 4-octet session: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH_2, &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 7606 §7.3 NEXT_HOP of 5 octets: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &[0x40, 3, 5, 198, 51, 100, 2, 0]]), &NLRI), withdraw(5, &[0x40, 3, 5, 198, 51, 100, 2, 0])),
        Case::new("§6.3 NEXT_HOP 0.0.0.0 (RFC 7606 §3(e)): treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &[0x40, 3, 4, 0, 0, 0, 0]]), &NLRI), withdraw(8, &[0x40, 3, 4, 0, 0, 0, 0])),
        Case::new("§6.3 NEXT_HOP 224.0.0.1 (RFC 7606 §3(e)): treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &[0x40, 3, 4, 224, 0, 0, 1]]), &NLRI), withdraw(8, &[0x40, 3, 4, 224, 0, 0, 1])),
        Case::new("§6.3 NEXT_HOP 255.255.255.255 (RFC 7606 §3(e)): treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &[0x40, 3, 4, 255, 255, 255, 255]]), &NLRI), withdraw(8, &[0x40, 3, 4, 255, 255, 255, 255])),
        Case::new("§6.3 NEXT_HOP ferrolb's own address: semantic, no NOTIFICATION", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &[0x40, 3, 4, 198, 51, 100, 11]]), &NLRI), stays()),
        Case::new("RFC 7606 §7.4 MULTI_EXIT_DISC of 3 octets: treat-as-withdraw", routed(&[0x80, 4, 3, 0, 0, 1]), withdraw(5, &[0x80, 4, 3, 0, 0, 1])),
        Case::new("RFC 7606 §7.5 LOCAL_PREF of 3 octets from an external peer: attribute discard", routed(&[0x40, 5, 3, 0, 0, 100]), discard(5, &[0x40, 5, 3, 0, 0, 100])),
        Case::new("§5.1.5 LOCAL_PREF from an external peer: ignored", routed(&[0x40, 5, 4, 0, 0, 0, 100]), stays()),
        Case::new("RFC 7606 §7.6 ATOMIC_AGGREGATE of 1 octet: attribute discard", routed(&[0x40, 6, 1, 0]), discard(5, &[0x40, 6, 1, 0])),
        Case::new("RFC 7606 §7.7 AGGREGATOR of 6 octets on a 4-octet session: attribute discard", routed(&[0xc0, 7, 6, 0xfc, 2, 198, 51, 100, 2]), discard(5, &[0xc0, 7, 6, 0xfc, 2, 198, 51, 100, 2])),
        Case::new("RFC 7607 §2 AGGREGATOR from AS 0: attribute discard", routed(&[0xc0, 7, 8, 0, 0, 0, 0, 198, 51, 100, 2]), discard(9, &[0xc0, 7, 8, 0, 0, 0, 0, 198, 51, 100, 2])),
        Case::new("RFC 7606 §7.8 COMMUNITIES of 0 octets: treat-as-withdraw", routed(&[0xc0, 8, 0]), withdraw(5, &[0xc0, 8, 0])),
        Case::new("RFC 7606 §7.8 COMMUNITIES of 3 octets: treat-as-withdraw", routed(&[0xc0, 8, 3, 0xfc, 2, 0]), withdraw(5, &[0xc0, 8, 3, 0xfc, 2, 0])),
        Case::new("RFC 8092 §5 LARGE_COMMUNITY of 11 octets: treat-as-withdraw", routed(&large_11), withdraw(5, &large_11)),
        Case::new("RFC 7606 §7.14 EXTENDED_COMMUNITIES of 7 octets: treat-as-withdraw", routed(&extended_7), withdraw(5, &extended_7)),
        Case::new("RFC 7606 §7.15 IPv6 extended community of 19 octets: treat-as-withdraw", routed(&ipv6_extended_19), withdraw(5, &ipv6_extended_19)),
        Case::new("RFC 5065 §5.3, RFC 7606 §7.2 AS_CONFED_SEQUENCE from an external peer: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &confed_sequence, &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 5065 §5.3, RFC 7606 §7.2 AS_CONFED_SET from an external peer: treat-as-withdraw", update(&[], &cat(&[&ORIGIN_IGP, &confed_set, &NEXT_HOP]), &NLRI), withdraw(11, &[])),
        Case::new("RFC 7606 §4 last attribute running past the attributes: treat-as-withdraw", routed(&[0xc0, 8, 8, 0xfc, 2, 0, 1]), withdraw(5, &[0xc0, 8, 8, 0xfc, 2, 0, 1])),
        Case::new("RFC 7606 §4 two octets of an attribute header: treat-as-withdraw", routed(&[0xc0, 8]), withdraw(5, &[0xc0, 8])),
        Case::new("RFC 7606 §3(h) ORIGIN 7 and AGGREGATOR of 5 octets: both, treat-as-withdraw wins", update(&[], &cat(&[&[0x40, 1, 1, 7], &AS_PATH, &NEXT_HOP, &aggregator_5]), &NLRI), Expect::Stay(vec![Revised { action: "treat-as-withdraw", subcode: 6, data: vec![0x40, 1, 1, 7] }, Revised { action: "attribute-discard", subcode: 5, data: aggregator_5.clone() }])),
        Case::new("RFC 7606 §5.2 ORIGIN 7 without NLRI: session reset", update(&[], &cat(&[&[0x40, 1, 1, 7], &AS_PATH, &NEXT_HOP]), &[]), reset(3, 6, &[0x40, 1, 1, 7])),
        Case::new("RFC 7606 §5.2 withdrawals and a MULTI_EXIT_DISC of 3 octets: session reset", update(&[24, 203, 0, 113], &cat(&[&ORIGIN_IGP, &[0x80, 4, 3, 0, 0, 1]]), &[]), reset(3, 5, &[0x80, 4, 3, 0, 0, 1])),
        Case::new("RFC 7606 §5.2 ATOMIC_AGGREGATE of 1 octet without NLRI: attribute discard", update(&[], &cat(&[&ORIGIN_IGP, &[0x40, 6, 1, 0]]), &[]), discard(5, &[0x40, 6, 1, 0])),
        Case::new("RFC 7606 §5.2, §7.5 LOCAL_PREF of 3 octets from an external peer, no NLRI: attribute discard", update(&[], &cat(&[&ORIGIN_IGP, &[0x40, 5, 3, 0, 0, 100]]), &[]), discard(5, &[0x40, 5, 3, 0, 0, 100])),
        Case::new("RFC 4760 §7 MP_REACH_NLRI next hop running past it: session reset", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_long_nh]), &[]), reset(3, 9, &mp_reach_long_nh)),
        Case::new("RFC 7606 §7.11 MP_REACH_NLRI IPv4 next hop of 5 octets: session reset", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_nh_5]), &[]), reset(3, 9, &mp_reach_nh_5)),
        Case::new("RFC 7606 §5.3 MP_REACH_NLRI prefix of 33 bits: session reset", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &mp_reach_33]), &[]), reset(3, 9, &mp_reach_33)),
        Case::new("RFC 7606 §5.3 MP_UNREACH_NLRI prefix of 33 bits: session reset", update(&[], &mp_unreach_33, &[]), reset(3, 9, &mp_unreach_33)),
        Case::new("RFC 7606 §5.3 MP_UNREACH_NLRI of 2 octets: session reset", update(&[], &mp_unreach_short, &[]), reset(3, 9, &mp_unreach_short)),
        Case::new("RFC 4760 §7 MP_REACH_NLRI of a family not negotiated (IPv6): ignored", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &mp_v6_unnegotiated]), &[]), stays()),
        Case::new("RFC 4760 §3 IPv4 routes in MP_REACH_NLRI", update(&[], &cat(&[&mp_reach_nlri, &ORIGIN_IGP, &AS_PATH]), &[]), stays()),
        Case::new("RFC 4760 §4 IPv4 withdrawals in MP_UNREACH_NLRI", update(&[], &mp_unreach, &[]), stays()),
        Case::new("§6.3 NLRI prefix of 33 bits (RFC 7606 §5.3): session reset", message(2, &[0, 0, 0, 0, 33, 203, 0, 113, 1, 1]), reset(3, 10, &[])),
        Case::new("§6.3 NLRI prefix cut short (RFC 7606 §5.3): session reset", update(&[], &cat(&[&ORIGIN_IGP, &AS_PATH, &NEXT_HOP]), &[24, 203, 0]), reset(3, 10, &[])),
        Case::new("§6.3 withdrawn prefix of 33 bits (RFC 7606 §3(i)): session reset", update(&[33, 203, 0, 113, 1, 1], &[], &[]), reset(3, 10, &[])),
        Case::new("RFC 4724 §2 End-of-RIB", update(&[], &[], &[]), stays()),
        // What ferrolb does not interpret changes nothing.
        Case::new("§5 unknown optional transitive attribute 250, Partial bit set", routed(&attr(0xe0, 250, &[1, 2, 3])), stays()),
        Case::new("§5 unknown optional non-transitive attribute 251", routed(&attr(0x80, 251, &[1, 2, 3])), stays()),
        Case::new("§5.1.2 AS_SET in AS_PATH", update(&[], &cat(&[&ORIGIN_IGP, &as_set, &NEXT_HOP]), &NLRI), stays()),
        Case::new("§5.1.2 AS_PATH of 300 ASNs in two segments, extended length", update(&[], &cat(&[&ORIGIN_IGP, &long_path, &NEXT_HOP]), &NLRI), stays()),
        Case::new("§5.1.7 AGGREGATOR of 8 octets (RFC 6793) and ATOMIC_AGGREGATE", routed(&cat(&[&[0x40, 6, 0], &aggregator_4])), stays()),
        Case::new("RFC 6793 §4.1 AS4_AGGREGATOR between 4-octet speakers: ignored", routed(&attr(0xc0, 18, &[0, 0, 0xfc, 2, 198, 51, 100, 2])), stays()),
        Case::new("RFC 1997 COMMUNITIES", routed(&communities), stays()),
        Case::new("RFC 4360 extended communities", routed(&extended), stays()),
        Case::new("RFC 5701 IPv6 extended community", routed(&ipv6_extended), stays()),
        Case::new("RFC 8092 LARGE_COMMUNITY", routed(&large), stays()),
        Case::new("RFC 7606 §7.9, §7.10 ORIGINATOR_ID and CLUSTER_LIST from an external peer: discarded", routed(&cat(&[&[0x80, 9, 4, 198, 51, 100, 2], &[0x80, 10, 4, 198, 51, 100, 2]])), stays()),
        Case::new("§4.1 UPDATE of 4096 octets, 1014 prefixes", full, stays()),
        Case::new("RFC 6793 §4.2.3 AGGREGATOR of 6 octets, AS4_AGGREGATOR, AS4_PATH from a 2-octet speaker", routed_2(&cat(&[&[0xc0, 7, 6, 0x5b, 0xa0, 198, 51, 100, 2], &attr(0xc0, 18, &[0, 1, 0, 0, 198, 51, 100, 2]), &attr(0xc0, 17, &[2, 1, 0, 0, 0xfc, 2])])), stays()).open_2(peer_open_2()),
        Case::new("RFC 7606 §7.7 AGGREGATOR of 8 octets on a 2-octet session: attribute discard", routed_2(&aggregator_4), discard(5, &aggregator_4)).open_2(peer_open_2()),
        Case::new("RFC 6793 §6 AS4_PATH with AS_CONFED_SEQUENCE: the segment discarded, the rest used", routed_2(&attr(0xc0, 17, &[3, 1, 0, 0, 0xfc, 3, 2, 1, 0, 0, 0xfc, 2])), Expect::Stay(vec![Revised { action: "segment-discard", subcode: 11, data: vec![] }])).open_2(peer_open_2()),
        Case::new("RFC 6793 §6 AS4_PATH without an AS: attribute discard", routed_2(&attr(0xc0, 17, &[])), discard(11, &[])).open_2(peer_open_2()),
        Case::new("RFC 6793 §6 AS4_AGGREGATOR of 6 octets: attribute discard", routed_2(&attr(0xc0, 18, &[0xfc, 2, 198, 51, 100, 2])), discard(5, &[0xc0, 18, 6, 0xfc, 2, 198, 51, 100, 2])).open_2(peer_open_2()),
        // RFC 4271 §6.4 and §6.7: a NOTIFICATION is never answered with one.
        Case::new("§6.4 NOTIFICATION of an unknown code 99: closed without one", notification(99, 1, &[]), Expect::Close),
        Case::new("§6.7 Cease with a shutdown communication (RFC 9003): closed without one", notification(6, 2, &cat(&[&[5], b"maint"])), Expect::Close),
        Case::at("§8.2.2 NOTIFICATION in OpenSent: closed without one", OpenSent, notification(6, 0, &[]), Expect::Close),
        // RFC 4271 §6.5, Hold Timer Expired: code 4, after the hold time (the peer's 3 s).
        Case::new("§6.5 silence in Established for the hold time", vec![], reset(4, 0, &[])).open(peer_open_hold(3)),
        Case::at("§6.5 silence in OpenConfirm for the hold time", OpenConfirm, vec![], reset(4, 0, &[])).open(peer_open_hold(3)),
        // §4.2 hold time 0: no KEEPALIVE either way, the session stays (its bound in
        // OpenConfirm, the 4-minute large hold timer, is tested on the FSM's clock).
        Case::new("§4.2 hold time 0: Established without timers", vec![], stays()).open(peer_open_hold(0)),
        // RFC 4271 §6.6, Finite State Machine Error: code 5; RFC 6608 subcode by state, data the type.
        Case::at("RFC 6608 KEEPALIVE in OpenSent", OpenSent, keepalive.clone(), reset(5, 1, &[4])),
        Case::at("RFC 6608 UPDATE in OpenSent", OpenSent, routed(&[]), reset(5, 1, &[2])),
        Case::at("RFC 6608 ROUTE-REFRESH in OpenSent", OpenSent, message(5, &[0, 1, 0, 1]), reset(5, 1, &[5])),
        Case::at("§8.2.2 malformed UPDATE in OpenSent (event 28)", OpenSent, message(2, &[0, 0, 0, 0, 33, 203, 0, 113, 1, 1]), reset(5, 1, &[2])),
        Case::at("RFC 6608 OPEN in OpenConfirm", OpenConfirm, peer_open(), reset(5, 2, &[1])),
        Case::at("RFC 6608 UPDATE in OpenConfirm", OpenConfirm, routed(&[]), reset(5, 2, &[2])),
        Case::at("RFC 6608 ROUTE-REFRESH in OpenConfirm", OpenConfirm, message(5, &[0, 1, 0, 1]), reset(5, 2, &[5])),
        Case::new("RFC 6608 OPEN in Established", peer_open(), reset(5, 3, &[1])),
        Case::new("§8.2.2 malformed OPEN in Established (event 22)", o(3, 64514, 9, PEER_ID, &std_caps), reset(5, 3, &[1])),
    ]
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The RFC 7606 actions ferrolb logged, in order: (action, "3/subcode", data in hex).
fn revised_in(log: &str) -> Vec<(String, String, String)> {
    log.lines()
        .filter(|l| l.contains("malformed attribute handled as RFC 7606 says"))
        .map(|l| {
            let field = |name: &str| {
                l.split(' ')
                    .find_map(|w| w.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("no {name} in {l}"))
                    .to_owned()
            };
            (field("action"), field("rfc4271"), field("data"))
        })
        .collect()
}

#[test]
fn malformed_messages_get_their_notification_and_the_other_peer_is_unaffected() {
    if !lab_ready(&["ip", "vtysh", "python3"]) {
        return;
    }
    let started = Instant::now();
    let mut lab = ScriptedLab::start(CONFIG);
    let peer_args = ["198.51.100.2", "198.51.100.11"];
    let mut scripted = PythonScript::start(&lab.peer, "peer.py", SCRIPT, &peer_args, "peer.log");
    assert_eq!(scripted.read(), json!({"ready": true}));

    let cases = cases();
    let mut names = std::collections::HashSet::new();
    assert!(cases.iter().all(|c| names.insert(c.name)), "case names are unique");
    for case in &cases {
        let case_started = Instant::now();
        let revised_before = revised_in(&lab.ferrolb.log()).len();
        let expect = match &case.expect {
            Expect::Reset(..) => "reset",
            Expect::Close => "close",
            Expect::Stay(_) => "stay",
        };
        let at = match case.at {
            At::OpenSent => "opensent",
            At::OpenConfirm => "openconfirm",
            At::Established => "established",
        };
        let command = json!({
            "case": case.name, "open": hex(&case.open), "at": at, "send": hex(&case.send),
            "expect": expect, "announce": hex(&case.announce),
        });
        let result = scripted.ask(&command);
        let context = || format!("case {}: {result}\nferrolb:\n{}", case.name, lab.ferrolb.log());
        assert!(result["error"].is_null(), "{}", context());
        let after = strings(&result["after"]);
        match &case.expect {
            Expect::Reset(code, subcode, data) => {
                let (last, others) = after.split_last().unwrap_or_else(|| panic!("no answer: {}", context()));
                assert!(others.iter().all(|m| kind(m) != "03"), "{}", context());
                assert_eq!(
                    *last,
                    hex(&message(NOTIFICATION, &cat(&[&[*code, *subcode], data]))),
                    "{}",
                    context()
                );
                assert_eq!(result["closed"], true, "ferrolb kept the connection: {}", context());
            }
            Expect::Close => {
                assert!(after.iter().all(|m| kind(m) != "03"), "{}", context());
                assert_eq!(result["closed"], true, "ferrolb kept the connection: {}", context());
            }
            Expect::Stay(_) => {
                // No NOTIFICATION, and the ROUTE-REFRESH sent after the message was answered
                // with the VIP on the same connection, after a BoRR when enhanced (the script
                // stops reading at the VIP: the EoRR is checked with the status below).
                assert!(after.iter().all(|m| kind(m) != "03"), "{}", context());
                let answer: Vec<&str> = after.iter().copied().filter(|m| kind(m) != "04").collect();
                let announce = hex(&case.announce);
                let expected: Vec<&str> =
                    if case.enhanced_refresh { vec![BORR_IPV4, &announce] } else { vec![&announce] };
                assert!(answer.ends_with(&expected), "{}", context());
                assert!(
                    answer[..answer.len() - expected.len()].iter().all(|m| kind(m) != "05"),
                    "{}",
                    context()
                );
                assert_eq!(result["closed"], false, "{}", context());
            }
        }
        // The RFC 7606 actions logged: exactly the expected ones, none for a reset or a valid message.
        let logged: Vec<_> = revised_in(&lab.ferrolb.log()).into_iter().skip(revised_before).collect();
        let expected: Vec<_> = match &case.expect {
            Expect::Stay(revised) => revised
                .iter()
                .map(|r| (r.action.to_owned(), format!("3/{}", r.subcode), hex(&r.data)))
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(logged, expected, "RFC 7606 actions logged: {}", context());
        lab.assert_frr_unaffected(case.name);
        if matches!(case.expect, Expect::Stay(_)) {
            // Still up on the scripted side too, after the FRR checks took their time.
            let status = scripted.ask(&json!({"status": true}));
            assert_eq!(status["open"], true, "case {}: {status}\n{}", case.name, lab.ferrolb.log());
            let seen = strings(&status["seen"]);
            assert!(seen.iter().all(|m| kind(m) != "03"), "case {}: {status}", case.name);
            // The EoRR and nothing else but KEEPALIVEs: no answer to a BoRR or EoRR of the peer.
            let others: Vec<&str> = seen.into_iter().filter(|m| kind(m) != "04").collect();
            let expected: &[&str] = if case.enhanced_refresh { &[EORR_IPV4] } else { &[] };
            assert_eq!(others, expected, "case {}: {status}", case.name);
        }
        eprintln!("case {:?}: ok in {:?}", case.name, case_started.elapsed());
    }
    lab.assert_frr_unaffected("every case");
    eprintln!("malformed-message lab: {} cases in {:?}", cases.len(), started.elapsed());
}

/// FRR's counter of ROUTE-REFRESH messages (requests, BoRR and EoRR alike) received from
/// and sent to `neighbor`.
fn frr_refresh_counters(frr: &Frr, neighbor: IpAddr) -> (u64, u64) {
    let json = frr.vtysh_json(&format!("show bgp neighbors {neighbor} json")).unwrap();
    let stats = &json[neighbor.to_string()]["messageStats"];
    match (stats["routeRefreshRecv"].as_u64(), stats["routeRefreshSent"].as_u64()) {
        (Some(received), Some(sent)) => (received, sent),
        _ => panic!("no ROUTE-REFRESH counters in {json}"),
    }
}

/// RFC 7313 against a real FRR: both sides advertise enhanced route refresh, and a soft
/// inbound clear (FRR asks for ferrolb's routes again) is answered with BoRR, the VIP and
/// EoRR; FRR, which marks the routes stale at the BoRR and drops those still stale at the
/// EoRR, keeps the VIP, and the session stays up.
#[test]
fn frr_refreshes_with_enhanced_route_refresh_and_keeps_the_vip() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = crate::support::pair(&["192.0.2.11/24"]);
    let frr = crate::support::frr_with_node1(&router);
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let mut ferrolb =
        Ferrolb::start(&node, "node1", &crate::support::bgp_cluster("203.0.113.10-203.0.113.20", &["api"]));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    crate::support::wait_for("the VIP at the router", TIMEOUT, || has_route(&router, VIP));
    let json = frr.vtysh_json(&format!("show bgp neighbors {neighbor} json")).unwrap();
    let capabilities = &json[neighbor.to_string()]["neighborCapabilities"];
    eprintln!("FRR's view of the capabilities: {capabilities}");
    assert_eq!(capabilities["enhancedRouteRefresh"], "advertisedAndReceived", "{capabilities}");
    let sessions = frr_session_counters(&frr, neighbor);
    let (received, sent) = frr_refresh_counters(&frr, neighbor);

    frr.vtysh(&format!("clear bgp {neighbor} soft in")).unwrap();
    // FRR sent one request and got BoRR and EoRR back.
    crate::support::wait_for("BoRR and EoRR at FRR", TIMEOUT, || {
        frr_refresh_counters(&frr, neighbor) == (received + 2, sent + 1)
    });
    // What FRR then holds: the VIP, not stale, on the same session.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(frr_refresh_counters(&frr, neighbor), (received + 2, sent + 1), "one answer, framed once");
    assert!(has_route(&router, VIP), "FRR dropped the VIP after the refresh:\n{}", ferrolb.log());
    assert_eq!(crate::support::stale(&frr, VIP), Some(false), "the VIP is left stale");
    assert_eq!(frr_session_counters(&frr, neighbor), sessions, "the session flapped");
    ferrolb.assert_running();
}
