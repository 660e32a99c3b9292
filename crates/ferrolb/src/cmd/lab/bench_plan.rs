//! The planning benchmark: `ferrolb plan` over N Services, for every shape of
//! configuration a user has (L2, BGP, both, one node's view, shared IPs,
//! requested IPs, pools per namespace, dual-stack, JSON output).
//!
//! Each run is a child process (`ferrolb lab bench plan-once FILE`) doing
//! what `ferrolb plan` does (load, validate, allocate, elect, render), so
//! that its peak resident memory (`VmHWM`) is its own. The table gives, per
//! shape, the median time at the smallest and largest size and their ratio:
//! planning must grow linearly (ratio at most 12 for ten times the Services)
//! and 100,000 Services must plan in under a second.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::memory::Memory;
use crate::output::Format;

/// Arguments of `ferrolb lab bench plan`.
#[derive(clap::Args)]
pub struct Args {
    /// Numbers of Services, comma-separated; the ratio is the last's to the first's.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Runs per size and shape; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The shapes to measure, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    shapes: Vec<Shape>,
    /// Write the generated configurations into this directory and keep them
    /// (to profile `ferrolb plan` on one); by default a temporary one.
    #[arg(long)]
    keep_in: Option<std::path::PathBuf>,
}

/// Arguments of the hidden `ferrolb lab bench plan-once`.
#[derive(clap::Args)]
pub struct OnceArgs {
    /// The generated configuration.
    file: std::path::PathBuf,
    /// Plan for this node too, as `ferrolb plan --node`.
    #[arg(long)]
    node: Option<String>,
    /// Output format, as `ferrolb plan -o`.
    #[arg(short, long, value_enum, default_value_t)]
    output: Format,
}

/// A shape of configuration, as users write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// An IPv4 /15 and an IPv6 /64 pool, one L2Advertisement, three Nodes;
    /// nine Services in ten IPv4, one IPv6.
    L2,
    /// The same pools announced by BGP to one peer, no L2Advertisement.
    Bgp,
    /// Both an L2Advertisement and a BGPAdvertisement with its peer.
    L2Bgp,
    /// `l2-bgp` planned for one node (`--node`): its routes, decisions and elections.
    Node,
    /// `l2-bgp` printed as JSON (`-o json`).
    Json,
    /// `l2-bgp`, every Service sharing its IP with one other (allow-shared-ip).
    SharedIp,
    /// `l2-bgp`, every tenth Service asking for an address (loadBalancerIPs).
    RequestedIp,
    /// 100 pools, each for the namespaces its namespaceSelectors select.
    NamespacePools,
    /// `l2-bgp` with one pool of both families, every Service RequireDualStack.
    DualStack,
}

impl Shape {
    pub const ALL: [Shape; 9] = [
        Shape::L2,
        Shape::Bgp,
        Shape::L2Bgp,
        Shape::Node,
        Shape::Json,
        Shape::SharedIp,
        Shape::RequestedIp,
        Shape::NamespacePools,
        Shape::DualStack,
    ];

    /// The shape's name, as `--shapes` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::L2 => "l2",
            Shape::Bgp => "bgp",
            Shape::L2Bgp => "l2-bgp",
            Shape::Node => "node",
            Shape::Json => "json",
            Shape::SharedIp => "shared-ip",
            Shape::RequestedIp => "requested-ip",
            Shape::NamespacePools => "namespace-pools",
            Shape::DualStack => "dual-stack",
        }
    }

    /// The `plan-once` options beside the file.
    fn options(self) -> &'static [&'static str] {
        match self {
            Shape::Node => &["--node", "node-0"],
            Shape::Json => &["--output", "json"],
            _ => &[],
        }
    }

    /// The configuration of `services` Services in this shape.
    pub fn config(self, services: usize) -> String {
        let mut out = String::new();
        match self {
            Shape::NamespacePools => namespace_pools(&mut out),
            Shape::DualStack => {
                pool(&mut out, "dual", &["198.18.0.0/15", "2001:db8::/64"], None);
            }
            _ => {
                pool(&mut out, "v4", &["198.18.0.0/15"], None);
                pool(&mut out, "v6", &["2001:db8::/64"], None);
            }
        }
        nodes(&mut out);
        if self.has_l2() {
            document(
                &mut out,
                "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: all\n  namespace: metallb-system\n",
            );
        }
        if self.has_bgp() {
            document(
                &mut out,
                "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: all\n  namespace: metallb-system\n",
            );
            document(
                &mut out,
                "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: router\n  namespace: metallb-system\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n",
            );
        }
        for i in 0..services {
            service(&mut out, self, i);
        }
        out
    }
}

