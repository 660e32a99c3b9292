//! Path attributes (RFC 4271 §4.3, §5) and their RFC 7606 error handling.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +---------------+---------------+
//! |  Attr. Flags  |Attr. Type Code|   then a 1-octet length, or 2 octets
//! +---------------+---------------+   when the Extended Length bit is set,
//!                                     then the value.
//! Flags: O(ptional) T(ransitive) P(artial) E(xtended length) 0 0 0 0
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::DecodeContext;
use super::EncodeContext;
use super::error::{DecodeError, Malformed, RevisedAction};
use super::nlri;
use super::wire::Reader;
use crate::types::{AfiSafi, Asn};
pub use ferrolb_types::{Community, LargeCommunity};

/// Attribute flag bits (RFC 4271 §4.3).
mod flag {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
    /// The two bits whose values each attribute type fixes.
    pub const CATEGORY: u8 = OPTIONAL | TRANSITIVE;
    pub const WELL_KNOWN: u8 = TRANSITIVE;
    pub const OPTIONAL_TRANSITIVE: u8 = OPTIONAL | TRANSITIVE;
    pub const OPTIONAL_NON_TRANSITIVE: u8 = OPTIONAL;
}

/// Attribute type codes (IANA "BGP Path Attributes").
pub(super) mod type_code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
    pub const LARGE_COMMUNITY: u8 = 32;

    /// Whether ferrolb interprets this type (others are kept or dropped by their flags).
    pub fn is_known(code: u8) -> bool {
        matches!(code, 1..=8 | 14..=18 | 25 | 32)
    }
}

/// ORIGIN: how the route entered BGP (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Learned from an interior protocol (0).
    Igp = 0,
    /// Learned from EGP (1).
    Egp = 1,
    /// Learned some other way (2).
    Incomplete = 2,
}

/// AS_PATH: the ASes a route crossed, as segments (RFC 4271 §4.3, §5.1.2).
///
/// ```text
/// +-----------------+------------------+-----------------------------+
/// | segment type(1) | segment length(1)| ASNs (2 or 4 octets each)   |
/// +-----------------+------------------+-----------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsPath {
    /// Segments in order, nearest AS first.
    pub segments: Vec<AsSegment>,
}

/// One AS_PATH segment (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsSegment {
    /// Set, sequence or their confederation forms.
    pub kind: AsSegmentKind,
    /// The ASNs; a segment never is empty on the wire (RFC 7606 §7.2).
    pub asns: Vec<Asn>,
}

/// The type of an AS_PATH segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsSegmentKind {
    /// AS_SET (1): unordered, from aggregation.
    Set,
    /// AS_SEQUENCE (2): ordered.
    Sequence,
    /// AS_CONFED_SEQUENCE (3, RFC 5065).
    ConfedSequence,
    /// AS_CONFED_SET (4, RFC 5065).
    ConfedSet,
}

/// AGGREGATOR: who aggregated the route (RFC 4271 §5.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aggregator {
    /// The aggregating AS.
    pub asn: Asn,
    /// The aggregating speaker's BGP identifier.
    pub address: Ipv4Addr,
}

/// MP_REACH_NLRI for the families ferrolb speaks (RFC 4760 §3).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Length of Next Hop Network Address (1 octet)            |
/// +---------------------------------------------------------+
/// | Network Address of Next Hop (variable)                  |
/// +---------------------------------------------------------+
/// | Reserved (1 octet)                                      |
/// +---------------------------------------------------------+
/// | Network Layer Reachability Information (variable)       |
/// +---------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpReach {
    /// IPv4 unicast, with an IPv4 or (RFC 8950) IPv6 next hop.
    Ipv4Unicast {
        /// The next hop.
        next_hop: MpNextHop,
        /// Reachable prefixes.
        nlri: Vec<Ipv4Net>,
    },
    /// IPv6 unicast (RFC 2545).
    Ipv6Unicast {
        /// The next hop: global, and link-local when sender and peer share a link.
        next_hop: Ipv6NextHop,
        /// Reachable prefixes.
        nlri: Vec<Ipv6Net>,
    },
}

/// The next hop of an MP_REACH_NLRI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpNextHop {
    /// 4 octets.
    V4(Ipv4Addr),
    /// 16 or 32 octets (RFC 2545 §3, RFC 8950 §3).
    V6(Ipv6NextHop),
}

