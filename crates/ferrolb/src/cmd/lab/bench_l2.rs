//! The L2 failover benchmark: the outage a client sees when the leader dies,
//! ferrolb against keepalived (VRRP) in the same run.
//!
//! ```text
//!  ┌─ client ───────┐ ┌─ node1 ──────────┐ ┌─ node2 ──────────┐ ┌─ node3 ──────────┐
//!  │ .2 prober:     │ │ .11 speaker      │ │ .12 speaker      │ │ .13 speaker      │
//!  │ UDP to the VIP │ │ UDP name server  │ │ UDP name server  │ │ UDP name server  │
//!  │ every 10 ms    │ │ answers "node1"  │ │ answers "node2"  │ │ answers "node3"  │
//!  └───────┬────────┘ └───────┬──────────┘ └───────┬──────────┘ └───────┬──────────┘
//!  ┌───────┴──────────────────┴────────────────────┴────────────────────┴──────────┐
//!  │ br0: 198.51.100.0/24, VIP 198.51.100.200; the leader's bridge port goes down  │
//!  └───────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Three setups, each run in a fresh [`Topology`] with three nodes:
//!
//! - ferrolb with its defaults: `ferrolb run --node nodeN` on every node, one
//!   L2 pool with one VIP and one Service; the leader is whoever ferrolb elects.
//! - keepalived with its default timers: VRRPv2, `advert_int 1`.
//! - keepalived with its fastest documented timers: VRRPv3, `advert_int 0.01`
//!   (see [`ferrolb_lab::FASTEST_ADVERT_INT`]).
//!
//! keepalived's priorities are 150, 100 and 50 on node1..3, so node1 is the
//! master. Once the client has had a second of steady answers from one node,
//! that node's bridge port goes down and its daemon is SIGKILLed: nothing
//! tells the others, they must notice. The outage is the longest silence the
//! client sees after that moment ([`ferrolb_lab::outage`]): from the last
//! answer before it to the first answer from the new leader, so it includes
//! detection, election, the gratuitous ARP and the client's ARP update.
//!
//! The setups take turns within each run number (ferrolb, keepalived default,
//! keepalived fastest, then again), so a slow patch of the machine hurts all
//! three alike instead of one setup's whole series.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::outage::{self, Answers, Prober};
use ferrolb_lab::{Keepalived, KeepalivedConfig, Topology};

use super::plot::{self, Lane};
use super::progress::Progress;

/// The VIP every setup serves.
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
/// The UDP port of the name servers.
const PORT: u16 = 9000;
/// How long the client must get answers from one node before the failure.
const STEADY: Duration = Duration::from_secs(1);
/// How long the speakers get to elect a leader and serve the VIP
/// (keepalived's default timers alone take ~3.6 s).
const SERVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after the failure another node must answer; a run without one is
/// reported as capped.
const TAKEOVER_CAP: Duration = Duration::from_secs(15);
/// How long the prober goes on after the first answer of the new leader, so a
/// second silence (a flap) would be seen too.
const AFTER: Duration = Duration::from_millis(300);
/// keepalived's priorities on node1, node2, node3.
const PRIORITIES: [u8; 3] = [150, 100, 50];
/// keepalived's `virtual_router_id`.
const VRID: u8 = 51;

/// Arguments of `ferrolb lab bench l2-failover`.
#[derive(clap::Args)]
pub struct Args {
    /// Failovers per setup, each in a fresh lab.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Milliseconds between two requests of the client.
    #[arg(long, default_value_t = 10)]
    interval_ms: u64,
    /// Where to write the plot (SVG): each setup's median run, the client's
    /// replies around the failure, coloured by the node that answered.
    #[arg(long, default_value = "bench-l2-failover.svg")]
    plot: std::path::PathBuf,
}

/// What serves the VIP.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    Ferrolb,
    KeepalivedDefault,
    KeepalivedFastest,
}

const SETUPS: [Setup; 3] = [Setup::Ferrolb, Setup::KeepalivedDefault, Setup::KeepalivedFastest];

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Ferrolb => "ferrolb (defaults)",
            Setup::KeepalivedDefault => "keepalived default (VRRPv2, advert_int 1)",
            Setup::KeepalivedFastest => "keepalived fastest (VRRPv3, advert_int 0.01)",
        }
    }
}

