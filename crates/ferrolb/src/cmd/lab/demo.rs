//! `ferrolb lab demo`: the article's topology in network namespaces, with
//! ferrolb on three nodes, a real FRR router and two clients. It shows a VIP
//! in L2 mode and one in BGP mode (ECMP at FRR), stops a BGP node, kills the
//! L2 leader and measures the failover, then removes everything (also on
//! Ctrl-C).
//!
//! ```text
//!                                     ┌─ remote 203.0.113.2 ─┐
//!                                     └──────────┬───────────┘
//!  ┌─ client .2 ─┐ ┌─ node1 .11 ─┐ ┌─ node2 .12 ─┐ ┌─ node3 .13 ─┐ ┌─ router .1 (FRR AS 64513) ─┐
//!  └──────┬──────┘ └──────┬──────┘ └──────┬──────┘ └──────┬──────┘ └─────────────┬──────────────┘
//!  ┌──────┴───────────────┴───────────────┴───────────────┴──────────────────────┴───┐
//!  │ br0 198.51.100.0/24   L2 VIP 198.51.100.200      BGP VIP 192.0.2.100 (AS 64512) │
//!  └──────────────────────────────────────────────────────────────────────────────────┘
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::outage::{self, Prober};
use ferrolb_lab::{Frr, Netns, Topology, probe};

const L2_VIP: &str = "198.51.100.200";
const BGP_VIP: &str = "192.0.2.100";
const WEB: u16 = 8080;
const ECHO: u16 = 9000;
const NODE_ASN: u32 = 64512;
const ROUTER_ASN: u32 = 64513;
const TIMEOUT: Duration = Duration::from_secs(30);
/// The demo's gossip key (a real cluster would keep it in a Secret).
const GOSSIP_SECRET: &str = "ferrolb-demo-gossip-key";

/// Set by SIGINT / SIGTERM: the demo stops at the next step and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Runs the demo.
pub fn run() -> anyhow::Result<ExitCode> {
    if let Some(reason) = ferrolb_lab::missing_requirements(&[
        "ip",
        "/usr/lib/frr/zebra",
        "/usr/lib/frr/bgpd",
        "vtysh",
        "python3",
        "curl",
        "arping",
    ]) {
        anyhow::bail!("the demo cannot run here: {reason} (./scripts/demo installs what is missing)");
    }
    catch_interrupts();
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let result = Demo::build(&exe).and_then(|mut demo| {
        let shown = demo.show();
        println!("\nremoving every namespace and process of the demo…");
        drop(demo);
        shown
    });
    match result {
        Ok(()) => {
            println!("done.");
            Ok(ExitCode::SUCCESS)
        }
        Err(_) if INTERRUPTED.load(Ordering::Relaxed) => {
            println!("interrupted; everything is removed.");
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e),
    }
}

/// SIGINT and SIGTERM set [`INTERRUPTED`] instead of killing the process,
/// so the namespaces are removed on the way out.
fn catch_interrupts() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            INTERRUPTED.store(true, Ordering::Relaxed);
        });
    });
}

fn check_interrupted() -> anyhow::Result<()> {
    anyhow::ensure!(!INTERRUPTED.load(Ordering::Relaxed), "interrupted");
    Ok(())
}

/// Polls `check` every 20 ms until it holds; fails after `timeout` or on Ctrl-C.
fn wait(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while !check() {
        check_interrupted()?;
        anyhow::ensure!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(start.elapsed())
}

fn step(n: u32, text: &str) {
    println!("\n[{n}/6] {text}");
}

/// The running demo; dropping it stops every process and removes every namespace.
struct Demo {
    // Dropped in this order: ferrolb and FRR first, then the namespaces.
    speakers: Vec<Option<u32>>,
    frr: Frr,
    topology: Topology,
    macs: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for (i, pid) in self.speakers.iter_mut().enumerate() {
            if let Some(pid) = pid.take() {
                self.topology.nodes[i].netns.stop(pid, Duration::from_secs(2));
            }
        }
    }
}

