//! The session state machine, walking the RFC 4271 §8.2.2 table (STYLE 11).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferrolb_bgp::fsm::{
    Input, Keep, OPEN_HOLD_TIME, Output, PeerAs, Session, SessionConfig, State, Timer, resolve_collision,
};
use ferrolb_bgp::message::{Capability, DecodeError, ExtendedNextHop, Message, Notification, Open, Update};
use ferrolb_bgp::types::{AfiSafi, Asn, HoldTime, RouterId};

pub fn asn(n: u32) -> Asn {
    Asn::new(n).unwrap()
}

pub fn router_id(last: u8) -> RouterId {
    RouterId::new(Ipv4Addr::new(192, 0, 2, last)).unwrap()
}

/// AS 64512, 192.0.2.1, expecting AS 64513.
pub fn config() -> SessionConfig {
    SessionConfig::new(asn(64512), router_id(1), PeerAs::Fixed(asn(64513)))
}

/// An OPEN from 192.0.2.2 offering IPv4 and IPv6 unicast and route refresh.
pub fn remote_open(asn_number: u32, hold: u16) -> Message {
    Message::Open(Open::new(
        asn(asn_number),
        HoldTime::new(hold).unwrap(),
        router_id(2),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
        ],
    ))
}

/// The one time every step of these tests happens at, unless said otherwise.
fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// A session driven to OpenSent on an outgoing connection.
fn open_sent_session(config: SessionConfig) -> Session {
    let mut session = Session::new(config);
    session.handle(t0(), Input::ManualStart);
    session.handle(t0(), Input::TcpConnected);
    assert_eq!(session.state(), State::OpenSent);
    session
}

/// A session that has accepted the peer's OPEN (hold 90).
fn open_confirm_session() -> Session {
    let mut session = open_sent_session(config());
    session.handle(t0(), Input::MessageReceived(remote_open(64513, 90)));
    assert_eq!(session.state(), State::OpenConfirm);
    session
}

/// A session in Established with a peer in AS 64513, hold time 90.
pub fn established_session() -> Session {
    let mut session = open_confirm_session();
    session.handle(t0(), Input::MessageReceived(Message::Keepalive));
    assert_eq!(session.state(), State::Established);
    session
}

fn sent(outputs: &[Output]) -> Vec<&Message> {
    outputs.iter().filter_map(|o| if let Output::Send(m) = o { Some(m) } else { None }).collect()
}

fn notification(outputs: &[Output]) -> Option<(u8, u8)> {
    sent(outputs)
        .into_iter()
        .find_map(|m| if let Message::Notification(n) = m { Some((n.code, n.subcode)) } else { None })
}

/// How long after [`t0`] `timer` fires, if armed.
fn armed(session: &Session, timer: Timer) -> Option<Duration> {
    session.timer(timer).map(|at| at - t0())
}

fn cancels(session: &Session, timer: Timer) -> bool {
    session.timer(timer).is_none()
}

#[test]
fn idle_on_manual_start_connects_arms_connect_retry_and_moves_to_connect() {
    let mut session = Session::new(config());
    let out = session.handle(t0(), Input::ManualStart);
    assert!(out.contains(&Output::Connect));
    assert_eq!(armed(&session, Timer::ConnectRetry), Some(Duration::from_secs(120)));
    assert_eq!(session.state(), State::Connect);
}

#[test]
fn idle_on_manual_start_when_passive_waits_in_active_without_connecting() {
    let mut session = Session::new(SessionConfig { passive: true, ..config() });
    let out = session.handle(t0(), Input::ManualStart);
    assert!(!out.contains(&Output::Connect));
    assert_eq!(session.state(), State::Active);
}

#[test]
fn idle_ignores_everything_but_a_start() {
    let mut session = Session::new(config());
    for input in [Input::TcpConnected, Input::HoldTimerExpired, Input::MessageReceived(Message::Keepalive)] {
        assert_eq!(session.handle(t0(), input), []);
        assert_eq!(session.state(), State::Idle);
    }
}

