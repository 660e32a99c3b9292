//! What the controller writes back to the cluster after an allocation: per
//! Service, the `status.loadBalancer.ingress` and the
//! `metallb.io/ip-allocated-from-pool` annotation, and the Events MetalLB
//! sends for the same outcomes.
//!
//! No I/O, no clock, no globals: the driver in [`crate::controller`] sends
//! each [`ServiceWrite`] as one merge patch and publishes the [`Note`]s.
//!
//! Only a Service whose current state differs from the desired one gets a
//! write, so a controller that restarts over a converged cluster writes
//! nothing (MetalLB `controller/main.go` `SetBalancer`: no update when the
//! converged copy equals the one read).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ferrolb_api::Snapshot;
use ferrolb_api::metallb::IPAddressPoolStatus;
use ferrolb_api::service::LbService;
use ferrolb_ipam::{
    Allocation, Assignment, Assignments, Options, ServiceKey, ServiceOutcome, annotation, namespace_of,
};
use serde_json::{Map, Value, json};

use crate::allocation::Decided;

/// The annotation naming the pool a Service's addresses came from, as
/// MetalLB writes it.
pub const IP_ALLOCATED_FROM_POOL: &str = annotation::IP_ALLOCATED_FROM_POOL;

/// What ferrolb owns on a Service: the ingress addresses of its status and
/// the pool annotation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// `status.loadBalancer.ingress[].ip`, in order.
    pub ips: Vec<IpAddr>,
    /// The `metallb.io/ip-allocated-from-pool` annotation.
    pub pool: Option<String>,
}

impl Owned {
    /// What `service` holds now, as read from the cluster. Addresses that do
    /// not parse are kept out, so a Service holding one gets rewritten.
    pub fn of(service: &LbService) -> Owned {
        Owned {
            ips: ingress(service).collect(),
            pool: service.annotation(IP_ALLOCATED_FROM_POOL).map(str::to_owned),
        }
    }

    /// The JSON merge patch (RFC 7386) of a Service's `status` subresource
    /// that makes it hold `self`: annotation and status in one write, as
    /// MetalLB's one `UpdateStatus` carries both (the status subresource of a
    /// Service takes metadata changes and drops only spec ones). An
    /// ingress entry is `{ip}` alone, as MetalLB writes it; no `ipMode`.
    pub fn status_patch(&self) -> Value {
        let ingress = match self.ips.is_empty() {
            // MetalLB clears with an empty LoadBalancerStatus: no ingress key.
            true => Value::Null,
            false => self.ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect(),
        };
        let mut annotations = Map::new();
        annotations
            .insert(IP_ALLOCATED_FROM_POOL.to_owned(), self.pool.clone().map_or(Value::Null, Value::from));
        json!({
            "metadata": {"annotations": annotations},
            "status": {"loadBalancer": {"ingress": ingress}},
        })
    }
}

/// The addresses of a Service's `status.loadBalancer.ingress`, in order;
/// those that do not parse left out, so a Service holding one gets rewritten.
fn ingress(service: &LbService) -> impl Iterator<Item = IpAddr> + Clone + '_ {
    service.ingress_ips.iter().filter_map(|ip| ip.trim().parse::<IpAddr>().ok()).map(|ip| ip.to_canonical())
}

/// What a Service records of an allocation: the pool of its annotation and
/// the addresses of its status, when it records both.
fn record(service: &LbService) -> Option<(&str, impl Iterator<Item = IpAddr> + Clone + '_)> {
    let pool = service.annotation(IP_ALLOCATED_FROM_POOL)?;
    let mut ips = ingress(service).peekable();
    ips.peek()?;
    Some((pool, ips))
}

