//! Which Service gets which address: MetalLB's allocation semantics as a
//! pure function.
//!
//! Contract: [`allocate`] is a function of its arguments alone — no I/O, no
//! clock, no globals, no randomness (where MetalLB picks among equals at
//! random, ferrolb takes the first by name). The caller (the controller in
//! `crates/k8s`, or `ferrolb run`) feeds it a [`Snapshot`](ferrolb_api::Snapshot)
//! and the [`Assignments`] of the previous run, writes Service status and
//! pool status from the [`Allocation`], and keeps
//! [`Allocation::assignments`] for the next run. It never panics, whatever
//! the snapshot holds; what it cannot honour it reports per Service as an
//! [`AllocationError`].
//!
//! - [`request`]: what a Service asks for (annotations, `spec.loadBalancerIP`,
//!   ports, backends).
//! - [`families`]: which address families it wants.
//! - `pool`, `sharing`: pools with free-address cursors; who uses which
//!   address and who may join.
//! - [`allocate()`]: the passes: keep, then requested addresses, then the rest.
//! - [`reallocate()`]: the same answer after an edit to a few Services, from
//!   the previous allocation ([`Kept`], with what it holds counted), without
//!   redoing the passes for the others.
//! - [`sorted`]: sorted vectors of 100,000 items changed in a few places.
//! - [`state_file`]: the [`Assignments`] as `ferrolb run` keeps them on disk
//!   between runs, read back without trusting them.

mod allocate;
mod assignments;
mod error;
pub mod families;
mod hash;
mod kept;
mod pool;
mod reallocate;
pub mod request;
mod sharing;
pub mod sorted;
pub mod state_file;
mod work;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

pub use allocate::{Allocation, Options, PoolStats, Released, ServiceOutcome, Walk, allocate, namespace_of};
pub use assignments::{Assignment, AssignmentEntry, Assignments, AssignmentsOf, ServiceKey};
pub use error::{AllocationError, ReleaseReason};
pub use families::Families;
pub use kept::Kept;
pub use reallocate::{ServiceChange, reallocate};
pub use request::{Port, Protocol, annotation};
