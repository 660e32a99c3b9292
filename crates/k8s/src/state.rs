//! From the objects the watchers hold to a [`Snapshot`].
//!
//! No I/O, no clock, no globals: the driver in [`crate::watchers`] copies
//! its reflector stores into a [`ClusterState`] and calls
//! [`ClusterState::snapshot`].

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolb_api::core::{EndpointSlice, Namespace, Node, Secret, Service};
use ferrolb_api::metallb::{
    BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::service::{ANNOTATION_PREFIXES, LbService};
use ferrolb_api::services::Services;
use ferrolb_api::{FieldLines, Located, Location, Snapshot};
use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
use kube::core::Resource;

/// The prefix of every [`Location`] of an object read from an API server:
/// `kube:Kind/namespace/name` (`kube:Kind/name` when cluster-scoped), line 0.
pub const LOCATION_PREFIX: &str = "kube:";

/// The objects of a cluster at one moment, as the reflector stores hold them
/// (in no particular order).
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// `IPAddressPool`s.
    pub pools: Vec<Arc<IPAddressPool>>,
    /// `L2Advertisement`s.
    pub l2_advertisements: Vec<Arc<L2Advertisement>>,
    /// `BGPAdvertisement`s.
    pub bgp_advertisements: Vec<Arc<BGPAdvertisement>>,
    /// `BGPPeer`s, as the API server serves them at `v1beta2`.
    pub bgp_peers: Vec<Arc<BGPPeer>>,
    /// `BFDProfile`s.
    pub bfd_profiles: Vec<Arc<BFDProfile>>,
    /// `Community` alias sets.
    pub communities: Vec<Arc<Community>>,
    /// Services of every namespace.
    pub services: Vec<Arc<Service>>,
    /// EndpointSlices of every namespace.
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    /// Nodes.
    pub nodes: Vec<Arc<Node>>,
    /// Namespaces.
    pub namespaces: Vec<Arc<Namespace>>,
    /// Secrets (BGP passwords).
    pub secrets: Vec<Arc<Secret>>,
}

impl ClusterState {
    /// The snapshot ferrolb plans from: `metallb.io` objects and Secrets of
    /// `namespace` only (as MetalLB reads them), everything else from every
    /// namespace. Each list is sorted by namespace and name, so the same
    /// cluster state always gives the same snapshot.
    pub fn snapshot(&self, namespace: &str) -> Snapshot {
        SnapshotBuilder::default().build(self, namespace)
    }

    /// The same objects but the Services: what [`SnapshotBuilder::build_changed`]
    /// reads besides the Services it is told of.
    pub fn without_services(&self) -> ClusterState {
        ClusterState {
            pools: self.pools.clone(),
            l2_advertisements: self.l2_advertisements.clone(),
            bgp_advertisements: self.bgp_advertisements.clone(),
            bgp_peers: self.bgp_peers.clone(),
            bfd_profiles: self.bfd_profiles.clone(),
            communities: self.communities.clone(),
            services: Vec::new(),
            endpoint_slices: self.endpoint_slices.clone(),
            nodes: self.nodes.clone(),
            namespaces: self.namespaces.clone(),
            secrets: self.secrets.clone(),
        }
    }
}

/// Builds the snapshots of one cluster one after the other, as
/// [`ClusterState::snapshot`] does, converting only the Services that
/// changed since the last one and sharing the others with it: the
/// snapshot's [`Services`] is a persistent list the builder patches where
/// a Service changed. A Service the stores still hold as the same object
/// (the same `Arc`: a reflector store replaces the object of a Service that
/// changes) keeps its converted form and its place. At 100k Services,
/// converting, sorting and copying them all was most of what a controller
/// did after one Service changed.
///
/// [`SnapshotBuilder::build`] finds what changed by looking at every
/// Service of the state; [`SnapshotBuilder::build_changed`] is told (the
/// watchers know), and looks at those only.
#[derive(Default)]
pub struct SnapshotBuilder {
    /// The last snapshot's Services, in its order.
    services: Services,
    /// The object each was converted from, by namespace and name (held, so
    /// that no other object takes its address).
    objects: BTreeMap<(Box<str>, Box<str>), Arc<Service>>,
}

/// A Service the watchers saw change: its namespace and name, and the
/// object the store holds now (`None`: deleted).
pub type ServiceChange = ((String, String), Option<Arc<Service>>);

