//! ARP (RFC 826) and NDP (RFC 4861) for ferrolb's L2 mode.
//!
//! **Contract of the core** (everything outside [`driver`]): no I/O, no clock, no globals.
//! Frames are bytes in and bytes out; time is an [`std::time::Instant`] passed in. The
//! `driver` feature adds the tokio task that performs the outputs on `AF_PACKET` sockets.
//!
//! - [`ethernet`], [`arp`], [`ndp`], [`frame`]: checked views over byte buffers and value
//!   types with `parse` / `emit` / `buffer_len`; nothing panics on short or hostile input.
//! - [`leadership`]: which VIPs this node leads on which interface, and the answer to a
//!   request ([`Leadership::answer`]) or the announcement of a takeover.
//! - [`announcer`]: the state machine that answers and repeats takeover announcements
//!   ([`Announcer::handle`], [`Announcer::poll_timeout`]).
//! - [`interfaces`]: which host interfaces an `L2Advertisement` uses.
//!
//! # The kernel answers too (Linux)
//!
//! The leader makes the host accept a VIP with a local route on `lo`
//! (`ip route add local VIP dev lo table local`). With the default `arp_ignore=0` the kernel
//! answers ARP for every local address *on every interface*, routes of type `local`
//! included, so a node that still has such a route would answer beside the leader. Set
//! `net.ipv4.conf.IFACE.arp_ignore=1` on the interfaces served ("answer only for addresses
//! configured on the interface the request came in on"): the kernel then stays silent for
//! route-only VIPs, while ferrolb's replies from its packet socket still go out. The driver
//! does this by default (`driver::ResponderConfig::set_arp_ignore`). The kernel does not
//! answer a Neighbor Solicitation for a local route (only for addresses on an interface,
//! or with proxy NDP), so IPv6 needs nothing. Both were measured in network namespaces; see
//! the crate's network tests.

pub mod announcer;
pub mod arp;
#[cfg(feature = "driver")]
pub mod driver;
pub mod ethernet;
pub mod frame;
pub mod interfaces;
pub mod leadership;
pub mod ndp;

#[cfg(test)]
mod captures;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod proptests;

pub use announcer::{AnnounceConfig, Announcer, Input, Output};
pub use ethernet::{MacAddr, VlanTag};
pub use frame::{Frame, Payload};
pub use leadership::{Leadership, LedInterface};

/// Why bytes are not a frame the responder handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before a field that must be there.
    #[error("truncated {what}: needs {needed} bytes, got {got}")]
    Truncated {
        /// The part being read.
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes there are.
        got: usize,
    },
    /// Well formed, but a protocol or kind the responder does not handle.
    #[error("unsupported {what} {value:#06x}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u16,
    },
    /// A field has a value its RFC forbids.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The ICMPv6 checksum does not match (RFC 4443 §2.3).
    #[error("ICMPv6 checksum is {found:#06x}, expected {expected:#06x}")]
    Checksum {
        /// The checksum in the message.
        found: u16,
        /// The checksum of its contents.
        expected: u16,
    },
    /// An ND message whose hop limit is not 255, so it may come from off the link
    /// (RFC 4861 §7.1.1).
    #[error("ND message with hop limit {0}, expected 255 (RFC 4861 §7.1.1)")]
    HopLimit(u8),
}
