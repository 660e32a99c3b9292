//! `ferrolb lab bench k8s`: ferrolb's controller against MetalLB's (v0.16.1,
//! built by `scripts/go-tools metallb`) on one real control plane: the time
//! from the controller's start to the last status write that gives every
//! Service its addresses, every status write it sends (from the audit log),
//! and its peak memory, for each shape of Services a user has.
//!
//! ```text
//!   per shape, per controller:
//!     namespace + pool (for that namespace only) + N Services of its own
//!     loadBalancerClass, created with kubectl before the controller starts
//!     ──► controller started alone, --lb-class of those Services
//!     ──► audit log followed: status writes to the namespace, until every
//!         Service has its addresses; then 2 s more for what follows
//!     ──► peak RSS (VmHWM), the controller stopped, the pool deleted
//! ```
//!
//! The two controllers see the same API server, the same objects and the
//! same number of Services; each ignores the other's Services by class.
//! The speakers' parts (BGP, L2 failover) are in `bench_k8s_speakers`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use ferrolb_lab::HostProcess;
use ferrolb_lab::k8s::audit::AuditTail;
use ferrolb_lab::k8s::{ControlPlane, GoTools, MetalLbController};

use super::BUNDLE;
use super::bench_k8s_speakers::{Bench, render_bgp, render_l2, render_migration};
use super::memory::Memory;

/// The most IPv4 Services a shape gets: the three IPv4 documentation ranges
/// hold 768 addresses.
const MOST_IPV4: usize = 700;

/// How long one controller may take for one shape before it is reported as
/// not done.
const GIVE_UP: Duration = Duration::from_secs(30 * 60);

/// Arguments of `ferrolb lab bench k8s`.
#[derive(clap::Args)]
pub struct Args {
    /// Services per shape of the controllers' part (IPv4 and dual-stack
    /// shapes get at most 700), and the larger size of the BGP part (the
    /// smaller is a tenth of it).
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// Failovers per speaker in the L2 part.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The parts to run (all when not given).
    #[arg(long, value_enum)]
    only: Vec<Part>,
}

/// A part of the benchmark.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The controllers: addresses for every shape of Services.
    Controllers,
    /// The speakers: routes to FRR at two sizes.
    Bgp,
    /// The speakers: the outage when the L2 leader dies.
    L2Failover,
    /// MetalLB replaced by ferrolb under clients of an L2 and a BGP VIP.
    Migration,
}

/// A shape of Services, as users write them.
#[derive(Clone, Copy, Debug)]
struct Shape {
    name: &'static str,
    /// The pool's addresses.
    addresses: &'static str,
    /// Lines added to each Service's spec.
    spec: &'static str,
    /// Services of a pair share one address (`metallb.io/allow-shared-ip`).
    pairs: bool,
    ipv4: bool,
}

const SHAPES: [Shape; 4] = [
    Shape {
        name: "ipv6",
        addresses: "2001:db8:b000::/112",
        spec: "  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]\n",
        pairs: false,
        ipv4: false,
    },
    Shape {
        name: "ipv4",
        addresses: "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24",
        spec: "",
        pairs: false,
        ipv4: true,
    },
    Shape {
        name: "dual-stack",
        addresses: "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8:b000::/112",
        spec: "  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n",
        pairs: false,
        ipv4: true,
    },
    Shape {
        name: "shared-ip-pairs",
        addresses: "2001:db8:b000::/112",
        spec: "  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]\n",
        pairs: true,
        ipv4: false,
    },
];

/// Whose component a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    Ferrolb,
    MetalLb,
}

impl Implementation {
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Ferrolb => "ferrolb",
            Implementation::MetalLb => "metallb",
        }
    }
}