/// One setup's outages in milliseconds; `None` for a run where nobody took
/// over within [`TAKEOVER_CAP`].
struct Series {
    setup: Setup,
    outages: Vec<Option<f64>>,
    /// Each run's replies, by milliseconds from the failure, for the plot.
    replies: Vec<Vec<(f64, String)>>,
}

impl Series {
    /// Milliseconds, a capped run counting as infinite.
    fn values(&self) -> Vec<f64> {
        self.outages.iter().map(|o| o.unwrap_or(f64::INFINITY)).collect()
    }

    fn median(&self) -> f64 {
        median(&self.values())
    }

    fn max(&self) -> f64 {
        self.values().into_iter().fold(f64::NAN, f64::max)
    }
}

/// Runs every setup `runs` times; prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::require("the L2 failover benchmark", &["ip", "python3", "keepalived"])?;
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    anyhow::ensure!((1..=1000).contains(&args.interval_ms), "--interval-ms must be 1 to 1000");
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let interval = Duration::from_millis(args.interval_ms);
    let mut series: Vec<Series> =
        SETUPS.iter().map(|&setup| Series { setup, outages: Vec::new(), replies: Vec::new() }).collect();
    let progress = Progress::new("l2-failover", args.runs * series.len());
    for run in 1..=args.runs {
        for s in &mut series {
            progress.start(&format!("{} (run {run}/{})", s.setup.name(), args.runs));
            let failover =
                measure(&exe, s.setup, interval).with_context(|| format!("{} run {run}", s.setup.name()))?;
            progress.done(&match &failover.outage_ms {
                Some(ms) => format!("{} → {}: {ms:.0} ms", failover.before, failover.after),
                None => format!("{}: nobody answered within {} s", failover.before, TAKEOVER_CAP.as_secs()),
            });
            s.outages.push(failover.outage_ms);
            s.replies.push(failover.replies);
        }
    }
    drop(progress);
    println!("{}", render(&series, args.interval_ms));
    std::fs::write(&args.plot, plot(&series)).with_context(|| format!("writing {}", args.plot.display()))?;
    println!("plot: {}", args.plot.display());
    Ok(ExitCode::SUCCESS)
}

/// The timeline of each setup's median run (the run whose outage is the
/// median's), from half a second before the failure to half a second after
/// the longest of those outages (5 s at most).
fn plot(series: &[Series]) -> String {
    let lanes: Vec<Lane> = series
        .iter()
        .filter_map(|s| {
            let mut order: Vec<usize> = (0..s.outages.len()).collect();
            order.sort_by(|&a, &b| {
                s.outages[a].unwrap_or(f64::INFINITY).total_cmp(&s.outages[b].unwrap_or(f64::INFINITY))
            });
            let run = *order.get(order.len().saturating_sub(1) / 2)?;
            let outage = s.outages[run].map_or("none".to_owned(), |ms| format!("{ms:.0} ms"));
            Some(Lane {
                label: format!("{} (run {}: {outage})", s.setup.name(), run + 1),
                replies: s.replies[run].clone(),
            })
        })
        .collect();
    let longest = series.iter().map(Series::median).filter(|m| m.is_finite()).fold(0.0, f64::max);
    // A close look at the first 300 ms, then the whole story.
    let ranges = [(-100.0, 300.0), (-500.0, (longest + 500.0).min(5000.0))];
    plot::timeline("L2 failover: the client's replies around the leader's death", &lanes, &ranges)
}

/// One failover as the client saw it.
struct Failover {
    /// The leader that died.
    before: String,
    /// Who answered after it.
    after: String,
    /// The longest silence after the failure; `None` when capped.
    outage_ms: Option<f64>,
    /// The client's replies, by milliseconds from the failure.
    replies: Vec<(f64, String)>,
}

/// The speakers of one run.
enum Speakers {
    /// The pid of `ferrolb run` on each node.
    Ferrolb(Vec<u32>),
    Keepalived(Vec<Keepalived>),
}

/// One run's lab.
struct Lab {
    // Dropped first, so the daemons stop while their namespaces still exist;
    // the topology then stops what is left (ferrolb, name servers, prober)
    // and removes every namespace, also when the run failed half-way.
    speakers: Speakers,
    topology: Topology,
}

