//! The BGP sessions of this node: one per `BGPPeer` whose nodeSelectors
//! select it, each told the routes of the node's plan; and for a peer with a
//! `bfdProfile`, a BFD session that watches its forwarding path.
//!
//! ```text
//!   converge ─► PeerHandle (BGP task) ◄─ PathGate ─ follower task ◄─ watch<PeerState> ─ Bfd
//!                                        up / down   (one per peer)                    (one per node)
//! ```
//!
//! BFD Down after having been Up closes the BGP session (Cease / BFD Down,
//! RFC 9384) and keeps it closed until BFD is Up again. A BFD session brought
//! Down because the peer put it in AdminDown is not a path failure (RFC 5882
//! §3.2): the BGP session stays.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU8;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_announce::{BfdPlan, BgpPlan, PeerRoutesChange};
use ferrolb_api::config::{Config, Peer, PeerAddress};
use ferrolb_api::metallb::DynamicAsnMode;
use ferrolb_bfd::driver::{Bfd, PacketCounter, PeerKey, PeerState};
use ferrolb_bgp::driver::{Listener, PathGate, PeerHandle, PeerSpec, Routes, RoutesPatch};
use ferrolb_bgp::fsm::{PeerAs, SessionConfig};
use ferrolb_bgp::message::{Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily};
use ferrolb_bgp::routes::RouteAttributes;
use ferrolb_bgp::{AfiSafi, RouterId};
use ferrolb_types::BgpCommunity;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::announcer::Stop;

/// How long SIGTERM waits for each NOTIFICATION to leave.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// A BGP session this node keeps.
struct Running {
    spec: PeerSpec,
    handle: PeerHandle,
    /// The BFD session watching its path, when the peer has a `bfdProfile`.
    bfd: Option<PathWatch>,
}

/// One BFD session, and the task that tells a BGP session what it sees.
struct PathWatch {
    key: PeerKey,
    config: ferrolb_bfd::SessionConfig,
    state: watch::Receiver<PeerState>,
    packets: PacketCounter,
    follower: JoinHandle<()>,
}

impl Drop for PathWatch {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// One session as an observer reads it: its `BGPPeer`, where it goes, and
/// what it and its BFD session have done so far (kept current).
#[derive(Clone, Debug)]
pub struct SessionView {
    /// The `BGPPeer`'s name.
    pub peer: String,
    /// The peer's address and port.
    pub address: SocketAddr,
    /// What the session has done.
    pub status: watch::Receiver<ferrolb_bgp::status::PeerStatus>,
    /// The BFD session watching the path.
    pub bfd: Option<BfdView>,
}

/// A BFD session as an observer reads it (kept current).
#[derive(Clone, Debug)]
pub struct BfdView {
    /// The peer's address.
    pub peer: IpAddr,
    /// Its state.
    pub state: watch::Receiver<PeerState>,
    /// Its Control packets so far.
    pub packets: PacketCounter,
}

/// The BFD session a peer wants: with whom, from where, and its timers.
type WantedBfd = (PeerKey, ferrolb_bfd::SessionConfig);

/// The sessions this node keeps, by `BGPPeer` name.
#[derive(Default)]
pub struct BgpSessions {
    running: HashMap<String, Running>,
    /// The node's BFD sessions, started with the first peer that has a `bfdProfile`.
    bfd: Option<Bfd>,
    /// Accepts the connections peers open to us (RFC 4271 §8: BGP is both active and passive).
    listener: Option<Listener>,
    /// The port to listen on, bound when the first session is wanted: a node
    /// without BGP peers opens no port.
    listen_port: Option<u16>,
}

impl BgpSessions {
    /// Sessions that also accept their peers' connections on `port` (of
    /// every address); if it cannot be bound they only connect out.
    pub fn listening(port: u16) -> BgpSessions {
        BgpSessions { running: HashMap::new(), bfd: None, listener: None, listen_port: Some(port) }
    }

