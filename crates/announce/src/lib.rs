//! Which VIPs a node announces, where and how, each decision with its reason.
//!
//! Contract: every function here is pure — no I/O, no clock, no globals, no
//! randomness. The caller (`ferrolb speaker`, `ferrolb run`, `ferrolb plan`)
//! passes a [`Snapshot`](ferrolb_api::Snapshot), the IPAM
//! [`Allocation`](ferrolb_ipam::Allocation) and the node's name; the BGP
//! driver in `crates/bgp` converges its sessions to the [`BgpPlan`], and
//! `ferrolb plan` / `status` print the [`Reason`] of every [`Decision`].
//!
//! - [`bgp`]: routes per peer with their attributes ([`plan_bgp`]).
//! - [`eligibility`]: whether a node may announce at all (exclusion label,
//!   network condition) and where a Service has endpoints; shared with L2.
//! - [`reason`]: why, in words a user can act on.

pub mod bgp;
pub mod eligibility;
pub mod reason;

#[cfg(test)]
mod tests;

pub use bgp::{BgpPlan, Decision, PeerPlan, Route, plan_bgp};
pub use reason::{Reason, SessionReason};
