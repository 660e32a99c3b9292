//! The protocol and address values every ferrolb layer shares, defined once.
//!
//! # Contract
//!
//! No I/O, no clock, no globals, no logging; no kube, no tokio, no serde.
//! Every type is a validated value: an invalid one cannot be constructed
//! (a hold time of 1 s, AS 0, router ID 0.0.0.0, a range whose start is after
//! its end). Parsing from text follows MetalLB where MetalLB reads the value
//! (communities as `AA:NN` / `large:A:B:C`, addresses exactly as Go's
//! `net.ParseIP` / `net.ParseCIDR`); wire encodings stay in the codecs
//! (`ferrolb-bgp`), which build these values from what they decode.
//!
//! - [`asn`]: [`Asn`], 2- or 4-octet, never 0.
//! - [`hold_time`]: [`HoldTime`], 0 or at least 3 s.
//! - [`router_id`]: [`RouterId`], a non-zero IPv4 address.
//! - [`afi_safi`]: [`AfiSafi`], the BGP address family and subsequent address family.
//! - [`community`]: [`Community`] (RFC 1997), [`LargeCommunity`] (RFC 8092), and
//!   [`BgpCommunity`], either one as a `BGPAdvertisement` writes it.
//! - [`ip`]: [`IpFamily`] (IPv4 or IPv6) and IP addresses as Go parses them.
//! - [`ip_range`]: [`IpRange`], an inclusive range of one family, from a CIDR or `START-END`.

pub mod afi_safi;
pub mod asn;
pub mod community;
pub mod hold_time;
pub mod ip;
pub mod ip_range;
pub mod router_id;

pub use afi_safi::AfiSafi;
pub use asn::Asn;
pub use community::{BgpCommunity, Community, CommunityError, LargeCommunity};
pub use hold_time::HoldTime;
pub use ip::IpFamily;
pub use ip_range::{IpRange, RangeError};
pub use router_id::RouterId;
