//! What FRR and Cisco IOS write alike (FRR's vtysh speaks IOS): the prefix
//! lists and the head of `router bgp` with its neighbors.

use std::fmt::Write as _;

use ferrolb_types::IpFamily;

use crate::{Neighbor, Router, ip_keyword, seconds};

/// Where the two differ in the head of `router bgp`.
pub(crate) struct Words {
    /// Lines after the router ID (each with its leading space).
    pub global: &'static str,
    /// Before a password: IOS says it is not encrypted (`0 `).
    pub password: &'static str,
    /// After `ebgp-multihop`: IOS wants the TTL.
    pub multihop: &'static str,
    /// Whether IPv4 routes may ride an IPv6 session (RFC 8950), which FRR
    /// asks for per neighbor; IOS has no such line.
    pub extended_nexthop: bool,
}

/// `NAME` as a prefix list of `family`: a line per accepted prefix.
pub(crate) fn prefix_list(router: &Router, family: IpFamily, name: &str, w: &mut String) {
    let ip = ip_keyword(family);
    for (i, a) in router.accepted_of(family).enumerate() {
        let _ = write!(w, "{ip} prefix-list {name} seq {} permit {}", (i + 1) * 5, a.within);
        if a.is_range() {
            let _ = write!(w, " ge {}", a.length);
        }
        w.push('\n');
    }
}

/// `router bgp ASN`, its global settings and a stanza per neighbor, `bfd`
/// giving the line of a neighbor with BFD.
pub(crate) fn bgp_head(
    router: &Router,
    words: &Words,
    bfd: impl Fn(&Neighbor) -> Option<String>,
    w: &mut String,
) {
    let _ = writeln!(w, "router bgp {}", router.asn);
    if let Some(id) = router.router_id() {
        let _ = writeln!(w, " bgp router-id {id}");
    }
    let _ = write!(w, "{}", words.global);
    let _ = writeln!(w, " no bgp default ipv4-unicast");
    if router.mixed_asns() {
        let _ = writeln!(w, " bgp bestpath as-path multipath-relax");
    }
    if router.graceful_restart {
        let _ = writeln!(w, " bgp graceful-restart");
    }
    for n in &router.neighbors {
        let a = n.address;
        let _ = writeln!(w, " neighbor {a} remote-as {}", n.asn);
        let _ = writeln!(w, " neighbor {a} description {} (BGPPeer {})", n.node, n.peer);
        if let Some(password) = &n.password {
            let _ = writeln!(w, " neighbor {a} password {}{password}", words.password);
        }
        if let Some(timers) = &n.timers {
            let (keepalive, hold) = seconds(timers);
            let _ = writeln!(w, " neighbor {a} timers {keepalive} {hold}");
        }
        if n.multihop && n.asn != router.asn {
            let _ = writeln!(w, " neighbor {a} ebgp-multihop{}", words.multihop);
        }
        if let Some(line) = bfd(n) {
            let _ = writeln!(w, " neighbor {a} {line}");
        }
        // IPv4 routes over an IPv6 session carry an IPv6 next hop (RFC 8950).
        if words.extended_nexthop && a.is_ipv6() && n.ipv4 {
            let _ = writeln!(w, " neighbor {a} capability extended-nexthop");
        }
    }
}
