//! The controller's reconcile at scale: `ferrolb controller` holding N
//! Services whose status it has written, one Service created, and what it
//! does before its one write — the snapshot from the watchers' stores, the
//! validation of the configuration, the allocation and the status plan —
//! for every shape of configuration of `bench plan`.
//!
//! In process and without an API server, on purpose: what the API server
//! takes to store the new Service and send it to the watchers does not grow
//! with the Services and is the same for MetalLB (`bench k8s` measures the
//! controllers end to end at 10k). Before these steps, a change that comes
//! after a quiet spell is taken at once, while changes that come faster wait
//! a window (four times the last build, up to [`ControllerOptions::default`]'s
//! `debounce`); after them comes the one write.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use ferrolb_api::core::Service;
use ferrolb_api::validate::{Options, validated};
use ferrolb_k8s::allocation::{Decided, decide};
use ferrolb_k8s::state::{ServiceChange, service_key};
use ferrolb_k8s::status::{Owned, Warned};
use ferrolb_k8s::validation::LastGood;
use ferrolb_k8s::{ClusterState, ControllerOptions, SnapshotBuilder, status};

use super::bench_bgp::median;
use super::bench_plan::Shape;

/// The namespace of the benchmark's `metallb.io` objects.
const NAMESPACE: &str = "metallb-system";

/// Arguments of `ferrolb lab bench reconcile`.
#[derive(clap::Args)]
pub struct Args {
    /// Numbers of Services, comma-separated; the ratio is the last's to the first's.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Services created one after the other at each size; the median is reported.
    #[arg(long, default_value_t = 5)]
    edits: usize,
    /// The shapes to measure, comma-separated (default: every shape the
    /// controller tells apart; `node` and `json` are `l2-bgp` to it).
    #[arg(long, value_enum, value_delimiter = ',')]
    shapes: Vec<Shape>,
}

/// The time of each step of one reconcile, in milliseconds.
#[derive(Clone, Copy, Default)]
struct Steps {
    /// The watchers' stores copied and turned into a snapshot.
    snapshot: f64,
    /// The configuration validated and resolved, the last good one kept.
    validate: f64,
    /// What the Services record read, and the allocation.
    allocate: f64,
    /// The writes that bring the cluster to the allocation.
    status: f64,
    /// Whether the allocation took the short way (from the last one).
    reallocated: bool,
    /// How many Services the status plan looked at.
    planned: usize,
}

impl Steps {
    fn total(&self) -> f64 {
        self.snapshot + self.validate + self.allocate + self.status
    }
}

/// The medians of one shape at one size.
struct Measured {
    services: usize,
    steps: Steps,
    /// Of the creations measured, how many took the short way: allocated
    /// from the last decision, and planned from the last plan.
    short: usize,
    /// The most Services a status plan looked at.
    looked_at: usize,
    edits: usize,
}

/// Measures every shape at every size and prints the table.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let shapes: Vec<Shape> = if args.shapes.is_empty() {
        Shape::ALL.into_iter().filter(|s| !matches!(s, Shape::Node | Shape::Json)).collect()
    } else {
        args.shapes.clone()
    };
    let mut rows = Vec::new();
    for shape in shapes {
        let mut sizes = Vec::new();
        for &size in &args.sizes {
            let measured = measure(shape, size, args.edits.max(1))
                .with_context(|| format!("shape {} at {size} Services", shape.name()))?;
            eprintln!("{}: {size} Services, one created: {:.1} ms", shape.name(), measured.steps.total());
            sizes.push(measured);
        }
        rows.push((shape, sizes));
    }
    println!("{}", render(&rows));
    Ok(ExitCode::SUCCESS)
}

/// A cluster of `size` Services of `shape` whose status the controller has
/// written, then `edits` Services created one at a time: the median steps.
fn measure(shape: Shape, size: usize, edits: usize) -> anyhow::Result<Measured> {
    let mut state = cluster(shape, size)?;
    let mut controller = Reconciler::default();
    // The first reconcile writes every Service; the cluster then holds it.
    let writes = controller.reconcile(&state, None)?.0;
    anyhow::ensure!(writes.len() == size, "{} writes for {size} new Services", writes.len());
    let mut changed = hold(&mut state, &writes);
    let (writes, _) = controller.reconcile(&state, Some(changed))?;
    anyhow::ensure!(writes.is_empty(), "a converged cluster still gets writes");
    let mut runs = Vec::new();
    changed = Vec::new();
    for i in 0..edits {
        let created = Arc::new(service(shape, Shape::added_service(size, i))?);
        changed.push(told(&created));
        state.services.push(created);
        let (writes, steps) = controller.reconcile(&state, Some(changed))?;
        anyhow::ensure!(writes.len() == 1, "{} writes for one new Service", writes.len());
        changed = hold(&mut state, &writes);
        runs.push(steps);
    }
    let of = |step: fn(&Steps) -> f64| median(&runs.iter().map(step).collect::<Vec<_>>());
    Ok(Measured {
        services: size,
        steps: Steps {
            snapshot: of(|s| s.snapshot),
            validate: of(|s| s.validate),
            allocate: of(|s| s.allocate),
            status: of(|s| s.status),
            reallocated: false,
            planned: 0,
        },
        short: runs.iter().filter(|s| s.reallocated && s.planned < size).count(),
        looked_at: runs.iter().map(|s| s.planned).max().unwrap_or(0),
        edits,
    })
}

