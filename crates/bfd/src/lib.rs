//! BFD, Bidirectional Forwarding Detection (RFC 5880), for ferrolb: it tells BGP that a
//! peer is gone in milliseconds rather than a hold time.
//!
//! **Contract of the core** ([`packet`], [`session`]): no I/O, no clock, no globals.
//! Packets are bytes in and [`ControlPacket`]s out; time is an [`std::time::Instant`]
//! passed in; randomness is a seed passed in. The UDP driver (RFC 5881 single-hop on port 3784 with TTL 255, RFC 5883
//! multihop on port 4784 with its minimum TTL) selects the session of each packet by
//! discriminator or addresses and performs what the session asks; it lives in `driver`,
//! behind the `driver` feature, and is the only part that touches tokio and sockets.
//!
//! - [`packet`]: the Control packet codec, with the reception checks of RFC 5880 §6.8.6 that
//!   need only the packet.
//! - [`session`]: one session's state machine in Asynchronous mode (§6.8), its timers,
//!   Poll Sequences and jitter. No Demand mode, no Echo, no authentication.
//! - `driver` (feature `driver`): the tokio UDP driver, `driver::Bfd`.

#[cfg(feature = "driver")]
pub mod driver;
pub mod packet;
pub mod session;

pub use packet::{AuthSection, AuthType, ControlPacket, DecodeError, Diagnostic, Flags, State};
pub use session::{ConfigError, Discarded, Event, Session, SessionConfig};
