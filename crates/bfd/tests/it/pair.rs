//! Two sessions back to back on a simulated clock (STYLE 12): every packet goes through the
//! codec and a fixed one-way latency, and every assertion is on the simulated clock.

use std::time::{Duration, Instant};

use ferrolb_bfd::{ControlPacket, Diagnostic, Discarded, Event, Session, SessionConfig, State};

use super::discr;

const MS: Duration = Duration::from_millis(1);
const LATENCY: Duration = Duration::from_micros(200);

/// Side 0 and side 1, wired to each other.
struct Pair {
    now: Instant,
    sides: [Session; 2],
    /// A silent side's packets are lost on the way (it still hears the other).
    silent: [bool; 2],
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    /// Every packet sent: when, by which side.
    sent: Vec<(Instant, usize, ControlPacket)>,
    /// Every packet delivered: when, to which side.
    delivered: Vec<(Instant, usize)>,
    events: Vec<(Instant, usize, Event)>,
}

impl Pair {
    fn new(configs: [SessionConfig; 2]) -> Pair {
        let now = Instant::now();
        let [a, b] = configs;
        let sides = [
            Session::new(a, discr(0x1111), 1, now).expect("valid"),
            Session::new(b, discr(0x2222), 2, now).expect("valid"),
        ];
        let mut pair = Pair {
            now,
            sides,
            silent: [false; 2],
            in_flight: Vec::new(),
            sent: Vec::new(),
            delivered: Vec::new(),
            events: Vec::new(),
        };
        pair.flush(0);
        pair.flush(1);
        pair
    }

    fn flush(&mut self, side: usize) {
        while let Some(packet) = self.sides[side].poll_transmit() {
            let bytes = packet.encode();
            if !self.silent[side] {
                self.in_flight.push((self.now + LATENCY, 1 - side, bytes));
            }
            self.sent.push((self.now, side, packet));
        }
        while let Some(event) = self.sides[side].poll_event() {
            self.events.push((self.now, side, event));
        }
    }

    /// Runs the simulated clock to `end`, or until `done` holds.
    fn run_until(&mut self, end: Instant, done: impl Fn(&Pair) -> bool) {
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            let arrival = self.in_flight.iter().map(|(at, _, _)| *at).min();
            let next = [arrival, self.sides[0].poll_timeout(), self.sides[1].poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= end => self.now = self.now.max(at),
                _ => {
                    self.now = end;
                    return;
                }
            }
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|(at, _, _)| *at <= now);
            self.in_flight = later;
            for (_, to, bytes) in due {
                let packet = ControlPacket::decode(&bytes).expect("a session's packet decodes");
                match self.sides[to].handle_packet(&packet, now) {
                    Ok(()) | Err(Discarded::AdminDown) => {}
                    Err(other) => panic!("side {to} discarded {packet:?}: {other}"),
                }
                self.delivered.push((now, to));
                self.flush(to);
            }
            for side in 0..2 {
                if self.sides[side].poll_timeout().is_some_and(|at| at <= now) {
                    self.sides[side].handle_timeout(now);
                    self.flush(side);
                }
            }
        }
        panic!("simulation did not advance");
    }

    fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        self.run_until(end, |_| false);
    }

    fn both_up(&self) -> bool {
        self.sides.iter().all(|s| s.state() == State::Up && !s.polling())
    }

    /// Gaps between the periodic (non-Final) packets `side` sent after `since`.
    fn gaps(&self, side: usize, since: Instant) -> Vec<Duration> {
        let times: Vec<Instant> = self
            .sent
            .iter()
            .filter(|(at, from, p)| *from == side && *at >= since && !p.flags.final_)
            .map(|(at, _, _)| *at)
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn events_since(&self, since: Instant) -> Vec<(Instant, usize, Event)> {
        self.events.iter().filter(|(at, _, _)| *at >= since).copied().collect()
    }
}

fn up_pair(configs: [SessionConfig; 2]) -> Pair {
    let mut pair = Pair::new(configs);
    let start = pair.now;
    pair.run_until(start + Duration::from_secs(5), Pair::both_up);
    assert!(pair.both_up(), "both Up within 5 s");
    pair
}

