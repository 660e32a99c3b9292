//! The BGP sessions of this node: one per `BGPPeer` whose nodeSelectors
//! select it, each told the routes of the node's plan.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_announce::{BgpPlan, PeerRoutesChange};
use ferrolb_api::config::{Config, Peer, PeerAddress};
use ferrolb_api::metallb::DynamicAsnMode;
use ferrolb_bgp::driver::{Listener, PeerHandle, PeerSpec, Routes, RoutesPatch};
use ferrolb_bgp::fsm::{PeerAs, SessionConfig};
use ferrolb_bgp::message::{Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily};
use ferrolb_bgp::routes::RouteAttributes;
use ferrolb_bgp::{AfiSafi, RouterId};
use ferrolb_types::BgpCommunity;
use tracing::info;

/// How long SIGTERM waits for each NOTIFICATION to leave.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The sessions this node keeps, by `BGPPeer` name.
#[derive(Default)]
pub struct BgpSessions {
    running: HashMap<String, (PeerSpec, PeerHandle)>,
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
        BgpSessions { running: HashMap::new(), listener: None, listen_port: Some(port) }
    }

    /// Keeps a session with every peer the plan has one with (a peer the
    /// node cannot peer with is a reason in the plan, not a session), with
    /// the plan's routes; stops the others. A peer whose settings changed is
    /// restarted.
    pub async fn converge(&mut self, config: &Config, plan: &BgpPlan) {
        let mut wanted: HashMap<String, (PeerSpec, Routes)> = HashMap::new();
        for planned in plan.peers.iter().filter(|p| p.has_session()) {
            let peer = config.peer(&planned.peer);
            let Some(spec) = peer.zip(planned.router_id).and_then(|(peer, id)| peer_spec(peer, id)) else {
                continue;
            };
            let routes = Arc::new(planned.routes.iter().map(|r| (r.prefix, attributes(r))).collect());
            wanted.insert(planned.peer.clone(), (spec, routes));
        }
        let gone: Vec<String> = self
            .running
            .iter()
            .filter(|(name, (spec, _))| wanted.get(*name).is_none_or(|(w, _)| w != spec))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some((_, handle)) = self.running.remove(&name) {
                info!(peer = %name, "stopping session");
                handle.shutdown("peer configuration changed", SHUTDOWN_GRACE).await;
            }
        }
        for (name, (spec, routes)) in wanted {
            match self.running.get(&name) {
                Some((_, handle)) => handle.set_routes(routes),
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
                    self.running.insert(name, (spec, handle));
                }
            }
        }
    }

    /// Tells each peer with a session what changed in its routes (`changes`,
    /// in the order of `plan`'s peers), when nothing but the routes changed.
    pub fn patch(&self, plan: &BgpPlan, changes: &[PeerRoutesChange]) {
        for (peer, change) in plan.peers.iter().zip(changes) {
            let Some((_, handle)) = self.running.get(&peer.peer) else { continue };
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
    /// withdraws every route at once.
    pub async fn shutdown(&mut self) {
        let all: Vec<_> = self.running.drain().map(|(_, (_, handle))| handle).collect();
        let stops = all.into_iter().map(|h| h.shutdown("ferrolb is stopping", SHUTDOWN_GRACE));
        futures_util::future::join_all(stops).await;
    }
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
fn peer_spec(peer: &Peer, router_id: RouterId) -> Option<PeerSpec> {
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

    /// The session node `n1` keeps with the one peer of `yaml`, as `run`
    /// builds it from the plan; why not when it keeps none.
    fn session_of(yaml: &str) -> Result<PeerSpec, String> {
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("t.yaml", yaml);
        let (config, diagnostics) =
            crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
        if let Some(error) = diagnostics.iter().find(|d| d.is_error()) {
            return Err(error.to_string());
        }
        let decided = crate::cmd::plan::Decided::of(&config, &snapshot, None, Some("n1"));
        let planned = &decided.bgp.as_ref().expect("planned for n1").peers[0];
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
    fn validate_plan_and_the_session_read_metallbs_timer_cases_alike() {
        // (holdTime, keepaliveTime) -> the session's hold seconds and
        // keepalive, or refused (MetalLB's `parseTimers`).
        let cases: &[(&str, Option<(u16, Duration)>)] = &[
            ("", Some((90, Duration::ZERO))),
            ("  holdTime: 90s\n", Some((90, Duration::from_secs(30)))),
            ("  keepaliveTime: 10s\n", Some((30, Duration::from_secs(10)))),
            ("  holdTime: 30s\n  keepaliveTime: 10s\n", Some((30, Duration::from_secs(10)))),
            ("  holdTime: 0s\n", Some((0, Duration::ZERO))),
            ("  holdTime: 4500ms\n", Some((4, Duration::from_millis(1500)))),
            ("  holdTime: 500ms\n", Some((0, Duration::from_nanos(166_666_666)))),
            ("  holdTime: 2s\n", None),
            ("  keepaliveTime: 900ms\n", None),
            ("  holdTime: 9s\n  keepaliveTime: 10s\n", None),
        ];
        for (timers, want) in cases {
            let (s, diagnostics) = ferrolb_api::load::load_str(
                "t.yaml",
                &format!(
                    "{NODE}apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r, namespace: metallb-system}}\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n{timers}"
                ),
            );
            let (config, diagnostics) =
                crate::cmd::validate::with_broken_rules(&s, diagnostics, &Default::default());
            let refused = diagnostics.iter().any(|d| d.is_error());
            let session = config.peer("r").map(|peer| {
                let id = RouterId::new(Ipv4Addr::new(192, 0, 2, 11)).unwrap();
                peer_spec(peer, id).unwrap().session
            });
            match want {
                Some((hold, keepalive)) => {
                    assert!(!refused, "{timers:?}: {diagnostics:?}");
                    let session = session.unwrap_or_else(|| panic!("{timers:?}: not in the configuration"));
                    assert_eq!(session.hold_time.seconds(), *hold, "{timers:?}");
                    // No timers: the session's own default (a third of the hold time).
                    let keepalive = (!timers.is_empty()).then_some(*keepalive);
                    assert_eq!(session.keepalive, keepalive, "{timers:?}");
                    // And `plan --node` says the same.
                    let decided = crate::cmd::plan::Decided::of(&config, &s, None, Some("n1"));
                    let report = crate::cmd::plan::NodeReport::of(decided.bgp.as_ref().unwrap());
                    assert_eq!(report.peers[0].hold_time, format!("{hold}s"), "{timers:?}");
                    let shown = keepalive.map_or(format!("{}s", hold / 3), |k| format!("{k:?}"));
                    assert_eq!(report.peers[0].keepalive_time, shown, "{timers:?}");
                }
                None => {
                    assert!(refused, "{timers:?} validates");
                    assert!(session.is_none(), "{timers:?} makes a session");
                }
            }
        }
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
}
