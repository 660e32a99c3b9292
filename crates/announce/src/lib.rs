//! Which VIPs a node announces, where and how, each decision with its reason.
//!
//! Contract: every function here is pure — no I/O, no clock, no globals, no
//! randomness. The caller (`ferrolb speaker`, `ferrolb run`, `ferrolb plan`)
//! passes a [`Snapshot`](ferrolb_api::Snapshot), the IPAM
//! [`Allocation`](ferrolb_ipam::Allocation) and the node's name; the BGP
//! driver in `crates/bgp` converges its sessions to the [`BgpPlan`], the L2
//! driver in `crates/l2` answers ARP/NDP for the VIPs this node leads in the
//! [`L2Plan`] (elected among the [`Alive`] members the caller passes), and
//! `ferrolb plan` / `status` print the [`Reason`] of every [`Decision`] and
//! the [`L2Reason`] of every [`L2Vip`].
//!
//! - [`bgp`]: routes per peer with their attributes ([`plan_bgp`]); after an
//!   edit to a few Services, the same plan patched for them ([`replan_bgp`]).
//! - [`l2`]: the leader of every VIP and where it answers ([`plan_l2`]).
//! - [`eligibility`]: whether a node may announce at all (exclusion label,
//!   network condition) and where a Service has endpoints; shared with L2.
//! - [`reason`]: why, in words a user can act on.

pub mod bgp;
pub mod eligibility;
pub mod l2;
pub mod reason;

#[cfg(test)]
mod tests;

pub use bgp::{
    BfdPlan, BgpPlan, BgpReplan, Decision, PeerPlan, PeerRoutesChange, Route, plan_bgp, replan_bgp,
    session_local,
};
pub use l2::{Alive, Candidate, Election, Interfaces, L2Leader, L2Plan, L2Vip, plan_l2};
pub use reason::{L2Reason, Reason, SessionReason, Unusable};
