//! Small builders for snapshots in tests.

use std::collections::BTreeMap;

use ferrolb_api::core::{Namespace, Service};
use ferrolb_api::metallb::{IPAddressPool, IPAddressPoolSpec, LabelSelector, ServiceAllocation};
use ferrolb_api::service::LbService;
use ferrolb_api::{Located, Snapshot};
use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, ServicePort, ServiceSpec, ServiceStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::request::annotation;
use crate::{Allocation, Assignments, Options, ServiceOutcome, allocate};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector { match_labels: Some(labels(pairs)), match_expressions: None }
}

/// An `IPAddressPool` under construction.
pub struct PoolBuilder(IPAddressPool);

/// A pool called `name` over `addresses`, auto-assigning, open to all.
pub fn pool(name: &str, addresses: &[&str]) -> PoolBuilder {
    let spec = IPAddressPoolSpec {
        addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
        auto_assign: None,
        avoid_buggy_ips: false,
        service_allocation: None,
    };
    let mut p = IPAddressPool::new(name, spec);
    p.metadata.namespace = Some("metallb-system".into());
    PoolBuilder(p)
}

impl PoolBuilder {
    /// `autoAssign: false`.
    pub fn manual(mut self) -> Self {
        self.0.spec.auto_assign = Some(false);
        self
    }

    /// `avoidBuggyIPs: true`.
    pub fn avoid_buggy(mut self) -> Self {
        self.0.spec.avoid_buggy_ips = true;
        self
    }

    fn allocation(&mut self) -> &mut ServiceAllocation {
        self.0.spec.service_allocation.get_or_insert_with(ServiceAllocation::default)
    }

    /// `serviceAllocation.priority`.
    pub fn priority(mut self, priority: i32) -> Self {
        self.allocation().priority = priority;
        self
    }

    /// `serviceAllocation.namespaces`.
    pub fn namespaces(mut self, namespaces: &[&str]) -> Self {
        self.allocation().namespaces = namespaces.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// One more `serviceAllocation.namespaceSelectors` entry.
    pub fn namespace_selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.allocation().namespace_selectors.push(selector(pairs));
        self
    }

    /// One more `serviceAllocation.serviceSelectors` entry.
    pub fn service_selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.allocation().service_selectors.push(selector(pairs));
        self
    }

    /// The pool.
    pub fn build(self) -> IPAddressPool {
        self.0
    }
}

/// A Service under construction.
pub struct ServiceBuilder(Service);

/// A Service of type LoadBalancer, no ports, no annotations.
pub fn lb_service(namespace: &str, name: &str) -> ServiceBuilder {
    ServiceBuilder(Service {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec { type_: Some("LoadBalancer".into()), ..ServiceSpec::default() }),
        status: None,
    })
}

impl From<Service> for ServiceBuilder {
    fn from(service: Service) -> Self {
        ServiceBuilder(service)
    }
}

