//! `ferrolb lab demo`: the article's topology in network namespaces, with
//! ferrolb on three nodes, a real FRR router and two clients. It shows a VIP
//! in L2 mode and one in BGP mode (ECMP at FRR), kills the L2 leader and
//! measures the failover, then removes everything (also on Ctrl-C). The
//! story is told two ways: from one file, `ferrolb run` on every node
//! ([`file`]), or with kubectl on a real control plane, ferrolb's controller
//! and three speakers ([`kubernetes`], `--kubernetes`).
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
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::outage::{self, Outage, Prober};
use ferrolb_lab::{Frr, Netns, Topology, probe};

mod file;
mod kubernetes;

const L2_VIP: &str = "198.51.100.200";
const BGP_VIP: &str = "192.0.2.100";
const WEB: u16 = 8080;
const ECHO: u16 = 9000;
const NODE_ASN: u32 = 64512;
const ROUTER_ASN: u32 = 64513;
const TIMEOUT: Duration = Duration::from_secs(30);
/// The demo's gossip key (a real cluster keeps it in a Secret).
const GOSSIP_SECRET: &str = "ferrolb-demo-gossip-key";

/// Set by SIGINT / SIGTERM: the demo stops at the next step and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Arguments of `ferrolb lab demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Tell the story with kubectl on a real control plane (etcd and
    /// kube-apiserver built by scripts/go-tools k8s): ferrolb's controller
    /// and three `ferrolb speaker`, each in its node's namespace.
    #[arg(long)]
    kubernetes: bool,
}

/// Runs the demo.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::require(
        "the demo",
        &["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "python3", "curl", "arping"],
    )
    .map_err(|e| anyhow::anyhow!("{e} (./scripts/demo installs what is missing)"))?;
    // Before anything is built: a missing control plane is a message, not a half-built lab.
    let tools = args.kubernetes.then(kubernetes::tools).transpose()?;
    catch_interrupts();
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let result = match tools {
        None => tell(file::Demo::build(&exe), file::Demo::show),
        Some(tools) => tell(kubernetes::Demo::build(&exe, &tools), kubernetes::Demo::show),
    };
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