impl Demo {
    fn build(exe: &Path) -> anyhow::Result<Demo> {
        println!("ferrolb lab demo: three nodes, an FRR router and two clients in network namespaces");
        step(1, "building the topology (namespaces, a bridge, veth pairs; documentation addresses only)");
        let topology = Topology::new(3)?;
        // Spread flows over the ECMP paths by port too, not only by address.
        topology.router.sysctl("net.ipv4.fib_multipath_hash_policy", "1")?;
        let names: Vec<&str> = [&topology.router, &topology.client, &topology.remote]
            .into_iter()
            .chain(topology.nodes.iter().map(|n| &n.netns))
            .map(Netns::name)
            .collect();
        println!("  namespaces: {}", names.join(" "));
        check_interrupted()?;

        step(2, "starting FRR on the router, and ferrolb plus a web server on every node");
        let frr = Frr::start(&topology.router, &topology.router_frr_config(ROUTER_ASN, NODE_ASN))?;
        let config = cluster(&topology.nodes.iter().map(|n| n.ipv4.to_string()).collect::<Vec<_>>());
        let mut speakers = Vec::new();
        let mut macs = Vec::new();
        for (i, node) in topology.nodes.iter().enumerate() {
            let name = format!("node{}", i + 1);
            probe::start_name_server(&node.netns, &name, WEB)?;
            outage::start_name_server(&node.netns, &name, ECHO)?;
            macs.push(probe::mac(&node.netns, "eth0")?);
            let file = node.netns.dir().join("cluster.yaml");
            std::fs::write(&file, &config)?;
            // The gossip between the nodes is authenticated with a shared secret.
            let secret = node.netns.dir().join("gossip.key");
            std::fs::write(&secret, GOSSIP_SECRET)?;
            let mut c = node.netns.command(&exe.to_string_lossy());
            c.args(["run", "--node", &name, "--gossip-secret-file"])
                .arg(&secret)
                .arg("--config")
                .arg(&file)
                .arg("--state-dir")
                .arg(node.netns.dir().join("state"))
                .env("RUST_LOG", "info");
            let pid = node.netns.spawn(c, &node.netns.dir().join("ferrolb.log"))?;
            println!(
                "  {name}: ferrolb run --node {name} (pid {pid}, log {})",
                node.netns.dir().join("ferrolb.log").display()
            );
            speakers.push(Some(pid));
        }
        Ok(Demo { speakers, frr, topology, macs })
    }

    fn show(&mut self) -> anyhow::Result<()> {
        step(3, "every node reads the same file: an L2 pool and a BGP pool, one Service in each");
        for node in &self.topology.nodes {
            node.netns.wait_tcp_listening(WEB, TIMEOUT)?;
        }
        let leader = self.wait_l2_leader(&[0, 1, 2])?;
        println!("  default/web-l2   {L2_VIP:<15}  L2: node{} elected (gossip among node1..3)", leader + 1);
        println!(
            "  default/web-bgp  {BGP_VIP:<15}  BGP: announced by every node to the router (AS {ROUTER_ASN})"
        );

        step(4, &format!("L2 mode: the client on the segment asks who has {L2_VIP}"));
        let macs = probe::arping(&self.topology.client, "eth0", L2_VIP, 2)?;
        let owners: Vec<String> = macs.iter().map(|m| self.owner(m)).collect();
        println!("  ARP replies: {} (only the leader answers)", owners.join(", "));
        let page = self.fetch(&self.topology.client, L2_VIP)?;
        println!("  curl http://{L2_VIP}:{WEB}/ from the client → {page}");

        step(5, &format!("BGP mode: FRR learns {BGP_VIP}/32 from every node and spreads traffic (ECMP)"));
        for node in &self.topology.nodes {
            self.frr.wait_established(IpAddr::V4(node.ipv4), TIMEOUT)?;
        }
        println!("  FRR: sessions with node1, node2 and node3 Established");
        let gateways = self.wait_bgp_paths(3)?;
        println!("  router's kernel: {BGP_VIP} via {}", gateways.join(", "));
        println!("  20 requests from the remote client (203.0.113.2): {}", self.spread()?);
        // A node that is not the L2 leader: the L2 VIP stays where it is.
        let stopped = (0..3).rev().find(|&i| i != leader).context("three nodes")?;
        let started = Instant::now();
        if let Some(pid) = self.speakers[stopped].take() {
            self.topology.nodes[stopped].netns.stop(pid, Duration::from_secs(2));
        }
        let gateways = self.wait_bgp_paths(2)?;
        println!(
            "  SIGTERM to node{}: it sends Cease to FRR, whose kernel route is via {} {:.2} s later",
            stopped + 1,
            gateways.join(", "),
            started.elapsed().as_secs_f64()
        );

        step(6, &format!("L2 failover: node{} (the leader) loses its link and is killed", leader + 1));
        let client = &self.topology.client;
        let prober = Prober::start(client, L2_VIP.parse()?, ECHO, Duration::from_millis(10))?;
        wait("the prober's first answers", TIMEOUT, || {
            prober.answers().is_ok_and(|a| a.replies.len() >= 20)
        })?;
        let failure = outage::now();
        let node = &self.topology.nodes[leader];
        self.topology.segment.netns().ip(&["link", "set", &node.port, "down"])?;
        if let Some(pid) = self.speakers[leader].take() {
            node.netns.kill(pid);
        }
        let alive: Vec<usize> = (0..3).filter(|&i| i != leader && self.speakers[i].is_some()).collect();
        let next = self.wait_l2_leader(&alive)?;
        wait("the new leader answering the client", TIMEOUT, || {
            prober.answers().is_ok_and(|a| a.last() == Some(format!("node{}", next + 1).as_str()))
        })?;
        std::thread::sleep(Duration::from_millis(300));
        let answers = prober.stop()?;
        let outage = answers.outage_after(failure).context("no answer after the failure")?;
        println!(
            "  the client, sending a request every 10 ms, got no answer for {:.0} ms; then {} answered",
            outage.duration.as_secs_f64() * 1000.0,
            outage.after
        );
        let macs = probe::arping(client, "eth0", L2_VIP, 1)?;
        let owners: Vec<String> = macs.iter().map(|m| self.owner(m)).collect();
        println!("  ARP replies now: {}", owners.join(", "));
        Ok(())
    }