    /// Keeps a session with every peer the plan has one with (a peer the
    /// node cannot peer with is a reason in the plan, not a session), with
    /// the plan's routes; stops the others. A peer whose settings changed is
    /// restarted. A peer with a `bfdProfile` gets a BFD session from the
    /// address the plan gives it ([`BfdPlan::local`]).
    pub async fn converge(&mut self, config: &Config, plan: &BgpPlan) {
        let mut wanted: HashMap<String, (PeerSpec, Routes, Option<WantedBfd>)> = HashMap::new();
        for planned in plan.peers.iter().filter(|p| p.has_session()) {
            let Some(peer) = config.peer(&planned.peer) else { continue };
            let Some(spec) = planned.router_id.and_then(|id| peer_spec(peer, id)) else { continue };
            let routes = Arc::new(planned.routes.iter().map(|r| (r.prefix, attributes(r))).collect());
            wanted.insert(planned.peer.clone(), (spec, routes, bfd_session(peer, planned.bfd.as_ref())));
        }
        let gone: Vec<String> = self
            .running
            .iter()
            .filter(|(name, running)| wanted.get(*name).is_none_or(|(w, _, _)| *w != running.spec))
            .map(|(name, _)| name.clone())
            .collect();
        // A session restarted for a change of its own keeps its BFD session.
        let mut kept_bfd: HashMap<String, PathWatch> = HashMap::new();
        for name in gone {
            if let Some(mut running) = self.running.remove(&name) {
                if let Some(watch) = running.bfd.take() {
                    if wanted.contains_key(&name) {
                        kept_bfd.insert(name.clone(), watch);
                    } else {
                        self.unwatch(&name, watch);
                    }
                }
                info!(peer = %name, "stopping session");
                running.handle.shutdown("peer configuration changed", SHUTDOWN_GRACE).await;
            }
        }
        for (name, (spec, routes, bfd)) in wanted {
            let (mut running, watch, new) = match self.running.remove(&name) {
                Some(mut running) => {
                    running.handle.set_routes(routes);
                    let watch = running.bfd.take();
                    (running, watch, false)
                }
                None => {
                    info!(peer = %name, address = %spec.address, "starting session");
                    if self.listener.is_none()
                        && let Some(port) = self.listen_port.take()
                    {
                        self.listener = Some(Listener::bind(port));
                    }
                    let handle = match &self.listener {
                        Some(listener) => listener.spawn(spec.clone(), routes),
                        None => PeerHandle::spawn(spec.clone(), routes),
                    };
                    (Running { spec, handle, bfd: None }, kept_bfd.remove(&name), true)
                }
            };
            running.bfd = self.rewatch(&name, watch, bfd, &running.handle, new);
            self.running.insert(name, running);
        }
        for (name, watch) in kept_bfd {
            self.unwatch(&name, watch);
        }
    }

    /// Every session kept, with what it has done so far.
    pub fn sessions(&self) -> Vec<SessionView> {
        let mut all: Vec<SessionView> = self
            .running
            .iter()
            .map(|(name, running)| SessionView {
                peer: name.clone(),
                address: running.spec.address,
                status: running.handle.status(),
                bfd: running.bfd.as_ref().map(|w| BfdView {
                    peer: w.key.peer,
                    state: w.state.clone(),
                    packets: w.packets.clone(),
                }),
            })
            .collect();
        all.sort_by(|a, b| a.peer.cmp(&b.peer));
        all
    }

    /// The BFD session of `name` after a change: `current` kept (its timers changed in
    /// place, with a Poll Sequence while Up), or replaced by `wanted`, or gone. Its
    /// follower tells `handle`'s session; a `new_session` gets a new follower.
    fn rewatch(
        &mut self,
        name: &str,
        current: Option<PathWatch>,
        wanted: Option<WantedBfd>,
        handle: &PeerHandle,
        new_session: bool,
    ) -> Option<PathWatch> {
        match (current, wanted) {
            (Some(mut watch), Some((key, config))) if watch.key == key => {
                if watch.config != config {
                    match self.bfd.as_ref().map(|bfd| bfd.reconfigure(key, config)) {
                        Some(Ok(())) => {
                            info!(peer = %name, rx = ?config.required_min_rx, tx = ?config.desired_min_tx,
                                multiplier = config.detect_multiplier, "BFD session reconfigured");
                            watch.config = config;
                        }
                        Some(Err(e)) => warn!(peer = %name, error = %e, "BFD session not reconfigured"),
                        None => {}
                    }
                }
                if new_session {
                    watch.follower.abort();
                    watch.follower =
                        tokio::spawn(follow(name.to_owned(), watch.state.clone(), handle.path_gate()));
                }
                Some(watch)
            }
            (current, wanted) => {
                if let Some(watch) = current {
                    self.unwatch(name, watch);
                    handle.set_path_up(true);
                }
                let (key, config) = wanted?;
                self.watch(name, key, config, handle.path_gate())
            }
        }
    }