#[test]
fn connect_on_tcp_connected_sends_open_and_arms_a_large_hold_timer() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    let out = session.handle(t0(), Input::TcpConnected);
    assert!(cancels(&session, Timer::ConnectRetry));
    assert_eq!(sent(&out), [&Message::Open(config().open())]);
    assert_eq!(armed(&session, Timer::Hold), Some(OPEN_HOLD_TIME));
    assert_eq!(session.state(), State::OpenSent);
}

#[test]
fn connect_on_connect_retry_expiry_tries_again() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    let out = session.handle(t0(), Input::ConnectRetryTimerExpired);
    assert!(out.contains(&Output::Connect));
    assert!(armed(&session, Timer::ConnectRetry).is_some());
    assert_eq!(session.state(), State::Connect);
}

#[test]
fn connect_on_tcp_failure_goes_idle_and_starts_again_after_the_idle_hold_time() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    let out = session.handle(t0(), Input::TcpFailed);
    assert_eq!(notification(&out), None, "no connection to send a NOTIFICATION on");
    assert_eq!(armed(&session, Timer::IdleHold), Some(Duration::from_secs(5)));
    assert_eq!(session.state(), State::Idle);
    assert_eq!(session.connect_retry_count(), 1);
    let out = session.handle(t0(), Input::IdleHoldTimerExpired);
    assert!(out.contains(&Output::Connect));
    assert_eq!(session.state(), State::Connect);
}

#[test]
fn active_on_incoming_connection_sends_open() {
    let mut session = Session::new(SessionConfig { passive: true, ..config() });
    session.handle(t0(), Input::ManualStart);
    let out = session.handle(t0(), Input::TcpConnected);
    assert!(matches!(sent(&out)[..], [Message::Open(_)]));
    assert_eq!(session.state(), State::OpenSent);
}

#[test]
fn open_sent_on_acceptable_open_sends_keepalive_and_negotiates_the_smaller_hold_time() {
    let mut session = open_sent_session(config());
    let out = session.handle(t0(), Input::MessageReceived(remote_open(64513, 30)));
    assert_eq!(sent(&out), [&Message::Keepalive]);
    assert_eq!(armed(&session, Timer::Hold), Some(Duration::from_secs(30)));
    assert_eq!(armed(&session, Timer::Keepalive), Some(Duration::from_secs(10)));
    assert_eq!(session.state(), State::OpenConfirm);
    let negotiated = session.negotiated().unwrap();
    assert_eq!(negotiated.hold_time.seconds(), 30);
    assert!(negotiated.four_octet_as);
    assert!(negotiated.route_refresh);
}

