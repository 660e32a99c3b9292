//! The BGP benchmark: N VIP routes from a speaker into a real FRR router's kernel.
//!
//! ```text
//!   ┌─ router ───────────────┐        ┌─ speaker ───────────────────────────┐
//!   │ FRR (zebra + bgpd)     │  veth  │ ferrolb run | gobgpd | bird         │
//!   │ 192.0.2.1   AS 64513   ├────────┤ 192.0.2.11  AS 64512                │
//!   │ kernel: N x /32 (bgp)  │  eth0  │ announces N /32s from 198.18.0.0/15 │
//!   └────────────────────────┘        └─────────────────────────────────────┘
//! ```
//!
//! Every (N, speaker) run gets a fresh pair of namespaces and a fresh FRR, so
//! each starts from an empty kernel table. The clock starts right before the
//! speaker is spawned and stops when `ip -4 route show proto bgp` in the router
//! namespace lists all N timed prefixes (polled every 50 ms). It includes
//! everything the speaker does: loading its config, planning, session setup,
//! sending, and FRR's own bgpd → zebra → netlink path. The time of the first
//! timed route is recorded too: "first → all" is the transfer alone, without
//! each speaker's session setup (which dominates at small N).
//!
//! - ferrolb: `ferrolb run --node node1` on a generated cluster file with N
//!   Services (pool 198.18.0.0/15).
//! - GoBGP: gobgpd started with FRR as neighbor, then (in the background, so
//!   GoBGP sends while it is fed) `gobgp mrt inject global` of an MRT file
//!   written beforehand, holding the N timed routes followed by filler routes
//!   (`mrt inject` loses the tail of its input, LAB-NOTES); filler lives at
//!   198.19.200.0 and above and is never counted.
//! - BIRD: bird with N static blackhole /32s exported to FRR.
//!
//! Peak memory is the speaker process's `VmHWM`, read once its N routes are in FRR
//! (for ferrolb before the file changes below, whose reloads are reported apart),
//! beside its `RssFile` then: the part of it that is the program's own pages.
//! With ferrolb still running, one Service is then appended to the file a few
//! times: the time from the write to the first UPDATE from the speaker seen by
//! `tcpdump -tt -v` in the router namespace ("on the wire"), and to the /32 in
//! FRR's kernel (end to end; FRR itself takes ~60–70 ms of it, LAB-NOTES).
//! The kernel table is polled only once the UPDATE is on the wire: dumping
//! N routes every few milliseconds took a core from ferrolb while it was
//! timed (at 10k Services, a median of 48 ms on the wire became 36 ms).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::Context;

use ferrolb_lab::mrt::{MrtRoute, table_dump};
use ferrolb_lab::{Bird, BirdConfig, Frr, FrrConfig, GoBgp, GoBgpConfig, Netns, STOP_GRACE, veth};

use super::memory::Memory;
use super::plot::{self, Strip};
use super::progress::Progress;

/// The router's address and ASN.
const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ROUTER_ASN: u32 = 64513;
/// The speaker's address and ASN (every speaker uses the same).
const SPEAKER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const SPEAKER_ASN: u32 = 64512;
/// The timed VIPs are taken from 198.18.0.0 upwards.
const VIP_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// GoBGP's filler routes live from here to the end of 198.18.0.0/15; kernel
/// routes at or above it are not counted.
const FILLER_START: Ipv4Addr = Ipv4Addr::new(198, 19, 200, 0);
/// The most routes a size may have: everything below [`FILLER_START`].
const MAX_SIZE: usize =
    (u32::from_be_bytes([198, 19, 200, 0]) - u32::from_be_bytes([198, 18, 0, 0])) as usize;
/// How often the router's kernel table is read.
const POLL: Duration = Duration::from_millis(50);
/// How many times one Service is appended to the file.
const CHANGE_SAMPLES: usize = 3;

