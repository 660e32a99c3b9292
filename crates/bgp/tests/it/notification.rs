//! NOTIFICATION data: the shutdown communication (RFC 9003); names for logs.

use ferrolb_bgp::message::Notification;

#[test]
fn shutdown_communication_is_cut_to_255_octets_at_a_character_boundary() {
    let long = "é".repeat(200); // 400 octets
    let notification = Notification::administrative_reset(&long);
    assert_eq!(notification.data[0], 254, "127 two-octet characters");
    assert_eq!(notification.shutdown_communication(), Some("é".repeat(127).as_str()));
}

#[test]
fn malformed_shutdown_communication_is_not_text() {
    let overrun = Notification { code: 6, subcode: 2, data: vec![5, b'a'] };
    assert_eq!(overrun.shutdown_communication(), None);
    let not_utf8 = Notification { code: 6, subcode: 2, data: vec![1, 0xff] };
    assert_eq!(not_utf8.shutdown_communication(), None);
    let other_cease = Notification { code: 6, subcode: 3, data: vec![1, b'a'] };
    assert_eq!(other_cease.shutdown_communication(), None);
}

#[test]
fn bfd_down_is_cease_subcode_10_on_the_wire_and_named_in_logs() {
    use ferrolb_bgp::message::{EncodeContext, Message};
    let bfd_down = Notification::bfd_down();
    assert_eq!((bfd_down.code, bfd_down.subcode), (6, 10)); // RFC 9384
    let bytes = Message::Notification(bfd_down.clone()).to_bytes(&EncodeContext::default());
    #[rustfmt::skip]
    assert_eq!(bytes, [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // marker
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x15, // length 21
        0x03,       // NOTIFICATION
        0x06,       // Cease
        0x0a,       // BFD Down
    ]);
    assert_eq!(bfd_down.name(), Some("Cease / BFD Down"));
    assert_eq!(Notification::hold_timer_expired().name(), Some("Hold Timer Expired"));
    assert_eq!(Notification::new(6, 200).name(), Some("Cease"));
    assert_eq!(Notification::new(200, 0).name(), None);
}