impl Lab {
    fn start(exe: &Path, setup: Setup) -> anyhow::Result<Lab> {
        let topology = Topology::new(3)?;
        for (i, node) in topology.nodes.iter().enumerate() {
            outage::start_name_server(&node.netns, &node_name(i), PORT)?;
        }
        let speakers = match setup {
            Setup::Ferrolb => {
                let config = cluster(&topology.nodes.iter().map(|n| n.ipv4).collect::<Vec<_>>());
                let mut pids = Vec::new();
                for (i, node) in topology.nodes.iter().enumerate() {
                    let file = node.netns.dir().join("cluster.yaml");
                    std::fs::write(&file, &config)?;
                    let mut c = node.netns.command(&exe.to_string_lossy());
                    c.args(["run", "--node", &node_name(i), "--config"])
                        .arg(&file)
                        .arg("--state-dir")
                        .arg(node.netns.dir().join("state"))
                        .env("RUST_LOG", "info");
                    pids.push(node.netns.spawn(c, &node.netns.dir().join("ferrolb.log"))?);
                }
                Speakers::Ferrolb(pids)
            }
            Setup::KeepalivedDefault | Setup::KeepalivedFastest => {
                let mut all = Vec::new();
                for (node, priority) in topology.nodes.iter().zip(PRIORITIES) {
                    let mut config = KeepalivedConfig::new("eth0", VRID, priority, &format!("{VIP}/32"));
                    if setup == Setup::KeepalivedFastest {
                        config = config.fastest();
                    }
                    all.push(Keepalived::start(&node.netns, &config)?);
                }
                Speakers::Keepalived(all)
            }
        };
        Ok(Lab { speakers, topology })
    }

    /// Fails if a speaker exited (before the failure, none should).
    fn ensure_running(&self) -> anyhow::Result<()> {
        let Speakers::Ferrolb(pids) = &self.speakers else { return Ok(()) };
        for (node, &pid) in self.topology.nodes.iter().zip(pids) {
            if let Some(status) = node.netns.exit_status(pid) {
                anyhow::bail!(
                    "ferrolb on {} exited ({status}); log in {}",
                    node.netns.role(),
                    node.netns.dir().join("ferrolb.log").display()
                );
            }
        }
        Ok(())
    }

    /// Cuts node `i` off the segment, then SIGKILLs its speaker.
    fn kill(&self, i: usize) -> anyhow::Result<()> {
        let node = &self.topology.nodes[i];
        self.topology.segment.netns().ip(&["link", "set", &node.port, "down"])?;
        match &self.speakers {
            Speakers::Ferrolb(pids) => {
                node.netns.kill(pids[i]);
            }
            Speakers::Keepalived(all) => all[i].kill()?,
        }
        Ok(())
    }
}

fn node_name(i: usize) -> String {
    format!("node{}", i + 1)
}

