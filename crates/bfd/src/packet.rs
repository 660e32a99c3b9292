//! The BFD Control packet (RFC 5880 §4.1) and the reception checks that need only the packet
//! (§6.8.6).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! An optional Authentication Section (A bit set):
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |
//! ```
//!
//! Intervals are in microseconds, as on the wire. ferrolb never authenticates (MetalLB's
//! `BFDProfile` has no authentication fields): an authentication section is parsed only as
//! far as its type and length, its bytes kept, so that the session can drop the packet
//! (§6.8.6) and a capture can be read back byte for byte.

use std::fmt;
use std::num::{NonZeroU8, NonZeroU32};

/// The protocol version this codec reads and writes (§4.1).
pub const VERSION: u8 = 1;

/// Bytes of the mandatory section: the whole packet when there is no authentication.
pub const MANDATORY_LEN: usize = 24;

/// Bytes of the authentication section's own header (Auth Type and Auth Len, §4.2).
const AUTH_HEADER_LEN: usize = 2;

// Field offsets of the mandatory section, in one place.
const VERS_DIAG: usize = 0;
const STATE_FLAGS: usize = 1;
const DETECT_MULT: usize = 2;
const LENGTH: usize = 3;
const MY_DISCR: usize = 4;
const YOUR_DISCR: usize = 8;
const DESIRED_MIN_TX: usize = 12;
const REQUIRED_MIN_RX: usize = 16;
const REQUIRED_MIN_ECHO_RX: usize = 20;

// Bits of the second byte, after the two state bits.
const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

/// Session state as carried in the Sta field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0: the session is held down by its operator.
    AdminDown,
    /// 1: the session is down or has just been created.
    Down,
    /// 2: the remote system is heard, and the three-way handshake is under way.
    Init,
    /// 3: both systems hear each other.
    Up,
}

impl State {
    /// The two-bit wire value.
    pub fn to_bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The state of a two-bit wire value (higher bits are ignored).
    pub fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// Why the sender's session last changed state (the Diag field, RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved for future use, kept as received (only the low five bits are meaningful).
    Unknown(u8),
}

impl Diagnostic {
    /// The five-bit wire value.
    pub fn to_bits(self) -> u8 {
        match self {
            Diagnostic::None => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Unknown(code) => code & 0x1f,
        }
    }

    /// The diagnostic of a five-bit wire value (higher bits are ignored).
    pub fn from_bits(bits: u8) -> Diagnostic {
        match bits & 0x1f {
            0 => Diagnostic::None,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            code => Diagnostic::Unknown(code),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::None => f.write_str("no diagnostic"),
            Diagnostic::ControlDetectionTimeExpired => f.write_str("control detection time expired"),
            Diagnostic::EchoFunctionFailed => f.write_str("echo function failed"),
            Diagnostic::NeighborSignaledSessionDown => f.write_str("neighbor signaled session down"),
            Diagnostic::ForwardingPlaneReset => f.write_str("forwarding plane reset"),
            Diagnostic::PathDown => f.write_str("path down"),
            Diagnostic::ConcatenatedPathDown => f.write_str("concatenated path down"),
            Diagnostic::AdministrativelyDown => f.write_str("administratively down"),
            Diagnostic::ReverseConcatenatedPathDown => f.write_str("reverse concatenated path down"),
            Diagnostic::Unknown(code) => write!(f, "unknown diagnostic {}", code & 0x1f),
        }
    }
}

/// The P, F, C and D bits (RFC 5880 §4.1). The A bit is the presence of
/// [`ControlPacket::auth`]; the M bit is always zero in a valid packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// P: the sender asks for verification of a parameter change (a Poll Sequence, §6.5).
    pub poll: bool,
    /// F: the sender answers a packet that had the Poll bit.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to run in Demand mode (§6.6).
    pub demand: bool,
}

/// The kinds of authentication of the Auth Type field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 1: Simple Password (§4.2).
    SimplePassword,
    /// 2: Keyed MD5 (§4.3).
    KeyedMd5,
    /// 3: Meticulous Keyed MD5 (§4.3).
    MeticulousKeyedMd5,
    /// 4: Keyed SHA1 (§4.4).
    KeyedSha1,
    /// 5: Meticulous Keyed SHA1 (§4.4).
    MeticulousKeyedSha1,
    /// 0 and 6–255: reserved, kept as received.
    Unknown(u8),
}

impl From<u8> for AuthType {
    fn from(code: u8) -> AuthType {
        match code {
            1 => AuthType::SimplePassword,
            2 => AuthType::KeyedMd5,
            3 => AuthType::MeticulousKeyedMd5,
            4 => AuthType::KeyedSha1,
            5 => AuthType::MeticulousKeyedSha1,
            code => AuthType::Unknown(code),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(auth: AuthType) -> u8 {
        match auth {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
            AuthType::Unknown(code) => code,
        }
    }
}

/// An authentication section (RFC 5880 §4.2–4.4), kept as bytes: ferrolb does not
/// authenticate, so it reads only the type and the length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthSection {
    auth_type: AuthType,
    data: Vec<u8>,
}

impl AuthSection {
    /// Most bytes of authentication data: the packet's one-byte Length counts the mandatory
    /// section, the section's two-byte header and the data.
    pub const MAX_DATA_LEN: usize = u8::MAX as usize - MANDATORY_LEN - AUTH_HEADER_LEN;

