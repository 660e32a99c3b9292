//! What this node does, for whoever asks while it does it (`/metrics`,
//! `ferrolb status`): the runtime records where to look (its sessions'
//! status channels, the plans in force, the responder's counts, the
//! gossip's members) each time they change, and an observer reads them at
//! that moment, from another task.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use ferrolb_announce::{BgpPlan, L2Plan};
use ferrolb_bfd::State as BfdState;
use ferrolb_metrics::{Announced, BfdSession, BgpSession, Configuration, Layer2, Messages, Speaker};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::bgp::SessionView;

/// A window on a node's runtime; cloned to every observer.
#[derive(Clone, Debug, Default)]
pub struct Observed(Arc<Mutex<Observation>>);

/// Where to look.
#[derive(Clone, Debug, Default)]
struct Observation {
    node: String,
    sessions: Vec<SessionView>,
    l2: Option<Arc<L2Plan>>,
    bgp: Option<Arc<BgpPlan>>,
    l2_counts: Option<ferrolb_l2::driver::Counts>,
    alive: Option<watch::Receiver<BTreeSet<String>>>,
    configuration: Configuration,
    /// Why the last configuration was refused, until one is taken.
    refused_because: Option<String>,
    /// The pools' counts, where this node allocates (`ferrolb run`).
    pools: Vec<ferrolb_metrics::Pool>,
    /// How long its plans took.
    plans: ferrolb_metrics::Plans,
    /// Its L2 takeovers.
    failovers: ferrolb_metrics::Failovers,
}

impl Observed {
    /// A window on the runtime of `node`, which shows nothing yet.
    pub fn new(node: &str) -> Observed {
        let observed = Observed::default();
        observed.update(|o| o.node = node.to_owned());
        observed
    }

