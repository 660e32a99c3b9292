//! BGP-4 for ferrolb: the wire codec ([`message`]) and the session state machine ([`fsm`]).
//!
//! # Contract
//!
//! This crate is sans-I/O: no sockets, no tokio, no clock, no globals, no
//! logging. Bytes and events go in, values, bytes and actions come out. The
//! driver ([`driver`], behind the `driver` feature, the only tokio and socket
//! code) reads the TCP stream, frames it with [`message::message_len`], decodes with [`message::Message::decode`],
//! feeds the result to [`fsm::Session::handle`] with the current time, and
//! performs the returned [`fsm::Output`]s: connect, send what
//! [`message::Message::encode`] writes, arm and cancel timers, and feed their
//! expiries back in. Decoding never panics, whatever the input; every decode failure
//! is a [`message::DecodeError`] that maps one-to-one to the NOTIFICATION to
//! send ([`message::Notification::from`]), so the session never picks error
//! codes itself.

pub mod backoff;
#[cfg(feature = "driver")]
pub mod driver;
pub mod fsm;
pub mod message;
pub mod next_hop;
pub mod peer;
pub mod rib_out;
pub mod routes;
pub mod status;
pub mod types;

pub use message::{DecodeContext, DecodeError, EncodeContext, Message};
pub use types::{AfiSafi, Asn, HoldTime, RouterId};