    /// A section of `auth_type` carrying `data` (what follows Auth Len); `None` when the data
    /// is longer than [`AuthSection::MAX_DATA_LEN`], which Auth Len cannot express.
    pub fn new(auth_type: AuthType, data: Vec<u8>) -> Option<AuthSection> {
        (data.len() <= Self::MAX_DATA_LEN).then_some(AuthSection { auth_type, data })
    }

    /// The Auth Type field.
    pub fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    /// The bytes after Auth Len, uninterpreted (key ID, sequence number, digest or password).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The Auth Len field: the section's whole length, its two-byte header included.
    pub fn auth_len(&self) -> u8 {
        // `new` bounds the data to what one byte can count.
        u8::try_from(self.data.len() + AUTH_HEADER_LEN).unwrap_or(u8::MAX)
    }
}

/// A BFD Control packet (RFC 5880 §4.1) that passed the reception checks of §6.8.6 which
/// need only the packet. Version (always 1), Length and the A and M bits are not fields:
/// the encoder derives them, so a value of this type is always a packet one may send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    /// Why the sender's session last changed state.
    pub diagnostic: Diagnostic,
    /// The sender's session state.
    pub state: State,
    /// The P, F, C and D bits.
    pub flags: Flags,
    /// Detect Mult: the sender's detection time is this many of its negotiated intervals.
    pub detect_mult: NonZeroU8,
    /// My Discriminator: the sender's own, nonzero identifier of the session.
    pub my_discriminator: NonZeroU32,
    /// Your Discriminator: the receiver's identifier as the sender knows it, 0 while unknown.
    pub your_discriminator: u32,
    /// Desired Min TX Interval, in microseconds.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, in microseconds (0: send me no periodic packets).
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, in microseconds (0: the sender loops no Echo packets).
    pub required_min_echo_rx: u32,
    /// The authentication section; present exactly when the A bit is set.
    pub auth: Option<AuthSection>,
}

impl ControlPacket {
    /// The bytes the Length field gives: 24, plus the authentication section if any.
    pub fn buffer_len(&self) -> usize {
        MANDATORY_LEN + self.auth.as_ref().map_or(0, |a| usize::from(a.auth_len()))
    }

