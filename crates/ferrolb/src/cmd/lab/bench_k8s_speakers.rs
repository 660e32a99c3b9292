//! `ferrolb lab bench k8s`, the speakers: ferrolb's speaker against
//! MetalLB's (v0.16.1, native BGP, memberlist on) on the same control plane,
//! the same Services and the same lab topology, each speaker a process of
//! its node's namespace reaching the API server through an [`ApiRelay`].
//!
//! ```text
//!   BGP, per size (1,000 then 10,000 Services), per speaker:
//!     Services of one class, IPv4 (MetalLB's native speaker announces no
//!     IPv6), sharing 192.0.2.1-254 (allow-shared-ip, a port each; 40 to an
//!     address, so 1,000 Services are 25 routes and 10,000 are 250), each
//!     with an EndpointSlice of one ready endpoint (MetalLB announces no
//!     Service without one), assigned by ferrolb's controller
//!     ──► the speaker of node1 started ──► FRR's kernel holds every VIP
//!     ──► peak RSS, the speaker stopped, the routes gone, its status objects removed
//!
//!   L2 failover, per run, per speaker (taking turns):
//!     a fresh topology; three speakers; one dual-stack Service; a UDP name
//!     server on each node and two clients asking every 10 ms, one per
//!     address (ARP, NDP; as `bench l2-failover`)
//!     ──► the leader's bridge port down, its speaker SIGKILLed
//!     ──► the outage: each client's longest silence
//!
//!   migration, one run:
//!     a fresh topology, FRR (ECMP); MetalLB's controller and three speakers
//!     give an L2 Service and a BGP Service their VIPs and announce them; a
//!     client on the segment asks the L2 VIP, one behind the router the BGP VIP
//!     ──► MetalLB's speakers and controller stopped (SIGTERM, as deleting
//!         its DaemonSet and Deployment does), ferrolb's started at once
//!     ──► each client's longest silence; the Services' addresses before and after
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrolb_lab::k8s::{
    ApiRelay, ControlPlane, GoTools, MetalLbController, MetalLbSpeaker, MetalLbSpeakerSpec, StandInPod,
};
use ferrolb_lab::outage::{self, Prober};
use ferrolb_lab::{Frr, HostProcess, Netns, STOP_GRACE, Topology};

use super::bench_bgp::bgp_routes_within;
use super::bench_k8s::{Implementation, create_in_parallel};
use super::bench_l2::{outage_of_failover, steady};
use super::memory::Memory;

/// ferrolb's namespace, where both kinds of speakers read the configuration.
const NAMESPACE: &str = "metallb-system";
const NODE_ASN: u32 = 64512;
const ROUTER_ASN: u32 = 64513;
/// The BGP Services' addresses: a /24 the topology does not use otherwise.
const BGP_FIRST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const BGP_ADDRESSES: usize = 254;
/// The L2 Service's address, on the nodes' segment.
const L2_VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
/// The L2 Service's IPv6 address (answered by NDP), on the segment too.
const L2_VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x200);
/// The UDP port of the name servers.
const PORT: u16 = 9000;
/// How long a speaker may take to announce every route, or to serve the VIP.
const CAP: Duration = Duration::from_secs(600);
/// How long after the failure another node must answer before the run
/// counts as capped (memberlist's suspicion alone takes seconds).
const TAKEOVER_CAP: Duration = Duration::from_secs(30);
/// How long the client must get answers from one node before the failure.
const STEADY: Duration = Duration::from_secs(1);
/// Milliseconds between two requests of the client.
const INTERVAL: Duration = Duration::from_millis(10);

/// One line of the BGP table.
#[derive(Clone, Debug, PartialEq)]
pub struct BgpRow {
    pub services: usize,
    pub routes: usize,
    pub ferrolb: Announced,
    pub metallb: Announced,
}

/// What one speaker did for one size.
#[derive(Clone, Debug, PartialEq)]
pub struct Announced {
    /// From its start to the router holding every VIP; `None`: not within [`CAP`].
    pub secs: Option<f64>,
    pub peak_mib: f64,
}

/// One line of the L2 table: every failover of one speaker, as the client
/// of one address family saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct L2Row {
    pub implementation: Implementation,
    /// `IPv4` (ARP) or `IPv6` (NDP).
    pub family: &'static str,
    /// Milliseconds of outage per run; `None`: no takeover within [`TAKEOVER_CAP`].
    pub outages_ms: Vec<Option<f64>>,
    pub peak_mib: f64,
}

/// What the clients saw when MetalLB was replaced by ferrolb.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    /// The longest silence of the client on the segment (L2), in milliseconds.
    pub l2_ms: Option<f64>,
    /// The longest silence of the client behind the router (BGP), in milliseconds.
    pub bgp_ms: Option<f64>,
    /// Every Service kept the addresses MetalLB gave it.
    pub kept: bool,
    /// When ferrolb's speakers were all started, seconds after the first step.
    pub started_after: f64,
}