/// Whether what `service` records (if anything) is what `outcome` holds:
/// what allocation starts from for that Service is then the same whether
/// it reads the record or the decision the outcome belongs to (see
/// [`previous_assignments`]).
pub fn record_agrees(service: &LbService, outcome: Option<&ServiceOutcome>) -> bool {
    let Some((pool, ips)) = record(service) else { return true };
    outcome.is_some_and(|o| o.pool.as_deref() == Some(pool) && ips.eq(o.ips.iter().copied()))
}

/// An Event about a Service, with MetalLB's reason and words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// `IPAllocated`, `AllocationFailed`, `ClearAssignment`, `LoadBalancerFailed`,
    /// `deprecatedAnnotation`.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// One Service to write: what it holds and what it should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceWrite {
    /// The Service.
    pub service: ServiceKey,
    /// What it holds now.
    pub current: Owned,
    /// What it should hold.
    pub desired: Owned,
    /// Events to publish once the write succeeded.
    pub notes: Vec<Note>,
}

impl ServiceWrite {
    /// The merge patch of the `status` subresource.
    pub fn patch(&self) -> Value {
        self.desired.status_patch()
    }
}

/// What one allocation asks of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Services whose status or annotation differ from the allocation.
    pub writes: Vec<ServiceWrite>,
    /// Warnings to publish now, whether or not anything is written.
    pub warnings: Vec<(ServiceKey, Note)>,
    /// How many Services were looked at: all of them, or (from the last
    /// plan) those that changed and those it wrote.
    pub looked_at: usize,
}

/// What the controller told the cluster of its decisions so far: the
/// warnings published, by Service, so that a Service that keeps failing for
/// the same reason gets one Event, not one per snapshot; and what the last
/// plan asked, from which the next one can start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Warned {
    by_service: BTreeMap<ServiceKey, String>,
    /// The decision the last plan was made for, and the Services it wrote.
    last: Option<(u64, Vec<ServiceKey>)>,
}

/// The writes and Events that bring the cluster to `decided`, as [`plan`]
/// gives them. When `decided` came the short way from the decision `warned`
/// last planned, only the Services that changed since and those the last
/// plan wrote are looked at: every other one holds what it held, under the
/// same outcome, so it still needs no write and no new warning.
pub fn plan_decision(decided: &Decided, options: &Options, warned: &mut Warned) -> Plan {
    let (snapshot, allocation) = (&*decided.run.snapshot, decided.allocation());
    let last = warned.last.take();
    let plan = match (decided.since(), last) {
        (Some((since, changed)), Some((planned, written))) if planned == since => {
            let mut candidates: Vec<&ServiceKey> = changed.iter().chain(&written).collect();
            candidates.sort_unstable();
            candidates.dedup();
            let mut plan = Plan { looked_at: candidates.len(), ..Plan::default() };
            for key in candidates {
                let told = warned.by_service.remove(key);
                let Some(service) = find(snapshot, key) else { continue };
                let outcome = allocation.get(&key.namespace, &key.name);
                let planned = plan_service(&key.namespace, &key.name, service, outcome, options);
                plan.add(planned, told, &mut warned.by_service);
            }
            plan
        }
        _ => plan(snapshot, allocation, options, warned),
    };
    warned.last = Some((decided.generation(), plan.writes.iter().map(|w| w.service.clone()).collect()));
    plan
}

/// The writes and Events that bring the cluster to `allocation`. Services
/// ferrolb serves (`options.lb_class`) that are no longer of type
/// LoadBalancer lose what ferrolb wrote, as MetalLB's `clearServiceState`.
/// `warned` remembers which warnings went out and is updated.
pub fn plan(snapshot: &Snapshot, allocation: &Allocation, options: &Options, warned: &mut Warned) -> Plan {
    let mut plan = Plan { looked_at: snapshot.services.len(), ..Plan::default() };
    let mut told = std::mem::take(&mut warned.by_service);
    // The snapshot lists its Services in the allocation's order.
    let mut outcomes = allocation.walk();
    for located in &snapshot.services {
        let service = &located.object;
        let (namespace, name) = (namespace_of(service), &*service.name);
        let planned = plan_service(namespace, name, service, outcomes.get(namespace, name), options);
        if let Some(key) = planned.key() {
            let told = told.remove(key);
            plan.add(planned, told, &mut warned.by_service);
        }
    }
    tracing::trace!(services = snapshot.services.len(), writes = plan.writes.len(), "planned");
    warned.last = None;
    plan
}

