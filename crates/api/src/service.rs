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
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::labels::Labels;
use crate::snapshot::Located;

/// The annotation prefixes ferrolb reads (MetalLB's current and legacy ones);
/// other annotations are dropped.
pub const ANNOTATION_PREFIXES: [&str; 2] = ["metallb.io/", "metallb.universe.tf/"];

/// A Service field that ferrolb accepts in a file but does not act on:
/// never silent, it is a warning of `validate` and a reason of `plan`, and
/// the README lists it. In a cluster Kubernetes itself acts on these
/// fields, so a Service read from an API server carries none of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotActedOn {
    /// The field's path (`spec.loadBalancerSourceRanges`).
    pub field: &'static str,
    /// The keys that lead to it from the document (an annotation's name
    /// holds dots of its own).
    pub keys: &'static [&'static str],
    /// What ferrolb does not do, and what follows for the Service.
    pub why: &'static str,
    /// What the user should do instead.
    pub expected: &'static str,
}

impl NotActedOn {
    /// The reason `plan` gives for the Service.
    pub fn reason(&self) -> String {
        format!("{}: accepted but not acted on: {}", self.field, self.why)
    }
}

/// `spec.loadBalancerSourceRanges`: kube-proxy filters clients by it; a
/// standalone host has no kube-proxy, and ferrolb installs no filter.
pub const SOURCE_RANGES: NotActedOn = NotActedOn {
    field: "spec.loadBalancerSourceRanges",
    keys: &["spec", "loadBalancerSourceRanges"],
    why: "without kube-proxy nothing filters clients by source range, so every client reaches the VIP",
    expected: "a firewall on the hosts that allows these ranges only, or no loadBalancerSourceRanges",
};

/// The `service.beta.kubernetes.io/load-balancer-source-ranges` annotation:
/// the older spelling of [`SOURCE_RANGES`], which kube-proxy still reads.
pub const SOURCE_RANGES_ANNOTATION: NotActedOn = NotActedOn {
    field: "metadata.annotations.service.beta.kubernetes.io/load-balancer-source-ranges",
    keys: &["metadata", "annotations", "service.beta.kubernetes.io/load-balancer-source-ranges"],
    why: "without kube-proxy nothing filters clients by source range, so every client reaches the VIP",
    expected: "a firewall on the hosts that allows these ranges only, or no such annotation",
};

/// Every Service field ferrolb accepts in a file but does not act on.
pub const NOT_ACTED_ON: [NotActedOn; 2] = [SOURCE_RANGES, SOURCE_RANGES_ANNOTATION];

/// The fields of `service` that ferrolb does not act on: those of
/// [`NOT_ACTED_ON`] the loader found written with a value, its type being
/// `LoadBalancer` (kube-proxy reads them for no other type).
pub fn not_acted_on(service: &Located<LbService>) -> impl Iterator<Item = &'static NotActedOn> {
    let load_balancer = service.load_balancer;
    NOT_ACTED_ON.iter().filter(move |n| load_balancer && service.fields.has(n.field))
}

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
        let (meta, spec) = (service.metadata, service.spec.unwrap_or_default());
        Fields {
            name: meta.name,
            namespace: meta.namespace,
            labels: meta.labels.into_iter().flatten().collect(),
            annotations: meta.annotations.into_iter().flatten().collect(),
            type_: spec.type_,
            load_balancer_class: spec.load_balancer_class,
            load_balancer_ip: spec.load_balancer_ip,
            ip_family_policy: spec.ip_family_policy,
            ip_families: spec.ip_families,
            cluster_ip: spec.cluster_ip,
            cluster_ips: spec.cluster_ips,
            ports: spec.ports.into_iter().flatten().map(|p| (p.protocol, p.port)).collect(),
            external_traffic_policy: spec.external_traffic_policy,
            selector: spec.selector.into_iter().flatten().collect(),
            ingress_ips: service
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip)
                .collect(),
        }
        .into()
    }
}