/// The migration part's VIPs.
const MIGRATION_L2_VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 201);
const MIGRATION_BGP_VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// How long the clients go on asking after ferrolb's speakers started:
/// enough for its BGP sessions and its first L2 election, with time to spare.
const MIGRATION_WATCH: Duration = Duration::from_secs(15);

/// The Nodes of the lab, as the topology numbers them.
fn node_name(i: usize) -> String {
    format!("bench-node{}", i + 1)
}

/// A Node object for each node of a three-node topology (a one-node
/// topology uses the first).
fn nodes() -> String {
    (0..3)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: {}}}\nstatus:\n  addresses: [{{type: InternalIP, address: \"198.51.100.{}\"}}]\n---\n",
                node_name(i),
                11 + i
            )
        })
        .collect()
}

/// Objects applied for one part, deleted when it ends: the parts share
/// ferrolb's namespace, and two BGPPeers for one router make a
/// configuration both MetalLB and ferrolb refuse.
struct Applied<'p> {
    plane: &'p ControlPlane,
    file: std::path::PathBuf,
}

impl<'p> Applied<'p> {
    fn new(plane: &'p ControlPlane, yaml: &str) -> anyhow::Result<Applied<'p>> {
        let file = plane.write_manifest(yaml)?;
        plane.kubectl(&["apply", "-f", &file.to_string_lossy()])?;
        Ok(Applied { plane, file })
    }
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        let file = self.file.to_string_lossy();
        if let Err(e) = self.plane.kubectl(&["delete", "--ignore-not-found", "--wait=false", "-f", &file]) {
            eprintln!("bench k8s: {e}");
        }
    }
}

/// What the parts share: the control plane, the tools, ferrolb's binary.
pub struct Bench<'a> {
    pub plane: &'a ControlPlane,
    pub tools: &'a GoTools,
    pub exe: &'a Path,
}

/// The speakers of one run, of one kind, stopped when dropped.
enum Speakers<'t> {
    Ferrolb { netns: Vec<&'t Netns>, pids: Vec<u32> },
    MetalLb(Vec<MetalLbSpeaker<'t>>),
}

impl Speakers<'_> {
    fn pids(&self) -> Vec<u32> {
        match self {
            Speakers::Ferrolb { pids, .. } => pids.clone(),
            Speakers::MetalLb(all) => all.iter().map(MetalLbSpeaker::pid).collect(),
        }
    }

    /// Fails if one has exited.
    fn ensure_running(&self) -> anyhow::Result<()> {
        let exited = match self {
            Speakers::Ferrolb { netns, pids } => netns
                .iter()
                .zip(pids)
                .find_map(|(n, &pid)| n.exit_status(pid).map(|s| (n.dir().to_owned(), s))),
            Speakers::MetalLb(all) => {
                all.iter().find_map(|s| s.exit_status().map(|e| (s.log().to_owned(), e)))
            }
        };
        match exited {
            Some((log, status)) => bail!("a speaker exited ({status}); see {}", log.display()),
            None => Ok(()),
        }
    }

    /// SIGKILLs the speaker of node `i`.
    fn kill(&self, i: usize) {
        match self {
            Speakers::Ferrolb { netns, pids } => {
                netns[i].kill(pids[i]);
            }
            Speakers::MetalLb(all) => all[i].kill(),
        }
    }
}

impl Drop for Speakers<'_> {
    fn drop(&mut self) {
        if let Speakers::Ferrolb { netns, pids } = self {
            for (n, pid) in netns.iter().zip(pids.iter()) {
                n.stop(*pid, Duration::from_secs(10));
            }
        }
    }
}

