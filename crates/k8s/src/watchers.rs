//! The driver: one watcher per kind feeding a reflector store, and a
//! debounced stream of [`Snapshot`]s built from the stores.
//!
//! ```text
//!  API server
//!     │ LIST, then WATCH, one pair per kind (errors logged, retried
//!     │ with the watcher's default backoff)
//!     ▼
//!  ┌──────────────────────┐  Writer<K>  ┌──────────┐
//!  │ watch task, per kind │────────────►│ Store<K> │◄─────────────┐
//!  └──────────┬───────────┘             └──────────┘              │
//!             │ changes: watch::Sender<()>                        │ read
//!             │ (after a listing, and after an event that         │
//!             │ changes what ferrolb reads: Watched::same_as);    │
//!             │ Services also: their keys, to each ServiceFeed    │
//!             ▼                                                   │
//!  ┌───────────────────────────────────────────────────────┐      │
//!  │ snapshot task, one per `snapshots` call: waits until  │──────┘
//!  │ every store is listed; then per change, sleeps one    │
//!  │ window and builds a Snapshot on the blocking pool:    │
//!  │ the other kinds copied, the Services told of read     │
//!  │ and patched into the last snapshot's (all of them     │
//!  │ compared after a listing)                             │
//!  └──────────┬────────────────────────────────────────────┘
//!             │ watch::Sender<Option<Arc<Snapshot>>>
//!             ▼
//!    controller / speaker
//!
//!  The controller's look at the metallb.io kinds in every other namespace:
//!  one LIST+WATCH of metadata per kind (`metadata.namespace!=NAMESPACE`)
//!     │ Found::set per kind, after each listing and change
//!     ▼
//!  watch::Sender<Found> ──► controller (ConfigurationReport::ignore)
//! ```
//!
//! Every task is owned by [`Watchers`] and aborted when it is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrolb_api::Snapshot;
use ferrolb_api::core::{EndpointSlice, Namespace, Node, Secret, Service};
use ferrolb_api::metallb::{
    BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement,
};
use futures_util::StreamExt;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::misplaced::{Found, Misplaced};
use crate::state::{ClusterState, SnapshotBuilder, Watched, service_key};

/// The shortest time between two snapshots: a burst of changes (a
/// manifest of many Services) still comes in few snapshots.
pub const QUICKEST_WINDOW: Duration = Duration::from_millis(10);

/// A kind of object ferrolb watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `metallb.io/v1beta1 IPAddressPool`, in ferrolb's namespace.
    IPAddressPool,
    /// `metallb.io/v1beta1 L2Advertisement`, in ferrolb's namespace.
    L2Advertisement,
    /// `metallb.io/v1beta1 BGPAdvertisement`, in ferrolb's namespace.
    BGPAdvertisement,
    /// `metallb.io/v1beta2 BGPPeer`, in ferrolb's namespace.
    BGPPeer,
    /// `metallb.io/v1beta1 BFDProfile`, in ferrolb's namespace.
    BFDProfile,
    /// `metallb.io/v1beta1 Community`, in ferrolb's namespace.
    Community,
    /// `v1 Service`, in every namespace.
    Service,
    /// `discovery.k8s.io/v1 EndpointSlice`, in every namespace.
    EndpointSlice,
    /// `v1 Node`.
    Node,
    /// `v1 Namespace`.
    Namespace,
    /// `v1 Secret`, in ferrolb's namespace (BGP passwords).
    Secret,
}

impl Kind {
    /// Every kind: what the speaker reads.
    pub const ALL: [Kind; 11] = [
        Kind::IPAddressPool,
        Kind::L2Advertisement,
        Kind::BGPAdvertisement,
        Kind::BGPPeer,
        Kind::BFDProfile,
        Kind::Community,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Node,
        Kind::Namespace,
        Kind::Secret,
    ];

    /// What the controller reads, and all that `deploy/rbac.yaml` lets it
    /// read: no EndpointSlices, no Secrets.
    pub const CONTROLLER: [Kind; 9] = [
        Kind::IPAddressPool,
        Kind::L2Advertisement,
        Kind::BGPAdvertisement,
        Kind::BGPPeer,
        Kind::BFDProfile,
        Kind::Community,
        Kind::Service,
        Kind::Node,
        Kind::Namespace,
    ];
}

