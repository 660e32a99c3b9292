//! BGP messages on the wire (RFC 4271 §4): framing, decoding and encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

mod attribute;
mod capability;
mod error;
mod nlri;
mod notification;
mod open;
mod update;
mod wire;

pub use attribute::{
    Aggregator, AsPath, AsSegment, AsSegmentKind, Community, ExtendedCommunity, Ipv6ExtendedCommunity,
    Ipv6NextHop, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin, PathAttributes, UnknownAttribute,
};
pub use capability::{Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily};
pub use error::{DecodeError, Malformed, RevisedAction};
pub use notification::{Notification, code, subcode};
pub use open::Open;
pub use update::Update;

use crate::types::AfiSafi;
use wire::Reader;

/// Length of the fixed header: marker, length, type (RFC 4271 §4.1).
pub const HEADER_LEN: usize = 19;
/// Largest message allowed without RFC 8654 extended messages (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;

const MARKER: [u8; 16] = [0xff; 16];

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
mod kind {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// What the session negotiated that changes how bytes are read (RFC 6793, RFC 4760).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeContext {
    /// Both sides sent the 4-octet AS capability: AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
    /// Families whose MP_REACH/MP_UNREACH_NLRI are read; others are ignored (RFC 4760 §7).
    pub families: Vec<AfiSafi>,
    /// The peer is in another AS (eBGP): LOCAL_PREF is discarded, malformed or not
    /// (RFC 4271 §5.1.5, RFC 7606 §7.5).
    pub external: bool,
}

impl Default for DecodeContext {
    /// Before OPENs are exchanged: 2-octet ASNs, IPv4 and IPv6 unicast, as from an internal peer.
    fn default() -> Self {
        DecodeContext {
            four_octet_as: false,
            families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            external: false,
        }
    }
}

/// What the session negotiated that changes how bytes are written (RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeContext {
    /// Both sides sent the 4-octet AS capability: write 4-octet AS_PATH, no AS4_PATH.
    pub four_octet_as: bool,
}

/// One BGP message (RFC 4271 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "messages live only between the socket and the session; boxing UPDATE would allocate per message for nothing"
)]
pub enum Message {
    /// OPEN (RFC 4271 §4.2).
    Open(Open),
    /// UPDATE (RFC 4271 §4.3).
    Update(Update),
    /// NOTIFICATION (RFC 4271 §4.5).
    Notification(Notification),
    /// KEEPALIVE: a header alone (RFC 4271 §4.4).
    Keepalive,
    /// ROUTE-REFRESH for one family (RFC 2918 §3).
    RouteRefresh(RouteRefresh),
}

/// A ROUTE-REFRESH message (RFC 2918 §3; the reserved octet is RFC 7313's subtype).
///
/// Subtype 0 asks for the routes of a family again, 1 (BoRR) and 2 (EoRR) frame the
/// answer when both sides offered enhanced route refresh (RFC 7313 §4); others are
/// reserved and ignored (RFC 7313 §5).
///
/// ```text
///  0       7      15      23      31
/// +-------+-------+-------+-------+
/// |      AFI      | Res.  | SAFI  |
/// +-------+-------+-------+-------+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    /// The family whose Adj-RIB-Out the peer should send again, or that BoRR/EoRR frame.
    pub family: AfiSafi,
    /// The reserved octet: 0 (RFC 2918), or an RFC 7313 subtype (1 BoRR, 2 EoRR).
    pub subtype: u8,
}

/// RFC 7313 §3.2 message subtypes of ROUTE-REFRESH.
pub mod refresh_subtype {
    /// A request (RFC 2918).
    pub const REQUEST: u8 = 0;
    /// Beginning of Route Refresh.
    pub const BORR: u8 = 1;
    /// End of Route Refresh.
    pub const EORR: u8 = 2;
}

/// The length of the message at the start of a TCP stream, once its header has arrived.
///
/// Returns `None` while fewer than 19 bytes are buffered. When the header is
/// garbage (bad marker, length under 19 or over 4096) it returns 19, so the
/// driver hands the header to [`Message::decode`] at once, which reports the
/// error, instead of waiting for bytes that will never make sense.
pub fn message_len(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..HEADER_LEN)?;
    let length = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let sane = header[..16] == MARKER && (HEADER_LEN..=MAX_MESSAGE_LEN).contains(&length);
    Some(if sane { length } else { HEADER_LEN })
}