impl Bench<'_> {
    /// Starts a speaker of `implementation` on each of `topology`'s nodes, for
    /// the Services of `class`; `run` names their Pods.
    fn speakers<'t>(
        &self,
        topology: &'t Topology,
        implementation: Implementation,
        class: &str,
        run: &str,
    ) -> anyhow::Result<Speakers<'t>> {
        let pod = |i: usize| format!("{run}-{}-{}", implementation.name(), i + 1);
        let lb_class = format!("--lb-class={class}");
        match implementation {
            Implementation::Ferrolb => {
                let mut pids = Vec::new();
                for (i, node) in topology.nodes.iter().enumerate() {
                    let (name, node_name) = (pod(i), node_name(i));
                    let stand_in = StandInPod {
                        namespace: NAMESPACE,
                        name: &name,
                        service_account: "ferrolb-speaker",
                        node: &node_name,
                        image: "ghcr.io/ferrolb/ferrolb:latest",
                    };
                    let uid = stand_in.create(self.plane)?;
                    let mut c = node.netns.command(&self.exe.to_string_lossy());
                    c.args(["speaker", "--node", &node_name, &lb_class])
                        .env("KUBECONFIG", self.plane.admin_kubeconfig())
                        .env("POD_NAME", &name)
                        .env("POD_UID", uid)
                        .env("FERROLB_MEMBERLIST_SECRET", format!("ferrolb-lab-{run}"))
                        .env("RUST_LOG", "info");
                    pids.push(node.netns.spawn(c, &node.netns.dir().join(format!("speaker-{name}.log")))?);
                }
                Ok(Speakers::Ferrolb { netns: topology.nodes.iter().map(|n| &n.netns).collect(), pids })
            }
            Implementation::MetalLb => {
                let names: Vec<(String, String)> =
                    (0..topology.nodes.len()).map(|i| (pod(i), node_name(i))).collect();
                let args = [lb_class.as_str()];
                let spec = |i: usize| MetalLbSpeakerSpec {
                    namespace: NAMESPACE,
                    pod: &names[i].0,
                    node: &names[i].1,
                    ip: IpAddr::V4(topology.nodes[i].ipv4),
                    group: run,
                    args: &args,
                };
                // Every Pod has its address before any speaker looks for the others.
                for i in 0..topology.nodes.len() {
                    MetalLbSpeaker::prepare(self.plane, self.tools, &spec(i))?;
                }
                let all = (0..topology.nodes.len())
                    .map(|i| {
                        MetalLbSpeaker::start(self.plane, self.tools, &topology.nodes[i].netns, &spec(i))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Speakers::MetalLb(all))
            }
        }
    }

    /// Removes what the speakers of `run` left: their stand-in Pods (no
    /// garbage collector runs here) and the status objects on the lab's nodes.
    fn clean_after(&self, run: &str) -> anyhow::Result<()> {
        let pods = self.plane.kubectl(&["get", "pods", "-n", NAMESPACE, "-o", "name"])?;
        let ours: Vec<&str> = pods.lines().filter(|p| p.starts_with(&format!("pod/{run}-"))).collect();
        if !ours.is_empty() {
            let mut args = vec!["delete", "--ignore-not-found", "--wait=false", "-n", NAMESPACE];
            args.extend(ours);
            self.plane.kubectl(&args)?;
        }
        for i in 0..3 {
            let selector = format!("metallb.io/node={}", node_name(i));
            self.plane.kubectl_within(
                &[
                    "delete",
                    "servicel2statuses,servicebgpstatuses",
                    "-n",
                    NAMESPACE,
                    "-l",
                    &selector,
                    "--wait=false",
                ],
                Duration::from_secs(600),
            )?;
        }
        Ok(())
    }

    /// ferrolb's controller for the Services of `class` (both speakers
    /// announce what it assigned), until dropped.
    fn controller(&self, class: &str) -> anyhow::Result<HostProcess> {
        let mut c = Command::new(self.exe);
        c.args(["controller", "--no-leader-election", &format!("--lb-class={class}")])
            .env("KUBECONFIG", self.plane.admin_kubeconfig())
            .env("POD_NAME", "bench-speakers-controller");
        let log = self.plane.dir().join(format!("controller-{}.log", class.replace('/', "-")));
        Ok(HostProcess::spawn("bench-speakers-controller", c, &log)?)
    }

    /// Waits until `count` Services of `namespace` have an address.
    fn wait_assigned(
        &self,
        namespace: &str,
        count: usize,
        controller: &mut HostProcess,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let ips = self.plane.kubectl_within(
                &[
                    "get",
                    "services",
                    "-n",
                    namespace,
                    "-o",
                    "jsonpath={range .items[*]}{.status.loadBalancer.ingress[0].ip}{\"\\n\"}{end}",
                ],
                Duration::from_secs(120),
            )?;
            if ips.lines().filter(|l| !l.trim().is_empty()).count() >= count {
                return Ok(());
            }
            controller.ensure_running()?;
            if started.elapsed() > CAP {
                bail!("{count} Services of {namespace} not assigned within {} s", CAP.as_secs());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The BGP part, for each of `sizes` (ascending).
    pub fn bgp(&self, sizes: &[usize]) -> anyhow::Result<Vec<BgpRow>> {
        let (namespace, class) = ("bgp-speakers", "bench.ferrolb.io/bgp-speakers");
        self.plane.kubectl(&["create", "namespace", namespace])?;
        self.plane.apply(&nodes())?;
        let _configuration = Applied::new(self.plane, &bgp_configuration(namespace))?;
        let topology = Topology::new(1)?;
        let _frr = Frr::start(&topology.router, &topology.router_frr_config(ROUTER_ASN, NODE_ASN))?;
        let _relay = ApiRelay::start(&topology.nodes[0].netns, self.plane.port())?;
        let mut controller = self.controller(class)?;
        let mut rows = Vec::new();
        // One grouping for every size: the larger fills the pool, the
        // smaller is its first Services, and each size adds to the last.
        let per_address = sizes.iter().max().copied().unwrap_or(1).div_ceil(BGP_ADDRESSES);
        let mut created = 0;
        for &services in sizes {
            create_in_parallel(self.plane, created..services, |range| {
                bgp_services(namespace, class, per_address, range)
            })?;
            created = services;
            self.wait_assigned(namespace, services, &mut controller)?;
            let routes = services.div_ceil(per_address);
            let announced = |implementation| -> anyhow::Result<Announced> {
                let run = format!("bgp-{services}");
                let speakers = self.speakers(&topology, implementation, class, &run)?;
                let started = Instant::now();
                let secs = loop {
                    if vips_routed(&topology.router)? >= routes {
                        break Some(started.elapsed().as_secs_f64());
                    }
                    speakers.ensure_running()?;
                    if started.elapsed() > CAP {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                let peak_mib = Memory::of(speakers.pids()[0]).map_or(f64::NAN, |m| m.peak_mib);
                drop(speakers);
                let gone = Instant::now();
                while vips_routed(&topology.router)? > 0 && gone.elapsed() < Duration::from_secs(120) {
                    std::thread::sleep(Duration::from_millis(200));
                }
                self.clean_after(&run)?;
                let row = Announced { secs, peak_mib };
                println!(
                    "  bgp {services:>6} Services {routes:>4} routes  {:<8} {}",
                    implementation.name(),
                    describe_announced(&row)
                );
                Ok(row)
            };
            let ferrolb = announced(Implementation::Ferrolb)?;
            let metallb = announced(Implementation::MetalLb)?;
            rows.push(BgpRow { services, routes, ferrolb, metallb });
        }
        drop(controller);
        Ok(rows)
    }

    /// The L2 part: `runs` failovers of each speaker, taking turns.
    pub fn l2(&self, runs: usize) -> anyhow::Result<Vec<L2Row>> {
        let (namespace, class) = ("l2-speakers", "bench.ferrolb.io/l2-speakers");
        self.plane.kubectl(&["create", "namespace", namespace])?;
        self.plane.apply(&nodes())?;
        let _configuration = Applied::new(self.plane, &l2_configuration(namespace, class))?;
        let mut controller = self.controller(class)?;
        self.wait_assigned(namespace, 1, &mut controller)?;
        let mut rows: Vec<L2Row> = [Implementation::Ferrolb, Implementation::MetalLb]
            .into_iter()
            .flat_map(|implementation| {
                ["IPv4", "IPv6"].map(|family| L2Row {
                    implementation,
                    family,
                    outages_ms: Vec::new(),
                    peak_mib: 0.0,
                })
            })
            .collect();
        for run in 0..runs {
            for implementation in [Implementation::Ferrolb, Implementation::MetalLb] {
                let (outages, peak) = self.failover(implementation, class, &format!("l2-{run}"))?;
                let shown = |o: Option<f64>| {
                    o.map_or_else(
                        || format!("no takeover within {} s", TAKEOVER_CAP.as_secs()),
                        |ms| format!("{ms:.0} ms"),
                    )
                };
                println!(
                    "  l2 failover run {:>2}  {:<8} IPv4 {}, IPv6 {} (leader's peak {peak:.1} MiB)",
                    run + 1,
                    implementation.name(),
                    shown(outages[0]),
                    shown(outages[1])
                );
                for (row, outage) in
                    rows.iter_mut().filter(|r| r.implementation == implementation).zip(outages)
                {
                    row.outages_ms.push(outage);
                    row.peak_mib = row.peak_mib.max(peak);
                }
            }
        }
        drop(controller);
        Ok(rows)
    }

    /// One failover of three speakers of `implementation` in a fresh
    /// topology, under a client of each family asking the dual-stack
    /// Service: the outage each saw in milliseconds (`None`: capped), and
    /// the leader's peak memory.
    fn failover(
        &self,
        implementation: Implementation,
        class: &str,
        run: &str,
    ) -> anyhow::Result<([Option<f64>; 2], f64)> {
        let topology = Topology::new(3)?;
        let _relays = topology
            .nodes
            .iter()
            .map(|n| ApiRelay::start(&n.netns, self.plane.port()))
            .collect::<Result<Vec<_>, _>>()?;
        let vips = [IpAddr::V4(L2_VIP), IpAddr::V6(L2_VIP6)];
        for (i, node) in topology.nodes.iter().enumerate() {
            node.take_vip_traffic(&vips)?;
            outage::start_name_server(&node.netns, &node_name(i), PORT)?;
        }
        let speakers = self.speakers(&topology, implementation, class, run)?;
        let probers = vips
            .into_iter()
            .map(|vip| Prober::start(&topology.client, vip, PORT, INTERVAL))
            .collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        let leader = loop {
            speakers.ensure_running()?;
            let steady_on = probers
                .iter()
                .map(|p| Ok(steady(&p.answers()?, outage::now(), STEADY, INTERVAL)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            match steady_on.as_slice() {
                [Some(v4), Some(v6)] if v4 == v6 => break v4.clone(),
                [Some(v4), Some(v6)] => bail!("the Service's IPv4 is led by {v4}, its IPv6 by {v6}"),
                _ => {}
            }
            if started.elapsed() > CAP {
                bail!(
                    "no second of steady answers within {} s (logs in {})",
                    CAP.as_secs(),
                    topology.nodes[0].netns.dir().display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let index =
            (0..3).find(|&i| node_name(i) == leader).with_context(|| format!("unknown node {leader:?}"))?;
        let peak = Memory::of(speakers.pids()[index]).map_or(f64::NAN, |m| m.peak_mib);
        let failure = outage::now();
        topology.segment.netns().ip(&["link", "set", &topology.nodes[index].port, "down"])?;
        speakers.kill(index);
        let mut outages = [None, None];
        for (outage, prober) in outages.iter_mut().zip(probers) {
            let (seen, _) = outage_of_failover(prober, failure, &leader, TAKEOVER_CAP)?;
            *outage = seen.map(|o| o.duration.as_secs_f64() * 1000.0);
        }
        drop(speakers);
        self.clean_after(run)?;
        Ok((outages, peak))
    }
}

impl Bench<'_> {
    /// The migration part: MetalLB replaced by ferrolb under two clients.
    pub fn migration(&self) -> anyhow::Result<Migration> {
        let (namespace, class) = ("migration-speakers", "bench.ferrolb.io/migration-speakers");
        self.plane.kubectl(&["create", "namespace", namespace])?;
        self.plane.apply(&nodes())?;
        let _configuration = Applied::new(self.plane, &migration_configuration(namespace, class))?;
        let topology = Topology::new(3)?;
        let _frr = Frr::start(&topology.router, &topology.router_frr_config(ROUTER_ASN, NODE_ASN))?;
        let _relays = topology
            .nodes
            .iter()
            .map(|n| ApiRelay::start(&n.netns, self.plane.port()))
            .collect::<Result<Vec<_>, _>>()?;
        let vips = [IpAddr::V4(MIGRATION_L2_VIP), IpAddr::V4(MIGRATION_BGP_VIP)];
        for (i, node) in topology.nodes.iter().enumerate() {
            node.take_vip_traffic(&vips)?;
            outage::start_name_server(&node.netns, &node_name(i), PORT)?;
        }
        let lb_class = format!("--lb-class={class}");
        let mut metallb =
            MetalLbController::start(self.plane, self.tools, NAMESPACE, "metallb-migration", &[&lb_class])?;
        let speakers = self.speakers(&topology, Implementation::MetalLb, class, "migration")?;
        let l2 = Prober::start(&topology.client, vips[0], PORT, INTERVAL)?;
        let bgp = Prober::start(&topology.remote, vips[1], PORT, INTERVAL)?;
        let started = Instant::now();
        while steady(&l2.answers()?, outage::now(), STEADY, INTERVAL).is_none()
            || !answered_throughout(&bgp.answers()?, outage::now(), STEADY)
        {
            speakers.ensure_running()?;
            metallb.ensure_running()?;
            if started.elapsed() > CAP {
                bail!(
                    "MetalLB did not serve both VIPs within {} s (logs in {})",
                    CAP.as_secs(),
                    self.plane.dir().display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let before = addresses(self.plane, namespace)?;

        // Step 1: MetalLB stopped; step 2: ferrolb started.
        let failure = outage::now();
        let step = Instant::now();
        drop(speakers);
        metallb.stop(STOP_GRACE);
        drop(metallb);
        let _controller = self.controller(class)?;
        let ferrolb = self.speakers(&topology, Implementation::Ferrolb, class, "migration-ferrolb")?;
        let started_after = step.elapsed().as_secs_f64();
        let watch = Instant::now();
        while watch.elapsed() < MIGRATION_WATCH {
            ferrolb.ensure_running()?;
            std::thread::sleep(Duration::from_millis(100));
        }
        let (l2, bgp) = (l2.stop()?, bgp.stop()?);
        let after = addresses(self.plane, namespace)?;
        drop(ferrolb);
        self.clean_after("migration")?;
        let silence = |answers: &outage::Answers| {
            answers.outage_after(failure).map(|o| o.duration.as_secs_f64() * 1000.0)
        };
        Ok(Migration {
            l2_ms: silence(&l2),
            bgp_ms: silence(&bgp),
            kept: before == after && !before.is_empty(),
            started_after,
        })
    }
}

/// Whether nodes (any: the router spreads by ECMP) have answered since
/// before the last `window`, half the requests of it at least.
fn answered_throughout(answers: &outage::Answers, now: f64, window: Duration) -> bool {
    let since = now - window.as_secs_f64();
    let Some((first, _)) = answers.replies.first() else { return false };
    let recent = answers.replies.iter().filter(|(t, _)| *t > since).count() as f64;
    *first <= since && recent >= window.as_secs_f64() / INTERVAL.as_secs_f64() / 2.0
}

/// Each Service of `namespace` and its addresses, by name.
fn addresses(plane: &ControlPlane, namespace: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = plane.kubectl(&[
        "get",
        "services",
        "-n",
        namespace,
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.loadBalancer.ingress[*].ip}{\"\\n\"}{end}",
    ])?;
    let mut pairs: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(name, ips)| (name.to_owned(), ips.trim().to_owned())))
        .filter(|(_, ips)| !ips.is_empty())
        .collect();
    pairs.sort();
    Ok(pairs)
}

/// The migration part's pools, advertisements, peer and two Services with their EndpointSlices.
fn migration_configuration(namespace: &str, class: &str) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {namespace}-lan, namespace: {NAMESPACE}}}\n\
         spec:\n  addresses: [{MIGRATION_L2_VIP}/32]\n  serviceAllocation: {{namespaces: [{namespace}], serviceSelectors: [{{matchLabels: {{mode: l2}}}}]}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {namespace}-lan, namespace: {NAMESPACE}}}\n\
         spec:\n  ipAddressPools: [{namespace}-lan]\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {namespace}-routed, namespace: {NAMESPACE}}}\n\
         spec:\n  addresses: [{MIGRATION_BGP_VIP}/32]\n  serviceAllocation: {{namespaces: [{namespace}], serviceSelectors: [{{matchLabels: {{mode: bgp}}}}]}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {namespace}-routed, namespace: {NAMESPACE}}}\n\
         spec:\n  ipAddressPools: [{namespace}-routed]\n---\n\
         apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  myASN: {NODE_ASN}\n  peerASN: {ROUTER_ASN}\n  peerAddress: {}\n---\n",
        ferrolb_lab::ROUTER_V4
    );
    for (name, mode) in [("web-l2", "l2"), ("web-bgp", "bgp")] {
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}, labels: {{mode: {mode}}}}}\n\
             spec:\n  type: LoadBalancer\n  loadBalancerClass: {class}\n  allocateLoadBalancerNodePorts: false\n  \
             ports: [{{port: {PORT}, protocol: UDP}}]\n---\n"
        );
        for i in 0..3 {
            out.push_str(
                &endpoint_slice(namespace, name, usize::from(PORT), "UDP", &node_name(i))
                    .replace(&format!("name: {name}-a\n"), &format!("name: {name}-{i}\n")),
            );
        }
    }
    out
}