/// What one Service needs.
#[derive(Default)]
struct Planned {
    write: Option<ServiceWrite>,
    warning: Option<(ServiceKey, Note)>,
}

impl Planned {
    /// The Service, when it needs anything.
    fn key(&self) -> Option<&ServiceKey> {
        self.write.as_ref().map(|w| &w.service).or(self.warning.as_ref().map(|(key, _)| key))
    }
}

impl Plan {
    /// Adds what one Service needs; its warning only if it is not what was
    /// `told` last. `told_now` keeps the warning.
    fn add(&mut self, planned: Planned, told: Option<String>, told_now: &mut BTreeMap<ServiceKey, String>) {
        if let Some((key, note)) = planned.warning {
            if told.as_ref() != Some(&note.message) {
                self.warnings.push((key.clone(), note.clone()));
            }
            told_now.insert(key, note.message);
        }
        self.writes.extend(planned.write);
    }
}

/// What `service` needs under `outcome` (none: allocation does not handle
/// it): a write when it holds something else, and the warning of an
/// outcome with an error. Nothing is built for a Service that needs
/// nothing: a full plan asks this of every Service.
fn plan_service(
    namespace: &str,
    name: &str,
    service: &LbService,
    outcome: Option<&ServiceOutcome>,
    options: &Options,
) -> Planned {
    let key = || ServiceKey::new(namespace, name);
    let Some(outcome) = outcome else {
        let ours = service.load_balancer_class.as_deref() == options.lb_class.as_deref();
        if service.load_balancer || !ours || holds(service, &[], None) {
            return Planned::default();
        }
        let write = ServiceWrite {
            service: key(),
            current: Owned::of(service),
            desired: Owned::default(),
            notes: deprecated_annotations(service),
        };
        return Planned { write: Some(write), warning: None };
    };
    let pool = outcome.pool.as_deref().filter(|_| !outcome.ips.is_empty());
    let warning = warning(namespace, name, outcome).map(|note| (key(), note));
    if holds(service, &outcome.ips, pool) {
        return Planned { write: None, warning };
    }
    let current = Owned::of(service);
    let desired = Owned { ips: outcome.ips.clone(), pool: pool.map(str::to_owned) };
    let mut notes = notes(namespace, name, outcome, &current);
    notes.extend(deprecated_annotations(service));
    Planned { write: Some(ServiceWrite { service: key(), current, desired, notes }), warning }
}

/// Whether `service` holds `ips` and `pool`, read as [`Owned::of`] reads
/// them.
fn holds(service: &LbService, ips: &[IpAddr], pool: Option<&str>) -> bool {
    service.annotation(IP_ALLOCATED_FROM_POOL) == pool && ingress(service).eq(ips.iter().copied())
}

/// The Service of `key` in `snapshot` (sorted by namespace and name; a
/// Service without a namespace is in `default`).
fn find<'a>(snapshot: &'a Snapshot, key: &ServiceKey) -> Option<&'a LbService> {
    let search = |namespace: &str| {
        let services = &snapshot.services;
        let at = services.partition_point(|s| (&*s.namespace, &*s.name) < (namespace, key.name.as_str()));
        services.get(at).filter(|s| *s.namespace == *namespace && *s.name == *key.name).map(|s| &s.object)
    };
    search(&key.namespace).or_else(|| search("").filter(|_| key.namespace == "default"))
}