/// Arguments of `ferrolb lab bench bgp`.
#[derive(clap::Args)]
pub struct Args {
    /// Numbers of routes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    sizes: Vec<usize>,
    /// Give up on one speaker after this many seconds (the row says so).
    #[arg(long, default_value_t = 60)]
    cap_secs: u64,
    /// Runs per size and speaker, each in a fresh lab; the median (by time to
    /// all N) is reported, and every file-change sample.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Where to write the plot (SVG): every run's time to all N routes, per speaker and size.
    #[arg(long, default_value = "bench-bgp.svg")]
    plot: std::path::PathBuf,
}

/// The BGP speakers compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Speaker {
    Ferrolb,
    GoBgp,
    Bird,
}

impl Speaker {
    fn name(self) -> &'static str {
        match self {
            Speaker::Ferrolb => "ferrolb",
            Speaker::GoBgp => "gobgp",
            Speaker::Bird => "bird",
        }
    }
}

/// One speaker's run at one size.
struct Row {
    size: usize,
    speaker: Speaker,
    /// Seconds until all N were in the kernel; `None` when capped.
    secs: Option<f64>,
    /// Seconds until the first timed route was in the kernel (session setup included).
    first: Option<f64>,
    /// How many timed routes were there at the end.
    present: usize,
    memory: Memory,
}

impl Row {
    /// Seconds from the first route to all N in the kernel.
    fn transfer(&self) -> Option<f64> {
        Some(self.secs? - self.first?)
    }
}

/// File change → route in FRR's kernel, for ferrolb at one size.
struct Change {
    size: usize,
    /// End-to-end milliseconds per sample.
    kernel_ms: Vec<f64>,
    /// File write → first UPDATE on the wire, per sample (`None` if not seen).
    wire_ms: Vec<Option<f64>>,
    /// Peak RSS after the changes: a reload holds the configuration in
    /// force and the new one at once.
    peak_mib: f64,
}

/// Runs every size with every speaker; prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::require(
        "the BGP benchmark",
        &[
            "ip",
            "/usr/lib/frr/zebra",
            "/usr/lib/frr/bgpd",
            "vtysh",
            "bird",
            "birdc",
            "gobgpd",
            "gobgp",
            "tcpdump",
        ],
    )?;
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let cap = Duration::from_secs(args.cap_secs);
    let mut rows = Vec::new();
    let mut changes = Vec::new();
    let mut strips: Vec<Strip> = Vec::new();
    let progress = Progress::new("bgp", args.sizes.len() * 3 * args.runs.max(1));
    for &size in &args.sizes {
        anyhow::ensure!(size > 0 && size <= MAX_SIZE, "sizes must be between 1 and {MAX_SIZE}");
        for speaker in [Speaker::Ferrolb, Speaker::GoBgp, Speaker::Bird] {
            let mut runs = Vec::new();
            for run in 1..=args.runs.max(1) {
                progress.start(&format!("{size} routes from {} (run {run})", speaker.name()));
                let (row, change) = measure(&exe, speaker, size, cap)
                    .with_context(|| format!("{} with {size} routes", speaker.name()))?;
                if let Some(c) = change {
                    match changes.iter_mut().find(|o: &&mut Change| o.size == size) {
                        Some(o) => {
                            o.kernel_ms.extend(c.kernel_ms);
                            o.wire_ms.extend(c.wire_ms);
                        }
                        None => changes.push(c),
                    }
                }
                let capped = row.secs.is_none();
                progress.done(&match row.secs {
                    Some(s) => format!("{s:.3} s, peak {:.1} MiB", row.memory.peak_mib),
                    None => format!(
                        "capped: only {} of {size} routes in FRR's kernel after {} s; no more runs",
                        row.present, args.cap_secs
                    ),
                });
                runs.push(row);
                if capped {
                    break;
                }
            }
            let values = runs.iter().map(|r| r.secs.unwrap_or(f64::INFINITY)).collect();
            strips.push(Strip { label: format!("{}, {size} routes", speaker.name()), values });
            runs.sort_by(|a, b| a.secs.unwrap_or(f64::INFINITY).total_cmp(&b.secs.unwrap_or(f64::INFINITY)));
            rows.push(runs.swap_remove(runs.len() / 2));
        }
    }
    drop(progress);
    println!("{}", render(&rows, &changes, args.cap_secs));
    let svg =
        plot::strips("BGP: N routes from one speaker until all are in FRR's kernel", "seconds", &strips);
    std::fs::write(&args.plot, svg).with_context(|| format!("writing {}", args.plot.display()))?;
    println!("plot: {}", args.plot.display());
    Ok(ExitCode::SUCCESS)
}