fn document(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push_str("---\n");
    }
    out.push_str(text);
}

fn pool(out: &mut String, name: &str, addresses: &[&str], team: Option<usize>) {
    let mut text = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: {name}\n  namespace: metallb-system\nspec:\n  addresses:\n"
    );
    for a in addresses {
        let _ = writeln!(text, "  - {a}");
    }
    if let Some(team) = team {
        let _ = write!(
            text,
            "  serviceAllocation:\n    namespaceSelectors:\n    - matchLabels:\n        team: t{team}\n"
        );
    }
    document(out, &text);
}

/// 100 pools, pool k (an IPv4 /22 and an IPv6 /64) for namespace `ns-k`.
fn namespace_pools(out: &mut String) {
    for k in 0..100_u32 {
        let v4 = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + k * 1024);
        pool(
            out,
            &format!("pool-{k}"),
            &[&format!("{v4}/22"), &format!("2001:db8:0:{k:x}::/64")],
            Some(k as usize),
        );
        document(
            out,
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{k}\n  labels:\n    team: t{k}\n"
            ),
        );
    }
}

fn nodes(out: &mut String) {
    for i in 0..3 {
        document(
            out,
            &format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-{i}\n  labels:\n    rack: r{i}\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.0.2.{}\n",
                10 + i
            ),
        );
    }
}

impl Shape {
    /// Whether the shape announces by L2 (an L2Advertisement).
    pub fn has_l2(self) -> bool {
        self != Shape::Bgp
    }

    /// Whether it announces by BGP (a BGPAdvertisement and the peer
    /// `192.0.2.1`, AS 64513, from AS 64512).
    pub fn has_bgp(self) -> bool {
        self != Shape::L2
    }

    /// The index of the `k`-th Service added to a configuration of `size`
    /// Services (`size` a multiple of 10): an IPv4 Service that asks for
    /// no address (a requested one may be held already at that size) and
    /// shares its IP with no Service there.
    pub fn added_service(size: usize, k: usize) -> usize {
        size + 10 * (k / 4) + 2 * (k % 4) + 1
    }

    /// Service `i` of this shape as a document to append to its file
    /// (starting with `---`).
    pub fn service_document(self, i: usize) -> String {
        let mut out = String::new();
        service(&mut out, self, i);
        out
    }
}

/// Service `i` of `shape`, in namespace `ns-(i % 100)`.
fn service(out: &mut String, shape: Shape, i: usize) {
    // Services that share an IP come in pairs of one family, on two ports.
    let family_of = if shape == Shape::SharedIp { i / 2 } else { i };
    let families = match shape {
        Shape::DualStack => "ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]",
        _ if family_of % 10 == 9 => "ipFamilies: [IPv6]",
        _ => "ipFamilies: [IPv4]",
    };
    let annotation = match shape {
        Shape::SharedIp => format!("\n  annotations:\n    metallb.io/allow-shared-ip: pair-{}", i / 2),
        // The upper /16 of the pool, which the others reach last.
        Shape::RequestedIp if i.is_multiple_of(10) => {
            let ip =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 19, 0, 0)) + (i / 10) as u32);
            format!("\n  annotations:\n    metallb.io/loadBalancerIPs: {ip}")
        }
        _ => String::new(),
    };
    let port = if shape == Shape::SharedIp { 80 + i % 2 } else { 80 };
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: ns-{}{annotation}\n  labels:\n    app: app-{i}\nspec:\n  type: LoadBalancer\n  {families}\n  selector:\n    app: app-{i}\n  ports:\n  - name: http\n    port: {port}\n    protocol: TCP\n    targetPort: 8080\n",
        i % 100
    );
}