#[test]
fn open_sent_on_open_from_the_wrong_as_sends_bad_peer_as_and_goes_idle() {
    let mut session = open_sent_session(config());
    let out = session.handle(t0(), Input::MessageReceived(remote_open(64999, 90)));
    assert_eq!(notification(&out), Some((2, 2)));
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn dynamic_internal_peer_must_be_in_our_as_and_external_outside_it() {
    let mut internal = open_sent_session(SessionConfig { peer_as: PeerAs::Internal, ..config() });
    let out = internal.handle(t0(), Input::MessageReceived(remote_open(64513, 90)));
    assert_eq!(notification(&out), Some((2, 2)));
    let mut internal = open_sent_session(SessionConfig { peer_as: PeerAs::Internal, ..config() });
    internal.handle(t0(), Input::MessageReceived(remote_open(64512, 90)));
    assert_eq!(internal.state(), State::OpenConfirm);

    let mut external = open_sent_session(SessionConfig { peer_as: PeerAs::External, ..config() });
    let out = external.handle(t0(), Input::MessageReceived(remote_open(64512, 90)));
    assert_eq!(notification(&out), Some((2, 2)));
    let mut any = open_sent_session(SessionConfig { peer_as: PeerAs::Any, ..config() });
    any.handle(t0(), Input::MessageReceived(remote_open(4_200_000_001, 90)));
    assert_eq!(any.state(), State::OpenConfirm);
}

#[test]
fn internal_peer_with_our_bgp_identifier_is_refused() {
    let mut session = open_sent_session(SessionConfig { peer_as: PeerAs::Internal, ..config() });
    let open = Open::new(asn(64512), HoldTime::DEFAULT, router_id(1), vec![]);
    let out = session.handle(t0(), Input::MessageReceived(Message::Open(open)));
    assert_eq!(notification(&out), Some((2, 3)));
}

#[test]
fn open_sent_on_keepalive_sends_fsm_error_for_open_sent() {
    let mut session = open_sent_session(config());
    let out = session.handle(t0(), Input::MessageReceived(Message::Keepalive));
    assert_eq!(notification(&out), Some((5, 1)));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn open_sent_on_tcp_closed_waits_in_active() {
    let mut session = open_sent_session(config());
    session.handle(t0(), Input::TcpClosed);
    assert!(armed(&session, Timer::ConnectRetry).is_some());
    assert_eq!(session.state(), State::Active);
}

#[test]
fn open_sent_on_hold_timer_expiry_sends_hold_timer_expired() {
    let mut session = open_sent_session(config());
    let out = session.handle(t0(), Input::HoldTimerExpired);
    assert_eq!(notification(&out), Some((4, 0)));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn open_sent_on_decode_failure_sends_the_matching_notification() {
    let mut session = open_sent_session(config());
    let out = session.handle(t0(), Input::DecodeFailed(DecodeError::UnacceptableHoldTime { seconds: 2 }));
    assert_eq!(notification(&out), Some((2, 6)));
}

#[test]
fn open_confirm_on_keepalive_is_established_with_the_negotiated_parameters() {
    let mut session = open_confirm_session();
    let out = session.handle(t0(), Input::MessageReceived(Message::Keepalive));
    assert!(out.contains(&Output::StateChanged { from: State::OpenConfirm, to: State::Established }));
    let Some(Output::Established(negotiated)) = out.iter().find(|o| matches!(o, Output::Established(_)))
    else {
        panic!("no Established output: {out:?}");
    };
    assert_eq!(negotiated.peer_as, asn(64513));
    assert_eq!(negotiated.families, [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
    assert_eq!(armed(&session, Timer::Hold), Some(Duration::from_secs(90)));
}

#[test]
fn open_confirm_on_keepalive_timer_sends_keepalive() {
    let mut session = open_confirm_session();
    let out = session.handle(t0(), Input::KeepaliveTimerExpired);
    assert_eq!(sent(&out), [&Message::Keepalive]);
    assert_eq!(armed(&session, Timer::Keepalive), Some(Duration::from_secs(30)));
}

#[test]
fn open_confirm_on_update_sends_fsm_error_for_open_confirm() {
    let mut session = open_confirm_session();
    let out = session.handle(t0(), Input::MessageReceived(Message::Update(Update::default())));
    assert_eq!(notification(&out), Some((5, 2)));
}

#[test]
fn hold_time_zero_disables_the_hold_and_keepalive_timers_once_established() {
    let mut session = open_sent_session(config());
    session.handle(t0(), Input::MessageReceived(remote_open(64513, 0)));
    assert!(cancels(&session, Timer::Keepalive));
    assert_eq!(session.negotiated().unwrap().keepalive, None);
    session.handle(t0(), Input::MessageReceived(Message::Keepalive));
    assert_eq!(session.state(), State::Established);
    assert!(cancels(&session, Timer::Hold));
    assert!(cancels(&session, Timer::Keepalive));
    assert_eq!(session.poll_timeout(), None, "no timer at all");
}

/// RFC 4271 §8.2.2 arms no hold timer in OpenConfirm for a hold time of 0; a peer that
/// never sends its KEEPALIVE gets the large hold timer instead of holding the session
/// there for ever, and the session ends with Hold Timer Expired.
#[test]
fn hold_time_zero_in_open_confirm_still_ends_by_the_large_hold_timer() {
    let mut session = open_sent_session(config());
    session.handle(t0(), Input::MessageReceived(remote_open(64513, 0)));
    assert_eq!(session.state(), State::OpenConfirm);
    assert_eq!(armed(&session, Timer::Hold), Some(OPEN_HOLD_TIME));
    assert_eq!(session.poll_timeout(), Some(t0() + OPEN_HOLD_TIME));
    assert_eq!(session.handle_timeout(t0() + OPEN_HOLD_TIME - Duration::from_millis(1)), []);
    assert_eq!(session.state(), State::OpenConfirm);
    let out = session.handle_timeout(t0() + OPEN_HOLD_TIME);
    assert_eq!(notification(&out), Some((4, 0)));
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(session.state(), State::Idle);
}

/// RFC 7313 §3: enhanced route refresh is offered with route refresh, right after it.
#[test]
fn route_refresh_is_offered_enhanced_too() {
    let offered = config().open().capabilities;
    let at = offered.iter().position(|c| *c == Capability::RouteRefresh).unwrap();
    assert_eq!(offered[at + 1], Capability::EnhancedRouteRefresh);
    assert_eq!(offered.iter().filter(|c| **c == Capability::EnhancedRouteRefresh).count(), 1);
    let listed = SessionConfig {
        capabilities: vec![Capability::EnhancedRouteRefresh, Capability::RouteRefresh],
        ..config()
    };
    assert_eq!(
        listed.open().capabilities.iter().filter(|c| **c == Capability::EnhancedRouteRefresh).count(),
        1
    );
    let without = SessionConfig { capabilities: vec![], ..config() };
    assert!(!without.open().capabilities.contains(&Capability::EnhancedRouteRefresh));
}

/// RFC 7313 §4: BoRR and EoRR frame a refresh only when both sides offered the capability.
#[test]
fn enhanced_route_refresh_is_negotiated_when_both_sides_offer_it() {
    let open_with = |capabilities: Vec<Capability>| {
        Message::Open(Open::new(asn(64513), HoldTime::new(90).unwrap(), router_id(2), capabilities))
    };
    let negotiated = |config: SessionConfig, open: Message| {
        let mut session = open_sent_session(config);
        session.handle(t0(), Input::MessageReceived(open));
        session.negotiated().unwrap().enhanced_route_refresh
    };
    let both = vec![Capability::RouteRefresh, Capability::EnhancedRouteRefresh];
    assert!(negotiated(config(), open_with(both.clone())));
    assert!(!negotiated(config(), remote_open(64513, 90)), "the peer offered route refresh alone");
    assert!(
        !negotiated(SessionConfig { capabilities: vec![], ..config() }, open_with(both)),
        "we did not offer it"
    );
}

#[test]
fn configured_keepalive_is_used_when_shorter_than_a_third_of_the_hold_time() {
    let mut session =
        open_sent_session(SessionConfig { keepalive: Some(Duration::from_secs(5)), ..config() });
    session.handle(t0(), Input::MessageReceived(remote_open(64513, 90)));
    assert_eq!(armed(&session, Timer::Keepalive), Some(Duration::from_secs(5)));
}

#[test]
fn peer_without_multiprotocol_speaks_ipv4_unicast_only() {
    let mut session = open_sent_session(config());
    let open =
        Open { asn: asn(64513), hold_time: HoldTime::DEFAULT, router_id: router_id(2), capabilities: vec![] };
    session.handle(t0(), Input::MessageReceived(Message::Open(open)));
    let negotiated = session.negotiated().unwrap();
    assert_eq!(negotiated.families, [AfiSafi::IPV4_UNICAST]);
    assert!(!negotiated.four_octet_as);
    assert!(!negotiated.decode_context().four_octet_as);
}

#[test]
fn ipv4_routes_take_ipv6_next_hops_only_when_both_sides_offer_it() {
    let enhe =
        Capability::ExtendedNextHop(vec![ExtendedNextHop { nlri_afi: 1, nlri_safi: 1, next_hop_afi: 2 }]);
    let offering = |caps: Vec<Capability>| {
        let Message::Open(mut open) = remote_open(64513, 90) else { unreachable!() };
        open.capabilities.extend(caps);
        Message::Open(open)
    };
    let ours = SessionConfig { capabilities: vec![enhe.clone()], ..config() };
    for (we_offer, they_offer, negotiated) in [(true, true, true), (true, false, false), (false, true, false)]
    {
        let mut session = open_sent_session(if we_offer { ours.clone() } else { config() });
        let theirs = if they_offer { vec![enhe.clone()] } else { vec![] };
        session.handle(t0(), Input::MessageReceived(offering(theirs)));
        assert_eq!(session.negotiated().unwrap().extended_next_hop_v4, negotiated, "{we_offer} {they_offer}");
    }
}

#[test]
fn established_on_update_restarts_the_hold_timer_and_delivers_it() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::MessageReceived(Message::Update(Update::default())));
    assert_eq!(armed(&session, Timer::Hold), Some(Duration::from_secs(90)));
    assert!(out.contains(&Output::Update(Update::default())));
    assert_eq!(session.state(), State::Established);
}

#[test]
fn established_on_keepalive_restarts_the_hold_timer() {
    let mut session = established_session();
    let later = t0() + Duration::from_secs(10);
    let out = session.handle(later, Input::MessageReceived(Message::Keepalive));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(session.timer(Timer::Hold), Some(later + Duration::from_secs(90)));
}

#[test]
fn established_on_hold_timer_expiry_sends_hold_timer_expired_and_goes_idle() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::HoldTimerExpired);
    assert_eq!(notification(&out), Some((4, 0)));
    assert!(out.contains(&Output::StateChanged { from: State::Established, to: State::Idle }));
    assert_eq!(armed(&session, Timer::IdleHold), Some(Duration::from_secs(5)));
}

#[test]
fn established_on_notification_goes_idle_without_answering() {
    let mut session = established_session();
    let out = session
        .handle(t0(), Input::MessageReceived(Message::Notification(Notification::hold_timer_expired())));
    assert_eq!(notification(&out), None);
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn established_on_manual_stop_sends_the_shutdown_communication_and_stays_down() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::ManualStop(Some("maintenance".into())));
    assert_eq!(sent(&out), [&Message::Notification(Notification::administrative_shutdown("maintenance"))]);
    assert_eq!(armed(&session, Timer::IdleHold), None, "a manual stop does not restart");
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn established_on_open_sends_fsm_error_for_established() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::MessageReceived(remote_open(64513, 90)));
    assert_eq!(notification(&out), Some((5, 3)));
}

