//! L2 mode of the node runtime: gossip says which speakers are alive, the L2
//! plan elects one leader per VIP among them, and the leader answers ARP/NDP
//! for it (announcing the takeover) while its host accepts the traffic.
//!
//! ```text
//!   Nodes of the file ──seeds──► MembershipHandle (UDP 7946, SWIM) ──watch: alive──┐
//!                                                                                 ▼
//!   config + allocation ──► announce::plan_l2(alive) ──► VIPs led here ──► Responder (AF_PACKET)
//!                                                                     └──► host accepts (host.rs)
//! ```
//!
//! Gossip starts with the first configuration that has an `L2Advertisement`,
//! bound to this node's InternalIP. If it cannot start, every Node of the
//! file counts as alive (the election stays the same on every node, but
//! there is no failover) and the log says why.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ferrolb_announce::l2::{Interfaces, L2Vip};
use ferrolb_announce::{Alive, L2Plan};
use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_l2::driver::{HostLink, Responder, ResponderConfig, interfaces_for};
use ferrolb_l2::{Leadership, MacAddr};
use ferrolb_membership::driver::{MembershipConfig, MembershipHandle, SECRET_ENV, secret_from};
use ferrolb_membership::{Admitted, Unresponsive};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::internal_ips;

/// How long a starting speaker waits to hear from the other Nodes before it
/// elects leaders with whoever answered (joining takes milliseconds on a LAN).
pub const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a speaker that has just joined waits before electing, so that a
/// node handing a VIP back to it has released it first.
const HANDOVER_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// L2 mode's settings (`run` and `speaker` read them from their command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Options {
    /// UDP port of the gossip between speakers (L2 mode), on every node.
    pub port: u16,
    /// A file holding the gossip's shared secret (or a directory with a
    /// `secretkey` file, as MetalLB's memberlist Secret is mounted); without
    /// it, the FERROLB_MEMBERLIST_SECRET environment variable.
    pub secret_file: Option<PathBuf>,
    /// Announce every VIP led here again this often (gratuitous ARP,
    /// unsolicited NA), for networks whose switches forget; `None`: only at
    /// a takeover, as MetalLB by default.
    pub gratuitous_interval: Option<std::time::Duration>,
}

impl Default for L2Options {
    fn default() -> Self {
        L2Options {
            port: ferrolb_membership::driver::DEFAULT_PORT,
            secret_file: None,
            gratuitous_interval: None,
        }
    }
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
    /// The leaders we watch that stopped answering our pings, with their last answer.
    unresponsive: watch::Receiver<Unresponsive>,
    /// Bumped when a member watching us may have taken over what we lead
    /// (see [`ferrolb_membership::Output::WatcherResumed`]).
    resumed: watch::Receiver<u64>,
    /// The Nodes (and addresses) the gossip admits as members.
    admitted: watch::Sender<Admitted>,
    /// Makes the kernel resolve unreachable speakers again at once; stops with the gossip.
    _resolver: crate::neighbours::Resolver,
}

/// Gossip, and the responder once something is led.
pub struct L2Mode {
    options: L2Options,
    gossip: Gossip,
    responder: Option<Responder>,
    /// When "announcing again" was last logged at info level.
    announced_again_logged: Option<std::time::Instant>,
}