/// An IPv6 next hop: a global address and maybe a link-local one (RFC 2545 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6NextHop {
    /// The global (or unique local) address.
    pub global: Ipv6Addr,
    /// The link-local address, sent as the second 16 octets.
    pub link_local: Option<Ipv6Addr>,
}

/// MP_UNREACH_NLRI for the families ferrolb speaks (RFC 4760 §4); empty means End-of-RIB (RFC 4724 §2).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Withdrawn Routes (variable)                             |
/// +---------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpUnreach {
    /// Withdrawn IPv4 unicast prefixes.
    Ipv4Unicast(Vec<Ipv4Net>),
    /// Withdrawn IPv6 unicast prefixes.
    Ipv6Unicast(Vec<Ipv6Net>),
}

/// One extended community (RFC 4360 §2): type, subtype and value, 8 octets that
/// ferrolb keeps as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedCommunity(pub [u8; 8]);

/// One IPv6 address specific extended community (RFC 5701 §2): 20 octets kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6ExtendedCommunity(pub [u8; 20]);

/// An optional transitive attribute ferrolb does not interpret, passed on as received.
///
/// It is always encoded with the Partial bit set (RFC 4271 §5): whoever
/// re-sends it did not understand it. Unknown non-transitive attributes are
/// dropped on decode and never reach this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAttribute {
    /// The attribute type code.
    pub type_code: u8,
    /// The value, as received.
    pub value: Vec<u8>,
}

/// The path attributes of an UPDATE, each at most once (RFC 4271 §5, RFC 7606 §3(g)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathAttributes {
    /// ORIGIN (type 1, well-known mandatory).
    pub origin: Option<Origin>,
    /// AS_PATH (type 2, well-known mandatory), merged with AS4_PATH per RFC 6793 §4.2.3.
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (type 3): mandatory with IPv4 NLRI in the UPDATE itself.
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC (type 4, optional non-transitive).
    pub med: Option<u32>,
    /// LOCAL_PREF (type 5, well-known, iBGP only).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE (type 6, well-known discretionary).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (type 7), merged with AS4_AGGREGATOR per RFC 6793 §4.2.3.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (type 8, RFC 1997); empty means absent.
    pub communities: Vec<Community>,
    /// MP_REACH_NLRI (type 14, RFC 4760).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI (type 15, RFC 4760).
    pub mp_unreach: Option<MpUnreach>,
    /// EXTENDED_COMMUNITIES (type 16, RFC 4360); empty means absent.
    pub extended_communities: Vec<ExtendedCommunity>,
    /// IPv6 Address Specific Extended Community (type 25, RFC 5701); empty means absent.
    pub ipv6_extended_communities: Vec<Ipv6ExtendedCommunity>,
    /// LARGE_COMMUNITY (type 32, RFC 8092); empty means absent.
    pub large_communities: Vec<LargeCommunity>,
    /// Unknown optional transitive attributes, in type code order.
    pub unknown: Vec<UnknownAttribute>,
}

/// What one malformed attribute does to the UPDATE (RFC 7606 §7).
enum Fault {
    /// Reset the session with this error.
    Reset(DecodeError),
    /// RFC 7606 downgrade.
    Revised(RevisedAction, DecodeError),
}

/// The RFC 7606 action for a malformed attribute of this type.
fn action_for(type_code: u8, ctx: &DecodeContext) -> Option<RevisedAction> {
    use self::type_code as t;
    match type_code {
        // RFC 7606 §7.5: from an external peer LOCAL_PREF is discarded, malformed or not.
        t::LOCAL_PREF if ctx.external => Some(RevisedAction::AttributeDiscard),
        t::ORIGIN
        | t::AS_PATH
        | t::NEXT_HOP
        | t::MULTI_EXIT_DISC
        | t::LOCAL_PREF
        | t::COMMUNITIES
        | t::EXTENDED_COMMUNITIES
        | t::IPV6_EXTENDED_COMMUNITIES
        | t::LARGE_COMMUNITY => Some(RevisedAction::TreatAsWithdraw),
        t::ATOMIC_AGGREGATE | t::AGGREGATOR | t::AS4_PATH | t::AS4_AGGREGATOR => {
            Some(RevisedAction::AttributeDiscard)
        }
        // MP_REACH/MP_UNREACH: their NLRI cannot be trusted, so nothing can be withdrawn safely.
        _ => None,
    }
}

