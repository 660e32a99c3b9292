//! One session against packets written by hand: the state × received-state table of RFC 5880
//! §6.8.6, the timer rules of §6.8.3–6.8.4, Poll Sequences (§6.5) and the transmission rules
//! of §6.8.7 (STYLE 11).

use std::time::{Duration, Instant};

use ferrolb_bfd::{
    AuthSection, AuthType, ConfigError, ControlPacket, Diagnostic, Discarded, Event, Session, SessionConfig,
    State,
};

use super::{discr, mult, peer_packet};

const LOCAL: u32 = 1;
const REMOTE: u32 = 2;
const MS: Duration = Duration::from_millis(1);

fn session_with(config: SessionConfig, now: Instant) -> Session {
    Session::new(config, discr(LOCAL), 7, now).expect("valid config")
}

fn active(now: Instant) -> Session {
    session_with(SessionConfig::default(), now)
}

fn from_peer(state: State) -> ControlPacket {
    let to = if matches!(state, State::Down | State::AdminDown) { 0 } else { LOCAL };
    peer_packet(state, REMOTE, to)
}

fn sent(session: &mut Session) -> Vec<ControlPacket> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn changed(from: State, to: State, diagnostic: Diagnostic, remote_state: State) -> Event {
    Event::StateChanged { from, to, diagnostic, remote_state }
}

/// A session in `state`, brought there by the peer's packets at `now`, with its output drained.
fn session_in(state: State, now: Instant) -> Session {
    let mut s = active(now);
    match state {
        State::AdminDown => s.admin_down(now),
        State::Down => {}
        State::Init => s.handle_packet(&from_peer(State::Down), now).expect("accepted"),
        State::Up => s.handle_packet(&from_peer(State::Init), now).expect("accepted"),
    }
    assert_eq!(s.state(), state);
    sent(&mut s);
    events(&mut s);
    s
}

/// Answers a pending Poll of `s` with a Final from the peer.
fn answer_poll(s: &mut Session, now: Instant) {
    let mut fin = from_peer(State::Up);
    fin.flags.final_ = true;
    s.handle_packet(&fin, now).expect("accepted");
}

#[test]
fn an_active_session_sends_down_at_once_with_slow_timers() {
    let now = Instant::now();
    let mut s = active(now);
    let packets = sent(&mut s);
    assert_eq!(packets.len(), 1);
    let p = &packets[0];
    assert_eq!((p.state, p.diagnostic, p.your_discriminator), (State::Down, Diagnostic::None, 0));
    assert_eq!(p.my_discriminator, discr(LOCAL));
    assert_eq!(p.detect_mult, mult(3));
    assert_eq!(p.desired_min_tx, 1_000_000, "not Up: no faster than once a second");
    assert_eq!(p.required_min_rx, 300_000);
    assert_eq!(p.required_min_echo_rx, 0, "no echo");
    assert!(!p.flags.poll && !p.flags.final_ && !p.flags.demand && p.auth.is_none());
    assert_eq!(s.transmit_interval(), Some(Duration::from_secs(1)));
    assert_eq!(s.detection_time(), None);
}

#[test]
fn a_passive_session_is_silent_until_it_hears_the_peer() {
    let now = Instant::now();
    let mut s = session_with(SessionConfig { passive: true, ..SessionConfig::default() }, now);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(now + Duration::from_secs(10));
    assert!(sent(&mut s).is_empty());
    s.handle_packet(&from_peer(State::Down), now + Duration::from_secs(10)).expect("accepted");
    let packets = sent(&mut s);
    assert_eq!(packets.len(), 1);
    assert_eq!((packets[0].state, packets[0].your_discriminator), (State::Init, REMOTE));
}

#[test]
fn a_passive_session_falls_silent_again_when_the_peer_is_gone_a_detection_time() {
    let now = Instant::now();
    let mut s = session_with(SessionConfig { passive: true, ..SessionConfig::default() }, now);
    s.handle_packet(&from_peer(State::Down), now).expect("accepted");
    // Init, then no packet for 3 × 300 ms: Down, the peer's discriminator forgotten.
    s.handle_timeout(now + 900 * MS);
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.remote_discriminator(), None);
    assert!(sent(&mut s).iter().all(|p| p.state != State::Down), "passive: no Down packet to nobody");
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn down_hearing_down_goes_init() {
    let now = Instant::now();
    let mut s = session_in(State::Down, now);
    s.handle_packet(&from_peer(State::Down), now).expect("accepted");
    assert_eq!(s.state(), State::Init);
    assert_eq!(events(&mut s), [changed(State::Down, State::Init, Diagnostic::None, State::Down)]);
    let p = &sent(&mut s)[0];
    assert_eq!((p.state, p.your_discriminator), (State::Init, REMOTE), "sent at once");
}

