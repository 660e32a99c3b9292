//! `ferrolb run` as a BGP speaker against a real FRR router.
//!
//! ```text
//!   ┌─ router ─────────────────┐        ┌─ node ─────────────────────┐
//!   │ FRR (zebra + bgpd)       │  veth  │ ferrolb run --node node1   │
//!   │ 192.0.2.1  AS 64513      ├────────┤ 192.0.2.11  AS 64512       │
//!   │ kernel: 203.0.113.x/32   │  eth0  │ announces the Service VIPs │
//!   └──────────────────────────┘        └────────────────────────────┘
//! ```

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrolb_lab::{Frr, FrrConfig, Netns, veth};

const TIMEOUT: Duration = Duration::from_secs(30);

fn cluster(services: &[&str]) -> String {
    let mut out = String::from(
        "apiVersion: metallb.io/v1beta1
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
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: up}
spec:
  communities: [\"64512:100\", \"large:64512:1:2\"]
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}]
",
    );
    for name in services {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n"
        ));
    }
    out
}

/// Whether this machine can run the lab; in CI it must.
fn lab_ready() -> bool {
    match ferrolb_lab::missing_requirements(&["ip", "vtysh"]) {
        None => true,
        Some(reason) => {
            assert!(std::env::var_os("CI").is_none(), "CI must run the network tests: {reason}");
            eprintln!("skipped: {reason}");
            false
        }
    }
}

struct Ferrolb {
    child: Child,
    config: PathBuf,
}

impl Ferrolb {
    fn start(node: &Netns, config: &str) -> Ferrolb {
        let path = node.dir().join("cluster.yaml");
        std::fs::write(&path, config).unwrap();
        let child = node
            .command(env!("CARGO_BIN_EXE_ferrolb"))
            .args(["run", "--node", "node1", "--config"])
            .arg(&path)
            .arg("--state-dir")
            .arg(node.dir().join("state"))
            .env("RUST_LOG", "info,ferrolb_bgp=debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Ferrolb { child, config: path }
    }

    fn rewrite(&self, config: &str) {
        let tmp = self.config.with_extension("tmp");
        std::fs::write(&tmp, config).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    /// SIGTERM, then its log once it has exited.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "ferrolb did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut log = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        log
    }
}

impl Drop for Ferrolb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_route(router: &Netns, vip: &str) -> bool {
    router.routes(false).unwrap().iter().any(|r| r.dst == vip && r.gateway.as_deref() == Some("192.0.2.11"))
}

#[test]
fn frr_learns_the_vips_with_their_communities_and_forgets_them() {
    if !lab_ready() {
        return;
    }
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node").unwrap();
    veth(&router, "eth0", &node, "eth0").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    node.add_addr("eth0", "192.0.2.11/24").unwrap();
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let frr = Frr::start(
        &router,
        &FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(neighbor, 64512, false),
    )
    .unwrap();

    let ferrolb = Ferrolb::start(&node, &cluster(&["api", "web"]));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("both VIPs in the router's kernel", || {
        has_route(&router, "203.0.113.10") && has_route(&router, "203.0.113.11")
    });
    let rib = frr.bgp_ipv4_unicast().unwrap();
    let path = &rib["routes"]["203.0.113.10/32"][0];
    assert_eq!(path["path"], "64512", "{path}");
    let detail = frr.vtysh_json("show bgp ipv4 unicast 203.0.113.10/32 json").unwrap();
    let text = detail.to_string();
    assert!(text.contains("64512:100") && text.contains("64512:1:2"), "{text}");

    // A Service removed from the file is withdrawn.
    ferrolb.rewrite(&cluster(&["web"]));
    wait_for("the removed Service's VIP withdrawn", || !has_route(&router, "203.0.113.10"));
    assert!(has_route(&router, "203.0.113.11"));

    // SIGTERM closes the session at once: the router forgets the node.
    let log = ferrolb.stop();
    wait_for("the session down after SIGTERM", || {
        frr.neighbor_state(neighbor).unwrap().as_deref() != Some("Established")
    });
    wait_for("every route withdrawn after SIGTERM", || !has_route(&router, "203.0.113.11"));
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}