#[test]
fn established_on_malformed_update_sends_its_update_error() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::DecodeFailed(DecodeError::InvalidNetworkField));
    assert_eq!(notification(&out), Some((3, 10)));
}

#[test]
fn collision_keeps_the_connection_opened_by_the_higher_identifier() {
    assert_eq!(resolve_collision(router_id(1), router_id(2)), Keep::Incoming);
    assert_eq!(resolve_collision(router_id(2), router_id(1)), Keep::Outgoing);
    // Compared as 32-bit numbers, not text.
    let ten = RouterId::new(Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    let nine = RouterId::new(Ipv4Addr::new(9, 255, 255, 255)).unwrap();
    assert_eq!(resolve_collision(ten, nine), Keep::Outgoing);
}

#[test]
fn losing_connection_sends_cease_collision_resolution_and_does_not_restart() {
    let mut session = open_confirm_session();
    let out = session.handle(t0(), Input::CollisionDump);
    assert_eq!(notification(&out), Some((6, 7)));
    assert_eq!(armed(&session, Timer::IdleHold), None);
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn idle_on_manual_stop_after_a_failure_cancels_the_pending_restart() {
    let mut session = established_session();
    session.handle(t0(), Input::HoldTimerExpired);
    assert!(armed(&session, Timer::IdleHold).is_some());
    let out = session.handle(t0(), Input::ManualStop(None));
    assert!(out.is_empty(), "{out:?}");
    assert!(cancels(&session, Timer::IdleHold));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn manual_stop_without_a_message_sends_a_bare_administrative_shutdown() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::ManualStop(None));
    let Some(Message::Notification(cease)) = sent(&out).first().copied() else { panic!("no NOTIFICATION") };
    assert_eq!((cease.code, cease.subcode, cease.data.as_slice()), (6, 2, &[][..]));
}

#[test]
fn connect_ignores_a_second_manual_start() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    assert_eq!(session.handle(t0(), Input::ManualStart), []);
    assert_eq!(session.state(), State::Connect);
}