/// The controller's state between two snapshots, and its steps in order
/// (as [`controller::Controller`] runs them, without the I/O).
#[derive(Default)]
struct Reconciler {
    builder: SnapshotBuilder,
    last_good: LastGood,
    last: Option<Decided>,
    warned: Warned,
    options: ControllerOptions,
}

impl Reconciler {
    /// One reconcile of `state`, whose Services of `changed` are those the
    /// watchers told of since the last one (`None`: the first listing):
    /// the writes it sends, and how long each step took.
    fn reconcile(
        &mut self,
        state: &ClusterState,
        changed: Option<Vec<ServiceChange>>,
    ) -> anyhow::Result<(Vec<status::ServiceWrite>, Steps)> {
        let mut steps = Steps::default();
        let mut clock = Instant::now();
        let mut lap = || std::mem::replace(&mut clock, Instant::now()).elapsed().as_secs_f64() * 1e3;
        // The watchers copy their stores (but the Services, of which they
        // read those they were told of), then build the snapshot.
        let snapshot = Arc::new(match changed {
            None => self.builder.build(&state.clone(), NAMESPACE),
            Some(changed) => self.builder.build_changed(&state.without_services(), NAMESPACE, changed),
        });
        steps.snapshot = lap();
        let (config, diagnostics) = validated(&snapshot, &Options::any_namespace());
        let errors = ferrolb_k8s::validation::errors(&diagnostics);
        anyhow::ensure!(errors.is_empty(), "the configuration is invalid: {errors:?}");
        let run = self.last_good.admit(snapshot, config, &diagnostics).context("nothing admitted")?;
        steps.validate = lap();
        let decided = decide(run, self.last.take(), &self.options.allocation);
        steps.allocate = lap();
        let plan = status::plan_decision(&decided, &self.options.allocation, &mut self.warned);
        steps.status = lap();
        steps.reallocated = decided.took_the_short_way();
        steps.planned = plan.looked_at;
        self.last = Some(decided);
        Ok((plan.writes, steps))
    }
}

/// The cluster of `shape` with `size` Services, none holding an address.
fn cluster(shape: Shape, size: usize) -> anyhow::Result<ClusterState> {
    let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &shape.config(0));
    let errors = ferrolb_k8s::validation::errors(&diagnostics);
    anyhow::ensure!(errors.is_empty(), "the configuration does not load: {errors:?}");
    fn objects<T: Clone>(located: &[ferrolb_api::Located<T>]) -> Vec<Arc<T>> {
        located.iter().map(|l| Arc::new(l.object.clone())).collect()
    }
    Ok(ClusterState {
        pools: objects(&snapshot.pools),
        l2_advertisements: objects(&snapshot.l2_advertisements),
        bgp_advertisements: objects(&snapshot.bgp_advertisements),
        bgp_peers: objects(&snapshot.bgp_peers),
        bfd_profiles: objects(&snapshot.bfd_profiles),
        communities: objects(&snapshot.communities),
        nodes: objects(&snapshot.nodes),
        namespaces: objects(&snapshot.namespaces),
        secrets: objects(&snapshot.secrets),
        endpoint_slices: objects(&snapshot.endpoint_slices),
        services: (0..size).map(|i| service(shape, i).map(Arc::new)).collect::<anyhow::Result<_>>()?,
    })
}

/// Service `i` of `shape`, as the API server would serve it before the
/// controller wrote its status.
fn service(shape: Shape, i: usize) -> anyhow::Result<Service> {
    let document = shape.service_document(i);
    let document = document.strip_prefix("---\n").unwrap_or(&document);
    serde_saphyr::from_str(document).with_context(|| format!("service {i} of shape {}", shape.name()))
}

/// What the watchers tell of `service` when it changes.
fn told(service: &Arc<Service>) -> ServiceChange {
    let (namespace, name) = service_key(service);
    ((namespace.to_owned(), name.to_owned()), Some(Arc::clone(service)))
}

