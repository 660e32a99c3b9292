//! Kubernetes as one of ferrolb's ears and mouths: watchers that build the
//! same [`Snapshot`](ferrolb_api::Snapshot) as the standalone file loader,
//! and the controller that writes allocations back to Service status.
//!
//! - [`state`]: pure (no I/O, no clock, no globals): the objects of a
//!   cluster into a snapshot, and what of each kind ferrolb reads.
//! - [`watchers`]: the driver: one kube-rs watcher and reflector store per
//!   kind, and debounced snapshots once every kind has been listed.
//! - [`status`]: pure: from an allocation to the Service writes and Events
//!   that bring the cluster to it.
//! - [`allocation`]: pure: what the controller allocates for a snapshot,
//!   from its last decision when only Services changed.
//! - [`controller`]: the driver: snapshots → allocation → writes.
//! - [`lease`]: leader election between controller replicas with a Lease.
//! - [`validation`]: pure: whole-config validation, the last good
//!   configuration, and the `ConfigurationState` that reports it.
//! - [`configuration_state`]: the driver: validate each snapshot, write
//!   the `ConfigurationState` and its Events.
//! - [`events`]: Events created once, with no cache.
//! - [`misplaced`]: pure: `metallb.io` objects outside the namespace, which
//!   the controller ignores as MetalLB does, and what it says of them.

pub mod allocation;
pub mod announcements;
pub mod configuration_state;
pub mod controller;
pub mod events;
pub mod lease;
pub mod metrics_access;
pub mod misplaced;
pub mod state;
pub mod status;
pub mod validation;
pub mod watchers;

pub use controller::{Controller, ControllerError, ControllerOptions};
pub use lease::{Election, LeaseOptions};
pub use state::{ClusterState, SnapshotBuilder, Watched};
pub use watchers::{Kind, Stores, Watchers};