#[test]
fn active_on_an_unexpected_message_goes_idle_without_a_notification() {
    let mut session = Session::new(SessionConfig { passive: true, ..config() });
    session.handle(t0(), Input::ManualStart);
    let out = session.handle(t0(), Input::MessageReceived(Message::Keepalive));
    assert_eq!(notification(&out), None);
    assert_eq!(session.state(), State::Idle);
}

// The forwarding path (RFC 9384): BFD tells the session the path to the peer is down or up.

#[test]
fn established_on_path_down_sends_cease_bfd_down_and_stays_idle() {
    let mut session = established_session();
    let out = session.handle(t0(), Input::PathDown);
    assert_eq!(notification(&out), Some((6, 10)));
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(armed(&session, Timer::IdleHold), None, "no automatic restart while the path is down");
    assert_eq!(session.state(), State::Idle);
    assert!(session.path_down());
}

#[test]
fn opening_on_path_down_closes_too() {
    let mut session = open_confirm_session();
    let out = session.handle(t0(), Input::PathDown);
    assert_eq!(notification(&out), Some((6, 10)));
    assert_eq!(session.state(), State::Idle);

    // Still connecting: nothing to notify, the attempt is dropped.
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    let out = session.handle(t0(), Input::PathDown);
    assert_eq!(notification(&out), None);
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn while_the_path_is_down_nothing_starts_the_session() {
    let mut session = established_session();
    session.handle(t0(), Input::PathDown);
    for input in [Input::ManualStart, Input::IdleHoldTimerExpired, Input::TcpConnected, Input::PathDown] {
        assert_eq!(session.handle(t0(), input.clone()), [], "{input:?}");
        assert_eq!(session.state(), State::Idle);
    }
}

#[test]
fn path_up_connects_at_once() {
    let mut session = established_session();
    session.handle(t0(), Input::PathDown);
    let out = session.handle(t0(), Input::PathUp);
    assert!(out.contains(&Output::Connect));
    assert_eq!(session.state(), State::Connect);
    assert!(!session.path_down());
}

#[test]
fn path_down_while_waiting_to_restart_cancels_the_wait_and_path_up_starts_at_once() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    session.handle(t0(), Input::TcpFailed);
    assert_eq!(session.state(), State::Idle);
    session.handle(t0(), Input::PathDown);
    assert!(cancels(&session, Timer::IdleHold));
    assert_eq!(session.handle(t0(), Input::IdleHoldTimerExpired), []);
    assert!(session.handle(t0(), Input::PathUp).contains(&Output::Connect));
}