/// The fields read from either source (the Kubernetes object, or a file's
/// document), reduced by one rule: [`From<Fields>`](LbService).
struct Fields {
    name: Option<String>,
    namespace: Option<String>,
    labels: Labels,
    /// Every annotation: [`ANNOTATION_PREFIXES`] are kept from it.
    annotations: Labels,
    type_: Option<String>,
    load_balancer_class: Option<String>,
    load_balancer_ip: Option<String>,
    ip_family_policy: Option<String>,
    ip_families: Option<Vec<String>>,
    cluster_ip: Option<String>,
    cluster_ips: Option<Vec<String>>,
    ports: Vec<(Option<String>, i32)>,
    external_traffic_policy: Option<String>,
    selector: Labels,
    ingress_ips: Vec<String>,
}

impl From<Fields> for LbService {
    fn from(f: Fields) -> Self {
        let annotations =
            if f.annotations.iter().all(|(k, _)| ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p))) {
                f.annotations
            } else {
                f.annotations
                    .iter()
                    .filter(|(k, _)| ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)))
                    .collect()
            };
        let cluster_ips = match (f.cluster_ips, f.cluster_ip) {
            (Some(ips), _) if !ips.is_empty() => ips,
            (_, Some(ip)) => vec![ip],
            _ => Vec::new(),
        };
        let ports = f
            .ports
            .into_iter()
            .map(|(protocol, port)| ServicePort {
                protocol: protocol.unwrap_or_else(|| "TCP".into()).into(),
                port,
            })
            .collect();
        LbServiceFields {
            namespace: f.namespace.unwrap_or_else(|| "default".into()).into(),
            name: f.name.unwrap_or_default().into(),
            labels: f.labels,
            annotations,
            load_balancer: f.type_.as_deref() == Some("LoadBalancer"),
            load_balancer_class: f.load_balancer_class.map(Into::into),
            load_balancer_ip: f.load_balancer_ip.filter(|ip| !ip.is_empty()).map(Into::into),
            ip_family_policy: f.ip_family_policy.map(Into::into),
            ip_families: f.ip_families.into_iter().flatten().map(Into::into).collect(),
            cluster_ips: cluster_ips
                .into_iter()
                .filter(|ip| !ip.is_empty() && ip != "None")
                .map(Into::into)
                .collect(),
            ports,
            traffic_policy_local: f.external_traffic_policy.as_deref() == Some("Local"),
            selector: f.selector,
            ingress_ips: f.ingress_ips.into_iter().map(Into::into).collect(),
        }
        .into()
    }
}

/// A `v1` Service document as the file loader reads it: only the fields an
/// [`LbService`] holds, deserialized without building the whole Kubernetes
/// object (a file may hold 100k Services, and most of a Service's fields
/// are never read). Type errors in the fields read are reported as for any
/// object; the fields not read are not looked at.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceDocument {
    metadata: DocumentMeta,
    spec: DocumentSpec,
    status: Option<DocumentStatus>,
}

// Each struct names every field of its Kubernetes type (`k8s-openapi`'s
// list), so that a misspelt field is still an unknown field; the ones
// ferrolb does not read are `IgnoredAny`, never looked into.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(dead_code)]
struct DocumentMeta {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<Labels>,
    annotations: Option<Labels>,
    creation_timestamp: IgnoredAny,
    deletion_grace_period_seconds: IgnoredAny,
    deletion_timestamp: IgnoredAny,
    finalizers: IgnoredAny,
    generate_name: IgnoredAny,
    generation: IgnoredAny,
    managed_fields: IgnoredAny,
    owner_references: IgnoredAny,
    resource_version: IgnoredAny,
    self_link: IgnoredAny,
    uid: IgnoredAny,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(dead_code)]
