//! `ferrolb status` asks a running `ferrolb run` over its control socket:
//! the session with FRR, the VIP and where it goes, as a table and as JSON;
//! the socket is root's only, and one left by a killed process is replaced.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{Ferrolb, bgp_cluster, established, frr_with_node1, lab_ready, pair, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));

/// `ferrolb status --socket SOCKET ARGS...`, run by `runner` (none: this process's user).
fn status(socket: &Path, args: &[&str], runner: &[&str]) -> Output {
    let exe = env!("CARGO_BIN_EXE_ferrolb");
    let mut c = match runner {
        [] => Command::new(exe),
        [first, rest @ ..] => {
            let mut c = Command::new(first);
            c.args(rest).arg(exe);
            c
        }
    };
    c.arg("status").arg("--socket").arg(socket).args(args).output().unwrap()
}

fn json(socket: &Path) -> serde_json::Value {
    let out = status(socket, &["-o", "json"], &[]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[test]
fn status_shows_the_session_and_the_vip_to_root_only() {
    if !lab_ready(&["ip", "vtysh", "setpriv"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let frr = frr_with_node1(&router);
    let cluster = bgp_cluster("203.0.113.10/32", &["web"]);
    let ferrolb = Ferrolb::start(&node, "node1", &cluster);
    let socket = node.dir().join("control.sock");
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("status to show the prefix sent", TIMEOUT, || {
        json(&socket)["sessions"][0]["prefixes_sent"] == 1
    });
    let doc = json(&socket);
    assert_eq!(doc["node"], "node1", "{doc}");
    assert_eq!(doc["sessions"][0]["peer"], "router", "{doc}");
    assert_eq!(doc["sessions"][0]["address"], "192.0.2.1:179", "{doc}");
    assert_eq!(doc["sessions"][0]["state"], "Established", "{doc}");
    assert_eq!(doc["vips"][0]["service"], "default/web", "{doc}");
    assert_eq!(doc["vips"][0]["ip"], "203.0.113.10", "{doc}");
    assert_eq!(doc["vips"][0]["bgp"][0]["announced"], true, "{doc}");
    assert_eq!(doc["configuration"]["generation"], 1, "{doc}");

    let table = status(&socket, &[], &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}");
    let session = text.lines().find(|l| l.starts_with("router")).unwrap_or_default();
    assert!(session.contains("Established") && session.contains("1/1"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("default/web") && l.contains("router")), "{text}");

    // Root's only: another user is told why.
    let nobody = status(&socket, &[], &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    let error = String::from_utf8_lossy(&nobody.stderr);
    assert!(!nobody.status.success(), "{error}");
    assert!(error.contains("permission denied") && error.contains("run as root"), "{error}");

    // A process killed leaves its socket; the next one replaces it.
    drop(ferrolb);
    assert!(socket.exists());
    let again = Ferrolb::start(&node, "node1", &cluster);
    wait_for("the next process to answer", TIMEOUT, || json(&socket)["node"] == "node1");
    assert!(!again.log().contains("no control socket"), "{}", again.log());
}
