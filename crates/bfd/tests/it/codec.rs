//! The Control packet codec: golden bytes in both directions (STYLE 9) and one test per
//! reception check of RFC 5880 §6.8.6 that needs only the packet.

use ferrolb_bfd::{AuthSection, AuthType, ControlPacket, DecodeError, Diagnostic, Flags, State};

use super::{discr, hex, mult, peer_packet};

/// A packet of a session coming Up, every field distinct.
fn init_packet_bytes() -> Vec<u8> {
    hex("
        20          # version 1, diag 0
        a8          # state Init (2), P, C
        05          # detect mult 5
        18          # length 24
        0000abcd    # my discriminator
        00001234    # your discriminator
        000f4240    # desired min TX 1,000,000 us
        000493e0    # required min RX 300,000 us
        00000000    # required min echo RX 0
    ")
}

fn init_packet() -> ControlPacket {
    ControlPacket {
        diagnostic: Diagnostic::None,
        state: State::Init,
        flags: Flags { poll: true, final_: false, control_plane_independent: true, demand: false },
        detect_mult: mult(5),
        my_discriminator: discr(0xabcd),
        your_discriminator: 0x1234,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

#[test]
fn golden_init_packet_decodes_and_encodes() {
    let bytes = init_packet_bytes();
    assert_eq!(ControlPacket::decode(&bytes), Ok(init_packet()));
    assert_eq!(init_packet().encode(), bytes);
}

#[test]
fn golden_down_packet_with_final_demand_and_diagnostic() {
    let bytes = hex("
        23          # version 1, diag 3 (neighbor signaled session down)
        52          # state Down (1), F, D
        03          # detect mult 3
        18          # length 24
        00000001    # my discriminator
        00000000    # your discriminator: unknown, allowed in Down
        000493e0    # desired min TX 300 ms
        000186a0    # required min RX 100 ms
        0000c350    # required min echo RX 50 ms
    ");
    let packet = ControlPacket {
        diagnostic: Diagnostic::NeighborSignaledSessionDown,
        state: State::Down,
        flags: Flags { poll: false, final_: true, control_plane_independent: false, demand: true },
        detect_mult: mult(3),
        my_discriminator: discr(1),
        your_discriminator: 0,
        desired_min_tx: 300_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 50_000,
        auth: None,
    };
    assert_eq!(ControlPacket::decode(&bytes), Ok(packet.clone()));
    assert_eq!(packet.encode(), bytes);
}

#[test]
fn golden_packet_with_keyed_sha1_section_is_kept_byte_for_byte() {
    let bytes = hex("
        20 c4 03 34                     # diag 0, state Up, A; mult 3; length 52
        00000002 00000001               # discriminators
        000493e0 000493e0 00000000      # timers
        04 1c                           # auth type 4 (keyed SHA1), auth len 28
        07 00                           # key ID 7, reserved
        00000009                        # sequence number
        0102030405060708090a0b0c0d0e0f1011121314  # hash
    ");
    let packet = ControlPacket::decode(&bytes).expect("decodes");
    let auth = packet.auth.as_ref().expect("auth section");
    assert_eq!(auth.auth_type(), AuthType::KeyedSha1);
    assert_eq!(auth.auth_len(), 28);
    assert_eq!(auth.data(), &bytes[26..]);
    assert_eq!(packet.encode(), bytes);
}

#[test]
fn every_diagnostic_code_reads_back_and_unknown_codes_are_kept() {
    for code in 0u8..32 {
        let mut bytes = init_packet_bytes();
        bytes[0] = 0x20 | code;
        let packet = ControlPacket::decode(&bytes).expect("decodes");
        assert_eq!(packet.diagnostic.to_bits(), code);
        assert_eq!(matches!(packet.diagnostic, Diagnostic::Unknown(_)), code > 8, "code {code}");
        assert_eq!(packet.encode(), bytes);
    }
    assert_eq!(Diagnostic::from_bits(1), Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(Diagnostic::from_bits(7), Diagnostic::AdministrativelyDown);
    assert_eq!(Diagnostic::from_bits(8), Diagnostic::ReverseConcatenatedPathDown);
}

#[test]
fn bytes_after_length_are_link_padding_and_ignored() {
    let mut bytes = init_packet_bytes();
    bytes.extend_from_slice(&[0; 22]);
    assert_eq!(ControlPacket::decode(&bytes), Ok(init_packet()));
}

#[test]
fn a_datagram_shorter_than_24_bytes_is_truncated() {
    let bytes = init_packet_bytes();
    for len in 0..24 {
        assert_eq!(ControlPacket::decode(&bytes[..len]), Err(DecodeError::Truncated { got: len }));
    }
}

#[test]
fn version_other_than_1_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[0] = 0x40;
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::Version { found: 2 });
    assert_eq!(error.to_string(), "BFD version 2, expected 1");
}

#[test]
fn length_below_24_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[3] = 23;
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::LengthTooSmall { length: 23, minimum: 24, auth: false });
    assert_eq!(
        error.to_string(),
        "BFD length field 23 is too small: expected at least 24 with the A bit clear"
    );
}

#[test]
fn length_below_26_with_the_a_bit_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[1] |= 0x04;
    bytes[3] = 25;
    bytes.push(0);
    assert_eq!(
        ControlPacket::decode(&bytes),
        Err(DecodeError::LengthTooSmall { length: 25, minimum: 26, auth: true })
    );
}

#[test]
fn length_beyond_the_datagram_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[3] = 28;
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::LengthExceedsDatagram { length: 28, datagram: 24 });
    assert_eq!(error.to_string(), "BFD length field 28 exceeds the 24-byte datagram, expected at most 24");
}