    /// Starts a BFD session (and the node's BFD on first use) whose state `gate` follows.
    fn watch(
        &mut self,
        name: &str,
        key: PeerKey,
        config: ferrolb_bfd::SessionConfig,
        gate: PathGate,
    ) -> Option<PathWatch> {
        if self.bfd.is_none() {
            let all = [IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)];
            let one = if key.peer.is_ipv4() { &all[..1] } else { &all[1..] };
            // A host without IPv6 still runs IPv4 BFD (and the other way round).
            match Bfd::spawn(&all).or_else(|_| Bfd::spawn(one)) {
                Ok(bfd) => self.bfd = Some(bfd),
                Err(e) => {
                    warn!(peer = %name, error = %e, "BFD cannot start; the session runs without BFD");
                    return None;
                }
            }
        }
        let bfd = self.bfd.as_ref()?;
        match bfd.add_peer(key, config) {
            Ok(state) => {
                info!(peer = %name, bfd_peer = %key.peer, local = %key.local, multihop = key.multihop,
                    rx = ?config.required_min_rx, tx = ?config.desired_min_tx,
                    multiplier = config.detect_multiplier, passive = config.passive, "BFD session added");
                let follower = tokio::spawn(follow(name.to_owned(), state.clone(), gate));
                let packets = bfd.packets(key).unwrap_or_default();
                Some(PathWatch { key, config, state, packets, follower })
            }
            Err(e) => {
                warn!(peer = %name, error = %e, "BFD session not added; the session runs without BFD");
                None
            }
        }
    }

    /// Ends a BFD session (its peer is told AdminDown, which closes nothing there).
    fn unwatch(&mut self, name: &str, watch: PathWatch) {
        if let Some(bfd) = &self.bfd
            && let Err(e) = bfd.remove_peer(watch.key)
        {
            warn!(peer = %name, error = %e, "BFD session not removed");
        }
        info!(peer = %name, bfd_peer = %watch.key.peer, "BFD session removed");
    }

    /// Tells each peer with a session what changed in its routes (`changes`,
    /// in the order of `plan`'s peers), when nothing but the routes changed.
    pub fn patch(&self, plan: &BgpPlan, changes: &[PeerRoutesChange]) {
        for (peer, change) in plan.peers.iter().zip(changes) {
            let Some(Running { handle, .. }) = self.running.get(&peer.peer) else { continue };
            let patch = RoutesPatch {
                withdrawn: change.withdrawn.clone(),
                announced: change.announced.iter().map(|r| (r.prefix, attributes(r))).collect(),
            };
            if !patch.is_empty() {
                handle.patch_routes(patch);
            }
        }
    }

    /// Closes every session with a Cease / Administrative Shutdown, which
    /// withdraws every route at once; unless [`Stop::Final`], a session whose
    /// peer keeps our routes across a restart (graceful restart) is closed
    /// without one.
    pub async fn shutdown(&mut self, stop: Stop) {
        let mut handles = Vec::new();
        for (_, running) in self.running.drain() {
            // The followers stop first: BFD going away below must close nothing.
            drop(running.bfd);
            handles.push(running.handle);
        }
        let stops = handles.into_iter().map(|h| async move {
            match stop {
                Stop::Final => h.shutdown("ferrolb is stopping", SHUTDOWN_GRACE).await,
                Stop::PodStop | Stop::Restart => {
                    h.stop_for_restart("ferrolb is stopping", SHUTDOWN_GRACE).await;
                }
            }
        });
        futures_util::future::join_all(stops).await;
        // The BFD peers are told AdminDown (RFC 5880 §6.8.16), which closes nothing there.
        if let Some(bfd) = self.bfd.take() {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, bfd.shutdown()).await;
        }
    }
}