    fn update(&self, change: impl FnOnce(&mut Observation)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn read(&self) -> Observation {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The runtime announces these plans, with these sessions, responder and gossip.
    pub(crate) fn runtime(
        &self,
        plans: (Option<Arc<L2Plan>>, Option<Arc<BgpPlan>>),
        sessions: Vec<SessionView>,
        l2_counts: Option<ferrolb_l2::driver::Counts>,
        alive: Option<watch::Receiver<BTreeSet<String>>>,
    ) {
        self.update(|o| {
            (o.l2, o.bgp) = plans;
            o.sessions = sessions;
            o.l2_counts = l2_counts;
            o.alive = alive;
        });
    }

    /// Lets go of the plans shown, so that the runtime holds the only
    /// reference and can patch them in place (an edit of a few Services);
    /// the next [`Observed::runtime`] shows the patched ones. (An observer
    /// reading at that moment keeps its copy: the runtime then plans anew.)
    pub(crate) fn release_plans(&self) {
        self.update(|o| (o.l2, o.bgp) = (None, None));
    }

    /// A plan of `kind` (`bgp`, `l2`, `allocation`) took `took`.
    pub fn planned(&self, kind: &'static str, took: std::time::Duration) {
        self.update(|o| o.plans.planned(kind, took));
    }

    /// This node took over `vips` VIPs from a leader that stopped
    /// answering, `outage` after its last answer when it watched it.
    pub fn took_over(&self, vips: u64, outage: Option<std::time::Duration>) {
        self.update(|o| o.failovers.took_over(vips, outage));
    }

    /// This node allocated: the pools' counts (`ferrolb run` allocates; a speaker does not).
    pub fn allocated(&self, allocation: &ferrolb_ipam::Allocation) {
        let pools = ferrolb_metrics::pools(&allocation.pools);
        self.update(|o| o.pools = pools);
    }

    /// A configuration was taken into force: the `generation`-th.
    pub fn configuration_taken(&self, generation: u64) {
        self.update(|o| {
            o.configuration.taken(generation);
            o.refused_because = None;
        });
    }

    /// A configuration was refused, `because`: the last one taken keeps
    /// running, and is now stale.
    pub fn configuration_refused(&self, because: String) {
        self.update(|o| {
            o.configuration.refused();
            o.refused_because = Some(because);
        });
    }

    /// What the node does now, for `ferrolb status`.
    pub fn status(&self) -> NodeStatus {
        let o = self.read();
        let now = SystemTime::now();
        let sessions = o
            .sessions
            .iter()
            .map(|session| {
                let status = session.status.borrow();
                SessionStatus {
                    peer: session.peer.clone(),
                    address: session.address.to_string(),
                    state: format!("{:?}", status.state),
                    established_secs: status
                        .established_since
                        .and_then(|since| now.duration_since(since).ok())
                        .map(|d| d.as_secs()),
                    prefixes_sent: status.advertised_prefixes,
                    prefixes_wanted: status.desired_prefixes,
                    last_error: status.last_error.clone(),
                    bfd: session.bfd.as_ref().map(|view| {
                        let bfd = view.state.borrow();
                        BfdStatus {
                            state: bfd.state.to_string(),
                            last_down: bfd.last_down.map(|d| d.to_string()),
                            downs: bfd.downs,
                        }
                    }),
                }
            })
            .collect();
        NodeStatus {
            node: o.node.clone(),
            configuration: ConfigurationStatus {
                generation: o.configuration.generation,
                loaded: o.configuration.loaded,
                stale: o.configuration.stale,
                refused_because: o.refused_because.clone(),
            },
            sessions,
            vips: vips(o.l2.as_deref(), o.bgp.as_deref()),
            members: o.alive.as_ref().map(|a| a.borrow().iter().cloned().collect()),
        }
    }

    /// What the node does now, as metrics.
    pub fn metrics(&self) -> Speaker {
        let o = self.read();
        let mut speaker = Speaker {
            node: o.node.clone(),
            configuration: o.configuration.clone(),
            gossip_members_alive: o.alive.as_ref().map(|a| a.borrow().len() as u64),
            layer2_without_leader: o.l2.as_deref().map(without_leader),
            layer2_failovers: o.l2.as_ref().map(|_| o.failovers.clone()),
            pools: o.pools.clone(),
            plans: o.plans.clone(),
            ..Speaker::default()
        };
        for session in &o.sessions {
            let status = session.status.borrow();
            let messages = |m: &ferrolb_bgp::status::MessageCounts| Messages {
                opens: m.opens,
                updates: m.updates,
                notifications: m.notifications,
                keepalives: m.keepalives,
                route_refreshes: m.route_refreshes,
            };
            speaker.bgp.push(BgpSession {
                peer: session.address.to_string(),
                up: status.is_up(),
                sent: messages(&status.sent),
                received: messages(&status.received),
                announced_prefixes: status.advertised_prefixes as u64,
                pending_prefixes: status.desired_prefixes as u64,
            });
            if let Some(view) = &session.bfd {
                let bfd = view.state.borrow();
                let up = bfd.state == BfdState::Up;
                let packets = view.packets.get();
                // Each time it left Up it had come Up once: the Ups are the Downs, and one more while Up.
                speaker.bfd.push(BfdSession {
                    peer: view.peer.to_string(),
                    up,
                    up_events: bfd.downs + u64::from(up),
                    down_events: bfd.downs,
                    control_packets_received: packets.received,
                    control_packets_sent: packets.sent,
                });
            }
        }
        speaker.announced = announced(o.l2.as_deref(), o.bgp.as_deref());
        if let Some(counts) = &o.l2_counts {
            speaker.layer2 = counts
                .snapshot()
                .into_iter()
                .map(|(ip, c)| Layer2 {
                    ip: ip.to_string(),
                    requests_received: c.requests_received,
                    responses_sent: c.responses_sent,
                    gratuitous_sent: c.gratuitous_sent,
                })
                .collect();
        }
        speaker
    }
}

/// What one node does, as `ferrolb status` shows it (also its JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub node: String,
    /// The configuration in force.
    pub configuration: ConfigurationStatus,
    /// The BGP sessions, by peer.
    pub sessions: Vec<SessionStatus>,
    /// Every VIP this node has a part in, by Service then address.
    pub vips: Vec<VipStatus>,
    /// The speakers the L2 gossip sees alive; `None` without gossip.
    pub members: Option<Vec<String>>,
}

/// The configuration in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigurationStatus {
    /// How many configurations were taken into force.
    pub generation: u64,
    /// One was taken at least once.
    pub loaded: bool,
    /// The last one was refused: the one before runs.
    pub stale: bool,
    /// Why the last one was refused, until one is taken.
    pub refused_because: Option<String>,
}

