//! MetalLB's configuration language for ferrolb.
//!
//! - [`metallb`]: the `metallb.io` resource types (CRDs derived from them).
//! - [`crds`]: the CustomResourceDefinitions as MetalLB installs them.
//! - [`load`]: multi-document YAML files into a [`Snapshot`], keeping the line
//!   of every object and field; on a reload, what changed in them.
//! - [`community`]: the aliases that `Community` resources define.
//! - [`config`]: the one typed reading of the `metallb.io` objects
//!   ([`config::resolve`]) that every planner and the runtime read.
//! - [`peer`]: the rules of a `BGPPeer`'s timers and AS numbers, read by `config`.
//! - [`validate`]: every rule of MetalLB's webhooks and config parser, over
//!   the whole snapshot at once.
//!
//! The protocol values these resources hold (communities, address ranges)
//! are `ferrolb_types`'s, shared with the BGP codec.
//!
//! No I/O beyond reading the files the caller names; no clock, no globals.

pub mod community;
pub mod config;
pub mod crds;
pub mod diagnostic;
mod findings;
pub mod labels;
pub mod load;
pub mod metallb;
pub mod node;
pub mod peer;
pub mod selector;
pub mod service;
pub mod services;
pub mod snapshot;
pub mod validate;
pub mod yaml;

pub use diagnostic::{Diagnostic, Location, Severity};
pub use snapshot::{FieldLines, Located, Snapshot};

/// The Kubernetes core objects ferrolb reads.
pub mod core {
    pub use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
    pub use k8s_openapi::api::discovery::v1::EndpointSlice;
}
