//! NOTIFICATION (RFC 4271 §4.5) and the shutdown communication (RFC 8203, RFC 9003).

use super::wire::Reader;

/// Smallest NOTIFICATION body: code and subcode (RFC 4271 §4.5).
pub(super) const MIN_BODY_LEN: usize = 2;

/// Longest shutdown communication in octets (RFC 9003 §2).
pub const MAX_SHUTDOWN_COMMUNICATION_LEN: usize = 255;

/// Error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH_MESSAGE: u8 = 7;
    /// Send Hold Timer Expired (RFC 9687).
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// Error subcodes, grouped by the code they go with (RFC 4271 §4.5, RFC 4486, RFC 5492,
/// RFC 6608, RFC 8538, RFC 9384).
pub mod subcode {
    /// Any code: no more specific subcode.
    pub const UNSPECIFIC: u8 = 0;

    /// Message Header Error: marker not all ones.
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Message Header Error: bad length.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Message Header Error: bad type.
    pub const BAD_MESSAGE_TYPE: u8 = 3;

    /// OPEN Message Error: unsupported version number.
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    /// OPEN Message Error: bad peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// OPEN Message Error: bad BGP identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// OPEN Message Error: unsupported optional parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// OPEN Message Error: unacceptable hold time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// OPEN Message Error: unsupported capability (RFC 5492).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;

    /// UPDATE Message Error: malformed attribute list.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// UPDATE Message Error: unrecognized well-known attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// UPDATE Message Error: missing well-known attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// UPDATE Message Error: attribute flags error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// UPDATE Message Error: attribute length error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// UPDATE Message Error: invalid ORIGIN attribute.
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    /// UPDATE Message Error: invalid NEXT_HOP attribute.
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    /// UPDATE Message Error: optional attribute error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// UPDATE Message Error: invalid network field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// UPDATE Message Error: malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;

    /// Finite State Machine Error: unexpected message in OpenSent (RFC 6608).
    pub const UNEXPECTED_MESSAGE_IN_OPEN_SENT: u8 = 1;
    /// Finite State Machine Error: unexpected message in OpenConfirm (RFC 6608).
    pub const UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM: u8 = 2;
    /// Finite State Machine Error: unexpected message in Established (RFC 6608).
    pub const UNEXPECTED_MESSAGE_IN_ESTABLISHED: u8 = 3;

    /// Cease: maximum number of prefixes reached (RFC 4486).
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    /// Cease: administrative shutdown (RFC 4486); may carry a shutdown communication.
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Cease: peer de-configured (RFC 4486).
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Cease: administrative reset (RFC 4486); may carry a shutdown communication.
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Cease: connection rejected (RFC 4486).
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Cease: other configuration change (RFC 4486).
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Cease: connection collision resolution (RFC 4486, RFC 4271 §6.8).
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    /// Cease: out of resources (RFC 4486).
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Cease: hard reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
    /// Cease: BFD down (RFC 9384): the BFD session protecting this one went down.
    pub const BFD_DOWN: u8 = 10;

