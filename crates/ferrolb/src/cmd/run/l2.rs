//! L2 mode of `ferrolb run`: gossip says which speakers are alive, the L2
//! plan elects one leader per VIP among them, and the leader answers ARP/NDP
//! for it (announcing the takeover) while its host accepts the traffic.
//!
//! ```text
//!   Nodes of the file ──seeds──► MembershipHandle (UDP 7946, SWIM) ──watch: alive──┐
//!                                                                                 ▼
//!   config + allocation ──► announce::plan_l2(alive) ──► VIPs led here ──► Responder (AF_PACKET)
//!                                                                     └──► host accepts (run/host.rs)
//! ```
//!
//! Gossip starts with the first configuration that has an `L2Advertisement`,
//! bound to this node's InternalIP. If it cannot start, every Node of the
//! file counts as alive (the election stays the same on every node, but
//! there is no failover) and the log says why.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ferrolb_announce::l2::Interfaces;
use ferrolb_announce::{Alive, L2Plan};
use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_l2::driver::{HostLink, Responder, ResponderConfig, interfaces_for};
use ferrolb_l2::{Leadership, MacAddr};
use ferrolb_membership::driver::{MembershipConfig, MembershipHandle, SECRET_ENV, secret_from};
use tokio::sync::watch;
use tracing::{info, warn};

use super::config::internal_ips;

/// How long a starting speaker waits to hear from the other Nodes before it
/// elects leaders with whoever answered (joining takes milliseconds on a LAN).
pub const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a speaker that has just joined waits before electing, so that a
/// node handing a VIP back to it has released it first.
const HANDOVER_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Gossip settings from the command line (`run` and `speaker`).
#[derive(Clone, Debug, clap::Args)]
pub struct GossipOptions {
    /// UDP port of the gossip between speakers (L2 mode), on every node.
    #[arg(long = "gossip-port", default_value_t = ferrolb_membership::driver::DEFAULT_PORT)]
    pub port: u16,
    /// A file holding the gossip's shared secret (or a directory with a
    /// `secretkey` file, as MetalLB's memberlist Secret is mounted); without
    /// it, the FERROLB_MEMBERLIST_SECRET environment variable.
    #[arg(long = "gossip-secret-file")]
    pub secret_file: Option<PathBuf>,
}

/// What the gossip tells [`L2Mode::next_event`]'s caller.
pub enum L2Event {
    /// The speakers to elect among changed: elect again.
    AliveChanged,
    /// Announce what we lead again.
    AnnounceAgain,
}

/// The running gossip and what it tells.
struct Gossiping {
    handle: MembershipHandle,
    alive: watch::Receiver<BTreeSet<String>>,
    /// The leaders we watch that stopped answering our pings.
    unresponsive: watch::Receiver<BTreeSet<String>>,
    /// Bumped when a member watching us pings again after a silence.
    resumed: watch::Receiver<u64>,
}

/// Gossip, and the responder once something is led.
pub struct L2Mode {
    options: GossipOptions,
    gossip: Gossip,
    responder: Option<Responder>,
}

enum Gossip {
    /// No L2Advertisement yet.
    NotStarted,
    /// Running.
    Running(Box<Gossiping>),
    /// It could not start: every Node counts as alive.
    Failed,
}

impl L2Mode {
    /// L2 mode with nothing started.
    pub fn new(options: GossipOptions) -> L2Mode {
        L2Mode { options, gossip: Gossip::NotStarted, responder: None }
    }

