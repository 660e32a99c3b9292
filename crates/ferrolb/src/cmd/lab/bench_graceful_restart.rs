//! The upgrade benchmark: requests lost while every node restarts its BGP
//! speaker in turn, with and without graceful restart (RFC 4724), ferrolb
//! against BIRD in the same run.
//!
//! ```text
//!  ┌─ remote ───────────┐   ┌─ router ──────────────────────────┐  ┌─ node1 ────────┐  ┌─ node2 ────────┐
//!  │ 203.0.113.2        ├───┤ FRR, AS 64513, bgp graceful-restart├──┤ .11 speaker    │  │ .12 speaker    │
//!  │ 2001:db8:2::2      │   │ kernel: 192.0.2.10 via .11, .12   │  │ sinks :9100-1  │  │ sinks :9100-1  │
//!  │ a numbered UDP     │   │   2001:db8:10::10 via ::11, ::12  │  └───────┬────────┘  └───────┬────────┘
//!  │ datagram / 10 ms   │   └───────────────┬───────────────────┘          │                   │
//!  └────────────────────┘   ┌───────────────┴──────────────────────────────┴───────────────────┴────────┐
//!                           │ br0: 198.51.100.0/24, 2001:db8:100::/64                                  │
//!                           └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Both nodes announce the VIPs, so the router has one route per VIP with
//! two nexthops. A client behind the router sends a datagram carrying its
//! sequence number to each VIP every 10 ms; each node counts what reaches it.
//! Then node1's speaker restarts, and once the router has both paths again
//! (neither stale), node2's. A request is lost when the router has no route
//! for it, or sends it to a node that no longer accepts the VIP.
//!
//! Every shape a user has ([`Shape`]): an IPv4 Service announced over IPv4
//! sessions, an IPv6 one over IPv6 sessions, and a dual-stack Service with
//! one session per family.
//!
//! The cases, each in a fresh lab per run, taking turns within each run:
//! - ferrolb, graceful restart: `enableGracefulRestart`, SIGUSR2 (the session
//!   closes without a NOTIFICATION, the VIP stays accepted), a new process;
//! - ferrolb, stop and start: SIGTERM (Cease, the host lets the VIP go), a new process;
//! - BIRD 2, graceful restart: `graceful restart on`, `birdc graceful restart`, `bird -R`;
//! - BIRD 2, stop and start: SIGTERM, `bird`. BIRD leaves the node's route
//!   for the VIP alone (it is the node's, as kube-proxy's would be).
//!
//! The restart time is from the signal until the router has the restarted
//! node's sessions Established again (counted, so that the state before the
//! router heard of the stop is not taken for the end) and routes the VIPs via
//! both nodes with no stale path. No timing is asserted anywhere: the
//! table says whether ferrolb's graceful restart lost nothing.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::traffic::{Flows, Loss};
use ferrolb_lab::{Bird, Frr, STOP_GRACE, Topology};

use super::bench_l2::median;
use super::bgp_shape::{ROUTER_ASN, Shape};
use super::progress::Progress;

/// The port the nodes count datagrams on (the first VIP's; the next one's is the next port).
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
    /// Rounds of restarts per case and shape, each in a fresh lab.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The shapes to measure (all by default).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Shape::ALL)]
    shape: Vec<Shape>,
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
    super::require(
        "the graceful restart benchmark",
        &["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "bird", "birdc"],
    )?;
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let mut rounds: Vec<(Shape, Case, Vec<Round>)> = args
        .shape
        .iter()
        .flat_map(|&shape| CASES.iter().map(move |&case| (shape, case, Vec::new())))
        .collect();
    let progress = Progress::new("graceful-restart", args.runs * rounds.len());
    for run in 1..=args.runs {
        for (shape, case, done) in &mut rounds {
            progress.start(&format!("{shape}, {} (run {run}/{})", case.name(), args.runs));
            let round = measure(&exe, *shape, *case)
                .with_context(|| format!("{shape}, {} run {run}", case.name()))?;
            progress.done(&round.loss.to_string());
            done.push(round);
        }
    }
    drop(progress);
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
    shape: Shape,
    exe: PathBuf,
    cluster: String,
}

