//! The controller's driver: watch the cluster, allocate, write back what
//! changed.
//!
//! ```text
//!  Watchers (Kind::CONTROLLER) ──► debounced Snapshot
//!                                      │       Watchers::misplaced: metallb.io objects
//!                                      │       of other namespaces (metadata; never in
//!                                      │       the Snapshot) ──┐
//!                                      │                       ▼ a condition, and an Event on each
//!              Validation::judge: errors ──► ConfigurationState "controller"
//!                                      │     + Events (while leading)
//!                  the snapshot, or its Services under the last good
//!                  configuration (nothing before one validated)
//!                                      │
//!          previous = the Services' recorded status + pool annotation,
//!                     else what this controller decided last time
//!                                      ▼
//!              allocation::decide (on the blocking pool): ferrolb_ipam::allocate,
//!              or reallocate from the last decision when only Services changed
//!              and the cluster records what it decided
//!                                      ▼
//!              status::plan_decision ──► one merge patch of services/status per
//!                               Service that differs (at most 4 at once); after
//!                               the short way, only the changed Services and
//!                               those the last plan wrote are looked at
//!                          ├──► Events (events.k8s.io/v1), created and forgotten
//!                          └──► one merge patch of ipaddresspools/status
//!                               per pool whose counts changed
//! ```
//!
//! A write that fails is logged with `service=` and tried again after
//! [`RETRY`], or sooner with the next snapshot. While another replica
//! leads (see [`crate::lease`]), nothing is written.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::Snapshot;
use ferrolb_api::core::Service;
use ferrolb_api::metallb::{IPAddressPool, IPAddressPoolStatus};
use ferrolb_api::service::LbService;
use ferrolb_ipam::{Allocation, ServiceKey};

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, ValidationDirective};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource as _};
use tokio::sync::watch;

use crate::allocation::{Decided, decide};
use crate::configuration_state::{ConfigurationReport, Validation, Verdict};
use crate::events::{Notice, Publisher};
use crate::misplaced;
use crate::status::{Note, Owned, ServiceWrite, Warned, plan_decision, pool_writes};
use crate::validation::{Admitted, Component};
use crate::watchers::{Kind, Stores, Watchers};

/// The name the controller writes under: the field manager of its patches
/// and the reporting controller of its Events.
pub const CONTROLLER_NAME: &str = "ferrolb-controller";

/// How long after a failed write the controller tries again when no new
/// snapshot comes first.
pub const RETRY: Duration = Duration::from_secs(5);

/// The reason of the Event about a status write the API server refused.
pub const STATUS_REFUSED: &str = "StatusRefused";

/// How many Service writes are in flight at once: enough to converge a
/// thousand new Services in seconds, few enough not to flood the API server.
const CONCURRENT_WRITES: usize = 4;

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// What allocation needs to know (the load balancer class served).
    pub allocation: ferrolb_ipam::Options,
    /// The snapshot debounce window.
    pub debounce: Duration,
    /// This replica's name in its Events (the pod name).
    pub instance: Option<String>,
    /// Whether this replica leads, from the lease; `None`: always.
    pub leading: Option<watch::Receiver<bool>>,
    /// The pod that owns the `ConfigurationState` it creates (this one).
    pub owner: Option<OwnerReference>,
    /// Where it shows its metrics (configurations judged, the pools' counts).
    pub metrics: ControllerMetrics,
}

/// The controller's metrics, shared with whoever serves them.
pub type ControllerMetrics = Arc<std::sync::Mutex<ferrolb_metrics::Controller>>;

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            allocation: ferrolb_ipam::Options::default(),
            debounce: Duration::from_millis(200),
            instance: None,
            leading: None,
            owner: None,
            metrics: ControllerMetrics::default(),
        }
    }
}

/// Up to how many status writes of one reconcile get an info line each.
const STATUS_WRITES_LOGGED_ONE_BY_ONE: usize = 100;

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The watchers ended, so no snapshot can come any more.
    #[error("the watchers of the cluster stopped")]
    WatchersStopped,
}

