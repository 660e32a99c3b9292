//! What a Service asks of IPAM: its annotations (pool, addresses, sharing
//! key), `spec.loadBalancerIP`, its ports and its backends.

use std::fmt;
use std::net::IpAddr;

use ferrolb_api::service::LbService;
use ferrolb_types::IpFamily;

use crate::error::AllocationError;
use crate::families::Families;

/// The Service annotations IPAM reads, each under MetalLB's current prefix
/// (`metallb.io/`) and its deprecated one (`metallb.universe.tf/`). When both
/// are present the current one wins, even when its value is empty.
pub mod annotation {
    /// The pool a Service wants its addresses from.
    pub const ADDRESS_POOL: &str = "metallb.io/address-pool";
    /// [`ADDRESS_POOL`] under the deprecated prefix.
    pub const DEPRECATED_ADDRESS_POOL: &str = "metallb.universe.tf/address-pool";
    /// The addresses a Service wants, comma-separated, at most one per family.
    pub const LOAD_BALANCER_IPS: &str = "metallb.io/loadBalancerIPs";
    /// [`LOAD_BALANCER_IPS`] under the deprecated prefix.
    pub const DEPRECATED_LOAD_BALANCER_IPS: &str = "metallb.universe.tf/loadBalancerIPs";
    /// The key under which Services may share an address.
    pub const ALLOW_SHARED_IP: &str = "metallb.io/allow-shared-ip";
    /// [`ALLOW_SHARED_IP`] under the deprecated prefix.
    pub const DEPRECATED_ALLOW_SHARED_IP: &str = "metallb.universe.tf/allow-shared-ip";
    /// Written by the controller: the pool a Service's addresses came from.
    pub const IP_ALLOCATED_FROM_POOL: &str = "metallb.io/ip-allocated-from-pool";
}

/// The protocol of a Service port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `TCP`, also when the Service does not say.
    Tcp,
    /// `UDP`.
    Udp,
    /// `SCTP`.
    Sctp,
    /// Anything else, as written.
    Other(String),
}

impl Protocol {
    /// The protocol `spec.ports[].protocol` names (`TCP` when absent or empty).
    pub fn parse(text: Option<&str>) -> Protocol {
        match text.unwrap_or("") {
            "" | "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => Protocol::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Other(other) => other,
        })
    }
}

/// One port a Service listens on: protocol and number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// The protocol.
    pub protocol: Protocol,
    /// The port number.
    pub port: i32,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// Everything IPAM needs from one Service, read once.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// The pool named by annotation, if any.
    pub pool: Option<String>,
    /// The addresses asked for (empty: none), or why they cannot be read
    /// (boxed: rare, and a request is made per Service).
    pub ips: Result<Vec<IpAddr>, Box<AllocationError>>,
    /// The sharing key; `None` when absent or empty (no sharing).
    pub sharing: Option<String>,
    /// Which pods serve the Service, when that matters for sharing:
    /// `spec.selector` as `k=v,...` for `externalTrafficPolicy: Local`, else
    /// empty (as MetalLB's backend key).
    pub backend: String,
    /// Sorted, without repeats.
    pub ports: Vec<Port>,
    /// The families wanted.
    pub families: Families,
}

impl Request {
    /// Reads `service`.
    pub fn of(service: &LbService) -> Request {
        let pool = annotation_value(service, annotation::ADDRESS_POOL, annotation::DEPRECATED_ADDRESS_POOL)
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        let sharing = sharing_key(service).map(str::to_owned);
        Request {
            pool,
            ips: requested_ips(service).map_err(Box::new),
            sharing,
            backend: backend_key(service),
            ports: ports(service),
            families: Families::of(service),
        }
    }
}

/// The Service's sharing key (`allow-shared-ip`); `None` when absent or
/// empty (no sharing).
pub(crate) fn sharing_key(service: &LbService) -> Option<&str> {
    annotation_value(service, annotation::ALLOW_SHARED_IP, annotation::DEPRECATED_ALLOW_SHARED_IP)
        .filter(|k| !k.is_empty())
}

/// The value under `current`, else under `deprecated`.
fn annotation_value<'a>(service: &'a LbService, current: &str, deprecated: &str) -> Option<&'a str> {
    service.annotation(current).or_else(|| service.annotation(deprecated))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps, as Go reads it.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The addresses the Service asks for, from the annotation or
