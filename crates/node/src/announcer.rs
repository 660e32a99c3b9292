//! What a node does once addresses are allocated, shared by `ferrolb run`
//! and `ferrolb speaker`: BGP sessions and their routes, the L2 gossip with
//! its ARP/NDP responder and leader watching, and (without kube-proxy) the
//! host accepting the VIPs it announces.
//!
//! ```text
//!   snapshot + allocation ──► announce::plan_bgp ──► routes per peer ──► BgpSessions (TCP 179)
//!                        └──► announce::plan_l2(alive) ──► VIPs led here ──► ARP/NDP responder
//!   gossip (L2Mode) ──alive changed──► announce_l2 again        both ──► HostVips (run only)
//!   an edit to a few Services ──► announce::replan_bgp ──► route patches per peer
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_announce::{Alive, BgpPlan, BgpReplan, L2Plan};
use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_ipam::{Allocation, ServiceChange, ServiceKey};
use tracing::{info, warn};

use crate::NodeError;
use crate::bgp::BgpSessions;
use crate::host::HostVips;
use crate::l2::{self, L2Event, L2Mode, L2Options};
use crate::observe::Observed;

/// Elections made at most for one change of the alive speakers: when the
/// gossip changed its mind meanwhile, the election is made again (a third
/// stands, so that a flapping member cannot keep the node from acting).
const STALE_ELECTIONS: u32 = 3;

/// What this node announces, and the sessions, gossip and responder that
/// announce it.
pub struct Announcer {
    node: String,
    /// The snapshot and configuration in force, kept to re-elect L2
    /// leaders when speakers come and go.
    snapshot: Option<Arc<Snapshot>>,
    config: Option<Arc<Config>>,
    allocation: Option<Arc<Allocation>>,
    /// The VIPs this node announces by BGP.
    bgp_vips: BTreeSet<IpAddr>,
    /// The plans in force, for what the speaker reports.
    l2_plan: Option<Arc<L2Plan>>,
    bgp_plan: Option<Arc<BgpPlan>>,
    /// `None` where kube-proxy makes the host accept VIP traffic.
    host: Option<HostVips>,
    bgp: BgpSessions,
    l2: L2Mode,
    /// What observers (metrics) read.
    observed: Observed,
}

impl Announcer {
    /// `planned`'s plan, its time shown to the observers as a plan of `kind`.
    fn planned<T>(&self, kind: &'static str, (plan, took): (T, std::time::Duration)) -> T {
        self.observed.planned(kind, took);
        plan
    }

    /// Announces nothing yet. With `host`, the host is made to accept the
    /// VIPs this node announces (local routes); without, something else
    /// does (kube-proxy in a cluster).
    pub fn new(node: &str, l2: L2Options, host: Option<HostVips>) -> Announcer {
        Announcer {
            node: node.to_owned(),
            snapshot: None,
            config: None,
            allocation: None,
            bgp_vips: BTreeSet::new(),
            l2_plan: None,
            bgp_plan: None,
            host,
            bgp: BgpSessions::listening(ferrolb_bgp::driver::BGP_PORT),
            l2: L2Mode::new(l2),
            observed: Observed::new(node),
        }
    }

    /// A window on what this node does, for observers on other tasks.
    pub fn observed(&self) -> Observed {
        self.observed.clone()
    }

    /// Shows observers the plans, sessions, responder and gossip in force.
    fn show_observers(&self) {
        self.observed.runtime(
            (self.l2_plan.clone(), self.bgp_plan.clone()),
            self.bgp.sessions(),
            self.l2.counts(),
            self.l2.members_alive(),
        );
    }

    /// The allocation announced (shared: it goes to other threads).
    pub fn allocation(&self) -> Option<Arc<Allocation>> {
        self.allocation.clone()
    }

    /// The L2 and BGP plans in force (`None` before the first announcement).
    pub fn plans(&self) -> Option<(&L2Plan, &BgpPlan)> {
        self.l2_plan.as_deref().zip(self.bgp_plan.as_deref())
    }