fn went(from: State, to: State, diagnostic: Diagnostic, remote_state: State) -> Event {
    Event::StateChanged { from, to, diagnostic, remote_state }
}

#[test]
fn two_active_sessions_come_up_in_a_few_packets_and_stay_up_for_minutes() {
    let mut pair = Pair::new([SessionConfig::default(); 2]);
    let start = pair.now;
    pair.run_until(start + Duration::from_secs(5), |p| p.sides.iter().all(|s| s.state() == State::Up));
    assert!(pair.now <= start + 2 * LATENCY, "Up after two one-way trips, at {:?}", pair.now - start);
    // Down, Init, and Up (sent on coming Up) from each side.
    assert!(pair.sent.len() <= 6, "{} packets", pair.sent.len());

    pair.run_for(Duration::from_secs(1));
    assert!(pair.both_up(), "the Poll Sequences of coming Up have ended");
    let steady = pair.now;
    pair.run_for(Duration::from_secs(300));
    assert!(pair.both_up());
    assert_eq!(pair.events_since(steady), [], "no state change in 5 minutes");
    for side in 0..2 {
        let gaps = pair.gaps(side, steady);
        assert!(gaps.len() > 1000, "side {side} sent {} packets", gaps.len());
        assert!(gaps.iter().all(|g| *g >= 225 * MS && *g <= 300 * MS), "side {side}: 75–100% of 300 ms");
        assert_eq!(pair.sides[side].transmit_interval(), Some(300 * MS));
        assert_eq!(pair.sides[side].detection_time(), Some(900 * MS));
    }
}

#[test]
fn a_passive_session_comes_up_with_an_active_one() {
    let passive = SessionConfig { passive: true, ..SessionConfig::default() };
    let mut pair = Pair::new([passive, SessionConfig::default()]);
    assert!(pair.sent.iter().all(|(_, from, _)| *from == 1), "only the active side speaks first");
    let start = pair.now;
    pair.run_until(start + Duration::from_secs(5), Pair::both_up);
    assert!(pair.both_up());
    assert!(pair.now < start + Duration::from_secs(1), "no need to wait for a period");
}