/// `spec.loadBalancerIP` (not both); at most one per family.
fn requested_ips(service: &LbService) -> Result<Vec<IpAddr>, AllocationError> {
    let get = |name: &str| service.annotation(name);
    let (name, listed) = match get(annotation::LOAD_BALANCER_IPS) {
        Some(v) => (annotation::LOAD_BALANCER_IPS, Some(v)),
        None => (annotation::DEPRECATED_LOAD_BALANCER_IPS, get(annotation::DEPRECATED_LOAD_BALANCER_IPS)),
    };
    let listed = listed.filter(|v| !v.is_empty());
    let spec_ip = service.load_balancer_ip.as_deref().filter(|v| !v.is_empty());
    let ips = match (listed, spec_ip) {
        (None, None) => return Ok(Vec::new()),
        (Some(_), Some(_)) => {
            return Err(AllocationError::BothRequestForms { annotation: name.to_owned() });
        }
        (Some(list), None) => {
            let mut ips = Vec::new();
            for part in list.split(',') {
                let ip = part.trim().parse::<IpAddr>().map_err(|_| AllocationError::InvalidRequestedIp {
                    field: name.to_owned(),
                    value: list.to_owned(),
                })?;
                ips.push(canonical(ip));
            }
            ips
        }
        (None, Some(one)) => {
            let ip = one.trim().parse::<IpAddr>().map_err(|_| AllocationError::InvalidRequestedIp {
                field: "spec.loadBalancerIP".to_owned(),
                value: one.to_owned(),
            })?;
            vec![canonical(ip)]
        }
    };
    let one_per_family = match ips.as_slice() {
        [_] => true,
        [a, b] => IpFamily::of(*a) != IpFamily::of(*b),
        _ => false,
    };
    if !one_per_family {
        return Err(AllocationError::TooManyRequestedIps { ips });
    }
    Ok(ips)
}

/// MetalLB's backend key: the pod selector when traffic stays on the node
/// that receives it, since then the Services must land on the same nodes.
fn backend_key(service: &LbService) -> String {
    if !service.traffic_policy_local {
        return String::new();
    }
    let mut out = String::new();
    for (k, v) in service.selector.iter() {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The Service's ports, sorted, without repeats.
fn ports(service: &LbService) -> Vec<Port> {
    let mut out: Vec<Port> = service
        .ports
        .iter()
        .map(|p| Port { protocol: Protocol::parse(Some(&p.protocol)), port: p.port })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::lb_service;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn current_pool_annotation_wins_over_deprecated() {
        let svc = lb_service("ns", "a")
            .annotate(annotation::DEPRECATED_ADDRESS_POOL, "old")
            .annotate(annotation::ADDRESS_POOL, "new")
            .build();
        assert_eq!(Request::of(&svc).pool.as_deref(), Some("new"));
        let svc = lb_service("ns", "a").annotate(annotation::DEPRECATED_ADDRESS_POOL, "old").build();
        assert_eq!(Request::of(&svc).pool.as_deref(), Some("old"));
    }

    #[test]
    fn current_sharing_annotation_wins_even_when_empty() {
        let svc = lb_service("ns", "a")
            .annotate(annotation::DEPRECATED_ALLOW_SHARED_IP, "old")
            .annotate(annotation::ALLOW_SHARED_IP, "")
            .build();
        assert_eq!(Request::of(&svc).sharing, None);
    }

    #[test]
    fn requested_ips_are_comma_separated_with_spaces() {
        let svc =
            lb_service("ns", "a").annotate(annotation::LOAD_BALANCER_IPS, "192.0.2.5, 2001:db8::5").build();
        assert_eq!(Request::of(&svc).ips.unwrap(), vec![ip("192.0.2.5"), ip("2001:db8::5")]);
    }

    #[test]
    fn two_requested_ips_of_one_family_are_an_error() {
        let svc =
            lb_service("ns", "a").annotate(annotation::LOAD_BALANCER_IPS, "192.0.2.5,192.0.2.6").build();
        assert!(matches!(
            Request::of(&svc).ips.map_err(|e| *e),
            Err(AllocationError::TooManyRequestedIps { .. })
        ));
    }

    #[test]
    fn unparsable_requested_ip_is_an_error_naming_the_field() {
        let svc = lb_service("ns", "a").annotate(annotation::LOAD_BALANCER_IPS, "192.0.2.5,").build();
        assert_eq!(
            Request::of(&svc).ips.unwrap_err().to_string(),
            "invalid metallb.io/loadBalancerIPs: \"192.0.2.5,\""
        );
        let svc = lb_service("ns", "a").load_balancer_ip("banana").build();
        assert_eq!(Request::of(&svc).ips.unwrap_err().to_string(), "invalid spec.loadBalancerIP: \"banana\"");
    }

    #[test]
    fn ipv4_mapped_address_is_read_as_ipv4() {
        let svc = lb_service("ns", "a").load_balancer_ip("::ffff:192.0.2.7").build();
        assert_eq!(Request::of(&svc).ips.unwrap(), vec![ip("192.0.2.7")]);
    }

    #[test]
    fn ports_default_to_tcp_and_repeat_once() {
        let svc = lb_service("ns", "a").port(None, 80).port(Some("TCP"), 80).port(Some("UDP"), 53).build();
        let ports = Request::of(&svc).ports;
        assert_eq!(ports.iter().map(ToString::to_string).collect::<Vec<_>>(), ["TCP/80", "UDP/53"]);
    }

    #[test]
    fn backend_key_is_the_selector_only_for_local_traffic() {
        let svc = lb_service("ns", "a").selector(&[("b", "2"), ("a", "1")]).build();
        assert_eq!(Request::of(&svc).backend, "");
        let svc = lb_service("ns", "a").selector(&[("b", "2"), ("a", "1")]).local().build();
        assert_eq!(Request::of(&svc).backend, "a=1,b=2");
    }
}
