//! The controller's driver: watch the cluster, allocate, write back what
//! changed.
//!
//! ```text
//!  Watchers (Kind::CONTROLLER) ──► debounced Snapshot
//!                                      │
//!          previous = the Services' recorded status + pool annotation,
//!                     else what this controller decided last time
//!                                      ▼
//!              ferrolb_ipam::allocate (on the blocking pool)
//!                                      ▼
//!              status::plan ──► one merge patch of services/status per
//!                               Service that differs (at most 4 at once)
//!                          ├──► Events (events.k8s.io/v1) via kube's Recorder
//!                          └──► one merge patch of ipaddresspools/status
//!                               per pool whose counts changed
//! ```
//!
//! A write that fails is logged with `service=` and tried again after
//! [`RETRY`], or sooner with the next snapshot. While another replica
//! leads (see [`crate::lease`]), nothing is written.

use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::Snapshot;
use ferrolb_api::core::Service;
use ferrolb_api::metallb::IPAddressPool;
use ferrolb_api::service::LbService;
use ferrolb_ipam::{Assignments, ServiceKey};
use futures_util::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client};
use tokio::sync::watch;

use crate::status::{Note, Owned, ServiceWrite, Warned, plan, pool_writes, previous_assignments};
use crate::watchers::{Kind, Stores, Watchers};

/// The name the controller writes under: the field manager of its patches
/// and the reporting controller of its Events.
pub const CONTROLLER_NAME: &str = "ferrolb-controller";

/// How long after a failed write the controller tries again when no new
/// snapshot comes first.
pub const RETRY: Duration = Duration::from_secs(5);

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
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            allocation: ferrolb_ipam::Options::default(),
            debounce: Duration::from_millis(200),
            instance: None,
            leading: None,
        }
    }
}

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
    recorder: Recorder,
    options: ControllerOptions,
    /// What the last allocation decided, for writes not yet seen back.
    remembered: Assignments,
    warned: Warned,
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
        let reporter = Reporter { controller: CONTROLLER_NAME.into(), instance: options.instance.clone() };
        let mut leading = options.leading.clone();
        let mut controller = Controller {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespace: namespace.to_owned(),
            options,
            remembered: Assignments::new(),
            warned: Warned::default(),
        };
        let mut retry: Option<tokio::time::Instant>;
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
                controller.remembered = Assignments::new();
                controller.warned = Warned::default();
                tracing::info!("leading: allocating and writing Service status");
            } else if !leads && was_leading {
                tracing::info!("no longer leading: writing nothing");
            }
            was_leading = leads;
            let snapshot = snapshots.borrow_and_update().clone();
            retry = None;
            if let (true, Some(snapshot)) = (leads, snapshot) {
                let stores = watchers.stores().clone();
                let failed = controller.reconcile(snapshot, &stores).await;
                retry = (failed > 0).then(|| tokio::time::Instant::now() + RETRY);
            }
            tokio::select! {
                changed = snapshots.changed() => changed.map_err(|_| ControllerError::WatchersStopped)?,
                Some(()) = async {
                    match leading.as_mut() {
                        Some(l) => l.changed().await.ok(),
                        None => std::future::pending().await,
                    }
                } => {}
                () = async {
                    match retry {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }

    /// Allocates over `snapshot` and writes what differs; returns how many
    /// writes failed.
    async fn reconcile(&mut self, snapshot: Arc<Snapshot>, stores: &Stores) -> usize {
        let previous = previous_assignments(&snapshot, &self.remembered);
        let options = self.options.allocation.clone();
        let input = Arc::clone(&snapshot);
        // Off the runtime's threads, as the snapshot build: many Services
        // take long enough to delay the watchers.
        let allocation =
            tokio::task::spawn_blocking(move || ferrolb_ipam::allocate(&input, &previous, &options)).await;
        let Ok(allocation) = allocation else {
            return 0; // the runtime is shutting down
        };
        self.remembered = allocation.assignments();
        let mut plan = plan(&snapshot, &allocation, &self.options.allocation, &mut self.warned);
        // A snapshot built while the previous writes were under way can
        // predate some of them; the store is fresher, and a Service it
        // shows already converged needs no second write.
        plan.writes.retain(|write| !holds_already(stores, write));
        tracing::debug!(
            services = allocation.services.len(),
            writes = plan.writes.len(),
            warnings = plan.warnings.len(),
            "allocated"
        );
        let results: Vec<(ServiceWrite, Result<(), kube::Error>)> =
            futures_util::stream::iter(plan.writes.into_iter().map(|write| {
                let api: Api<Service> = Api::namespaced(self.client.clone(), &write.service.namespace);
                async move {
                    let params =
                        PatchParams { field_manager: Some(CONTROLLER_NAME.into()), ..PatchParams::default() };
                    let result = api
                        .patch_status(&write.service.name, &params, &Patch::Merge(write.patch()))
                        .await
                        .map(drop);
                    (write, result)
                }
            }))
            .buffer_unordered(CONCURRENT_WRITES)
            .collect()
            .await;
        let mut failed = 0;
        for (write, result) in results {
            let service = &write.service;
            match result {
                Ok(()) => {
                    tracing::info!(
                        service = %service,
                        ips = ?write.desired.ips,
                        pool = write.desired.pool.as_deref().unwrap_or(""),
                        "status written"
                    );
                    for note in &write.notes {
                        self.publish(stores, service, note).await;
                    }
                }
                // Gone since the snapshot: its deletion comes with the next one.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(error) => {
                    failed += 1;
                    tracing::warn!(service = %service, error = %error, "status write failed, retrying");
                }
            }
        }
        // After the writes, so that a Service that lost its address reads
        // ClearAssignment before AllocationFailed, as in MetalLB.
        for (service, note) in &plan.warnings {
            tracing::warn!(service = %service, reason = note.reason, message = %note.message, "allocation");
            self.publish(stores, service, note).await;
        }
        failed + self.write_pools(&allocation, stores).await
    }

    /// Writes the counts of every pool whose status differs from them (the
    /// store's version, the freshest); returns how many writes failed.
    async fn write_pools(&self, allocation: &ferrolb_ipam::Allocation, stores: &Stores) -> usize {
        let Some(pools) = stores.pools.as_ref() else {
            return 0;
        };
        let held: Vec<Arc<IPAddressPool>> = pools.state();
        let writes = pool_writes(allocation, |name| {
            held.iter().find(|p| p.metadata.name.as_deref() == Some(name)).map(|p| p.status.as_ref())
        });
        let api: Api<IPAddressPool> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = PatchParams { field_manager: Some(CONTROLLER_NAME.into()), ..PatchParams::default() };
        let mut failed = 0;
        for write in writes {
            match api.patch_status(&write.pool, &params, &Patch::Merge(write.patch())).await {
                Ok(_) => tracing::debug!(pool = %write.pool, status = ?write.desired, "pool status written"),
                // Gone since the snapshot: nothing to count any more.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
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
        let event = Event {
            type_: if note.warning { EventType::Warning } else { EventType::Normal },
            reason: note.reason.into(),
            note: Some(note.message.clone()),
            action: "Allocate".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(service = %service, reason = note.reason, error = %error, "event not published");
        }
    }
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
