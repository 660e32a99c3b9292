//! IP addresses as Go's `net.ParseIP` reads them (MetalLB's parser), their
//! family, and their integer values.

use std::fmt;
use std::net::IpAddr;

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> IpFamily {
        if ip.is_ipv4() { IpFamily::V4 } else { IpFamily::V6 }
    }

    /// The Kubernetes name (`IPv4`, `IPv6`), as in `spec.ipFamilies`.
    pub fn k8s_name(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }

    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.k8s_name())
    }
}

/// An IP address as Go's `net.ParseIP` reads it: dotted IPv4 without leading
/// zeros, or IPv6 (an embedded IPv4 part likewise); no zone, no white space.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    // Rust's parser is Go's: it refuses leading zeros in IPv4 octets, zones
    // and surrounding spaces.
    text.parse().ok()
}

/// `ip` in the family Go gives it: an IPv4-mapped IPv6 address is IPv4.
pub fn go_family(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The address as an unsigned integer (IPv4 in the low 32 bits).
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4).into(),
        IpAddr::V6(v6) => v6.into(),
    }
}

/// The address of `family` whose integer value is `n` (truncated to the width).
pub fn from_u128(family: IpFamily, n: u128) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::V4((n as u32).into()),
        IpFamily::V6 => IpAddr::V6(n.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsing_is_gos() {
        for bad in ["192.0.2.010", " 192.0.2.1", "192.0.2.1 ", "fe80::1%eth0", "1.2.3"] {
            assert_eq!(parse_ip(bad), None, "{bad:?}");
        }
        assert_eq!(go_family(parse_ip("::ffff:192.0.2.1").unwrap()), parse_ip("192.0.2.1").unwrap());
        assert_eq!(IpFamily::of(parse_ip("2001:db8::1").unwrap()), IpFamily::V6);
        assert_eq!((IpFamily::V4.to_string(), IpFamily::V6.bits()), ("IPv4".to_owned(), 128));
    }

    proptest! {
        #[test]
        fn an_address_gives_back_its_integer(v4: u32, v6: u128) {
            prop_assert_eq!(to_u128(from_u128(IpFamily::V4, v4.into())), u128::from(v4));
            prop_assert_eq!(to_u128(from_u128(IpFamily::V6, v6)), v6);
        }

        #[test]
        fn an_address_reparses_from_its_text(v4: u32, v6: u128) {
            for ip in [from_u128(IpFamily::V4, v4.into()), from_u128(IpFamily::V6, v6)] {
                prop_assert_eq!(parse_ip(&ip.to_string()), Some(ip));
            }
        }
    }
}
