//! The node runtime: what one node does with a plan, shared by `ferrolb run`
//! (a file) and `ferrolb speaker` (a cluster).
//!
//! ```text
//!   Config + Snapshot + Allocation ──► Announcer ──► announce::plan_bgp ──► BgpSessions ──► PeerHandle (TCP 179)
//!                                        │                                       └──► Bfd (UDP 3784/4784) ──► PathGate
//!                                        ├──► L2Mode: gossip (UDP 7946) ──► announce::plan_l2 ──► Responder (ARP/NDP)
//!                                        └──► HostVips: local routes for the VIPs announced here (without kube-proxy)
//! ```
//!
//! The subcommands load and allocate, then hand the result to an
//! [`Announcer`] and feed it its [`Event`]s; everything that decides without a
//! socket (a BGPPeer's session settings, the BFD decision, the host's
//! lingering VIPs) is tested here without one.

pub mod announcer;
pub mod bgp;
pub mod host;
pub mod l2;
pub mod neighbours;
pub mod observe;

use std::net::IpAddr;

use ferrolb_api::Snapshot;

pub use announcer::{Announcer, ChangedServices, Event, Stop};
pub use l2::{L2Event, L2Options, gossip_secret};
pub use observe::Observed;

/// What can fail in the node runtime.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A netlink request (the host's VIP routes) failed.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    /// The netlink socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    Socket(#[from] std::io::Error),
    /// The host has no loopback interface to route the VIPs to.
    #[error("no {0} interface (expected the loopback interface the VIPs' local routes point at)")]
    NoLoopback(&'static str),
    /// A blocking thread (planning) failed.
    #[error("planning thread failed: {0}")]
    Thread(#[from] tokio::task::JoinError),
}

/// Runs CPU-heavy work (allocation and planning of a large configuration,
/// writing the state file) on a blocking thread: gossip and keepalives
/// cannot wait for it.
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NodeError> {
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// Frees `value` on a blocking thread: the configuration a change replaces
/// holds 100,000 Services' worth of small allocations, and freeing them on
/// the runtime thread would hold back the UPDATEs the change just queued.
pub fn drop_elsewhere<T: Send + 'static>(value: T) {
    drop(tokio::task::spawn_blocking(move || drop(value)));
}

/// The InternalIPs of `node` in the snapshot, in order.
pub fn internal_ips(snapshot: &Snapshot, node: &str) -> Vec<IpAddr> {
    let node = snapshot.nodes.iter().find(|n| n.metadata.name.as_deref() == Some(node));
    node.map(|node| ferrolb_api::node::internal_ips(node).collect()).unwrap_or_default()
}
