//! What the controller allocates for a snapshot: pure, run off the
//! runtime's threads by [`crate::controller`] and at scale by
//! `ferrolb lab bench reconcile`.
//!
//! The answer is always that of a full run of [`ferrolb_ipam::allocate`]
//! from the assignments the Services record (else from what the
//! controller decided last). When only Services changed since the last
//! decision, and the cluster records exactly what it decided, the answer
//! is computed from the last one by [`ferrolb_ipam::reallocate`], which
//! looks at the changed Services only and gives the same answer (or says
//! that only a full run can tell).
//!
//! Whether the cluster records what was decided is itself kept up to
//! date, not recomputed: each decision keeps the Services whose record
//! differs from it, and the next one reads the records of the Services
//! that changed since. At 100k Services, comparing every record with the
//! decision was two thirds of a reconcile.

use ferrolb_api::Snapshot;
use ferrolb_api::service::LbService;
use ferrolb_api::snapshot::Located;
use ferrolb_ipam::{Allocation, Kept, Options, ServiceChange, ServiceKey, namespace_of};

use crate::status::{previous_assignments, record_agrees};
use crate::validation::Admitted;

/// One allocation of the controller, and what it was made from.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The snapshot and configuration.
    pub run: Admitted,
    /// What was allocated, kept for the next decision to start from.
    kept: Kept,
    /// How many decisions came before this one.
    generation: u64,
    /// The Services that changed since the decision before, when this one
    /// was computed from it (the short way).
    changed: Option<Vec<ServiceKey>>,
    /// The Services whose record (status and pool annotation) differs from
    /// `allocation`, sorted: until each changes, the next decision cannot
    /// start from this one.
    disagreeing: Vec<ServiceKey>,
}

impl Decided {
    /// What was allocated.
    pub fn allocation(&self) -> &Allocation {
        self.kept.allocation()
    }

    /// Whether this decision was computed from the one before.
    pub fn took_the_short_way(&self) -> bool {
        self.changed.is_some()
    }

    /// How many decisions came before this one (the same controller's).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// When this decision was computed from the one before: that one's
    /// generation, and the Services that changed since (sorted).
    pub fn since(&self) -> Option<(u64, &[ServiceKey])> {
        let changed = self.changed.as_deref()?;
        Some((self.generation.checked_sub(1)?, changed))
    }
}

/// The allocation for `run`, from the assignments its Services record,
/// else from what the controller decided `last` (not seen back yet).
///
/// When only Services changed since `last` and the cluster records exactly
/// what it decided, the answer is computed from `last` by
/// [`ferrolb_ipam::reallocate`], looking at the changed Services only: what
/// the others record was compared with the decision when it was made, and
/// they kept both their record and their outcome.
pub fn decide(run: Admitted, last: Option<Decided>, options: &Options) -> Decided {
    let generation = last.as_ref().map_or(0, |l| l.generation + 1);
    let remembered = match last.map(|last| from_last(last, &run, options)) {
        None => None,
        Some(Ok((kept, changed, disagreeing))) => {
            return Decided { run, kept, generation, changed: Some(changed), disagreeing };
        }
        Some(Err(remembered)) => Some(remembered),
    };
    let remembered = remembered.map(|kept| kept.allocation().assignments()).unwrap_or_default();
    let previous = previous_assignments(&run.snapshot, &remembered);
    let allocation = ferrolb_ipam::allocate(&run.config, &run.snapshot, &previous, options);
    let disagreeing = disagreeing(&run.snapshot, &allocation);
    Decided { run, kept: Kept::new(allocation), generation, changed: None, disagreeing }
}