#[test]
fn path_up_when_the_path_was_never_down_does_nothing() {
    let mut session = established_session();
    assert_eq!(session.handle(t0(), Input::PathUp), []);
    assert_eq!(session.state(), State::Established);
}

#[test]
fn path_up_does_not_start_a_session_the_operator_stopped_or_never_started() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::PathDown);
    assert_eq!(session.handle(t0(), Input::PathUp), []);
    assert_eq!(session.state(), State::Idle);

    let mut session = established_session();
    session.handle(t0(), Input::PathDown);
    session.handle(t0(), Input::ManualStop(None));
    assert_eq!(session.handle(t0(), Input::PathUp), []);
    assert_eq!(session.state(), State::Idle);
}

#[test]
fn a_start_while_the_path_is_down_waits_for_path_up() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::PathDown);
    assert_eq!(session.handle(t0(), Input::ManualStart), []);
    assert!(session.handle(t0(), Input::PathUp).contains(&Output::Connect));
}

#[test]
fn the_session_owns_its_timers_and_runs_those_due_earliest_first() {
    let mut session = established_session();
    // Hold 90 s, keepalive every 30 s, both from t0.
    assert_eq!(session.poll_timeout(), Some(t0() + Duration::from_secs(30)));
    assert!(session.handle_timeout(t0() + Duration::from_secs(29)).is_empty());
    let out = session.handle_timeout(t0() + Duration::from_secs(30));
    assert_eq!(sent(&out), [&Message::Keepalive]);
    assert_eq!(session.poll_timeout(), Some(t0() + Duration::from_secs(60)));
    // Asleep past the hold time: what was due runs in order of its time, the
    // KEEPALIVE of 60 s, then the hold timer of 90 s (before the KEEPALIVE due
    // at the same time), which closes the session and stops the keepalives.
    let out = session.handle_timeout(t0() + Duration::from_secs(200));
    assert_eq!(sent(&out)[0], &Message::Keepalive);
    assert_eq!(notification(&out), Some((4, 0)));
    assert_eq!(sent(&out).len(), 2, "{out:?}");
    assert_eq!(session.state(), State::Idle);
    assert_eq!(session.poll_timeout(), session.timer(Timer::IdleHold));
}