/// What one child run measured.
#[derive(Serialize, Deserialize)]
struct Measurement {
    services: usize,
    assigned: usize,
    /// Everything: load, validate, plan, render.
    millis: f64,
    /// CPU time of all threads: steadier than wall time on a shared machine.
    cpu_millis: f64,
    load_millis: f64,
    validate_millis: f64,
    plan_millis: f64,
    render_millis: f64,
    peak_mib: f64,
}

/// One shape's medians, per size.
struct Row {
    shape: Shape,
    sizes: Vec<Measurement>,
}

/// Generates each configuration, measures it `runs` times, prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let dir = match &args.keep_in {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("ferrolb-bench-plan-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let shapes = if args.shapes.is_empty() { Shape::ALL.to_vec() } else { args.shapes.clone() };
    let mut rows = Vec::new();
    let mut result = Ok(());
    for shape in shapes {
        match measure_shape(args, shape, &dir) {
            Ok(row) => {
                eprintln!("{}", render_one(&row));
                rows.push(row);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if args.keep_in.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    println!("{}", render(&rows));
    Ok(ExitCode::SUCCESS)
}

fn measure_shape(args: &Args, shape: Shape, dir: &Path) -> anyhow::Result<Row> {
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let mut sizes = Vec::new();
    for &size in &args.sizes {
        let file = dir.join(format!("{}-{size}.yaml", shape.name()));
        std::fs::write(&file, shape.config(size))?;
        let mut runs = Vec::new();
        for _ in 0..args.runs.max(1) {
            runs.push(measure(&exe, &file, shape)?);
        }
        if args.keep_in.is_none() {
            std::fs::remove_file(&file)?;
        }
        runs.sort_by(|a, b| a.millis.total_cmp(&b.millis));
        sizes.push(runs.swap_remove(runs.len() / 2));
    }
    Ok(Row { shape, sizes })
}

fn measure(exe: &Path, file: &Path, shape: Shape) -> anyhow::Result<Measurement> {
    let out =
        Command::new(exe).args(["lab", "bench", "plan-once"]).arg(file).args(shape.options()).output()?;
    anyhow::ensure!(
        out.status.success(),
        "plan-once of shape {} failed: {}",
        shape.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The target the issue set: ten times the Services at most 12 times the
/// time, and the largest size under a second.
const MAX_RATIO: f64 = 12.0;
const MAX_MILLIS: f64 = 1000.0;

fn ratio(row: &Row) -> Option<f64> {
    match (row.sizes.first(), row.sizes.last()) {
        (Some(first), Some(last)) if row.sizes.len() > 1 => Some(last.millis / first.millis),
        _ => None,
    }
}

fn render_one(row: &Row) -> String {
    let times: Vec<String> =
        row.sizes.iter().map(|m| format!("{} Services {:.1} ms", m.services, m.millis)).collect();
    format!("{}: {}", row.shape.name(), times.join(", "))
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let Some(sizes) = rows.first().map(|r| r.sizes.iter().map(|m| m.services).collect::<Vec<_>>()) else {
        return out;
    };
    let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
    let _ = writeln!(
        out,
        "{:<16}{:>12}{:>12}{:>7}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}  target",
        "shape",
        format!("{first} (ms)"),
        format!("{last} (ms)"),
        "ratio",
        "cpu (ms)",
        "load",
        "validate",
        "plan",
        "render",
        "peak MiB",
    );
    for row in rows {
        let (Some(small), Some(large)) = (row.sizes.first(), row.sizes.last()) else { continue };
        let ratio = ratio(row);
        let verdict = match ratio {
            _ if large.millis > MAX_MILLIS => format!("over {MAX_MILLIS:.0} ms"),
            Some(r) if r > MAX_RATIO * (large.services as f64 / small.services as f64) / 10.0 => {
                "not linear".to_owned()
            }
            _ => "met".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<16}{:>12.1}{:>12.1}{:>7}{:>11.1}{:>11.1}{:>11.1}{:>11.1}{:>11.1}{:>11.1}  {verdict}",
            row.shape.name(),
            small.millis,
            large.millis,
            ratio.map_or("-".to_owned(), |r| format!("{r:.1}")),
            large.cpu_millis,
            large.load_millis,
            large.validate_millis,
            large.plan_millis,
            large.render_millis,
            large.peak_mib,
        );
    }
    let _ = write!(
        out,
        "columns after the ratio are for {last} Services; target: ratio at most {MAX_RATIO} per tenfold, {last} under {MAX_MILLIS:.0} ms"
    );
    out
}

/// One measured run: load, validate, plan and render (to memory), as
/// `ferrolb plan` does.
pub fn once(args: &OnceArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let cpu_start = ferrolb_sys::usage::cpu_time();
    let (snapshot, mut diagnostics) = ferrolb_api::load::load_paths(std::slice::from_ref(&args.file));
    let loaded = start.elapsed();
    let config;
    (config, diagnostics) =
        crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
    let validated = start.elapsed();
    anyhow::ensure!(
        !diagnostics.iter().any(|d| d.is_error()),
        "generated config has problems: {}",
        diagnostics[0]
    );
    let decided = crate::cmd::plan::Decided::of(&config, &snapshot, None, args.node.as_deref());
    let planned = start.elapsed();
    let text = decided.render(args.output)?;
    let total = start.elapsed();
    let cpu = ferrolb_sys::usage::cpu_time() - cpu_start;
    drop(text);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let m = Measurement {
        services: decided.allocation.services.len(),
        assigned: decided.allocation.services.iter().filter(|s| !s.ips.is_empty()).count(),
        millis: ms(total),
        cpu_millis: ms(cpu),
        load_millis: ms(loaded),
        validate_millis: ms(validated - loaded),
        plan_millis: ms(planned - validated),
        render_millis: ms(total - planned),
        peak_mib: Memory::own()?.peak_mib,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_valid_and_fully_assigned() {
        for shape in Shape::ALL {
            let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &shape.config(200));
            let (config, diagnostics) =
                crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
            assert!(diagnostics.is_empty(), "{}: {diagnostics:?}", shape.name());
            let decided = crate::cmd::plan::Decided::of(&config, &snapshot, None, Some("node-0"));
            assert_eq!(decided.allocation.services.len(), 200, "{}", shape.name());
            let want = if shape == Shape::DualStack { 2 } else { 1 };
            for s in &decided.allocation.services {
                assert_eq!(
                    s.ips.len(),
                    want,
                    "{}: {}/{} got {:?} {:?}",
                    shape.name(),
                    s.namespace,
                    s.name,
                    s.ips,
                    s.error
                );
            }
        }
    }

    #[test]
    fn shapes_do_what_their_names_say() {
        let plan = |shape: Shape| {
            let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &shape.config(40));
            let (config, _) =
                crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
            crate::cmd::plan::Decided::of(&config, &snapshot, None, Some("node-0"))
        };
        assert!(plan(Shape::Bgp).l2.vips.is_empty(), "BGP only: no election");
        assert!(plan(Shape::L2).bgp.as_ref().is_some_and(|b| b.peers.is_empty()), "L2 only: no peer");
        let shared = plan(Shape::SharedIp).allocation;
        assert_eq!(shared.services[0].ips, shared.services[1].ips, "a pair shares its IP");
        assert_ne!(shared.services[0].ips, shared.services[2].ips, "pairs do not");
        let requested = plan(Shape::RequestedIp).allocation;
        let svc0 = requested.services.iter().find(|s| s.name == "svc-0").unwrap();
        assert_eq!(svc0.ips, ["198.19.0.0".parse::<std::net::IpAddr>().unwrap()]);
        let namespaced = plan(Shape::NamespacePools).allocation;
        let svc7 = namespaced.services.iter().find(|s| s.name == "svc-7").unwrap();
        assert_eq!(svc7.pool.as_deref(), Some("pool-7"), "ns-7's pool");
    }
}