/// Makes the Services of `writes` hold what was written, as the API server
/// would after the merge patches; what the watchers tell of them.
fn hold(state: &mut ClusterState, writes: &[status::ServiceWrite]) -> Vec<ServiceChange> {
    let by_key: std::collections::HashMap<(&str, &str), &Owned> =
        writes.iter().map(|w| ((&*w.service.namespace, &*w.service.name), &w.desired)).collect();
    let mut changed = Vec::new();
    for service in &mut state.services {
        let key = (
            service.metadata.namespace.as_deref().unwrap_or(""),
            service.metadata.name.as_deref().unwrap_or(""),
        );
        let Some(desired) = by_key.get(&key) else { continue };
        let mut written = Service::clone(service);
        let annotations = written.metadata.annotations.get_or_insert_default();
        match &desired.pool {
            Some(pool) => annotations.insert(status::IP_ALLOCATED_FROM_POOL.to_owned(), pool.clone()),
            None => annotations.remove(status::IP_ALLOCATED_FROM_POOL),
        };
        let ingress: Vec<_> =
            desired.ips.iter().map(|ip| serde_json::json!({"ip": ip.to_string()})).collect();
        written.status = serde_json::from_value(serde_json::json!({"loadBalancer": {"ingress": ingress}}))
            .expect("a Service status of ingress addresses");
        *service = Arc::new(written);
        changed.push(told(service));
    }
    changed
}

/// The table: per shape, the median reconcile at each size, the ratio of
/// the last size to the first, the steps at the last size, and the target.
fn render(rows: &[(Shape, Vec<Measured>)]) -> String {
    let mut out = format!("{:<16}", "shape");
    let Some((_, first)) = rows.first() else { return out };
    for m in first {
        let _ = write!(out, " {:>12}", format!("{} (ms)", m.services));
    }
    let _ = writeln!(
        out,
        " {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}  target",
        "ratio", "snapshot", "validate", "allocate", "status", "short way", "planned"
    );
    for (shape, sizes) in rows {
        let _ = write!(out, "{:<16}", shape.name());
        for m in sizes {
            let _ = write!(out, " {:>12.1}", m.steps.total());
        }
        let (Some(small), Some(large)) = (sizes.first(), sizes.last()) else { continue };
        let ratio = large.steps.total() / small.steps.total();
        let tenfolds = (large.services as f64 / small.services as f64).log10();
        let linear = ratio <= 12f64.powf(tenfolds);
        let fast = large.services < 100_000 || large.steps.total() < 1000.0;
        let target = match (linear, fast) {
            (true, true) => "met",
            (false, _) => "not linear",
            (true, false) => "over 1 s",
        };
        let s = large.steps;
        let _ = writeln!(
            out,
            " {ratio:>6.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>8}  {target}",
            s.snapshot,
            s.validate,
            s.allocate,
            s.status,
            format!("{}/{}", large.short, large.edits),
            large.looked_at,
        );
    }
    let last = first.last().map_or(0, |m| m.services);
    let _ = write!(
        out,
        "one Service created among N whose status is written; the steps are for {last} Services \
         (planned: the most Services a status plan looked at); \
         target: ratio at most 12 per tenfold, 100000 under 1000 ms; on top come the write, and for a \
         burst of changes a window of up to {} ms (the debounce)",
        ControllerOptions::default().debounce.as_millis()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_created_service_is_one_write_in_every_shape() {
        for shape in Shape::ALL {
            let measured = measure(shape, 40, 2).unwrap_or_else(|e| panic!("{}: {e:#}", shape.name()));
            assert_eq!(measured.services, 40);
            // A shared IP's pair is its own key's: the short way too.
            assert_eq!(measured.short, 2, "{}: one new Service among settled ones", shape.name());
            // The new Service, and the one before whose write came back.
            assert!(measured.looked_at <= 2, "{}: {} Services planned", shape.name(), measured.looked_at);
        }
    }

    #[test]
    fn the_table_says_whether_the_target_is_met() {
        let m = |services, total| Measured {
            services,
            steps: Steps { snapshot: total, ..Steps::default() },
            short: 0,
            looked_at: 0,
            edits: 5,
        };
        let table = render(&[
            (Shape::L2, vec![m(10_000, 50.0), m(100_000, 500.0)]),
            (Shape::Bgp, vec![m(10_000, 50.0), m(100_000, 700.0)]),
            (Shape::DualStack, vec![m(10_000, 100.0), m(100_000, 1100.0)]),
        ]);
        let verdicts: Vec<&str> =
            table.lines().skip(1).take(3).map(|l| l.rsplit("  ").next().unwrap_or_default()).collect();
        assert_eq!(verdicts, ["met", "not linear", "over 1 s"], "{table}");
    }
}
