//! Validated protocol values (STYLE 8).

use std::net::Ipv4Addr;
use std::time::Duration;

use ferrolb_bgp::message::{Community, LargeCommunity, Notification};
use ferrolb_bgp::types::{Asn, HoldTime, RouterId};

#[test]
fn hold_time_of_one_or_two_seconds_cannot_exist() {
    assert_eq!(HoldTime::new(1), None);
    assert_eq!(HoldTime::new(2), None);
    assert_eq!(HoldTime::new(0), Some(HoldTime::DISABLED));
    assert_eq!(HoldTime::new(3).map(HoldTime::seconds), Some(3));
}

#[test]
fn negotiated_hold_time_is_the_smaller_and_zero_disables_keepalives() {
    let ours = HoldTime::new(90).unwrap();
    let theirs = HoldTime::new(9).unwrap();
    assert_eq!(ours.negotiate(theirs), theirs);
    assert_eq!(theirs.keepalive_interval(), Some(Duration::from_secs(3)));
    assert_eq!(ours.negotiate(HoldTime::DISABLED).keepalive_interval(), None);
}

#[test]
fn asn_zero_and_router_id_zero_cannot_exist() {
    assert_eq!(Asn::new(0), None);
    assert_eq!(RouterId::new(Ipv4Addr::UNSPECIFIED), None);
    assert_eq!(Asn::new(4_200_000_000).unwrap().two_octet(), 23456);
    assert_eq!(Asn::new(64512).unwrap().two_octet(), 64512);
    assert_eq!(Asn::new(64512).unwrap().to_string(), "AS64512");
}

#[test]
fn communities_display_like_the_config() {
    assert_eq!(Community::new(64512, 100).to_string(), "64512:100");
    assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
    let large = LargeCommunity { global_admin: 4_200_000_000, local_data1: 1, local_data2: 2 };
    assert_eq!(large.to_string(), "4200000000:1:2");
}

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