/// The migration's line.
pub fn render_migration(m: &Migration) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "no answer after".to_owned(), |v| format!("{v:.0} ms"));
    format!(
        "L2 client: longest silence {}\nBGP client: longest silence {}\naddresses kept: {}\n\
         ferrolb's controller and speakers all started {:.2} s after MetalLB's were told to stop\n\
         silence: from the last answer before to the first after, over {} s from the first step\n",
        ms(m.l2_ms),
        ms(m.bgp_ms),
        if m.kept { "every Service" } else { "NO: an address changed" },
        m.started_after,
        MIGRATION_WATCH.as_secs()
    )
}

/// The addresses of the BGP pool, as numbers.
fn pool_range() -> std::ops::Range<u32> {
    let first = u32::from(BGP_FIRST);
    first..first + BGP_ADDRESSES as u32
}

/// How many VIPs of the BGP pool the router's kernel routes (by BGP).
fn vips_routed(router: &Netns) -> anyhow::Result<usize> {
    bgp_routes_within(router, pool_range())
}

/// The BGP part's pool, advertisement and peer (the router), in ferrolb's namespace.
fn bgp_configuration(namespace: &str) -> String {
    let last = Ipv4Addr::from(u32::from(BGP_FIRST) + BGP_ADDRESSES as u32 - 1);
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  addresses: [{BGP_FIRST}-{last}]\n  serviceAllocation: {{namespaces: [{namespace}]}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  ipAddressPools: [{namespace}]\n---\n\
         apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  myASN: {NODE_ASN}\n  peerASN: {ROUTER_ASN}\n  peerAddress: {}\n",
        ferrolb_lab::ROUTER_V4
    )
}