/// The Normal Events of a write, as MetalLB `controller/service.go`
/// `convergeBalancer` sends them: `ClearAssignment` when the addresses held
/// are no longer allowed, `IPAllocated` when new ones are assigned.
fn notes(namespace: &str, name: &str, outcome: &ServiceOutcome, current: &Owned) -> Vec<Note> {
    let mut notes = Vec::new();
    if outcome.ips == current.ips {
        return notes; // only the annotation changes: MetalLB says nothing
    }
    if let Some(released) = &outcome.released {
        notes.push(Note {
            warning: false,
            reason: "ClearAssignment",
            message: format!(
                "current IP for {:?} not allowed by config, will attempt for new IP assignment: {}",
                format!("{namespace}/{name}"),
                released.reason
            ),
        });
    }
    if !outcome.ips.is_empty() {
        notes.push(Note {
            warning: false,
            reason: "IPAllocated",
            message: format!("Assigned IP {}", go_quoted(&outcome.ips)),
        });
    }
    notes
}

/// The prefix of the annotations MetalLB reads under their old name.
pub const DEPRECATED_ANNOTATION_PREFIX: &str = "metallb.universe.tf/";

/// A Warning per `metallb.universe.tf/*` annotation of `service`, as
/// MetalLB `controller/main.go` sends them: only with a write (a Service
/// that changes), so that a settled Service is not warned about on every
/// snapshot.
fn deprecated_annotations(service: &LbService) -> Vec<Note> {
    service
        .annotations
        .iter()
        .filter(|(key, _)| key.starts_with(DEPRECATED_ANNOTATION_PREFIX))
        .map(|(key, _)| Note {
            warning: true,
            reason: "deprecatedAnnotation",
            message: format!("Service uses deprecated annotation {key}"),
        })
        .collect()
}

/// The Warning Event of an outcome with an error: `AllocationFailed` when
/// the Service has no address, `LoadBalancerFailed` when it keeps the ones
/// it had because what it asks for cannot be read.
fn warning(namespace: &str, name: &str, outcome: &ServiceOutcome) -> Option<Note> {
    let error = outcome.error.as_ref()?;
    Some(match outcome.ips.is_empty() {
        true => Note {
            warning: true,
            reason: "AllocationFailed",
            message: format!("Failed to allocate IP for {:?}: {error}", format!("{namespace}/{name}")),
        },
        false => Note {
            warning: true,
            reason: "LoadBalancerFailed",
            message: format!("invalid requested loadbalancer IPs: {error}"),
        },
    })
}

/// Addresses as Go's `%q` prints a `[]net.IP`, which MetalLB's messages
/// use: `["192.0.2.1" "2001:db8::1"]`.
fn go_quoted(ips: &[IpAddr]) -> String {
    let quoted: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
    format!("[{}]", quoted.join(" "))
}

/// One pool whose status counts differ from the allocation's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolWrite {
    /// The pool's name (in the controller's namespace).
    pub pool: String,
    /// The counts to write.
    pub desired: IPAddressPoolStatus,
}

impl PoolWrite {
    /// The merge patch of the pool's `status` subresource: the four counts
    /// MetalLB's controller writes.
    pub fn patch(&self) -> Value {
        json!({ "status": self.desired })
    }
}

/// The pools whose status should change after `allocation`: those that
/// exist in the cluster (`current` gives the status each holds, `None` for
/// none yet) and hold other counts. A pool whose counts are unchanged
/// gets no write, so a settled cluster sees none.
pub fn pool_writes<'a>(
    allocation: &Allocation,
    current: impl Fn(&str) -> Option<Option<&'a IPAddressPoolStatus>>,
) -> Vec<PoolWrite> {
    allocation
        .pools
        .iter()
        .filter_map(|stats| {
            let held = current(&stats.name)?;
            let desired = stats.status();
            (held != Some(&desired)).then(|| PoolWrite { pool: stats.name.clone(), desired })
        })
        .collect()
}