/// The controller: allocates addresses to LoadBalancer Services and writes
/// them to their status.
pub struct Controller {
    client: Client,
    /// The namespace of the `metallb.io` objects, where the pools are.
    namespace: String,
    events: Publisher,
    options: ControllerOptions,
    /// The last allocation and what it was made from: what it decided
    /// counts for writes not yet seen back, and the next allocation starts
    /// from it when only Services changed.
    last: Option<Decided>,
    warned: Warned,
    /// Writes done whose echo the watch has not brought yet: per Service,
    /// the resourceVersion the store held when the write went out, and
    /// what was written. Over a real connection the echo can come after
    /// the next snapshot; until the store moves past that version, the
    /// same write is not sent again.
    unseen: HashMap<ServiceKey, (Option<String>, Owned)>,
    /// Writes the API server refused for what they hold (422: a policy or a
    /// validation said no): per Service, the resourceVersion it had and what
    /// was refused. The same write is not sent again until the Service
    /// changes, so a refusal is one Event and one log line, not a loop.
    refused: HashMap<ServiceKey, (Option<String>, Owned)>,
    /// Pool status writes the API server refused (a CRD older than the
    /// counts, whose schema lacks a field: written with strict field
    /// validation, such a write is refused rather than silently pruned):
    /// per pool, what was refused, not sent again while it is the same.
    refused_pools: HashMap<String, IPAddressPoolStatus>,
}

