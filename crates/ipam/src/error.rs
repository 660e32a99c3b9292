//! Why a Service gets no address, and why it lost the ones it had. The words
//! follow MetalLB's, so that users moving over recognise them.

use std::net::IpAddr;

use crate::families::Families;
use crate::request::Port;

/// Why a Service could not get (or keep) an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// There is no `IPAddressPool` at all.
    #[error("no IPAddressPool is configured")]
    NoPools,
    /// No pool the Service may use automatically has what it needs free.
    #[error("no available IPs: no pool this service may use has {}", families.wanted())]
    NoAvailableIps {
        /// What the Service needs.
        families: Families,
    },
    /// The pool the Service names has no free address left.
    #[error("no available IPs in pool {pool:?}")]
    PoolExhausted {
        /// The pool named.
        pool: String,
    },
    /// The pool the Service names has free addresses, but not of the families it needs.
    #[error("no available IPs in pool {pool:?} for {families} IPFamily")]
    PoolLacksFamily {
        /// The pool named.
        pool: String,
        /// What the Service needs.
        families: Families,
    },
    /// The Service names a pool that does not exist.
    #[error("unknown pool {pool:?}{}", did_you_mean(.closest))]
    UnknownPool {
        /// The pool named.
        pool: String,
        /// The existing pool whose name is closest, when it looks like a typo.
        closest: Option<String>,
    },
    /// The pool's `serviceAllocation` does not select the Service.
    #[error("pool {pool:?} is not allowed for this service")]
    PoolNotAllowed {
        /// The pool.
        pool: String,
    },
    /// The address is in no pool.
    #[error("\"{ip}\" is not allowed in config")]
    NotInAnyPool {
        /// The address.
        ip: IpAddr,
    },
    /// The address ends in `.0` or `.255` and its pool avoids those.
    #[error(
        "\"{ip}\" is not allowed in config: pool {pool:?} has avoidBuggyIPs, which excludes addresses ending in .0 and .255"
    )]
    BuggyIp {
        /// The address.
        ip: IpAddr,
        /// Its pool.
        pool: String,
    },
    /// The addresses lie in different pools; a Service's addresses come from one.
    #[error(
        "IPs {} are in different pools ({first_pool:?} and {second_pool:?}); a service's IPs must come from one pool",
        list(ips)
    )]
    IpsInDifferentPools {
        /// The addresses.
        ips: Vec<IpAddr>,
        /// The pool of the first.
        first_pool: String,
        /// The pool of the second.
        second_pool: String,
    },
    /// The addresses asked for are not in the pool the Service names.
    #[error(
        "requested loadBalancer IP(s) {} is not compatible with requested address pool {pool:?}",
        list(ips)
    )]
    RequestedIpsOutsidePool {
        /// The addresses asked for.
        ips: Vec<IpAddr>,
        /// The pool named.
        pool: String,
    },
    /// The addresses asked for are not of the families the Service wants.
    #[error(
        "requested loadBalancer IP(s) {} does not match the ipFamily of the service ({families})",
        list(ips)
    )]
    RequestedFamilyMismatch {
        /// The addresses asked for.
        ips: Vec<IpAddr>,
        /// What the Service wants.
        families: Families,
    },
    /// Both the annotation and `spec.loadBalancerIP` ask for addresses.
    #[error("service can not have both {annotation} and spec.loadBalancerIP")]
    BothRequestForms {
        /// The annotation used.
        annotation: String,
    },
    /// A requested address does not parse.
    #[error("invalid {field}: {value:?}")]
    InvalidRequestedIp {
        /// The annotation or field.
        field: String,
        /// Its value.
        value: String,
    },
    /// More than one address of a family asked for.
    #[error("requested loadBalancer IPs {}: expected at most one IPv4 and one IPv6 address", list(ips))]
    TooManyRequestedIps {
        /// The addresses asked for.
        ips: Vec<IpAddr>,
    },
    /// The address belongs to another Service and one of them does not allow sharing.
    #[error("IP {ip} is already in use by {by}")]
    IpInUse {
        /// The address.
        ip: IpAddr,
        /// `namespace/name` of a Service holding it.
        by: String,
    },
    /// The address belongs to a Service with another sharing key.
    #[error("IP {ip} is already in use by {by}, whose sharing key {existing:?} differs from {key:?}")]
    SharingKeyMismatch {
        /// The address.
        ip: IpAddr,
        /// `namespace/name` of a Service holding it.
        by: String,
        /// This Service's key.
        key: String,
        /// The holder's key.
        existing: String,
    },
    /// The address is shared under the same key, but by a Service with other backends.
    #[error(
        "IP {ip} is already in use by {by}, which selects other pods (Services sharing an IP with externalTrafficPolicy Local need the same spec.selector)"
    )]
    BackendMismatch {
        /// The address.
        ip: IpAddr,
        /// `namespace/name` of a Service holding it.
        by: String,
    },
    /// A port of the Service is already served on the shared address.
    #[error("port {port} is already in use on {ip} by {by}")]
    PortInUse {
        /// The address.
        ip: IpAddr,
        /// The port.
        port: Port,
        /// `namespace/name` of the Service using it.
        by: String,
    },
}

impl AllocationError {
    /// Whether the address is refused because of the Services holding it.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            AllocationError::IpInUse { .. }
                | AllocationError::SharingKeyMismatch { .. }
                | AllocationError::BackendMismatch { .. }
                | AllocationError::PortInUse { .. }
        )
    }
}

/// Why a Service's previous addresses were given up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseReason {
    /// The configuration no longer allows them.
    #[error("current IPs are not allowed by config: {0}")]
    NotAllowed(AllocationError),
    /// The Service now names another pool.
    #[error("the service asks for pool {to:?}, its IPs are from pool {from:?}")]
    PoolChanged {
        /// The pool of the previous addresses.
        from: String,
        /// The pool named now.
        to: String,
    },
    /// The Service now asks for other addresses.
    #[error("the service asks for {}", list(requested))]
    IpsChanged {
        /// The addresses asked for now.
        requested: Vec<IpAddr>,
    },
    /// The previous addresses are not of the families the Service wants.
    #[error("the service wants {families} addresses")]
    FamilyChanged {
        /// What the Service wants now.
        families: Families,
    },
}

/// Addresses as one quoted, comma-separated string.
fn list(ips: &[IpAddr]) -> String {
    let joined: Vec<String> = ips.iter().map(ToString::to_string).collect();
    format!("{:?}", joined.join(","))
}

/// ` (did you mean "x"?)` when there is a likely intended name.
fn did_you_mean(closest: &Option<String>) -> String {
    closest.as_ref().map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default()
}