impl SnapshotBuilder {
    /// The snapshot of `state`; see [`ClusterState::snapshot`].
    pub fn build(&mut self, state: &ClusterState, namespace: &str) -> Snapshot {
        let changes = self.changes(&state.services);
        self.build_changed(state, namespace, changes)
    }

    /// The snapshot of `state` but for its Services, which are the last
    /// snapshot's with `changes` (any order; a Service may come twice, the
    /// last telling).
    pub fn build_changed(
        &mut self,
        state: &ClusterState,
        namespace: &str,
        changes: impl IntoIterator<Item = ServiceChange>,
    ) -> Snapshot {
        for ((service_namespace, name), now) in changes {
            self.apply(&service_namespace, &name, now);
        }
        let own = Some(namespace);
        Snapshot {
            pools: located(&state.pools, own, |o| o),
            l2_advertisements: located(&state.l2_advertisements, own, |o| o),
            bgp_advertisements: located(&state.bgp_advertisements, own, |o| o),
            bgp_peers: located(&state.bgp_peers, own, |o| o),
            bfd_profiles: located(&state.bfd_profiles, own, |o| o),
            communities: located(&state.communities, own, |o| o),
            services: self.services.clone(),
            nodes: located(&state.nodes, None, |o| o),
            namespaces: located(&state.namespaces, None, |o| o),
            endpoint_slices: located(&state.endpoint_slices, None, |o| o),
            secrets: located(&state.secrets, own, |o| o),
        }
    }

    /// What differs between `objects` (in any order) and the last build's:
    /// Services added, another object, or gone.
    fn changes(&self, objects: &[Arc<Service>]) -> Vec<ServiceChange> {
        let owned = |(namespace, name): (&str, &str)| (namespace.to_owned(), name.to_owned());
        let mut now: Vec<&Arc<Service>> = objects.iter().collect();
        now.sort_unstable_by(|a, b| service_key(a).cmp(&service_key(b)));
        let (mut now, mut last) = (now.into_iter().peekable(), self.objects.iter().peekable());
        let mut changes = Vec::new();
        loop {
            match (now.peek().copied(), last.peek()) {
                (None, None) => break,
                (Some(n), Some(((ns, name), held))) if service_key(n) == (&**ns, &**name) => {
                    if !Arc::ptr_eq(n, held) {
                        changes.push((owned(service_key(n)), Some(Arc::clone(n))));
                    }
                    now.next();
                    last.next();
                }
                (Some(n), l) if l.is_none_or(|((ns, name), _)| service_key(n) < (&**ns, &**name)) => {
                    changes.push((owned(service_key(n)), Some(Arc::clone(n))));
                    now.next();
                }
                (_, Some(((ns, name), _))) => {
                    changes.push((owned((ns, name)), None));
                    last.next();
                }
                (Some(_), None) => unreachable!("covered above"),
            }
        }
        changes
    }

    /// Puts `now` in place of the Service `namespace/name` (or removes it).
    fn apply(&mut self, namespace: &str, name: &str, now: Option<Arc<Service>>) {
        let wanted = (namespace, name);
        let at = self.services.partition_point(|s| (&*s.namespace, &*s.name) < wanted);
        let there = self.services.get(at).is_some_and(|s| (&*s.namespace, &*s.name) == wanted);
        let held = (Box::from(namespace), Box::from(name));
        match now {
            Some(object) => {
                if self.objects.get(&held).is_some_and(|o| Arc::ptr_eq(o, &object)) {
                    return;
                }
                let converted = locate(&object, LbService::from);
                match there {
                    true => drop(self.services.set(at, converted)),
                    false => self.services.insert(at, converted),
                }
                self.objects.insert(held, object);
            }
            None if there => {
                self.services.remove(at);
                self.objects.remove(&held);
            }
            None => {}
        }
    }
}
/// What a snapshot's Services are sorted and found by: namespace (that of
/// its [`LbService`], `default` when the object names none), then name.
pub fn service_key(service: &Service) -> (&str, &str) {
    let meta = &service.metadata;
    (meta.namespace.as_deref().unwrap_or("default"), meta.name.as_deref().unwrap_or(""))
}

/// A kind the watchers keep: what of it ferrolb reads.
pub trait Watched: Resource<DynamicType = ()> + Clone {
    /// Drops what ferrolb never reads, as the object arrives, so that the
    /// stores stay small and a change there alone (a Node's heartbeat) is
    /// no change: the managed fields of every kind; a Node's images,
    /// volumes and the heartbeat times of its conditions.
    fn trim(&mut self) {
        self.meta_mut().managed_fields = None;
    }