#[test]
fn down_hearing_init_goes_up_and_starts_a_poll_for_the_fast_rate() {
    let now = Instant::now();
    let mut s = session_in(State::Down, now);
    s.handle_packet(&from_peer(State::Init), now).expect("accepted");
    assert_eq!(s.state(), State::Up);
    assert_eq!(events(&mut s), [changed(State::Down, State::Up, Diagnostic::None, State::Init)]);
    let p = &sent(&mut s)[0];
    assert_eq!((p.state, p.desired_min_tx), (State::Up, 300_000));
    assert!(p.flags.poll, "Desired Min TX changed from 1 s: a Poll Sequence");
    assert_eq!(s.transmit_interval(), Some(300 * MS), "a faster rate applies at once");
}

#[test]
fn down_hearing_up_or_admin_down_stays_down() {
    let now = Instant::now();
    for state in [State::Up, State::AdminDown] {
        let mut s = session_in(State::Down, now);
        s.handle_packet(&from_peer(state), now).expect("accepted");
        assert_eq!(s.state(), State::Down, "hearing {state}");
        assert!(events(&mut s).is_empty());
    }
}

#[test]
fn init_hearing_init_or_up_goes_up() {
    let now = Instant::now();
    for state in [State::Init, State::Up] {
        let mut s = session_in(State::Init, now);
        s.handle_packet(&from_peer(state), now).expect("accepted");
        assert_eq!(events(&mut s), [changed(State::Init, State::Up, Diagnostic::None, state)]);
    }
}

#[test]
fn init_hearing_down_stays_init() {
    let now = Instant::now();
    let mut s = session_in(State::Init, now);
    s.handle_packet(&from_peer(State::Down), now + 100 * MS).expect("accepted");
    assert_eq!(s.state(), State::Init);
    assert!(events(&mut s).is_empty());
}

#[test]
fn init_or_up_hearing_admin_down_goes_down_because_the_neighbor_signaled_it() {
    let now = Instant::now();
    for state in [State::Init, State::Up] {
        let mut s = session_in(state, now);
        s.handle_packet(&from_peer(State::AdminDown), now).expect("accepted");
        assert_eq!(
            events(&mut s),
            [changed(state, State::Down, Diagnostic::NeighborSignaledSessionDown, State::AdminDown)]
        );
        let p = &sent(&mut s)[0];
        assert_eq!((p.state, p.diagnostic), (State::Down, Diagnostic::NeighborSignaledSessionDown));
    }
}

#[test]
fn up_hearing_down_goes_down_because_the_neighbor_signaled_it() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    s.handle_packet(&from_peer(State::Down), now).expect("accepted");
    assert_eq!(
        events(&mut s),
        [changed(State::Up, State::Down, Diagnostic::NeighborSignaledSessionDown, State::Down)]
    );
    assert_eq!(sent(&mut s)[0].desired_min_tx, 1_000_000, "back to the slow rate");
}

#[test]
fn up_hearing_init_or_up_stays_up() {
    let now = Instant::now();
    for state in [State::Init, State::Up] {
        let mut s = session_in(State::Up, now);
        s.handle_packet(&from_peer(state), now).expect("accepted");
        assert_eq!(s.state(), State::Up);
        assert!(events(&mut s).is_empty());
    }
}

#[test]
fn init_or_up_without_packets_for_the_detection_time_goes_down_with_diagnostic_1() {
    let now = Instant::now();
    // The peer's packet that brought each state.
    for (state, heard) in [(State::Init, State::Down), (State::Up, State::Init)] {
        let mut s = session_in(state, now);
        assert_eq!(s.detection_time(), Some(900 * MS), "3 × max(300 ms, 300 ms)");
        assert_eq!(s.poll_timeout().map(|t| t <= now + 900 * MS), Some(true));
        s.handle_timeout(now + 899 * MS);
        assert_eq!(s.state(), state, "not yet");
        s.handle_timeout(now + 900 * MS);
        assert_eq!(
            events(&mut s),
            [changed(state, State::Down, Diagnostic::ControlDetectionTimeExpired, heard)]
        );
        assert_eq!(s.remote_discriminator(), None, "forgotten after a detection time (§6.8.1)");
        let p = sent(&mut s).pop().expect("Down sent");
        assert_eq!(
            (p.state, p.diagnostic, p.your_discriminator),
            (State::Down, Diagnostic::ControlDetectionTimeExpired, 0)
        );
    }
}