/// Measures one failover of `setup` in a fresh lab.
fn measure(exe: &Path, setup: Setup, interval: Duration) -> anyhow::Result<Failover> {
    let lab = Lab::start(exe, setup)?;
    let prober = Prober::start(&lab.topology.client, IpAddr::V4(VIP), PORT, interval)?;

    let start = Instant::now();
    let leader = loop {
        lab.ensure_running()?;
        if let Some(name) = steady(&prober.answers()?, outage::now(), STEADY, interval) {
            break name;
        }
        anyhow::ensure!(
            start.elapsed() < SERVE_TIMEOUT,
            "no second of steady answers from one node within {} s (logs in {})",
            SERVE_TIMEOUT.as_secs(),
            lab.topology.nodes[0].netns.dir().display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let index = (0..lab.topology.nodes.len())
        .find(|&i| node_name(i) == leader)
        .with_context(|| format!("the answers name an unknown node {leader:?}"))?;

    let failure = outage::now();
    lab.kill(index)?;
    let (outage, answers) = outage_of_failover(prober, failure, &leader, TAKEOVER_CAP)?;
    Ok(Failover {
        before: leader,
        after: outage.as_ref().map_or_else(|| "nobody".to_owned(), |o| o.after.clone()),
        outage_ms: outage.map(|o| o.duration.as_secs_f64() * 1000.0),
        replies: answers.replies.into_iter().map(|(t, name)| ((t - failure) * 1000.0, name)).collect(),
    })
}

/// Waits, after the `leader` failed at `failure`, until another node
/// answers (or `cap` has passed), then a little more to see a flap, and
/// stops the prober: the outage, `None` when no other node answered, and
/// every reply.
pub(super) fn outage_of_failover(
    prober: Prober<'_>,
    failure: f64,
    leader: &str,
    cap: Duration,
) -> anyhow::Result<(Option<outage::Outage>, Answers)> {
    let killed = Instant::now();
    let taken_over = loop {
        if taken_over(&prober.answers()?, failure, leader) {
            break true;
        }
        if killed.elapsed() > cap {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if taken_over {
        std::thread::sleep(AFTER);
    }
    let answers = prober.stop()?;
    Ok((taken_over.then(|| answers.outage_after(failure)).flatten(), answers))
}

/// The node that answered every request of the last `window` before `now`
/// (at least half as many answers as requests sent, and answers since
/// before the window began), if one did.
pub(super) fn steady(answers: &Answers, now: f64, window: Duration, interval: Duration) -> Option<String> {
    let since = now - window.as_secs_f64();
    let (first, _) = answers.replies.first()?;
    if *first > since {
        return None;
    }
    let recent: Vec<&str> =
        answers.replies.iter().filter(|(t, _)| *t > since).map(|(_, n)| n.as_str()).collect();
    let expected = window.as_secs_f64() / interval.as_secs_f64();
    let name = *recent.first()?;
    (recent.len() as f64 >= expected / 2.0 && recent.iter().all(|n| *n == name)).then(|| name.to_owned())
}

/// Whether a node other than `leader` answered after `failure`.
fn taken_over(answers: &Answers, failure: f64, leader: &str) -> bool {
    answers.replies.iter().any(|(t, name)| *t > failure && name != leader)
}

/// The cluster file: an L2 pool with the VIP, an L2Advertisement, one
/// Service of type LoadBalancer and a Node for each address in `nodes`.
fn cluster(nodes: &[Ipv4Addr]) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: lan}}\nspec:\n  addresses: [{VIP}/32]\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: lan}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: echo, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: {PORT}, protocol: UDP}}]\n"
    );
    for (i, ip) in nodes.iter().enumerate() {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {ip}}}]\n",
            node_name(i)
        );
    }
    out + ferrolb_lab::GOSSIP_SECRET_DOCUMENT
}

/// The median; the mean of the two middle values for an even count.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Milliseconds, or `capped` for an infinite value.
fn ms(value: f64) -> String {
    if value.is_finite() { format!("{value:.0}") } else { format!("> {}", TAKEOVER_CAP.as_millis()) }
}

