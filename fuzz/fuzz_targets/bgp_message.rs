//! A BGP peer sends any bytes it likes: decoding must report errors, never
//! panic, and whatever decodes must encode and decode back to itself.
#![no_main]

use ferrolb_bgp::message::{DecodeContext, EncodeContext, Message, Notification, message_len};
use ferrolb_bgp::types::AfiSafi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = message_len(data);
    let old =
        DecodeContext { four_octet_as: false, families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] };
    let new = DecodeContext { four_octet_as: true, ..old.clone() };
    for ctx in [&old, &new] {
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
});
