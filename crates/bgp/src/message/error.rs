//! Decode errors, each naming the NOTIFICATION it calls for (RFC 4271 §6, RFC 7606).

use std::net::Ipv4Addr;

use super::notification::{Notification, code, subcode};

/// Why a message could not be accepted; maps one-to-one to a NOTIFICATION.
///
/// `Message::decode` returns it for errors that reset the session. Errors
/// that RFC 7606 downgrades (treat-as-withdraw, attribute discard) do not fail
/// the decode: they are recorded in [`super::Update::malformed`] as a
/// [`Malformed`] carrying the same value, so a log line can still say which
/// NOTIFICATION RFC 4271 alone would have sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The marker is not all ones (RFC 4271 §6.1).
    #[error("message header marker is not all ones")]
    ConnectionNotSynchronized,
    /// The length field is out of range or wrong for the type (RFC 4271 §6.1).
    #[error("bad message length {length}")]
    BadMessageLength {
        /// The length field as received.
        length: u16,
    },
    /// The type is not one we know (RFC 4271 §6.1).
    #[error("bad message type {kind}")]
    BadMessageType {
        /// The type field as received.
        kind: u8,
    },
    /// The OPEN asks for a BGP version other than 4 (RFC 4271 §6.2).
    #[error("unsupported BGP version {version}, expected 4")]
    UnsupportedVersion {
        /// The version the peer offered.
        version: u8,
    },
    /// The peer's AS is 0 (RFC 7607) or not the one configured (RFC 4271 §6.2).
    #[error("bad peer AS {asn}")]
    BadPeerAs {
        /// The AS the peer announced.
        asn: u32,
    },
    /// The BGP identifier is 0.0.0.0 or otherwise unacceptable (RFC 4271 §6.2, RFC 6286).
    #[error("bad BGP identifier {id}")]
    BadBgpIdentifier {
        /// The identifier as received.
        id: Ipv4Addr,
    },
    /// An optional parameter other than capabilities (RFC 4271 §6.2, RFC 5492).
    #[error("unsupported optional parameter {kind}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        kind: u8,
    },
    /// Hold time 1 or 2 s, or refused by local policy (RFC 4271 §6.2).
    #[error("unacceptable hold time {seconds} s")]
    UnacceptableHoldTime {
        /// The hold time the peer proposed.
        seconds: u16,
    },
    /// The peer lacks a capability we require (RFC 5492 §5); data are the capabilities.
    #[error("unsupported capability")]
    UnsupportedCapability {
        /// The required capabilities, encoded (code, length, value).
        capabilities: Vec<u8>,
    },
    /// Optional parameters or a known capability do not parse (RFC 4271 §6.2, subcode 0).
    #[error("malformed OPEN optional parameters")]
    MalformedOpen,
    /// Withdrawn or attribute lengths do not fit the message, or a repeated MP attribute (RFC 4271 §6.3).
    #[error("malformed attribute list")]
    MalformedAttributeList,
    /// A well-known attribute type we do not know (RFC 4271 §6.3).
    #[error("unrecognized well-known attribute")]
    UnrecognizedWellKnownAttribute {
        /// The attribute: flags, type, length, value.
        attribute: Vec<u8>,
    },
    /// A mandatory well-known attribute is absent (RFC 4271 §6.3).
    #[error("missing well-known attribute {type_code}")]
    MissingWellKnownAttribute {
        /// The missing attribute's type code.
        type_code: u8,
    },
    /// Optional/transitive flags contradict the attribute's type (RFC 4271 §6.3).
    #[error("attribute flags error")]
    AttributeFlagsError {
        /// The attribute: flags, type, length, value.
        attribute: Vec<u8>,
    },
    /// An attribute's length is wrong for its type (RFC 4271 §6.3).
    #[error("attribute length error")]
    AttributeLengthError {
        /// The attribute: flags, type, length, value.
        attribute: Vec<u8>,
    },
    /// ORIGIN is not IGP, EGP or INCOMPLETE (RFC 4271 §6.3).
    #[error("invalid ORIGIN attribute")]
    InvalidOrigin {
        /// The attribute: flags, type, length, value.
        attribute: Vec<u8>,
    },
    /// NEXT_HOP is not a usable unicast address (RFC 4271 §6.3).
    #[error("invalid NEXT_HOP attribute")]
    InvalidNextHop {
        /// The attribute: flags, type, length, value.
        attribute: Vec<u8>,
    },
    /// A recognized optional attribute does not parse (RFC 4271 §6.3, RFC 4760 §7).
    #[error("optional attribute error")]
    OptionalAttributeError {
        /// The attribute: flags, type, length, value.
        attribute: Vec<u8>,
    },
    /// A withdrawn route or NLRI prefix does not parse (RFC 4271 §6.3).
    #[error("invalid network field")]
    InvalidNetworkField,
    /// AS_PATH (or AS4_PATH) does not parse (RFC 4271 §6.3, RFC 7606 §7.2).
    #[error("malformed AS_PATH")]
    MalformedAsPath,
    /// A ROUTE-REFRESH whose length is not 23 (RFC 7313 §5).
    #[error("ROUTE-REFRESH with bad length")]
    BadRouteRefreshLength {
        /// The whole message as received.
        message: Vec<u8>,
    },
}

