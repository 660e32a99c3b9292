//! [`LbService`]: a Service as ferrolb reads it, built from the Kubernetes
//! object and holding only what address allocation and announcing use.
//!
//! Why not keep the Kubernetes `Service`: with its metadata it weighs about
//! 3 KiB in memory, and a standalone file may hold 100k of them.
//!
//! An `LbService` is shared, not copied: a reload of a file of 100,000
//! Services carries the unchanged ones over by reference, and telling that
//! one did not change is a pointer comparison. A change to one (in tests,
//! mostly) copies it first.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::labels::Labels;

/// The annotation prefixes ferrolb reads (MetalLB's current and legacy ones);
/// other annotations are dropped.
pub const ANNOTATION_PREFIXES: [&str; 2] = ["metallb.io/", "metallb.universe.tf/"];

/// A Service, reduced to what ferrolb reads ([`LbServiceFields`]), shared.
#[derive(Clone, Debug, Default, Eq)]
pub struct LbService(Arc<LbServiceFields>);

impl PartialEq for LbService {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl LbService {
    /// Whether both are the one shared object, not merely equal (a reload
    /// carried it over).
    pub fn is_shared_with(&self, other: &LbService) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for LbService {
    type Target = LbServiceFields;
    fn deref(&self) -> &LbServiceFields {
        &self.0
    }
}

impl std::ops::DerefMut for LbService {
    /// Copies the fields first if another snapshot shares them.
    fn deref_mut(&mut self) -> &mut LbServiceFields {
        Arc::make_mut(&mut self.0)
    }
}

impl From<LbServiceFields> for LbService {
    fn from(fields: LbServiceFields) -> Self {
        LbService(Arc::new(fields))
    }
}

/// What ferrolb reads of a Service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LbServiceFields {
    /// `metadata.namespace` (`default` when unset).
    pub namespace: Box<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    /// `metadata.labels`, for serviceSelectors.
    pub labels: Labels,
    /// The `metallb.io/*` and `metallb.universe.tf/*` annotations.
    pub annotations: Labels,
    /// `spec.type` is `LoadBalancer`.
    pub load_balancer: bool,
    /// `spec.loadBalancerClass`.
    pub load_balancer_class: Option<Box<str>>,
    /// `spec.loadBalancerIP` (deprecated by Kubernetes, still honoured).
    pub load_balancer_ip: Option<Box<str>>,
    /// `spec.ipFamilyPolicy`: `SingleStack`, `PreferDualStack` or `RequireDualStack`.
    pub ip_family_policy: Option<Box<str>>,
    /// `spec.ipFamilies`: `IPv4`, `IPv6`, in order of preference.
    pub ip_families: Box<[Box<str>]>,
    /// `spec.clusterIPs`, or `spec.clusterIP` when only that is set.
    pub cluster_ips: Box<[Box<str>]>,
    /// `spec.ports`: protocol and port, for sharing an IP without clashes.
    pub ports: Box<[ServicePort]>,
    /// `spec.externalTrafficPolicy` is `Local`.
    pub traffic_policy_local: bool,
    /// `spec.selector`: which pods back the Service.
    pub selector: Labels,
    /// `status.loadBalancer.ingress[].ip`: the addresses written before.
    pub ingress_ips: Box<[Box<str>]>,
}

/// A port a Service listens on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: Box<str>,
    /// The port number.
    pub port: i32,
}

impl LbServiceFields {
    /// The value of an annotation, by its full name.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        crate::labels::LabelSet::label(&self.annotations, name)
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl From<Service> for LbService {
    fn from(service: Service) -> Self {
        let meta = service.metadata;
        let spec = service.spec.unwrap_or_default();
        let annotations = meta
            .annotations
            .into_iter()
            .flatten()
            .filter(|(k, _)| ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        let cluster_ips = match (spec.cluster_ips, spec.cluster_ip) {
            (Some(ips), _) if !ips.is_empty() => ips,
            (_, Some(ip)) => vec![ip],
            _ => Vec::new(),
        };
        let ports = spec
            .ports
            .into_iter()
            .flatten()
            .map(|p| ServicePort {
                protocol: p.protocol.unwrap_or_else(|| "TCP".into()).into(),
                port: p.port,
            })
            .collect();
        let ingress_ips = service
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.map(Into::into))
            .collect();
        LbServiceFields {
            namespace: meta.namespace.unwrap_or_else(|| "default".into()).into(),
            name: meta.name.unwrap_or_default().into(),
            labels: meta.labels.into_iter().flatten().collect(),
            annotations,
            load_balancer: spec.type_.as_deref() == Some("LoadBalancer"),
            load_balancer_class: spec.load_balancer_class.map(Into::into),
            load_balancer_ip: spec.load_balancer_ip.filter(|ip| !ip.is_empty()).map(Into::into),
            ip_family_policy: spec.ip_family_policy.map(Into::into),
            ip_families: spec.ip_families.into_iter().flatten().map(Into::into).collect(),
            cluster_ips: cluster_ips
                .into_iter()
                .filter(|ip| !ip.is_empty() && ip != "None")
                .map(Into::into)
                .collect(),
            ports,
            traffic_policy_local: spec.external_traffic_policy.as_deref() == Some("Local"),
            selector: spec.selector.into_iter().flatten().collect(),
            ingress_ips,
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_ferrolb_reads_and_drops_the_rest() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web",
                "labels": {"app": "web"},
                "annotations": {
                    "metallb.io/allow-shared-ip": "k",
                    "metallb.universe.tf/address-pool": "p",
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}"
                }
            },
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "198.51.100.7",
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 80}],
                "externalTrafficPolicy": "Local",
                "selector": {"app": "web"}
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "x"}]}}
        }))
        .unwrap();
        let lb = LbService::from(service);
        assert_eq!(lb.key(), "default/web");
        assert_eq!(lb.annotation("metallb.io/allow-shared-ip"), Some("k"));
        assert_eq!(lb.annotation("metallb.universe.tf/address-pool"), Some("p"));
        assert_eq!(lb.annotations.iter().count(), 2);
        assert!(lb.load_balancer && lb.traffic_policy_local);
        assert_eq!(&*lb.cluster_ips, [Box::from("198.51.100.7")]);
        assert_eq!(lb.ports[1], ServicePort { protocol: "TCP".into(), port: 80 });
        assert_eq!(&*lb.ingress_ips, [Box::from("192.0.2.1")]);
    }
}