/// The Optional and Transitive bits RFC 4271 §5 fixes for a known type.
fn expected_category(code: u8) -> u8 {
    use self::type_code as t;
    match code {
        t::ORIGIN | t::AS_PATH | t::NEXT_HOP | t::LOCAL_PREF | t::ATOMIC_AGGREGATE => flag::WELL_KNOWN,
        t::MULTI_EXIT_DISC | t::MP_REACH_NLRI | t::MP_UNREACH_NLRI => flag::OPTIONAL_NON_TRANSITIVE,
        _ => flag::OPTIONAL_TRANSITIVE,
    }
}

/// Attributes read from the wire, before RFC 6793 merging.
#[derive(Default)]
struct Received {
    attributes: PathAttributes,
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
    /// AS4_PATH held confederation segments, dropped (RFC 6793 §6).
    segments_dropped: bool,
}

/// What [`PathAttributes::decode`] found besides the attributes.
pub(super) struct Found {
    /// An MP_REACH_NLRI attribute was there, of a family read or not.
    pub mp_reach: bool,
}

impl PathAttributes {
    /// Decodes the path attributes field; session-reset errors are `Err`, RFC 7606 ones go to `malformed`.
    pub(super) fn decode(
        buf: &[u8],
        ctx: &DecodeContext,
        malformed: &mut Vec<Malformed>,
    ) -> Result<(PathAttributes, Found), DecodeError> {
        let mut received = Received::default();
        let mut seen = [false; 256];
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let start = buf.len() - r.remaining();
            let (flags, code) = (r.u8(), r.u8());
            let len = match flags {
                Some(flags) if flags & flag::EXTENDED_LENGTH != 0 => r.u16(),
                _ => r.u8().map(u16::from),
            };
            let (Some(flags), Some(code), Some(value)) =
                (flags, code, len.and_then(|len| r.take(usize::from(len))))
            else {
                // RFC 7606 §4: an attribute running past the attributes field is the
                // last one, so every other attribute was found and the NLRI field is
                // located by the total length: treat-as-withdraw. Unless it is an
                // MP attribute, whose routes could then not be withdrawn.
                let attribute = buf[start..].to_vec();
                if matches!(code, Some(type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI)) {
                    return Err(DecodeError::AttributeLengthError { attribute });
                }
                let error = DecodeError::AttributeLengthError { attribute };
                malformed.push(Malformed { action: RevisedAction::TreatAsWithdraw, error });
                break;
            };
            let raw = &buf[start..buf.len() - r.remaining()];
            if std::mem::replace(&mut seen[usize::from(code)], true) {
                // RFC 7606 §3(g): repeated MP attributes reset, other repeats are dropped.
                if matches!(code, type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI) {
                    return Err(DecodeError::MalformedAttributeList);
                }
                continue;
            }
            match received.decode_one(flags, code, value, raw, ctx) {
                Ok(()) => {}
                Err(Fault::Reset(error)) => return Err(error),
                Err(Fault::Revised(action, error)) => malformed.push(Malformed { action, error }),
            }
        }
        if received.segments_dropped {
            let error = DecodeError::MalformedAsPath;
            malformed.push(Malformed { action: RevisedAction::SegmentDiscard, error });
        }
        let found = Found { mp_reach: seen[usize::from(type_code::MP_REACH_NLRI)] };
        Ok((received.merge_as4(ctx), found))
    }

    /// Appends the attributes in type code order (RFC 4271 §5 "SHOULD").
    pub(super) fn encode(&self, ctx: &EncodeContext, out: &mut Vec<u8>) {
        use self::type_code as t;
        let mut unknown = self.unknown.iter().peekable();
        let mut put = |out: &mut Vec<u8>, code: u8, flags: u8, value: &[u8]| {
            while let Some(u) = unknown.next_if(|u| u.type_code < code) {
                write_attribute(out, flag::OPTIONAL_TRANSITIVE | flag::PARTIAL, u.type_code, &u.value);
            }
            write_attribute(out, flags, code, value);
        };
        if let Some(origin) = self.origin {
            put(out, t::ORIGIN, flag::WELL_KNOWN, &[origin as u8]);
        }
        if let Some(path) = &self.as_path {
            let mut value = Vec::new();
            path.encode(ctx.four_octet_as, &mut value);
            put(out, t::AS_PATH, flag::WELL_KNOWN, &value);
        }
        if let Some(next_hop) = self.next_hop {
            put(out, t::NEXT_HOP, flag::WELL_KNOWN, &next_hop.octets());
        }
        if let Some(med) = self.med {
            put(out, t::MULTI_EXIT_DISC, flag::OPTIONAL_NON_TRANSITIVE, &med.to_be_bytes());
        }
        if let Some(local_pref) = self.local_pref {
            put(out, t::LOCAL_PREF, flag::WELL_KNOWN, &local_pref.to_be_bytes());
        }
        if self.atomic_aggregate {
            put(out, t::ATOMIC_AGGREGATE, flag::WELL_KNOWN, &[]);
        }
        if let Some(aggregator) = self.aggregator {
            put(out, t::AGGREGATOR, flag::OPTIONAL_TRANSITIVE, &aggregator.encode(ctx.four_octet_as));
        }
        if !self.communities.is_empty() {
            let value: Vec<u8> = self.communities.iter().flat_map(|c| c.to_u32().to_be_bytes()).collect();
            put(out, t::COMMUNITIES, flag::OPTIONAL_TRANSITIVE, &value);
        }
        if let Some(reach) = &self.mp_reach {
            put(out, t::MP_REACH_NLRI, flag::OPTIONAL_NON_TRANSITIVE, &reach.encode());
        }
        if let Some(unreach) = &self.mp_unreach {
            put(out, t::MP_UNREACH_NLRI, flag::OPTIONAL_NON_TRANSITIVE, &unreach.encode());
        }
        if !self.extended_communities.is_empty() {
            let value: Vec<u8> = self.extended_communities.iter().flat_map(|c| c.0).collect();
            put(out, t::EXTENDED_COMMUNITIES, flag::OPTIONAL_TRANSITIVE, &value);
        }
        if !ctx.four_octet_as {
            // RFC 6793 §4.2.2: an old peer sees AS_TRANS; the real path rides along in AS4_PATH.
            if let Some(path) = self.as_path.as_ref().filter(|p| p.has_four_octet_asn()) {
                let mut value = Vec::new();
                path.without_confederations().encode(true, &mut value);
                put(out, t::AS4_PATH, flag::OPTIONAL_TRANSITIVE, &value);
            }
            if let Some(aggregator) = self.aggregator.filter(|a| !a.asn.is_two_octet()) {
                put(out, t::AS4_AGGREGATOR, flag::OPTIONAL_TRANSITIVE, &aggregator.encode(true));
            }
        }
        if !self.ipv6_extended_communities.is_empty() {
            let value: Vec<u8> = self.ipv6_extended_communities.iter().flat_map(|c| c.0).collect();
            put(out, t::IPV6_EXTENDED_COMMUNITIES, flag::OPTIONAL_TRANSITIVE, &value);
        }
        if !self.large_communities.is_empty() {
            let value: Vec<u8> = self
                .large_communities
                .iter()
                .flat_map(|c| [c.global_admin, c.local_data_1, c.local_data_2])
                .flat_map(u32::to_be_bytes)
                .collect();
            put(out, t::LARGE_COMMUNITY, flag::OPTIONAL_TRANSITIVE, &value);
        }
        for u in unknown {
            write_attribute(out, flag::OPTIONAL_TRANSITIVE | flag::PARTIAL, u.type_code, &u.value);
        }
    }
}