/// Services `range` of the BGP part, `per_address` to an address (a key
/// and a port each), each with its EndpointSlice.
fn bgp_services(namespace: &str, class: &str, per_address: usize, range: std::ops::Range<usize>) -> String {
    let mut out = String::new();
    for i in range {
        let (key, port) = (i / per_address, 1000 + i % per_address);
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i:05}\n  namespace: {namespace}\n  \
             annotations: {{metallb.io/allow-shared-ip: group-{key}}}\nspec:\n  type: LoadBalancer\n  \
             loadBalancerClass: {class}\n  allocateLoadBalancerNodePorts: false\n  \
             ports: [{{port: {port}, protocol: TCP}}]\n---\n{}",
            endpoint_slice(namespace, &format!("svc-{i:05}"), port, "TCP", &node_name(0))
        );
    }
    out
}

/// An EndpointSlice of Service `service` with one ready endpoint on
/// `node`, as the EndpointSlice controller would make it (none runs here).
fn endpoint_slice(namespace: &str, service: &str, port: usize, protocol: &str, node: &str) -> String {
    family_slice(namespace, service, port, protocol, node, "IPv4")
}

/// [`endpoint_slice`] of addresses of `family` (`IPv4`, `IPv6`): a
/// dual-stack Service has one of each.
fn family_slice(
    namespace: &str,
    service: &str,
    port: usize,
    protocol: &str,
    node: &str,
    family: &str,
) -> String {
    let (suffix, address) = match family {
        "IPv6" => ("b", "2001:db8:2::50"),
        _ => ("a", "203.0.113.50"),
    };
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}-{suffix}\n  \
         namespace: {namespace}\n  labels: {{kubernetes.io/service-name: {service}}}\naddressType: {family}\n\
         ports: [{{port: {port}, protocol: {protocol}}}]\nendpoints:\n- addresses: [\"{address}\"]\n  \
         conditions: {{ready: true, serving: true, terminating: false}}\n  nodeName: {node}\n---\n"
    )
}