impl Controller {
    /// Runs the controller over the cluster of `client`, with the
    /// `metallb.io` objects of `namespace`, until the watchers stop.
    pub async fn run(
        client: Client,
        namespace: &str,
        options: ControllerOptions,
    ) -> Result<(), ControllerError> {
        let mut watchers = Watchers::start_kinds(client.clone(), namespace, &Kind::CONTROLLER);
        let mut snapshots = watchers.snapshots(options.debounce);
        let mut misplaced = watchers.misplaced(&client);
        let instance = options.instance.as_deref();
        let mut report = ConfigurationReport::new(
            client.clone(),
            namespace,
            Component::Controller,
            options.owner.clone(),
            Publisher::new(client.clone(), CONTROLLER_NAME, instance),
        );
        let mut validation = Validation::default();
        let mut judged: Option<(Arc<Snapshot>, Verdict)> = None;
        let mut leading = options.leading.clone();
        let mut controller = Controller {
            events: Publisher::new(client.clone(), CONTROLLER_NAME, instance),
            client,
            namespace: namespace.to_owned(),
            options,
            last: None,
            warned: Warned::default(),
            unseen: HashMap::new(),
            refused: HashMap::new(),
            refused_pools: HashMap::new(),
        };
        let mut retry: Option<tokio::time::Instant> = None;
        // Whether what woke the loop calls for an allocation: a change of
        // the objects outside the namespace only rewrites the report.
        let mut reconcile_due = true;
        let mut was_leading = false;
        loop {
            // An election that stopped (its sender gone) leads no more:
            // nobody renews the Lease.
            let leads = match leading.as_mut() {
                None => true,
                Some(l) => l.has_changed().is_ok() && *l.borrow_and_update(),
            };
            if leads && !was_leading {
                // A new leader trusts the cluster's record, not what it
                // decided in an earlier term.
                controller.last = None;
                controller.warned = Warned::default();
                controller.unseen.clear();
                controller.refused.clear();
                controller.refused_pools.clear();
                report.forget();
                tracing::info!("leading: allocating and writing Service status");
            } else if !leads && was_leading {
                tracing::info!("no longer leading: writing nothing");
            }
            was_leading = leads;
            let snapshot = snapshots.borrow_and_update().clone();
            let ignored = misplaced.borrow_and_update().all();
            let closing =
                if ignored.is_empty() { BTreeSet::new() } else { closing_namespaces(watchers.stores()) };
            report.ignore(ignored, closing);
            // Validated once per snapshot, whoever leads, so that a replica
            // that comes to lead knows the last good configuration.
            if let Some(snapshot) = snapshot
                && judged.as_ref().is_none_or(|(last, _)| !Arc::ptr_eq(last, &snapshot))
            {
                let verdict = validation.judge(Arc::clone(&snapshot)).await;
                controller.judged(&verdict);
                judged = Some((snapshot, verdict));
                // Whatever woke the loop: a change of the objects outside the
                // namespace and a new snapshot may come together, and the
                // snapshot is taken here, so its change will not wake the loop again.
                reconcile_due = true;
            }
            match (leads, judged.as_ref()) {
                (true, Some((_, verdict))) => {
                    let mut failed = 0;
                    if let Err(error) = report.report(&verdict.errors).await {
                        failed += 1;
                        tracing::warn!(error = %error, "configuration state not written, retrying");
                    }
                    if reconcile_due {
                        if let Some(run) = verdict.run.clone() {
                            let stores = watchers.stores().clone();
                            failed += controller.reconcile(run, &stores).await;
                        }
                        reconcile_due = false;
                        retry = None;
                    }
                    // A retry already set for a failed write stays set.
                    if failed > 0 {
                        retry = Some(tokio::time::Instant::now() + RETRY);
                    }
                }
                (false, _) => retry = None,
                (true, None) => {}
            }
            reconcile_due |= tokio::select! {
                changed = snapshots.changed() => {
                    changed.map_err(|_| ControllerError::WatchersStopped)?;
                    true
                }
                Some(()) = async {
                    match leading.as_mut() {
                        Some(l) => l.changed().await.ok(),
                        None => std::future::pending().await,
                    }
                } => true,
                () = async {
                    match retry {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => true,
                Ok(()) = misplaced.changed() => false,
            };
        }
    }

    /// Allocates over `snapshot` and writes what differs; returns how many
    /// writes failed.
    async fn reconcile(&mut self, run: Admitted, stores: &Stores) -> usize {
        let last = self.last.take();
        let options = self.options.allocation.clone();
        // Off the runtime's threads, as the snapshot build: many Services
        // take long enough to delay the watchers.
        let decided =
            tokio::task::spawn_blocking(move || ferrolb_metrics::timed(|| decide(run, last, &options))).await;
        let Ok((decided, took)) = decided else {
            return 0; // the runtime is shutting down
        };
        if let Ok(mut metrics) = self.options.metrics.lock() {
            metrics.plans.planned("allocation", took);
        }
        let mut plan = plan_decision(&decided, &self.options.allocation, &mut self.warned);
        // A snapshot built while the previous writes were under way can
        // predate some of them; the store is fresher, and a Service it
        // shows already converged needs no second write.
        self.unseen.retain(|key, (version, _)| stored_version(stores, key) == *version);
        self.refused.retain(|key, (version, _)| stored_version(stores, key) == *version);
        plan.writes.retain(|write| {
            let sent_as = |writes: &HashMap<ServiceKey, (Option<String>, Owned)>| {
                writes.get(&write.service).is_some_and(|(_, sent)| *sent == write.desired)
            };
            !sent_as(&self.unseen) && !sent_as(&self.refused) && !holds_already(stores, write)
        });
        tracing::debug!(
            services = decided.allocation().services.len(),
            reallocated = decided.took_the_short_way(),
            writes = plan.writes.len(),
            warnings = plan.warnings.len(),
            "allocated"
        );
        // Each result handled as it comes, not collected: with ten thousand
        // new Services a list of them all is megabytes at the peak.
        let client = self.client.clone();
        // A line per Service while few are written; the first write of a
        // large cluster says so in one line (each Service at debug level).
        let writes = plan.writes.len();
        let one_by_one = writes <= STATUS_WRITES_LOGGED_ONE_BY_ONE;
        let mut results = std::pin::pin!(
            futures_util::stream::iter(plan.writes.into_iter().map(|write| {
                let api: Api<Service> = Api::namespaced(client.clone(), &write.service.namespace);
                let version = stored_version(stores, &write.service);
                async move {
                    let params =
                        PatchParams { field_manager: Some(CONTROLLER_NAME.into()), ..PatchParams::default() };
                    let result = api
                        .patch_status(&write.service.name, &params, &Patch::Merge(write.patch()))
                        .await
                        .map(drop);
                    (write, version, result)
                }
            }))
            .buffer_unordered(CONCURRENT_WRITES)
        );
        let mut failed = 0;
        while let Some((write, version, result)) = results.next().await {
            let service = &write.service;
            match result {
                Ok(()) => {
                    self.unseen.insert(service.clone(), (version, write.desired.clone()));
                    let (ips, pool) = (&write.desired.ips, write.desired.pool.as_deref().unwrap_or(""));
                    if one_by_one {
                        tracing::info!(service = %service, ips = ?ips, pool, "status written");
                    } else {
                        tracing::debug!(service = %service, ips = ?ips, pool, "status written");
                    }
                    for note in &write.notes {
                        self.publish(stores, service, note).await;
                    }
                }
                // Gone since the snapshot: its deletion comes with the next one.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                // Refused for what it holds: the same write would be refused again.
                Err(kube::Error::Api(e)) if e.code == 422 => {
                    tracing::warn!(
                        service = %service,
                        error = %e.message,
                        "status write refused; not retried until the Service changes"
                    );
                    let note = Note {
                        warning: true,
                        reason: STATUS_REFUSED,
                        message: format!(
                            "the API server refused the status write ({}); not retried until the Service changes",
                            e.message
                        ),
                    };
                    self.publish(stores, service, &note).await;
                    self.refused.insert(service.clone(), (version, write.desired.clone()));
                }
                Err(error) => {
                    failed += 1;
                    tracing::warn!(service = %service, error = %error, "status write failed, retrying");
                }
            }
        }
        if !one_by_one {
            tracing::info!(services = writes, failed, "status written (each Service at debug level)");
        }
        // After the writes, so that a Service that lost its address reads
        // ClearAssignment before AllocationFailed, as in MetalLB.
        for (service, note) in &plan.warnings {
            tracing::warn!(service = %service, reason = note.reason, message = %note.message, "allocation");
            self.publish(stores, service, note).await;
        }
        let failed = failed + self.write_pools(decided.allocation(), stores).await;
        self.last = Some(decided);
        failed
    }

    /// Counts a configuration judged: taken when it has no error, else refused.
    fn judged(&self, verdict: &Verdict) {
        if let Ok(mut metrics) = self.options.metrics.lock() {
            let c = &mut metrics.configuration;
            if verdict.errors.is_empty() {
                let generation = c.generation + 1;
                c.taken(generation);
            } else {
                c.refused();
            }
        }
    }

    /// Writes the counts of every pool whose status differs from them (the
    /// store's version, the freshest); returns how many writes failed.
    async fn write_pools(&mut self, allocation: &Allocation, stores: &Stores) -> usize {
        if let Ok(mut metrics) = self.options.metrics.lock() {
            metrics.pools = ferrolb_metrics::pools(&allocation.pools);
        }
        let Some(pools) = stores.pools.as_ref() else {
            return 0;
        };
        let held: Vec<Arc<IPAddressPool>> = pools.state();
        let pool = |name: &str| held.iter().find(|p| p.metadata.name.as_deref() == Some(name));
        let writes = pool_writes(allocation, |name| pool(name).map(|p| p.status.as_ref()));
        let api: Api<IPAddressPool> = Api::namespaced(self.client.clone(), &self.namespace);
        // Strict: a field the installed CRD does not know is refused, not
        // silently dropped (which would make every snapshot write again).
        let params = PatchParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            field_validation: Some(ValidationDirective::Strict),
            ..PatchParams::default()
        };
        let mut failed = 0;
        for write in writes {
            if self.refused_pools.get(&write.pool) == Some(&write.desired) {
                continue;
            }
            match api.patch_status(&write.pool, &params, &Patch::Merge(write.patch())).await {
                Ok(_) => {
                    self.refused_pools.remove(&write.pool);
                    tracing::debug!(pool = %write.pool, status = ?write.desired, "pool status written");
                }
                // Gone since the snapshot: nothing to count any more.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                // Refused for what it holds: the same write would be refused again.
                Err(kube::Error::Api(e)) if e.code == 400 || e.code == 422 => {
                    let why = strict_decoding_error(&e.message);
                    tracing::warn!(
                        pool = %write.pool,
                        error = %why,
                        "pool status write refused; not retried until the counts change"
                    );
                    let notice = Notice {
                        warning: true,
                        reason: STATUS_REFUSED,
                        action: "Allocate",
                        note: format!(
                            "the API server refused the pool's status ({why}); not retried until the counts change \
                             (is the IPAddressPool CRD older than ferrolb's?)"
                        ),
                    };
                    if let Some(found) = pool(&write.pool)
                        && let Err(error) = self.events.publish(&notice, &found.object_ref(&())).await
                    {
                        tracing::warn!(pool = %write.pool, error = %error, "event not published");
                    }
                    self.refused_pools.insert(write.pool.clone(), write.desired.clone());
                }
                Err(error) => {
                    failed += 1;
                    tracing::warn!(pool = %write.pool, error = %error, "pool status write failed, retrying");
                }
            }
        }
        failed
    }

    /// Publishes `note` about `service`, logging a failure: an Event lost
    /// is no reason to hold back allocation.
    async fn publish(&self, stores: &Stores, service: &ServiceKey, note: &Note) {
        let reference = stores.service_reference(&service.namespace, &service.name);
        let notice = Notice {
            warning: note.warning,
            reason: note.reason,
            action: "Allocate",
            note: note.message.clone(),
        };
        if let Err(error) = self.events.publish(&notice, &reference).await {
            tracing::warn!(service = %service, reason = note.reason, error = %error, "event not published");
        }
    }
}

/// The namespaces the store shows being deleted.
fn closing_namespaces(stores: &Stores) -> BTreeSet<String> {
    let namespaces = stores.namespaces.as_ref().map(Store::state).unwrap_or_default();
    namespaces.iter().filter(|n| misplaced::closing(n)).filter_map(|n| n.metadata.name.clone()).collect()
}

/// What a refusal under strict field validation says, without the whole
/// patched object the API server quotes before it: `strict decoding error:
/// unknown field "status.x"`; any other message whole.
fn strict_decoding_error(message: &str) -> &str {
    message.find("strict decoding error").map_or(message, |at| &message[at..])
}

/// The resourceVersion of the store's version of the Service (compared
/// for equality only: it is opaque).
fn stored_version(stores: &Stores, key: &ServiceKey) -> Option<String> {
    stores
        .services
        .as_ref()
        .and_then(|store| store.get(&ObjectRef::new(&key.name).within(&key.namespace)))
        .and_then(|service| service.metadata.resource_version.clone())
}

/// Whether the store's newest version of the Service already holds what
/// `write` would write.
fn holds_already(stores: &Stores, write: &ServiceWrite) -> bool {
    let key = &write.service;
    let Some(service) = stores
        .services
        .as_ref()
        .and_then(|store| store.get(&ObjectRef::new(&key.name).within(&key.namespace)))
    else {
        return false;
    };
    Owned::of(&LbService::from(Service::clone(&service))) == write.desired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strict_refusal_is_cut_to_the_unknown_field() {
        let message = r#" "" is invalid: patch: Invalid value: "{\"kind\":\"IPAddressPool\"}": strict decoding error: unknown field "status.assignedIPv6""#;
        assert_eq!(
            strict_decoding_error(message),
            r#"strict decoding error: unknown field "status.assignedIPv6""#
        );
        assert_eq!(strict_decoding_error("forbidden"), "forbidden");
    }
}