    /// Starts gossip the first time the configuration uses L2, and waits
    /// (at most [`JOIN_WAIT`]) to hear from the other Nodes of the file: a
    /// speaker that believed itself alone would claim every VIP.
    pub async fn start_gossip_if_needed(&mut self, config: &Config, snapshot: &Snapshot, node: &str) {
        if !matches!(self.gossip, Gossip::NotStarted) || config.l2_advertisements.is_empty() {
            return;
        }
        self.gossip = match self.spawn_gossip(snapshot, node) {
            Ok(handle) => {
                let mut alive = handle.alive();
                let others: BTreeSet<&str> =
                    snapshot.nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
                let joined = tokio::time::timeout(
                    JOIN_WAIT,
                    alive.wait_for(|a| others.iter().all(|n| a.contains(*n))),
                )
                .await
                .is_ok();
                if joined {
                    // The others saw us join a moment before we saw them all;
                    // give them time to hand over what we will lead, so two
                    // nodes never answer at once.
                    tokio::time::sleep(HANDOVER_GRACE).await;
                }
                let members: Vec<String> = alive.borrow().iter().cloned().collect();
                info!(node, address = %handle.local_addr(), ?members, all_nodes_seen = joined, "gossip started");
                let (unresponsive, resumed) = (handle.unresponsive(), handle.watchers_resumed());
                Gossip::Running(Box::new(Gossiping { handle, alive, unresponsive, resumed }))
            }
            Err(reason) => {
                warn!(
                    node,
                    reason,
                    "no gossip: every Node of the file counts as alive, so L2 leaders never fail over"
                );
                Gossip::Failed
            }
        };
    }

    fn spawn_gossip(&self, snapshot: &Snapshot, node: &str) -> Result<MembershipHandle, String> {
        let own = internal_ips(snapshot, node);
        // IPv4 first, as MetalLB's memberlist binds the first InternalIP it prefers.
        let bind = own
            .iter()
            .find(|ip| ip.is_ipv4())
            .or_else(|| own.first())
            .copied()
            .ok_or_else(|| format!("Node {node} has no InternalIP to gossip from"))?;
        let mut config = MembershipConfig::new(node, bind);
        config.port = self.options.port;
        config.seeds = snapshot
            .nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .filter(|name| *name != node)
            .filter_map(|name| {
                internal_ips(snapshot, name).into_iter().find(|ip| ip.is_ipv4() == bind.is_ipv4())
            })
            .map(|ip| SocketAddr::new(ip, config.port))
            .collect();
        config.secret =
            secret_from(self.options.secret_file.as_deref(), SECRET_ENV).map_err(|e| e.to_string())?;
        MembershipHandle::spawn(config).map_err(|e| e.to_string())
    }

    /// The speakers to elect leaders among: alive by the gossip, less the
    /// leaders we watch that stopped answering (the fast path of a failover:
    /// a runner-up takes over in tens of milliseconds; the others agree once
    /// the gossip declares the leader down).
    pub fn alive(&self, snapshot: &Snapshot) -> Alive {
        match &self.gossip {
            Gossip::Running(g) => {
                let (alive, unresponsive) = (&g.alive, &g.unresponsive);
                let silent = unresponsive.borrow();
                alive.borrow().iter().filter(|n| !silent.contains(*n)).cloned().collect()
            }
            Gossip::NotStarted | Gossip::Failed => Alive::every_node(snapshot),
        }
    }

    /// The next thing the gossip tells (never without gossip).
    pub async fn next_event(&mut self) -> L2Event {
        match &mut self.gossip {
            Gossip::Running(g) => {
                let (changed, event) = tokio::select! {
                    changed = g.alive.changed() => (changed, L2Event::AliveChanged),
                    changed = g.unresponsive.changed() => (changed, L2Event::AliveChanged),
                    changed = g.resumed.changed() => (changed, L2Event::AnnounceAgain),
                };
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
                event
            }
            Gossip::NotStarted | Gossip::Failed => std::future::pending().await,
        }
    }

    /// Announces every VIP led here again: a runner-up that could not reach
    /// us may have taken them over for a moment and handed them back, and
    /// the clients still point at it.
    pub fn announce_again(&self) {
        if let Some(responder) = &self.responder {
            info!("announcing the VIPs led here again: a watching node may have taken them over meanwhile");
            responder.announce_again();
        }
    }

