//! Whether a node may announce at all, and where a Service has endpoints:
//! the facts both the BGP and the L2 planners start from.

use std::collections::{BTreeSet, HashMap};

use ferrolb_api::Snapshot;
use ferrolb_api::core::{EndpointSlice, Node};
use ferrolb_api::labels::LabelSet;
use ferrolb_api::service::LbService;
use k8s_openapi::api::discovery::v1::Endpoint;

/// The node label that keeps a node out of every announcement, whatever its
/// value (Kubernetes' `LabelNodeExcludeBalancers`).
pub const EXCLUDE_FROM_LOAD_BALANCERS: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The EndpointSlice label naming the Service the slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The node condition that, when `True`, means the node's network is not
/// set up, so nothing it announced would be reachable.
pub const NETWORK_UNAVAILABLE: &str = "NetworkUnavailable";

/// The `Node` called `name` in the snapshot.
pub fn find_node<'a>(snapshot: &'a Snapshot, name: &str) -> Option<&'a Node> {
    snapshot.nodes.iter().map(|n| &n.object).find(|n| n.metadata.name.as_deref() == Some(name))
}

/// The LoadBalancer Services of a snapshot by namespace and name, for the
/// planners' one lookup per allocated Service. Of two Services of one name,
/// the first counts, as in allocation.
pub struct ServiceIndex<'a> {
    // foldhash: SipHash's defence against chosen keys buys nothing in a
    // per-plan index, and hashing 100k names is a good part of a plan.
    by_name: HashMap<(&'a str, &'a str), &'a LbService, foldhash::fast::RandomState>,
}

impl<'a> ServiceIndex<'a> {
    /// Indexes the LoadBalancer Services of `snapshot`.
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let mut by_name = HashMap::with_capacity_and_hasher(snapshot.services.len(), Default::default());
        for s in snapshot.services.iter().filter(|s| s.load_balancer) {
            by_name.entry((&*s.namespace, &*s.name)).or_insert(&s.object);
        }
        ServiceIndex { by_name }
    }

    /// The Service `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&'a LbService> {
        self.by_name.get(&(namespace, name)).copied()
    }
}

/// Why a node, though known, announces nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeBar {
    /// Its `NetworkUnavailable` condition is `True`.
    NetworkUnavailable,
    /// It carries [`EXCLUDE_FROM_LOAD_BALANCERS`].
    ExcludedByLabel,
}

/// What keeps `node` from announcing, in MetalLB's order of checking
/// (network first, then the exclusion label); `None` when nothing does.
pub fn node_bar(node: &Node) -> Option<NodeBar> {
    let network_down = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == NETWORK_UNAVAILABLE && c.status == "True");
    if network_down {
        return Some(NodeBar::NetworkUnavailable);
    }
    node.metadata.labels.label(EXCLUDE_FROM_LOAD_BALANCERS).is_some().then_some(NodeBar::ExcludedByLabel)
}

/// Where one Service's endpoints are, as far as its EndpointSlices say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceEndpoints {
    /// Some endpoint, on any node or none, can serve.
    pub any_serving: bool,
    /// The nodes with an endpoint that can serve.
    pub serving_nodes: BTreeSet<String>,
}

/// Whether an endpoint takes traffic: an unset `ready` counts as ready, and
/// a terminating endpoint that is still `serving` counts too (MetalLB's rule,
/// so that connections drain during a rollout).
pub fn endpoint_can_serve(endpoint: &Endpoint) -> bool {
    let conditions = endpoint.conditions.as_ref();
    let ready = conditions.and_then(|c| c.ready);
    let serving = conditions.and_then(|c| c.serving);
    ready.unwrap_or(true) || serving == Some(true)
}

/// The endpoints of every Service that has an EndpointSlice, by namespace
/// then name (so that a lookup borrows both: planning asks once per Service).
#[derive(Clone, Debug, Default)]
pub struct EndpointIndex {
    by_service: HashMap<String, HashMap<String, ServiceEndpoints>>,
}

impl EndpointIndex {
    /// Indexes the EndpointSlices of `snapshot`. A slice without the
    /// [`SERVICE_NAME_LABEL`] belongs to no Service and is skipped; an
    /// endpoint without an address cannot take traffic and is skipped.
    pub fn new(snapshot: &Snapshot) -> Self {
        let mut by_service: HashMap<String, HashMap<String, ServiceEndpoints>> = HashMap::new();
        for slice in &snapshot.endpoint_slices {
            let Some((namespace, name)) = service_of(slice) else { continue };
            let entry = by_service.entry(namespace).or_default().entry(name).or_default();
            for endpoint in slice.endpoints.iter().flatten() {
                if endpoint.addresses.is_empty() || !endpoint_can_serve(endpoint) {
                    continue;
                }
                entry.any_serving = true;
                if let Some(node) = &endpoint.node_name {
                    entry.serving_nodes.insert(node.clone());
                }
            }
        }
        EndpointIndex { by_service }
    }

    /// The endpoints of `namespace/name`; `None` when it has no EndpointSlice.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&ServiceEndpoints> {
        self.by_service.get(namespace)?.get(name)
    }
}

/// The Service a slice belongs to: its namespace (`default` when unset, as
/// for Services) and its service-name label.
fn service_of(slice: &EndpointSlice) -> Option<(String, String)> {
    let name = slice.metadata.labels.label(SERVICE_NAME_LABEL).filter(|n| !n.is_empty())?;
    let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
    Some((namespace.to_owned(), name.to_owned()))
}

/// Why the endpoints of a Service keep a node from announcing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointBar {
    /// `externalTrafficPolicy: Local` and no endpoint on this node can serve.
    NoLocalEndpoint,
    /// The Service has EndpointSlices and no endpoint anywhere can serve.
    NoEndpoint,
}

/// Whether `node` may announce a Service with these `endpoints` (`None`:
/// it has no EndpointSlice at all).
///
/// With `Local`, only a node with an endpoint that can serve announces, as
/// in MetalLB. With `Cluster`, MetalLB announces only while some endpoint
/// can serve; ferrolb does the same when the Service has EndpointSlices, and
/// announces when it has none, since a standalone file lists slices only for
/// `Local` Services and a host process answers Cluster traffic itself.
pub fn endpoint_bar(
    traffic_policy_local: bool,
    endpoints: Option<&ServiceEndpoints>,
    node: &str,
) -> Option<EndpointBar> {
    match (traffic_policy_local, endpoints) {
        (true, Some(e)) if e.serving_nodes.contains(node) => None,
        (true, _) => Some(EndpointBar::NoLocalEndpoint),
        (false, Some(e)) if !e.any_serving => Some(EndpointBar::NoEndpoint),
        (false, _) => None,
    }
}