/// One BGP session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The `BGPPeer`.
    pub peer: String,
    /// The peer's address and port.
    pub address: String,
    /// The FSM's state (`Established`, `Active`...).
    pub state: String,
    /// For how long it has been Established, in seconds.
    pub established_secs: Option<u64>,
    /// Prefixes advertised to the peer.
    pub prefixes_sent: usize,
    /// Prefixes the peer should have.
    pub prefixes_wanted: usize,
    /// Why the last session ended or could not start.
    pub last_error: Option<String>,
    /// The BFD session watching its path, if the peer has a `bfdProfile`.
    pub bfd: Option<BfdStatus>,
}

/// A BFD session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdStatus {
    /// `Up`, `Down`, `Init` or `AdminDown`.
    pub state: String,
    /// Why it last left Up.
    pub last_down: Option<String>,
    /// How many times it left Up.
    pub downs: u64,
}

/// One VIP of a Service, and what this node does with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipStatus {
    /// The Service, `namespace/name`.
    pub service: String,
    /// The VIP.
    pub ip: IpAddr,
    /// In L2 mode: who answers ARP/NDP for it.
    pub l2: Option<L2Status>,
    /// In BGP mode: to which peer it goes, or why not, per peer (`*`: every peer).
    pub bgp: Vec<BgpStatus>,
}

/// A VIP's L2 election, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct L2Status {
    /// The pool it comes from.
    pub pool: String,
    /// The node that answers for it; `None` when none can.
    pub leader: Option<String>,
    /// Whether this node answers for it.
    pub here: bool,
    /// The interfaces this node answers on (`all`), when it leads.
    pub interfaces: Option<String>,
    /// This node's part, and why.
    pub reason: String,
}

/// Whether a VIP goes to one peer, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpStatus {
    /// The `BGPPeer`, or `*` when the reason holds for every peer.
    pub peer: String,
    /// Whether the VIP is announced to it.
    pub announced: bool,
    /// Why.
    pub reason: String,
}

/// Every VIP of the plans, with its L2 election and its BGP decisions.
fn vips(l2: Option<&L2Plan>, bgp: Option<&BgpPlan>) -> Vec<VipStatus> {
    let mut all: BTreeMap<(String, IpAddr), VipStatus> = BTreeMap::new();
    fn entry<'a>(
        all: &'a mut BTreeMap<(String, IpAddr), VipStatus>,
        service: &str,
        ip: IpAddr,
    ) -> &'a mut VipStatus {
        all.entry((service.to_owned(), ip)).or_insert_with(|| VipStatus {
            service: service.to_owned(),
            ip,
            l2: None,
            bgp: Vec::new(),
        })
    }
    for vip in l2.into_iter().flat_map(|p| &p.vips) {
        entry(&mut all, &vip.service, vip.ip).l2 = Some(L2Status {
            pool: vip.pool.to_string(),
            leader: vip.election.leader().map(|l| l.node.to_string()),
            here: vip.leads(),
            interfaces: vip.interfaces().map(ToString::to_string),
            reason: vip.reason.to_string(),
        });
    }
    for decision in bgp.into_iter().flat_map(|p| &p.decisions) {
        entry(&mut all, &decision.service, decision.ip).bgp.push(BgpStatus {
            peer: decision.peer.as_deref().unwrap_or("*").to_owned(),
            announced: decision.announced(),
            reason: decision.reason.to_string(),
        });
    }
    all.into_values().collect()
}

/// The VIPs of `plan` that no node leads (an IP shared by Services counts once).
fn without_leader(plan: &L2Plan) -> u64 {
    let ips: BTreeSet<IpAddr> =
        plan.vips.iter().filter(|v| v.election.leader().is_none()).map(|v| v.ip).collect();
    ips.len() as u64
}