/// The value cut into `N`-octet items; `None` unless its length is a non-zero multiple of `N`.
fn fixed_size<const N: usize>(value: &[u8]) -> Option<Vec<[u8; N]>> {
    if value.is_empty() || !value.len().is_multiple_of(N) {
        return None;
    }
    Some(value.chunks_exact(N).filter_map(|c| c.try_into().ok()).collect())
}

/// Appends one attribute, with the Extended Length bit when the value needs it.
fn write_attribute(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    match u8::try_from(value.len()) {
        Ok(len) => out.extend_from_slice(&[flags & !flag::EXTENDED_LENGTH, code, len]),
        Err(_) => {
            let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&[flags | flag::EXTENDED_LENGTH, code]);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}

impl Received {
    fn decode_one(
        &mut self,
        flags: u8,
        code: u8,
        value: &[u8],
        raw: &[u8],
        ctx: &DecodeContext,
    ) -> Result<(), Fault> {
        use self::type_code as t;
        if !type_code::is_known(code) {
            if flags & flag::OPTIONAL == 0 {
                return Err(Fault::Reset(DecodeError::UnrecognizedWellKnownAttribute {
                    attribute: raw.to_vec(),
                }));
            }
            if flags & flag::TRANSITIVE != 0 {
                self.attributes.unknown.push(UnknownAttribute { type_code: code, value: value.to_vec() });
            }
            return Ok(());
        }
        let fault = |error: DecodeError| match action_for(code, ctx) {
            Some(action) => Fault::Revised(action, error),
            None => Fault::Reset(error),
        };
        let attribute = || raw.to_vec();
        let length_error = || fault(DecodeError::AttributeLengthError { attribute: attribute() });
        // RFC 7606 §3(c): only the Optional and Transitive bits are checked.
        if flags & flag::CATEGORY != expected_category(code) {
            return Err(fault(DecodeError::AttributeFlagsError { attribute: attribute() }));
        }
        let a = &mut self.attributes;
        match code {
            t::ORIGIN => {
                let [origin] = value else { return Err(length_error()) };
                a.origin = Some(match origin {
                    0 => Origin::Igp,
                    1 => Origin::Egp,
                    2 => Origin::Incomplete,
                    _ => return Err(fault(DecodeError::InvalidOrigin { attribute: attribute() })),
                });
            }
            t::AS_PATH => {
                let path = AsPath::decode(value, ctx.four_octet_as)
                    .ok_or_else(|| fault(DecodeError::MalformedAsPath))?;
                // RFC 5065 §5.3: confederation segments from a peer outside our
                // confederation make the AS_PATH malformed, and RFC 7606 §7.2 has a
                // malformed AS_PATH treated as withdraw. ferrolb belongs to no
                // confederation, so every external peer is outside it.
                if ctx.external && path.has_confederation() {
                    return Err(fault(DecodeError::MalformedAsPath));
                }
                a.as_path = Some(path);
            }
            t::NEXT_HOP => {
                let octets: [u8; 4] = value.try_into().map_err(|_| length_error())?;
                let next_hop = Ipv4Addr::from(octets);
                // RFC 7606 §7.3: a next hop that cannot be a unicast host is treated as withdraw.
                if next_hop.is_unspecified() || next_hop.is_broadcast() || next_hop.is_multicast() {
                    return Err(fault(DecodeError::InvalidNextHop { attribute: attribute() }));
                }
                a.next_hop = Some(next_hop);
            }
            t::MULTI_EXIT_DISC => {
                a.med = Some(u32::from_be_bytes(value.try_into().map_err(|_| length_error())?))
            }
            t::LOCAL_PREF => {
                let local_pref = u32::from_be_bytes(value.try_into().map_err(|_| length_error())?);
                // RFC 4271 §5.1.5: from an external peer it MUST be ignored.
                if !ctx.external {
                    a.local_pref = Some(local_pref);
                }
            }
            t::ATOMIC_AGGREGATE if value.is_empty() => a.atomic_aggregate = true,
            t::ATOMIC_AGGREGATE => return Err(length_error()),
            t::AGGREGATOR => {
                let width = if ctx.four_octet_as { 4 } else { 2 };
                a.aggregator = Some(Aggregator::decode(value, width).map_err(|e| fault(e(attribute())))?);
            }
            t::COMMUNITIES => {
                // RFC 7606 §7.8: a non-zero multiple of 4.
                if value.is_empty() || !value.len().is_multiple_of(4) {
                    return Err(length_error());
                }
                a.communities = value
                    .chunks_exact(4)
                    .map(|c| Community::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect();
            }
            t::EXTENDED_COMMUNITIES => {
                // RFC 7606 §7.14: a non-zero multiple of 8.
                a.extended_communities =
                    fixed_size(value).ok_or_else(length_error)?.into_iter().map(ExtendedCommunity).collect();
            }
            t::IPV6_EXTENDED_COMMUNITIES => {
                // RFC 7606 §7.15: a non-zero multiple of 20.
                a.ipv6_extended_communities = fixed_size(value)
                    .ok_or_else(length_error)?
                    .into_iter()
                    .map(Ipv6ExtendedCommunity)
                    .collect();
            }
            t::LARGE_COMMUNITY => {
                // RFC 8092 §5: a non-zero multiple of 12.
                if value.is_empty() || !value.len().is_multiple_of(12) {
                    return Err(length_error());
                }
                a.large_communities = value
                    .chunks_exact(12)
                    .map(|c| LargeCommunity {
                        global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                        local_data_1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                        local_data_2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                    })
                    .collect();
            }
            t::MP_REACH_NLRI => {
                let error = || Fault::Reset(DecodeError::OptionalAttributeError { attribute: attribute() });
                a.mp_reach = MpReach::decode(value, &ctx.families).ok_or_else(error)?;
            }
            t::MP_UNREACH_NLRI => {
                let error = || Fault::Reset(DecodeError::OptionalAttributeError { attribute: attribute() });
                a.mp_unreach = MpUnreach::decode(value, &ctx.families).ok_or_else(error)?;
            }
            // RFC 6793 §4.1: between two 4-octet speakers AS4_PATH and AS4_AGGREGATOR are ignored.
            t::AS4_PATH | t::AS4_AGGREGATOR if ctx.four_octet_as => {}
            t::AS4_PATH => {
                // RFC 6793 §6: malformed also when it cannot carry one AS (under 6 octets).
                let path = AsPath::decode(value, true)
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| fault(DecodeError::MalformedAsPath))?;
                // RFC 6793 §6: confederation segments in AS4_PATH are dropped, not the
                // attribute, and the rest is used; the drop is logged.
                if path.has_confederation() {
                    self.segments_dropped = true;
                }
                self.as4_path = Some(path.without_confederations());
            }
            t::AS4_AGGREGATOR => {
                self.as4_aggregator = Some(Aggregator::decode(value, 4).map_err(|e| fault(e(attribute())))?);
            }
            // Every known type has an arm above.
            _ => {}
        }
        Ok(())
    }

    /// Rebuilds the 4-octet path and aggregator from an old speaker's UPDATE (RFC 6793 §4.2.3).
    fn merge_as4(self, ctx: &DecodeContext) -> PathAttributes {
        let mut attributes = self.attributes;
        if ctx.four_octet_as {
            return attributes;
        }
        // An old speaker aggregated after the AS4 attributes were added: they are stale.
        if attributes.aggregator.is_some_and(|a| a.asn != Asn::TRANS) {
            return attributes;
        }
        if let (Some(aggregator), Some(as4)) = (&mut attributes.aggregator, self.as4_aggregator) {
            *aggregator = as4;
        }
        if let (Some(path), Some(as4)) = (&mut attributes.as_path, self.as4_path) {
            *path = path.merge_as4(as4);
        }
        attributes
    }
}

impl AsSegmentKind {
    fn from_u8(kind: u8) -> Option<AsSegmentKind> {
        Some(match kind {
            1 => AsSegmentKind::Set,
            2 => AsSegmentKind::Sequence,
            3 => AsSegmentKind::ConfedSequence,
            4 => AsSegmentKind::ConfedSet,
            _ => return None,
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            AsSegmentKind::Set => 1,
            AsSegmentKind::Sequence => 2,
            AsSegmentKind::ConfedSequence => 3,
            AsSegmentKind::ConfedSet => 4,
        }
    }

    /// Whether this is an RFC 5065 confederation segment.
    pub fn is_confederation(self) -> bool {
        matches!(self, AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet)
    }
}

impl AsPath {
    /// A path of one AS_SEQUENCE, or the empty path for no ASNs.
    pub fn sequence(asns: impl IntoIterator<Item = Asn>) -> AsPath {
        let asns: Vec<Asn> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath { segments: vec![AsSegment { kind: AsSegmentKind::Sequence, asns }] }
    }

    /// The path length for best-path selection: a set counts one, confederations none (RFC 4271 §9.1.2.2).
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                AsSegmentKind::Sequence => s.asns.len(),
                AsSegmentKind::Set => 1,
                AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// Whether the path has no segments.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn has_four_octet_asn(&self) -> bool {
        self.segments.iter().flat_map(|s| &s.asns).any(|a| !a.is_two_octet())
    }

    /// Whether a segment is an RFC 5065 confederation segment.
    pub fn has_confederation(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confederation())
    }

    fn without_confederations(&self) -> AsPath {
        AsPath { segments: self.segments.iter().filter(|s| !s.kind.is_confederation()).cloned().collect() }
    }

    /// Reads segments of 2- or 4-octet ASNs; `None` if malformed (RFC 7606 §7.2, RFC 7607).
    fn decode(value: &[u8], four_octet: bool) -> Option<AsPath> {
        let mut r = Reader::new(value);
        let mut segments = Vec::new();
        while !r.is_empty() {
            let kind = AsSegmentKind::from_u8(r.u8()?)?;
            let count = r.u8()?;
            if count == 0 {
                return None;
            }
            let asns = (0..count)
                .map(|_| Asn::new(if four_octet { r.u32()? } else { u32::from(r.u16()?) }))
                .collect::<Option<Vec<Asn>>>()?;
            segments.push(AsSegment { kind, asns });
        }
        Some(AsPath { segments })
    }

    /// Appends the segments; one longer than 255 ASNs is split, empty ones are skipped.
    fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for segment in &self.segments {
            for chunk in segment.asns.chunks(usize::from(u8::MAX)) {
                out.extend_from_slice(&[segment.kind.to_u8(), chunk.len() as u8]);
                for asn in chunk {
                    if four_octet {
                        out.extend_from_slice(&asn.get().to_be_bytes());
                    } else {
                        out.extend_from_slice(&asn.two_octet().to_be_bytes());
                    }
                }
            }
        }
    }

    /// RFC 6793 §4.2.3: keep the leading ASNs AS4_PATH lacks, then AS4_PATH.
    fn merge_as4(&self, as4: AsPath) -> AsPath {
        let (old_len, new_len) = (self.len(), as4.len());
        if old_len < new_len {
            // An old speaker mangled the path; RFC 6793 says to trust AS_PATH.
            return self.clone();
        }
        let mut missing = old_len - new_len;
        let mut segments = Vec::new();
        for segment in &self.segments {
            match segment.kind {
                AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => segments.push(segment.clone()),
                _ if missing == 0 => break,
                AsSegmentKind::Set => {
                    segments.push(segment.clone());
                    missing -= 1;
                }
                AsSegmentKind::Sequence => {
                    let take = missing.min(segment.asns.len());
                    segments.push(AsSegment { kind: segment.kind, asns: segment.asns[..take].to_vec() });
                    missing -= take;
                }
            }
        }
        let mut as4 = as4.segments.into_iter().peekable();
        // Join the kept ASNs and AS4_PATH into one sequence where they meet, as the sender had them.
        if let Some(last) = segments.last_mut().filter(|s| s.kind == AsSegmentKind::Sequence)
            && let Some(first) = as4.next_if(|s| s.kind == AsSegmentKind::Sequence)
        {
            last.asns.extend(first.asns);
        }
        segments.extend(as4);
        AsPath { segments }
    }
}