/// A router namespace with FRR (`ROUTER`, AS `ROUTER_ASN`) and an empty
/// speaker namespace, linked by a veth.
pub(super) struct Lab {
    // Dropped in this order: FRR, then the namespaces (which stop what is left).
    _frr: Frr,
    pub router: Netns,
    pub speaker: Netns,
}

/// The lab, the speaker at `speaker` (AS `SPEAKER_ASN`), FRR's neighbour.
pub(super) fn lab(speaker_address: Ipv4Addr) -> anyhow::Result<Lab> {
    let router = Netns::new("router")?;
    let speaker = Netns::new("speaker")?;
    veth(&router, "eth0", &speaker, "eth0")?;
    router.add_addr("eth0", &format!("{ROUTER}/24"))?;
    speaker.add_addr("eth0", &format!("{speaker_address}/24"))?;
    let frr = Frr::start(
        &router,
        &FrrConfig::new(ROUTER_ASN, ROUTER).neighbor(speaker_address.into(), SPEAKER_ASN, false),
    )?;
    Ok(Lab { _frr: frr, router, speaker })
}

fn measure(
    exe: &Path,
    speaker: Speaker,
    size: usize,
    cap: Duration,
) -> anyhow::Result<(Row, Option<Change>)> {
    let lab = lab(SPEAKER)?;
    let mut change = None;
    // Keeps GoBGP or BIRD running until its peak memory is read.
    let guard: Option<Box<dyn std::any::Any>>;
    // Every speaker's peak is read once it holds the N routes, before
    // ferrolb's file changes (work the others are not given).
    let (pid, done, memory) = match speaker {
        Speaker::Ferrolb => {
            let config = lab.speaker.dir().join("cluster.yaml");
            std::fs::write(&config, cluster(size))?;
            let mut c = lab.speaker.command(&exe.to_string_lossy());
            c.args(["run", "--node", "node1", "--config"])
                .arg(&config)
                .arg("--state-dir")
                .arg(lab.speaker.dir().join("state"))
                .env("RUST_LOG", "info");
            let start = Instant::now();
            let pid = lab.speaker.spawn(c, &lab.speaker.dir().join("ferrolb.log"))?;
            let done = wait_routes(&lab, pid, size, start, cap)?;
            let memory = Memory::of(pid)?;
            if done.all.is_some() {
                change = Some(file_changes(&lab, pid, &config, size)?);
            }
            guard = None;
            (pid, done, memory)
        }
        Speaker::GoBgp => {
            let mrt = lab.speaker.dir().join("routes.mrt");
            std::fs::write(&mrt, table_dump(SPEAKER_ASN, SPEAKER, &mrt_routes(size)))?;
            let start = Instant::now();
            let gobgp = GoBgp::start(
                &lab.speaker,
                &GoBgpConfig::new(SPEAKER_ASN, SPEAKER).neighbor(ROUTER.into(), ROUTER_ASN, false),
            )?;
            // In the background: GoBGP sends while the inject still streams.
            let mut inject = lab.speaker.command("gobgp");
            inject.args(["-p", &gobgp.api_port().to_string(), "mrt", "inject", "global"]).arg(&mrt);
            lab.speaker.spawn(inject, &lab.speaker.dir().join("inject.log"))?;
            let pid = gobgp.pid();
            let done = wait_routes(&lab, pid, size, start, cap)?;
            guard = Some(Box::new(gobgp));
            (pid, done, Memory::of(pid)?)
        }
        Speaker::Bird => {
            let mut config = BirdConfig::new(SPEAKER_ASN, SPEAKER).neighbor(ROUTER.into(), ROUTER_ASN);
            config.static_routes = bird_routes(size);
            let start = Instant::now();
            let bird = Bird::start(&lab.speaker, &config)?;
            let pid = bird.pid();
            let done = wait_routes(&lab, pid, size, start, cap)?;
            guard = Some(Box::new(bird));
            (pid, done, Memory::of(pid)?)
        }
    };
    drop(guard);
    lab.speaker.stop(pid, STOP_GRACE);
    let row = Row { size, speaker, secs: done.all, first: done.first, present: done.present, memory };
    Ok((row, change))
}

