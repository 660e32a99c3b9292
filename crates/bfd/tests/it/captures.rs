//! Bytes from someone else (STYLE 10): the packets two FRR bfdd sent each other
//! (`testdata/frr-bfdd.hex`, see its README). Every one must decode and encode back byte for
//! byte, and a session fed one side's packets must follow the handshake FRR followed.

use std::time::{Duration, Instant};

use ferrolb_bfd::{ControlPacket, Diagnostic, Discarded, Event, Session, SessionConfig, State};

use super::hex;

/// One captured packet: seconds since the first, sender address, UDP payload.
struct Captured {
    at: Duration,
    from: String,
    bytes: Vec<u8>,
}

/// Lines of `HEX  # +SECONDSs SRC:PORT > DST ttl N: ...` as `pcap2hex.py` writes them.
fn capture(name: &str) -> Vec<Captured> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (bytes, comment) =
                line.split_once('#').unwrap_or_else(|| panic!("{name}: no comment: {line}"));
            let mut words = comment.split_whitespace();
            let at = words.next().and_then(|w| w.strip_prefix('+')?.strip_suffix('s')?.parse::<f64>().ok());
            let from = words.next().and_then(|w| w.split(':').next());
            Captured {
                at: Duration::from_secs_f64(at.unwrap_or_else(|| panic!("{name}: no time: {line}"))),
                from: from.unwrap_or_else(|| panic!("{name}: no sender: {line}")).to_owned(),
                bytes: hex(bytes),
            }
        })
        .collect()
}

const FRR_A: &str = "192.0.2.1";
const FRR_B: &str = "192.0.2.2";

fn decoded(c: &Captured) -> ControlPacket {
    ControlPacket::decode(&c.bytes).unwrap_or_else(|e| panic!("+{:?} from {}: {e}", c.at, c.from))
}

#[test]
fn every_frr_packet_decodes_and_encodes_back_byte_for_byte() {
    let packets = capture("frr-bfdd.hex");
    assert!(packets.len() > 30);
    for c in &packets {
        assert_eq!(c.bytes.len(), 24, "FRR does not authenticate");
        assert_eq!(decoded(c).encode(), c.bytes);
    }
}

#[test]
fn frr_packets_say_what_the_capture_script_did() {
    let packets: Vec<_> = capture("frr-bfdd.hex").iter().map(|c| (c.from.clone(), decoded(c))).collect();
    let first = &packets[0].1;
    // Alone, A sends Down with your discriminator 0 and slow timers on both sides.
    assert_eq!((first.state, first.your_discriminator), (State::Down, 0));
    assert_eq!((first.desired_min_tx, first.required_min_rx), (1_000_000, 1_000_000));
    assert_eq!(first.required_min_echo_rx, 50_000, "FRR offers to loop Echo packets by default");
    // B answers with Init; each side comes Up with a Poll for the 300 ms rate, answered by a Final.
    let init = packets.iter().find(|(from, p)| from == FRR_B && p.state == State::Init).expect("Init");
    assert_eq!(init.1.your_discriminator, first.my_discriminator.get());
    for side in [FRR_A, FRR_B] {
        let up = packets.iter().find(|(from, p)| from == side && p.state == State::Up).expect("Up");
        assert!(up.1.flags.poll, "{side} polls on coming Up");
        assert_eq!(up.1.desired_min_tx, 300_000);
    }
    assert!(packets.iter().filter(|(_, p)| p.flags.final_).count() >= 3);
    assert!(packets.iter().all(|(_, p)| !(p.flags.poll && p.flags.final_)));
    // transmit-interval 600 on A: a Poll carrying 600 ms.
    assert!(packets.iter().any(|(from, p)| from == FRR_A && p.flags.poll && p.desired_min_tx == 600_000));
    // shutdown on A: AdminDown (FRR sends diagnostic 0 with it), then B Down with diagnostic 3.
    let admin = packets.iter().find(|(_, p)| p.state == State::AdminDown).expect("AdminDown");
    assert_eq!(admin.0, FRR_A);
    let down = packets.last().expect("packets");
    assert_eq!((down.0.as_str(), down.1.state), (FRR_B, State::Down));
    assert_eq!(down.1.diagnostic, Diagnostic::NeighborSignaledSessionDown);
}

/// Feeds the packets one FRR sent into a session that stands in for the other, at the times
/// they were captured; returns the session's events and the packets it sent.
fn replay(sender: &str) -> (Vec<Event>, Vec<ControlPacket>) {
    let packets: Vec<_> = capture("frr-bfdd.hex").into_iter().filter(|c| c.from == sender).collect();
    let other = capture("frr-bfdd.hex").into_iter().find(|c| c.from != sender).map(|c| decoded(&c));
    let ours = other.expect("the other side spoke").my_discriminator;
    let start = Instant::now();
    let mut session = Session::new(SessionConfig::default(), ours, 3, start).expect("valid");
    let (mut events, mut sent) = (Vec::new(), Vec::new());
    let mut drain = |s: &mut Session| {
        sent.extend(std::iter::from_fn(|| s.poll_transmit()));
        events.extend(std::iter::from_fn(|| s.poll_event()));
    };
    for c in &packets {
        let now = start + c.at;
        while let Some(at) = session.poll_timeout().filter(|at| *at <= now) {
            session.handle_timeout(at);
            drain(&mut session);
        }
        match session.handle_packet(&decoded(c), now) {
            Ok(()) | Err(Discarded::AdminDown) => {}
            Err(e) => panic!("+{:?}: {e}", c.at),
        }
        drain(&mut session);
    }
    (events, sent)
}

fn went(from: State, to: State, diagnostic: Diagnostic, remote_state: State) -> Event {
    Event::StateChanged { from, to, diagnostic, remote_state }
}

#[test]
fn a_session_in_place_of_frr_b_comes_up_with_frr_a_and_follows_its_shutdown() {
    let (events, sent) = replay(FRR_A);
    assert_eq!(
        events,
        [
            went(State::Down, State::Init, Diagnostic::None, State::Down),
            went(State::Init, State::Up, Diagnostic::None, State::Up),
            went(State::Up, State::Down, Diagnostic::NeighborSignaledSessionDown, State::AdminDown),
        ]
    );
    let finals = sent.iter().filter(|p| p.flags.final_).count();
    assert_eq!(finals, 2, "A's Poll on coming Up and its Poll for 600 ms, each answered");
    assert!(sent.iter().all(|p| ControlPacket::decode(&p.encode()).as_ref() == Ok(p)));
}

#[test]
fn a_session_in_place_of_frr_a_comes_up_with_frr_b_and_goes_down_when_b_signals_it() {
    let (events, sent) = replay(FRR_B);
    assert_eq!(
        events,
        [
            went(State::Down, State::Up, Diagnostic::None, State::Init),
            went(State::Up, State::Down, Diagnostic::NeighborSignaledSessionDown, State::Down),
            // We did not shut down as A did: B's next Down restarts the handshake.
            went(State::Down, State::Init, Diagnostic::NeighborSignaledSessionDown, State::Down),
        ]
    );
    assert_eq!(sent.iter().filter(|p| p.flags.final_).count(), 1, "B's Poll on coming Up");
    assert!(sent.iter().filter(|p| p.state == State::Up).all(|p| p.your_discriminator != 0));
}