/// The L2 part's pool, advertisement and dual-stack Service (UDP, the name servers' port).
fn l2_configuration(namespace: &str, class: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  addresses: [{L2_VIP}/32, {L2_VIP6}/128]\n  serviceAllocation: {{namespaces: [{namespace}]}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {namespace}, namespace: {NAMESPACE}}}\n\
         spec:\n  ipAddressPools: [{namespace}]\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: echo, namespace: {namespace}}}\nspec:\n  type: LoadBalancer\n  \
         loadBalancerClass: {class}\n  allocateLoadBalancerNodePorts: false\n  ipFamilyPolicy: RequireDualStack\n  \
         ipFamilies: [IPv4, IPv6]\n  ports: [{{port: {PORT}, protocol: UDP}}]\n---\n{}{}",
        family_slice(namespace, "echo", usize::from(PORT), "UDP", &node_name(0), "IPv4"),
        family_slice(namespace, "echo", usize::from(PORT), "UDP", &node_name(0), "IPv6")
    )
}

fn describe_announced(row: &Announced) -> String {
    let time = row.secs.map_or_else(|| format!("not within {} s", CAP.as_secs()), |s| format!("{s:.2} s"));
    format!("{time}, peak {:.1} MiB", row.peak_mib)
}

/// A ratio ferrolb / MetalLB, or `n/a`.
fn ratio(ferrolb: Option<f64>, metallb: Option<f64>) -> String {
    match (ferrolb, metallb) {
        (Some(f), Some(m)) if m > 0.0 && f.is_finite() && m.is_finite() => format!("{:.2}", f / m),
        _ => "n/a".to_owned(),
    }
}

