//! Which ferrolb speakers are alive: SWIM gossip on the `foca` crate.
//!
//! In L2 mode the leader of each VIP is elected among the alive speakers, so every speaker
//! gossips with the others (UDP 7946 on each node's InternalIP, as MetalLB's memberlist) and
//! keeps the set of alive node names.
//!
//! Contract of the core ([`Membership`], [`MemberId`], [`Timing`]): no I/O, no clock, no
//! globals. Time comes in as `now`, datagrams and timer expiries come in as calls, and
//! datagrams to send and timers to arm come out as [`Output`]s. The tokio driver in
//! `driver` (feature `driver`) performs them over a UDP socket.
//!
//! With the driver, a speaker joins with its InternalIP and every node of the file as seeds,
//! reads the alive set from a watch, and leaves on SIGTERM: the example of `driver`'s module
//! documentation, compiled and run as a doctest when the `driver` feature is on.

mod auth;
#[cfg(feature = "driver")]
pub mod driver;
mod id;
mod membership;

pub use id::MemberId;
pub use membership::{Admitted, Membership, Output, Stats, Timer, Timing, Unresponsive};
