//! What a node does once addresses are allocated, shared by `ferrolb run`
//! and `ferrolb speaker`: BGP sessions and their routes, the L2 gossip with
//! its ARP/NDP responder and leader watching, and (without kube-proxy) the
//! host accepting the VIPs it announces.
//!
//! ```text
//!   snapshot + allocation ──► announce::plan_bgp ──► routes per peer ──► BgpSessions (TCP 179)
//!                        └──► announce::plan_l2(alive) ──► VIPs led here ──► ARP/NDP responder
//!   gossip (L2Mode) ──alive changed──► announce_l2 again        both ──► HostVips (run only)
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_announce::{BgpPlan, L2Plan};
use ferrolb_api::Snapshot;
use ferrolb_ipam::{Allocation, ServiceKey};
use tracing::warn;

use super::bgp::BgpSessions;
use super::host::HostVips;
use super::l2::{self, L2Mode};
pub use super::l2::{GossipOptions, L2Event};

/// What this node announces, and the sessions, gossip and responder that
/// announce it.
pub struct Announcer {
    node: String,
    /// The snapshot in force, kept to re-elect L2 leaders when speakers come and go.
    snapshot: Option<Arc<Snapshot>>,
    allocation: Option<Arc<Allocation>>,
    /// The VIPs this node announces by BGP.
    bgp_vips: BTreeSet<IpAddr>,
    /// The plans in force, for what the speaker reports.
    l2_plan: Option<L2Plan>,
    bgp_plan: Option<Arc<BgpPlan>>,
    /// `None` where kube-proxy makes the host accept VIP traffic.
    host: Option<HostVips>,
    bgp: BgpSessions,
    l2: L2Mode,
}

impl Announcer {
    /// Announces nothing yet. With `host`, the host is made to accept the
    /// VIPs this node announces (local routes); without, something else
    /// does (kube-proxy in a cluster).
    pub fn new(node: &str, gossip: GossipOptions, host: Option<HostVips>) -> Announcer {
        Announcer {
            node: node.to_owned(),
            snapshot: None,
            allocation: None,
            bgp_vips: BTreeSet::new(),
            l2_plan: None,
            bgp_plan: None,
            host,
            bgp: BgpSessions::listening(ferrolb_bgp::driver::BGP_PORT),
            l2: L2Mode::new(gossip),
        }
    }

    /// The allocation announced (shared: it goes to other threads).
    pub fn allocation(&self) -> Option<Arc<Allocation>> {
        self.allocation.clone()
    }

    /// The L2 and BGP plans in force (`None` before the first announcement).
    pub fn plans(&self) -> Option<(&L2Plan, &BgpPlan)> {
        self.l2_plan.as_ref().zip(self.bgp_plan.as_deref())
    }

    /// Announces `allocation` of `snapshot` by BGP and L2 in place of what
    /// was announced; returns the allocation it replaces. With `changed`,
    /// only those Services differ from what is announced (in object or
    /// outcome), and the BGP plan is patched for them where it can be.
    pub async fn announce(
        &mut self,
        snapshot: Arc<Snapshot>,
        allocation: Allocation,
        changed: Option<Vec<ServiceKey>>,
    ) -> anyhow::Result<Option<Arc<Allocation>>> {
        let allocation = Arc::new(allocation);
        let bgp = {
            let (snapshot, allocation, node) =
                (Arc::clone(&snapshot), Arc::clone(&allocation), self.node.clone());
            // The plan in force is shared with the planning thread, not copied.
            let previous = changed.and_then(|changed| Some((Arc::clone(self.bgp_plan.as_ref()?), changed)));
            super::off_thread(move || {
                let quick = previous.and_then(|(previous, changed)| {
                    ferrolb_announce::replan_bgp(&previous, &snapshot, &allocation, &changed, &node)
                });
                tracing::debug!(only_changed_services = quick.is_some(), "BGP planned");
                quick.unwrap_or_else(|| ferrolb_announce::plan_bgp(&snapshot, &allocation, &node))
            })
            .await?
        };
        let vips = bgp.decisions.iter().filter(|d| d.announced()).map(|d| d.ip).collect();
        let old_vips = std::mem::replace(&mut self.bgp_vips, vips);
        self.l2.start_gossip_if_needed(&snapshot, &self.node).await;
        let previous = self.allocation.replace(allocation);
        let old_snapshot = self.snapshot.replace(snapshot);
        // The host accepts a VIP before any router is told to send it here.
        self.announce_l2().await;
        if let Some(snapshot) = &self.snapshot {
            self.bgp.converge(snapshot, &bgp, &self.node).await;
        }
        let old_plan = self.bgp_plan.replace(Arc::new(bgp));
        super::drop_elsewhere((old_snapshot, old_vips, old_plan));
        Ok(previous)
    }

    /// Elects the L2 leaders among the alive speakers, answers for the VIPs
    /// led here, and makes the host accept exactly those and the BGP ones.
    pub async fn announce_l2(&mut self) {
        let (Some(snapshot), Some(allocation)) = (&self.snapshot, &self.allocation) else { return };
        let alive = self.l2.alive(snapshot);
        let plan = ferrolb_announce::plan_l2(snapshot, allocation, &self.node, &alive);
        let led = l2::led_vips(&plan);
        if let Some(host) = &mut self.host {
            let accepted: BTreeSet<IpAddr> = self.bgp_vips.union(&led).copied().collect();
            if let Err(e) = host.converge(&accepted).await {
                warn!(error = %e, "could not make this host accept the VIPs it announces");
            }
        }
        self.l2.converge(snapshot, &plan);
        self.l2.watch_leaders(&plan);
        self.l2_plan = Some(plan);
    }

    /// The next thing the gossip tells (never without gossip).
    pub async fn next_event(&mut self) -> L2Event {
        self.l2.next_event().await
    }

    /// Acts on what the gossip told.
    pub async fn on_event(&mut self, event: L2Event) {
        match event {
            L2Event::AliveChanged => self.announce_l2().await,
            L2Event::AnnounceAgain => self.l2.announce_again(),
        }
    }

    /// Withdraws everything: leaves the gossip, sends Cease to every peer,
    /// and stops the host accepting the VIPs.
    pub async fn stop(mut self) {
        // Leave the gossip first: the other speakers take the L2 VIPs over at once.
        self.l2.leave().await;
        self.bgp.shutdown().await;
        if let Some(host) = &mut self.host
            && let Err(e) = host.clear().await
        {
            warn!(error = %e, "could not release the VIPs");
        }
    }
}
