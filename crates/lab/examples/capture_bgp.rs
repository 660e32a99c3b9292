//! Records the raw BGP messages that FRR, BIRD and GoBGP send, for the codec's conformance
//! tests in `crates/bgp/testdata/`.
//!
//! ```text
//!   ┌─ flb-… (listener) ─────────┐        ┌─ flb-… (peer) ──────────────┐
//!   │ capture_bgp --listen       │  veth  │ bgpd | bird | gobgpd         │
//!   │ 192.0.2.1, 2001:db8::1     ├────────┤ 192.0.2.2, 2001:db8::2       │
//!   │ AS 64512, TCP 179 (passive)│  eth0  │ AS 64513, connects actively  │
//!   └────────────────────────────┘        └──────────────────────────────┘
//! ```
//!
//! The listener is this same program re-executed inside the listener namespace (a plain
//! `TcpListener` binds in the namespace of its process). It reads the peer's OPEN, answers with
//! a hand-built OPEN (4-octet AS, MP IPv4 and IPv6 unicast, route refresh) and a KEEPALIVE,
//! then saves every message the peer sends as `NN-<type>.bin` until the peer shuts the session
//! down with a Cease NOTIFICATION. Only the first KEEPALIVE is kept. The veths get fixed MACs,
//! so link-local next hops (fe80::ff:fe00:2) do not change between runs.
//!
//! Run as root (never part of `cargo test`):
//!
//! ```text
//! cargo run -p ferrolb-lab --example capture_bgp [-- OUT_DIR [frr] [bird] [gobgp]]
//! ```
//!
//! OUT_DIR defaults to `crates/bgp/testdata`; each tool writes `OUT_DIR/<tool>-<version>/`.

use std::error::Error;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrolb_lab::{Bird, BirdConfig, BirdNeighbor, Frr, FrrConfig, GoBgp, GoBgpConfig, Netns, veth};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const LISTENER_ASN: u32 = 64512;
const PEER_ASN: u32 = 64513;
const LISTENER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PREFIX_V4: &str = "203.0.113.10/32";
const PREFIX_V6: &str = "2001:db8::10/128";
/// How long the peer announces before it is told to shut the session down.
const RECORD_FOR: Duration = Duration::from_secs(3);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--listen") {
        let addr: SocketAddr = args.get(1).ok_or("--listen ADDR:PORT OUT_DIR")?.parse()?;
        let out = PathBuf::from(args.get(2).ok_or("--listen ADDR:PORT OUT_DIR")?);
        return listen(addr, &out);
    }
    if let Some(reason) = ferrolb_lab::missing_requirements(&[
        "ip",
        "ss",
        "/usr/lib/frr/bgpd",
        "vtysh",
        "bird",
        "birdc",
        "gobgpd",
        "gobgp",
    ]) {
        return Err(format!("cannot capture: {reason}").into());
    }
    let out_root = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../bgp/testdata"));
    let mut tools: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    if tools.is_empty() {
        tools = vec!["frr", "bird", "gobgp"];
    }
    for tool in tools {
        let dir = capture(tool, &out_root)?;
        println!("{tool}: wrote {}", dir.display());
    }
    Ok(())
}