/// The assignments the cluster records: every Service of `snapshot` with
/// ingress addresses and a `metallb.io/ip-allocated-from-pool` annotation.
/// A Service with addresses but no annotation is left out: ipam then reads
/// its addresses from its status itself, and finds their pool.
pub fn recorded_assignments(snapshot: &Snapshot) -> Assignments {
    // Collected, not inserted one by one: the snapshot's order is the
    // assignments' own, which a sorted collect builds in one pass.
    snapshot
        .services
        .iter()
        .filter_map(|located| {
            let service = &located.object;
            let (pool, ips) = record(service)?;
            let assignment = Assignment { pool: pool.to_owned(), ips: ips.collect() };
            Some((ServiceKey::new(namespace_of(service), &*service.name), assignment))
        })
        .collect()
}

/// What allocation starts from: the assignments the cluster records, and
/// for Services that record none yet, what this controller decided last
/// time (`remembered`), so that a write still in flight is not undone.
pub fn previous_assignments(snapshot: &Snapshot, remembered: &Assignments) -> Assignments {
    let mut previous = recorded_assignments(snapshot);
    // Both sorted by Service: what memory alone holds is found by walking
    // them side by side (at 100k Services, hashing every key was a good
    // part of a reconcile).
    let remembered_only: Vec<_> = {
        let mut recorded = previous.iter().map(|(key, _)| key).peekable();
        remembered
            .iter()
            .filter(|(key, _)| {
                while recorded.next_if(|r| r < key).is_some() {}
                recorded.peek() != Some(key)
            })
            .map(|(key, assignment)| (key.clone(), assignment.clone()))
            .collect()
    };
    for (key, assignment) in remembered_only {
        previous.insert(key.namespace, key.name, assignment.pool, assignment.ips);
    }
    previous
}

