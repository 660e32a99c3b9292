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

use ferrolb_api::Snapshot;
use ferrolb_api::service::LbService;
use ferrolb_api::snapshot::Located;
use ferrolb_ipam::{Allocation, Options, ServiceChange};

use crate::status::previous_assignments;
use crate::validation::Admitted;

/// The controller's last allocation, and what it was made from.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The snapshot and configuration.
    pub run: Admitted,
    /// What was allocated.
    pub allocation: Allocation,
}

/// The allocation for `run`, from the assignments its Services record,
/// else from what the controller decided `last` (not seen back yet); and
/// whether it took the short way.
pub fn allocate(run: &Admitted, last: Option<Decided>, options: &Options) -> (Allocation, bool) {
    let remembered = last.as_ref().map(|l| l.allocation.assignments()).unwrap_or_default();
    let previous = previous_assignments(&run.snapshot, &remembered);
    // reallocate answers as a full run from the last allocation's own
    // assignments: the same run as this one when the cluster records
    // exactly what was decided and nothing but Services changed.
    if let Some(last) = last
        && *last.run.config == *run.config
        && last.run.snapshot.namespaces == run.snapshot.namespaces
        && previous == remembered
    {
        let changes = changed_services(&last.run.snapshot, &run.snapshot);
        if let Ok(allocation) =
            ferrolb_ipam::reallocate(last.allocation, &run.config, &run.snapshot, &changes, options)
        {
            return (allocation, true);
        }
    }
    (ferrolb_ipam::allocate(&run.config, &run.snapshot, &previous, options), false)
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
    let change = |s: &'a Located<LbService>, now: Option<&'a LbService>| {
        let (namespace, name) = key(s);
        ServiceChange { namespace, name, now }
    };
    let (mut old, mut new) = (before.services.iter().peekable(), after.services.iter().peekable());
    let mut changes = Vec::new();
    loop {
        match (old.peek().copied(), new.peek().copied()) {
            (None, None) => break,
            (Some(o), Some(n)) if key(o) == key(n) => {
                if !o.object.is_shared_with(&n.object) {
                    changes.push(change(n, Some(&n.object)));
                }
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
    use crate::status::IP_ALLOCATED_FROM_POOL;
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
        let first = admitted(&mut builder, &services);
        let (allocation, short) = allocate(&first, None, &options);
        assert!(!short, "no last decision");
        let remembered = allocation.assignments();
        for (s, outcome) in services.iter_mut().zip(&allocation.services) {
            let ip = outcome.ips[0].to_string();
            *s = service(s.metadata.name.as_deref().unwrap(), Some(&ip));
        }
        edit(&mut services);
        let next = admitted(&mut builder, &services);
        let last = Decided { run: first, allocation };
        let quick = allocate(&next, Some(last), &options);
        // The full run, by definition.
        let previous = previous_assignments(&next.snapshot, &remembered);
        let full = ferrolb_ipam::allocate(&next.config, &next.snapshot, &previous, &options);
        (quick, full)
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
}