    /// Writes the packet: exactly [`MANDATORY_LEN`] (24) bytes for a packet without
    /// authentication, which is every packet a [`Session`](crate::Session) builds. A decoded
    /// packet that carried an authentication section is written back with it, so that
    /// decoding what this writes gives the same value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.buffer_len()];
        out[VERS_DIAG] = (VERSION << 5) | self.diagnostic.to_bits();
        let mut flags = self.state.to_bits() << 6;
        for (set, bit) in [
            (self.flags.poll, FLAG_POLL),
            (self.flags.final_, FLAG_FINAL),
            (self.flags.control_plane_independent, FLAG_CPI),
            (self.auth.is_some(), FLAG_AUTH),
            (self.flags.demand, FLAG_DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        out[STATE_FLAGS] = flags;
        out[DETECT_MULT] = self.detect_mult.get();
        // `AuthSection::new` keeps the whole packet within what the Length byte counts.
        out[LENGTH] = u8::try_from(out.len()).unwrap_or(u8::MAX);
        for (at, value) in [
            (MY_DISCR, self.my_discriminator.get()),
            (YOUR_DISCR, self.your_discriminator),
            (DESIRED_MIN_TX, self.desired_min_tx),
            (REQUIRED_MIN_RX, self.required_min_rx),
            (REQUIRED_MIN_ECHO_RX, self.required_min_echo_rx),
        ] {
            out[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        if let Some(auth) = &self.auth {
            out[MANDATORY_LEN] = auth.auth_type.into();
            out[MANDATORY_LEN + 1] = auth.auth_len();
            out[MANDATORY_LEN + AUTH_HEADER_LEN..].copy_from_slice(&auth.data);
        }
        out
    }

    /// Reads a packet from one UDP payload and applies the reception checks of RFC 5880
    /// §6.8.6 that need only the packet. Bytes after Length (link padding) are ignored.
    /// The checks that need a session (selection by discriminator, the A bit without
    /// authentication configured) are [`Session::handle_packet`](crate::Session::handle_packet)'s.
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, DecodeError> {
        if bytes.len() < MANDATORY_LEN {
            return Err(DecodeError::Truncated { got: bytes.len() });
        }
        let version = bytes[VERS_DIAG] >> 5;
        if version != VERSION {
            return Err(DecodeError::Version { found: version });
        }
        let flags = bytes[STATE_FLAGS];
        let has_auth = flags & FLAG_AUTH != 0;
        let length = bytes[LENGTH];
        let minimum = if has_auth { MANDATORY_LEN + AUTH_HEADER_LEN } else { MANDATORY_LEN };
        if usize::from(length) < minimum {
            return Err(DecodeError::LengthTooSmall { length, minimum, auth: has_auth });
        }
        if usize::from(length) > bytes.len() {
            return Err(DecodeError::LengthExceedsDatagram { length, datagram: bytes.len() });
        }
        let detect_mult = NonZeroU8::new(bytes[DETECT_MULT]).ok_or(DecodeError::ZeroDetectMult)?;
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(DecodeError::Multipoint);
        }
        let u32_at = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let my_discriminator = NonZeroU32::new(u32_at(MY_DISCR)).ok_or(DecodeError::ZeroMyDiscriminator)?;
        let your_discriminator = u32_at(YOUR_DISCR);
        let state = State::from_bits(flags >> 6);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DecodeError::ZeroYourDiscriminator { state });
        }
        let auth = if has_auth {
            let section = &bytes[MANDATORY_LEN..usize::from(length)];
            let auth_len = section[1];
            if usize::from(auth_len) < AUTH_HEADER_LEN {
                return Err(DecodeError::AuthLenTooSmall { auth_len });
            }
            if usize::from(auth_len) > section.len() {
                return Err(DecodeError::AuthExceedsLength { auth_len, room: section.len() });
            }
            let data = section[AUTH_HEADER_LEN..usize::from(auth_len)].to_vec();
            Some(AuthSection { auth_type: AuthType::from(section[0]), data })
        } else {
            None
        };
        Ok(ControlPacket {
            diagnostic: Diagnostic::from_bits(bytes[VERS_DIAG]),
            state,
            flags: Flags {
                poll: flags & FLAG_POLL != 0,
                final_: flags & FLAG_FINAL != 0,
                control_plane_independent: flags & FLAG_CPI != 0,
                demand: flags & FLAG_DEMAND != 0,
            },
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: u32_at(DESIRED_MIN_TX),
            required_min_rx: u32_at(REQUIRED_MIN_RX),
            required_min_echo_rx: u32_at(REQUIRED_MIN_ECHO_RX),
            auth,
        })
    }
}

/// Why bytes are not a BFD Control packet to act on: one variant per reception check of
/// RFC 5880 §6.8.6 that needs only the packet. Each such packet MUST be discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram is shorter than the mandatory section.
    #[error("BFD control packet truncated: {got} bytes, expected at least {MANDATORY_LEN}")]
    Truncated {
        /// Bytes in the datagram.
        got: usize,
    },
    /// The Version field is not 1.
    #[error("BFD version {found}, expected {VERSION}")]
    Version {
        /// The version found.
        found: u8,
    },
    /// The Length field is below the minimum for the A bit (24 without, 26 with).
    #[error(
        "BFD length field {length} is too small: expected at least {minimum} with the A bit {}",
        if *auth { "set" } else { "clear" }
    )]
    LengthTooSmall {
        /// The Length field.
        length: u8,
        /// The smallest valid length.
        minimum: usize,
        /// Whether the A bit was set.
        auth: bool,
    },
    /// The Length field claims more bytes than the datagram holds.
    #[error("BFD length field {length} exceeds the {datagram}-byte datagram, expected at most {datagram}")]
    LengthExceedsDatagram {
        /// The Length field.
        length: u8,
        /// Bytes in the datagram.
        datagram: usize,
    },
    /// The Detect Mult field is zero.
    #[error("BFD detect multiplier is 0, expected 1 to 255")]
    ZeroDetectMult,
    /// The Multipoint (M) bit is set.
    #[error("BFD multipoint (M) bit is set, expected 0")]
    Multipoint,
    /// The My Discriminator field is zero.
    #[error("BFD my discriminator is 0, expected a nonzero value")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the sender claims a state past Down.
    #[error("BFD your discriminator is 0 in state {state}, expected 0 only in Down or AdminDown")]
    ZeroYourDiscriminator {
        /// The sender's state.
        state: State,
    },
    /// The Auth Len field is smaller than the section's own two-byte header.
    #[error("BFD auth len {auth_len} is too small, expected at least {AUTH_HEADER_LEN}")]
    AuthLenTooSmall {
        /// The Auth Len field.
        auth_len: u8,
    },
    /// The authentication section runs past the end given by the Length field.
    #[error(
        "BFD auth len {auth_len} exceeds the {room} bytes after the mandatory section, expected at most {room}"
    )]
    AuthExceedsLength {
        /// The Auth Len field.
        auth_len: u8,
        /// Bytes between the mandatory section and Length.
        room: usize,
    },
}
