//! The edit benchmark: `ferrolb run` holding N Services, one Service
//! appended to its file, and the time until the wire says so, for every
//! shape of configuration `bench plan` has.
//!
//! ```text
//!   ┌─ router ───────────────────┐  veth  ┌─ speaker ────────────────────────────┐
//!   │ FRR 192.0.2.1 AS 64513     ├────────┤ ferrolb run --node node-0            │
//!   │ tcpdump: UPDATEs from the  │  eth0  │ 192.0.2.10 AS 64512, N Services of   │
//!   │ speaker, ARP announcements │        │ the shape (bench plan's file)        │
//!   └────────────────────────────┘        └──────────────────────────────────────┘
//! ```
//!
//! Per shape and size: the shape's file (`bench plan`'s generator) is put in
//! force (`configuration applied` in the log, then the start-up
//! announcements left to finish: an L2 VIP is announced five times over
//! 4.4 s), then tcpdump listens in the router namespace and one Service of
//! the shape is appended to the file [`SAMPLES`] times, 6 s apart so that
//! one sample's repeated announcements end before the next. Per sample: the
//! time from the write to the first BGP UPDATE from the speaker (shapes with
//! BGP) and to the first gratuitous ARP for a pool address (shapes with L2),
//! as tcpdump's clock gives them; the median of each. `node-0` is the only
//! speaker running, so it leads every L2 VIP. `node` and `json` are ways of
//! printing a plan, not of running: they are not run here.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::STOP_GRACE;

use super::bench_bgp::{first_update_after, lab, median, unix_now};
use super::bench_plan::Shape;

/// `node-0`'s InternalIP in the shapes' files.
const SPEAKER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// Edits per shape and size.
const SAMPLES: usize = 5;
/// Between two edits: longer than one VIP's five announcements (4.4 s).
const BETWEEN: Duration = Duration::from_secs(6);
/// The longest a start-up or an edit may take before the run is given up.
const GIVE_UP: Duration = Duration::from_secs(120);
/// How long an edit may take to show on the wire.
const EDIT_GIVE_UP: Duration = Duration::from_secs(20);
/// The target of issue 17: under a second at the largest size, and a time
/// that grows at most twelvefold per tenfold Services.
const MAX_MILLIS: f64 = 1000.0;
const MAX_RATIO: f64 = 12.0;

/// Arguments of `ferrolb lab bench edit`.
#[derive(clap::Args)]
pub struct Args {
    /// Numbers of Services, comma-separated; the ratio is the last's to the first's.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// The shapes to measure, comma-separated (default: every shape that runs).
    #[arg(long, value_enum, value_delimiter = ',')]
    shapes: Vec<Shape>,
}

/// What the edits of one shape and size gave.
struct Measured {
    shape: Shape,
    size: usize,
    /// Write → first UPDATE, ms, per sample (shapes with BGP).
    update_ms: Vec<f64>,
    /// Write → first gratuitous ARP, ms, per sample (shapes with L2).
    arp_ms: Vec<f64>,
    /// Edits ferrolb applied the short way (`configuration edited` in its log).
    short: usize,
}

impl Measured {
    /// The median of what the shape's mode shows first: the UPDATE with
    /// BGP, else the ARP.
    fn signal_ms(&self) -> f64 {
        if self.update_ms.is_empty() { median(&self.arp_ms) } else { median(&self.update_ms) }
    }
}

/// Runs every shape at every size; prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::require(
        "the edit benchmark",
        &["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "tcpdump"],
    )?;
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let shapes: Vec<Shape> = if args.shapes.is_empty() {
        Shape::ALL.into_iter().filter(|s| runs(*s)).collect()
    } else {
        args.shapes.clone()
    };
    anyhow::ensure!(shapes.iter().all(|s| runs(*s)), "node and json print a plan: nothing of them runs");
    let mut all = Vec::new();
    for &shape in &shapes {
        for &size in &args.sizes {
            eprintln!("bench edit: {} with {size} Services…", shape.name());
            let measured =
                measure(&exe, shape, size).with_context(|| format!("{} at {size}", shape.name()))?;
            eprintln!(
                "  UPDATE {:.1} ms, ARP {:.1} ms, {} of {SAMPLES} edits the short way",
                median(&measured.update_ms),
                median(&measured.arp_ms),
                measured.short
            );
            all.push(measured);
        }
    }
    println!("{}", render(&all, &args.sizes));
    Ok(ExitCode::SUCCESS)
}

