//! The upgrade benchmark: requests lost while every node restarts its BGP
//! speaker in turn, with and without graceful restart (RFC 4724), ferrolb
//! against BIRD in the same run.
//!
//! ```text
//!  ┌─ remote ───────────┐   ┌─ router ──────────────────────────┐  ┌─ node1 ────────┐  ┌─ node2 ────────┐
//!  │ 203.0.113.2        ├───┤ FRR, AS 64513, bgp graceful-restart├──┤ .11 speaker    │  │ .12 speaker    │
//!  │ a numbered UDP     │   │ kernel: 192.0.2.10 via .11, .12   │  │ sink :9100     │  │ sink :9100     │
//!  │ datagram / 10 ms   │   └───────────────┬───────────────────┘  └───────┬────────┘  └───────┬────────┘
//!  └────────────────────┘   ┌───────────────┴──────────────────────────────┴───────────────────┴────────┐
//!                           │ br0: 198.51.100.0/24                                                    │
//!                           └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Both nodes announce the VIP, so the router has one route with two
//! nexthops. A client behind the router sends a datagram carrying its
//! sequence number to the VIP every 10 ms; each node counts what reaches it.
//! Then node1's speaker restarts, and once the router has both paths again
//! (neither stale), node2's. A request is lost when the router has no route
//! for it, or sends it to a node that no longer accepts the VIP.
//!
//! The cases, each in a fresh lab per run, taking turns within each run:
//! - ferrolb, graceful restart: `enableGracefulRestart`, SIGUSR2 (the session
//!   closes without a NOTIFICATION, the VIP stays accepted), a new process;
//! - ferrolb, stop and start: SIGTERM (Cease, the host lets the VIP go), a new process;
//! - BIRD 2, graceful restart: `graceful restart on`, `birdc graceful restart`, `bird -R`;
//! - BIRD 2, stop and start: SIGTERM, `bird`. BIRD leaves the node's route
//!   for the VIP alone (it is the node's, as kube-proxy's would be).
//!
//! The restart time is from the signal until the router routes the VIP via
//! both nodes again with no stale path. No timing is asserted anywhere: the
//! table says whether ferrolb's graceful restart lost nothing.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::traffic::{Loss, Sink, Stream};
use ferrolb_lab::{Bird, BirdConfig, Frr, ROUTER_V4, STOP_GRACE, Topology};

use super::bench_l2::median;

/// The router's ASN.
const ROUTER_ASN: u32 = 64513;
/// Both nodes' ASN: the same AS path, so the two paths tie for ECMP.
const NODE_ASN: u32 = 64512;
/// The VIP both nodes announce.
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The port the nodes count datagrams on.
const PORT: u16 = 9100;
/// How often the client sends.
const EVERY: Duration = Duration::from_millis(10);
/// How long the lab gets to bring the sessions and the ECMP route up (again).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Steady traffic before the first restart and after each.
const STEADY: Duration = Duration::from_millis(500);

/// Arguments of `ferrolb lab bench graceful-restart`.
#[derive(clap::Args)]
pub struct Args {
    /// Rounds of restarts per case, each in a fresh lab.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// What the nodes run, and how they restart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    FerrolbGraceful,
    FerrolbPlain,
    BirdGraceful,
    BirdPlain,
}

const CASES: [Case; 4] = [Case::FerrolbGraceful, Case::FerrolbPlain, Case::BirdGraceful, Case::BirdPlain];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::FerrolbGraceful => "ferrolb, graceful restart (SIGUSR2)",
            Case::FerrolbPlain => "ferrolb, stop and start (SIGTERM)",
            Case::BirdGraceful => "BIRD 2, graceful restart (birdc graceful restart, bird -R)",
            Case::BirdPlain => "BIRD 2, stop and start (SIGTERM)",
        }
    }

    fn graceful(self) -> bool {
        matches!(self, Case::FerrolbGraceful | Case::BirdGraceful)
    }
}

/// One round: every node restarted in turn under traffic.
#[derive(Clone, Debug)]
struct Round {
    loss: Loss,
    /// From each restart's signal until both paths were back, in milliseconds.
    restarts_ms: Vec<f64>,
}

/// Runs every case `runs` times; prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(reason) = ferrolb_lab::missing_requirements(&[
        "ip",
        "/usr/lib/frr/zebra",
        "/usr/lib/frr/bgpd",
        "vtysh",
        "bird",
        "birdc",
    ]) {
        anyhow::bail!("the graceful restart benchmark cannot run here: {reason}");
    }
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let mut rounds: Vec<(Case, Vec<Round>)> = CASES.iter().map(|&case| (case, Vec::new())).collect();
    for run in 1..=args.runs {
        for (case, done) in &mut rounds {
            eprint!("bench graceful-restart: {} (run {run}/{})… ", case.name(), args.runs);
            let round = measure(&exe, *case).with_context(|| format!("{} run {run}", case.name()))?;
            eprintln!("{}", round.loss);
            done.push(round);
        }
    }
    println!("{}", render(&rounds));
    Ok(ExitCode::SUCCESS)
}