/// A spawned task, aborted when dropped.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The reflector stores, one per watched kind (`None` when not watched).
#[derive(Clone, Debug, Default)]
pub struct Stores {
    /// `IPAddressPool`s.
    pub pools: Option<Store<IPAddressPool>>,
    /// `L2Advertisement`s.
    pub l2_advertisements: Option<Store<L2Advertisement>>,
    /// `BGPAdvertisement`s.
    pub bgp_advertisements: Option<Store<BGPAdvertisement>>,
    /// `BGPPeer`s.
    pub bgp_peers: Option<Store<BGPPeer>>,
    /// `BFDProfile`s.
    pub bfd_profiles: Option<Store<BFDProfile>>,
    /// `Community` alias sets.
    pub communities: Option<Store<Community>>,
    /// Services.
    pub services: Option<Store<Service>>,
    /// EndpointSlices.
    pub endpoint_slices: Option<Store<EndpointSlice>>,
    /// Nodes.
    pub nodes: Option<Store<Node>>,
    /// Namespaces.
    pub namespaces: Option<Store<Namespace>>,
    /// Secrets.
    pub secrets: Option<Store<Secret>>,
}

impl Stores {
    /// A reference to the Service for an Event about it: with its uid from
    /// the store, so that `kubectl describe` finds the Event; by name alone
    /// when the store does not hold it (yet).
    pub fn service_reference(
        &self,
        namespace: &str,
        name: &str,
    ) -> k8s_openapi::api::core::v1::ObjectReference {
        use kube::Resource as _;
        self.service(namespace, name).map(|object| object.object_ref(&())).unwrap_or_else(|| {
            let mut reference = Service::default().object_ref(&());
            reference.name = Some(name.to_owned());
            reference.namespace = Some(namespace.to_owned());
            reference
        })
    }

    /// The store's Service `namespace/name`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.as_ref().and_then(|store| store.get(&ObjectRef::new(name).within(namespace)))
    }

    /// What the stores hold now.
    pub fn state(&self) -> ClusterState {
        ClusterState { services: all(&self.services), ..self.state_but_services() }
    }

    /// What the stores hold now, but the Services.
    pub fn state_but_services(&self) -> ClusterState {
        ClusterState {
            pools: all(&self.pools),
            l2_advertisements: all(&self.l2_advertisements),
            bgp_advertisements: all(&self.bgp_advertisements),
            bgp_peers: all(&self.bgp_peers),
            bfd_profiles: all(&self.bfd_profiles),
            communities: all(&self.communities),
            services: Vec::new(),
            endpoint_slices: all(&self.endpoint_slices),
            nodes: all(&self.nodes),
            namespaces: all(&self.namespaces),
            secrets: all(&self.secrets),
        }
    }

    /// Waits until every watched kind has been listed once. Returns false
    /// when a watcher stopped first (its [`Watchers`] was dropped).
    pub async fn wait_until_ready(&self) -> bool {
        async fn ready<K>(store: &Option<Store<K>>) -> bool
        where
            K: Resource<DynamicType = ()> + Clone + 'static,
        {
            match store {
                Some(store) => store.wait_until_ready().await.is_ok(),
                None => true,
            }
        }
        // Sequential waits are enough: every store must be ready anyway.
        ready(&self.pools).await
            && ready(&self.l2_advertisements).await
            && ready(&self.bgp_advertisements).await
            && ready(&self.bgp_peers).await
            && ready(&self.bfd_profiles).await
            && ready(&self.communities).await
            && ready(&self.services).await
            && ready(&self.endpoint_slices).await
            && ready(&self.nodes).await
            && ready(&self.namespaces).await
            && ready(&self.secrets).await
    }
}

/// Every object `store` holds (none without a store).
fn all<K>(store: &Option<Store<K>>) -> Vec<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.as_ref().map(Store::state).unwrap_or_default()
}

/// The watchers of one cluster: a watcher and reflector per kind, feeding
/// [`Stores`]; dropping it stops them all.
#[derive(Debug)]
pub struct Watchers {
    namespace: String,
    stores: Stores,
    changes: Arc<watch::Sender<()>>,
    /// The Services that changed, told to each snapshot task.
    feeds: Feeds,
    tasks: Vec<Task>,
}