impl ServiceBuilder {
    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.get_or_insert_with(ServiceSpec::default)
    }

    /// Adds an annotation.
    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.0.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0.metadata.labels.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        self
    }

    /// Names a pool (`metallb.io/address-pool`).
    pub fn pool(self, name: &str) -> Self {
        self.annotate(annotation::ADDRESS_POOL, name)
    }

    /// Asks for addresses (`metallb.io/loadBalancerIPs`).
    pub fn ips(self, ips: &str) -> Self {
        self.annotate(annotation::LOAD_BALANCER_IPS, ips)
    }

    /// Allows sharing under `key` (`metallb.io/allow-shared-ip`).
    pub fn share(self, key: &str) -> Self {
        self.annotate(annotation::ALLOW_SHARED_IP, key)
    }

    /// Adds a port.
    pub fn port(mut self, protocol: Option<&str>, port: i32) -> Self {
        self.spec().ports.get_or_insert_with(Vec::new).push(ServicePort {
            port,
            protocol: protocol.map(str::to_owned),
            ..ServicePort::default()
        });
        self
    }

    /// Adds a TCP port.
    pub fn tcp(self, port: i32) -> Self {
        self.port(Some("TCP"), port)
    }

    /// Sets `spec.selector`.
    pub fn selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.spec().selector = Some(labels(pairs));
        self
    }

    /// `externalTrafficPolicy: Local`.
    pub fn local(mut self) -> Self {
        self.spec().external_traffic_policy = Some("Local".into());
        self
    }

    /// Sets `spec.loadBalancerIP`.
    pub fn load_balancer_ip(mut self, ip: &str) -> Self {
        self.spec().load_balancer_ip = Some(ip.into());
        self
    }

    /// Sets `spec.ipFamilyPolicy`.
    pub fn policy(mut self, policy: &str) -> Self {
        self.spec().ip_family_policy = Some(policy.into());
        self
    }

    /// Sets `spec.ipFamilies`.
    pub fn families(mut self, families: &[&str]) -> Self {
        self.spec().ip_families = Some(families.iter().map(|f| (*f).to_owned()).collect());
        self
    }

    /// Sets `spec.clusterIPs`.
    pub fn cluster_ips(mut self, ips: &[&str]) -> Self {
        self.spec().cluster_ips = Some(ips.iter().map(|f| (*f).to_owned()).collect());
        self
    }

    /// Sets `spec.loadBalancerClass`.
    pub fn class(mut self, class: &str) -> Self {
        self.spec().load_balancer_class = Some(class.into());
        self
    }

    /// Sets `spec.type`.
    pub fn type_(mut self, type_: &str) -> Self {
        self.spec().type_ = Some(type_.into());
        self
    }

    /// Sets `status.loadBalancer.ingress[].ip`.
    pub fn status_ips(mut self, ips: &[&str]) -> Self {
        let ingress = ips
            .iter()
            .map(|ip| LoadBalancerIngress { ip: Some((*ip).to_owned()), ..LoadBalancerIngress::default() })
            .collect();
        self.0.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus { ingress: Some(ingress) }),
            ..ServiceStatus::default()
        });
        self
    }

    /// The Service, as the loader and the watchers hand it to IPAM.
    pub fn build(self) -> LbService {
        LbService::from(self.0)
    }
}

/// A namespace with labels.
pub fn namespace(name: &str, pairs: &[(&str, &str)]) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(pairs)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// A snapshot of pools and Services.
pub fn snapshot(pools: Vec<PoolBuilder>, services: Vec<ServiceBuilder>) -> Snapshot {
    Snapshot {
        pools: pools.into_iter().map(|p| Located::unsourced(p.build())).collect(),
        services: services.into_iter().map(|s| Located::unsourced(s.build())).collect(),
        ..Snapshot::default()
    }
}

/// The configuration of `snapshot` (its problems are `validate`'s tests').
pub fn config(snapshot: &Snapshot) -> ferrolb_api::config::Config {
    ferrolb_api::config::resolve(snapshot, &ferrolb_api::config::Options::any_namespace()).0
}

/// Allocates with no previous result and default options.
pub fn run(snapshot: &Snapshot) -> Allocation {
    allocate(&config(snapshot), snapshot, &Assignments::new(), &Options::default())
}

/// Allocates again, from the result of `first`.
pub fn rerun(snapshot: &Snapshot, first: &Allocation) -> Allocation {
    allocate(&config(snapshot), snapshot, &first.assignments(), &Options::default())
}

/// The outcome of `namespace/name`; panics (in a test) when it is not listed.
pub fn outcome<'a>(allocation: &'a Allocation, namespace: &str, name: &str) -> &'a ServiceOutcome {
    allocation.get(namespace, name).unwrap_or_else(|| panic!("{namespace}/{name} not listed"))
}

/// The addresses of `namespace/name`, as text.
pub fn ips_of(allocation: &Allocation, namespace: &str, name: &str) -> Vec<String> {
    outcome(allocation, namespace, name).ips.iter().map(ToString::to_string).collect()
}

/// The error of `namespace/name`, as text.
pub fn error_of(allocation: &Allocation, namespace: &str, name: &str) -> Option<String> {
    outcome(allocation, namespace, name).error.as_ref().map(ToString::to_string)
}