struct DocumentSpec {
    #[serde(rename = "type")]
    type_: Option<String>,
    load_balancer_class: Option<String>,
    #[serde(rename = "loadBalancerIP")]
    load_balancer_ip: Option<String>,
    ip_family_policy: Option<String>,
    ip_families: Option<Vec<String>>,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    #[serde(rename = "clusterIPs")]
    cluster_ips: Option<Vec<String>>,
    ports: Option<Vec<DocumentPort>>,
    external_traffic_policy: Option<String>,
    selector: Option<Labels>,
    allocate_load_balancer_node_ports: IgnoredAny,
    #[serde(rename = "externalIPs")]
    external_ips: IgnoredAny,
    external_name: IgnoredAny,
    health_check_node_port: IgnoredAny,
    internal_traffic_policy: IgnoredAny,
    // Not acted on: the loader keeps its line (NOT_ACTED_ON).
    load_balancer_source_ranges: IgnoredAny,
    publish_not_ready_addresses: IgnoredAny,
    session_affinity: IgnoredAny,
    session_affinity_config: IgnoredAny,
    traffic_distribution: IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct DocumentPort {
    protocol: Option<String>,
    port: i32,
    #[serde(default)]
    app_protocol: IgnoredAny,
    #[serde(default)]
    name: IgnoredAny,
    #[serde(default)]
    node_port: IgnoredAny,
    #[serde(default)]
    target_port: IgnoredAny,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(dead_code)]
struct DocumentStatus {
    load_balancer: Option<DocumentLoadBalancer>,
    conditions: IgnoredAny,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DocumentLoadBalancer {
    ingress: Option<Vec<DocumentIngress>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(dead_code)]
struct DocumentIngress {
    ip: Option<String>,
    hostname: IgnoredAny,
    ip_mode: IgnoredAny,
    ports: IgnoredAny,
}

impl From<ServiceDocument> for LbService {
    fn from(doc: ServiceDocument) -> Self {
        let (meta, spec) = (doc.metadata, doc.spec);
        Fields {
            name: meta.name,
            namespace: meta.namespace,
            labels: meta.labels.unwrap_or_default(),
            annotations: meta.annotations.unwrap_or_default(),
            type_: spec.type_,
            load_balancer_class: spec.load_balancer_class,
            load_balancer_ip: spec.load_balancer_ip,
            ip_family_policy: spec.ip_family_policy,
            ip_families: spec.ip_families,
            cluster_ip: spec.cluster_ip,
            cluster_ips: spec.cluster_ips,
            ports: spec.ports.into_iter().flatten().map(|p| (p.protocol, p.port)).collect(),
            external_traffic_policy: spec.external_traffic_policy,
            selector: spec.selector.unwrap_or_default(),
            ingress_ips: doc
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip)
                .collect(),
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_service_with_every_field_loads_and_a_misspelt_one_is_unknown() {
        let full = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  uid: 1\n  resourceVersion: '7'\n  managedFields: [{manager: kubectl}]\n  annotations: {metallb.io/allow-shared-ip: k, other: x}\nspec:\n  type: LoadBalancer\n  sessionAffinity: None\n  allocateLoadBalancerNodePorts: false\n  externalIPs: [198.51.100.9]\n  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080, appProtocol: http}]\n  externalTrafficPolicy: Local\nstatus:\n  conditions: []\n  loadBalancer: {ingress: [{ip: 192.0.2.1, ipMode: VIP, ports: []}]}\n";
        let (snapshot, diagnostics) = crate::load::load_str("s.yaml", full);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let web = &snapshot.services[0];
        assert_eq!(web.annotation("metallb.io/allow-shared-ip"), Some("k"));
        assert!(web.traffic_policy_local && web.load_balancer);
        assert_eq!(web.ports[0], ServicePort { protocol: "TCP".into(), port: 80 });
        assert_eq!(&*web.ingress_ips, [Box::from("192.0.2.1")]);

        let misspelt = full.replace("externalTrafficPolicy", "externalTraficPolicy");
        let (_, diagnostics) = crate::load::load_str("s.yaml", &misspelt);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0].to_string().contains("unknown field \"externalTraficPolicy\""),
            "{}",
            diagnostics[0]
        );
    }

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
