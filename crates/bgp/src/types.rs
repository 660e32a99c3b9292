//! Validated protocol values: an invalid one cannot be constructed.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// An autonomous system number, 2- or 4-octet (RFC 6793); never 0 (RFC 7607).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(u32);

impl Asn {
    /// AS_TRANS, the 2-octet stand-in for a 4-octet ASN (RFC 6793 §9).
    pub const TRANS: Asn = Asn(23456);

    /// An ASN, or `None` for the reserved AS 0 (RFC 7607).
    pub const fn new(asn: u32) -> Option<Asn> {
        if asn == 0 { None } else { Some(Asn(asn)) }
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether it fits the 2-octet fields of RFC 4271.
    pub const fn is_two_octet(self) -> bool {
        self.0 <= 0xffff
    }

    /// The value for a 2-octet field: itself, or AS_TRANS (RFC 6793 §4.2.2).
    pub const fn two_octet(self) -> u16 {
        if self.0 <= 0xffff { self.0 as u16 } else { Asn::TRANS.0 as u16 }
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AS{}", self.0)
    }
}

/// A BGP hold time: 0 (no keepalives, no hold timer) or at least 3 s (RFC 4271 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldTime(u16);

impl HoldTime {
    /// Hold time 0: keepalives and the hold timer are off.
    pub const DISABLED: HoldTime = HoldTime(0);
    /// The RFC 4271 §10 suggested default, 90 s.
    pub const DEFAULT: HoldTime = HoldTime(90);

    /// A hold time, or `None` for 1 and 2 s, which RFC 4271 §4.2 forbids.
    pub const fn new(seconds: u16) -> Option<HoldTime> {
        if seconds == 1 || seconds == 2 { None } else { Some(HoldTime(seconds)) }
    }

    /// The value in seconds.
    pub const fn seconds(self) -> u16 {
        self.0
    }

    /// Whether the hold timer is off (hold time 0).
    pub const fn is_disabled(self) -> bool {
        self.0 == 0
    }

    /// The hold time as a duration.
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }

    /// The negotiated hold time: the smaller of ours and the peer's (RFC 4271 §4.2).
    pub fn negotiate(self, peer: HoldTime) -> HoldTime {
        self.min(peer)
    }

    /// The keepalive interval, a third of the hold time (RFC 4271 §10); `None` if disabled.
    pub const fn keepalive_interval(self) -> Option<Duration> {
        if self.0 == 0 { None } else { Some(Duration::from_secs(self.0 as u64 / 3)) }
    }
}

/// A BGP identifier: a non-zero IPv4 address (RFC 4271 §4.2, RFC 6286).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterId(Ipv4Addr);

impl RouterId {
    /// A router ID, or `None` for 0.0.0.0.
    pub fn new(id: Ipv4Addr) -> Option<RouterId> {
        if id.is_unspecified() { None } else { Some(RouterId(id)) }
    }

    /// The identifier as an address.
    pub const fn addr(self) -> Ipv4Addr {
        self.0
    }

    /// The identifier as the 32-bit number compared in collision detection (RFC 4271 §6.8).
    pub fn to_u32(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An address family and subsequent address family (AFI/SAFI, RFC 4760 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Family {
    /// Address Family Identifier (IANA: 1 IPv4, 2 IPv6).
    pub afi: u16,
    /// Subsequent Address Family Identifier (IANA: 1 unicast).
    pub safi: u8,
}

impl Family {
    /// IPv4 unicast (AFI 1, SAFI 1).
    pub const IPV4_UNICAST: Family = Family { afi: 1, safi: 1 };
    /// IPv6 unicast (AFI 2, SAFI 1).
    pub const IPV6_UNICAST: Family = Family { afi: 2, safi: 1 };
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Family::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            Family::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            Family { afi, safi } => write!(f, "afi {afi}/safi {safi}"),
        }
    }
}