impl Aggregator {
    /// Reads AS (2 or 4 octets) and address; on error, how to name it given the raw attribute.
    fn decode(value: &[u8], width: usize) -> Result<Aggregator, fn(Vec<u8>) -> DecodeError> {
        let mut r = Reader::new(value);
        if value.len() != width + 4 {
            return Err(|attribute| DecodeError::AttributeLengthError { attribute });
        }
        let asn = if width == 4 { r.u32() } else { r.u16().map(u32::from) };
        let address = r.array::<4>().map(Ipv4Addr::from);
        match (asn.and_then(Asn::new), address) {
            (Some(asn), Some(address)) => Ok(Aggregator { asn, address }),
            // RFC 7607 §2: AS 0 in AGGREGATOR is an error; RFC 7606 §7.7 discards the attribute.
            _ => Err(|attribute| DecodeError::OptionalAttributeError { attribute }),
        }
    }

    fn encode(&self, four_octet: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(8);
        if four_octet {
            out.extend_from_slice(&self.asn.get().to_be_bytes());
        } else {
            out.extend_from_slice(&self.asn.two_octet().to_be_bytes());
        }
        out.extend_from_slice(&self.address.octets());
        out
    }
}

impl Ipv6NextHop {
    fn decode(bytes: &[u8]) -> Option<Ipv6NextHop> {
        let mut r = Reader::new(bytes);
        let global = Ipv6Addr::from(r.array::<16>()?);
        let link_local = match r.remaining() {
            0 => None,
            16 => Some(Ipv6Addr::from(r.array::<16>()?)),
            _ => return None,
        };
        Some(Ipv6NextHop { global, link_local })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.global.octets());
        if let Some(link_local) = self.link_local {
            out.extend_from_slice(&link_local.octets());
        }
    }

    fn encoded_len(&self) -> u8 {
        if self.link_local.is_some() { 32 } else { 16 }
    }
}

