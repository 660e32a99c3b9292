//! Capabilities advertised in OPEN (RFC 5492) and the ones ferrolb understands.

use super::error::DecodeError;
use super::wire::Reader;
use crate::types::{AfiSafi, Asn};

/// Capability codes (IANA "Capability Codes").
mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// One capability (RFC 5492 §4): code, length, value.
///
/// ```text
/// +------------------------------+
/// | Capability Code (1 octet)    |
/// +------------------------------+
/// | Capability Length (1 octet)  |
/// +------------------------------+
/// | Capability Value (variable)  |
/// +------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Multiprotocol extensions for one AFI/SAFI (RFC 4760 §8).
    Multiprotocol(AfiSafi),
    /// ROUTE-REFRESH support (RFC 2918 §2).
    RouteRefresh,
    /// Enhanced route refresh: a refresh is framed by BoRR and EoRR (RFC 7313 §3).
    EnhancedRouteRefresh,
    /// Next hops of another address family for some NLRI families (RFC 8950 §3).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Graceful restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS support, carrying the speaker's ASN (RFC 6793 §3).
    FourOctetAs(Asn),
    /// A capability ferrolb does not interpret, kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// One tuple of the extended next hop capability (RFC 8950 §3).
///
/// ```text
/// +-----------------------------------------------------+
/// | NLRI AFI - 1 (2 octets)                             |
/// +-----------------------------------------------------+
/// | NLRI SAFI - 1 (2 octets)                            |
/// +-----------------------------------------------------+
/// | Nexthop AFI - 1 (2 octets)                          |
/// +-----------------------------------------------------+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedNextHop {
    /// AFI of the NLRI (1 for IPv4).
    pub nlri_afi: u16,
    /// SAFI of the NLRI (1 for unicast); two octets here, unlike elsewhere.
    pub nlri_safi: u16,
    /// AFI of the next hop (2 for IPv6).
    pub next_hop_afi: u16,
}

/// The graceful restart capability, as a receiving speaker reads it (RFC 4724 §3).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits)                           |
/// +--------------------------------------------------+
/// | Restart Time in seconds (12 bits)                |
/// +--------------------------------------------------+
/// | Address Family Identifier (16 bits)              |
/// +--------------------------------------------------+
/// | Subsequent Address Family Identifier (8 bits)    |
/// +--------------------------------------------------+
/// | Flags for Address Family (8 bits)                |
/// +--------------------------------------------------+
/// | ...                                              |
/// +--------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    /// R bit: the sender has restarted and is not sending End-of-RIB yet.
    pub restart_state: bool,
    /// N bit: the sender supports graceful NOTIFICATION (RFC 8538 §2).
    pub notification: bool,
    /// Seconds the peer should keep our routes after the session drops (12 bits, at most 4095).
    pub restart_time: u16,
    /// Families for which the sender can preserve forwarding.
    pub families: Vec<GracefulRestartFamily>,
}

/// One family of the graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartFamily {
    /// The address family.
    pub family: AfiSafi,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0fff;
const GR_FORWARDING: u8 = 0x80;

impl Capability {
    /// Decodes every capability in an optional parameter's value.
    pub(super) fn decode_all(value: &[u8], into: &mut Vec<Capability>) -> Result<(), DecodeError> {
        let mut r = Reader::new(value);
        while !r.is_empty() {
            let code = r.u8().ok_or(DecodeError::MalformedOpen)?;
            let len = r.u8().ok_or(DecodeError::MalformedOpen)?;
            let value = r.take(usize::from(len)).ok_or(DecodeError::MalformedOpen)?;
            into.push(Capability::decode(code, value)?);
        }
        Ok(())
    }

    fn decode(code: u8, value: &[u8]) -> Result<Capability, DecodeError> {
        let mut r = Reader::new(value);
        let capability = match code {
            code::MULTIPROTOCOL => match value {
                [a, b, _reserved, safi] => {
                    Capability::Multiprotocol(AfiSafi { afi: u16::from_be_bytes([*a, *b]), safi: *safi })
                }
                _ => return Err(DecodeError::MalformedOpen),
            },
            code::ROUTE_REFRESH if value.is_empty() => Capability::RouteRefresh,
            code::ROUTE_REFRESH => return Err(DecodeError::MalformedOpen),
            code::ENHANCED_ROUTE_REFRESH if value.is_empty() => Capability::EnhancedRouteRefresh,
            code::ENHANCED_ROUTE_REFRESH => return Err(DecodeError::MalformedOpen),
            code::EXTENDED_NEXT_HOP => {
                if value.is_empty() || !value.len().is_multiple_of(6) {
                    return Err(DecodeError::MalformedOpen);
                }
                let mut tuples = Vec::with_capacity(value.len() / 6);
                while let (Some(nlri_afi), Some(nlri_safi), Some(next_hop_afi)) = (r.u16(), r.u16(), r.u16())
                {
                    tuples.push(ExtendedNextHop { nlri_afi, nlri_safi, next_hop_afi });
                }
                Capability::ExtendedNextHop(tuples)
            }
            code::GRACEFUL_RESTART => {
                let head = r.u16().ok_or(DecodeError::MalformedOpen)?;
                if !r.remaining().is_multiple_of(4) {
                    return Err(DecodeError::MalformedOpen);
                }
                let mut families = Vec::with_capacity(r.remaining() / 4);
                while let (Some(afi), Some(safi), Some(flags)) = (r.u16(), r.u8(), r.u8()) {
                    families.push(GracefulRestartFamily {
                        family: AfiSafi { afi, safi },
                        forwarding_preserved: flags & GR_FORWARDING != 0,
                    });
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: head & GR_RESTART_STATE != 0,
                    notification: head & GR_NOTIFICATION != 0,
                    restart_time: head & GR_TIME_MASK,
                    families,
                })
            }
            code::FOUR_OCTET_AS => {
                let asn = match value {
                    [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                    _ => return Err(DecodeError::MalformedOpen),
                };
                Capability::FourOctetAs(Asn::new(asn).ok_or(DecodeError::BadPeerAs { asn })?)
            }
            code => Capability::Unknown { code, value: value.to_vec() },
        };
        Ok(capability)
    }

    /// Appends code, length and value.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[self.code(), 0]);
        match self {
            Capability::Multiprotocol(family) => {
                out.extend_from_slice(&family.afi.to_be_bytes());
                out.extend_from_slice(&[0, family.safi]);
            }
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop(tuples) => {
                for t in tuples {
                    for field in [t.nlri_afi, t.nlri_safi, t.next_hop_afi] {
                        out.extend_from_slice(&field.to_be_bytes());
                    }
                }
            }
            Capability::GracefulRestart(gr) => {
                let mut head = gr.restart_time & GR_TIME_MASK;
                if gr.restart_state {
                    head |= GR_RESTART_STATE;
                }
                if gr.notification {
                    head |= GR_NOTIFICATION;
                }
                out.extend_from_slice(&head.to_be_bytes());
                for f in &gr.families {
                    out.extend_from_slice(&f.family.afi.to_be_bytes());
                    out.push(f.family.safi);
                    out.push(if f.forwarding_preserved { GR_FORWARDING } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.get().to_be_bytes()),
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
        super::wire::patch_len8(out, start + 1, start + 2);
    }

    /// The capability code (IANA).
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::Unknown { code, .. } => *code,
        }
    }
}