/// At most one info line per this long for defensive re-announcements: a
/// throttled watcher can ask many times a second (the rest go to debug).
const ANNOUNCE_AGAIN_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

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
    pub fn new(options: L2Options) -> L2Mode {
        L2Mode { options, gossip: Gossip::NotStarted, responder: None, announced_again_logged: None }
    }

    /// Starts gossip the first time the configuration uses L2, and waits
    /// (at most [`JOIN_WAIT`]) to hear from the other Nodes of the file: a
    /// speaker that believed itself alone would claim every VIP.
    pub async fn start_gossip_if_needed(&mut self, config: &Config, snapshot: &Snapshot, node: &str) {
        if let Gossip::Running(g) = &mut self.gossip {
            // Nodes come and go: only they, at their addresses, are members.
            let admitted = admitted(snapshot);
            if admitted != *g.admitted.borrow() {
                g.handle.admit(admitted.clone());
                g.admitted.send_replace(admitted);
            }
        }
        if !matches!(self.gossip, Gossip::NotStarted) || config.l2_advertisements.is_empty() {
            return;
        }
        self.gossip = match self.spawn_gossip(config, snapshot, node) {
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
                let admitted = watch::Sender::new(admitted(snapshot));
                let _resolver = crate::neighbours::Resolver::spawn(
                    alive.clone(),
                    handle.unresponsive(),
                    admitted.subscribe(),
                );
                Gossip::Running(Box::new(Gossiping {
                    handle,
                    alive,
                    unresponsive,
                    resumed,
                    admitted,
                    _resolver,
                }))
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

    fn spawn_gossip(
        &self,
        config: &Config,
        snapshot: &Snapshot,
        node: &str,
    ) -> Result<MembershipHandle, String> {
        let own = internal_ips(snapshot, node);
        // IPv4 first, as MetalLB's memberlist binds the first InternalIP it prefers.
        let bind = own
            .iter()
            .find(|ip| ip.is_ipv4())
            .or_else(|| own.first())
            .copied()
            .ok_or_else(|| format!("Node {node} has no InternalIP to gossip from"))?;
        let secret = gossip_secret(&self.options, config)?;
        let mut config = MembershipConfig::new(node, bind);
        config.port = self.options.port;
        config.admitted = Some(admitted(snapshot));
        config.secret = secret;
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
                alive.borrow().iter().filter(|n| !silent.contains_key(*n)).cloned().collect()
            }
            Gossip::NotStarted | Gossip::Failed => Alive::every_node(snapshot),
        }
    }

    /// How long ago `leader`, a leader we watch that stopped answering, last
    /// answered; `None` if it is not one (the gossip alone declared it down).
    pub fn silent_for(&self, leader: &str) -> Option<std::time::Duration> {
        let Gossip::Running(g) = &self.gossip else { return None };
        let heard = *g.unresponsive.borrow().get(leader)?;
        // The gossip's clock is tokio's (paused in tests), as this one.
        Some(tokio::time::Instant::now().into_std().saturating_duration_since(heard))
    }

    /// The speakers the gossip sees alive now; `None` without gossip.
    pub fn members_alive(&self) -> Option<watch::Receiver<BTreeSet<String>>> {
        match &self.gossip {
            Gossip::Running(g) => Some(g.alive.clone()),
            Gossip::NotStarted | Gossip::Failed => None,
        }
    }

    /// What the responder exchanges for each VIP; `None` before it starts.
    pub fn counts(&self) -> Option<ferrolb_l2::driver::Counts> {
        self.responder.as_ref().map(Responder::counts)
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
    pub fn announce_again(&mut self) {
        let Some(responder) = &self.responder else { return };
        const WHY: &str =
            "announcing the VIPs led here again: a watching node may have taken them over meanwhile";
        let now = std::time::Instant::now();
        if self.announced_again_logged.is_none_or(|at| now.duration_since(at) >= ANNOUNCE_AGAIN_LOG_EVERY) {
            self.announced_again_logged = Some(now);
            info!("{WHY} (again within {ANNOUNCE_AGAIN_LOG_EVERY:?}: at debug level)");
        } else {
            tracing::debug!("{WHY}");
        }
        responder.announce_again();
    }

    /// Pings the leaders this node would replace (it is their runner-up),
    /// and keeps pinging those it already replaced while the gossip still
    /// holds them alive, so that it hands back if they answer again.
    pub fn watch_leaders(&self, plan: &L2Plan) {
        let Gossip::Running(g) = &self.gossip else { return };
        g.handle.watch(leaders_to_watch(plan, &g.alive.borrow(), &g.unresponsive.borrow()));
    }

    /// Answers for exactly the VIPs `plan` says this node leads, on their
    /// interfaces; the responder starts with the first L2 configuration.
    pub fn converge(&mut self, config: &Config, plan: &L2Plan) {
        if config.l2_advertisements.is_empty() && self.responder.is_none() {
            return;
        }
        let (leadership, nowhere) = leadership(plan, &served_links(config));
        for vip in nowhere {
            warn!(vip = %vip.ip, interfaces = ?vip.interfaces().map(ToString::to_string), "leads the VIP but has none of its interfaces");
        }
        self.responder
            .get_or_insert_with(|| {
                let mut config = ResponderConfig::default();
                config.announce.periodic = self.options.gratuitous_interval;
                Responder::start(config)
            })
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

/// Who may be a gossip member: every Node of `snapshot` at its InternalIPs.
fn admitted(snapshot: &Snapshot) -> Admitted {
    snapshot
        .nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .map(|name| (name.to_owned(), internal_ips(snapshot, name).into_iter().collect()))
        .collect()
}

/// The gossip's secret: the file given (`--gossip-secret-file`), else the
/// environment variable, else MetalLB's `memberlist` Secret in the
/// configuration; `None` without any (and an error for one that cannot be
/// read or is empty).
pub fn gossip_secret(options: &L2Options, config: &Config) -> Result<Option<Vec<u8>>, String> {
    let given = secret_from(options.secret_file.as_deref(), SECRET_ENV).map_err(|e| e.to_string())?;
    Ok(given.or_else(|| config.gossip_secret.as_ref().map(|s| s.0.clone())))
}

/// The leaders this node watches: those of the VIPs whose runner-up it is
/// (it takes over when they stop answering), and those it already replaced
/// while the gossip still holds them alive (it hands back when they answer).
fn leaders_to_watch(
    plan: &L2Plan,
    alive: &BTreeSet<String>,
    unresponsive: &Unresponsive,
) -> BTreeSet<String> {
    let mut watched: BTreeSet<String> = plan
        .vips
        .iter()
        .filter(|v| v.candidates.get(1).is_some_and(|c| *c.node == *plan.node))
        .filter_map(|v| v.candidates.first().map(|c| c.node.to_string()))
        .filter(|leader| *leader != plan.node)
        .collect();
    watched.extend(unresponsive.keys().filter(|n| alive.contains(*n)).cloned());
    watched
}

/// What the responder answers for: each VIP led here on its interfaces (the
/// default ones when its advertisements name none), every served interface
/// known; and the VIPs led here that have none of their interfaces.
fn leadership<'p>(plan: &'p L2Plan, served: &BTreeMap<String, ServedLink>) -> (Leadership, Vec<&'p L2Vip>) {
    let mut leadership = Leadership::new();
    for link in served.values() {
        leadership = leadership.serve(&link.name, link.mac);
    }
    let mut nowhere = Vec::new();
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
            nowhere.push(vip);
        }
        for (name, mac) in links {
            leadership = leadership.lead(name, mac, vip.ip);
        }
    }
    (leadership, nowhere)
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