#[test]
fn failures_in_a_row_double_the_wait_before_starting_again_up_to_30_seconds() {
    let mut session = Session::new(config());
    session.handle(t0(), Input::ManualStart);
    let mut now = t0();
    let mut waits = Vec::new();
    for _ in 0..6 {
        session.handle(now, Input::TcpFailed);
        let at = session.timer(Timer::IdleHold).unwrap();
        waits.push((at - now).as_secs());
        now = at;
        session.handle_timeout(now);
        assert_eq!(session.state(), State::Connect);
    }
    assert_eq!(waits, [5, 10, 20, 30, 30, 30]);
    // A connection that wins a collision carries on the history.
    let mut winner = Session::new(config());
    winner.carry_on_from(&session);
    winner.handle(now, Input::ManualStart);
    winner.handle(now, Input::TcpFailed);
    assert_eq!(winner.timer(Timer::IdleHold), Some(now + Duration::from_secs(30)));
}

// RFC 6608 §4: an unexpected message is a Finite State Machine Error whose subcode names
// the state and whose data is "a 1-octet, unsigned integer that indicates the type of the
// unexpected message".

/// The NOTIFICATION among `outputs`, whole: code, subcode, data.
fn notification_sent(outputs: &[Output]) -> Option<Notification> {
    sent(outputs)
        .into_iter()
        .find_map(|m| if let Message::Notification(n) = m { Some(n.clone()) } else { None })
}

fn fsm_error(subcode: u8, message_type: u8) -> Option<Notification> {
    Some(Notification { code: 5, subcode, data: vec![message_type] })
}

/// A session in some state, how to make it.
type Make = fn() -> Session;

fn route_refresh() -> Message {
    Message::RouteRefresh(ferrolb_bgp::message::RouteRefresh::new(AfiSafi::IPV4_UNICAST))
}