/// Builds the two namespaces, runs the listener and `tool` as peer, returns the output dir.
fn capture(tool: &str, out_root: &Path) -> Result<PathBuf> {
    let listener_ns = Netns::new("listener")?;
    let peer_ns = Netns::new("peer")?;
    veth(&listener_ns, "eth0", &peer_ns, "eth0")?;
    // Fixed MACs, so the link-local next hops in the captures are the same on every run.
    for (ns, mac) in [(&listener_ns, "02:00:00:00:00:01"), (&peer_ns, "02:00:00:00:00:02")] {
        ns.ip(&["link", "set", "eth0", "down"])?;
        ns.ip(&["link", "set", "eth0", "address", mac])?;
        ns.link_up("eth0")?;
    }
    listener_ns.add_addr("eth0", "192.0.2.1/24")?;
    listener_ns.add_addr("eth0", "2001:db8::1/64")?;
    peer_ns.add_addr("eth0", "192.0.2.2/24")?;
    peer_ns.add_addr("eth0", "2001:db8::2/64")?;

    let (version, version_text) = version(tool)?;
    let out = out_root.join(format!("{tool}-{version}"));
    if out.exists() {
        for entry in std::fs::read_dir(&out)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "bin") {
                std::fs::remove_file(path)?;
            }
        }
    }
    std::fs::create_dir_all(&out)?;
    if tool != "frr" {
        // FRR's is `vtysh -c 'show version'`, written once it runs.
        std::fs::write(out.join("version.txt"), version_text)?;
    }

    let mut listener_cmd = listener_ns.command(&std::env::current_exe()?.to_string_lossy());
    listener_cmd.arg("--listen").arg(format!("{LISTENER_V4}:179")).arg(&out);
    let log = listener_ns.dir().join("listener.log");
    let listener = listener_ns.spawn(listener_cmd, &log)?;
    listener_ns.wait_tcp_listening(179, Duration::from_secs(5))?;

    let neighbor = IpAddr::V4(LISTENER_V4);
    let timeout = Duration::from_secs(20);
    match tool {
        "frr" => {
            let mut config = FrrConfig::new(PEER_ASN, PEER_V4).neighbor(neighbor, LISTENER_ASN, true);
            config.networks = vec![PREFIX_V4.into(), PREFIX_V6.into()];
            config.communities = vec!["64513:100".into()];
            config.large_communities = vec!["64513:1:2".into()];
            let frr = Frr::start(&peer_ns, &config)?;
            std::fs::write(out.join("frr.conf"), config.render("peer"))?;
            std::fs::write(out.join("version.txt"), frr.vtysh("show version")?)?;
            frr.wait_established(neighbor, timeout)?;
            std::thread::sleep(RECORD_FOR);
            frr.shutdown_neighbor(neighbor)?;
            wait_exit(&listener_ns, listener, &log)?;
        }
        "bird" => {
            let mut config = BirdConfig::new(PEER_ASN, PEER_V4);
            config.neighbors.push(BirdNeighbor {
                name: "listener".into(),
                address: neighbor,
                remote_asn: LISTENER_ASN,
                ipv6_next_hop: Some("2001:db8::2".parse()?),
            });
            config.static_routes = vec![PREFIX_V4.into(), PREFIX_V6.into()];
            config.communities = vec![(64513, 100)];
            config.large_communities = vec![(64513, 1, 2)];
            let bird = Bird::start(&peer_ns, &config)?;
            std::fs::write(out.join("bird.conf"), config.render(Path::new("/path/to/bird.log")))?;
            bird.wait_established("listener", timeout)?;
            std::thread::sleep(RECORD_FOR);
            bird.disable("listener")?;
            wait_exit(&listener_ns, listener, &log)?;
        }
        "gobgp" => {
            let mut config = GoBgpConfig::new(PEER_ASN, PEER_V4).neighbor(neighbor, LISTENER_ASN, true);
            config.listen_port = None;
            let gobgp = GoBgp::start(&peer_ns, &config)?;
            let cli = [
                format!(
                    "gobgp global rib add -a ipv4 {PREFIX_V4} origin igp community 64513:100 large-community 64513:1:2"
                ),
                format!(
                    "gobgp global rib add -a ipv6 {PREFIX_V6} origin igp nexthop 2001:db8::2 community 64513:100 large-community 64513:1:2"
                ),
            ];
            std::fs::write(
                out.join("gobgpd.toml"),
                format!("{}\n# then, once the session is up:\n# {}\n# {}\n", config.render(), cli[0], cli[1]),
            )?;
            gobgp.wait_established(neighbor, timeout)?;
            let common = ["community", "64513:100", "large-community", "64513:1:2"];
            gobgp.announce(PREFIX_V4, &common)?;
            let mut v6 = vec!["nexthop", "2001:db8::2"];
            v6.extend_from_slice(&common);
            gobgp.announce(PREFIX_V6, &v6)?;
            std::thread::sleep(RECORD_FOR);
            gobgp.disable_neighbor(neighbor)?;
            wait_exit(&listener_ns, listener, &log)?;
        }
        other => return Err(format!("unknown tool {other:?}: expected frr, bird or gobgp").into()),
    }
    Ok(out)
}

fn wait_exit(ns: &Netns, pid: u32, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(status) = ns.exit_status(pid) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            print!("{text}");
            return if status.success() {
                Ok(())
            } else {
                Err(format!("listener failed ({status}):\n{text}").into())
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("listener did not finish; log:\n{}", std::fs::read_to_string(log).unwrap_or_default()).into())
}