fn render(series: &[Series], interval_ms: u64) -> String {
    let mut out = format!(
        "Outage seen by a client sending a UDP request to the VIP every {interval_ms} ms when the leader's \
         link goes down and its daemon is SIGKILLed\n\
         (longest silence after the failure, a fresh 3-node lab per run; > {} ms: nobody took over).\n\
         setup                                          runs  median (ms)  max (ms)  all runs (ms)\n",
        TAKEOVER_CAP.as_millis()
    );
    for s in series {
        let all = s.values().iter().map(|&v| ms(v)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "{:<45}  {:>4}  {:>11}  {:>8}  {all}",
            s.setup.name(),
            s.outages.len(),
            ms(s.median()),
            ms(s.max())
        );
    }
    let find = |setup| series.iter().find(|s| s.setup == setup);
    let (Some(mine), default, fastest) =
        (find(Setup::Ferrolb), find(Setup::KeepalivedDefault), find(Setup::KeepalivedFastest))
    else {
        return out;
    };
    let ratio = |other: Option<&Series>| match other.map(Series::median) {
        Some(theirs) if theirs.is_finite() && theirs > 0.0 && mine.median().is_finite() => {
            format!("{:.2}", mine.median() / theirs)
        }
        _ => "n/a".to_owned(),
    };
    let _ = writeln!(
        out,
        "\nRatios of median outages: ferrolb/keepalived-default {}, ferrolb/keepalived-fastest {}",
        ratio(default),
        ratio(fastest)
    );
    let verdict = |holds: bool| if holds { "holds" } else { "MISSED" };
    let _ = writeln!(
        out,
        "Target: ferrolb's median under 500 ms: {} ({} ms)",
        verdict(mine.median() < 500.0),
        ms(mine.median())
    );
    if let Some(fastest) = fastest {
        let _ = writeln!(
            out,
            "Target: ferrolb's median below keepalived-fastest's: {} ({} ms vs {} ms)",
            verdict(mine.median() < fastest.median()),
            ms(mine.median()),
            ms(fastest.median())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(setup: Setup, outages: &[Option<f64>]) -> Series {
        Series { setup, outages: outages.to_vec(), replies: vec![Vec::new(); outages.len()] }
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        let s = series(Setup::Ferrolb, &[Some(300.0), None, Some(100.0)]);
        assert_eq!(s.median(), 300.0);
        assert_eq!(s.max(), f64::INFINITY, "a capped run is the worst");
    }

    #[test]
    fn the_table_has_ratios_and_says_which_targets_hold() {
        let text = render(
            &[
                series(Setup::Ferrolb, &[Some(300.0), Some(420.0), Some(350.0)]),
                series(Setup::KeepalivedDefault, &[Some(3500.0), Some(3700.0), Some(3600.0)]),
                series(Setup::KeepalivedFastest, &[Some(100.0), Some(140.0), None]),
            ],
            10,
        );
        for line in [
            "every 10 ms",
            "ferrolb (defaults)                                3          350       420  300, 420, 350\n",
            "keepalived fastest (VRRPv3, advert_int 0.01)      3          140   > 15000  100, 140, > 15000\n",
            "ferrolb/keepalived-default 0.10, ferrolb/keepalived-fastest 2.50",
            "under 500 ms: holds (350 ms)",
            "below keepalived-fastest's: MISSED (350 ms vs 140 ms)",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_capped_median_has_no_ratio() {
        let text = render(
            &[
                series(Setup::Ferrolb, &[None]),
                series(Setup::KeepalivedDefault, &[Some(3500.0)]),
                series(Setup::KeepalivedFastest, &[None]),
            ],
            10,
        );
        assert!(text.contains("keepalived-default n/a, ferrolb/keepalived-fastest n/a"), "{text}");
        assert!(text.contains("under 500 ms: MISSED (> 15000 ms)"), "{text}");
    }

    #[test]
    fn the_leader_is_known_after_a_steady_second_from_one_node() {
        let interval = Duration::from_millis(10);
        let replies = |from: f64, to: f64, name: &str| -> Vec<(f64, String)> {
            (0..)
                .map(|i| from + f64::from(i) * 0.01)
                .take_while(|t| *t < to)
                .map(|t| (t, name.to_owned()))
                .collect()
        };
        let mut answers = Answers { replies: replies(100.0, 101.5, "node2") };
        assert_eq!(steady(&answers, 101.5, STEADY, interval), Some("node2".into()));
        // Less than a second of answers so far.
        assert_eq!(steady(&answers, 100.9, STEADY, interval), None);
        // Two nodes answered within the last second (both claimed the VIP for a while).
        answers.replies.extend(replies(101.5, 101.6, "node1"));
        assert_eq!(steady(&answers, 101.6, STEADY, interval), None);
        // Answers stopped half a second ago.
        let answers = Answers { replies: replies(100.0, 101.0, "node2") };
        assert_eq!(steady(&answers, 101.9, STEADY, interval), None);
        assert!(!taken_over(&answers, 100.5, "node2"));
        assert!(taken_over(&Answers { replies: vec![(100.6, "node3".into())] }, 100.5, "node2"));
    }

    #[test]
    fn the_generated_cluster_gives_the_service_the_vip() {
        let nodes = [11, 12, 13].map(|h| Ipv4Addr::new(198, 51, 100, h));
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &cluster(&nodes));
        let (config, diagnostics) =
            crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let allocation = crate::cmd::plan::plan(&config, &snapshot, None);
        assert_eq!(allocation.services.len(), 1);
        assert_eq!(allocation.services[0].ips, [IpAddr::V4(VIP)]);
    }
}