#[test]
fn detect_mult_zero_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[2] = 0;
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::ZeroDetectMult);
    assert_eq!(error.to_string(), "BFD detect multiplier is 0, expected 1 to 255");
}

#[test]
fn multipoint_bit_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[1] |= 0x01;
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::Multipoint);
    assert_eq!(error.to_string(), "BFD multipoint (M) bit is set, expected 0");
}

#[test]
fn my_discriminator_zero_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[4..8].fill(0);
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::ZeroMyDiscriminator);
    assert_eq!(error.to_string(), "BFD my discriminator is 0, expected a nonzero value");
}

#[test]
fn your_discriminator_zero_is_refused_in_init_and_up() {
    for (bits, state) in [(0x80, State::Init), (0xc0, State::Up)] {
        let mut bytes = init_packet_bytes();
        bytes[1] = bits;
        bytes[8..12].fill(0);
        let error = ControlPacket::decode(&bytes).unwrap_err();
        assert_eq!(error, DecodeError::ZeroYourDiscriminator { state });
        assert_eq!(
            error.to_string(),
            format!("BFD your discriminator is 0 in state {state}, expected 0 only in Down or AdminDown")
        );
    }
}

#[test]
fn your_discriminator_zero_is_accepted_in_down_and_admin_down() {
    for (bits, state) in [(0x00, State::AdminDown), (0x40, State::Down)] {
        let mut bytes = init_packet_bytes();
        bytes[1] = bits;
        bytes[8..12].fill(0);
        let packet = ControlPacket::decode(&bytes).expect("decodes");
        assert_eq!((packet.state, packet.your_discriminator), (state, 0));
    }
}

#[test]
fn auth_len_below_its_own_header_is_refused() {
    let mut bytes = init_packet_bytes();
    bytes[1] |= 0x04;
    bytes[3] = 26;
    bytes.extend_from_slice(&[0x01, 0x01]);
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::AuthLenTooSmall { auth_len: 1 });
    assert_eq!(error.to_string(), "BFD auth len 1 is too small, expected at least 2");
}

#[test]
fn auth_section_past_length_is_refused() {
    // A simple password of 4 bytes claims 7, but Length leaves room for 6.
    let mut bytes = init_packet_bytes();
    bytes[1] |= 0x04;
    bytes[3] = 30;
    bytes.extend_from_slice(&[0x01, 0x07, 0x01, b'a', b'b', b'c', b'd']);
    let error = ControlPacket::decode(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::AuthExceedsLength { auth_len: 7, room: 6 });
    assert_eq!(
        error.to_string(),
        "BFD auth len 7 exceeds the 6 bytes after the mandatory section, expected at most 6"
    );
}

#[test]
fn simple_password_section_round_trips() {
    let mut packet = peer_packet(State::Up, 9, 8);
    packet.auth = AuthSection::new(AuthType::SimplePassword, vec![1, b's', b'e', b'c']);
    let bytes = packet.encode();
    assert_eq!(bytes.len(), 30);
    assert_eq!(bytes[1] & 0x04, 0x04, "A bit");
    assert_eq!(&bytes[24..], &[1, 6, 1, b's', b'e', b'c']);
    assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
}

#[test]
fn auth_data_longer_than_length_can_count_is_not_representable() {
    assert!(AuthSection::new(AuthType::KeyedMd5, vec![0; AuthSection::MAX_DATA_LEN]).is_some());
    assert!(AuthSection::new(AuthType::KeyedMd5, vec![0; AuthSection::MAX_DATA_LEN + 1]).is_none());
    let mut packet = peer_packet(State::Up, 9, 8);
    packet.auth = AuthSection::new(AuthType::Unknown(200), vec![7; AuthSection::MAX_DATA_LEN]);
    let bytes = packet.encode();
    assert_eq!(bytes.len(), 255);
    assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
}

#[test]
fn packets_without_authentication_are_24_bytes() {
    assert_eq!(peer_packet(State::Down, 1, 0).encode().len(), 24);
    assert_eq!(peer_packet(State::Down, 1, 0).buffer_len(), 24);
}