    /// Whether two trimmed versions of an object read the same to ferrolb
    /// (the resourceVersion aside).
    fn same_as(&self, other: &Self) -> bool;
}

/// The metadata ferrolb reads: labels, annotations, deletion.
fn same_meta<K: Resource>(a: &K, b: &K) -> bool {
    let (a, b) = (a.meta(), b.meta());
    a.labels == b.labels && a.annotations == b.annotations && a.deletion_timestamp == b.deletion_timestamp
}

macro_rules! watched {
    ($($kind:ty => $($field:ident),+;)+) => {
        $(impl Watched for $kind {
            fn same_as(&self, other: &Self) -> bool {
                same_meta(self, other) $(&& self.$field == other.$field)+
            }
        })+
    };
}

// An IPAddressPool's status is the controller's own output: a write of it
// is no change to plan from (and would reallocate every Service).
watched! {
    IPAddressPool => spec;
    L2Advertisement => spec;
    BGPAdvertisement => spec;
    BGPPeer => spec;
    BFDProfile => spec;
    Community => spec;
    EndpointSlice => address_type, endpoints, ports;
    Namespace => spec, status;
    Secret => data, string_data, type_;
}

impl Watched for Service {
    /// Keeps what [`LbService`] reads, and the identity an Event refers
    /// to: with ten thousand Services the store is most of the memory, and
    /// other controllers' annotations (kubectl's last-applied-configuration)
    /// often outweigh the rest of the object.
    fn trim(&mut self) {
        let meta = &mut self.metadata;
        meta.managed_fields = None;
        if let Some(annotations) = &mut meta.annotations {
            annotations.retain(|key, _| ANNOTATION_PREFIXES.iter().any(|p| key.starts_with(p)));
        }
        if let Some(spec) = &mut self.spec {
            *spec = ServiceSpec {
                type_: spec.type_.take(),
                load_balancer_class: spec.load_balancer_class.take(),
                load_balancer_ip: spec.load_balancer_ip.take(),
                ip_family_policy: spec.ip_family_policy.take(),
                ip_families: spec.ip_families.take(),
                cluster_ip: spec.cluster_ip.take(),
                cluster_ips: spec.cluster_ips.take(),
                external_traffic_policy: spec.external_traffic_policy.take(),
                selector: spec.selector.take(),
                ports: spec.ports.take().map(|ports| {
                    ports
                        .into_iter()
                        .map(|p| ServicePort { port: p.port, protocol: p.protocol, ..ServicePort::default() })
                        .collect()
                }),
                ..ServiceSpec::default()
            };
        }
        if let Some(status) = &mut self.status {
            status.conditions = None;
            for ingress in status.load_balancer.iter_mut().flat_map(|lb| lb.ingress.iter_mut().flatten()) {
                ingress.ports = None;
            }
        }
    }

    fn same_as(&self, other: &Self) -> bool {
        same_meta(self, other) && self.spec == other.spec && self.status == other.status
    }
}

impl Watched for Node {
    fn trim(&mut self) {
        self.metadata.managed_fields = None;
        if let Some(status) = &mut self.status {
            // Images and volumes change with every pod scheduled there.
            status.images = None;
            status.volumes_attached = None;
            status.volumes_in_use = None;
            for condition in status.conditions.iter_mut().flatten() {
                condition.last_heartbeat_time = None;
            }
        }
    }

    fn same_as(&self, other: &Self) -> bool {
        same_meta(self, other) && self.spec == other.spec && self.status == other.status
    }
}

/// Where an object read from an API server is: `kube:Kind/namespace/name`,
/// or `kube:Kind/name` for a cluster-scoped one, at line 0 (no line).
pub fn location<K: Resource<DynamicType = ()>>(object: &K) -> Location {
    let meta = object.meta();
    let kind = K::kind(&());
    let name = meta.name.as_deref().unwrap_or("");
    let file = match meta.namespace.as_deref() {
        Some(namespace) => format!("{LOCATION_PREFIX}{kind}/{namespace}/{name}"),
        None => format!("{LOCATION_PREFIX}{kind}/{name}"),
    };
    Location::new(file, 0)
}

/// `objects` of `namespace` (or all when `None`), sorted by namespace and
/// name, converted and located.
fn located<K, T>(objects: &[Arc<K>], namespace: Option<&str>, convert: impl Fn(K) -> T) -> Vec<Located<T>>
where
    K: Resource<DynamicType = ()> + Clone,
{
    sorted(objects, namespace).into_iter().map(|o| locate(o, &convert)).collect()
}

