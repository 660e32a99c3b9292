//! What the network tests share: whether the lab can run, a `ferrolb run`
//! inside a namespace, and waiting for a condition.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrolb_lab::{Frr, Netns};

pub use ferrolb_lab::lab_ready;

pub mod scripted_peer;

/// Whether the router's kernel routes `vip` through the node at 192.0.2.11
/// (the node of the BGP tests), as FRR installs a route it learned.
pub fn has_route(router: &Netns, vip: &str) -> bool {
    router.routes(false).unwrap().iter().any(|r| r.dst == vip && r.gateway.as_deref() == Some("192.0.2.11"))
}

/// A router (192.0.2.1, 2001:db8::1) and a node with `node_addresses`, on one veth.
pub fn pair(node_addresses: &[&str]) -> (Netns, Netns) {
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node1").unwrap();
    ferrolb_lab::veth(&router, "eth0", &node, "eth0").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    router.add_addr("eth0", "2001:db8::1/64").unwrap();
    for address in node_addresses {
        node.add_addr("eth0", address).unwrap();
    }
    (router, node)
}

/// The cluster file of the one-node BGP tests: a pool of `pool`, the router
/// (192.0.2.1, AS 64513) as the BGPPeer of node1 (192.0.2.11, AS 64512), an
/// advertisement, and a LoadBalancer Service in `default` per name.
pub fn bgp_cluster(pool: &str, services: &[&str]) -> String {
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
spec: {{myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: up}}
---
apiVersion: v1
kind: Node
metadata: {{name: node1}}
status:
  addresses: [{{type: InternalIP, address: 192.0.2.11}}]
"
    );
    for name in services {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
        ));
    }
    out
}

/// FRR on `router` (192.0.2.1, AS 64513) with node1 (192.0.2.11, AS 64512) as its neighbor.
pub fn frr_with_node1(router: &Netns) -> Frr {
    let node1 = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 11));
    Frr::start(
        router,
        &ferrolb_lab::FrrConfig::new(64513, std::net::Ipv4Addr::new(192, 0, 2, 1))
            .neighbor(node1, 64512, false),
    )
    .unwrap()
}

/// Whether FRR's session with `neighbor` is Established.
pub fn established(frr: &Frr, neighbor: IpAddr) -> bool {
    frr.neighbor_state(neighbor).unwrap().as_deref() == Some("Established")
}

/// Whether FRR holds the host route `vip` (`None`: not at all), and
/// whether a path of it is marked stale (kept for a peer that restarts).
pub fn stale(frr: &Frr, vip: &str) -> Option<bool> {
    frr.stale(vip).ok().flatten()
}

/// Polls `check` every 50 ms until it holds; panics after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ferrolb run` in a namespace; its log goes to a file so a long test never
/// fills a pipe, and is printed when the test fails.
pub struct Ferrolb {
    child: Child,
    config: PathBuf,
    log: PathBuf,
}

impl Ferrolb {
    /// Starts `ferrolb run --node NODE` in `ns` with `config` as the cluster file.
    pub fn start(ns: &Netns, node: &str, config: &str) -> Ferrolb {
        Ferrolb::start_with(ns, node, config, &[])
    }

    /// As [`Ferrolb::start`], with more arguments to `ferrolb run`.
    pub fn start_with(ns: &Netns, node: &str, config: &str, args: &[&str]) -> Ferrolb {
        let path = ns.dir().join("cluster.yaml");
        std::fs::write(&path, config).unwrap();
        let log = ns.dir().join("ferrolb.log");
        let child = ns
            .command(env!("CARGO_BIN_EXE_ferrolb"))
            .args(["run", "--node", node, "--config"])
            .arg(&path)
            .arg("--state-dir")
            .arg(ns.dir().join("state"))
            .arg("--control-socket")
            .arg(ns.dir().join("control.sock"))
            .args(args)
            .env("RUST_LOG", "info,ferrolb_bgp=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Ferrolb { child, config: path, log }
    }

    /// Replaces the cluster file as editors do (write beside, rename over).
    pub fn rewrite(&self, config: &str) {
        let tmp = self.config.with_extension("tmp");
        std::fs::write(&tmp, config).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if ferrolb has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("ferrolb exited ({status}):\n{}", self.log());
        }
    }

    /// SIGTERM, then its log once it has exited (5 s at most).
    pub fn stop(self) -> String {
        self.stop_with("TERM")
    }

    /// Sends `signal` (`TERM`, `USR2`...), then its log once it has exited (5 s at most).
    pub fn stop_with(mut self, signal: &str) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "ferrolb did not exit after SIG{signal}");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log()
    }
}

impl Drop for Ferrolb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- ferrolb log {} ---\n{}", self.log.display(), self.log());
        }
    }
}