impl MpReach {
    /// Whether it carries no route.
    pub fn is_empty(&self) -> bool {
        match self {
            MpReach::Ipv4Unicast { nlri, .. } => nlri.is_empty(),
            MpReach::Ipv6Unicast { nlri, .. } => nlri.is_empty(),
        }
    }

    /// The family of the routes.
    pub fn family(&self) -> AfiSafi {
        match self {
            MpReach::Ipv4Unicast { .. } => AfiSafi::IPV4_UNICAST,
            MpReach::Ipv6Unicast { .. } => AfiSafi::IPV6_UNICAST,
        }
    }

    /// `Some(None)` for a family we do not read (RFC 4760 §7 lets us ignore it); `None` if malformed.
    fn decode(value: &[u8], families: &[AfiSafi]) -> Option<Option<MpReach>> {
        let mut r = Reader::new(value);
        let family = AfiSafi { afi: r.u16()?, safi: r.u8()? };
        let next_hop_len = r.u8()?;
        let next_hop = r.take(usize::from(next_hop_len))?;
        let _reserved = r.u8()?;
        let nlri = r.rest();
        if !families.contains(&family) {
            return Some(None);
        }
        let reach = match family {
            AfiSafi::IPV4_UNICAST => {
                let next_hop = match next_hop {
                    [a, b, c, d] => MpNextHop::V4(Ipv4Addr::new(*a, *b, *c, *d)),
                    _ => MpNextHop::V6(Ipv6NextHop::decode(next_hop)?),
                };
                MpReach::Ipv4Unicast { next_hop, nlri: nlri::decode_v4(nlri)? }
            }
            AfiSafi::IPV6_UNICAST => MpReach::Ipv6Unicast {
                next_hop: Ipv6NextHop::decode(next_hop)?,
                nlri: nlri::decode_v6(nlri)?,
            },
            _ => return Some(None),
        };
        Some(Some(reach))
    }

