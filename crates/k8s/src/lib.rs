//! Kubernetes as one of ferrolb's ears: watchers that build the same
//! [`Snapshot`](ferrolb_api::Snapshot) as the standalone file loader.
//!
//! - [`state`]: pure (no I/O, no clock, no globals): the objects of a
//!   cluster into a snapshot, and what of each kind ferrolb reads.
//! - [`watchers`]: the driver: one kube-rs watcher and reflector store per
//!   kind, and debounced snapshots once every kind has been listed.

pub mod state;
pub mod watchers;

pub use state::{ClusterState, Watched};
pub use watchers::{Kind, Stores, Watchers};