/// The leaders this node took VIPs over from in `new`, each with how many:
/// VIPs it leads in `new` that `old` had elected another node for, which
/// is not `alive` now. (A handback, or a configuration that moves VIPs,
/// takes them from live nodes: that is no failover.)
pub fn takeovers(old: &L2Plan, new: &L2Plan, alive: &Alive) -> BTreeMap<Arc<str>, u64> {
    let mut taken: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    for vip in new.led() {
        let before = old.vips_of(&vip.service).find(|v| v.ip == vip.ip);
        let Some(leader) = before.and_then(|v| v.election.leader()) else { continue };
        if *leader.node != *new.node && !alive.contains(&leader.node) {
            *taken.entry(Arc::clone(&leader.node)).or_default() += 1;
        }
    }
    taken
}

/// The IPs this node leads in `plan`.
pub fn led_vips(plan: &L2Plan) -> BTreeSet<IpAddr> {
    plan.led().map(|v| v.ip).collect()
}

#[cfg(test)]
mod tests {
    use ferrolb_announce::Alive;

    use super::*;

    /// Three nodes, one L2Advertisement for everything and one for `named`
    /// on eth1 only, and `services` Services.
    fn plan_of(node: &str, services: usize) -> L2Plan {
        plan_among(node, services, &["n1", "n2", "n3"])
    }