/// The BGP table.
pub fn render_bgp(rows: &[BgpRow]) -> String {
    let mut out = format!(
        "{:>8} {:>6} {:>12} {:>12} {:>6} {:>13} {:>13} {:>6}\n",
        "services",
        "routes",
        "ferrolb (s)",
        "MetalLB (s)",
        "ratio",
        "ferrolb (MiB)",
        "MetalLB (MiB)",
        "ratio"
    );
    let time = |a: &Announced| a.secs.map_or_else(|| "capped".to_owned(), |s| format!("{s:.2}"));
    for row in rows {
        let (f, m) = (&row.ferrolb, &row.metallb);
        let _ = writeln!(
            out,
            "{:>8} {:>6} {:>12} {:>12} {:>6} {:>13.1} {:>13.1} {:>6}",
            row.services,
            row.routes,
            time(f),
            time(m),
            ratio(f.secs, m.secs),
            f.peak_mib,
            m.peak_mib,
            ratio(Some(f.peak_mib), Some(m.peak_mib))
        );
    }
    out.push_str(
        "s: speaker start to FRR's kernel holding every VIP (Services share addresses, a port each);\n",
    );
    out.push_str("MiB: the speaker's peak resident memory (VmHWM); ratio: ferrolb / MetalLB\n");
    out
}