/// `objects` of `namespace` (or all when `None`), sorted by namespace and name.
fn sorted<'a, K: Resource>(objects: &'a [Arc<K>], namespace: Option<&str>) -> Vec<&'a Arc<K>> {
    let mut chosen: Vec<&Arc<K>> = objects
        .iter()
        .filter(|o| namespace.is_none_or(|ns| o.meta().namespace.as_deref() == Some(ns)))
        .collect();
    chosen.sort_unstable_by(|a, b| key(&***a).cmp(&key(&***b)));
    chosen
}

/// `object` converted, with its location.
fn locate<K, T>(object: &Arc<K>, convert: impl Fn(K) -> T) -> Located<T>
where
    K: Resource<DynamicType = ()> + Clone,
{
    Located {
        location: location(&**object),
        object: convert(K::clone(object)),
        fields: FieldLines::default(),
    }
}

/// What snapshots are sorted by: namespace, then name.
fn key<K: Resource>(object: &K) -> (&str, &str) {
    let meta = object.meta();
    (meta.namespace.as_deref().unwrap_or(""), meta.name.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta { name: Some(name.into()), namespace: namespace.map(Into::into), ..ObjectMeta::default() }
    }

    fn pool(namespace: &str, name: &str) -> Arc<IPAddressPool> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"addresses": ["192.0.2.0/28"]},
            }))
            .unwrap(),
        )
    }

    fn service(namespace: &str, name: &str) -> Arc<Service> {
        Arc::new(Service { metadata: meta(Some(namespace), name), ..Service::default() })
    }

    fn names<T>(list: &[Located<T>]) -> Vec<String> {
        list.iter().map(|o| o.location.to_string()).collect()
    }

    #[test]
    fn objects_are_located_by_kind_namespace_and_name() {
        let node = Node { metadata: meta(None, "node1"), ..Node::default() };
        assert_eq!(location(&node).to_string(), "kube:Node/node1:0");
        assert_eq!(
            location(&*pool("metallb-system", "a")).file.as_ref(),
            "kube:IPAddressPool/metallb-system/a"
        );
    }

    #[test]
    fn metallb_objects_and_secrets_come_only_from_the_namespace() {
        let secret = |ns: &str| Arc::new(Secret { metadata: meta(Some(ns), "peer"), ..Secret::default() });
        let state = ClusterState {
            pools: vec![pool("metallb-system", "a"), pool("default", "b")],
            secrets: vec![secret("kube-system"), secret("metallb-system")],
            services: vec![service("default", "web"), service("other", "db")],
            ..ClusterState::default()
        };
        let snapshot = state.snapshot("metallb-system");
        assert_eq!(names(&snapshot.pools), ["kube:IPAddressPool/metallb-system/a:0"]);
        assert_eq!(names(&snapshot.secrets), ["kube:Secret/metallb-system/peer:0"]);
        assert_eq!(snapshot.services.len(), 2, "Services come from every namespace");
    }

    #[test]
    fn the_same_objects_in_any_order_give_the_same_snapshot() {
        let services = vec![service("b", "x"), service("a", "y"), service("a", "x")];
        let mut reversed = services.clone();
        reversed.reverse();
        let one = ClusterState { services, ..ClusterState::default() }.snapshot("metallb-system");
        let other = ClusterState { services: reversed, ..ClusterState::default() }.snapshot("metallb-system");
        assert_eq!(one.services, other.services);
        let keys: Vec<String> = one.services.iter().map(|s| s.key()).collect();
        assert_eq!(keys, ["a/x", "a/y", "b/x"]);
    }

    /// One step of a cluster's life, over a few Service names.
    #[derive(Clone, Debug)]
    enum Change {
        /// Service `n` created, or replaced by a new object (changed).
        Put(u8),
        /// Service `n` deleted.
        Delete(u8),
    }

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        prop_oneof![(0u8..12).prop_map(Change::Put), (0u8..12).prop_map(Change::Delete)]
    }

    proptest::proptest! {
        #[test]
        fn a_builder_gives_what_a_fresh_build_gives_and_converts_only_what_changed(
            changes in proptest::collection::vec((change(), proptest::bool::ANY), 1..40),
        ) {
            let name = |n: u8| (["a", "b", "ab", "a-b"][usize::from(n % 4)], format!("s{}", n / 4));
            let mut stores: BTreeMap<u8, Arc<Service>> = Default::default();
            let mut builder = SnapshotBuilder::default();
            let mut last = builder.build(&ClusterState::default(), "metallb-system");
            for (change, told) in changes {
                // The Service the watchers tell of (when `told`), as they do.
                let n = match change { Change::Put(n) | Change::Delete(n) => n };
                let key = { let (namespace, service_name) = name(n); (namespace.to_owned(), service_name) };
                let changed = match change {
                    Change::Put(n) => {
                        let (namespace, service_name) = name(n);
                        stores.insert(n, service(namespace, &service_name));
                        Some(n)
                    }
                    Change::Delete(n) => {
                        stores.remove(&n);
                        None
                    }
                };
                // The stores in hash order, not the snapshot's.
                let mut services: Vec<Arc<Service>> = stores.values().cloned().collect();
                services.reverse();
                let state = ClusterState { services, ..ClusterState::default() };
                let built = match told {
                    true => builder.build_changed(&ClusterState::default(), "metallb-system", [(key, stores.get(&n).cloned())]),
                    false => builder.build(&state, "metallb-system"),
                };
                proptest::prop_assert_eq!(&built.services, &state.snapshot("metallb-system").services);
                for located in &built.services {
                    let key = located.object.key();
                    let before = last.services.iter().find(|l| l.object.key() == key);
                    let is_changed = changed.is_some_and(|n| {
                        let (namespace, service_name) = name(n);
                        key == format!("{namespace}/{service_name}")
                    });
                    // An unchanged Service is the same converted object as before.
                    proptest::prop_assert_eq!(
                        before.is_some_and(|b| b.object.is_shared_with(&located.object)),
                        before.is_some() && !is_changed,
                        "{}", key
                    );
                }
                last = built;
            }
        }
    }

    #[test]
    fn a_node_differs_only_in_what_ferrolb_reads() {
        let node = |heartbeat: &str, rack: &str| {
            let mut node: Node = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "node1", "resourceVersion": heartbeat, "labels": {"rack": rack},
                    "managedFields": [{"manager": "kubelet"}]},
                "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}],
                    "images": [{"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 320368}]}
            }))
            .unwrap();
            node.trim();
            node
        };
        let first = node("2026-11-25T15:00:10Z", "r1");
        assert!(first.metadata.managed_fields.is_none());
        assert!(first.status.as_ref().unwrap().images.is_none());
        assert!(first.same_as(&node("2026-11-25T15:05:10Z", "r1")));
        assert!(!first.same_as(&node("2026-11-25T15:00:10Z", "r2")));
    }

    #[test]
    fn a_stored_service_keeps_what_ferrolb_reads_and_drops_the_rest() {
        let mut service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"},
                "annotations": {"metallb.io/address-pool": "a", "metallb.universe.tf/allow-shared-ip": "k",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"a very long\": \"json\"}"}},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "externalTrafficPolicy": "Local",
                "selector": {"app": "web"}, "sessionAffinity": "None", "healthCheckNodePort": 32000,
                "ports": [{"name": "http", "port": 80, "protocol": "UDP", "targetPort": 8080, "nodePort": 31080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}]}}
        }))
        .unwrap();
        let untrimmed = LbService::from(service.clone());
        service.trim();
        assert_eq!(LbService::from(service.clone()), untrimmed, "ferrolb reads the same");
        let annotations = service.metadata.annotations.as_ref().unwrap();
        assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        let spec = service.spec.as_ref().unwrap();
        assert_eq!(spec.session_affinity, None);
        assert_eq!(spec.ports.as_ref().unwrap()[0].node_port, None);
        assert_eq!(service.metadata.uid.as_deref(), Some("u1"), "Events refer to it by uid");
    }

    #[test]
    fn source_ranges_of_a_cluster_service_are_no_warning_as_kube_proxy_enforces_them() {
        let web = Service {
            metadata: meta(Some("default"), "web"),
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                load_balancer_source_ranges: Some(vec!["198.51.100.0/24".into()]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        let state = ClusterState { services: vec![Arc::new(web)], ..ClusterState::default() };
        let snapshot = state.snapshot("metallb-system");
        let options = ferrolb_api::validate::Options::any_namespace();
        assert_eq!(
            ferrolb_api::validate::validate_in(&snapshot, &options),
            [],
            "from a file it would be one"
        );
    }

    #[test]
    fn services_are_reduced_to_what_ferrolb_reads() {
        let state = ClusterState { services: vec![service("default", "web")], ..ClusterState::default() };
        let snapshot = state.snapshot("metallb-system");
        assert_eq!(*snapshot.services[0], LbService::from(Service::clone(&state.services[0])));
    }
}