#[test]
fn an_unexpected_message_names_its_type_in_the_fsm_error() {
    let cases: [(Make, Message, Option<Notification>); 7] = [
        (|| open_sent_session(config()), Message::Keepalive, fsm_error(1, 4)),
        (|| open_sent_session(config()), Message::Update(Update::default()), fsm_error(1, 2)),
        (|| open_sent_session(config()), route_refresh(), fsm_error(1, 5)),
        (open_confirm_session, Message::Update(Update::default()), fsm_error(2, 2)),
        (open_confirm_session, remote_open(64513, 90), fsm_error(2, 1)),
        (open_confirm_session, route_refresh(), fsm_error(2, 5)),
        (established_session, remote_open(64513, 90), fsm_error(3, 1)),
    ];
    for (session, message, expected) in cases {
        let mut session = session();
        let state = session.state();
        let out = session.handle(t0(), Input::MessageReceived(message.clone()));
        assert_eq!(notification_sent(&out), expected, "{message:?} in {state:?}");
        assert_eq!(session.state(), State::Idle);
    }
}

/// RFC 4271 §8.2.2: an UPDATE that fails its checks (event 28) is as unexpected in OpenSent
/// and OpenConfirm as a good one (an FSM error, not an UPDATE Message Error); an OPEN that
/// fails its checks (event 22) in Established is an FSM error too. Header errors (event 21)
/// keep their §6.1 NOTIFICATION in every state, OPEN errors theirs before Established.
#[test]
fn a_malformed_message_out_of_its_state_is_an_fsm_error() {
    let update_error = || DecodeError::InvalidNetworkField;
    let refresh_error = || DecodeError::BadRouteRefreshLength { message: vec![0xff; 24] };
    let open_error = || DecodeError::UnsupportedVersion { version: 3 };
    let header_error = || DecodeError::BadMessageLength { length: 18 };
    let header = Some(Notification { code: 1, subcode: 2, data: vec![0, 18] });
    let version = Some(Notification { code: 2, subcode: 1, data: vec![0, 4] });
    let cases: [(Make, DecodeError, Option<Notification>); 10] = [
        (|| open_sent_session(config()), update_error(), fsm_error(1, 2)),
        (|| open_sent_session(config()), refresh_error(), fsm_error(1, 5)),
        (|| open_sent_session(config()), open_error(), version.clone()),
        (|| open_sent_session(config()), header_error(), header.clone()),
        (open_confirm_session, update_error(), fsm_error(2, 2)),
        (open_confirm_session, open_error(), version.clone()),
        (open_confirm_session, header_error(), header.clone()),
        (established_session, open_error(), fsm_error(3, 1)),
        (established_session, header_error(), header.clone()),
        (established_session, update_error(), Some(Notification { code: 3, subcode: 10, data: vec![] })),
    ];
    for (session, error, expected) in cases {
        let mut session = session();
        let state = session.state();
        let out = session.handle(t0(), Input::DecodeFailed(error.clone()));
        assert_eq!(notification_sent(&out), expected, "{error:?} in {state:?}");
        assert_eq!(session.state(), State::Idle);
    }
}

/// RFC 9687: a peer that takes nothing for the send hold time is sent (as far as it goes)
/// Send Hold Timer Expired, code 8, subcode 0, and the session starts over.
#[test]
fn send_hold_timer_expiry_sends_send_hold_timer_expired_and_starts_over() {
    for mut session in [open_sent_session(config()), open_confirm_session(), established_session()] {
        let out = session.handle(t0(), Input::SendHoldTimerExpired);
        assert_eq!(notification_sent(&out), Some(Notification::new(8, 0)));
        assert!(out.contains(&Output::Disconnect));
        assert_eq!(session.state(), State::Idle);
        assert!(armed(&session, Timer::IdleHold).is_some());
    }
}

#[test]
fn the_send_hold_time_is_eight_minutes_or_twice_the_hold_time() {
    let mut session = open_sent_session(SessionConfig { hold_time: HoldTime::new(400).unwrap(), ..config() });
    assert_eq!(session.send_hold_time(), Duration::from_secs(480), "before the hold time is negotiated");
    session.handle(t0(), Input::MessageReceived(remote_open(64513, 300)));
    assert_eq!(session.send_hold_time(), Duration::from_secs(600), "twice the negotiated 300 s");
    let session = established_session();
    assert_eq!(session.send_hold_time(), Duration::from_secs(480), "hold 90: 8 minutes");
}
