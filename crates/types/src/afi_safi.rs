//! BGP address families: the AFI/SAFI pair of multiprotocol BGP.
//!
//! Named `AfiSafi`, as FRR, GoBGP and BIRD operators say it, so that it is
//! never confused with [`crate::IpFamily`] (IPv4 or IPv6 of an address): one
//! AFI/SAFI names a kind of route a session carries, and IPv4 routes may ride
//! on an IPv6 session.

use std::fmt;

/// An address family and subsequent address family (AFI/SAFI, RFC 4760 §3).
///
/// Any pair is a value: a peer may offer families ferrolb does not speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AfiSafi {
    /// Address Family Identifier (IANA: 1 IPv4, 2 IPv6).
    pub afi: u16,
    /// Subsequent Address Family Identifier (IANA: 1 unicast).
    pub safi: u8,
}

impl AfiSafi {
    /// IPv4 unicast (AFI 1, SAFI 1).
    pub const IPV4_UNICAST: AfiSafi = AfiSafi { afi: 1, safi: 1 };
    /// IPv6 unicast (AFI 2, SAFI 1).
    pub const IPV6_UNICAST: AfiSafi = AfiSafi { afi: 2, safi: 1 };
}

impl fmt::Display for AfiSafi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AfiSafi::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            AfiSafi::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            AfiSafi { afi, safi } => write!(f, "afi {afi}/safi {safi}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_print_as_operators_name_them() {
        assert_eq!(AfiSafi::IPV4_UNICAST.to_string(), "ipv4-unicast");
        assert_eq!(AfiSafi::IPV6_UNICAST.to_string(), "ipv6-unicast");
        assert_eq!(AfiSafi { afi: 25, safi: 70 }.to_string(), "afi 25/safi 70");
    }
}