/// What one controller did for one shape.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    /// From its start to the last write that completed the Services; `None`: not done in time.
    assigned: Option<Duration>,
    /// Every status write it sent to the shape's Services (accepted ones).
    writes: usize,
    /// Its peak resident memory.
    peak_mib: f64,
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    shape: &'static str,
    services: usize,
    ferrolb: Run,
    metallb: Run,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let tools = GoTools::locate().context("cannot find the Go-built tools (run scripts/go-tools all)")?;
    if let Some(missing) = tools.missing_control_plane().or_else(|| tools.missing_metallb()) {
        bail!("{missing}");
    }
    println!("ferrolb lab bench k8s: ferrolb against MetalLB {}", tools.metallb_run_version);
    let started = Instant::now();
    let plane = ControlPlane::start(&tools)?;
    println!("  kube-apiserver {} at {} ({:.1?})", tools.k8s_version, plane.server(), started.elapsed());
    let bundle = plane.write_manifest(BUNDLE)?;
    plane.kubectl(&["apply", "-f", &bundle.to_string_lossy()])?;
    plane.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])?;
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let runs = |part| args.only.is_empty() || args.only.contains(&part);
    let mut tables = Vec::new();
    let mut table = |title: &str, body: String| {
        tables.push(format!("{title}\n{body}"));
        println!("\n{}", tables.last().expect("pushed"));
    };
    // The parts with fewest Services first: what a part creates stays, and
    // every later part's components watch it too (both kinds alike).
    let speakers = Bench { plane: &plane, tools: &tools, exe: &exe };
    if runs(Part::L2Failover) {
        table("speakers, L2: the leader killed", render_l2(&speakers.l2(args.runs)?));
    }
    if runs(Part::Migration) {
        table("migration: MetalLB replaced by ferrolb", render_migration(&speakers.migration()?));
    }
    if runs(Part::Bgp) {
        let sizes = [(args.services / 10).max(1), args.services];
        table("speakers, BGP: routes to FRR", render_bgp(&speakers.bgp(&sizes)?));
    }
    if runs(Part::Controllers) {
        let rows = controllers(&plane, &tools, &exe, args.services)?;
        table("controllers: time to give every Service its addresses", render(&rows));
    }
    println!("\n{}", tables.join("\n"));
    Ok(ExitCode::SUCCESS)
}

/// The controllers' part: every shape, ferrolb's then MetalLB's.
fn controllers(
    plane: &ControlPlane,
    tools: &GoTools,
    exe: &Path,
    services: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for shape in SHAPES {
        let services = if shape.ipv4 { services.min(MOST_IPV4) } else { services };
        let measure = |implementation| -> anyhow::Result<Run> {
            let run = measure(plane, tools, exe, shape, services, implementation)?;
            println!(
                "  {:<16} {:>6} Services  {:<8} {}",
                shape.name,
                services,
                implementation.name(),
                describe(&run)
            );
            Ok(run)
        };
        let ferrolb = measure(Implementation::Ferrolb)?;
        let metallb = measure(Implementation::MetalLb)?;
        rows.push(Row { shape: shape.name, services, ferrolb, metallb });
    }
    Ok(rows)
}

