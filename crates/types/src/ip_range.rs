//! Address ranges of pools, as MetalLB writes them: a CIDR (`192.0.2.0/28`,
//! host bits allowed and cleared, as Go's `net.ParseCIDR` does) or an
//! inclusive range (`192.0.2.10-192.0.2.20`, spaces around the dash allowed).
//!
//! Both parse exactly as MetalLB's `config.ParseCIDR` does with Go's
//! `net.ParseIP`/`net.ParseCIDR`: a CIDR is never trimmed, the ends of a
//! range are (Unicode white space, as `strings.TrimSpace`); no leading zeros
//! in IPv4 octets, no zones; a prefix length is ASCII digits, leading zeros
//! allowed; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4
//! address, as Go's `To4` makes it.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

use crate::ip::{IpFamily, go_family, parse_ip, to_u128};

/// Why an address range does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not a CIDR (no dash, so it was read as one).
    #[error("invalid CIDR {0:?} (expected ADDRESS/LENGTH or START-END)")]
    InvalidCidr(String),
    /// The start of a range is not an IP address.
    #[error("invalid IP range {range:?}: invalid start IP {start:?}")]
    InvalidStart {
        /// The range as written.
        range: String,
        /// The start as written.
        start: String,
    },
    /// The end of a range is not an IP address.
    #[error("invalid IP range {range:?}: invalid end IP {end:?}")]
    InvalidEnd {
        /// The range as written.
        range: String,
        /// The end as written.
        end: String,
    },
    /// Start and end are of different families.
    #[error(
        "invalid IP range {0:?}: start and end are of different IP families (expected both IPv4 or both IPv6)"
    )]
    MixedFamilies(String),
    /// The start comes after the end.
    #[error("invalid IP range {range:?}: start IP {start} is after the end IP {end}")]
    Reversed {
        /// The range as written.
        range: String,
        /// The start.
        start: IpAddr,
        /// The end.
        end: IpAddr,
    },
}

/// An inclusive range of addresses of one family; `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    start: IpAddr,
    end: IpAddr,
}

impl IpRange {
    /// Parses a CIDR or a `START-END` range.
    pub fn parse(text: &str) -> Result<IpRange, RangeError> {
        let Some((start_text, end_text)) = text.split_once('-') else {
            return parse_cidr(text).ok_or_else(|| RangeError::InvalidCidr(text.to_owned()));
        };
        let start = parse_ip(start_text.trim()).map(go_family).ok_or_else(|| RangeError::InvalidStart {
            range: text.to_owned(),
            start: start_text.to_owned(),
        })?;
        let end = parse_ip(end_text.trim())
            .map(go_family)
            .ok_or_else(|| RangeError::InvalidEnd { range: text.to_owned(), end: end_text.to_owned() })?;
        if IpFamily::of(start) != IpFamily::of(end) {
            return Err(RangeError::MixedFamilies(text.to_owned()));
        }
        if start > end {
            return Err(RangeError::Reversed { range: text.to_owned(), start, end });
        }
        Ok(IpRange { start, end })
    }

    /// A range from `start` to `end` inclusive, if they are of one family and in order.
    pub fn new(start: IpAddr, end: IpAddr) -> Option<IpRange> {
        (IpFamily::of(start) == IpFamily::of(end) && start <= end).then_some(IpRange { start, end })
    }

    /// The first address.
    pub fn start(&self) -> IpAddr {
        self.start
    }

    /// The last address.
    pub fn end(&self) -> IpAddr {
        self.end
    }

    /// The family of every address in the range.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.start)
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family() && self.start <= ip && ip <= self.end
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.family() == other.family() && self.start <= other.end && other.start <= self.end
    }

    /// How many addresses the range holds (saturating at `u128::MAX`).
    pub fn len(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// Always false: a range holds at least its start.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The fewest CIDRs that cover exactly this range.
    pub fn cidrs(&self) -> Vec<IpNet> {
        match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => Ipv4Subnets::new(s, e, 0).map(IpNet::V4).collect(),
            (IpAddr::V6(s), IpAddr::V6(e)) => Ipv6Subnets::new(s, e, 0).map(IpNet::V6).collect(),
            _ => unreachable!("a range has one family"),
        }
    }
}

impl From<IpNet> for IpRange {
    fn from(net: IpNet) -> Self {
        IpRange { start: net.network(), end: net.broadcast() }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cidrs().as_slice() {
            [one] => write!(f, "{one}"),
            _ => write!(f, "{}-{}", self.start, self.end),
        }
    }
}