/// What [`wait_routes`] saw.
struct Done {
    all: Option<f64>,
    first: Option<f64>,
    present: usize,
}

/// Polls the router's kernel until `size` timed routes are there or `cap` has
/// passed since `start`; returns the seconds to the first and to all
/// (if done), and the count seen last.
fn wait_routes(lab: &Lab, pid: u32, size: usize, start: Instant, cap: Duration) -> anyhow::Result<Done> {
    let mut first = None;
    loop {
        let present = timed_routes(&lab.router)?;
        if present > 0 && first.is_none() {
            first = Some(start.elapsed().as_secs_f64());
        }
        if present >= size {
            return Ok(Done { all: Some(start.elapsed().as_secs_f64()), first, present });
        }
        if let Some(status) = lab.speaker.exit_status(pid) {
            anyhow::bail!("the speaker exited ({status}); logs in {}", lab.speaker.dir().display());
        }
        if start.elapsed() > cap {
            return Ok(Done { all: None, first, present });
        }
        std::thread::sleep(POLL);
    }
}

/// How many timed routes (`proto bgp`, below the filler) the router's kernel holds.
fn timed_routes(router: &Netns) -> anyhow::Result<usize> {
    bgp_routes_within(router, u32::from(VIP_BASE)..u32::from(FILLER_START))
}

/// How many IPv4 routes learned by BGP `router`'s kernel holds to
/// addresses in `range`.
pub(super) fn bgp_routes_within(router: &Netns, range: std::ops::Range<u32>) -> anyhow::Result<usize> {
    let mut c = Command::new("ip");
    c.args(["-n", router.name(), "-4", "route", "show", "proto", "bgp"]);
    let out = ferrolb_lab::cmd::run(&mut c, Duration::from_secs(30))?;
    Ok(count_within(&out, range))
}

/// Counts the lines of `ip route show` whose destination is a timed VIP
/// (in 198.18.0.0/15, below [`FILLER_START`]).
#[cfg(test)]
fn count_timed(ip_route: &str) -> usize {
    count_within(ip_route, u32::from(VIP_BASE)..u32::from(FILLER_START))
}

/// Counts the lines of `ip route show` whose destination is a host route to an address in `range`.
pub(super) fn count_within(ip_route: &str, range: std::ops::Range<u32>) -> usize {
    ip_route
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|dst| dst.trim_end_matches("/32").parse::<Ipv4Addr>().ok())
        .filter(|a| range.contains(&u32::from(*a)))
        .count()
}