/// What a speaker announces: the Services of `allocation` (made with
/// [`recorded_assignments`] as the previous assignments) whose addresses are
/// exactly those of their status. A speaker does not allocate, as MetalLB's
/// (`speaker/main.go` `SetBalancer` reads `status.loadBalancer.ingress`):
/// a Service with no status yet, or whose status no longer fits its pool,
/// waits for the controller to write it, so a speaker never announces an
/// address the controller has not handed out.
pub fn announced_by_status(snapshot: &Snapshot, mut allocation: Allocation) -> Allocation {
    let in_status: HashMap<(&str, &str), Vec<IpAddr>> = snapshot
        .services
        .iter()
        .map(|located| {
            let service = &located.object;
            let mut ips = Owned::of(service).ips;
            ips.sort_unstable();
            ((namespace_of(service), &*service.name), ips)
        })
        .collect();
    allocation.services.retain(|outcome| {
        let mut ips = outcome.ips.clone();
        ips.sort_unstable();
        !ips.is_empty() && in_status.get(&(outcome.namespace.as_str(), outcome.name.as_str())) == Some(&ips)
    });
    allocation
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_api::Located;

    fn service(name: &str, ingress: &[&str], pool: Option<&str>) -> Located<LbService> {
        let mut annotations = ferrolb_api::labels::Labels::default();
        if let Some(pool) = pool {
            annotations = [(IP_ALLOCATED_FROM_POOL.to_owned(), pool.to_owned())].into_iter().collect();
        }
        Located::unsourced(
            ferrolb_api::service::LbServiceFields {
                namespace: "default".into(),
                name: name.into(),
                annotations,
                load_balancer: true,
                ingress_ips: ingress.iter().map(|&ip| ip.into()).collect(),
                ..Default::default()
            }
            .into(),
        )
    }

    fn outcome(name: &str, ips: &[&str], pool: Option<&str>) -> ServiceOutcome {
        ServiceOutcome {
            namespace: "default".into(),
            name: name.into(),
            pool: pool.map(Into::into),
            ips: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            error: None,
            families: ferrolb_ipam::Families::Single(ferrolb_types::IpFamily::V4),
            released: None,
        }
    }

    #[test]
    fn a_new_address_is_one_patch_with_status_and_annotation() {
        let snapshot = Snapshot { services: vec![service("web", &[], None)].into(), ..Snapshot::default() };
        let allocation =
            Allocation { services: vec![outcome("web", &["192.0.2.1"], Some("a"))], pools: vec![] };
        let plan = plan(&snapshot, &allocation, &Options::default(), &mut Warned::default());
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(
            plan.writes[0].patch(),
            json!({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "a"}},
                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}})
        );
        assert_eq!(plan.writes[0].notes[0].reason, "IPAllocated");
        assert_eq!(plan.writes[0].notes[0].message, r#"Assigned IP ["192.0.2.1"]"#);
    }

    #[test]
    fn a_write_warns_of_each_deprecated_annotation_and_a_settled_service_is_not_warned() {
        let mut old = service("web", &[], None);
        old.object.annotations = [
            ("metallb.universe.tf/address-pool", "a"),
            ("metallb.universe.tf/allow-shared-ip", "k"),
            ("metallb.io/loadBalancerIPs", "192.0.2.1"),
        ]
        .into_iter()
        .collect();
        let snapshot = Snapshot { services: vec![old.clone()].into(), ..Snapshot::default() };
        let allocation =
            Allocation { services: vec![outcome("web", &["192.0.2.1"], Some("a"))], pools: vec![] };
        let plan = plan(&snapshot, &allocation, &Options::default(), &mut Warned::default());
        let notes: Vec<(&str, &str)> =
            plan.writes[0].notes.iter().map(|n| (n.reason, n.message.as_str())).collect();
        assert_eq!(
            notes,
            [
                ("IPAllocated", r#"Assigned IP ["192.0.2.1"]"#),
                (
                    "deprecatedAnnotation",
                    "Service uses deprecated annotation metallb.universe.tf/address-pool"
                ),
                (
                    "deprecatedAnnotation",
                    "Service uses deprecated annotation metallb.universe.tf/allow-shared-ip"
                ),
            ]
        );
        assert!(plan.writes[0].notes[1].warning);

        old.object.annotations = old.object.annotations.with(IP_ALLOCATED_FROM_POOL, "a");
        old.object.ingress_ips = Box::new(["192.0.2.1".into()]);
        let settled = Snapshot { services: vec![old].into(), ..Snapshot::default() };
        let plan = super::plan(&settled, &allocation, &Options::default(), &mut Warned::default());
        assert!(plan.writes.is_empty(), "no write, no warning: {plan:?}");
    }

    #[test]
    fn a_service_holding_its_address_gets_no_write() {
        let snapshot = Snapshot {
            services: vec![service("web", &["192.0.2.1"], Some("a"))].into(),
            ..Snapshot::default()
        };
        let allocation =
            Allocation { services: vec![outcome("web", &["192.0.2.1"], Some("a"))], pools: vec![] };
        assert_eq!(
            plan(&snapshot, &allocation, &Options::default(), &mut Warned::default()),
            Plan { looked_at: 1, ..Plan::default() }
        );
    }

    #[test]
    fn a_missing_annotation_alone_is_written_without_an_event() {
        let snapshot =
            Snapshot { services: vec![service("web", &["192.0.2.1"], None)].into(), ..Snapshot::default() };
        let allocation =
            Allocation { services: vec![outcome("web", &["192.0.2.1"], Some("a"))], pools: vec![] };
        let plan = plan(&snapshot, &allocation, &Options::default(), &mut Warned::default());
        assert_eq!(plan.writes.len(), 1);
        assert!(plan.writes[0].notes.is_empty());
    }

    #[test]
    fn a_lost_address_clears_status_and_annotation_and_warns_once() {
        let snapshot = Snapshot {
            services: vec![service("web", &["192.0.2.1"], Some("a"))].into(),
            ..Snapshot::default()
        };
        let mut failed = outcome("web", &[], None);
        failed.error = Some(Box::new(ferrolb_ipam::AllocationError::NoPools));
        let allocation = Allocation { services: vec![failed], pools: vec![] };
        let mut warned = Warned::default();
        let first = plan(&snapshot, &allocation, &Options::default(), &mut warned);
        assert_eq!(
            first.writes[0].patch(),
            json!({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": null}},
                "status": {"loadBalancer": {"ingress": null}}})
        );
        assert_eq!(first.warnings.len(), 1);
        assert_eq!(first.warnings[0].1.reason, "AllocationFailed");
        assert_eq!(
            first.warnings[0].1.message,
            r#"Failed to allocate IP for "default/web": no IPAddressPool is configured"#
        );
        let again = plan(&snapshot, &allocation, &Options::default(), &mut warned);
        assert!(again.warnings.is_empty(), "the same warning goes out once");
    }

    #[test]
    fn a_service_no_longer_of_type_load_balancer_is_cleared() {
        let mut cluster_ip = service("web", &["192.0.2.1"], Some("a"));
        cluster_ip.object.load_balancer = false;
        let snapshot = Snapshot { services: vec![cluster_ip].into(), ..Snapshot::default() };
        let allocation = Allocation { services: vec![], pools: vec![] };
        let plan = plan(&snapshot, &allocation, &Options::default(), &mut Warned::default());
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.writes[0].desired, Owned::default());
    }

    #[test]
    fn the_cluster_record_wins_over_memory() {
        let snapshot = Snapshot {
            services: vec![service("web", &["192.0.2.1"], Some("a")), service("new", &[], None)].into(),
            ..Snapshot::default()
        };
        let mut remembered = Assignments::new();
        remembered.insert("default", "web", "b", vec!["192.0.2.9".parse().unwrap()]);
        remembered.insert("default", "new", "a", vec!["192.0.2.2".parse().unwrap()]);
        let previous = previous_assignments(&snapshot, &remembered);
        assert_eq!(previous.get("default", "web").unwrap().ips, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(previous.get("default", "new").unwrap().pool, "a");
    }

    #[test]
    fn a_pool_is_written_only_when_its_counts_change() {
        let stats = |assigned| ferrolb_ipam::PoolStats {
            name: "a".into(),
            assigned_ipv4: assigned,
            assigned_ipv6: 0,
            available_ipv4: 16 - assigned,
            available_ipv6: 0,
            services: 1,
        };
        let allocation = Allocation { services: vec![], pools: vec![stats(1)] };
        let held = stats(1).status();
        assert!(pool_writes(&allocation, |_| Some(Some(&held))).is_empty(), "unchanged: no write");
        assert!(pool_writes(&allocation, |_| None).is_empty(), "a pool gone from the cluster");
        let writes = pool_writes(&allocation, |_| Some(None));
        assert_eq!(writes.len(), 1);
        assert_eq!(
            writes[0].patch(),
            json!({"status": {"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 15, "availableIPv6": 0}})
        );
        let before = stats(0).status();
        assert_eq!(pool_writes(&allocation, |_| Some(Some(&before))), writes);
    }

    #[test]
    fn a_speaker_announces_only_what_the_status_holds() {
        let snapshot = Snapshot {
            services: vec![
                service("held", &["192.0.2.1"], Some("a")),
                service("new", &[], None),
                service("moved", &["192.0.2.3"], Some("a")),
            ]
            .into(),
            ..Snapshot::default()
        };
        let allocation = Allocation {
            services: vec![
                outcome("held", &["192.0.2.1"], Some("a")),
                outcome("moved", &["192.0.2.4"], Some("a")),
                outcome("new", &["192.0.2.2"], Some("a")),
            ],
            pools: vec![],
        };
        let announced = announced_by_status(&snapshot, allocation);
        let names: Vec<&str> = announced.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["held"]);
    }
}