#[test]
fn when_one_side_falls_silent_the_other_goes_down_within_the_detection_time() {
    let mut pair = up_pair([SessionConfig::default(); 2]);
    pair.run_for(Duration::from_secs(60));
    let silenced = pair.now;
    pair.silent[1] = true;
    pair.run_until(silenced + Duration::from_secs(5), |p| p.sides[0].state() == State::Down);

    let down_at = pair.now;
    let last_heard =
        pair.delivered.iter().filter(|(_, to)| *to == 0).map(|(at, _)| *at).max().expect("heard once");
    let detection = Duration::from_millis(900);
    assert_eq!(pair.sides[0].diagnostic(), Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(down_at - last_heard, detection, "down exactly one detection time after the last packet");
    assert!(down_at - silenced <= detection + LATENCY, "within the detection time of the silence");
    assert_eq!(
        pair.events_since(silenced)[0],
        (down_at, 0, went(State::Up, State::Down, Diagnostic::ControlDetectionTimeExpired, State::Up))
    );

    // The silent side still hears side 0's Down and follows it.
    pair.run_for(10 * MS);
    assert_eq!(pair.sides[1].state(), State::Down);
    assert_eq!(pair.sides[1].diagnostic(), Diagnostic::NeighborSignaledSessionDown);

    // Side 0 keeps trying, once a second, and the session comes back with the link.
    let gaps = {
        let from = pair.now;
        pair.run_for(Duration::from_secs(10));
        pair.gaps(0, from)
    };
    assert!(gaps.iter().all(|g| *g >= 750 * MS && *g <= Duration::from_secs(1)), "{gaps:?}");
    pair.silent[1] = false;
    let back = pair.now;
    pair.run_until(back + Duration::from_secs(5), Pair::both_up);
    assert!(pair.both_up());
}

#[test]
fn a_slower_transmit_interval_while_up_goes_through_poll_and_final_then_is_used() {
    let mut pair = up_pair([SessionConfig::default(); 2]);
    pair.run_for(Duration::from_secs(10));
    let changed = pair.now;
    let slow = SessionConfig { desired_min_tx: Duration::from_secs(1), ..SessionConfig::default() };
    pair.sides[0].reconfigure(slow).expect("valid");
    pair.run_until(changed + Duration::from_secs(5), |p| !p.sides[0].polling());
    let confirmed = pair.now;

    let polls: Vec<_> = pair.sent.iter().filter(|(at, _, p)| *at >= changed && p.flags.poll).collect();
    assert_eq!(polls.len(), 1, "one Poll, answered at once");
    let (poll_at, from, poll) = polls[0];
    assert_eq!((*from, poll.desired_min_tx), (0, 1_000_000));
    assert!(*poll_at - changed <= 300 * MS, "the Poll went out at the old rate");
    let finals: Vec<_> = pair.sent.iter().filter(|(at, _, p)| *at >= changed && p.flags.final_).collect();
    assert_eq!(finals.len(), 1);
    assert_eq!((finals[0].0, finals[0].1), (*poll_at + LATENCY, 1), "Final sent the moment the Poll arrived");
    assert_eq!(confirmed, *poll_at + 2 * LATENCY);

    assert_eq!(pair.sides[1].detection_time(), Some(Duration::from_secs(3)), "3 × the new 1 s");
    pair.run_for(Duration::from_secs(60));
    let gaps = pair.gaps(0, confirmed);
    assert!(gaps.len() > 50);
    assert!(gaps.iter().all(|g| *g >= 750 * MS && *g <= Duration::from_secs(1)), "{gaps:?}");
    assert!(pair.both_up());
    assert_eq!(pair.events_since(changed), []);
}

#[test]
fn faster_timers_on_both_sides_are_confirmed_and_shorten_detection() {
    let mut pair = up_pair([SessionConfig::default(); 2]);
    pair.run_for(Duration::from_secs(10));
    let changed = pair.now;
    let fast =
        SessionConfig { desired_min_tx: 50 * MS, required_min_rx: 50 * MS, ..SessionConfig::default() };
    pair.sides[0].reconfigure(fast).expect("valid");
    pair.sides[1].reconfigure(fast).expect("valid");
    assert_eq!(pair.sides[0].detection_time(), Some(900 * MS), "not shorter before the Final");
    pair.run_until(changed + Duration::from_secs(5), |p| p.both_up());
    for side in 0..2 {
        assert_eq!(pair.sides[side].detection_time(), Some(150 * MS));
        assert_eq!(pair.sides[side].transmit_interval(), Some(50 * MS));
    }
    let confirmed = pair.now;
    pair.run_for(Duration::from_secs(30));
    for side in 0..2 {
        let gaps = pair.gaps(side, confirmed);
        assert!(gaps.iter().all(|g| *g >= 37_500 * Duration::from_micros(1) && *g <= 50 * MS), "{gaps:?}");
    }
    assert_eq!(pair.events_since(changed), []);
}

#[test]
fn admin_down_on_one_side_brings_the_other_down_as_signaled_and_admin_up_restores() {
    let mut pair = up_pair([SessionConfig::default(); 2]);
    let now = pair.now;
    pair.sides[0].admin_down(now);
    pair.flush(0);
    pair.run_for(10 * MS);
    assert_eq!(pair.sides[1].state(), State::Down);
    assert_eq!(
        pair.events_since(now).last().map(|(_, side, e)| (*side, *e)),
        Some((1, went(State::Up, State::Down, Diagnostic::NeighborSignaledSessionDown, State::AdminDown)))
    );
    pair.run_for(Duration::from_secs(30));
    assert_eq!(pair.sides[1].state(), State::Down, "stays down while the peer is AdminDown");

    let now = pair.now;
    pair.sides[0].admin_up(now);
    pair.flush(0);
    pair.run_until(now + Duration::from_secs(5), Pair::both_up);
    assert!(pair.both_up());
}
