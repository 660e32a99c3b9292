//! UPDATE (RFC 4271 §4.3) with RFC 7606 revised error handling.

use ipnet::Ipv4Net;

use super::attribute::{MpReach, PathAttributes, type_code};
use super::error::{DecodeError, Malformed, RevisedAction};
use super::wire::{self, Reader};
use super::{DecodeContext, EncodeContext, nlri};
use crate::types::AfiSafi;

/// Smallest UPDATE body: the two length fields (RFC 4271 §4.3).
pub(super) const MIN_BODY_LEN: usize = 4;

/// An UPDATE message (RFC 4271 §4.3).
///
/// ```text
/// +-----------------------------------------------------+
/// |   Withdrawn Routes Length (2 octets)                |
/// +-----------------------------------------------------+
/// |   Withdrawn Routes (variable)                       |
/// +-----------------------------------------------------+
/// |   Total Path Attribute Length (2 octets)            |
/// +-----------------------------------------------------+
/// |   Path Attributes (variable)                        |
/// +-----------------------------------------------------+
/// |   Network Layer Reachability Information (variable) |
/// +-----------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// IPv4 unicast prefixes no longer reachable.
    pub withdrawn: Vec<Ipv4Net>,
    /// Path attributes, shared by every route in `nlri` and `attributes.mp_reach`.
    pub attributes: PathAttributes,
    /// IPv4 unicast prefixes reachable with these attributes.
    pub nlri: Vec<Ipv4Net>,
    /// Attributes found malformed and handled per RFC 7606; never encoded.
    ///
    /// If any says [`RevisedAction::TreatAsWithdraw`], every route announced
    /// here must be handled as withdrawn (see [`Update::treat_as_withdraw`]).
    pub malformed: Vec<Malformed>,
}

impl Update {
    /// Whether RFC 7606 says to withdraw every route announced here instead of installing it.
    pub fn treat_as_withdraw(&self) -> bool {
        self.malformed.iter().any(|m| m.action == RevisedAction::TreatAsWithdraw)
    }

    /// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, an empty MP_UNREACH_NLRI for the others ferrolb speaks.
    pub fn end_of_rib(family: AfiSafi) -> Update {
        let mp_unreach = match family {
            AfiSafi::IPV4_UNICAST => None,
            _ => Some(super::MpUnreach::Ipv6Unicast(Vec::new())),
        };
        Update { attributes: PathAttributes { mp_unreach, ..Default::default() }, ..Update::default() }
    }

    /// Whether this is an End-of-RIB marker: for IPv4, an empty UPDATE; else an empty MP_UNREACH (RFC 4724 §2).
    pub fn is_end_of_rib(&self) -> bool {
        let only_unreach =
            PathAttributes { mp_unreach: self.attributes.mp_unreach.clone(), ..Default::default() };
        self.withdrawn.is_empty()
            && self.nlri.is_empty()
            && self.attributes == only_unreach
            && match &self.attributes.mp_unreach {
                None => true,
                Some(super::MpUnreach::Ipv4Unicast(p)) => p.is_empty(),
                Some(super::MpUnreach::Ipv6Unicast(p)) => p.is_empty(),
            }
    }

    /// Decodes the body.
    pub(super) fn decode(body: &[u8], ctx: &DecodeContext) -> Result<Update, DecodeError> {
        let mut r = Reader::new(body);
        // RFC 4271 §6.3: lengths that overrun the message are a malformed attribute list.
        let withdrawn =
            r.u16().and_then(|len| r.take(usize::from(len))).ok_or(DecodeError::MalformedAttributeList)?;
        let attributes =
            r.u16().and_then(|len| r.take(usize::from(len))).ok_or(DecodeError::MalformedAttributeList)?;
        let nlri = r.rest();
        // RFC 7606 §5.3: prefixes that do not parse cannot be withdrawn, so the session resets.
        let withdrawn = nlri::decode_v4(withdrawn).ok_or(DecodeError::InvalidNetworkField)?;
        let nlri = nlri::decode_v4(nlri).ok_or(DecodeError::InvalidNetworkField)?;
        let mut malformed = Vec::new();
        let (attributes, found) = PathAttributes::decode(attributes, ctx, &mut malformed)?;
        let reachable = !nlri.is_empty()
            || found.mp_reach && !attributes.mp_reach.as_ref().is_some_and(MpReach::is_empty);
        // RFC 7606 §5.2: attributes with no reachable NLRI cannot show that the NLRI were
        // parsed right, so an attribute error calling for more than attribute discard
        // resets the session (with the error's own NOTIFICATION).
        if !reachable && let Some(m) = malformed.iter().find(|m| m.action == RevisedAction::TreatAsWithdraw) {
            return Err(m.error.clone());
        }
        let mut update = Update { withdrawn, attributes, nlri, malformed };
        update.check_mandatory();
        Ok(update)
    }

    /// RFC 4271 §5 mandatory attributes, missing ones treated as withdraw (RFC 7606 §3(d)).
    fn check_mandatory(&mut self) {
        let a = &self.attributes;
        let mp_routes = match &a.mp_reach {
            Some(MpReach::Ipv4Unicast { nlri, .. }) => !nlri.is_empty(),
            Some(MpReach::Ipv6Unicast { nlri, .. }) => !nlri.is_empty(),
            None => false,
        };
        let ipv4_routes = !self.nlri.is_empty();
        if !ipv4_routes && !mp_routes {
            return;
        }
        let missing = [
            (type_code::ORIGIN, a.origin.is_none()),
            (type_code::AS_PATH, a.as_path.is_none()),
            // RFC 4760 §3: NEXT_HOP only goes with NLRI in the UPDATE itself.
            (type_code::NEXT_HOP, ipv4_routes && a.next_hop.is_none()),
        ];
        // Once the routes are withdrawn anyway, a missing attribute adds nothing.
        let withdrawn = self.treat_as_withdraw();
        for (type_code, absent) in missing {
            if absent && !withdrawn {
                self.malformed.push(Malformed {
                    action: RevisedAction::TreatAsWithdraw,
                    error: DecodeError::MissingWellKnownAttribute { type_code },
                });
            }
        }
    }

    /// Appends the body.
    pub(super) fn encode(&self, ctx: &EncodeContext, out: &mut Vec<u8>) {
        let withdrawn_at = out.len();
        out.extend_from_slice(&[0, 0]);
        self.withdrawn.iter().for_each(|n| nlri::encode_v4(n, out));
        wire::patch_len16(out, withdrawn_at, withdrawn_at + 2);
        let attributes_at = out.len();
        out.extend_from_slice(&[0, 0]);
        self.attributes.encode(ctx, out);
        wire::patch_len16(out, attributes_at, attributes_at + 2);
        self.nlri.iter().for_each(|n| nlri::encode_v4(n, out));
    }
}