/// One controller over one shape's Services.
fn measure(
    plane: &ControlPlane,
    tools: &GoTools,
    exe: &Path,
    shape: Shape,
    services: usize,
    implementation: Implementation,
) -> anyhow::Result<Run> {
    let namespace = format!("{}-{}", shape.name, implementation.name());
    let class = format!("bench.ferrolb.io/{namespace}");
    plane.kubectl(&["create", "namespace", &namespace])?;
    let pool = plane.write_manifest(&pool(&namespace, shape.addresses))?;
    create_in_parallel(plane, 0..services, |range| service_manifest(&namespace, &class, shape, range))?;
    plane.kubectl(&["apply", "-f", &pool.to_string_lossy()])?;

    let mut audit = AuditTail::from_end(&plane.audit_log());
    let started = SystemTime::now();
    let mut controller = start(plane, tools, exe, implementation, &namespace, &class)?;
    let pid = controller.pid();
    let mut written = HashSet::new();
    let mut writes = 0;
    let mut last = None;
    let deadline = Instant::now() + GIVE_UP;
    let mut assigned = None;
    let mut settle_until = None;
    loop {
        for event in audit.read_new()? {
            let Some(object) = &event.object_ref else { continue };
            if event.is_write()
                && event.is_about("services/status")
                && object.namespace == namespace
                && (200..300).contains(&event.code())
            {
                writes += 1;
                written.insert(object.name.clone());
                last = event.at().map(|t| t.as_microsecond());
            }
        }
        controller.ensure_running()?;
        if assigned.is_none() && written.len() == services {
            let since_start = micros_since_epoch(started);
            assigned = last.map(|last| Duration::from_micros(u64::try_from(last - since_start).unwrap_or(0)));
            settle_until = Some(Instant::now() + Duration::from_secs(2));
        }
        if settle_until.is_some_and(|until| Instant::now() >= until) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let peak_mib = Memory::of(pid).map(|m| m.peak_mib).unwrap_or(f64::NAN);
    drop(controller);
    plane.kubectl(&["delete", "-f", &pool.to_string_lossy()])?;
    Ok(Run { assigned, writes, peak_mib })
}

/// How many kubectl processes create objects side by side: one kubectl
/// sends one request at a time, and the API server has cores to spare.
const CREATORS: usize = 4;

/// Creates `count` numbered objects with kubectl, [`CREATORS`] at a time;
/// `manifest` writes those of a range of numbers.
pub fn create_in_parallel(
    plane: &ControlPlane,
    count: std::ops::Range<usize>,
    manifest: impl Fn(std::ops::Range<usize>) -> String,
) -> anyhow::Result<()> {
    let share = count.len().div_ceil(CREATORS).max(1);
    let files = count
        .clone()
        .step_by(share)
        .map(|first| plane.write_manifest(&manifest(first..count.end.min(first + share))))
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::scope(|scope| {
        let creators: Vec<_> = files
            .iter()
            .map(|file| {
                scope.spawn(move || {
                    plane.kubectl_within(
                        &["create", "-f", &file.to_string_lossy()],
                        Duration::from_secs(30 * 60),
                    )
                })
            })
            .collect();
        creators.into_iter().try_for_each(|c| c.join().expect("a kubectl thread panicked").map(drop))
    })?;
    Ok(())
}

/// A running controller of either kind, stopped when dropped.
enum Controller {
    Ferrolb(HostProcess),
    MetalLb(MetalLbController),
}

impl Controller {
    fn pid(&self) -> u32 {
        match self {
            Controller::Ferrolb(process) => process.pid(),
            Controller::MetalLb(controller) => controller.pid(),
        }
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self {
            Controller::Ferrolb(process) => process.ensure_running()?,
            Controller::MetalLb(controller) => controller.ensure_running()?,
        }
        Ok(())
    }
}

/// Starts `implementation`'s controller for the Services of `class`, with
/// the admin's kubeconfig (what is measured is allocation, not RBAC).
fn start(
    plane: &ControlPlane,
    tools: &GoTools,
    exe: &Path,
    implementation: Implementation,
    namespace: &str,
    class: &str,
) -> anyhow::Result<Controller> {
    let lb_class = format!("--lb-class={class}");
    let name = format!("bench-{namespace}");
    Ok(match implementation {
        Implementation::Ferrolb => {
            let mut c = Command::new(exe);
            c.args(["controller", "--no-leader-election", &lb_class])
                .env("KUBECONFIG", plane.admin_kubeconfig())
                .env("POD_NAME", &name);
            let log = plane.dir().join(format!("{name}.log"));
            Controller::Ferrolb(HostProcess::spawn(&name, c, &log)?)
        }
        Implementation::MetalLb => Controller::MetalLb(MetalLbController::start(
            plane,
            tools,
            "metallb-system",
            &name,
            &[&lb_class],
        )?),
    })
}

fn micros_since_epoch(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A pool in ferrolb's namespace for the Services of `namespace` only.
fn pool(namespace: &str, addresses: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: bench-{namespace}, namespace: metallb-system}}\n\
         spec:\n  addresses: [{addresses}]\n  serviceAllocation: {{namespaces: [{namespace}]}}\n"
    )
}

