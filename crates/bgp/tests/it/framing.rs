//! Framing a TCP stream with `message_len`.

use ferrolb_bgp::message::{DecodeError, Message, message_len};

use super::{four_octet, hex};

#[test]
fn message_len_waits_for_a_whole_header() {
    let keepalive = hex("ffffffff ffffffff ffffffff ffffffff 0013 04");
    for n in 0..19 {
        assert_eq!(message_len(&keepalive[..n]), None, "{n} bytes");
    }
    assert_eq!(message_len(&keepalive), Some(19));
}

#[test]
fn message_len_reads_the_length_before_the_body_arrives() {
    let header = hex("ffffffff ffffffff ffffffff ffffffff 0045 01  # an OPEN of 69 octets");
    assert_eq!(message_len(&header), Some(69));
}

#[test]
fn message_len_hands_a_garbage_header_straight_to_decode() {
    let bad_marker = hex("ffffffff ffffffff ffffffff fffffffe 0045 01");
    assert_eq!(message_len(&bad_marker), Some(19));
    assert_eq!(Message::decode(&bad_marker, &four_octet().0), Err(DecodeError::ConnectionNotSynchronized));
    let too_long = hex("ffffffff ffffffff ffffffff ffffffff 1001 02  # 4097 octets");
    assert_eq!(message_len(&too_long), Some(19));
    assert_eq!(
        Message::decode(&too_long, &four_octet().0),
        Err(DecodeError::BadMessageLength { length: 4097 })
    );
    let too_short = hex("ffffffff ffffffff ffffffff ffffffff 0012 04  # 18 octets");
    assert_eq!(message_len(&too_short), Some(19));
    assert_eq!(
        Message::decode(&too_short, &four_octet().0),
        Err(DecodeError::BadMessageLength { length: 18 })
    );
}

#[test]
fn a_stream_of_messages_splits_at_each_length() {
    let mut stream = hex("ffffffff ffffffff ffffffff ffffffff 0013 04");
    stream.extend(hex("ffffffff ffffffff ffffffff ffffffff 0017 02 0000 0000"));
    stream.extend(hex("ffffffff ffffffff ffffffff ffffffff 0013"));
    let mut rest = &stream[..];
    let mut kinds = vec![];
    while let Some(len) = message_len(rest).filter(|&len| len <= rest.len()) {
        kinds.push(super::decode4(&rest[..len]).kind());
        rest = &rest[len..];
    }
    assert_eq!(kinds, [4, 2]);
    assert_eq!(rest.len(), 18, "the partial third header stays buffered");
}