/// The speakers of one round.
enum Speakers {
    /// The pid of `ferrolb run` on each node.
    Ferrolb(Vec<u32>),
    Bird(Vec<Bird>),
}

/// One round's lab; dropped in this order: speakers, FRR, the namespaces.
struct Lab {
    speakers: Speakers,
    frr: Frr,
    topology: Topology,
    exe: PathBuf,
    cluster: String,
}

impl Lab {
    fn start(exe: &Path, case: Case) -> anyhow::Result<Lab> {
        let topology = Topology::new(2)?;
        let mut config = topology.router_frr_config(ROUTER_ASN, NODE_ASN);
        config.extra = format!("router bgp {ROUTER_ASN}\n bgp graceful-restart\n!\n");
        let frr = Frr::start(&topology.router, &config)?;
        let nodes: Vec<Ipv4Addr> = topology.nodes.iter().map(|n| n.ipv4).collect();
        let cluster = cluster(&nodes, case.graceful());
        let mut lab =
            Lab { speakers: Speakers::Ferrolb(Vec::new()), frr, topology, exe: exe.to_owned(), cluster };
        lab.speakers = match case {
            Case::BirdGraceful | Case::BirdPlain => {
                let mut all = Vec::new();
                for node in &lab.topology.nodes {
                    // The node takes the VIP's traffic whatever BIRD does, as with kube-proxy.
                    node.take_vip_traffic(&[VIP.into()])?;
                    let mut config =
                        BirdConfig::new(NODE_ASN, node.ipv4).neighbor(ROUTER_V4.into(), ROUTER_ASN);
                    config.static_routes = vec![format!("{VIP}/32")];
                    config.graceful_restart = case.graceful();
                    all.push(Bird::start(&node.netns, &config)?);
                }
                Speakers::Bird(all)
            }
            Case::FerrolbGraceful | Case::FerrolbPlain => {
                Speakers::Ferrolb((0..2).map(|i| lab.start_ferrolb(i)).collect::<anyhow::Result<_>>()?)
            }
        };
        Ok(lab)
    }

    /// `ferrolb run` on node `i`; its pid.
    fn start_ferrolb(&self, i: usize) -> anyhow::Result<u32> {
        let node = &self.topology.nodes[i].netns;
        let path = node.dir().join("cluster.yaml");
        std::fs::write(&path, &self.cluster)?;
        let mut c = node.command(&self.exe.to_string_lossy());
        c.args(["run", "--node", &format!("node{}", i + 1), "--config"])
            .arg(&path)
            .arg("--state-dir")
            .arg(node.dir().join("state"))
            .env("RUST_LOG", "info");
        // One log per process: the next one must not truncate the last one's.
        let log = node.dir().join(format!("ferrolb-{}.log", unique_suffix()));
        Ok(node.spawn(c, &log)?)
    }

    /// The router routes the VIP via both nodes, and holds no stale path.
    fn ready(&self) -> anyhow::Result<bool> {
        let route = self.topology.router.route(&format!("{VIP}/32"))?;
        let mut gateways = route.map(|r| r.gateways()).unwrap_or_default();
        gateways.sort();
        let mut want: Vec<String> = self.topology.nodes.iter().map(|n| n.ipv4.to_string()).collect();
        want.sort();
        if gateways != want {
            return Ok(false);
        }
        Ok(self.frr.stale(&VIP.to_string())? == Some(false))
    }

    fn wait_ready(&self, what: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        while !self.ready()? {
            anyhow::ensure!(
                start.elapsed() < SETUP_TIMEOUT,
                "the router did not route the VIP via both nodes, none stale, {what} within {} s (FRR in {})",
                SETUP_TIMEOUT.as_secs(),
                self.frr.dir().display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Restarts node `i`'s speaker as `case` says.
    fn restart(&mut self, i: usize, case: Case) -> anyhow::Result<()> {
        match case {
            Case::FerrolbGraceful | Case::FerrolbPlain => {
                let signal = if case.graceful() { "-USR2" } else { "-TERM" };
                let Speakers::Ferrolb(pids) = &self.speakers else { unreachable!("a ferrolb case") };
                self.topology.nodes[i].netns.stop_with(pids[i], signal, STOP_GRACE);
                let pid = self.start_ferrolb(i)?;
                if let Speakers::Ferrolb(pids) = &mut self.speakers {
                    pids[i] = pid;
                }
            }
            Case::BirdGraceful => {
                let Speakers::Bird(all) = &mut self.speakers else { unreachable!("a BIRD case") };
                all[i].graceful_restart()?;
            }
            Case::BirdPlain => {
                let Speakers::Bird(all) = &mut self.speakers else { unreachable!("a BIRD case") };
                all[i].restart()?;
            }
        }
        Ok(())
    }
}

/// A suffix that tells the processes of one round apart.
fn unique_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// One round of `case` in a fresh lab.
fn measure(exe: &Path, case: Case) -> anyhow::Result<Round> {
    let mut lab = Lab::start(exe, case)?;
    lab.wait_ready("at start")?;
    let sinks: Vec<Sink> =
        lab.topology.nodes.iter().map(|n| Sink::bind(&n.netns, PORT)).collect::<Result<_, _>>()?;
    let stream = Stream::start(&lab.topology.remote, SocketAddr::from((VIP, PORT)), EVERY)?;
    std::thread::sleep(STEADY);
    let mut restarts_ms = Vec::new();
    for i in 0..lab.topology.nodes.len() {
        let start = Instant::now();
        lab.restart(i, case)?;
        lab.wait_ready(&format!("after node{} restarted", i + 1))?;
        restarts_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(STEADY);
    }
    let sent = stream.stop();
    // The last datagrams are in flight for a moment.
    std::thread::sleep(Duration::from_millis(100));
    let received = sinks.into_iter().flat_map(Sink::received).collect();
    Ok(Round { loss: Loss::of(sent, &received), restarts_ms })
}

/// The cluster file: a pool holding the VIP, the router as BGPPeer (with
/// `enableGracefulRestart` for the graceful case), a BGPAdvertisement, the
/// Nodes and one Service.
fn cluster(nodes: &[Ipv4Addr], graceful: bool) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: vip}}\nspec:\n  addresses: [{VIP}/32]\n---\n\
         apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: router}}\nspec: {{myASN: {NODE_ASN}, peerASN: {ROUTER_ASN}, peerAddress: {ROUTER_V4}, enableGracefulRestart: {graceful}}}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: all}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n"
    );
    for (i, ip) in nodes.iter().enumerate() {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {ip}}}]\n",
            i + 1
        );
    }
    out
}

