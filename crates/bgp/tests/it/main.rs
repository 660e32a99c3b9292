//! Integration tests for ferrolb-bgp, one binary (STYLE 16).

mod captures;
mod errors;
mod framing;
mod fsm;
mod fsm_pair;
mod golden;
mod notification;
mod peer;
mod rfc7606;
mod roundtrip;

use ferrolb_bgp::message::{DecodeContext, EncodeContext, Message};
use ferrolb_bgp::types::AfiSafi;

/// Bytes from hex written one field a line; everything after `#` is a comment.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A session that negotiated 4-octet ASNs and IPv4 + IPv6 unicast.
pub fn four_octet() -> (DecodeContext, EncodeContext) {
    (
        DecodeContext {
            four_octet_as: true,
            families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            external: false,
        },
        EncodeContext { four_octet_as: true },
    )
}

/// A session with an old speaker: 2-octet ASNs, IPv4 + IPv6 unicast.
pub fn two_octet() -> (DecodeContext, EncodeContext) {
    (DecodeContext::default(), EncodeContext { four_octet_as: false })
}

/// A golden fixture: the bytes decode to the value and the value encodes to the bytes.
pub fn assert_golden(bytes: &[u8], message: &Message, (decode, encode): (DecodeContext, EncodeContext)) {
    assert_eq!(ferrolb_bgp::message::message_len(bytes), Some(bytes.len()), "framing");
    assert_eq!(Message::decode(bytes, &decode).as_ref(), Ok(message), "decode");
    assert_eq!(message.to_bytes(&encode), bytes, "encode");
}

/// Decodes a message that must decode, with a 4-octet session.
pub fn decode4(bytes: &[u8]) -> Message {
    Message::decode(bytes, &four_octet().0).expect("decodes")
}

/// Wraps an UPDATE body in a header, fixing the length.
pub fn update_message(withdrawn: &[u8], attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// Wraps a body in a header of the given type, fixing the length.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}