impl Message {
    /// Decodes one whole message, header included, as framed by [`message_len`].
    pub fn decode(buf: &[u8], ctx: &DecodeContext) -> Result<Message, DecodeError> {
        let header =
            buf.get(..HEADER_LEN).ok_or(DecodeError::BadMessageLength { length: buf.len() as u16 })?;
        if header[..16] != MARKER {
            return Err(DecodeError::ConnectionNotSynchronized);
        }
        let length = u16::from_be_bytes([header[16], header[17]]);
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&usize::from(length)) || usize::from(length) != buf.len()
        {
            return Err(DecodeError::BadMessageLength { length });
        }
        let body = &buf[HEADER_LEN..];
        // RFC 4271 §6.1: a length too small for the type is a header error too.
        let too_short = |min: usize| {
            if body.len() < min { Err(DecodeError::BadMessageLength { length }) } else { Ok(()) }
        };
        match header[18] {
            kind::OPEN => {
                too_short(open::MIN_BODY_LEN)?;
                Open::decode(body).map(Message::Open)
            }
            kind::UPDATE => {
                too_short(update::MIN_BODY_LEN)?;
                Update::decode(body, ctx).map(Message::Update)
            }
            kind::NOTIFICATION => {
                too_short(notification::MIN_BODY_LEN)?;
                Ok(Message::Notification(Notification::decode(body)))
            }
            kind::KEEPALIVE if body.is_empty() => Ok(Message::Keepalive),
            kind::KEEPALIVE => Err(DecodeError::BadMessageLength { length }),
            kind::ROUTE_REFRESH => RouteRefresh::decode(body, buf).map(Message::RouteRefresh),
            other => Err(DecodeError::BadMessageType { kind: other }),
        }
    }

    /// Appends the encoded message to `out`: header, body, then the length patched in.
    ///
    /// The encoder does not split: whoever builds an UPDATE keeps it under
    /// [`MAX_MESSAGE_LEN`] (the Adj-RIB-Out packs prefixes accordingly).
    pub fn encode(&self, ctx: &EncodeContext, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0, self.kind()]);
        match self {
            Message::Open(open) => open.encode(out),
            Message::Update(update) => update.encode(ctx, out),
            Message::Notification(notification) => notification.encode(out),
            Message::Keepalive => {}
            Message::RouteRefresh(refresh) => refresh.encode(out),
        }
        wire::patch_len16(out, start + 16, start);
    }

    /// The message as a fresh byte vector.
    pub fn to_bytes(&self, ctx: &EncodeContext) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(ctx, &mut out);
        out
    }

    /// The type code in the header (RFC 4271 §4.1).
    pub fn kind(&self) -> u8 {
        match self {
            Message::Open(_) => kind::OPEN,
            Message::Update(_) => kind::UPDATE,
            Message::Notification(_) => kind::NOTIFICATION,
            Message::Keepalive => kind::KEEPALIVE,
            Message::RouteRefresh(_) => kind::ROUTE_REFRESH,
        }
    }
}

impl RouteRefresh {
    /// A plain RFC 2918 request for one family.
    pub fn new(family: AfiSafi) -> RouteRefresh {
        RouteRefresh { family, subtype: refresh_subtype::REQUEST }
    }

    /// The Beginning of Route Refresh marker of `family` (RFC 7313 §4).
    pub fn begin(family: AfiSafi) -> RouteRefresh {
        RouteRefresh { family, subtype: refresh_subtype::BORR }
    }

    /// The End of Route Refresh marker of `family` (RFC 7313 §4).
    pub fn end(family: AfiSafi) -> RouteRefresh {
        RouteRefresh { family, subtype: refresh_subtype::EORR }
    }

    /// Decodes the body; `message` is the whole message, the error's data (RFC 7313 §5).
    fn decode(body: &[u8], message: &[u8]) -> Result<RouteRefresh, DecodeError> {
        let mut r = Reader::new(body);
        match (r.u16(), r.u8(), r.u8(), r.is_empty()) {
            (Some(afi), Some(subtype), Some(safi), true) => {
                Ok(RouteRefresh { family: AfiSafi { afi, safi }, subtype })
            }
            _ => Err(DecodeError::BadRouteRefreshLength { message: message.to_vec() }),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.family.afi.to_be_bytes());
        out.push(self.subtype);
        out.push(self.family.safi);
    }
}