#[test]
fn each_packet_heard_restarts_the_detection_time() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    for k in 1..=10 {
        s.handle_packet(&from_peer(State::Up), now + k * 800 * MS).expect("accepted");
        s.handle_timeout(now + k * 800 * MS + 899 * MS);
        assert_eq!(s.state(), State::Up);
    }
    s.handle_timeout(now + 8900 * MS);
    assert_eq!(s.state(), State::Down);
}

#[test]
fn admin_down_tells_the_peer_with_diagnostic_7_and_ignores_its_packets() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    s.admin_down(now);
    assert_eq!(
        events(&mut s),
        [changed(State::Up, State::AdminDown, Diagnostic::AdministrativelyDown, State::Init)]
    );
    let p = &sent(&mut s)[0];
    assert_eq!(
        (p.state, p.diagnostic, p.desired_min_tx),
        (State::AdminDown, Diagnostic::AdministrativelyDown, 1_000_000)
    );
    assert_eq!(s.handle_packet(&from_peer(State::Down), now), Err(Discarded::AdminDown));
    assert_eq!(s.state(), State::AdminDown);
    s.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(s.state(), State::AdminDown, "no detection in AdminDown");
    assert!(sent(&mut s).iter().all(|p| p.state == State::AdminDown), "still tells the peer");

    s.admin_up(now + Duration::from_secs(10));
    assert_eq!(
        events(&mut s),
        [changed(State::AdminDown, State::Down, Diagnostic::AdministrativelyDown, State::Down)]
    );
    s.handle_packet(&from_peer(State::Down), now + Duration::from_secs(10)).expect("accepted");
    assert_eq!(s.state(), State::Init);
}

#[test]
fn a_packet_with_authentication_is_discarded() {
    let now = Instant::now();
    let mut s = session_in(State::Down, now);
    let mut p = from_peer(State::Down);
    p.auth = AuthSection::new(AuthType::KeyedMd5, vec![0; 22]);
    assert_eq!(s.handle_packet(&p, now), Err(Discarded::Authenticated));
    assert_eq!((s.state(), s.remote_discriminator()), (State::Down, None));
}

#[test]
fn a_packet_for_another_discriminator_is_discarded() {
    let now = Instant::now();
    let mut s = session_in(State::Down, now);
    let p = peer_packet(State::Init, REMOTE, 99);
    assert_eq!(s.handle_packet(&p, now), Err(Discarded::OtherSession { ours: LOCAL, got: 99 }));
    assert_eq!(s.state(), State::Down);
}

#[test]
fn a_poll_is_answered_at_once_with_final_and_never_both_bits() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    // Our own Poll Sequence (from coming Up) is still running.
    assert!(s.polling());
    let mut poll = from_peer(State::Up);
    poll.flags.poll = true;
    s.handle_packet(&poll, now + MS).expect("accepted");
    let packets = sent(&mut s);
    assert_eq!(packets.len(), 1);
    assert!(packets[0].flags.final_ && !packets[0].flags.poll);
    // The next periodic packet still polls.
    s.handle_timeout(now + 300 * MS);
    let p = sent(&mut s).pop().expect("periodic");
    assert!(p.flags.poll && !p.flags.final_);
}

#[test]
fn negotiated_interval_and_detection_time_follow_the_peer() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    let mut p = from_peer(State::Up);
    p.required_min_rx = 500_000;
    p.desired_min_tx = 700_000;
    p.detect_mult = mult(4);
    s.handle_packet(&p, now).expect("accepted");
    assert_eq!(s.transmit_interval(), Some(500 * MS), "max(our 300 ms TX, their 500 ms RX)");
    assert_eq!(s.detection_time(), Some(2800 * MS), "4 × max(our 300 ms RX, their 700 ms TX)");
}

#[test]
fn a_peer_asking_for_no_packets_gets_none_but_its_polls_are_answered() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    let mut p = from_peer(State::Up);
    p.required_min_rx = 0;
    s.handle_packet(&p, now).expect("accepted");
    assert_eq!(s.transmit_interval(), None);
    s.handle_timeout(now + Duration::from_secs(1));
    assert!(sent(&mut s).is_empty());
    p.flags.poll = true;
    s.handle_packet(&p, now + Duration::from_secs(1)).expect("accepted");
    assert!(sent(&mut s)[0].flags.final_);
}

