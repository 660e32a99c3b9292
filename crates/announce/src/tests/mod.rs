//! Tests: configurations written as YAML, loaded and allocated as in
//! `ferrolb plan`, then planned for one node.

mod l2;
mod l2_properties;
mod properties;
mod rules;

use std::net::IpAddr;

use ferrolb_api::load::load_str;
use ferrolb_ipam::{Allocation, allocate};

use crate::{BgpPlan, Decision, Reason, plan_bgp};

/// A configuration under construction: YAML documents in order.
#[derive(Clone, Debug, Default)]
pub struct Config {
    docs: Vec<String>,
}

impl Config {
    /// Nodes `node1` (rack r1) and `node2` (rack r2), pool `blue`
    /// (192.0.2.8/29), eBGP peer `tor`, advertisement `all` with an
    /// empty spec, and Service `default/web`.
    pub fn base() -> Self {
        Config::default()
            .node("node1", "{rack: r1}")
            .node("node2", "{rack: r2}")
            .pool("blue", "[192.0.2.8/29]", "{}")
            .peer("tor", "{myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1}")
            .advertisement("all", "{}")
            .service("web", "{}", "{}")
    }

    /// Adds a raw document.
    pub fn doc(mut self, yaml: impl Into<String>) -> Self {
        self.docs.push(yaml.into());
        self
    }

    /// Removes every document of `kind` named `name`.
    pub fn without(mut self, kind: &str, name: &str) -> Self {
        let head = format!("kind: {kind}\nmetadata: {{name: {name},");
        self.docs.retain(|d| !d.contains(&head));
        self
    }

    /// A Node with `labels` (a flow mapping) and an IPv4 InternalIP of its
    /// own (its router ID).
    pub fn node(self, name: &str, labels: &str) -> Self {
        let n = self.docs.iter().filter(|d| d.contains("kind: Node\n")).count() + 1;
        self.doc(format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {labels}}}\nstatus:\n  addresses: [{{type: InternalIP, address: 203.0.113.{n}}}]\n"
        ))
    }

    /// An IPAddressPool over `addresses` (a flow sequence) with `labels`.
    pub fn pool(self, name: &str, addresses: &str, labels: &str) -> Self {
        self.doc(format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: metallb-system, labels: {labels}}}\nspec: {{addresses: {addresses}}}\n"
        ))
    }

    /// A BGPPeer with `spec` (a flow mapping).
    pub fn peer(self, name: &str, spec: &str) -> Self {
        self.doc(format!(
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
        ))
    }

    /// A BGPAdvertisement with `spec` (a flow mapping).
    pub fn advertisement(self, name: &str, spec: &str) -> Self {
        self.doc(format!(
            "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
        ))
    }

    /// A Community resource with `aliases` (a flow sequence of name/value).
    pub fn communities(self, name: &str, aliases: &str) -> Self {
        self.doc(format!(
            "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {{communities: {aliases}}}\n"
        ))
    }

    /// A LoadBalancer Service in `default` with `labels` and `annotations`.
    pub fn service(self, name: &str, labels: &str, annotations: &str) -> Self {
        self.service_spec(name, labels, annotations, "externalTrafficPolicy: Cluster")
    }

    /// A LoadBalancer Service with `externalTrafficPolicy: policy`.
    pub fn service_with(self, name: &str, labels: &str, annotations: &str, policy: &str) -> Self {
        self.service_spec(name, labels, annotations, &format!("externalTrafficPolicy: {policy}"))
    }

    /// A LoadBalancer Service with more `spec` fields (flow mapping entries).
    pub fn service_spec(self, name: &str, labels: &str, annotations: &str, spec: &str) -> Self {
        self.without("Service", name).doc(format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, labels: {labels}, annotations: {annotations}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}], {spec}}}\n"
        ))
    }

    /// An EndpointSlice of `default/service` with `endpoints` (a flow sequence).
    pub fn endpoints(self, slice: &str, service: &str, endpoints: &str) -> Self {
        self.doc(format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {slice}, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\naddressType: IPv4\nendpoints: {endpoints}\n"
        ))
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        self.docs.join("---\n")
    }

    /// Loads and allocates, failing the test on any load error.
    pub fn allocate(&self) -> (ferrolb_api::Snapshot, Allocation) {
        let (snapshot, diagnostics) = load_str("test.yaml", &self.yaml());
        let errors: Vec<String> =
            diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{}", self.yaml());
        let allocation = allocate(&resolved(&snapshot), &snapshot, &Default::default(), &Default::default());
        (snapshot, allocation)
    }

    /// The BGP plan of `node`.
    pub fn plan(&self, node: &str) -> BgpPlan {
        let (snapshot, allocation) = self.allocate();
        plan_bgp(&resolved(&snapshot), &snapshot, &allocation, node)
    }
}

/// The configuration of `snapshot` (its problems are `validate`'s tests').
pub fn resolved(snapshot: &ferrolb_api::Snapshot) -> ferrolb_api::config::Config {
    ferrolb_api::config::resolve(snapshot, &ferrolb_api::config::Options::default()).0
}

/// The decisions about `default/name`.
pub fn decisions<'a>(plan: &'a BgpPlan, name: &str) -> Vec<&'a Decision> {
    let key = format!("default/{name}");
    plan.decisions.iter().filter(|d| *d.service == *key).collect()
}

/// The one reason given for every decision about `default/name`.
pub fn only_reason(plan: &BgpPlan, name: &str) -> Reason {
    let found = decisions(plan, name);
    assert!(!found.is_empty(), "no decision about {name}: {plan:#?}");
    let first = found[0].reason.clone();
    assert!(found.iter().all(|d| d.reason == first), "{found:#?}");
    first
}

/// The prefixes sent to `peer`, as text.
pub fn prefixes(plan: &BgpPlan, peer: &str) -> Vec<String> {
    plan.peer(peer).expect(peer).routes.iter().map(|r| r.prefix.to_string()).collect()
}

/// Parses an address.
pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}