/// The allocation for `run` computed from `last` (see [`decide`]), with
/// the Services that changed since and those whose record differs from
/// it; or `last`'s allocation back when only a full run can tell.
fn from_last(
    last: Decided,
    run: &Admitted,
    options: &Options,
) -> Result<(Kept, Vec<ServiceKey>, Vec<ServiceKey>), Kept> {
    let Decided { run: last_run, kept, disagreeing, .. } = last;
    if *last_run.config != *run.config || last_run.snapshot.namespaces != run.snapshot.namespaces {
        return Err(kept);
    }
    let changes = changed_services(&last_run.snapshot, &run.snapshot);
    if !records_agree(&disagreeing, &changes, kept.allocation()) {
        return Err(kept);
    }
    let kept = ferrolb_ipam::reallocate(kept, &run.config, &run.snapshot, &changes, options)?;
    let allocation = kept.allocation();
    let disagreeing = changes
        .iter()
        .filter_map(|c| Some((c, c.now?)))
        .filter(|(c, now)| !record_agrees(now, allocation.get(c.namespace, c.name)))
        .map(|(c, _)| ServiceKey::new(c.namespace, c.name))
        .collect();
    let changed = changes.iter().map(|c| ServiceKey::new(c.namespace, c.name)).collect();
    Ok((kept, changed, disagreeing))
}