/// What RFC 7606 has a speaker do with an UPDATE instead of resetting the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevisedAction {
    /// Every route in the UPDATE is withdrawn (RFC 7606 §2).
    TreatAsWithdraw,
    /// The attribute is dropped and the UPDATE otherwise used (RFC 7606 §2).
    AttributeDiscard,
    /// The confederation segments of an AS4_PATH are dropped and the rest of it
    /// used (RFC 6793 §6); the attribute is not malformed, but the case is logged.
    SegmentDiscard,
}

impl std::fmt::Display for RevisedAction {
    /// RFC 7606 §2's names: "treat-as-withdraw", "attribute-discard"; "segment-discard".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevisedAction::TreatAsWithdraw => "treat-as-withdraw",
            RevisedAction::AttributeDiscard => "attribute-discard",
            RevisedAction::SegmentDiscard => "segment-discard",
        })
    }
}

/// A malformed attribute that RFC 7606 handles without a NOTIFICATION.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// What to do about it.
    pub action: RevisedAction,
    /// What RFC 4271 alone would have reported.
    pub error: DecodeError,
}

impl From<&DecodeError> for Notification {
    fn from(error: &DecodeError) -> Notification {
        use DecodeError as E;
        let (code, subcode, data): (u8, u8, Vec<u8>) = match error {
            E::ConnectionNotSynchronized => {
                (code::MESSAGE_HEADER, subcode::CONNECTION_NOT_SYNCHRONIZED, vec![])
            }
            E::BadMessageLength { length } => {
                (code::MESSAGE_HEADER, subcode::BAD_MESSAGE_LENGTH, length.to_be_bytes().to_vec())
            }
            E::BadMessageType { kind } => (code::MESSAGE_HEADER, subcode::BAD_MESSAGE_TYPE, vec![*kind]),
            // RFC 4271 §6.2: data is the largest version we support, as 2 octets.
            E::UnsupportedVersion { .. } => {
                (code::OPEN_MESSAGE, subcode::UNSUPPORTED_VERSION_NUMBER, vec![0, 4])
            }
            E::BadPeerAs { .. } => (code::OPEN_MESSAGE, subcode::BAD_PEER_AS, vec![]),
            E::BadBgpIdentifier { .. } => (code::OPEN_MESSAGE, subcode::BAD_BGP_IDENTIFIER, vec![]),
            E::UnsupportedOptionalParameter { .. } => {
                (code::OPEN_MESSAGE, subcode::UNSUPPORTED_OPTIONAL_PARAMETER, vec![])
            }
            E::UnacceptableHoldTime { .. } => (code::OPEN_MESSAGE, subcode::UNACCEPTABLE_HOLD_TIME, vec![]),
            E::UnsupportedCapability { capabilities } => {
                (code::OPEN_MESSAGE, subcode::UNSUPPORTED_CAPABILITY, capabilities.clone())
            }
            E::MalformedOpen => (code::OPEN_MESSAGE, subcode::UNSPECIFIC, vec![]),
            E::MalformedAttributeList => (code::UPDATE_MESSAGE, subcode::MALFORMED_ATTRIBUTE_LIST, vec![]),
            E::UnrecognizedWellKnownAttribute { attribute } => {
                (code::UPDATE_MESSAGE, subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, attribute.clone())
            }
            E::MissingWellKnownAttribute { type_code } => {
                (code::UPDATE_MESSAGE, subcode::MISSING_WELL_KNOWN_ATTRIBUTE, vec![*type_code])
            }
            E::AttributeFlagsError { attribute } => {
                (code::UPDATE_MESSAGE, subcode::ATTRIBUTE_FLAGS_ERROR, attribute.clone())
            }
            E::AttributeLengthError { attribute } => {
                (code::UPDATE_MESSAGE, subcode::ATTRIBUTE_LENGTH_ERROR, attribute.clone())
            }
            E::InvalidOrigin { attribute } => {
                (code::UPDATE_MESSAGE, subcode::INVALID_ORIGIN_ATTRIBUTE, attribute.clone())
            }
            E::InvalidNextHop { attribute } => {
                (code::UPDATE_MESSAGE, subcode::INVALID_NEXT_HOP_ATTRIBUTE, attribute.clone())
            }
            E::OptionalAttributeError { attribute } => {
                (code::UPDATE_MESSAGE, subcode::OPTIONAL_ATTRIBUTE_ERROR, attribute.clone())
            }
            E::InvalidNetworkField => (code::UPDATE_MESSAGE, subcode::INVALID_NETWORK_FIELD, vec![]),
            E::MalformedAsPath => (code::UPDATE_MESSAGE, subcode::MALFORMED_AS_PATH, vec![]),
            E::BadRouteRefreshLength { message } => {
                (code::ROUTE_REFRESH_MESSAGE, subcode::INVALID_MESSAGE_LENGTH, message.clone())
            }
        };
        Notification { code, subcode, data }
    }
}

impl From<DecodeError> for Notification {
    fn from(error: DecodeError) -> Notification {
        Notification::from(&error)
    }
}