    /// ROUTE-REFRESH Message Error: invalid message length (RFC 7313).
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// A NOTIFICATION: the last message before the sender closes the connection (RFC 4271 §4.5).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code    | Error subcode |   Data (variable)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code, see [`code`].
    pub code: u8,
    /// Error subcode, see [`subcode`].
    pub subcode: u8,
    /// Diagnostic data; its meaning depends on code and subcode.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Notification {
        Notification { code, subcode, data: Vec::new() }
    }

    /// Hold Timer Expired (RFC 4271 §6.5).
    pub fn hold_timer_expired() -> Notification {
        Notification::new(code::HOLD_TIMER_EXPIRED, subcode::UNSPECIFIC)
    }

    /// Send Hold Timer Expired (RFC 9687 §4): the peer took nothing we sent for the send hold time.
    pub fn send_hold_timer_expired() -> Notification {
        Notification::new(code::SEND_HOLD_TIMER_EXPIRED, subcode::UNSPECIFIC)
    }

    /// Cease / BFD Down (RFC 9384): the forwarding path to the peer failed.
    pub fn bfd_down() -> Notification {
        Notification::new(code::CEASE, subcode::BFD_DOWN)
    }

    /// The name of the code and subcode, for logs ("Cease / BFD Down"); `None` for numbers
    /// no RFC this crate knows assigns.
    pub fn name(&self) -> Option<&'static str> {
        use subcode as s;
        Some(match (self.code, self.subcode) {
            (code::MESSAGE_HEADER, s::CONNECTION_NOT_SYNCHRONIZED) => {
                "Message Header Error / Connection Not Synchronized"
            }
            (code::MESSAGE_HEADER, s::BAD_MESSAGE_LENGTH) => "Message Header Error / Bad Message Length",
            (code::MESSAGE_HEADER, s::BAD_MESSAGE_TYPE) => "Message Header Error / Bad Message Type",
            (code::MESSAGE_HEADER, _) => "Message Header Error",
            (code::OPEN_MESSAGE, s::UNSUPPORTED_VERSION_NUMBER) => {
                "OPEN Message Error / Unsupported Version Number"
            }
            (code::OPEN_MESSAGE, s::BAD_PEER_AS) => "OPEN Message Error / Bad Peer AS",
            (code::OPEN_MESSAGE, s::BAD_BGP_IDENTIFIER) => "OPEN Message Error / Bad BGP Identifier",
            (code::OPEN_MESSAGE, s::UNSUPPORTED_OPTIONAL_PARAMETER) => {
                "OPEN Message Error / Unsupported Optional Parameter"
            }
            (code::OPEN_MESSAGE, s::UNACCEPTABLE_HOLD_TIME) => "OPEN Message Error / Unacceptable Hold Time",
            (code::OPEN_MESSAGE, s::UNSUPPORTED_CAPABILITY) => "OPEN Message Error / Unsupported Capability",
            (code::OPEN_MESSAGE, _) => "OPEN Message Error",
            (code::UPDATE_MESSAGE, _) => "UPDATE Message Error",
            (code::HOLD_TIMER_EXPIRED, _) => "Hold Timer Expired",
            (code::FSM, s::UNEXPECTED_MESSAGE_IN_OPEN_SENT) => {
                "Finite State Machine Error / Receive Unexpected Message in OpenSent State"
            }
            (code::FSM, s::UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM) => {
                "Finite State Machine Error / Receive Unexpected Message in OpenConfirm State"
            }
            (code::FSM, s::UNEXPECTED_MESSAGE_IN_ESTABLISHED) => {
                "Finite State Machine Error / Receive Unexpected Message in Established State"
            }
            (code::FSM, _) => "Finite State Machine Error",
            (code::CEASE, s::MAXIMUM_PREFIXES_REACHED) => "Cease / Maximum Number of Prefixes Reached",
            (code::CEASE, s::ADMINISTRATIVE_SHUTDOWN) => "Cease / Administrative Shutdown",
            (code::CEASE, s::PEER_DECONFIGURED) => "Cease / Peer De-configured",
            (code::CEASE, s::ADMINISTRATIVE_RESET) => "Cease / Administrative Reset",
            (code::CEASE, s::CONNECTION_REJECTED) => "Cease / Connection Rejected",
            (code::CEASE, s::OTHER_CONFIGURATION_CHANGE) => "Cease / Other Configuration Change",
            (code::CEASE, s::CONNECTION_COLLISION_RESOLUTION) => "Cease / Connection Collision Resolution",
            (code::CEASE, s::OUT_OF_RESOURCES) => "Cease / Out of Resources",
            (code::CEASE, s::HARD_RESET) => "Cease / Hard Reset",
            (code::CEASE, s::BFD_DOWN) => "Cease / BFD Down",
            (code::CEASE, _) => "Cease",
            (code::ROUTE_REFRESH_MESSAGE, _) => "ROUTE-REFRESH Message Error",
            (code::SEND_HOLD_TIMER_EXPIRED, _) => "Send Hold Timer Expired",
            _ => return None,
        })
    }

    /// Cease / Administrative Shutdown with an operator's message (RFC 9003 §2).
    pub fn administrative_shutdown(message: &str) -> Notification {
        Notification::with_communication(subcode::ADMINISTRATIVE_SHUTDOWN, message)
    }

    /// Cease / Administrative Reset with an operator's message (RFC 9003 §3).
    pub fn administrative_reset(message: &str) -> Notification {
        Notification::with_communication(subcode::ADMINISTRATIVE_RESET, message)
    }

    /// A Cease carrying a shutdown communication, cut at a character boundary to 255 octets.
    fn with_communication(subcode: u8, message: &str) -> Notification {
        let mut end = message.len().min(MAX_SHUTDOWN_COMMUNICATION_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(text.len() as u8);
        data.extend_from_slice(text);
        Notification { code: code::CEASE, subcode, data }
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or Reset (RFC 9003).
    ///
    /// `None` when there is none or it is malformed (length overruns, or not
    /// UTF-8); RFC 9003 §4 says to log such data in hex rather than as text.
    pub fn shutdown_communication(&self) -> Option<&str> {
        let carries = self.code == code::CEASE
            && matches!(self.subcode, subcode::ADMINISTRATIVE_SHUTDOWN | subcode::ADMINISTRATIVE_RESET);
        if !carries {
            return None;
        }
        let mut r = Reader::new(&self.data);
        let len = r.u8()?;
        let text = r.take(usize::from(len))?;
        if len == 0 {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// Decodes the body; the caller checked it holds code and subcode, anything shorter reads as zeros.
    pub(super) fn decode(body: &[u8]) -> Notification {
        match body {
            [code, subcode, data @ ..] => {
                Notification { code: *code, subcode: *subcode, data: data.to_vec() }
            }
            _ => Notification::new(0, 0),
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
    }
}