#[test]
fn a_demand_mode_peer_stops_our_periodic_packets_while_both_are_up() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    let mut p = from_peer(State::Up);
    p.flags.demand = true;
    s.handle_packet(&p, now).expect("accepted");
    assert_eq!(s.transmit_interval(), None, "§6.6: the receiver of D ceases periodic packets");
    s.handle_timeout(now + 500 * MS);
    assert!(sent(&mut s).is_empty());
    // It keeps sending to us (we are not in Demand mode), so detection still works.
    p.flags.poll = true;
    s.handle_packet(&p, now + 600 * MS).expect("accepted");
    assert!(sent(&mut s)[0].flags.final_, "polls are answered in Demand mode");
    s.handle_timeout(now + 1500 * MS);
    assert_eq!(s.state(), State::Down, "detection time expired");
    assert!(!sent(&mut s).is_empty(), "not Up: periodic again");
}

#[test]
fn a_demand_mode_peer_still_gets_our_poll_sequence() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    let mut p = from_peer(State::Up);
    p.flags.demand = true;
    s.handle_packet(&p, now).expect("accepted");
    s.reconfigure(SessionConfig { required_min_rx: 100 * MS, ..SessionConfig::default() }).expect("valid");
    assert!(s.polling());
    s.handle_timeout(now + 300 * MS);
    assert!(sent(&mut s).pop().expect("poll sent").flags.poll);
}

#[test]
fn periodic_packets_are_jittered_between_75_and_100_percent() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    let mut last = now;
    let mut gaps = Vec::new();
    for _ in 0..500 {
        let at = s.poll_timeout().expect("timer");
        s.handle_timeout(at);
        assert_eq!(sent(&mut s).len(), 1);
        s.handle_packet(&from_peer(State::Up), at).expect("accepted");
        gaps.push(at - last);
        last = at;
    }
    assert!(gaps.iter().all(|g| *g >= 225 * MS && *g <= 300 * MS), "{gaps:?}");
    let spread = gaps.iter().max().unwrap().as_micros() - gaps.iter().min().unwrap().as_micros();
    assert!(spread > 50_000, "jitter is random, spread {spread} us");
}

#[test]
fn with_detect_mult_1_jitter_stays_between_75_and_90_percent() {
    let now = Instant::now();
    let config = SessionConfig { detect_multiplier: mult(1), ..SessionConfig::default() };
    let mut s = session_with(config, now);
    s.handle_packet(&from_peer(State::Init), now).expect("accepted");
    answer_poll(&mut s, now);
    sent(&mut s);
    let mut last = now;
    for _ in 0..500 {
        let at = s.poll_timeout().expect("timer");
        s.handle_timeout(at);
        s.handle_packet(&from_peer(State::Up), at).expect("accepted");
        let gap = at - last;
        assert!(gap >= 225 * MS && gap <= 270 * MS, "{gap:?}");
        assert_eq!(sent(&mut s).len(), 1);
        last = at;
    }
}

#[test]
fn a_slower_transmit_interval_waits_for_the_final() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    s.reconfigure(SessionConfig { desired_min_tx: Duration::from_secs(1), ..SessionConfig::default() })
        .expect("valid");
    assert!(s.polling());
    assert_eq!(s.transmit_interval(), Some(300 * MS), "unchanged until the Final");
    let at = s.poll_timeout().expect("timer");
    s.handle_timeout(at);
    let p = sent(&mut s).pop().expect("poll");
    assert!(p.flags.poll);
    assert_eq!(p.desired_min_tx, 1_000_000, "the new value is advertised in the Poll");
    answer_poll(&mut s, at);
    assert!(!s.polling());
    assert_eq!(s.transmit_interval(), Some(Duration::from_secs(1)));
}

#[test]
fn a_faster_transmit_interval_applies_at_once() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    s.reconfigure(SessionConfig { desired_min_tx: 100 * MS, ..SessionConfig::default() }).expect("valid");
    assert!(s.polling());
    let mut p = from_peer(State::Up);
    p.required_min_rx = 50_000;
    s.handle_packet(&p, now).expect("accepted");
    assert_eq!(s.transmit_interval(), Some(100 * MS));
}

