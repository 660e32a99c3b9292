//! Both connections to one peer (RFC 4271 §6.8), without sockets: where an
//! accepted or connected connection goes, and which one survives a collision.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferrolb_bgp::fsm::{Keep, OPEN_HOLD_TIME, PeerAs, SessionConfig, State};
use ferrolb_bgp::message::{Message, Notification, Open};
use ferrolb_bgp::peer::{Peer, PeerInput, PeerOutput, Slot};
use ferrolb_bgp::types::{Asn, HoldTime, RouterId};

fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn id(last: u8) -> RouterId {
    RouterId::new(Ipv4Addr::new(192, 0, 2, last)).unwrap()
}

/// AS 64512 with identifier 192.0.2.`local`, peering with AS 64513.
fn peer(local: u8, passive: bool) -> Peer {
    let config = SessionConfig {
        passive,
        ..SessionConfig::new(Asn::new(64512).unwrap(), id(local), PeerAs::Fixed(Asn::new(64513).unwrap()))
    };
    let mut peer = Peer::new(config);
    peer.handle(t0(), PeerInput::Start);
    peer
}

/// The peer's OPEN, identifier 192.0.2.`remote`.
fn open(remote: u8) -> Message {
    Message::Open(Open::new(Asn::new(64513).unwrap(), HoldTime::DEFAULT, id(remote), vec![]))
}

fn handle(peer: &mut Peer, input: PeerInput) -> Vec<PeerOutput> {
    peer.handle(t0(), input)
}

fn is_open(output: &PeerOutput, slot: Slot) -> bool {
    matches!(output, PeerOutput::Send(s, Message::Open(_)) if *s == slot)
}

fn cease_collision(slot: Slot) -> PeerOutput {
    PeerOutput::Send(slot, Message::Notification(Notification::new(6, 7)))
}

/// Our connection is up and our OPEN sent: the main session in OpenSent.
fn open_sent(local: u8) -> Peer {
    let mut peer = peer(local, false);
    let out = handle(&mut peer, PeerInput::Connected);
    assert_eq!(out[0], PeerOutput::Adopt(Slot::Main));
    assert!(out.iter().any(|o| is_open(o, Slot::Main)), "{out:?}");
    assert_eq!(peer.session().state(), State::OpenSent);
    peer
}

#[test]
fn a_passive_peer_adopts_the_connection_the_peer_opens() {
    let mut peer = peer(1, true);
    assert_eq!(peer.session().state(), State::Active);
    let out = handle(&mut peer, PeerInput::Accepted);
    assert_eq!(out[0], PeerOutput::Adopt(Slot::Main));
    assert!(out.iter().any(|o| is_open(o, Slot::Main)), "{out:?}");
    assert_eq!(peer.session().state(), State::OpenSent);
}

#[test]
fn a_connection_accepted_while_waiting_to_start_again_starts_at_once_and_drops_our_attempt() {
    let mut peer = peer(1, false);
    handle(&mut peer, PeerInput::ConnectFailed);
    assert_eq!(peer.session().state(), State::Idle);
    let out = handle(&mut peer, PeerInput::Accepted);
    let connect = out.iter().position(|o| *o == PeerOutput::Connect).unwrap();
    let abort = out.iter().position(|o| *o == PeerOutput::AbortConnect).unwrap();
    let adopt = out.iter().position(|o| *o == PeerOutput::Adopt(Slot::Main)).unwrap();
    assert!(connect < abort && abort < adopt, "{out:?}");
    assert_eq!(peer.session().state(), State::OpenSent);
}

#[test]
fn with_the_higher_identifier_we_keep_our_connection_and_close_theirs_with_cease_6_7() {
    let mut peer = open_sent(9);
    let out = handle(&mut peer, PeerInput::Accepted);
    assert_eq!(out[0], PeerOutput::Adopt(Slot::Candidate));
    assert!(out.iter().any(|o| is_open(o, Slot::Candidate)), "{out:?}");
    assert!(peer.has_candidate());

    let out = handle(&mut peer, PeerInput::Received(Slot::Candidate, open(2)));
    assert!(
        out.contains(&PeerOutput::Collision {
            main_state: State::OpenSent,
            kept: Keep::Outgoing,
            remote_id: id(2)
        }),
        "{out:?}"
    );
    let cease = out.iter().position(|o| *o == cease_collision(Slot::Candidate)).unwrap();
    let close = out.iter().position(|o| *o == PeerOutput::Close(Slot::Candidate)).unwrap();
    assert!(cease < close, "{out:?}");
    assert!(
        !out.iter().any(|o| matches!(o, PeerOutput::Send(Slot::Main, _) | PeerOutput::Close(Slot::Main)))
    );
    assert!(!peer.has_candidate());
    assert_eq!(peer.session().state(), State::OpenSent);
}