impl Watchers {
    /// Starts watching every [`Kind`] (what the speaker reads): `metallb.io`
    /// objects and Secrets in `namespace`, the rest cluster-wide. Must be
    /// called inside a tokio runtime.
    pub fn start(client: Client, namespace: &str) -> Watchers {
        Watchers::start_kinds(client, namespace, &Kind::ALL)
    }

    /// Starts watching `kinds` only, e.g. [`Kind::CONTROLLER`], so that a
    /// component never asks for what its RBAC does not grant (a watcher
    /// refused access would keep the first snapshot from ever coming).
    pub fn start_kinds(client: Client, namespace: &str, kinds: &[Kind]) -> Watchers {
        let (changes, _) = watch::channel(());
        let mut watchers = Watchers {
            namespace: namespace.to_owned(),
            stores: Stores::default(),
            changes: Arc::new(changes),
            feeds: Feeds::default(),
            tasks: Vec::new(),
        };
        let mut kinds = kinds.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let (c, ns) = (client.clone(), namespace);
            let s = &mut watchers.stores;
            let changes = &watchers.changes;
            let task = match kind {
                Kind::IPAddressPool => watch_task(Api::namespaced(c, ns), changes, &mut s.pools, ignore),
                Kind::L2Advertisement => {
                    watch_task(Api::namespaced(c, ns), changes, &mut s.l2_advertisements, ignore)
                }
                Kind::BGPAdvertisement => {
                    watch_task(Api::namespaced(c, ns), changes, &mut s.bgp_advertisements, ignore)
                }
                Kind::BGPPeer => watch_task(Api::namespaced(c, ns), changes, &mut s.bgp_peers, ignore),
                Kind::BFDProfile => watch_task(Api::namespaced(c, ns), changes, &mut s.bfd_profiles, ignore),
                Kind::Community => watch_task(Api::namespaced(c, ns), changes, &mut s.communities, ignore),
                Kind::Service => {
                    let feeds = Arc::clone(&watchers.feeds);
                    watch_task(Api::all(c), changes, &mut s.services, move |event| tell(&feeds, event))
                }
                Kind::EndpointSlice => watch_task(Api::all(c), changes, &mut s.endpoint_slices, ignore),
                Kind::Node => watch_task(Api::all(c), changes, &mut s.nodes, ignore),
                Kind::Namespace => watch_task(Api::all(c), changes, &mut s.namespaces, ignore),
                Kind::Secret => watch_task(Api::namespaced(c, ns), changes, &mut s.secrets, ignore),
            };
            watchers.tasks.push(task);
        }
        watchers
    }

    /// The reflector stores, to read one object without waiting for a snapshot.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The namespace of the `metallb.io` objects and Secrets.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Snapshots of the cluster: `None` until every watched kind has been
    /// listed, then a new one after any change, at most one per window: a
    /// change after a quiet window is built at once (a Service created alone
    /// gets its address in milliseconds), and changes that come faster are
    /// gathered into one snapshot per window. The window is four times what
    /// the last build took, from [`QUICKEST_WINDOW`] up to `debounce`: a small
    /// cluster is followed closely, a large one spends at most a fifth of
    /// its time building snapshots. The first comes as soon as the last kind
    /// is listed. The task that builds them lives as long as `self`.
    pub fn snapshots(&mut self, debounce: Duration) -> watch::Receiver<Option<Arc<Snapshot>>> {
        let (tx, rx) = watch::channel(None);
        // Subscribed before the first build, so no change can fall between.
        let mut changes = self.changes.subscribe();
        let stores = self.stores.clone();
        let namespace = self.namespace.clone();
        let feed = ServiceFeed::everything();
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(&feed));
        self.tasks.push(Task(tokio::spawn(async move {
            if !stores.wait_until_ready().await {
                return;
            }
            let mut builder = SnapshotBuilder::default();
            loop {
                changes.borrow_and_update();
                let built = tokio::time::Instant::now();
                // Off the runtime's threads: with many Services a build takes
                // long enough to delay BGP keepalives and ARP replies.
                let (stores, namespace, feed) = (stores.clone(), namespace.clone(), Arc::clone(&feed));
                let build = tokio::task::spawn_blocking(move || {
                    let told = ServiceFeed::take(&feed);
                    let snapshot = match told.relisted {
                        true => builder.build(&stores.state(), &namespace),
                        false => {
                            let changed = told.changed.into_iter().map(|(service_namespace, name)| {
                                let now = stores.service(&service_namespace, &name);
                                ((service_namespace, name), now)
                            });
                            builder.build_changed(&stores.state_but_services(), &namespace, changed)
                        }
                    };
                    (builder, snapshot)
                });
                let Ok((kept, snapshot)) = build.await else {
                    return; // the runtime is shutting down
                };
                builder = kept;
                tracing::debug!(
                    services = snapshot.services.len(),
                    pools = snapshot.pools.len(),
                    nodes = snapshot.nodes.len(),
                    "new snapshot"
                );
                if tx.send(Some(Arc::new(snapshot))).is_err() {
                    return; // nobody listens any more
                }
                let window = (built.elapsed() * 4).clamp(QUICKEST_WINDOW, debounce.max(QUICKEST_WINDOW));
                if changes.changed().await.is_err() {
                    return;
                }
                tokio::time::sleep_until(built + window).await;
            }
        })));
        rx
    }

    /// The `metallb.io` configuration objects in every namespace but this
    /// one, which MetalLB ignores (see [`crate::misplaced`]): watched by
    /// their metadata alone, the API server sending only those outside the
    /// namespace. A kind whose list is refused (a ClusterRole without the
    /// rule) stays unknown, and the rest of the controller works on. The
    /// tasks live as long as `self`.
    pub fn misplaced(&mut self, client: &Client) -> watch::Receiver<Found> {
        let (found, rx) = watch::channel(Found::default());
        let found = Arc::new(found);
        let c = || client.clone();
        let ns = self.namespace.as_str();
        self.tasks.extend([
            misplaced_task::<IPAddressPool>(Api::all(c()), ns, &found),
            misplaced_task::<L2Advertisement>(Api::all(c()), ns, &found),
            misplaced_task::<BGPAdvertisement>(Api::all(c()), ns, &found),
            misplaced_task::<BGPPeer>(Api::all(c()), ns, &found),
            misplaced_task::<BFDProfile>(Api::all(c()), ns, &found),
            misplaced_task::<Community>(Api::all(c()), ns, &found),
        ]);
        rx
    }
}