/// Every (Service, protocol, VIP) announced from this node: the VIPs it
/// leads in L2, and those it sends at least one BGP peer it has a session with.
fn announced(l2: Option<&L2Plan>, bgp: Option<&BgpPlan>) -> Vec<Announced> {
    let mut out: BTreeSet<(String, &'static str, String)> = BTreeSet::new();
    for vip in l2.into_iter().flat_map(L2Plan::led) {
        out.insert((vip.service.clone(), "layer2", vip.ip.to_string()));
    }
    if let Some(bgp) = bgp {
        let with_session: BTreeSet<&str> =
            bgp.peers.iter().filter(|p| p.has_session()).map(|p| p.peer.as_str()).collect();
        for decision in bgp.decisions.iter().filter(|d| d.announced()) {
            let to_a_session = match &decision.peer {
                Some(peer) => with_session.contains(&**peer),
                None => !with_session.is_empty(),
            };
            if to_a_session {
                out.insert((decision.service.to_string(), "bgp", decision.ip.to_string()));
            }
        }
    }
    out.into_iter().map(|(service, protocol, ip)| Announced { service, protocol, ip }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2}
spec: {addresses: [198.51.100.200/32]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp}
spec: {addresses: [203.0.113.10/32]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
spec: {ipAddressPools: [l2]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp}
spec: {ipAddressPools: [bgp]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status: {addresses: [{type: InternalIP, address: 192.0.2.11}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, annotations: {metallb.io/address-pool: l2}}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default, annotations: {metallb.io/address-pool: bgp}}
spec: {type: LoadBalancer, ports: [{port: 80}]}
";

    fn plans() -> (L2Plan, BgpPlan) {
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("cluster.yaml", CLUSTER);
        assert!(!diagnostics.iter().any(ferrolb_api::Diagnostic::is_error), "{diagnostics:?}");
        let (config, broken) = ferrolb_api::validate::validated(&snapshot, &Default::default());
        assert!(!broken.iter().any(ferrolb_api::Diagnostic::is_error), "{broken:?}");
        let allocation = ferrolb_ipam::allocate(&config, &snapshot, &Default::default(), &Default::default());
        let alive = ferrolb_announce::Alive::every_node(&snapshot);
        let l2 = ferrolb_announce::plan_l2(&config, &snapshot, &allocation, "node1", &alive);
        let bgp = ferrolb_announce::plan_bgp(&config, &snapshot, &allocation, "node1");
        (l2, bgp)
    }

    #[test]
    fn the_vips_announced_are_those_led_and_those_sent_to_a_session() {
        let (l2, bgp) = plans();
        let announced = announced(Some(&l2), Some(&bgp));
        let got: Vec<(&str, &str, &str)> =
            announced.iter().map(|a| (a.service.as_str(), a.protocol, a.ip.as_str())).collect();
        assert_eq!(
            got,
            [("default/api", "bgp", "203.0.113.10"), ("default/web", "layer2", "198.51.100.200")]
        );
    }

    #[test]
    fn the_metrics_show_the_plans_in_force_and_the_node() {
        let (l2, bgp) = plans();
        let observed = Observed::new("node1");
        observed.runtime((Some(Arc::new(l2)), Some(Arc::new(bgp))), Vec::new(), None, None);
        let text = observed.metrics().render();
        assert!(
            text.contains(
                "metallb_speaker_announced{ip=\"203.0.113.10\",node=\"node1\",protocol=\"bgp\",service=\"default/api\"} 1"
            ),
            "{text}"
        );
        assert!(!text.contains("ferrolb_gossip_members_alive"), "{text}");
        assert!(text.contains("ferrolb_layer2_vips_without_leader 0"), "{text}");
    }

    #[test]
    fn the_status_gives_each_vip_its_election_and_its_peers() {
        let (l2, bgp) = plans();
        let observed = Observed::new("node1");
        observed.runtime((Some(Arc::new(l2)), Some(Arc::new(bgp))), Vec::new(), None, None);
        observed.configuration_taken(1);
        observed.configuration_refused("cluster.yaml:3: bad".into());
        let status = observed.status();
        assert_eq!(status.node, "node1");
        assert!(status.configuration.stale);
        assert_eq!(status.configuration.refused_because.as_deref(), Some("cluster.yaml:3: bad"));
        let web = status.vips.iter().find(|v| v.service == "default/web").unwrap();
        let l2 = web.l2.as_ref().unwrap();
        assert_eq!(
            (l2.leader.as_deref(), l2.here, l2.interfaces.as_deref()),
            (Some("node1"), true, Some("all"))
        );
        let api = status.vips.iter().find(|v| v.service == "default/api").unwrap();
        assert!(api.l2.is_none());
        assert_eq!(api.bgp.len(), 1, "{api:?}");
        assert!(api.bgp[0].announced, "{api:?}");
        // A new configuration clears the reason.
        observed.configuration_taken(2);
        assert_eq!(observed.status().configuration.refused_because, None);
    }
}
