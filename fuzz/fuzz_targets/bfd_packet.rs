//! A BFD peer (or anyone who can reach UDP 3784) sends any bytes it likes: decoding must
//! report errors, never panic, and whatever decodes must encode and decode back to itself.
#![no_main]

use ferrolb_bfd::ControlPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ControlPacket::decode(data) {
        let bytes = packet.encode();
        assert_eq!(bytes.len(), packet.buffer_len());
        let again = ControlPacket::decode(&bytes);
        assert_eq!(again.as_ref(), Ok(&packet), "re-encoded: {bytes:02x?}");
    }
});