/// Whether `shape` is a configuration `run` runs (not a way of printing).
fn runs(shape: Shape) -> bool {
    !matches!(shape, Shape::Node | Shape::Json)
}

fn measure(exe: &Path, shape: Shape, size: usize) -> anyhow::Result<Measured> {
    // FRR at 192.0.2.1, AS 64513: the peer every shape's BGPPeer names.
    let lab = lab(SPEAKER)?;
    let (router, speaker) = (&lab.router, &lab.speaker);

    let config = speaker.dir().join("cluster.yaml");
    std::fs::write(&config, shape.config(size))?;
    let log = speaker.dir().join("ferrolb.log");
    let mut c = speaker.command(&exe.to_string_lossy());
    c.args(["run", "--node", "node-0", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(speaker.dir().join("state"))
        .env("RUST_LOG", "info");
    let pid = speaker.spawn(c, &log)?;
    let log_has = |text: &str| std::fs::read_to_string(&log).unwrap_or_default().matches(text).count();
    let start = Instant::now();
    while log_has("configuration applied") == 0 {
        anyhow::ensure!(speaker.exit_status(pid).is_none(), "ferrolb exited: {}", tail(&log));
        anyhow::ensure!(start.elapsed() < GIVE_UP, "ferrolb did not apply the configuration: {}", tail(&log));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The start-up announcements (every L2 VIP five times over 4.4 s) end
    // before anything is timed.
    std::thread::sleep(BETWEEN);

    let capture = router.dir().join("tcpdump.txt");
    let mut c = router.command("tcpdump");
    c.args(["-i", "eth0", "-n", "-tt", "-l", "-v", &format!("(tcp port 179 and src host {SPEAKER}) or arp")]);
    let tcpdump = router.spawn(c, &capture)?;
    ferrolb_lab::wait_until("tcpdump to listen", Duration::from_secs(10), || {
        Ok(std::fs::read_to_string(&capture).unwrap_or_default().contains("listening on"))
    })?;
    let edited_before = log_has("configuration edited");
    let mut written = Vec::new();
    for k in 0..SAMPLES {
        let at = unix_now();
        written.push(at);
        let mut file = std::fs::OpenOptions::new().append(true).open(&config)?;
        // Not the second of a pair, whose IP is announced already (nothing
        // new goes on the wire, rightly), nor a requested IP already held.
        let i = Shape::added_service(size, k);
        file.write_all(shape.service_document(i).as_bytes())?;
        drop(file);
        let start = Instant::now();
        // Until the capture shows what the shape's modes send (read every
        // 5 ms: the capture is small, the speaker keeps its cores).
        loop {
            let text = std::fs::read_to_string(&capture).unwrap_or_default();
            let update = !shape.has_bgp() || first_update_after(&text, at).is_some();
            let arp = !shape.has_l2() || first_pool_arp_after(&text, at).is_some();
            if update && arp {
                break;
            }
            anyhow::ensure!(speaker.exit_status(pid).is_none(), "ferrolb exited: {}", tail(&log));
            anyhow::ensure!(
                start.elapsed() < EDIT_GIVE_UP,
                "nothing on the wire for the appended Service; ferrolb's log ends with:\n{}",
                tail(&log)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(BETWEEN);
    }
    router.stop(tcpdump, STOP_GRACE);
    let short = log_has("configuration edited") - edited_before;
    speaker.stop(pid, STOP_GRACE);
    let text = std::fs::read_to_string(&capture)?;
    let since = |found: Option<f64>, at: f64| found.map(|t| (t - at) * 1000.0);
    let update_ms = if shape.has_bgp() {
        written.iter().filter_map(|&at| since(first_update_after(&text, at), at)).collect()
    } else {
        Vec::new()
    };
    let arp_ms = if shape.has_l2() {
        written.iter().filter_map(|&at| since(first_pool_arp_after(&text, at), at)).collect()
    } else {
        Vec::new()
    };
    Ok(Measured { shape, size, update_ms, arp_ms, short })
}

/// The last lines of a log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The time of the first ARP at or after `after` that announces an address
/// of the shapes' IPv4 pool (198.18.0.0/15), in `tcpdump -n -tt -v` output.
fn first_pool_arp_after(tcpdump: &str, after: f64) -> Option<f64> {
    tcpdump.lines().filter(|line| line.contains("ARP,") && line.contains(" 198.1")).find_map(|line| {
        let t = line.split_whitespace().next()?.parse::<f64>().ok()?;
        let pool = line.contains(" 198.18.") || line.contains(" 198.19.");
        (pool && t >= after).then_some(t)
    })
}

fn render(all: &[Measured], sizes: &[usize]) -> String {
    let (first, last) = (sizes.first().copied().unwrap_or(0), sizes.last().copied().unwrap_or(0));
    let mut out =
        String::from("shape             size   UPDATE (ms)   ARP (ms)   short way   ratio   target\n");
    for m in all {
        let ratio = all
            .iter()
            .find(|o| o.shape == m.shape && o.size == first)
            .filter(|_| m.size == last && first != last)
            .map(|o| m.signal_ms() / o.signal_ms());
        let shown = |v: &[f64]| if v.is_empty() { "-".to_owned() } else { format!("{:.1}", median(v)) };
        let target = match ratio {
            Some(r) if r > MAX_RATIO => format!("ratio over {MAX_RATIO}"),
            Some(_) if m.signal_ms() > MAX_MILLIS => format!("over {MAX_MILLIS:.0} ms"),
            Some(_) => "met".to_owned(),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<15} {:>7} {:>13} {:>10} {:>11} {:>7} {target}",
            m.shape.name(),
            m.size,
            shown(&m.update_ms),
            shown(&m.arp_ms),
            format!("{}/{SAMPLES}", m.short),
            ratio.map_or(String::new(), |r| format!("{r:.1}")),
        );
    }
    let _ = write!(
        out,
        "write → first UPDATE / gratuitous ARP seen in the router namespace, median of {SAMPLES}; target: ratio at \
         most {MAX_RATIO} per tenfold, {last} under {MAX_MILLIS:.0} ms"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_arp_is_found_after_a_time_and_others_are_not() {
        let tcpdump = "\
10.000000 ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 192.0.2.1 tell 192.0.2.10, length 28
11.500000 ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 198.18.1.7 tell 198.18.1.7, length 28
12.250000 ARP, Ethernet (len 6), IPv4 (len 4), Reply 198.19.0.3 is-at 02:00:00:00:00:01, length 28
";
        assert_eq!(first_pool_arp_after(tcpdump, 10.0), Some(11.5));
        assert_eq!(first_pool_arp_after(tcpdump, 12.0), Some(12.25));
        assert_eq!(first_pool_arp_after(tcpdump, 13.0), None);
    }

    #[test]
    fn every_running_shape_appends_a_service_of_its_own_kind() {
        for shape in Shape::ALL.into_iter().filter(|s| runs(*s)) {
            let mut text = shape.config(20);
            text.push_str(&shape.service_document(20));
            let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &text);
            let (_, diagnostics) =
                crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
            assert!(diagnostics.is_empty(), "{}: {diagnostics:?}", shape.name());
            assert_eq!(snapshot.services.len(), 21, "{}", shape.name());
            assert_eq!(snapshot.nodes[0].metadata.name.as_deref(), Some("node-0"));
        }
    }
}