    /// The allocation announced, taken out to be changed in place (an
    /// edit to a few Services); [`Announcer::announce`] or
    /// [`Announcer::announce_changes`] puts the next one in.
    pub fn take_allocation(&mut self) -> Option<Arc<Allocation>> {
        self.allocation.take()
    }

    /// Puts back an allocation taken out and left as it was.
    pub fn restore_allocation(&mut self, allocation: Option<Arc<Allocation>>) {
        self.allocation = allocation;
    }

    /// Lets go of the snapshot announced, so that the caller holds the only
    /// reference and can change it in place; [`Announcer::restore_snapshot`]
    /// or the next announcement gives one back.
    pub fn release_snapshot(&mut self) {
        self.snapshot = None;
    }

    /// Holds `snapshot` again, unchanged since it was released.
    pub fn restore_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = Some(snapshot);
    }

    /// Announces `allocation` of `snapshot` under `config` by BGP and L2 in
    /// place of what was announced; returns the allocation it replaces.
    pub async fn announce(
        &mut self,
        config: Arc<Config>,
        snapshot: Arc<Snapshot>,
        allocation: Allocation,
    ) -> Result<Option<Arc<Allocation>>, NodeError> {
        let allocation = Arc::new(allocation);
        let bgp = {
            let (config, snapshot, allocation, node) =
                (Arc::clone(&config), Arc::clone(&snapshot), Arc::clone(&allocation), self.node.clone());
            crate::off_thread(move || {
                ferrolb_metrics::timed(|| ferrolb_announce::plan_bgp(&config, &snapshot, &allocation, &node))
            })
            .await?
        };
        let bgp = self.planned("bgp", bgp);
        self.announce_planned(config, snapshot, allocation, bgp).await
    }

    /// Announces `allocation` of `snapshot`, which differ from what is
    /// announced only in the Services of `changed`: the BGP plan is patched
    /// for those (where [`ferrolb_announce::replan_bgp`] can), and each peer is
    /// sent only what changed for it. The allocation announced must have
    /// been taken out ([`Announcer::take_allocation`]). Whether the plan
    /// was patched (else it was planned anew, and the sessions told so).
    pub async fn announce_changes(
        &mut self,
        config: Arc<Config>,
        snapshot: Arc<Snapshot>,
        allocation: Allocation,
        changed: ChangedServices,
    ) -> Result<bool, NodeError> {
        let allocation = Arc::new(allocation);
        self.observed.release_plans();
        let previous = self.bgp_plan.take();
        let planned = {
            let (config, snapshot, allocation, node) =
                (Arc::clone(&config), Arc::clone(&snapshot), Arc::clone(&allocation), self.node.clone());
            crate::off_thread(move || {
                ferrolb_metrics::timed(|| {
                    // The plan in force is moved into the new one, not copied.
                    let previous = previous.map(Arc::try_unwrap);
                    let quick = match previous {
                        Some(Ok(previous)) => ferrolb_announce::replan_bgp(
                            previous,
                            &config,
                            &snapshot,
                            &allocation,
                            &changed.of(&snapshot),
                            &node,
                        )
                        .ok(),
                        _ => None,
                    };
                    quick.ok_or_else(|| ferrolb_announce::plan_bgp(&config, &snapshot, &allocation, &node))
                })
            })
            .await?
        };
        let planned = self.planned("bgp", planned);
        let replan = match planned {
            Ok(replan) => replan,
            Err(full) => {
                return self.announce_planned(config, snapshot, allocation, full).await.map(|_| false);
            }
        };
        let BgpReplan { plan, peers, announced_before, announced_now } = replan;
        for ip in announced_before.iter().filter(|ip| announced_now.binary_search(ip).is_err()) {
            self.bgp_vips.remove(ip);
        }
        self.bgp_vips.extend(announced_now.iter().copied());
        self.allocation = Some(allocation);
        self.snapshot = Some(snapshot);
        self.config = Some(config);
        // The host accepts a new VIP before any router is told to send it here.
        if let Some(host) = &mut self.host
            && let Err(e) = host.accept(&announced_now).await
        {
            warn!(error = %e, "could not make this host accept the VIPs it announces");
        }
        self.bgp.patch(&plan, &peers);
        self.bgp_plan = Some(Arc::new(plan));
        self.show_observers();
        // The sessions send before the L2 leaders are elected again and the
        // host lets go of the VIPs no longer announced.
        tokio::task::yield_now().await;
        self.announce_l2().await;
        Ok(true)
    }

    /// Announces `bgp`, planned in full for `allocation` of `snapshot`, and
    /// elects the L2 leaders; returns the allocation it replaces.
    async fn announce_planned(
        &mut self,
        config: Arc<Config>,
        snapshot: Arc<Snapshot>,
        allocation: Arc<Allocation>,
        bgp: BgpPlan,
    ) -> Result<Option<Arc<Allocation>>, NodeError> {
        let vips = bgp.decisions.iter().filter(|d| d.announced()).map(|d| d.ip).collect();
        let old_vips = std::mem::replace(&mut self.bgp_vips, vips);
        self.l2.start_gossip_if_needed(&config, &snapshot, &self.node).await;
        let previous = self.allocation.replace(allocation);
        let old_snapshot = self.snapshot.replace(snapshot);
        let old_config = self.config.replace(Arc::clone(&config));
        // The host accepts a VIP before any router is told to send it here.
        self.announce_l2().await;
        self.bgp.converge(&config, &bgp).await;
        let old_plan = self.bgp_plan.replace(Arc::new(bgp));
        self.show_observers();
        crate::drop_elsewhere((old_snapshot, old_config, old_vips, old_plan));
        Ok(previous)
    }

    /// Elects the L2 leaders among the alive speakers, answers for the VIPs
    /// led here, and makes the host accept exactly those and the BGP ones.
    pub async fn announce_l2(&mut self) {
        let (Some(snapshot), Some(config), Some(allocation)) =
            (&self.snapshot, &self.config, &self.allocation)
        else {
            return;
        };
        let (snapshot, config, allocation) =
            (Arc::clone(snapshot), Arc::clone(config), Arc::clone(allocation));
        // The gossip may change its mind while an election runs (a watched
        // leader answers again a few ms after it was held unresponsive): an
        // election among speakers no longer the alive ones is not acted on
        // (that would take VIPs over and hand them back), but made again.
        let mut attempts = 0;
        let (plan, elected_among) = loop {
            attempts += 1;
            let alive = self.l2.alive(&snapshot);
            let elected_among = alive.clone();
            // Off this thread, as every plan: at 100k Services an election takes
            // a few hundred milliseconds, which gossip and keepalives cannot wait.
            let (of, config, allocation, node) =
                (Arc::clone(&snapshot), Arc::clone(&config), Arc::clone(&allocation), self.node.clone());
            let plan = match crate::off_thread(move || {
                ferrolb_metrics::timed(|| ferrolb_announce::plan_l2(&config, &of, &allocation, &node, &alive))
            })
            .await
            {
                Ok(plan) => self.planned("l2", plan),
                Err(e) => {
                    warn!(error = %e, "could not elect the L2 leaders; keeping the last election");
                    return;
                }
            };
            if attempts >= STALE_ELECTIONS || self.l2.alive(&snapshot) == elected_among {
                break (plan, elected_among);
            }
        };
        let led = l2::led_vips(&plan);
        if let Some(host) = &mut self.host {
            let accepted: BTreeSet<IpAddr> = self.bgp_vips.union(&led).copied().collect();
            if let Err(e) = host.converge(&accepted).await {
                warn!(error = %e, "could not make this host accept the VIPs it announces");
            }
        }
        self.l2.converge(&config, &plan);
        if let Some(old) = &self.l2_plan {
            self.count_takeovers(old, &plan, &elected_among);
        }
        self.l2.watch_leaders(&plan);
        self.l2_plan = Some(Arc::new(plan));
        self.show_observers();
    }

    /// Counts (and logs) the VIPs `new` takes over from leaders that stopped
    /// answering, once the responder announces them: the outage ends here.
    fn count_takeovers(&self, old: &L2Plan, new: &L2Plan, alive: &Alive) {
        for (leader, vips) in l2::takeovers(old, new, alive) {
            let outage = self.l2.silent_for(&leader);
            info!(
                leader = %leader,
                vips,
                since_last_answer_ms = outage.map(|o| o.as_millis() as u64),
                "took over the VIPs of a leader that stopped answering"
            );
            self.observed.took_over(vips, outage);
        }
    }

    /// The next thing the gossip tells, or the time to release VIPs the
    /// host kept accepting after it stopped announcing them.
    pub async fn next_event(&mut self) -> Event {
        let release = self.host.as_ref().and_then(HostVips::next_release);
        tokio::select! {
            event = self.l2.next_event() => Event::L2(event),
            () = async {
                match release {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => Event::ReleaseVips,
        }
    }

    /// Acts on what [`Announcer::next_event`] told.
    pub async fn on_event(&mut self, event: Event) {
        match event {
            Event::L2(L2Event::AliveChanged) => self.announce_l2().await,
            Event::L2(L2Event::AnnounceAgain) => self.l2.announce_again(),
            Event::ReleaseVips => {
                if let Some(host) = &mut self.host
                    && let Err(e) = host.release_due().await
                {
                    warn!(error = %e, "could not release the VIPs no longer announced");
                }
            }
        }
    }

    /// Stops announcing. For good ([`Stop::Final`]): leaves the gossip, sends
    /// Cease to every peer, and stops the host accepting the VIPs; a speaker
    /// pod ([`Stop::PodStop`]) the same, but a peer that keeps our routes
    /// across a restart gets no Cease. For a
    /// restart ([`Stop::Restart`]): closes the BGP sessions whose peers keep
    /// our routes across it without a NOTIFICATION (the others get Cease),
    /// stays in the gossip and keeps the host accepting the VIPs, so that
    /// traffic keeps flowing until the next process takes over (it adopts the
    /// host's VIPs, and sends gratuitous ARP / unsolicited NA for those it leads).
    pub async fn stop(mut self, stop: Stop) {
        if stop == Stop::Restart {
            self.bgp.shutdown(stop).await;
            return;
        }
        // For good, or a speaker pod (whose BGP peers may keep its routes).
        // Leave the gossip first: the other speakers take the L2 VIPs over at once.
        self.l2.leave().await;
        self.bgp.shutdown(stop).await;
        if let Some(host) = &mut self.host
            && let Err(e) = host.clear().await
        {
            warn!(error = %e, "could not release the VIPs");
        }
    }
}

/// What the announcer waits for between changes of configuration.
pub enum Event {
    /// The gossip told something.
    L2(L2Event),
    /// The host's lingering VIPs are due for release.
    ReleaseVips,
}

/// Why the node runtime stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// For good (`ferrolb run` on SIGTERM, SIGINT): every route withdrawn,
    /// the gossip left, every VIP released.
    Final,
    /// As a speaker pod stops (SIGTERM: an upgrade rolls the DaemonSet, or a
    /// drain), as MetalLB's FRR mode does: the BGP peers that keep our routes
    /// across a restart (`enableGracefulRestart`, RFC 4724) keep them until
    /// the next pod is back; everything else as [`Stop::Final`].
    PodStop,
    /// For a restart of `ferrolb run`, as in an upgrade (SIGUSR2): as
    /// [`Stop::PodStop`], and the node stays in the gossip and keeps
    /// accepting its VIPs (see [`Announcer::stop`]).
    Restart,
}

/// The Services an edit changed: each one's key, sorted, and where it is
/// in the snapshot now (`None`: gone).
#[derive(Clone, Debug, Default)]
pub struct ChangedServices(pub Vec<(ServiceKey, Option<usize>)>);

impl ChangedServices {
    /// The changes, with the objects of `snapshot` (the one the indices are of).
    pub fn of<'a>(&'a self, snapshot: &'a Snapshot) -> Vec<ServiceChange<'a>> {
        self.0
            .iter()
            .map(|(key, at)| ServiceChange {
                namespace: &key.namespace,
                name: &key.name,
                now: at.and_then(|i| snapshot.services.get(i)).map(|s| &s.object),
            })
            .collect()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.0.iter().map(|(key, _)| key)
    }
}