/// The exact version of `tool` as installed, and the full output of its `--version`.
fn version(tool: &str) -> Result<(String, String)> {
    let (program, args): (&str, &[&str]) = match tool {
        "frr" => ("/usr/lib/frr/bgpd", &["--version"]),
        "bird" => ("bird", &["--version"]),
        "gobgp" => ("gobgpd", &["--version"]),
        other => return Err(format!("unknown tool {other:?}").into()),
    };
    let out = std::process::Command::new(program).args(args).output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // "bgpd version 8.4.4", "BIRD version 2.0.12", "gobgpd version 3.10.0"
    let version = text
        .lines()
        .find_map(|l| {
            l.split_once(" version ").map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_owned())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("no version in the output of {program} --version: {text}"))?;
    Ok((version, text))
}

// ---- the listener, running inside the listener namespace ----

const MARKER: [u8; 16] = [0xff; 16];

fn listen(addr: SocketAddr, out: &Path) -> Result<()> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, from)) => {
                println!("connection from {from}");
                break s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("no connection on {addr}: {e}").into()),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;

    let mut buf = Vec::new();
    let mut saved = 0;
    let mut kept_keepalive = false;
    let mut answered = false;
    let mut last_keepalive = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        while let Some(msg) = next_message(&mut buf)? {
            let kind = message_type(msg[18]);
            println!("received {kind} ({} bytes)", msg.len());
            if kind != "keepalive" || !kept_keepalive {
                saved += 1;
                std::fs::write(out.join(format!("{saved:02}-{kind}.bin")), &msg)?;
                kept_keepalive |= kind == "keepalive";
            }
            if kind == "open" && !answered {
                stream.write_all(&open_message())?;
                stream.write_all(&keepalive_message())?;
                answered = true;
            }
            if kind == "notification" {
                return Ok(());
            }
        }
        if answered && last_keepalive.elapsed() >= Duration::from_secs(1) {
            // Our hold time is the peer's (3 s keepalive, 9 s hold): keep the session alive.
            stream.write_all(&keepalive_message())?;
            last_keepalive = Instant::now();
        }
        if Instant::now() > deadline {
            return Err("no NOTIFICATION within 40 s".into());
        }
        read_more(&mut stream, &mut buf)?;
    }
}

fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk) {
        Ok(0) => Err("peer closed the connection without a NOTIFICATION".into()),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Takes one whole message off the front of `buf`, if there is one (RFC 4271 §4.1 framing).
fn next_message(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>> {
    if buf.len() < 19 {
        return Ok(None);
    }
    if buf[..16] != MARKER {
        return Err(format!("bad marker: {:02x?}", &buf[..16]).into());
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    if !(19..=4096).contains(&len) {
        return Err(format!("bad message length {len}").into());
    }
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(buf.drain(..len).collect()))
}

fn message_type(t: u8) -> &'static str {
    match t {
        1 => "open",
        2 => "update",
        3 => "notification",
        4 => "keepalive",
        5 => "route-refresh",
        _ => "unknown",
    }
}

fn header(len: usize, kind: u8) -> Vec<u8> {
    let mut m = MARKER.to_vec();
    m.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    m.push(kind);
    m
}

/// OPEN (RFC 4271 §4.2): version 4, AS 64512, hold 90 s, ID 192.0.2.1, one Capabilities
/// parameter (RFC 5492) with MP IPv4 unicast and IPv6 unicast (RFC 4760), route refresh
/// (RFC 2918) and 4-octet AS 64512 (RFC 6793).
fn open_message() -> Vec<u8> {
    let caps: Vec<u8> = [
        &[1u8, 4, 0, 1, 0, 1][..], // MP: AFI 1 (IPv4), reserved, SAFI 1 (unicast)
        &[1, 4, 0, 2, 0, 1],       // MP: AFI 2 (IPv6), reserved, SAFI 1
        &[2, 0],                   // route refresh
        &[65, 4],                  // 4-octet AS, followed by the AS
        &LISTENER_ASN.to_be_bytes(),
    ]
    .concat();
    let mut body = vec![4u8];
    body.extend_from_slice(&u16::try_from(LISTENER_ASN).unwrap_or(23456).to_be_bytes());
    body.extend_from_slice(&90u16.to_be_bytes());
    body.extend_from_slice(&LISTENER_V4.octets());
    body.push(u8::try_from(caps.len() + 2).unwrap_or(0));
    body.push(2); // parameter type: Capabilities
    body.push(u8::try_from(caps.len()).unwrap_or(0));
    body.extend_from_slice(&caps);
    let mut m = header(19 + body.len(), 1);
    m.extend_from_slice(&body);
    m
}

fn keepalive_message() -> Vec<u8> {
    header(19, 4)
}
