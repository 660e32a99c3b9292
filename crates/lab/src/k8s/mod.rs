//! Kubernetes for the tests, benches and demo: a real control plane on
//! loopback (etcd and kube-apiserver built from their Go modules by
//! `scripts/go-tools`), kubeconfigs for the admin and for ServiceAccounts,
//! the audit log, a relay that lets a process in a lab namespace reach
//! the API server, Pods that stand for the processes the lab runs, and
//! MetalLB's own controller beside ferrolb's.

pub mod audit;
mod control_plane;
mod kubeconfig;
mod metallb;
mod pki;
mod pod;
mod relay;
mod tools;

pub use control_plane::ControlPlane;
pub use kubeconfig::Credentials;
pub use metallb::{MetalLbController, MetalLbSpeaker, MetalLbSpeakerSpec};
pub use pod::StandInPod;
pub use relay::ApiRelay;
pub use tools::{GO_TOOLS, GoTools, go_tools_ready};
