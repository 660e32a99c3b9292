//! What the scripted-peer tests share (`bgp_malformed`, `bgp_hostile`): the lab of a node
//! between a real FRR router and a namespace where python3 scripts play a BGP peer, and the
//! scripts themselves, which speak JSON lines.
//!
//! ```text
//!   ┌─ router ──────────┐       ┌─ node ─────────────────────┐       ┌─ peer ───────────────┐
//!   │ FRR, AS 64513     │ veth  │ ferrolb run --node node1   │ veth  │ python3 scripts      │
//!   │ 192.0.2.1         ├───────┤ 192.0.2.11     AS 64512    ├───────┤ 198.51.100.2, .9     │
//!   │ learns the VIP    │ eth0  │ 198.51.100.11  :179   eth1 │ eth0  │ 2001:db8:1::2        │
//!   │                   │       │ 2001:db8:1::11             │       │ AS 64514 (a BGPPeer) │
//!   └───────────────────┘       └────────────────────────────┘       └──────────────────────┘
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use ferrolb_lab::{Frr, FrrConfig, Netns, veth};
use serde_json::Value;

use super::{Ferrolb, has_route, wait_for};

/// The longest wait for the lab to come up.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The VIP FRR learns from the node (the first address of the tests' pool).
pub const VIP: &str = "203.0.113.10";

/// The three namespaces, FRR, and `ferrolb run` on the node, FRR's session up with the VIP.
pub struct ScriptedLab {
    /// FRR's namespace.
    pub router: Netns,
    _node: Netns,
    /// Where the scripts run.
    pub peer: Netns,
    /// The router.
    pub frr: Frr,
    /// `ferrolb run --node node1`.
    pub ferrolb: Ferrolb,
    /// The node as FRR's neighbor.
    pub neighbor: IpAddr,
    /// FRR's session counters once up, which must never move.
    frr_counters: (u64, u64),
}

impl ScriptedLab {
    /// Builds the lab and starts `ferrolb run` with the cluster file `config`; returns once
    /// ferrolb listens on 179 and FRR's session is up with the VIP.
    pub fn start(config: &str) -> ScriptedLab {
        let router = Netns::new("router").unwrap();
        let node = Netns::new("node").unwrap();
        let peer = Netns::new("peer").unwrap();
        veth(&router, "eth0", &node, "eth0").unwrap();
        veth(&peer, "eth0", &node, "eth1").unwrap();
        router.add_addr("eth0", "192.0.2.1/24").unwrap();
        node.add_addr("eth0", "192.0.2.11/24").unwrap();
        node.add_addr("eth1", "198.51.100.11/24").unwrap();
        node.add_addr("eth1", "2001:db8:1::11/64").unwrap();
        peer.add_addr("eth0", "198.51.100.2/24").unwrap();
        peer.add_addr("eth0", "198.51.100.9/24").unwrap();
        peer.add_addr("eth0", "2001:db8:1::2/64").unwrap();
        let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
        let frr = Frr::start(
            &router,
            &FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(neighbor, 64512, false),
        )
        .unwrap();
        let ferrolb = Ferrolb::start(&node, "node1", config);
        node.wait_tcp_listening(179, TIMEOUT).unwrap();
        frr.wait_established(neighbor, TIMEOUT).unwrap();
        wait_for("the VIP at the router", TIMEOUT, || has_route(&router, VIP));
        let frr_counters = frr_session_counters(&frr, neighbor);
        ScriptedLab { router, _node: node, peer, frr, ferrolb, neighbor, frr_counters }
    }

    /// FRR's session with the node never dropped and still carries the VIP; ferrolb runs.
    pub fn assert_frr_unaffected(&mut self, after: &str) {
        self.ferrolb.assert_running();
        let state = self.frr.neighbor_state(self.neighbor).unwrap();
        assert_eq!(state.as_deref(), Some("Established"), "after {after}:\n{}", self.ferrolb.log());
        assert_eq!(
            frr_session_counters(&self.frr, self.neighbor),
            self.frr_counters,
            "FRR's session flapped after {after}"
        );
        assert!(has_route(&self.router, VIP), "the router lost the VIP after {after}");
    }

    /// ferrolb's resident set, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.ferrolb.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// ferrolb's open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.ferrolb.pid())).unwrap().count()
    }

    /// Waits until ferrolb's RSS has not moved by more than 256 KiB for a second (it settled
    /// after a start or a burst), and returns it.
    pub fn settled_rss(&self) -> u64 {
        let mut last = self.rss_kib();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = self.rss_kib();
            if now.abs_diff(last) <= 256 || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }
}

/// FRR's counters of the session with `neighbor`: (established, dropped).
pub fn frr_session_counters(frr: &Frr, neighbor: IpAddr) -> (u64, u64) {
    let json = frr.vtysh_json(&format!("show bgp neighbors {neighbor} json")).unwrap();
    let n = &json[neighbor.to_string()];
    match (n["connectionsEstablished"].as_u64(), n["connectionsDropped"].as_u64()) {
        (Some(established), Some(dropped)) => (established, dropped),
        _ => panic!("no connection counters in {json}"),
    }
}

/// A python3 script run in a namespace: JSON lines to its stdin, JSON lines from its
/// stdout, its stderr kept in a file and shown when it fails. Killed when dropped.
pub struct PythonScript {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

impl PythonScript {
    /// Writes `script` to `name` in the namespace's directory and runs it with `args`;
    /// its stderr goes to `log`, there too.
    pub fn start(ns: &Netns, name: &str, script: &str, args: &[&str], log: &str) -> PythonScript {
        let path = ns.dir().join(name);
        std::fs::write(&path, script).unwrap();
        let log = ns.dir().join(log);
        let mut child = ns
            .command("python3")
            .arg(&path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        PythonScript { child, stdin, stdout, log }
    }

    /// The next result line; the scripts bound their own waits, so this returns.
    pub fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(n > 0, "the script exited:\n{log}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}\n{log}"))
    }

    /// Sends one command line.
    pub fn tell(&mut self, command: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends one command line and reads its result.
    pub fn ask(&mut self, command: &Value) -> Value {
        self.tell(command);
        self.read()
    }
}

impl Drop for PythonScript {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