/// Shows a built demo, then removes it whatever the showing gave.
fn tell<D>(demo: anyhow::Result<D>, show: impl FnOnce(&mut D) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut demo = demo?;
    let shown = show(&mut demo);
    println!("\nremoving every namespace and process of the demo…");
    drop(demo);
    shown
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
fn wait(what: &str, timeout: Duration, check: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    wait_every(Duration::from_millis(20), what, timeout, check)
}

/// Polls `check` every `interval` until it holds; fails after `timeout` or on Ctrl-C.
fn wait_every(
    interval: Duration,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while !check() {
        check_interrupted()?;
        anyhow::ensure!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(interval);
    }
    Ok(start.elapsed())
}

fn step(n: u32, text: &str) {
    println!("\n[{n}/6] {text}");
}

/// The name of node `i` (from 0), in the file and in Kubernetes alike.
fn node_name(i: usize) -> String {
    format!("node{}", i + 1)
}

/// Builds the three-node topology and says which namespaces it made.
fn topology() -> anyhow::Result<Topology> {
    let topology = Topology::new(3)?;
    // Spread flows over the ECMP paths by port too, not only by address.
    topology.router.sysctl("net.ipv4.fib_multipath_hash_policy", "1")?;
    let names: Vec<&str> = [&topology.router, &topology.client, &topology.remote]
        .into_iter()
        .chain(topology.nodes.iter().map(|n| &n.netns))
        .map(Netns::name)
        .collect();
    println!("  namespaces: {}", names.join(" "));
    Ok(topology)
}

/// The demo's network: the topology, FRR on the router, and on every node
/// a web server and a UDP echo server that answer with the node's name.
struct Network {
    // Dropped in this order: FRR first, then the namespaces.
    frr: Frr,
    topology: Topology,
    /// Each node's MAC on the segment, to name who answers ARP.
    macs: Vec<String>,
}

impl Network {
    /// Stops the speakers still running (`speakers[i]` on node i), each
    /// given two seconds to withdraw what it announced.
    fn stop_speakers(&self, speakers: &mut [Option<u32>]) {
        for (i, pid) in speakers.iter_mut().enumerate() {
            if let Some(pid) = pid.take() {
                self.topology.nodes[i].netns.stop(pid, Duration::from_secs(2));
            }
        }
    }

    /// Starts FRR, configured by `ferrolb router-config` for the nodes of
    /// `topology`, and the nodes' servers.
    fn start(topology: Topology) -> anyhow::Result<Network> {
        let addresses: Vec<String> = topology.nodes.iter().map(|n| n.ipv4.to_string()).collect();
        let frr_conf = router_frr_config(&format!("{}---\n{}", configuration(), nodes(&addresses)))?;
        let frr = Frr::start_with_text(&topology.router, &frr_conf, false)?;
        println!(
            "  FRR's configuration is `ferrolb router-config --for frr`'s: the {} nodes as neighbors, ECMP over them, \
             only the pools' prefixes accepted",
            addresses.len()
        );
        let mut macs = Vec::new();
        for (i, node) in topology.nodes.iter().enumerate() {
            probe::start_name_server(&node.netns, &node_name(i), WEB)?;
            outage::start_name_server(&node.netns, &node_name(i), ECHO)?;
            macs.push(probe::mac(&node.netns, "eth0")?);
        }
        Ok(Network { frr, topology, macs })
    }

    /// Who answers `count` ARP requests for the L2 VIP from the client, by MAC and node.
    fn arp_owners(&self, count: u32) -> anyhow::Result<Vec<String>> {
        let macs = probe::arping(&self.topology.client, "eth0", L2_VIP, count)?;
        Ok(macs.iter().map(|m| self.owner(m)).collect())
    }

    /// Which node has MAC `mac`.
    fn owner(&self, mac: &str) -> String {
        match self.macs.iter().position(|m| m == mac) {
            Some(i) => format!("{mac} ({})", node_name(i)),
            None => mac.to_owned(),
        }
    }

    /// The page of `http://vip:WEB/` from `from`: the name of the node that answered.
    fn fetch(&self, from: &Netns, vip: &str) -> anyhow::Result<String> {
        let ip: IpAddr = vip.parse()?;
        let mut page = None;
        wait(&format!("an answer from {vip}"), TIMEOUT, || {
            page = probe::fetch_name(from, ip, WEB, Duration::from_millis(500));
            page.is_some()
        })?;
        page.context("no answer")
    }

    /// Waits until FRR's sessions with every node are Established.
    fn wait_sessions(&self) -> anyhow::Result<()> {
        for node in &self.topology.nodes {
            self.frr.wait_established(IpAddr::V4(node.ipv4), TIMEOUT)?;
        }
        Ok(())
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

    /// Cuts the link of node `leader` and kills its speaker (`speakers[leader]`,
    /// a process of its namespace) while the client sends to the L2 VIP every
    /// 10 ms; returns the silence the client saw, once another node answers.
    fn fail_over(&self, leader: usize, speakers: &mut [Option<u32>]) -> anyhow::Result<Outage> {
        let client = &self.topology.client;
        let prober = Prober::start(client, L2_VIP.parse()?, ECHO, Duration::from_millis(10))?;
        wait("the prober's first answers", TIMEOUT, || {
            prober.answers().is_ok_and(|a| a.replies.len() >= 20)
        })?;
        let failure = outage::now();
        let node = &self.topology.nodes[leader];
        self.topology.segment.netns().ip(&["link", "set", &node.port, "down"])?;
        if let Some(pid) = speakers[leader].take() {
            node.netns.kill(pid);
        }
        let old = node_name(leader);
        wait("another node answering the client", TIMEOUT, || {
            prober.answers().is_ok_and(|a| a.last().is_some_and(|name| name != old))
        })?;
        std::thread::sleep(Duration::from_millis(300));
        let answers = prober.stop()?;
        answers.outage_after(failure).context("no answer after the failure")
    }
}

/// The router's side of `cluster`, as `ferrolb router-config --for frr` writes it.
pub(super) fn router_frr_config(cluster: &str) -> anyhow::Result<String> {
    let (snapshot, loaded) = ferrolb_api::load::load_str("demo.yaml", cluster);
    let (config, broken) =
        ferrolb_api::validate::validated(&snapshot, &ferrolb_api::config::Options::default());
    let errors: Vec<String> =
        loaded.iter().chain(&broken).filter(|d| d.is_error()).map(|d| d.to_string()).collect();
    anyhow::ensure!(errors.is_empty(), "the lab's configuration is invalid: {}", errors.join("; "));
    let (routers, problems) = ferrolb_router::routers(&config, &snapshot);
    anyhow::ensure!(
        problems.is_empty(),
        "router-config: {}",
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    );
    Ok(ferrolb_router::render(ferrolb_router::Dialect::Frr, &routers))
}

/// The `metallb.io` objects of the demo: an L2 pool and a BGP pool with
/// their advertisements, and the router as a BGP peer (no namespace: the
/// file has none, and kubectl is told which).
fn configuration() -> String {
    format!(
        "apiVersion: metallb.io/v1beta1
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
",
        router = ferrolb_lab::ROUTER_V4
    )
}

/// The two Services, one per pool.
fn services() -> String {
    format!(
        "apiVersion: v1
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
"
    )
}

/// A Node object per address, with it as InternalIP, as a kubelet registers its node.
fn nodes(addresses: &[String]) -> String {
    let mut out = String::new();
    for (i, address) in addresses.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {address}}}]\n",
            node_name(i),
        );
    }
    out
}