/// The BFD session `peer` wants, if its `bfdProfile` names one: single-hop, or
/// multihop with `ebgpMultiHop`, from `sourceAddress` or the node's address of
/// the peer's family; `None` (and a warning) when the node has no such address.
fn bfd_session(peer: &Peer, planned: Option<&BfdPlan>) -> Option<WantedBfd> {
    let BfdPlan { profile, local } = planned?;
    let PeerAddress::Ip(address) = peer.address else { return None };
    let Some(local) = *local else {
        warn!(peer = %peer.name, bfd_profile = %profile.name,
            "no sourceAddress and no node address of the peer's family: the session runs without BFD");
        return None;
    };
    let config = ferrolb_bfd::SessionConfig {
        desired_min_tx: profile.transmit_interval,
        required_min_rx: profile.receive_interval,
        detect_multiplier: NonZeroU8::new(profile.detect_multiplier)
            .unwrap_or(ferrolb_bfd::SessionConfig::default().detect_multiplier),
        passive: profile.passive,
        minimum_ttl: profile.minimum_ttl,
    };
    Some((PeerKey { peer: address.to_canonical(), local, multihop: peer.ebgp_multi_hop }, config))
}

/// Tells `gate` what the BFD session of `peer` shows, as [`decide`] says.
async fn follow(peer: String, mut bfd: watch::Receiver<PeerState>, gate: PathGate) {
    let mut seen_up = false;
    loop {
        let state = *bfd.borrow_and_update();
        match decide(&mut seen_up, gate.is_up(), &state) {
            PathChange::Up => {
                info!(peer, "BFD up: forwarding path up, BGP session starts");
                gate.set_up(true);
            }
            PathChange::Down => {
                let reason = state.last_down.unwrap_or(state.diagnostic);
                warn!(peer, reason = %reason, bfd_state = ?state.state,
                    "BFD down: closing the BGP session (Cease / BFD Down)");
                gate.set_up(false);
            }
            PathChange::PeerAdminDown => {
                info!(peer, bfd_state = ?state.state,
                    "BFD down because the peer put it in AdminDown: BGP session kept (RFC 5882 §3.2)");
            }
            PathChange::None => {}
        }
        if bfd.changed().await.is_err() {
            return; // the BFD session is gone
        }
    }
}

/// What a BFD state means for the BGP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathChange {
    /// Nothing to tell.
    None,
    /// Open the session again.
    Up,
    /// Close it.
    Down,
    /// Down, but by the peer's AdminDown: keep it.
    PeerAdminDown,
}

/// What `state` means for a BGP session last told the path is `path_up`:
/// Down after having been Up (`seen_up`, updated here) closes it, Up opens it
/// again. A Down the peer signalled with AdminDown is its operator's doing,
/// not a path failure (RFC 5882 §3.2).
fn decide(seen_up: &mut bool, path_up: bool, state: &PeerState) -> PathChange {
    use ferrolb_bfd::State;
    if state.state == State::Up {
        *seen_up = true;
        return if path_up { PathChange::None } else { PathChange::Up };
    }
    if !*seen_up || !path_up {
        return PathChange::None;
    }
    *seen_up = false;
    if state.remote_state == State::AdminDown { PathChange::PeerAdminDown } else { PathChange::Down }
}

fn attributes(route: &ferrolb_announce::Route) -> RouteAttributes {
    let mut out = RouteAttributes { local_pref: route.local_pref, ..RouteAttributes::default() };
    for community in &route.communities {
        match community {
            BgpCommunity::Standard(c) => out.communities.push(*c),
            BgpCommunity::Large(l) => out.large_communities.push(*l),
        }
    }
    out.communities.sort();
    out.large_communities.sort();
    out
}