/// Spawns the watcher of `K`'s metadata over `api` (every namespace),
/// telling `found` of the objects of `K` outside `namespace` after each
/// listing and change.
fn misplaced_task<K>(
    api: Api<PartialObjectMeta<K>>,
    namespace: &str,
    found: &Arc<watch::Sender<Found>>,
) -> Task
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let found = Arc::clone(found);
    let namespace = namespace.to_owned();
    Task(tokio::spawn(async move {
        let (kind, api_version) = (K::kind(&()).into_owned(), K::api_version(&()).into_owned());
        // The API server filters: in a cluster without misplaced objects,
        // the list is empty and the watch silent.
        let config = watcher::Config::default().fields(&format!("metadata.namespace!={namespace}"));
        let events = watcher(api, config).default_backoff();
        let mut events = std::pin::pin!(events);
        // By namespace and name: an object is replaced by its next version.
        let mut held: BTreeMap<(String, String), Misplaced> = BTreeMap::new();
        let mut listing: Option<BTreeMap<(String, String), Misplaced>> = None;
        let key = |m: &Misplaced| (m.namespace.clone(), m.name.clone());
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    let refused = matches!(&error, watcher::Error::InitialListFailed(kube::Error::Api(e))
                        | watcher::Error::WatchStartFailed(kube::Error::Api(e)) if e.code == 403);
                    if refused {
                        tracing::warn!(
                            kind = %kind, error = %error,
                            "cannot look for metallb.io objects outside the namespace (the ClusterRole lacks \
                             list and watch of them), retrying"
                        );
                    } else {
                        tracing::warn!(kind = %kind, error = %error, "watch failed, retrying");
                    }
                    continue;
                }
            };
            let outside =
                |meta: &kube::api::ObjectMeta| Misplaced::outside(&kind, &api_version, meta, &namespace);
            let changed = match event {
                Event::Init => {
                    listing = Some(BTreeMap::new());
                    false
                }
                Event::InitApply(object) => {
                    if let (Some(listing), Some(m)) = (listing.as_mut(), outside(&object.metadata)) {
                        listing.insert(key(&m), m);
                    }
                    false
                }
                Event::InitDone => {
                    held = listing.take().unwrap_or_default();
                    true
                }
                Event::Apply(object) => match outside(&object.metadata) {
                    Some(m) => held.insert(key(&m), m.clone()).as_ref() != Some(&m),
                    None => false,
                },
                Event::Delete(object) => {
                    outside(&object.metadata).is_some_and(|m| held.remove(&key(&m)).is_some())
                }
            };
            if changed {
                let objects: BTreeSet<Misplaced> = held.values().cloned().collect();
                found.send_if_modified(|found| found.set(&kind, objects));
            }
        }
    }))
}

