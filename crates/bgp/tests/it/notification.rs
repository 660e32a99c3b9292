//! NOTIFICATION data: the shutdown communication (RFC 9003).

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