    fn encode(&self) -> Vec<u8> {
        let family = self.family();
        let mut out = Vec::new();
        out.extend_from_slice(&family.afi.to_be_bytes());
        out.push(family.safi);
        match self {
            MpReach::Ipv4Unicast { next_hop: MpNextHop::V4(addr), nlri } => {
                out.push(4);
                out.extend_from_slice(&addr.octets());
                out.push(0);
                nlri.iter().for_each(|n| nlri::encode_v4(n, &mut out));
            }
            MpReach::Ipv4Unicast { next_hop: MpNextHop::V6(next_hop), nlri } => {
                out.push(next_hop.encoded_len());
                next_hop.encode(&mut out);
                out.push(0);
                nlri.iter().for_each(|n| nlri::encode_v4(n, &mut out));
            }
            MpReach::Ipv6Unicast { next_hop, nlri } => {
                out.push(next_hop.encoded_len());
                next_hop.encode(&mut out);
                out.push(0);
                nlri.iter().for_each(|n| nlri::encode_v6(n, &mut out));
            }
        }
        out
    }
}

impl MpUnreach {
    /// The family of the withdrawn routes.
    pub fn family(&self) -> AfiSafi {
        match self {
            MpUnreach::Ipv4Unicast(_) => AfiSafi::IPV4_UNICAST,
            MpUnreach::Ipv6Unicast(_) => AfiSafi::IPV6_UNICAST,
        }
    }

    /// `Some(None)` for a family we do not read; `None` if malformed.
    fn decode(value: &[u8], families: &[AfiSafi]) -> Option<Option<MpUnreach>> {
        let mut r = Reader::new(value);
        let family = AfiSafi { afi: r.u16()?, safi: r.u8()? };
        let withdrawn = r.rest();
        if !families.contains(&family) {
            return Some(None);
        }
        Some(match family {
            AfiSafi::IPV4_UNICAST => Some(MpUnreach::Ipv4Unicast(nlri::decode_v4(withdrawn)?)),
            AfiSafi::IPV6_UNICAST => Some(MpUnreach::Ipv6Unicast(nlri::decode_v6(withdrawn)?)),
            _ => None,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let family = self.family();
        let mut out = Vec::new();
        out.extend_from_slice(&family.afi.to_be_bytes());
        out.push(family.safi);
        match self {
            MpUnreach::Ipv4Unicast(prefixes) => prefixes.iter().for_each(|n| nlri::encode_v4(n, &mut out)),
            MpUnreach::Ipv6Unicast(prefixes) => prefixes.iter().for_each(|n| nlri::encode_v6(n, &mut out)),
        }
        out
    }
}