fn render(rounds: &[(Case, Vec<Round>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Requests lost (a numbered UDP datagram to the BGP VIP every {} ms, from behind the router) while\n\
         each of two ECMP nodes restarts its speaker in turn; a fresh lab per run.\n\
         restart: from the signal until the router routes the VIP via both nodes again, none stale (median).",
        EVERY.as_millis()
    );
    let _ = writeln!(
        out,
        "{:<60} {:>4}  {:>10}  {:>9}  {:>9}  {:>13}  {:>12}",
        "case", "runs", "sent", "lost", "max lost", "longest (ms)", "restart (ms)"
    );
    for (case, done) in rounds {
        let lost: Vec<f64> = done.iter().map(|r| r.loss.lost as f64).collect();
        let sent: Vec<f64> = done.iter().map(|r| r.loss.sent as f64).collect();
        let gap = done.iter().map(|r| r.loss.longest_gap).max().unwrap_or(0);
        let restarts: Vec<f64> = done.iter().flat_map(|r| r.restarts_ms.iter().copied()).collect();
        let _ = writeln!(
            out,
            "{:<60} {:>4}  {:>10.0}  {:>9.0}  {:>9.0}  {:>13}  {:>12.0}",
            case.name(),
            done.len(),
            median(&sent),
            median(&lost),
            lost.iter().copied().fold(0.0, f64::max),
            gap * EVERY.as_millis() as u64,
            median(&restarts),
        );
    }
    let ferrolb = rounds.iter().find(|(c, _)| *c == Case::FerrolbGraceful);
    if let Some((_, done)) = ferrolb {
        let none = done.iter().all(|r| r.loss.lost == 0);
        let _ = writeln!(
            out,
            "Goal (issue 18): ferrolb's graceful restart loses no request: {}",
            if none { "met" } else { "not met" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_asks_for_graceful_restart_only_in_the_graceful_case() {
        let nodes = [Ipv4Addr::new(198, 51, 100, 11), Ipv4Addr::new(198, 51, 100, 12)];
        for graceful in [true, false] {
            let (snapshot, diagnostics) =
                ferrolb_api::load::load_str("bench.yaml", &cluster(&nodes, graceful));
            let (config, broken) = ferrolb_api::validate::validated(&snapshot, &Default::default());
            assert!(!diagnostics.iter().chain(&broken).any(ferrolb_api::Diagnostic::is_error), "{broken:?}");
            assert_eq!(config.peer("router").unwrap().graceful_restart, graceful);
            assert_eq!(snapshot.nodes.len(), 2);
        }
    }

    #[test]
    fn the_table_gives_each_case_and_says_whether_nothing_was_lost() {
        let round = |lost, gap| Round {
            loss: Loss { sent: 300, lost, longest_gap: gap },
            restarts_ms: vec![900.0, 1100.0],
        };
        let text = render(&[
            (Case::FerrolbGraceful, vec![round(0, 0), round(0, 0)]),
            (Case::FerrolbPlain, vec![round(7, 4), round(9, 5)]),
        ]);
        assert!(text.contains("ferrolb, graceful restart (SIGUSR2)"), "{text}");
        assert!(
            text.contains("2         300          0          0              0          1000\n"),
            "{text}"
        );
        assert!(
            text.contains("2         300          8          9             50          1000\n"),
            "{text}"
        );
        assert!(text.contains("loses no request: met"), "{text}");
        let text = render(&[(Case::FerrolbGraceful, vec![round(1, 1)])]);
        assert!(text.contains("loses no request: not met"), "{text}");
    }
}