impl Lab {
    fn start(exe: &Path, shape: Shape, case: Case) -> anyhow::Result<Lab> {
        let topology = Topology::new(2)?;
        let mut config = shape.router_config(&topology.nodes);
        config.extra = format!("router bgp {ROUTER_ASN}\n bgp graceful-restart\n!\n");
        let frr = Frr::start(&topology.router, &config)?;
        let nodes: Vec<(Ipv4Addr, Ipv6Addr)> = topology.nodes.iter().map(|n| (n.ipv4, n.ipv6)).collect();
        let cluster = shape.cluster(&nodes, &format!(", enableGracefulRestart: {}", case.graceful()));
        let speakers = Speakers::Ferrolb(Vec::new());
        let mut lab = Lab { speakers, frr, topology, shape, exe: exe.to_owned(), cluster };
        lab.speakers = match case {
            Case::BirdGraceful | Case::BirdPlain => {
                let mut all = Vec::new();
                for node in &lab.topology.nodes {
                    // The node takes the VIPs' traffic whatever BIRD does, as with kube-proxy.
                    node.take_vip_traffic(&shape.vips())?;
                    let mut config = shape.bird_config(node);
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

    /// The router routes every VIP via both nodes, and holds no stale path.
    fn ready(&self) -> anyhow::Result<bool> {
        for vip in self.shape.vips() {
            let route = self.topology.router.route(&vip.to_string())?;
            // Counted, not named: over IPv6 BIRD's next hop is the node's link-local address.
            let mut gateways = route.map(|r| r.gateways()).unwrap_or_default();
            gateways.sort();
            gateways.dedup();
            if gateways.len() != self.topology.nodes.len() || self.frr.stale(&vip.to_string())? != Some(false)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// How many times each of node `i`'s sessions has been Established.
    fn established_counts(&self, i: usize) -> anyhow::Result<Vec<u64>> {
        self.shape
            .sessions_of(&self.topology.nodes[i])
            .into_iter()
            .map(|n| {
                self.frr.established_count(n)?.with_context(|| format!("FRR does not know neighbor {n}"))
            })
            .collect()
    }

    /// Waits until every session of node `i` has been Established more times than `before`
    /// says, and the router routes every VIP via both nodes, none stale.
    fn wait_back(&self, i: usize, before: &[u64]) -> anyhow::Result<()> {
        let start = Instant::now();
        while self.established_counts(i)?.iter().zip(before).any(|(now, then)| now <= then) {
            anyhow::ensure!(
                start.elapsed() < SETUP_TIMEOUT,
                "node{}'s sessions were not Established again within {} s (FRR in {})",
                i + 1,
                SETUP_TIMEOUT.as_secs(),
                self.frr.dir().display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_ready(&format!("after node{} restarted", i + 1))
    }

    fn wait_ready(&self, what: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        while !self.ready()? {
            anyhow::ensure!(
                start.elapsed() < SETUP_TIMEOUT,
                "the router did not route the VIPs via both nodes, none stale, {what} within {} s (FRR in {})",
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

/// One round of `case` on `shape` in a fresh lab.
fn measure(exe: &Path, shape: Shape, case: Case) -> anyhow::Result<Round> {
    let mut lab = Lab::start(exe, shape, case)?;
    lab.wait_ready("at start")?;
    let nodes: Vec<_> = lab.topology.nodes.iter().map(|n| &n.netns).collect();
    let flows = Flows::start(&lab.topology.remote, &shape.vips(), PORT, &nodes, EVERY)?;
    std::thread::sleep(STEADY);
    let mut restarts_ms = Vec::new();
    for i in 0..lab.topology.nodes.len() {
        let before = lab.established_counts(i)?;
        let start = Instant::now();
        lab.restart(i, case)?;
        lab.wait_back(i, &before)?;
        restarts_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(STEADY);
    }
    Ok(Round { loss: flows.stop(), restarts_ms })
}

fn render(rounds: &[(Shape, Case, Vec<Round>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Requests lost (a numbered UDP datagram to each BGP VIP every {} ms, from behind the router) while\n\
         each of two ECMP nodes restarts its speaker in turn; a fresh lab per run.\n\
         restart: from the signal until the node's sessions are Established again and the router routes\n\
         the VIPs via both nodes, none stale (median).",
        EVERY.as_millis()
    );
    let _ = writeln!(
        out,
        "{:<11} {:<60} {:>4}  {:>10}  {:>9}  {:>9}  {:>13}  {:>12}",
        "shape", "case", "runs", "sent", "lost", "max lost", "longest (ms)", "restart (ms)"
    );
    for (shape, case, done) in rounds {
        let lost: Vec<f64> = done.iter().map(|r| r.loss.lost as f64).collect();
        let sent: Vec<f64> = done.iter().map(|r| r.loss.sent as f64).collect();
        let gap = done.iter().map(|r| r.loss.longest_gap).max().unwrap_or(0);
        let restarts: Vec<f64> = done.iter().flat_map(|r| r.restarts_ms.iter().copied()).collect();
        let _ = writeln!(
            out,
            "{:<11} {:<60} {:>4}  {:>10.0}  {:>9.0}  {:>9.0}  {:>13}  {:>12.0}",
            shape.name(),
            case.name(),
            done.len(),
            median(&sent),
            median(&lost),
            lost.iter().copied().fold(0.0, f64::max),
            gap * EVERY.as_millis() as u64,
            median(&restarts),
        );
    }
    let graceful: Vec<&(Shape, Case, Vec<Round>)> =
        rounds.iter().filter(|(_, case, _)| *case == Case::FerrolbGraceful).collect();
    if !graceful.is_empty() {
        let lossy: Vec<&str> = graceful
            .iter()
            .filter(|(_, _, done)| done.iter().any(|r| r.loss.lost > 0))
            .map(|(shape, _, _)| shape.name())
            .collect();
        let shapes: Vec<&str> = graceful.iter().map(|(shape, _, _)| shape.name()).collect();
        let verdict =
            if lossy.is_empty() { "met".to_owned() } else { format!("not met ({})", lossy.join(", ")) };
        let _ = writeln!(
            out,
            "Goal (issue 18): ferrolb's graceful restart loses no request on every shape ({}): {verdict}",
            shapes.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_each_case_and_says_whether_nothing_was_lost() {
        let round = |lost, gap| Round {
            loss: Loss { sent: 300, lost, longest_gap: gap },
            restarts_ms: vec![900.0, 1100.0],
        };
        let text = render(&[
            (Shape::Ipv4, Case::FerrolbGraceful, vec![round(0, 0), round(0, 0)]),
            (Shape::Ipv4, Case::FerrolbPlain, vec![round(7, 4), round(9, 5)]),
            (Shape::Ipv6, Case::FerrolbGraceful, vec![round(0, 0)]),
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
        assert!(text.contains("loses no request on every shape (ipv4, ipv6): met"), "{text}");
        let text = render(&[
            (Shape::Ipv4, Case::FerrolbGraceful, vec![round(0, 0)]),
            (Shape::DualStack, Case::FerrolbGraceful, vec![round(0, 0), round(1, 1)]),
        ]);
        assert!(text.contains("(ipv4, dual-stack): not met (dual-stack)"), "{text}");
    }
}
