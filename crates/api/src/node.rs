//! What ferrolb reads of a `Node` besides its labels.

use std::net::{IpAddr, Ipv4Addr};

use crate::core::Node;

/// The node's `InternalIP` addresses, in the order its kubelet lists them
/// (one that does not parse is left out).
pub fn internal_ips(node: &Node) -> impl Iterator<Item = IpAddr> + '_ {
    let addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref());
    addresses.into_iter().flatten().filter(|a| a.type_ == "InternalIP").filter_map(|a| a.address.parse().ok())
}

/// The node's first IPv4 `InternalIP`: its BGP router ID when a peer sets none.
pub fn first_internal_ipv4(node: &Node) -> Option<Ipv4Addr> {
    internal_ips(node).find_map(|ip| match ip.to_canonical() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })
}