/// Whether what the cluster records after `changes` is what `allocation`
/// holds, as reallocating from it needs: no Service whose record differed
/// is left unchanged, and every changed one records what the allocation
/// holds for it (or nothing).
fn records_agree(disagreeing: &[ServiceKey], changes: &[ServiceChange<'_>], allocation: &Allocation) -> bool {
    let changed = |key: &ServiceKey| {
        changes.binary_search_by(|c| (c.namespace, c.name).cmp(&(&*key.namespace, &*key.name))).is_ok()
    };
    disagreeing.iter().all(changed)
        && changes
            .iter()
            .all(|c| c.now.is_none_or(|now| record_agrees(now, allocation.get(c.namespace, c.name))))
}

/// The Services of `snapshot` whose record differs from `allocation`.
fn disagreeing(snapshot: &Snapshot, allocation: &Allocation) -> Vec<ServiceKey> {
    let mut outcomes = allocation.walk();
    snapshot
        .services
        .iter()
        .filter(|s| !record_agrees(s, outcomes.get(namespace_of(s), &s.name)))
        .map(|s| ServiceKey::new(namespace_of(s), &*s.name))
        .collect()
}

/// The Services that differ from `before` to `after`: added, removed, or
/// another object (the snapshot builder keeps an unchanged Service the
/// same object). Both lists sorted by namespace and name, as snapshots
/// are; were they not, a Service would come twice and `reallocate` would
/// refuse the list.
fn changed_services<'a>(before: &'a Snapshot, after: &'a Snapshot) -> Vec<ServiceChange<'a>> {
    fn key(s: &Located<LbService>) -> (&str, &str) {
        (&s.namespace, &s.name)
    }
    let change = |s: &'a Located<LbService>, now: Option<&'a LbService>| ServiceChange {
        namespace: namespace_of(s),
        name: &s.name,
        now,
    };
    let (mut old, mut new) = (before.services.iter().peekable(), after.services.iter().peekable());
    let mut changes = Vec::new();
    loop {
        match (old.peek().copied(), new.peek().copied()) {
            (None, None) => break,
            // The same object: the same Service, unchanged (its name not
            // even read: at 100k Services, reading each is most of the walk).
            (Some(o), Some(n)) if o.object.is_shared_with(&n.object) => {
                old.next();
                new.next();
            }
            (Some(o), Some(n)) if key(o) == key(n) => {
                changes.push(change(n, Some(&n.object)));
                old.next();
                new.next();
            }
            (Some(o), n) if n.is_none_or(|n| key(o) < key(n)) => {
                changes.push(change(o, None));
                old.next();
            }
            (_, Some(n)) => {
                changes.push(change(n, Some(&n.object)));
                new.next();
            }
            (Some(_), None) => unreachable!("covered above"),
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ferrolb_api::core::Service;
    use ferrolb_api::validate::{Options as ValidateOptions, validated};

    use super::*;
    use crate::state::{ClusterState, SnapshotBuilder};
    use crate::status::{IP_ALLOCATED_FROM_POOL, Owned, ServiceWrite, Warned, plan_decision};
    use crate::validation::LastGood;

    fn pool() -> Arc<ferrolb_api::metallb::IPAddressPool> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "p", "namespace": "metallb-system"},
                "spec": {"addresses": ["192.0.2.0/28"]},
            }))
            .unwrap(),
        )
    }

    /// Service `name` of type LoadBalancer, holding `ip` from pool `p` when given.
    fn service(name: &str, ip: Option<&str>) -> Arc<Service> {
        let mut json = serde_json::json!({
            "metadata": {"name": name, "namespace": "a"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        });
        if let Some(ip) = ip {
            json["metadata"]["annotations"] = serde_json::json!({IP_ALLOCATED_FROM_POOL: "p"});
            json["status"] = serde_json::json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
        }
        Arc::new(serde_json::from_value(json).unwrap())
    }

    fn admitted(builder: &mut SnapshotBuilder, services: &[Arc<Service>]) -> Admitted {
        let state =
            ClusterState { pools: vec![pool()], services: services.to_vec(), ..ClusterState::default() };
        let snapshot = Arc::new(builder.build(&state, "metallb-system"));
        let (config, diagnostics) = validated(&snapshot, &ValidateOptions::any_namespace());
        LastGood::default().admit(snapshot, config, &diagnostics).unwrap()
    }

    /// Three Services allocated, their statuses written; then `edit` of
    /// them: what the controller allocates, with and without its last
    /// decision.
    fn after(edit: impl FnOnce(&mut Vec<Arc<Service>>)) -> ((Allocation, bool), Allocation) {
        let options = Options::default();
        let mut builder = SnapshotBuilder::default();
        let mut services: Vec<Arc<Service>> = ["s0", "s1", "s2"].iter().map(|n| service(n, None)).collect();
        let first = decide(admitted(&mut builder, &services), None, &options);
        assert!(!first.took_the_short_way(), "no last decision");
        let remembered = first.allocation().assignments();
        for (s, outcome) in services.iter_mut().zip(&first.allocation().services) {
            let ip = outcome.ips[0].to_string();
            *s = service(s.metadata.name.as_deref().unwrap(), Some(&ip));
        }
        edit(&mut services);
        let next = admitted(&mut builder, &services);
        // The full run, by definition.
        let previous = previous_assignments(&next.snapshot, &remembered);
        let full = ferrolb_ipam::allocate(&next.config, &next.snapshot, &previous, &options);
        let quick = decide(next, Some(first), &options);
        let short = quick.took_the_short_way();
        ((quick.allocation().clone(), short), full)
    }

    #[test]
    fn a_created_service_takes_the_short_way_to_a_full_runs_answer() {
        let ((quick, short), full) = after(|services| services.push(service("s3", None)));
        assert!(short);
        assert_eq!(quick, full);
        assert_eq!(quick.get("a", "s3").map(|o| o.ips.len()), Some(1));
    }

    #[test]
    fn a_deleted_service_takes_the_short_way_too() {
        let ((quick, short), full) = after(|services| {
            services.remove(1);
        });
        assert!(short);
        assert_eq!(quick, full);
        assert!(quick.get("a", "s1").is_none());
    }

    #[test]
    fn a_record_that_differs_from_the_decision_takes_the_full_run() {
        // s2's status was rewritten by someone else: the record wins, as
        // in a full run, which the short way cannot know.
        let ((quick, short), full) = after(|services| services[2] = service("s2", Some("192.0.2.9")));
        assert!(!short);
        assert_eq!(quick, full);
        assert_eq!(quick.get("a", "s2").map(|o| o.ips[0].to_string()), Some("192.0.2.9".to_owned()));
    }

    /// What happens to the Services of a cluster between two snapshots.
    #[derive(Clone, Debug)]
    enum Edit {
        /// Service `s{0}` is created (when it does not exist).
        Create(u8),
        /// Service `s{0}` is deleted.
        Delete(u8),
        /// The writes of the last plan come back through the watch.
        Echo,
        /// Someone else writes 192.0.2.{1} to the status of `s{0}`, with the pool annotation.
        Overwrite(u8, u8),
        /// Someone else removes the status and annotation of `s{0}`.
        Clear(u8),
    }

    fn edit() -> impl proptest::strategy::Strategy<Value = Edit> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (0u8..20).prop_map(Edit::Create),
            1 => (0u8..20).prop_map(Edit::Delete),
            3 => Just(Edit::Echo),
            1 => ((0u8..20), (0u8..18)).prop_map(|(s, ip)| Edit::Overwrite(s, ip)),
            1 => (0u8..20).prop_map(Edit::Clear),
        ]
    }

    /// Service `name` holding `owned` (written by the controller or by someone else).
    fn holding(name: &str, owned: &Owned) -> Arc<Service> {
        let mut json = serde_json::json!({
            "metadata": {"name": name, "namespace": "a"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        });
        if let Some(pool) = &owned.pool {
            json["metadata"]["annotations"] = serde_json::json!({IP_ALLOCATED_FROM_POOL: pool});
        }
        let ingress: Vec<_> = owned.ips.iter().map(|ip| serde_json::json!({"ip": ip.to_string()})).collect();
        json["status"] = serde_json::json!({"loadBalancer": {"ingress": ingress}});
        Arc::new(serde_json::from_value(json).unwrap())
    }

    proptest::proptest! {
        /// Whatever happens to the Services, every decision is a full run's
        /// answer from what the cluster records (else the last decision),
        /// and its status plan is the full plan's, with the same warnings:
        /// the short ways of allocation and plan change how much is looked
        /// at, never the answer. The pool holds 16 addresses for up to 20
        /// Services, so some fail and are warned about.
        #[test]
        fn a_run_of_decisions_gives_full_runs_answers_and_plans(
            edits in proptest::collection::vec(edit(), 1..40),
        ) {
            let options = Options::default();
            let mut builder = SnapshotBuilder::default();
            let mut services: Vec<Arc<Service>> = Vec::new();
            let mut last: Option<Decided> = None;
            let (mut warned, mut warned_full) = (Warned::default(), Warned::default());
            let mut writes: Vec<ServiceWrite> = Vec::new();
            for edit in edits {
                let at = |services: &[Arc<Service>], i: u8| {
                    services.iter().position(|s| s.metadata.name.as_deref() == Some(&format!("s{i}")))
                };
                match edit {
                    Edit::Create(i) if at(&services, i).is_none() => services.push(service(&format!("s{i}"), None)),
                    Edit::Create(_) => {}
                    Edit::Delete(i) => services.retain(|s| s.metadata.name.as_deref() != Some(&format!("s{i}"))),
                    Edit::Echo => {
                        for write in writes.drain(..) {
                            if let Some(j) = at(&services, write.service.name[1..].parse().unwrap()) {
                                services[j] = holding(&write.service.name, &write.desired);
                            }
                        }
                    }
                    Edit::Overwrite(i, ip) => if let Some(j) = at(&services, i) {
                        let owned = Owned { ips: vec![format!("192.0.2.{ip}").parse().unwrap()], pool: Some("p".into()) };
                        services[j] = holding(&format!("s{i}"), &owned);
                    },
                    Edit::Clear(i) => if let Some(j) = at(&services, i) {
                        services[j] = holding(&format!("s{i}"), &Owned::default());
                    },
                }
                let run = admitted(&mut builder, &services);
                let remembered = last.as_ref().map(|l| l.allocation().assignments()).unwrap_or_default();
                let previous = previous_assignments(&run.snapshot, &remembered);
                let full = ferrolb_ipam::allocate(&run.config, &run.snapshot, &previous, &options);
                let decided = decide(run, last.take(), &options);
                proptest::prop_assert_eq!(decided.allocation(), &full);
                proptest::prop_assert_eq!(&decided.disagreeing, &disagreeing(&decided.run.snapshot, &full));
                let plan = plan_decision(&decided, &options, &mut warned);
                let full_plan = crate::status::plan(&decided.run.snapshot, &full, &options, &mut warned_full);
                proptest::prop_assert_eq!(&plan.writes, &full_plan.writes);
                proptest::prop_assert_eq!(&plan.warnings, &full_plan.warnings);
                writes = plan.writes;
                last = Some(decided);
            }
        }
    }
}
