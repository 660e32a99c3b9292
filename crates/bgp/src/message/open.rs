//! OPEN (RFC 4271 §4.2) with capabilities in optional parameters (RFC 5492).

use std::net::Ipv4Addr;

use super::capability::Capability;
use super::error::DecodeError;
use super::wire::{self, Reader};
use crate::types::{Asn, HoldTime, RouterId};

/// Smallest OPEN body: version, AS, hold time, identifier, parameters length (RFC 4271 §4.2).
pub(super) const MIN_BODY_LEN: usize = 10;

/// The only BGP version there is (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

/// Optional parameter type carrying capabilities (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;

/// An OPEN message (RFC 4271 §4.2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+
///  |    Version    |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |     My Autonomous System      |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |           Hold Time           |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                         BGP Identifier                        |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  | Opt Parm Len  |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |             Optional Parameters (variable)                    |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Each optional parameter is type (1 octet), length (1 octet), value; the
/// only type in use is 2, capabilities (RFC 5492 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The sender's AS: from the 4-octet AS capability if present, else "My Autonomous System".
    ///
    /// Encoding writes AS_TRANS in the 2-octet field for a larger ASN; such an
    /// ASN survives only with a [`Capability::FourOctetAs`] (RFC 6793 §3).
    pub asn: Asn,
    /// The proposed hold time.
    pub hold_time: HoldTime,
    /// The sender's BGP identifier.
    pub router_id: RouterId,
    /// Capabilities, from all optional parameters, in order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN that announces the 4-octet AS capability for `asn` ahead of `capabilities`.
    pub fn new(asn: Asn, hold_time: HoldTime, router_id: RouterId, capabilities: Vec<Capability>) -> Open {
        let mut all = vec![Capability::FourOctetAs(asn)];
        all.extend(capabilities.into_iter().filter(|c| !matches!(c, Capability::FourOctetAs(_))));
        Open { asn, hold_time, router_id, capabilities: all }
    }

    /// Whether the sender supports 4-octet ASNs (RFC 6793 §3).
    pub fn four_octet_as(&self) -> bool {
        self.capabilities.iter().any(|c| matches!(c, Capability::FourOctetAs(_)))
    }

    /// Decodes the body, checking it in RFC 4271 §6.2 order.
    pub(super) fn decode(body: &[u8]) -> Result<Open, DecodeError> {
        let mut r = Reader::new(body);
        let (Some(version), Some(my_as), Some(hold), Some(id), Some(params_len)) =
            (r.u8(), r.u16(), r.u16(), r.u32(), r.u8())
        else {
            return Err(DecodeError::MalformedOpen);
        };
        if version != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersion { version });
        }
        let hold_time = HoldTime::new(hold).ok_or(DecodeError::UnacceptableHoldTime { seconds: hold })?;
        let id = Ipv4Addr::from(id);
        let router_id = RouterId::new(id).ok_or(DecodeError::BadBgpIdentifier { id })?;
        // The parameters must fill the rest of the message exactly.
        if usize::from(params_len) != r.remaining() {
            return Err(DecodeError::MalformedOpen);
        }
        let mut capabilities = Vec::new();
        while !r.is_empty() {
            let (Some(kind), Some(len)) = (r.u8(), r.u8()) else {
                return Err(DecodeError::MalformedOpen);
            };
            let value = r.take(usize::from(len)).ok_or(DecodeError::MalformedOpen)?;
            if kind != PARAM_CAPABILITIES {
                return Err(DecodeError::UnsupportedOptionalParameter { kind });
            }
            Capability::decode_all(value, &mut capabilities)?;
        }
        let four_octet = capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        });
        let asn = match four_octet {
            Some(asn) => asn,
            None => Asn::new(u32::from(my_as)).ok_or(DecodeError::BadPeerAs { asn: 0 })?,
        };
        Ok(Open { asn, hold_time, router_id, capabilities })
    }

    /// Appends the body, all capabilities in one optional parameter.
    ///
    /// Optional parameters hold at most 255 octets in all (RFC 4271 §4.2;
    /// RFC 9072 lifts that, ferrolb does not need it): callers keep the
    /// capabilities under 253 octets, which a real OPEN uses a fraction of.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(BGP_VERSION);
        out.extend_from_slice(&self.asn.two_octet().to_be_bytes());
        out.extend_from_slice(&self.hold_time.seconds().to_be_bytes());
        out.extend_from_slice(&self.router_id.addr().octets());
        let params_len_at = out.len();
        out.push(0);
        if !self.capabilities.is_empty() {
            let param_at = out.len();
            out.extend_from_slice(&[PARAM_CAPABILITIES, 0]);
            self.capabilities.iter().for_each(|c| c.encode(out));
            wire::patch_len8(out, param_at + 1, param_at + 2);
        }
        wire::patch_len8(out, params_len_at, params_len_at + 1);
    }
}