/// A CIDR as Go's `net.ParseCIDR` reads it, as the range it covers. An
/// IPv4-mapped IPv6 CIDR of a /96 or longer is the IPv4 range it maps, as
/// MetalLB's overlap check (Go's `IPNet.Contains`) sees it.
fn parse_cidr(text: &str) -> Option<IpRange> {
    let (address, length) = text.split_once('/')?;
    let address = parse_ip(address)?;
    if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = length.trim_start_matches('0');
    let length: u8 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let net = IpNet::new(address, length).ok()?.trunc();
    if let IpNet::V6(v6) = net
        && let (Some(start), Some(end)) = (v6.network().to_ipv4_mapped(), v6.broadcast().to_ipv4_mapped())
    {
        return Some(IpRange { start: IpAddr::V4(start), end: IpAddr::V4(end) });
    }
    Some(IpRange::from(net))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_with_host_bits_is_its_network() {
        let r = IpRange::parse("192.0.2.77/28").unwrap();
        assert_eq!((r.start(), r.end()), (ip("192.0.2.64"), ip("192.0.2.79")));
        assert_eq!(r.len(), 16);
    }

    #[test]
    fn range_with_spaces_parses() {
        let r = IpRange::parse("192.0.2.10 - 192.0.2.20").unwrap();
        assert_eq!(r.len(), 11);
        assert_eq!(r.to_string(), "192.0.2.10-192.0.2.20");
    }

    #[test]
    fn errors_say_what_was_expected() {
        assert_eq!(
            IpRange::parse("192.0.2.0/33").unwrap_err().to_string(),
            "invalid CIDR \"192.0.2.0/33\" (expected ADDRESS/LENGTH or START-END)"
        );
        assert!(matches!(IpRange::parse("192.0.2.9-192.0.2.1"), Err(RangeError::Reversed { .. })));
        assert!(matches!(IpRange::parse("192.0.2.1-2001:db8::1"), Err(RangeError::MixedFamilies(_))));
        assert!(matches!(IpRange::parse("x-192.0.2.1"), Err(RangeError::InvalidStart { .. })));
        assert!(matches!(IpRange::parse("192.0.2.1-y"), Err(RangeError::InvalidEnd { .. })));
    }

    #[test]
    fn parsing_is_gos() {
        for bad in [
            " 192.0.2.0/28",
            "192.0.2.0/28 ",
            "192.0.2.010/31",
            "fe80::%eth0/64",
            "192.0.2.0/+28",
            "192.0.2.0/",
        ] {
            assert!(IpRange::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(IpRange::parse("192.0.2.0/028").unwrap(), IpRange::parse("192.0.2.0/28").unwrap());
        assert!(IpRange::parse("192.0.2.01-192.0.2.20").is_err());
        assert!(IpRange::parse("fe80::1-fe80::9%eth0").is_err());
        assert_eq!(IpRange::parse(" 192.0.2.10\t-\t192.0.2.20 ").unwrap().len(), 11);
        let mapped = IpRange::parse("::ffff:192.0.2.4-::ffff:192.0.2.6").unwrap();
        assert_eq!((mapped.family(), mapped.len()), (IpFamily::V4, 3));
        assert_eq!(IpRange::parse("192.0.2.1-::ffff:192.0.2.9").unwrap().family(), IpFamily::V4);
        assert_eq!(IpRange::parse("::ffff:192.0.2.0/120").unwrap(), IpRange::parse("192.0.2.0/24").unwrap());
        assert_eq!(IpRange::parse("::ffff:0:0/95").unwrap().family(), IpFamily::V6);
    }

    #[test]
    fn whole_ipv6_space_saturates() {
        assert_eq!(IpRange::parse("::/0").unwrap().len(), u128::MAX);
    }

    proptest! {
        #[test]
        fn cidrs_cover_the_range_exactly(a: u32, b: u32) {
            let (s, e) = (a.min(b), a.max(b));
            let r = IpRange::new(IpAddr::V4(s.into()), IpAddr::V4(e.into())).unwrap();
            let nets = r.cidrs();
            let total: u128 = nets.iter().map(|n| IpRange::from(*n).len()).sum();
            prop_assert_eq!(total, r.len());
            prop_assert_eq!(nets.first().unwrap().network(), r.start());
            prop_assert_eq!(nets.last().unwrap().broadcast(), r.end());
        }

        #[test]
        fn display_then_parse_gives_the_same_range(v4 in any::<(u32, u32)>(), v6 in any::<(u128, u128)>()) {
            let v4 = (IpAddr::V4(v4.0.min(v4.1).into()), IpAddr::V4(v4.0.max(v4.1).into()));
            let v6 = (IpAddr::V6(v6.0.min(v6.1).into()), IpAddr::V6(v6.0.max(v6.1).into()));
            for (start, end) in [v4, v6] {
                // Parsing reads an IPv4-mapped IPv6 address as IPv4, as Go does.
                prop_assume!(go_family(start) == start && go_family(end) == end);
                let r = IpRange::new(start, end).unwrap();
                prop_assert_eq!(IpRange::parse(&r.to_string()), Ok(r));
            }
        }
    }
}
