//! Properties of the codec and the session: every packet reads back as itself, no bytes make
//! the decoder panic, and a session fed anything only ever sends valid packets.

use std::time::{Duration, Instant};

use ferrolb_bfd::{AuthSection, AuthType, ControlPacket, Diagnostic, Flags, Session, SessionConfig, State};
use proptest::prelude::*;

use super::{discr, mult};

fn state() -> impl Strategy<Value = State> {
    (0u8..4).prop_map(State::from_bits)
}

fn auth() -> impl Strategy<Value = Option<AuthSection>> {
    proptest::option::of(
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=AuthSection::MAX_DATA_LEN))
            .prop_map(|(t, data)| AuthSection::new(AuthType::from(t), data).expect("fits")),
    )
}

fn packet() -> impl Strategy<Value = ControlPacket> {
    (
        (0u8..32, state(), any::<[bool; 4]>(), 1u8..=255, 1u32..),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), auth()),
    )
        .prop_map(|((diag, state, [p, f, c, d], m, my), (your, tx, rx, echo, auth))| {
            // Your Discriminator may be zero only in Down and AdminDown.
            let your = if your == 0 && matches!(state, State::Init | State::Up) { 1 } else { your };
            ControlPacket {
                diagnostic: Diagnostic::from_bits(diag),
                state,
                flags: Flags { poll: p, final_: f, control_plane_independent: c, demand: d },
                detect_mult: mult(m),
                my_discriminator: discr(my),
                your_discriminator: your,
                desired_min_tx: tx,
                required_min_rx: rx,
                required_min_echo_rx: echo,
                auth,
            }
        })
}

/// What happens to a session: a packet from the peer, or time passing.
#[derive(Debug, Clone)]
enum Input {
    Packet(ControlPacket),
    Wait(Duration),
    Reconfigure(u64, u64),
    AdminDown,
    AdminUp,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => packet().prop_map(|mut p| {
            p.auth = None;
            Input::Packet(p)
        }),
        4 => (0u64..2_000_000).prop_map(|us| Input::Wait(Duration::from_micros(us))),
        1 => (1_000u64..2_000_000, 1_000u64..2_000_000).prop_map(|(tx, rx)| Input::Reconfigure(tx, rx)),
        1 => Just(Input::AdminDown),
        1 => Just(Input::AdminUp),
    ]
}

proptest! {
    #[test]
    fn every_valid_packet_reads_back_as_itself(p in packet()) {
        let bytes = p.encode();
        prop_assert_eq!(bytes.len(), p.buffer_len());
        prop_assert_eq!(usize::from(bytes[3]), bytes.len());
        prop_assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    }

    #[test]
    fn no_bytes_make_the_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = ControlPacket::decode(&bytes) {
            prop_assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn nearly_valid_bytes_never_panic_either(p in packet(), at in 0usize..64, byte in any::<u8>(), cut in 0usize..300) {
        // Mutations of a valid packet reach the deeper checks that random bytes rarely do.
        let mut bytes = p.encode();
        if at < bytes.len() {
            bytes[at] = byte;
        }
        bytes.truncate(cut.max(1));
        if let Ok(p) = ControlPacket::decode(&bytes) {
            prop_assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn a_session_fed_anything_sends_only_valid_packets(
        passive in any::<bool>(),
        seed in any::<u64>(),
        inputs in proptest::collection::vec(input(), 0..60),
    ) {
        let mut now = Instant::now();
        let config = SessionConfig { passive, ..SessionConfig::default() };
        let mut s = Session::new(config, discr(5), seed, now).expect("valid");
        for input in inputs {
            match input {
                Input::Packet(p) => { let _ = s.handle_packet(&p, now); }
                Input::Wait(d) => {
                    now += d;
                    if s.poll_timeout().is_some_and(|at| at <= now) {
                        s.handle_timeout(now);
                    }
                }
                Input::Reconfigure(tx, rx) => {
                    let c = SessionConfig {
                        desired_min_tx: Duration::from_micros(tx),
                        required_min_rx: Duration::from_micros(rx),
                        ..config
                    };
                    prop_assert!(s.reconfigure(c).is_ok());
                }
                Input::AdminDown => s.admin_down(now),
                Input::AdminUp => s.admin_up(now),
            }
            while let Some(p) = s.poll_transmit() {
                prop_assert!(!(p.flags.poll && p.flags.final_), "never both P and F");
                prop_assert!(p.state == State::Up || p.desired_min_tx >= 1_000_000, "slow unless Up");
                prop_assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
            }
            while s.poll_event().is_some() {}
            if let Some(at) = s.poll_timeout() {
                prop_assert!(at + Duration::from_secs(3600) > now, "timers stay near the clock");
            }
        }
    }
}