/// How to reach `peer` presenting `router_id` (the plan's: the peer's
/// `routerID`, else the node's IPv4 InternalIP); `None` for an unnumbered
/// peer, which the plan gives no session (`SessionReason::Unusable`).
pub fn peer_spec(peer: &Peer, router_id: RouterId) -> Option<PeerSpec> {
    let PeerAddress::Ip(address) = peer.address else { return None };
    let peer_as = match peer.peer_as {
        ferrolb_api::config::PeerAs::Fixed(asn) => PeerAs::Fixed(asn),
        ferrolb_api::config::PeerAs::Dynamic(DynamicAsnMode::Internal) => PeerAs::Internal,
        ferrolb_api::config::PeerAs::Dynamic(DynamicAsnMode::External) => PeerAs::External,
    };
    let mut session = SessionConfig::new(peer.local_asn, router_id, peer_as);
    if let Some(timers) = peer.timers {
        session.hold_time = timers.hold;
        session.keepalive = Some(timers.keepalive);
    }
    if let Some(connect) = peer.connect_time {
        session.connect_retry = connect;
    }
    // Reconnect soon after a failure: a router that restarts should see the
    // node again within seconds (MetalLB retries with a short backoff too).
    // The driver doubles this wait while failures repeat, up to 30 s.
    session.idle_hold = Duration::from_secs(1);
    session.families = families(address, peer.dual_stack);
    session.capabilities = capabilities(address, peer.dual_stack, peer.graceful_restart, &session.families);
    Some(PeerSpec {
        name: peer.name.clone(),
        address: SocketAddr::new(address, peer.port),
        source: peer.source_address,
        md5_key: peer.password.as_ref().map(|p| p.expose().as_bytes().to_vec()),
        ttl: peer.ebgp_multi_hop.then_some(255),
        vrf: peer.vrf.clone(),
        session,
    })
}

/// The families a session carries: the peer address's, and with
/// `dualStackAddressFamily` the other one too (as MetalLB: without it an IPv4
/// session carries only IPv4 routes).
fn families(peer: IpAddr, dual_stack: bool) -> Vec<AfiSafi> {
    match (peer.to_canonical(), dual_stack) {
        (_, true) => vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
        (IpAddr::V4(_), false) => vec![AfiSafi::IPV4_UNICAST],
        (IpAddr::V6(_), false) => vec![AfiSafi::IPV6_UNICAST],
    }
}

/// Restart time offered with `enableGracefulRestart` (MetalLB's FRR default).
const GRACEFUL_RESTART_TIME: u16 = 120;