    /// Waits until exactly one node of `among` accepts the L2 VIP; returns it.
    fn wait_l2_leader(&self, among: &[usize]) -> anyhow::Result<usize> {
        let mut leader = None;
        wait("an L2 leader", TIMEOUT, || {
            let accepting: Vec<usize> = among
                .iter()
                .copied()
                .filter(|&i| {
                    self.topology.nodes[i]
                        .netns
                        .ip(&["route", "get", L2_VIP])
                        .is_ok_and(|r| r.starts_with("local "))
                })
                .collect();
            leader = (accepting.len() == 1).then(|| accepting[0]);
            leader.is_some()
        })?;
        leader.context("no leader")
    }

    /// Waits until the router's kernel has `paths` next hops for the BGP VIP.
    fn wait_bgp_paths(&self, paths: usize) -> anyhow::Result<Vec<String>> {
        let mut gateways = Vec::new();
        wait(&format!("{paths} paths for {BGP_VIP} at the router"), TIMEOUT, || {
            gateways =
                self.topology.router.route(BGP_VIP).ok().flatten().map(|r| r.gateways()).unwrap_or_default();
            gateways.len() == paths
        })?;
        gateways.sort();
        Ok(gateways)
    }

    /// Which node has MAC `mac`.
    fn owner(&self, mac: &str) -> String {
        match self.macs.iter().position(|m| m == mac) {
            Some(i) => format!("{mac} (node{})", i + 1),
            None => mac.to_owned(),
        }
    }

    fn fetch(&self, from: &Netns, vip: &str) -> anyhow::Result<String> {
        let ip: IpAddr = vip.parse()?;
        let mut page = None;
        wait(&format!("an answer from {vip}"), TIMEOUT, || {
            page = probe::fetch_name(from, ip, WEB, Duration::from_millis(500));
            page.is_some()
        })?;
        page.context("no answer")
    }

    /// Who served 20 requests from the remote client, by node.
    fn spread(&self) -> anyhow::Result<String> {
        let mut count: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..20 {
            check_interrupted()?;
            let name = self.fetch(&self.topology.remote, BGP_VIP)?;
            *count.entry(name).or_default() += 1;
        }
        Ok(count.iter().map(|(n, c)| format!("{n} ×{c}")).collect::<Vec<_>>().join(", "))
    }
}

/// The cluster file every node reads, for nodes at `addresses`.
fn cluster(addresses: &[String]) -> String {
    let mut out = format!(
        "# The demo's cluster: one file, the same on every node.
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan}}
spec:
  addresses: [{L2_VIP}/32]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan}}
spec:
  ipAddressPools: [lan]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: routed}}
spec:
  addresses: [{BGP_VIP}/32]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec:
  myASN: {NODE_ASN}
  peerASN: {ROUTER_ASN}
  peerAddress: {router}
  holdTime: 9s
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: routed}}
spec:
  ipAddressPools: [routed]
---
apiVersion: v1
kind: Service
metadata: {{name: web-l2, namespace: default}}
spec:
  type: LoadBalancer
  ports: [{{port: {WEB}}}]
  loadBalancerIP: {L2_VIP}
---
apiVersion: v1
kind: Service
metadata: {{name: web-bgp, namespace: default}}
spec:
  type: LoadBalancer
  ports: [{{port: {WEB}}}]
  loadBalancerIP: {BGP_VIP}
",
        router = ferrolb_lab::ROUTER_V4
    );
    for (i, address) in addresses.iter().enumerate() {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {address}}}]\n",
            i + 1,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_cluster_validates_and_gives_each_service_its_vip() {
        let nodes = ["198.51.100.11", "198.51.100.12", "198.51.100.13"].map(String::from);
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("demo.yaml", &cluster(&nodes));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let allocation =
            ferrolb_ipam::allocate(&snapshot, &ferrolb_ipam::Assignments::default(), &Default::default());
        let ips: Vec<String> =
            allocation.services.iter().map(|s| s.ips.iter().map(ToString::to_string).collect()).collect();
        assert_eq!(ips, [BGP_VIP, L2_VIP]);
    }
}