/// LoadBalancer Services `indices` of `class` in `namespace`, as one YAML
/// stream. Without node ports, as users with thousands of Services have
/// them: the default node port range holds 2768.
fn service_manifest(namespace: &str, class: &str, shape: Shape, indices: std::ops::Range<usize>) -> String {
    let mut out = String::with_capacity(indices.len() * 300);
    for i in indices {
        // Two Services of a pair share a key and differ in port, as sharing requires.
        let (annotations, port) = match shape.pairs {
            true => (format!("  annotations: {{metallb.io/allow-shared-ip: pair-{}}}\n", i / 2), 80 + i % 2),
            false => (String::new(), 80),
        };
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i:05}\n  namespace: {namespace}\n{annotations}\
             spec:\n  type: LoadBalancer\n  loadBalancerClass: {class}\n  allocateLoadBalancerNodePorts: false\n  \
             ports: [{{port: {port}, protocol: TCP}}]\n{}---\n",
            shape.spec
        );
    }
    out
}

fn describe(run: &Run) -> String {
    let time = run.assigned.map_or_else(|| "not done".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
    format!("{time}, {} status writes, peak {:.1} MiB", run.writes, run.peak_mib)
}

/// The table, with ferrolb/MetalLB ratios (below 1: ferrolb does better).
fn render(rows: &[Row]) -> String {
    let seconds = |run: &Run| run.assigned.map(|d| d.as_secs_f64());
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".to_owned(),
    };
    let time = |run: &Run| seconds(run).map_or_else(|| "not done".to_owned(), |s| format!("{s:.2}"));
    let mut out = format!(
        "{:<16} {:>8} {:>12} {:>12} {:>8} {:>14} {:>14} {:>8} {:>13} {:>13} {:>8}\n",
        "shape",
        "services",
        "ferrolb (s)",
        "MetalLB (s)",
        "ratio",
        "ferrolb writes",
        "MetalLB writes",
        "ratio",
        "ferrolb (MiB)",
        "MetalLB (MiB)",
        "ratio"
    );
    for row in rows {
        let (f, m) = (&row.ferrolb, &row.metallb);
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>12} {:>12} {:>8} {:>14} {:>14} {:>8} {:>13.1} {:>13.1} {:>8}",
            row.shape,
            row.services,
            time(f),
            time(m),
            ratio(seconds(f), seconds(m)),
            f.writes,
            m.writes,
            ratio(Some(f.writes as f64), Some(m.writes as f64)),
            f.peak_mib,
            m.peak_mib,
            ratio(Some(f.peak_mib), Some(m.peak_mib)),
        );
    }
    out.push_str("time: controller start to the status write that completes every Service; writes: accepted status writes\n");
    out.push_str("to the shape's Services until 2 s after; MiB: peak resident memory (VmHWM); ratio: ferrolb / MetalLB\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_share_a_key_and_differ_in_port() {
        let yaml = service_manifest("ns", "bench.ferrolb.io/ns", SHAPES[3], 0..4);
        let (snapshot, problems) = ferrolb_api::load::load_str("bench.yaml", &yaml);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(snapshot.services.len(), 4);
        assert_eq!(yaml.matches("allow-shared-ip: pair-1").count(), 2);
        assert_eq!((yaml.matches("port: 80,").count(), yaml.matches("port: 81,").count()), (2, 2));
    }

    #[test]
    fn every_shape_has_a_pool_that_holds_its_services() {
        for shape in SHAPES {
            let (snapshot, problems) = ferrolb_api::load::load_str("pool.yaml", &pool("ns", shape.addresses));
            assert!(problems.is_empty(), "{}: {problems:?}", shape.name);
            assert_eq!(snapshot.pools.len(), 1);
        }
    }

    #[test]
    fn the_table_gives_ratios_and_says_what_was_not_done() {
        let run =
            |s: Option<u64>, writes, mib| Run { assigned: s.map(Duration::from_secs), writes, peak_mib: mib };
        let rows = [Row {
            shape: "ipv6",
            services: 10,
            ferrolb: run(Some(1), 10, 20.0),
            metallb: run(None, 40, 40.0),
        }];
        let table = render(&rows);
        let line = table.lines().nth(1).unwrap();
        assert!(line.contains("not done") && line.contains("n/a"), "{line}");
        assert!(line.contains("0.25") && line.contains("0.50"), "{line}");
    }
}
