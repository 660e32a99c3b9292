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
use ferrolb_ipam::{Allocation, Assignment, Assignments, Options, ServiceKey, ServiceOutcome, annotation};
use serde_json::{Map, Value, json};

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
            ips: service
                .ingress_ips
                .iter()
                .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical())
                .collect(),
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
}

/// The warnings already published, by Service, so that a Service that
/// keeps failing for the same reason gets one Event, not one per snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Warned {
    by_service: BTreeMap<ServiceKey, String>,
}

/// The writes and Events that bring the cluster to `allocation`. Services
/// ferrolb serves (`options.lb_class`) that are no longer of type
/// LoadBalancer lose what ferrolb wrote, as MetalLB's `clearServiceState`.
/// `warned` remembers which warnings went out and is updated.
pub fn plan(snapshot: &Snapshot, allocation: &Allocation, options: &Options, warned: &mut Warned) -> Plan {
    let mut plan = Plan::default();
    let mut still_warned = BTreeMap::new();
    let mut handled = 0;
    // The snapshot lists its Services in the allocation's order.
    let mut outcomes = allocation.walk();
    for located in &snapshot.services {
        let service = &located.object;
        let key = ServiceKey::new(namespace_of(service), &*service.name);
        let current = Owned::of(service);
        let Some(outcome) = outcomes.get(&key.namespace, &key.name) else {
            let ours = service.load_balancer_class.as_deref() == options.lb_class.as_deref();
            if !service.load_balancer && ours && current != Owned::default() {
                plan.writes.push(ServiceWrite {
                    service: key,
                    current,
                    desired: Owned::default(),
                    notes: deprecated_annotations(service),
                });
            }
            continue;
        };
        handled += 1;
        let desired = Owned {
            ips: outcome.ips.clone(),
            pool: outcome.pool.clone().filter(|_| !outcome.ips.is_empty()),
        };
        if let Some(note) = warning(&key, outcome) {
            if warned.by_service.get(&key) != Some(&note.message) {
                plan.warnings.push((key.clone(), note.clone()));
            }
            still_warned.insert(key.clone(), note.message);
        }
        if desired != current {
            let mut notes = notes(&key, outcome, &current);
            notes.extend(deprecated_annotations(service));
            plan.writes.push(ServiceWrite { service: key, current, desired, notes });
        }
    }
    tracing::trace!(handled, writes = plan.writes.len(), "planned");
    warned.by_service = still_warned;
    plan
}

/// The Normal Events of a write, as MetalLB `controller/service.go`
/// `convergeBalancer` sends them: `ClearAssignment` when the addresses held
/// are no longer allowed, `IPAllocated` when new ones are assigned.
fn notes(key: &ServiceKey, outcome: &ServiceOutcome, current: &Owned) -> Vec<Note> {
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
                key.to_string(),
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
fn warning(key: &ServiceKey, outcome: &ServiceOutcome) -> Option<Note> {
    let error = outcome.error.as_ref()?;
    Some(match outcome.ips.is_empty() {
        true => Note {
            warning: true,
            reason: "AllocationFailed",
            message: format!("Failed to allocate IP for {:?}: {error}", key.to_string()),
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

fn namespace_of(service: &LbService) -> &str {
    if service.namespace.is_empty() { "default" } else { &service.namespace }
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
            let Owned { ips, pool } = Owned::of(service);
            let pool = pool.filter(|_| !ips.is_empty())?;
            Some((ServiceKey::new(namespace_of(service), &*service.name), Assignment { pool, ips }))
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
        let snapshot = Snapshot { services: vec![service("web", &[], None)], ..Snapshot::default() };
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
        let snapshot = Snapshot { services: vec![old.clone()], ..Snapshot::default() };
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
        let settled = Snapshot { services: vec![old], ..Snapshot::default() };
        let plan = super::plan(&settled, &allocation, &Options::default(), &mut Warned::default());
        assert!(plan.writes.is_empty(), "no write, no warning: {plan:?}");
    }

    #[test]
    fn a_service_holding_its_address_gets_no_write() {
        let snapshot =
            Snapshot { services: vec![service("web", &["192.0.2.1"], Some("a"))], ..Snapshot::default() };
        let allocation =
            Allocation { services: vec![outcome("web", &["192.0.2.1"], Some("a"))], pools: vec![] };
        assert_eq!(
            plan(&snapshot, &allocation, &Options::default(), &mut Warned::default()),
            Plan::default()
        );
    }

    #[test]
    fn a_missing_annotation_alone_is_written_without_an_event() {
        let snapshot =
            Snapshot { services: vec![service("web", &["192.0.2.1"], None)], ..Snapshot::default() };
        let allocation =
            Allocation { services: vec![outcome("web", &["192.0.2.1"], Some("a"))], pools: vec![] };
        let plan = plan(&snapshot, &allocation, &Options::default(), &mut Warned::default());
        assert_eq!(plan.writes.len(), 1);
        assert!(plan.writes[0].notes.is_empty());
    }

    #[test]
    fn a_lost_address_clears_status_and_annotation_and_warns_once() {
        let snapshot =
            Snapshot { services: vec![service("web", &["192.0.2.1"], Some("a"))], ..Snapshot::default() };
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
        let snapshot = Snapshot { services: vec![cluster_ip], ..Snapshot::default() };
        let allocation = Allocation { services: vec![], pools: vec![] };
        let plan = plan(&snapshot, &allocation, &Options::default(), &mut Warned::default());
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.writes[0].desired, Owned::default());
    }

    #[test]
    fn the_cluster_record_wins_over_memory() {
        let snapshot = Snapshot {
            services: vec![service("web", &["192.0.2.1"], Some("a")), service("new", &[], None)],
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
            ],
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