    /// [`plan_of`], elected among the `alive` nodes.
    fn plan_among(node: &str, services: usize, alive: &[&str]) -> L2Plan {
        let mut yaml = String::from(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: lan}\nspec: {addresses: [192.0.2.0/26]}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: named}\nspec: {addresses: [198.51.100.0/26], autoAssign: false}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: lan}\nspec: {ipAddressPools: [lan]}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: named}\nspec: {ipAddressPools: [named], interfaces: [eth1]}\n---\n",
        );
        for n in 1..=3 {
            yaml.push_str(&format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: n{n}}}\nstatus:\n  addresses: [{{type: InternalIP, address: 192.0.2.{}}}]\n---\n",
                100 + n
            ));
        }
        for i in 0..services {
            let pool = if i == 0 { "\n  annotations: {metallb.io/address-pool: named}" } else { "" };
            yaml.push_str(&format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\n  namespace: default{pool}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n---\n"
            ));
        }
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("t.yaml", &yaml);
        let (config, broken) = ferrolb_api::validate::validated(&snapshot, &Default::default());
        assert!(!diagnostics.iter().chain(&broken).any(|d| d.is_error()), "{diagnostics:?} {broken:?}");
        let allocation = ferrolb_ipam::allocate(&config, &snapshot, &Default::default(), &Default::default());
        ferrolb_announce::plan_l2(&config, &snapshot, &allocation, node, &alive.iter().copied().collect())
    }

    fn names(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_node_watches_the_leaders_it_would_replace_and_those_it_replaced_while_alive() {
        let plan = plan_of("n2", 30);
        let expected: BTreeSet<String> = plan
            .vips
            .iter()
            .filter(|v| v.candidates[1].node.as_ref() == "n2")
            .map(|v| v.candidates[0].node.to_string())
            .collect();
        assert!(!expected.is_empty() && !expected.contains("n2"), "{expected:?}");
        let none = Unresponsive::new();
        assert_eq!(leaders_to_watch(&plan, &names(&["n1", "n2", "n3"]), &none), expected);
        // Replaced but still alive in the gossip: watched to hand back; gone: not.
        let heard = std::time::Instant::now();
        let all: Unresponsive = ["n1", "n3"].map(|n| (n.to_owned(), heard)).into();
        let watched = leaders_to_watch(&plan, &names(&["n1", "n2"]), &all);
        assert!(
            watched.contains("n1")
                && watched.is_superset(&expected.iter().filter(|n| *n != "n3").cloned().collect())
        );
        assert_eq!(watched.contains("n3"), expected.contains("n3"));
    }

    #[test]
    fn a_node_takes_over_from_a_dead_leader_only() {
        let all = ["n1", "n2", "n3"];
        let before = plan_of("n2", 30);
        let n1_led = before.vips.iter().filter(|v| v.election.leader().unwrap().node.as_ref() == "n1");
        let to_n2 = n1_led.filter(|v| v.candidates[1].node.as_ref() == "n2").count() as u64;
        assert!(to_n2 > 0, "n2 is runner-up of none of n1's VIPs");
        // n1 dies: n2 takes over the VIPs whose runner-up it was, from n1.
        let after = plan_among("n2", 30, &["n2", "n3"]);
        let alive: Alive = ["n2", "n3"].into_iter().collect();
        let taken = takeovers(&before, &after, &alive);
        assert_eq!(taken.into_iter().collect::<Vec<_>>(), [(Arc::from("n1"), to_n2)]);
        // The same VIPs moved to n2 while n1 is alive (as a configuration
        // that leaves n1 out moves them): no failover.
        let every: Alive = all.into_iter().collect();
        assert!(takeovers(&before, &after, &every).is_empty());
        // n1 comes back: n2 hands back, and takes over nothing.
        assert!(takeovers(&after, &plan_of("n2", 30), &every).is_empty());
        // A Service added or the same plan again: nothing taken from anyone.
        assert!(takeovers(&before, &plan_of("n2", 31), &every).is_empty());
        // Unchanged while n1 is gone: no takeover counted twice.
        assert!(takeovers(&after, &after, &alive).is_empty());
    }

    #[test]
    fn a_led_vip_is_answered_on_its_interfaces_and_one_with_none_here_is_reported() {
        let mac = |last: u8| MacAddr([2, 0, 0, 0, 0, last]);
        let link = |name: &str, last: u8, default: bool| {
            (name.to_owned(), ServedLink { name: name.to_owned(), mac: mac(last), default })
        };
        let served: BTreeMap<String, ServedLink> = [link("eth0", 1, true), link("eth1", 2, false)].into();
        // The node that leads the named pool's VIP.
        let plan = ["n1", "n2", "n3"]
            .map(|n| plan_of(n, 12))
            .into_iter()
            .find(|p| p.led().any(|v| v.pool.as_ref() == "named"))
            .unwrap();
        let (answers, nowhere) = leadership(&plan, &served);
        assert!(nowhere.is_empty());
        for vip in plan.led() {
            let on_eth1 = vip.pool.as_ref() == "named";
            assert_eq!(answers.leads("eth1", vip.ip), on_eth1, "{}", vip.ip);
            assert_eq!(answers.leads("eth0", vip.ip), !on_eth1, "{}", vip.ip);
        }
        // Without eth1 here, a VIP of the named pool is led nowhere, and said so.
        let only_eth0: BTreeMap<String, ServedLink> = [link("eth0", 1, true)].into();
        let named_leader =
            ["n1", "n2", "n3"].map(|n| plan_of(n, 1)).into_iter().find(|p| p.led().count() == 1).unwrap();
        let (answers, nowhere) = leadership(&named_leader, &only_eth0);
        assert_eq!(nowhere.len(), 1);
        assert!(!answers.leads("eth0", nowhere[0].ip));
    }
}