    /// Pings the leaders this node would replace (it is their runner-up),
    /// and keeps pinging those it already replaced while the gossip still
    /// holds them alive, so that it hands back if they answer again.
    pub fn watch_leaders(&self, plan: &L2Plan) {
        let Gossip::Running(g) = &self.gossip else { return };
        let (handle, alive, unresponsive) = (&g.handle, &g.alive, &g.unresponsive);
        let mut watched: BTreeSet<String> = plan
            .vips
            .iter()
            .filter(|v| v.candidates.get(1).is_some_and(|c| *c.node == *plan.node))
            .filter_map(|v| v.candidates.first().map(|c| c.node.to_string()))
            .filter(|leader| *leader != plan.node)
            .collect();
        let alive = alive.borrow();
        watched.extend(unresponsive.borrow().iter().filter(|n| alive.contains(*n)).cloned());
        handle.watch(watched);
    }

    /// Answers for exactly the VIPs `plan` says this node leads, on their
    /// interfaces; the responder starts with the first L2 configuration.
    pub fn converge(&mut self, config: &Config, plan: &L2Plan) {
        if config.l2_advertisements.is_empty() && self.responder.is_none() {
            return;
        }
        let served = served_links(config);
        let mut leadership = Leadership::new();
        for link in served.values() {
            leadership = leadership.serve(&link.name, link.mac);
        }
        for vip in plan.led() {
            let links: Vec<(&str, MacAddr)> = match vip.interfaces() {
                Some(Interfaces::Only(names)) => names
                    .iter()
                    .filter_map(|n| served.get(n.as_str()))
                    .map(|l| (l.name.as_str(), l.mac))
                    .collect(),
                _ => served.values().filter(|l| l.default).map(|l| (l.name.as_str(), l.mac)).collect(),
            };
            if links.is_empty() {
                warn!(vip = %vip.ip, interfaces = ?vip.interfaces().map(ToString::to_string), "leads the VIP but has none of its interfaces");
            }
            for (name, mac) in links {
                leadership = leadership.lead(name, mac, vip.ip);
            }
        }
        self.responder
            .get_or_insert_with(|| Responder::start(ResponderConfig::default()))
            .set_leadership(leadership);
    }

    /// Leaves the gossip group at once (so others take over without waiting
    /// to detect our absence) and stops answering.
    pub async fn leave(self) {
        drop(self.responder);
        if let Gossip::Running(g) = self.gossip {
            g.handle.leave().await;
        }
    }
}

/// A host interface the responder serves.
struct ServedLink {
    name: String,
    mac: MacAddr,
    /// Chosen by default (an advertisement without `interfaces` uses it).
    default: bool,
}

/// The interfaces any L2Advertisement may use here: the default choice and
/// every one named explicitly that exists.
fn served_links(config: &Config) -> BTreeMap<String, ServedLink> {
    let mut out = BTreeMap::new();
    let mut add = |links: Vec<HostLink>, default: bool| {
        for link in links {
            let served = out.entry(link.name.clone()).or_insert(ServedLink {
                name: link.name,
                mac: link.mac,
                default,
            });
            served.default |= default;
        }
    };
    match interfaces_for(&[]) {
        Ok(links) => add(links, true),
        Err(e) => warn!(error = %e, "cannot list this host's interfaces"),
    }
    let named: BTreeSet<String> =
        config.l2_advertisements.iter().flat_map(|a| a.interfaces.iter().cloned()).collect();
    if !named.is_empty() {
        let named: Vec<String> = named.into_iter().collect();
        match interfaces_for(&named) {
            Ok(links) => add(links, false),
            Err(e) => warn!(error = %e, interfaces = ?named, "cannot read the named interfaces"),
        }
    }
    out
}

/// The IPs this node leads in `plan`.
pub fn led_vips(plan: &L2Plan) -> BTreeSet<IpAddr> {
    plan.led().map(|v| v.ip).collect()
}