/// Appends one Service at a time to the cluster file and times until FRR's
/// kernel holds one route more; tcpdump in the router namespace gives the
/// time of the first UPDATE from the speaker after each write.
fn file_changes(lab: &Lab, pid: u32, config: &Path, size: usize) -> anyhow::Result<Change> {
    let capture = lab.router.dir().join("tcpdump.txt");
    let mut c = lab.router.command("tcpdump");
    c.args(["-i", "eth0", "-n", "-tt", "-l", "-v", &format!("tcp port 179 and src host {SPEAKER}")]);
    let tcpdump = lab.router.spawn(c, &capture)?;
    ferrolb_lab::wait_until("tcpdump to listen", Duration::from_secs(10), || {
        Ok(std::fs::read_to_string(&capture).unwrap_or_default().contains("listening on"))
    })?;
    let mut kernel_ms = Vec::new();
    let mut written = Vec::new();
    for i in 0..CHANGE_SAMPLES {
        let want = size + i + 1;
        // Let ferrolb's file poll see a settled file before the change.
        std::thread::sleep(Duration::from_millis(500));
        let start = Instant::now();
        let at = unix_now();
        written.push(at);
        let mut file = std::fs::OpenOptions::new().append(true).open(config)?;
        file.write_all(service(&format!("extra-{i}")).as_bytes())?;
        drop(file);
        // The UPDATE's time is tcpdump's; only the capture is read until it
        // is there. Reading the kernel table meanwhile (a dump of N routes,
        // every few milliseconds) would take a core from the speaker timed.
        // (Every 2 ms, not with a growing backoff: the kernel poll below must
        // not start late.)
        while first_update_after(&std::fs::read_to_string(&capture).unwrap_or_default(), at).is_none() {
            anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "no UPDATE for the appended Service");
            std::thread::sleep(Duration::from_millis(2));
        }
        loop {
            if timed_routes(&lab.router)? >= want {
                kernel_ms.push(start.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if let Some(status) = lab.speaker.exit_status(pid) {
                anyhow::bail!("ferrolb exited ({status})");
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "the appended Service never reached FRR"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    lab.router.stop(tcpdump, STOP_GRACE);
    let text = std::fs::read_to_string(&capture)?;
    let wire_ms = written.iter().map(|&w| first_update_after(&text, w).map(|t| (t - w) * 1000.0)).collect();
    Ok(Change { size, kernel_ms, wire_ms, peak_mib: Memory::of(pid)?.peak_mib })
}

/// Seconds since the Unix epoch, as tcpdump's `-tt` prints them.
pub(super) fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The timestamp of the first packet at or after `after` that carries a BGP
/// UPDATE, in the output of `tcpdump -n -tt -v`.
pub(super) fn first_update_after(tcpdump: &str, after: f64) -> Option<f64> {
    let mut packet = None;
    for line in tcpdump.lines() {
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            packet = line.split_whitespace().next().and_then(|t| t.parse::<f64>().ok());
        }
        if line.contains("Update Message")
            && let Some(t) = packet
            && t >= after
        {
            return Some(t);
        }
    }
    None
}

/// The `i`-th timed VIP.
fn vip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(VIP_BASE) + i as u32)
}

/// BIRD's static routes: the `size` timed VIPs as /32s.
fn bird_routes(size: usize) -> Vec<String> {
    (0..size).map(|i| format!("{}/32", vip(i))).collect()
}

/// GoBGP's routes: the `size` timed VIPs, then filler (a fifth as many, at least
/// 2,000, as much as fits) for `mrt inject` to lose.
fn mrt_routes(size: usize) -> Vec<MrtRoute> {
    let filler_room = (u32::from(Ipv4Addr::new(198, 20, 0, 0)) - u32::from(FILLER_START)) as usize;
    let filler = (size / 5).max(2000).min(filler_room);
    let next_hop = IpAddr::V4(SPEAKER);
    (0..size)
        .map(vip)
        .chain((0..filler).map(|j| Ipv4Addr::from(u32::from(FILLER_START) + j as u32)))
        .map(|a| MrtRoute { prefix: IpAddr::V4(a), next_hop })
        .collect()
}

/// One Service of type LoadBalancer, as a YAML document.
fn service(name: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n"
    )
}