/// The Services that changed since a snapshot task last built: what its
/// builder converts again, reading each from the store, while it shares
/// every other one with the snapshot before (see [`SnapshotBuilder`]).
#[derive(Debug)]
struct ServiceFeed {
    /// By namespace and name ([`service_key`]).
    changed: BTreeSet<(String, String)>,
    /// Listed anew (first, or after the watch had to start over): every
    /// Service is to be compared, as a relisting says nothing of deletions.
    relisted: bool,
}

impl ServiceFeed {
    /// What a new snapshot task starts from: everything to read.
    fn everything() -> Arc<Mutex<ServiceFeed>> {
        Arc::new(Mutex::new(ServiceFeed { changed: BTreeSet::new(), relisted: true }))
    }

    /// What was told since the last take, leaving nothing.
    fn take(feed: &Mutex<ServiceFeed>) -> ServiceFeed {
        let empty = ServiceFeed { changed: BTreeSet::new(), relisted: false };
        std::mem::replace(&mut *feed.lock().unwrap_or_else(PoisonError::into_inner), empty)
    }
}

/// The feed of each snapshot task.
type Feeds = Arc<Mutex<Vec<Arc<Mutex<ServiceFeed>>>>>;

/// Tells every feed of a Service `event` that changed what ferrolb reads.
fn tell(feeds: &Feeds, event: &Event<Service>) {
    let key = match event {
        Event::Apply(service) | Event::Delete(service) => {
            let (namespace, name) = service_key(service);
            Some((namespace.to_owned(), name.to_owned()))
        }
        Event::InitDone => None,
        Event::Init | Event::InitApply(_) => return,
    };
    for feed in feeds.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        let mut feed = feed.lock().unwrap_or_else(PoisonError::into_inner);
        match &key {
            Some(key) => drop(feed.changed.insert(key.clone())),
            None => feed.relisted = true,
        }
    }
}

/// What the watchers of kinds without a feed tell: nothing.
fn ignore<K>(_: &Event<K>) {}

/// Spawns the watcher of `K` over `api`, feeding a store it puts in
/// `slot`, and telling `tell` then `changes` of every change ferrolb reads.
fn watch_task<K>(
    api: Api<K>,
    changes: &Arc<watch::Sender<()>>,
    slot: &mut Option<Store<K>>,
    tell: impl Fn(&Event<K>) + Send + 'static,
) -> Task
where
    K: Watched + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, mut writer) = reflector::store();
    *slot = Some(store.clone());
    let changes = Arc::clone(changes);
    Task(tokio::spawn(async move {
        let kind = K::kind(&());
        let events = watcher(api, watcher::Config::default()).default_backoff().modify(K::trim);
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(kind = %kind, error = %error, "watch failed, retrying");
                    continue;
                }
            };
            // The reflector's own loop, with a look at the stored version
            // first: an update of nothing ferrolb reads changes nothing.
            let changed = match &event {
                Event::Apply(new) => store.get(&ObjectRef::from_obj(new)).is_none_or(|old| !old.same_as(new)),
                Event::Delete(_) => true,
                Event::InitDone => {
                    tracing::debug!(kind = %kind, "listed");
                    true
                }
                Event::Init | Event::InitApply(_) => false,
            };
            writer.apply_watcher_event(&event);
            if changed {
                // After the store took it: whoever is told reads it there.
                tell(&event);
                changes.send_replace(());
            }
        }
    }))
}