#[test]
fn with_the_lower_identifier_we_close_ours_and_carry_on_with_theirs() {
    let mut peer = open_sent(1);
    handle(&mut peer, PeerInput::Accepted);
    let out = handle(&mut peer, PeerInput::Received(Slot::Candidate, open(2)));
    assert!(
        out.contains(&PeerOutput::Collision {
            main_state: State::OpenSent,
            kept: Keep::Incoming,
            remote_id: id(2)
        }),
        "{out:?}"
    );
    let cease = out.iter().position(|o| *o == cease_collision(Slot::Main)).unwrap();
    let close = out.iter().position(|o| *o == PeerOutput::Close(Slot::Main)).unwrap();
    let promote = out.iter().position(|o| *o == PeerOutput::Promote).unwrap();
    assert!(cease < close && close < promote, "{out:?}");
    assert!(!peer.has_candidate());
    // The promoted session had the peer's OPEN: its KEEPALIVE makes it Established.
    assert_eq!(peer.session().state(), State::OpenConfirm);
    let out = handle(&mut peer, PeerInput::Received(Slot::Main, Message::Keepalive));
    assert!(out.iter().any(|o| matches!(o, PeerOutput::Established(_))), "{out:?}");
}

#[test]
fn an_established_session_beats_a_newer_connection_whatever_the_identifiers() {
    let mut peer = open_sent(1);
    handle(&mut peer, PeerInput::Received(Slot::Main, open(2)));
    handle(&mut peer, PeerInput::Received(Slot::Main, Message::Keepalive));
    assert_eq!(peer.session().state(), State::Established);
    handle(&mut peer, PeerInput::Accepted);
    let out = handle(&mut peer, PeerInput::Received(Slot::Candidate, open(2)));
    assert!(
        out.contains(&PeerOutput::Collision {
            main_state: State::Established,
            kept: Keep::Outgoing,
            remote_id: id(2)
        }),
        "{out:?}"
    );
    assert!(out.contains(&PeerOutput::Close(Slot::Candidate)), "{out:?}");
    assert_eq!(peer.session().state(), State::Established);
}

#[test]
fn reaching_established_ends_a_candidate_still_waiting_for_its_open() {
    let mut peer = open_sent(1);
    handle(&mut peer, PeerInput::Accepted);
    handle(&mut peer, PeerInput::Received(Slot::Main, open(2)));
    let out = handle(&mut peer, PeerInput::Received(Slot::Main, Message::Keepalive));
    let established = out.iter().position(|o| matches!(o, PeerOutput::Established(_))).unwrap();
    let cease = out.iter().position(|o| *o == cease_collision(Slot::Candidate)).unwrap();
    let close = out.iter().position(|o| *o == PeerOutput::Close(Slot::Candidate)).unwrap();
    assert!(established < cease && cease < close, "{out:?}");
    assert!(!peer.has_candidate());
}

#[test]
fn of_two_connections_the_peer_opened_the_newer_wins() {
    let mut peer = peer(9, true);
    handle(&mut peer, PeerInput::Accepted);
    handle(&mut peer, PeerInput::Accepted);
    assert!(peer.has_candidate());
    let out = handle(&mut peer, PeerInput::Received(Slot::Candidate, open(2)));
    assert!(out.iter().any(|o| matches!(o, PeerOutput::Collision { kept: Keep::Incoming, .. })), "{out:?}");
    assert!(out.contains(&PeerOutput::Promote), "{out:?}");
    // A third while one candidate runs is refused.
    handle(&mut peer, PeerInput::Accepted);
    assert_eq!(handle(&mut peer, PeerInput::Accepted), [PeerOutput::Refuse]);
}

#[test]
fn a_path_down_drops_the_candidate_and_refuses_connections_until_up() {
    let mut peer = open_sent(1);
    handle(&mut peer, PeerInput::Accepted);
    let out = handle(&mut peer, PeerInput::PathDown);
    assert!(
        out.contains(&PeerOutput::Close(Slot::Candidate)) && out.contains(&PeerOutput::Close(Slot::Main))
    );
    assert_eq!(handle(&mut peer, PeerInput::Accepted), [PeerOutput::Refuse]);
    let out = handle(&mut peer, PeerInput::PathUp);
    assert!(out.contains(&PeerOutput::Connect), "{out:?}");
    // Our attempt connects while the peer's connection was adopted meanwhile: ours is refused.
    let out = handle(&mut peer, PeerInput::Accepted);
    assert!(
        out.contains(&PeerOutput::AbortConnect) && out.contains(&PeerOutput::Adopt(Slot::Main)),
        "{out:?}"
    );
    assert_eq!(handle(&mut peer, PeerInput::Connected), [PeerOutput::Refuse]);
}

#[test]
fn a_candidate_that_never_sends_its_open_times_out_alone() {
    let mut peer = open_sent(1);
    handle(&mut peer, PeerInput::Received(Slot::Main, open(2)));
    handle(&mut peer, PeerInput::Received(Slot::Main, Message::Keepalive));
    handle(&mut peer, PeerInput::Accepted);
    // The main session hears from its peer; the candidate never does.
    peer.handle(t0() + Duration::from_secs(200), PeerInput::Received(Slot::Main, Message::Keepalive));
    let out = peer.handle_timeout(t0() + OPEN_HOLD_TIME);
    assert!(out.contains(&PeerOutput::Close(Slot::Candidate)), "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, PeerOutput::Close(Slot::Main))), "{out:?}");
    assert!(!peer.has_candidate());
    assert_eq!(peer.session().state(), State::Established);
}