/// The cluster file: a pool of 198.18.0.0/15, the router as BGPPeer, one
/// BGPAdvertisement, Node `node1` and `services` Services.
fn cluster(services: usize) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: bench}}\nspec:\n  addresses: [198.18.0.0/15]\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: router}}\nspec: {{myASN: {SPEAKER_ASN}, peerASN: {ROUTER_ASN}, peerAddress: {ROUTER}, holdTime: 9s}}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: all}}\n---\napiVersion: v1\nkind: Node\nmetadata: {{name: node1}}\nstatus:\n  addresses: [{{type: InternalIP, address: {SPEAKER}}}]\n"
    );
    for i in 0..services {
        out.push_str(&service(&format!("svc-{i}")));
    }
    out
}

pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn render(rows: &[Row], changes: &[Change], cap_secs: u64) -> String {
    let mut out = String::from(
        "Seconds from spawning the speaker until FRR's kernel holds its first / all N timed routes; \
         first→all is the transfer after session setup.\n\
         Ratios: all N (first→all in parentheses; n/a below 0.2 s, the polling resolution).\n\
         Peak RSS is VmHWM; \"of it, files\" is the resident pages of the program and its libraries.\n\
         routes  speaker  first route (s)  all N in FRR's kernel (s)  first→all (s)  peak RSS (MiB)  \
         of it, files (MiB)  ferrolb/gobgp  ferrolb/bird\n",
    );
    for r in rows {
        let secs = match r.secs {
            Some(s) => format!("{s:.3}"),
            None => format!("> {cap_secs} (capped, {} present)", r.present),
        };
        let ratio = |other: Speaker| {
            let mine = rows.iter().find(|o| o.size == r.size && o.speaker == Speaker::Ferrolb)?;
            let theirs = rows.iter().find(|o| o.size == r.size && o.speaker == other)?;
            // A transfer shorter than a few polls is below this benchmark's resolution.
            let resolved = |t: f64| t >= 4.0 * POLL.as_secs_f64();
            let transfer = match (mine.transfer()?, theirs.transfer()?) {
                (m, t) if resolved(m) && resolved(t) => format!("{:.2}", m / t),
                _ => "n/a".to_owned(),
            };
            Some(format!("{:.2} ({transfer})", mine.secs? / theirs.secs?))
        };
        let (g, b) = if r.speaker == Speaker::Ferrolb {
            (
                ratio(Speaker::GoBgp).unwrap_or_else(|| "-".into()),
                ratio(Speaker::Bird).unwrap_or_else(|| "-".into()),
            )
        } else {
            (String::new(), String::new())
        };
        let _ = writeln!(
            out,
            "{:>6}  {:<7}  {:>15}  {:>25}  {:>13}  {:>14.1}  {:>18.1}  {:>13}  {:>12}",
            r.size,
            r.speaker.name(),
            r.first.map_or_else(|| "-".into(), |f| format!("{f:.3}")),
            secs,
            r.transfer().map_or_else(|| "-".into(), |t| format!("{t:.3}")),
            r.memory.peak_mib,
            r.memory.files_mib,
            g,
            b
        );
    }
    if !changes.is_empty() {
        let _ = writeln!(
            out,
            "\nferrolb, one Service appended to the file (ferrolb follows it with inotify):\n\
             routes  write → first UPDATE on the wire (ms)  write → /32 in FRR's kernel, end to end (ms)  \
             peak RSS after (MiB)"
        );
        for c in changes {
            let wire: Vec<f64> = c.wire_ms.iter().flatten().copied().collect();
            let list = |v: &[f64]| v.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(", ");
            let wire_text = if wire.is_empty() {
                "not seen".to_owned()
            } else {
                format!("median {:.0} ({})", median(&wire), list(&wire))
            };
            let _ = writeln!(
                out,
                "{:>6}  {:>37}  {:>44}  {:>20.1}",
                c.size,
                wire_text,
                format!("median {:.0} ({})", median(&c.kernel_ms), list(&c.kernel_ms)),
                c.peak_mib
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cluster_is_valid_and_every_service_gets_a_timed_vip() {
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &cluster(50));
        let (config, diagnostics) =
            crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let allocation = crate::cmd::plan::plan(&config, &snapshot, None);
        assert_eq!(allocation.services.len(), 50);
        for s in &allocation.services {
            assert_eq!(s.ips.len(), 1, "every Service gets one IP");
            let IpAddr::V4(ip) = s.ips[0] else { panic!("{:?} is not IPv4", s.ips) };
            assert_eq!(count_timed(&format!("{ip} via 192.0.2.11 dev eth0 proto bgp metric 20")), 1);
        }
    }

    #[test]
    fn the_first_update_after_a_time_is_found_in_tcpdump_output() {
        let out = "tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n\
            1700000000.100000 IP (tos 0xc0, ttl 1, id 1, offset 0, flags [DF], proto TCP (6), length 71)\n    \
            192.0.2.11.40000 > 192.0.2.1.179: Flags [P.], length 19: BGP\n\
            \tUpdate Message (2), length: 19\n\
            1700000001.000000 IP (tos 0xc0, ttl 1, id 2, offset 0, flags [DF], proto TCP (6), length 71)\n    \
            192.0.2.11.40000 > 192.0.2.1.179: Flags [P.], length 19: BGP\n\
            \tKeepalive Message (4), length: 19\n\
            1700000001.250000 IP (tos 0xc0, ttl 1, id 3, offset 0, flags [DF], proto TCP (6), length 90)\n    \
            192.0.2.11.40000 > 192.0.2.1.179: Flags [P.], length 38: BGP\n\
            \tUpdate Message (2), length: 38\n";
        assert_eq!(first_update_after(out, 1_700_000_000.5), Some(1_700_000_001.25));
        assert_eq!(first_update_after(out, 1_700_000_000.0), Some(1_700_000_000.1));
        assert_eq!(first_update_after(out, 1_700_000_002.0), None);
    }

    #[test]
    fn ratios_compare_ferrolb_and_skip_unresolved_transfers() {
        let row = |speaker, first, secs| Row {
            size: 10,
            speaker,
            secs: Some(secs),
            first: Some(first),
            present: 10,
            memory: Memory { peak_mib: 1.0, files_mib: 0.5 },
        };
        let rows =
            [row(Speaker::Ferrolb, 0.1, 0.1), row(Speaker::GoBgp, 1.0, 2.0), row(Speaker::Bird, 1.0, 4.0)];
        let text = render(&rows, &[], 60);
        assert!(text.contains("0.05 (n/a)") && text.contains("0.03 (n/a)"), "{text}");
        let rows =
            [row(Speaker::Ferrolb, 0.1, 1.1), row(Speaker::GoBgp, 1.0, 3.0), row(Speaker::Bird, 1.0, 5.0)];
        let text = render(&rows, &[], 60);
        assert!(text.contains("0.37 (0.50)") && text.contains("0.22 (0.25)"), "{text}");
    }

    #[test]
    fn only_timed_vips_are_counted() {
        let out = "198.18.0.0 via 192.0.2.11 dev eth0 proto bgp metric 20 \n\
                   198.19.199.255 via 192.0.2.11 dev eth0 proto bgp metric 20 \n\
                   198.19.200.0 via 192.0.2.11 dev eth0 proto bgp metric 20 \n\
                   203.0.113.1 via 192.0.2.11 dev eth0 proto bgp metric 20 \n";
        assert_eq!(count_timed(out), 2);
    }

    #[test]
    fn gobgp_gets_the_timed_routes_first_then_uncounted_filler() {
        let routes = mrt_routes(10);
        assert_eq!(routes.len(), 10 + 2000);
        assert_eq!(routes[0].prefix, IpAddr::V4(VIP_BASE));
        assert_eq!(routes[9].prefix, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9)));
        assert_eq!(routes[10].prefix, IpAddr::V4(FILLER_START));
        let filler = mrt_routes(MAX_SIZE).len() - MAX_SIZE;
        assert_eq!(filler, 14_336, "filler never leaves 198.18.0.0/15");
        assert_eq!(bird_routes(2), ["198.18.0.0/32", "198.18.0.1/32"]);
    }
}