#[test]
fn a_shorter_receive_interval_shortens_detection_only_after_the_final() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    let mut fast_peer = from_peer(State::Up);
    fast_peer.desired_min_tx = 50_000;
    s.handle_packet(&fast_peer, now).expect("accepted");
    s.reconfigure(SessionConfig { required_min_rx: 100 * MS, ..SessionConfig::default() }).expect("valid");
    assert_eq!(s.detection_time(), Some(900 * MS), "the old 300 ms until the Final");
    fast_peer.flags.final_ = true;
    s.handle_packet(&fast_peer, now).expect("accepted");
    assert_eq!(s.detection_time(), Some(300 * MS), "3 × 100 ms");
}

#[test]
fn a_longer_receive_interval_lengthens_detection_at_once() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    s.reconfigure(SessionConfig { required_min_rx: Duration::from_secs(1), ..SessionConfig::default() })
        .expect("valid");
    assert_eq!(s.detection_time(), Some(Duration::from_secs(3)));
    assert!(s.polling());
}

#[test]
fn a_change_during_a_poll_sequence_gets_its_own_sequence() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    s.reconfigure(SessionConfig { desired_min_tx: 500 * MS, ..SessionConfig::default() }).expect("valid");
    s.reconfigure(SessionConfig { desired_min_tx: Duration::from_secs(2), ..SessionConfig::default() })
        .expect("valid");
    answer_poll(&mut s, now + MS);
    assert_eq!(s.transmit_interval(), Some(500 * MS), "the first sequence's value is confirmed");
    assert!(s.polling(), "the second value needs its own Final");
    answer_poll(&mut s, now + 2 * MS);
    assert_eq!(s.transmit_interval(), Some(Duration::from_secs(2)));
    assert!(!s.polling());
}

#[test]
fn a_change_while_not_up_needs_no_poll() {
    let now = Instant::now();
    let mut s = session_in(State::Init, now);
    s.reconfigure(SessionConfig { required_min_rx: 100 * MS, ..SessionConfig::default() }).expect("valid");
    assert!(!s.polling());
    assert_eq!(s.detection_time(), Some(900 * MS), "3 × max(100 ms, their 300 ms TX)");
}

#[test]
fn a_final_without_a_poll_changes_nothing() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    answer_poll(&mut s, now);
    answer_poll(&mut s, now);
    assert_eq!((s.state(), s.polling(), s.transmit_interval()), (State::Up, false, Some(300 * MS)));
}

#[test]
fn intervals_outside_1ms_to_u32_microseconds_are_refused() {
    let now = Instant::now();
    let zero = SessionConfig { desired_min_tx: Duration::ZERO, ..SessionConfig::default() };
    let error = Session::new(zero, discr(1), 0, now).unwrap_err();
    assert_eq!(error, ConfigError::Interval { field: "desired_min_tx", got: Duration::ZERO });
    assert_eq!(error.to_string(), "BFD desired_min_tx of 0ns is out of range, expected 1ms to 4294.967295s");
    let huge = SessionConfig { required_min_rx: Duration::from_secs(5000), ..SessionConfig::default() };
    let mut s = active(now);
    assert!(s.reconfigure(huge).is_err());
    assert_eq!(s.config(), &SessionConfig::default(), "a refused config changes nothing");
}

#[test]
fn defaults_are_metallb_bfd_profile_defaults() {
    let c = SessionConfig::default();
    assert_eq!((c.desired_min_tx, c.required_min_rx), (300 * MS, 300 * MS));
    assert_eq!((c.detect_multiplier, c.passive, c.minimum_ttl), (mult(3), false, 254));
}

#[test]
fn going_down_ends_a_poll_sequence_even_when_the_rate_stays_the_same() {
    let now = Instant::now();
    let slow = SessionConfig { desired_min_tx: Duration::from_secs(2), ..SessionConfig::default() };
    let mut s = session_with(slow, now);
    s.handle_packet(&from_peer(State::Init), now).expect("accepted");
    assert!(!s.polling(), "2 s is above the slow rate: nothing changed on coming Up");
    s.reconfigure(SessionConfig { required_min_rx: 100 * MS, ..slow }).expect("valid");
    assert!(s.polling());
    s.handle_packet(&from_peer(State::Down), now).expect("accepted");
    assert!(!s.polling());
    assert!(sent(&mut s).iter().all(|p| !p.flags.poll || p.state == State::Up));
    assert_eq!(s.detection_time(), Some(900 * MS), "3 × max(100 ms, their 300 ms TX), at once");
}