/// Route refresh; graceful restart (RFC 4724) always as a receiving speaker
/// (so a restarting router gets End-of-RIB from us), and with forwarding
/// preserved for our families when `enableGracefulRestart` asks the router
/// to keep our routes while ferrolb restarts; on an IPv6 session carrying
/// IPv4 too, IPv4 routes with IPv6 next hops (RFC 8950) for hosts without
/// an IPv4 address on that link.
fn capabilities(
    peer: IpAddr,
    dual_stack: bool,
    graceful_restart: bool,
    families: &[AfiSafi],
) -> Vec<Capability> {
    let preserved = if graceful_restart {
        families.iter().map(|&family| GracefulRestartFamily { family, forwarding_preserved: true }).collect()
    } else {
        Vec::new()
    };
    let mut out = vec![
        Capability::RouteRefresh,
        Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            // No RFC 8538 N bit: our Cease on SIGTERM must withdraw, not start a graceful restart.
            notification: false,
            restart_time: GRACEFUL_RESTART_TIME,
            families: preserved,
        }),
    ];
    if dual_stack && peer.to_canonical().is_ipv6() {
        out.push(Capability::ExtendedNextHop(vec![ExtendedNextHop {
            nlri_afi: 1,
            nlri_safi: 1,
            next_hop_afi: 2,
        }]));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ferrolb_bgp::Asn;

    use super::*;

    /// The configuration of `yaml` and the BGP plan of node `n1`, as `run`
    /// makes them; the first error when it does not validate.
    fn planned(yaml: &str) -> Result<(Config, BgpPlan), String> {
        let (snapshot, mut diagnostics) = ferrolb_api::load::load_str("t.yaml", yaml);
        let (config, broken) = ferrolb_api::validate::validated(&snapshot, &Default::default());
        diagnostics.extend(broken);
        if let Some(error) = diagnostics.iter().find(|d| d.is_error()) {
            return Err(error.to_string());
        }
        let allocation = ferrolb_ipam::allocate(&config, &snapshot, &Default::default(), &Default::default());
        let plan = ferrolb_announce::plan_bgp(&config, &snapshot, &allocation, "n1");
        Ok((config, plan))
    }

    /// The session node `n1` keeps with the one peer of `yaml`, as `run`
    /// builds it from the plan; why not when it keeps none.
    fn session_of(yaml: &str) -> Result<PeerSpec, String> {
        let (config, plan) = planned(yaml)?;
        let planned = &plan.peers[0];
        let peer = config.peer(&planned.peer).expect("the peer is in the configuration");
        match planned.router_id {
            Some(id) if planned.has_session() => peer_spec(peer, id).ok_or_else(|| "no spec".to_owned()),
            _ => Err(planned.session.to_string()),
        }
    }

    const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses: [{type: InternalIP, address: 192.0.2.11}]\n---\n";

    #[test]
    fn a_peer_spec_takes_every_session_setting() {
        let spec = session_of(&format!(
            "{NODE}apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n  peerPort: 1179\n  holdTime: 9s\n  keepaliveTime: 3s\n  ebgpMultiHop: true\n  password: s3cret\n  sourceAddress: 192.0.2.11\n"
        ))
        .unwrap();
        assert_eq!(spec.address, "192.0.2.1:1179".parse().unwrap());
        assert_eq!(spec.session.router_id, RouterId::new(Ipv4Addr::new(192, 0, 2, 11)).unwrap());
        assert_eq!(spec.session.hold_time, ferrolb_bgp::HoldTime::new(9).unwrap());
        assert_eq!(spec.session.keepalive, Some(Duration::from_secs(3)));
        assert_eq!((spec.ttl, spec.md5_key.as_deref()), (Some(255), Some(&b"s3cret"[..])));
        assert_eq!(spec.source, Some("192.0.2.11".parse().unwrap()));
    }

    #[test]
    fn the_session_presents_local_asn_when_set() {
        let spec = session_of(&format!(
            "{NODE}apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  localASN: 64600\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n"
        ))
        .unwrap();
        assert_eq!(spec.session.local_as, Asn::new(64600).unwrap());
    }

    #[test]
    fn a_session_carries_its_own_family_unless_dual_stack() {
        let peer = |address: &str, extra: &str| {
            session_of(&format!(
                "{NODE}apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: {address}\n{extra}"
            ))
            .unwrap()
            .session
        };
        let enhe =
            |s: &SessionConfig| s.capabilities.iter().any(|c| matches!(c, Capability::ExtendedNextHop(_)));
        let v4 = peer("192.0.2.1", "");
        assert_eq!(v4.families, [AfiSafi::IPV4_UNICAST]);
        assert!(!enhe(&v4));
        assert_eq!(peer("2001:db8::1", "").families, [AfiSafi::IPV6_UNICAST]);
        let dual = peer("192.0.2.1", "  dualStackAddressFamily: true\n");
        assert_eq!(dual.families, [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
        assert!(!enhe(&dual), "RFC 8950 is for IPv4 routes over IPv6 sessions");
        assert!(enhe(&peer("2001:db8::1", "  dualStackAddressFamily: true\n")));
    }

    #[test]
    fn graceful_restart_is_offered_as_receiver_and_with_forwarding_when_enabled() {
        let gr = |extra: &str| {
            let session = session_of(&format!(
                "{NODE}apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n{extra}"
            ))
            .unwrap()
            .session;
            session.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart(gr) => Some(gr.clone()),
                _ => None,
            })
        };
        let receiver = gr("").unwrap();
        assert!(receiver.families.is_empty() && !receiver.notification && !receiver.restart_state);
        let restarting = gr("  enableGracefulRestart: true\n").unwrap();
        assert_eq!(
            restarting.families,
            [GracefulRestartFamily { family: AfiSafi::IPV4_UNICAST, forwarding_preserved: true }]
        );
        assert_eq!(restarting.restart_time, 120);
    }

    #[test]
    fn a_node_without_an_ipv4_address_keeps_no_session_and_the_plan_says_why() {
        let yaml = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses: [{type: InternalIP, address: '2001:db8::11'}]\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: r}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 2001:db8::1\n";
        let why = session_of(yaml).unwrap_err();
        assert!(why.contains("no IPv4 InternalIP"), "{why}");
        let with_id = yaml.replace("peerAddress:", "routerID: 192.0.2.11\n  peerAddress:");
        let spec = session_of(&with_id).unwrap();
        assert_eq!(spec.session.router_id, RouterId::new(Ipv4Addr::new(192, 0, 2, 11)).unwrap());
    }

    #[test]
    fn the_password_can_come_from_a_secret() {
        let spec = session_of(&format!(
            "{NODE}apiVersion: v1\nkind: Secret\nmetadata: {{name: bgp}}\ntype: kubernetes.io/basic-auth\nstringData: {{password: fromsecret}}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  dynamicASN: external\n  peerAddress: 192.0.2.1\n  passwordSecret: {{name: bgp}}\n"
        ))
        .unwrap();
        assert_eq!(spec.md5_key.as_deref(), Some(&b"fromsecret"[..]));
        assert_eq!(spec.session.peer_as, PeerAs::External);
    }

    /// The BFD session the peer `r` of `yaml` (after NODE) wants.
    fn bfd_of(yaml: &str) -> Option<WantedBfd> {
        let (config, plan) = planned(&format!("{NODE}{yaml}")).unwrap();
        bfd_session(config.peer("r").expect("peer r"), plan.peers[0].bfd.as_ref())
    }

    const FAST: &str = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {receiveInterval: 50, transmitInterval: 60, detectMultiplier: 4, passiveMode: true, minimumTtl: 250}\n---\n";

    fn bgp_peer(extra: &str) -> String {
        format!(
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n{extra}"
        )
    }

    #[test]
    fn a_bfd_profile_gives_a_single_hop_session_from_the_node_address_with_its_timers() {
        let (key, config) = bfd_of(&format!("{FAST}{}", bgp_peer("  bfdProfile: fast\n"))).unwrap();
        assert_eq!(
            key,
            PeerKey {
                peer: "192.0.2.1".parse().unwrap(),
                local: "192.0.2.11".parse().unwrap(),
                multihop: false
            }
        );
        assert_eq!(config.required_min_rx, Duration::from_millis(50));
        assert_eq!(config.desired_min_tx, Duration::from_millis(60));
        assert_eq!((config.detect_multiplier.get(), config.passive, config.minimum_ttl), (4, true, 250));
    }

    #[test]
    fn ebgp_multihop_makes_a_multihop_session_from_the_source_address() {
        let (key, _) = bfd_of(&format!(
            "{FAST}{}",
            bgp_peer("  bfdProfile: fast\n  ebgpMultiHop: true\n  sourceAddress: 192.0.2.12\n")
        ))
        .unwrap();
        assert!(key.multihop);
        assert_eq!(key.local, "192.0.2.12".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn unset_profile_fields_take_metallbs_defaults_and_no_profile_no_session() {
        let empty = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: plain}\n---\n";
        let (_, config) = bfd_of(&format!("{empty}{}", bgp_peer("  bfdProfile: plain\n"))).unwrap();
        assert_eq!(config, ferrolb_bfd::SessionConfig::default());
        assert_eq!(bfd_of(&bgp_peer("")), None);
        // No node address of the peer's family: no BFD (the BGP session runs on).
        let v6 = bgp_peer("  bfdProfile: plain\n").replace("192.0.2.1\n", "2001:db8::1\n");
        assert_eq!(bfd_of(&format!("{empty}{v6}")), None);
    }

    fn bfd_state(state: ferrolb_bfd::State, remote: ferrolb_bfd::State) -> PeerState {
        PeerState {
            state,
            diagnostic: ferrolb_bfd::Diagnostic::None,
            remote_state: remote,
            downs: 0,
            last_down: None,
        }
    }

    #[test]
    fn bfd_down_after_up_closes_the_session_and_up_opens_it() {
        use ferrolb_bfd::State::{AdminDown, Down, Init, Up};
        let mut seen_up = false;
        // Down and Init before the first Up: the path was never known good.
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Down, Down)), PathChange::None);
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Init, Down)), PathChange::None);
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Up, Up)), PathChange::None);
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Down, Up)), PathChange::Down);
        // Told once; the states on the way back change nothing until Up.
        assert_eq!(decide(&mut seen_up, false, &bfd_state(Down, Down)), PathChange::None);
        assert_eq!(decide(&mut seen_up, false, &bfd_state(Init, Down)), PathChange::None);
        assert_eq!(decide(&mut seen_up, false, &bfd_state(Up, Up)), PathChange::Up);
        // The peer's AdminDown is not a path failure (RFC 5882 §3.2).
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Down, AdminDown)), PathChange::PeerAdminDown);
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Down, AdminDown)), PathChange::None);
        assert_eq!(decide(&mut seen_up, true, &bfd_state(Up, Up)), PathChange::None);
    }
}