/// The median of the runs that took over; `None` when none did.
fn median(values: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The L2 failover table: a line per speaker and family, a ratio per family.
pub fn render_l2(rows: &[L2Row]) -> String {
    let mut out = format!(
        "{:<8} {:<6} {:>11} {:>8} {:>8} {:>8} {:>10}\n",
        "speaker", "family", "median (ms)", "min", "max", "capped", "peak (MiB)"
    );
    for row in rows {
        let taken: Vec<f64> = row.outages_ms.iter().flatten().copied().collect();
        let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "{:<8} {:<6} {:>11} {:>8} {:>8} {:>8} {:>10.1}",
            row.implementation.name(),
            row.family,
            show(median(&row.outages_ms)),
            show(taken.iter().copied().reduce(f64::min)),
            show(taken.iter().copied().reduce(f64::max)),
            row.outages_ms.iter().filter(|o| o.is_none()).count(),
            row.peak_mib
        );
    }
    for family in ["IPv4", "IPv6"] {
        let of = |implementation| {
            rows.iter()
                .find(|r| r.implementation == implementation && r.family == family)
                .and_then(|r| median(&r.outages_ms))
        };
        let ratio = ratio(of(Implementation::Ferrolb), of(Implementation::MetalLb));
        let _ = writeln!(out, "ratio of medians, {family} (ferrolb / MetalLB): {ratio}");
    }
    let _ = writeln!(
        out,
        "outage: a client's longest silence after the leader's link went down and its speaker was killed\n\
         (one dual-stack Service: an IPv4 client by ARP, an IPv6 client by NDP); capped: no other node\n\
         answered within {} s",
        TAKEOVER_CAP.as_secs()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::bench_bgp::count_within;
    use super::*;

    #[test]
    fn services_share_an_address_in_groups_each_on_its_own_port() {
        let yaml = bgp_services("ns", "bench.ferrolb.io/ns", 4, 0..8);
        let (snapshot, problems) = ferrolb_api::load::load_str("bgp.yaml", &yaml);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(snapshot.services.len(), 8);
        assert_eq!(yaml.matches("allow-shared-ip: group-1}").count(), 4);
        assert_eq!(yaml.matches("kind: EndpointSlice").count(), 8);
        // Services 3 and 7 (a Service and its EndpointSlice each).
        assert_eq!(yaml.matches("port: 1003,").count(), 4);
    }

    #[test]
    fn the_configurations_read_cleanly() {
        for yaml in [bgp_configuration("ns"), l2_configuration("ns", "bench.ferrolb.io/ns"), nodes()] {
            let (_, problems) = ferrolb_api::load::load_str("configuration.yaml", &yaml);
            assert!(problems.is_empty(), "{problems:?}\n{yaml}");
        }
    }

    #[test]
    fn only_the_pool_s_routes_are_counted() {
        let routes = "192.0.2.1 nhid 12 via 198.51.100.11 dev eth0 proto bgp metric 20\n\
                      192.0.2.254 via 198.51.100.11 dev eth0 proto bgp metric 20\n\
                      203.0.113.7 via 198.51.100.11 dev eth0 proto bgp metric 20\n";
        assert_eq!(count_within(routes, pool_range()), 2);
    }

    #[test]
    fn tables_give_ratios_and_say_what_was_capped() {
        let bgp = render_bgp(&[BgpRow {
            services: 1000,
            routes: 250,
            ferrolb: Announced { secs: Some(1.0), peak_mib: 10.0 },
            metallb: Announced { secs: None, peak_mib: 40.0 },
        }]);
        let line = bgp.lines().nth(1).unwrap();
        assert!(line.contains("capped") && line.contains("n/a") && line.contains("0.25"), "{line}");
        let row = |implementation, family, outages_ms: Vec<Option<f64>>| L2Row {
            implementation,
            family,
            outages_ms,
            peak_mib: 9.0,
        };
        let l2 = render_l2(&[
            row(Implementation::Ferrolb, "IPv4", vec![Some(100.0), Some(300.0)]),
            row(Implementation::Ferrolb, "IPv6", vec![Some(100.0), Some(100.0)]),
            row(Implementation::MetalLb, "IPv4", vec![Some(800.0), None]),
            row(Implementation::MetalLb, "IPv6", vec![Some(1000.0), Some(1000.0)]),
        ]);
        assert!(l2.contains("ratio of medians, IPv4 (ferrolb / MetalLB): 0.25"), "{l2}");
        assert!(l2.contains("ratio of medians, IPv6 (ferrolb / MetalLB): 0.10"), "{l2}");
        assert!(l2.lines().nth(3).unwrap().contains("     1 "), "{l2}");
    }
}
