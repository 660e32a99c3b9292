//! A BGP peer sends any bytes it likes on TCP 179: framing and decoding (header,
//! OPEN with its capabilities, UPDATE with its path attributes and NLRI, NOTIFICATION,
//! KEEPALIVE, ROUTE-REFRESH), before and after a 4-octet AS capability is negotiated, from
//! an internal and from an external peer (which LOCAL_PREF is discarded from),
//! must report errors, never panic, and whatever decodes must encode and decode back to
//! itself. The attribute and capability decoders are not public: they are reached
//! through UPDATEs and OPENs, which the seeds (captures and golden messages) hold.
#![no_main]

use ferrolb_bgp::message::{DecodeContext, EncodeContext, Message, Notification, message_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = message_len(data);
    decode_in_every_context(data);
    // The same bytes with the header's length field made true, so that inserting or
    // erasing bytes reaches the body decoders instead of stopping at the length check.
    if let Ok(length) = u16::try_from(data.len())
        && data.len() >= 19
    {
        let mut framed = data.to_vec();
        framed[16..18].copy_from_slice(&length.to_be_bytes());
        if framed != data {
            decode_in_every_context(&framed);
        }
    }
});

/// Decodes `data` as from a 2-octet and from a 4-octet AS speaker, internal and external.
fn decode_in_every_context(data: &[u8]) {
    for (four_octet_as, external) in [(false, false), (false, true), (true, false), (true, true)] {
        let ctx = &DecodeContext { four_octet_as, external, ..DecodeContext::default() };
        match Message::decode(data, ctx) {
            Err(error) => {
                let _ = Notification::from(&error);
            }
            Ok(message) => {
                let encode = EncodeContext { four_octet_as: ctx.four_octet_as };
                let bytes = message.to_bytes(&encode);
                let again = Message::decode(&bytes, ctx);
                // Between 4-octet speakers no AS4_PATH merging intervenes, and a clean
                // UPDATE carries nothing that encoding drops: the value must survive.
                let clean = !matches!(&message, Message::Update(u) if !u.malformed.is_empty());
                if ctx.four_octet_as && clean {
                    assert_eq!(again.as_ref(), Ok(&message), "re-encoded: {bytes:02x?}");
                }
                if let Message::Notification(n) = &message {
                    let _ = n.shutdown_communication();
                }
            }
        }
    }
}
