//! Two sessions back to back on a fake clock, no sockets (STYLE 12).
//!
//! Every message crosses the "wire" as bytes: encoded by the sender with its
//! negotiated context, framed and decoded by the receiver with its own.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferrolb_bgp::fsm::{Input, Output, PeerAs, Session, SessionConfig, State};
use ferrolb_bgp::message::{Message, message_len};
use ferrolb_bgp::types::{Asn, HoldTime, RouterId};

struct Side {
    session: Session,
    inbox: VecDeque<Vec<u8>>,
    /// Drops everything this side sends, as if its process hung.
    mute: bool,
    /// Messages this side sent, for assertions.
    sent: Vec<Message>,
}

struct Pair {
    now: Instant,
    start: Instant,
    sides: [Side; 2],
    connected: bool,
}

impl Pair {
    /// Speaker 0 (AS 64512, connects) and speaker 1 (AS 64513, passive), hold times as given.
    fn new(hold: [u16; 2]) -> Pair {
        let side = |local: u32, peer: u32, id: u8, hold: u16, passive: bool| Side {
            session: Session::new(SessionConfig {
                hold_time: HoldTime::new(hold).unwrap(),
                passive,
                ..SessionConfig::new(
                    Asn::new(local).unwrap(),
                    RouterId::new(Ipv4Addr::new(192, 0, 2, id)).unwrap(),
                    PeerAs::Fixed(Asn::new(peer).unwrap()),
                )
            }),
            inbox: VecDeque::new(),
            mute: false,
            sent: Vec::new(),
        };
        let now = Instant::now();
        Pair {
            now,
            start: now,
            sides: [side(64512, 64513, 1, hold[0], false), side(64513, 64512, 2, hold[1], true)],
            connected: false,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn state(&self, side: usize) -> State {
        self.sides[side].session.state()
    }

    fn input(&mut self, side: usize, input: Input) {
        let outputs = self.sides[side].session.handle(self.now, input);
        for output in outputs {
            self.perform(side, output);
        }
    }

    fn perform(&mut self, side: usize, output: Output) {
        let other = 1 - side;
        match output {
            Output::Connect => {
                if !self.connected && self.state(other) == State::Active {
                    self.connected = true;
                    self.input(side, Input::TcpConnected);
                    self.input(other, Input::TcpConnected);
                } else {
                    self.input(side, Input::TcpFailed);
                }
            }
            Output::Disconnect => {
                if std::mem::take(&mut self.connected) {
                    self.input(other, Input::TcpClosed);
                }
            }
            Output::Send(message) => {
                let encode =
                    self.sides[side].session.negotiated().map(|n| n.encode_context()).unwrap_or_default();
                self.sides[side].sent.push(message.clone());
                if self.connected && !self.sides[side].mute {
                    self.sides[other].inbox.push_back(message.to_bytes(&encode));
                }
            }
            Output::StateChanged { .. }
            | Output::Established(_)
            | Output::Update(_)
            | Output::RouteRefresh(_) => {}
        }
    }

    /// Delivers one pending message, or else fires the earliest timer; false when nothing is left before `until`.
    fn step(&mut self, until: Instant) -> bool {
        for side in 0..2 {
            if let Some(bytes) = self.sides[side].inbox.pop_front() {
                assert_eq!(message_len(&bytes), Some(bytes.len()));
                let ctx =
                    self.sides[side].session.negotiated().map(|n| n.decode_context()).unwrap_or_default();
                let input = match Message::decode(&bytes, &ctx) {
                    Ok(message) => Input::MessageReceived(message),
                    Err(error) => Input::DecodeFailed(error),
                };
                self.input(side, input);
                return true;
            }
        }
        // The timer contract: each side says when it next needs the time.
        let next = (0..2).filter_map(|side| Some((self.sides[side].session.poll_timeout()?, side))).min();
        match next {
            Some((at, side)) if at <= until => {
                self.now = at;
                let outputs = self.sides[side].session.handle_timeout(at);
                for output in outputs {
                    self.perform(side, output);
                }
                true
            }
            _ => false,
        }
    }

    fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        while self.step(until) {}
        self.now = until;
    }

    fn start(&mut self) {
        self.input(1, Input::ManualStart);
        self.input(0, Input::ManualStart);
    }
}

#[test]
fn two_sessions_reach_established_without_a_clock_tick() {
    let mut pair = Pair::new([90, 30]);
    pair.start();
    pair.run_for(Duration::ZERO);
    assert_eq!((pair.state(0), pair.state(1)), (State::Established, State::Established));
    assert_eq!(pair.elapsed(), Duration::ZERO);
    let negotiated = pair.sides[0].session.negotiated().unwrap();
    assert_eq!(negotiated.hold_time.seconds(), 30, "the smaller hold time");
    assert_eq!(negotiated.keepalive, Some(Duration::from_secs(10)));
    assert!(negotiated.four_octet_as);
}

#[test]
fn keepalives_keep_an_idle_session_up_for_an_hour() {
    let mut pair = Pair::new([9, 9]);
    pair.start();
    pair.run_for(Duration::from_secs(3600));
    assert_eq!((pair.state(0), pair.state(1)), (State::Established, State::Established));
    let keepalives = pair.sides[0].sent.iter().filter(|m| **m == Message::Keepalive).count();
    assert_eq!(keepalives, 1 + 3600 / 3, "one to confirm the OPEN, then every 3 s");
}

#[test]
fn a_silent_peer_is_dropped_when_the_hold_time_runs_out() {
    let mut pair = Pair::new([9, 9]);
    pair.start();
    pair.run_for(Duration::ZERO);
    pair.sides[1].mute = true;
    let went_silent = pair.elapsed();
    // Run until speaker 0 gives up.
    while pair.state(0) == State::Established {
        assert!(pair.step(pair.now + Duration::from_secs(60)), "hold timer never fired");
    }
    assert_eq!(pair.elapsed() - went_silent, Duration::from_secs(9));
    let Some(Message::Notification(notification)) = pair.sides[0].sent.last() else {
        panic!("no NOTIFICATION")
    };
    assert_eq!((notification.code, notification.subcode), (4, 0));
    assert_eq!(pair.state(0), State::Idle);
    assert_eq!(pair.state(1), State::Idle, "speaker 1 saw the NOTIFICATION, or the connection close");
}

#[test]
fn after_a_hold_expiry_the_sessions_come_back_by_themselves() {
    let mut pair = Pair::new([9, 9]);
    pair.start();
    pair.run_for(Duration::ZERO);
    pair.sides[1].mute = true;
    pair.run_for(Duration::from_secs(10));
    assert_eq!(pair.state(0), State::Idle);
    pair.sides[1].mute = false;
    pair.run_for(Duration::from_secs(30));
    assert_eq!((pair.state(0), pair.state(1)), (State::Established, State::Established));
}

#[test]
fn hold_time_zero_on_one_side_means_no_keepalives_at_all() {
    let mut pair = Pair::new([90, 0]);
    pair.start();
    pair.run_for(Duration::from_secs(3600));
    assert_eq!((pair.state(0), pair.state(1)), (State::Established, State::Established));
    let keepalives = pair.sides[0].sent.iter().filter(|m| **m == Message::Keepalive).count();
    assert_eq!(keepalives, 1, "only the one that confirms the OPEN");
}

#[test]
fn a_path_down_holds_both_sides_apart_until_the_path_is_up() {
    let mut pair = Pair::new([9, 9]);
    pair.start();
    pair.run_for(Duration::ZERO);
    // Speaker 0's BFD says the path failed: the peer hears Cease / BFD Down.
    pair.input(0, Input::PathDown);
    pair.run_for(Duration::ZERO);
    let Some(Message::Notification(notification)) = pair.sides[0].sent.last() else {
        panic!("no NOTIFICATION")
    };
    assert_eq!((notification.code, notification.subcode), (6, 10));
    // Speaker 1 waits for a connection; speaker 0 opens none while the path is down.
    pair.run_for(Duration::from_secs(600));
    assert_eq!(pair.state(0), State::Idle);
    assert_ne!(pair.state(1), State::Established);
    // Path up: speaker 0 connects at once, without waiting out any timer.
    pair.input(0, Input::PathUp);
    pair.run_for(Duration::ZERO);
    assert_eq!((pair.state(0), pair.state(1)), (State::Established, State::Established));
}
