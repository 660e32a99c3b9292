//! Which next hop a session's routes carry, family by family.
//!
//! The routes of the session's own family carry our address on the
//! session. With `dualStackAddressFamily` the other family rides along
//! (RFC 4760): its next hop is an address of that family on the same
//! interface, as FRR does; an IPv4 route over an IPv6 session without one
//! carries our IPv6 address instead when the peer accepts it (RFC 8950).

use std::net::{IpAddr, Ipv6Addr};

use crate::message::{Ipv6NextHop, MpNextHop};
use crate::types::AfiSafi;

/// The next hop of each family on one session; none: that family is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextHops {
    /// Of IPv4 routes: IPv4 (NEXT_HOP) or, by RFC 8950, IPv6 (MP_REACH_NLRI).
    pub v4: Option<MpNextHop>,
    /// Of IPv6 routes.
    pub v6: Option<Ipv6Addr>,
}

impl NextHops {
    /// The next hops of a session whose local end is `local`, on an interface
    /// that also holds `interface` addresses, carrying `families`;
    /// `extended_v4`: both sides offered IPv4 routes with IPv6 next hops.
    pub fn choose(local: IpAddr, interface: &[IpAddr], families: &[AfiSafi], extended_v4: bool) -> NextHops {
        let local = local.to_canonical();
        let v4 = families.contains(&AfiSafi::IPV4_UNICAST).then(|| match local {
            IpAddr::V4(own) => Some(MpNextHop::V4(own)),
            IpAddr::V6(own) => interface
                .iter()
                .find_map(|a| match a {
                    IpAddr::V4(v4) => Some(MpNextHop::V4(*v4)),
                    IpAddr::V6(_) => None,
                })
                .or_else(|| {
                    extended_v4.then_some(MpNextHop::V6(Ipv6NextHop { global: own, link_local: None }))
                }),
        });
        let v6 = families.contains(&AfiSafi::IPV6_UNICAST).then(|| match local {
            IpAddr::V6(own) => own,
            // Without a global IPv6 address on the interface, the IPv4-mapped
            // form of our address (RFC 4291 §2.5.5.2), as FRR sends.
            IpAddr::V4(own) => interface
                .iter()
                .find_map(|a| match a {
                    IpAddr::V6(v6) if !is_link_local(v6) => Some(*v6),
                    _ => None,
                })
                .unwrap_or_else(|| own.to_ipv6_mapped()),
        });
        NextHops { v4: v4.flatten(), v6 }
    }
}

fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[AfiSafi] = &[AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_family_of_its_own_session_carries_the_session_address() {
        let v4 = NextHops::choose(ip("192.0.2.11"), &[], &[AfiSafi::IPV4_UNICAST], false);
        assert_eq!(v4, NextHops { v4: Some(MpNextHop::V4("192.0.2.11".parse().unwrap())), v6: None });
        let v6 = NextHops::choose(ip("2001:db8::11"), &[], &[AfiSafi::IPV6_UNICAST], false);
        assert_eq!(v6, NextHops { v4: None, v6: Some("2001:db8::11".parse().unwrap()) });
    }

    #[test]
    fn ipv6_over_an_ipv4_session_carries_the_interface_global_ipv6_address() {
        let interface = [ip("192.0.2.11"), ip("fe80::1"), ip("2001:db8::11")];
        let hops = NextHops::choose(ip("192.0.2.11"), &interface, BOTH, false);
        assert_eq!(hops.v6, Some("2001:db8::11".parse().unwrap()));
        // No global address: the IPv4-mapped one.
        let hops = NextHops::choose(ip("192.0.2.11"), &[ip("fe80::1")], BOTH, false);
        assert_eq!(hops.v6, Some("::ffff:192.0.2.11".parse().unwrap()));
    }

    #[test]
    fn ipv4_over_an_ipv6_session_carries_the_interface_ipv4_address_or_rfc_8950() {
        let hops = NextHops::choose(ip("2001:db8::11"), &[ip("192.0.2.11")], BOTH, true);
        assert_eq!(hops.v4, Some(MpNextHop::V4("192.0.2.11".parse().unwrap())));
        let hops = NextHops::choose(ip("2001:db8::11"), &[], BOTH, true);
        let global = "2001:db8::11".parse().unwrap();
        assert_eq!(hops.v4, Some(MpNextHop::V6(Ipv6NextHop { global, link_local: None })));
        // Neither: IPv4 routes cannot be sent.
        assert_eq!(NextHops::choose(ip("2001:db8::11"), &[], BOTH, false).v4, None);
    }

    #[test]
    fn a_family_not_negotiated_gets_no_next_hop() {
        let hops = NextHops::choose(ip("192.0.2.11"), &[ip("2001:db8::11")], &[AfiSafi::IPV4_UNICAST], true);
        assert_eq!(hops.v6, None);
    }

    #[test]
    fn an_ipv4_mapped_local_address_is_an_ipv4_session() {
        let hops = NextHops::choose(ip("::ffff:192.0.2.11"), &[], &[AfiSafi::IPV4_UNICAST], false);
        assert_eq!(hops.v4, Some(MpNextHop::V4("192.0.2.11".parse().unwrap())));
    }
}
