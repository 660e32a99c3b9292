//! Bytes from someone else (STYLE 10): messages captured from FRR, BIRD and GoBGP.
//!
//! See `testdata/README.md` for how they were made. Every capture must decode
//! cleanly with the session's context (both sides sent the 4-octet AS
//! capability), and what it decodes to must survive our own encoding.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ferrolb_bgp::message::{Capability, Community, LargeCommunity, Message, MpReach, Origin};
use ferrolb_bgp::types::{AfiSafi, Asn};

use super::four_octet;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(testdata())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|dir| dir.path().is_dir())
        .flat_map(|dir| fs::read_dir(dir.path()).into_iter().flatten().flatten())
        .map(|file| file.path())
        .filter(|path| path.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
}

fn decode(relative: &str) -> Message {
    let bytes = fs::read(testdata().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    Message::decode(&bytes, &four_octet().0).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn every_capture_decodes_cleanly_and_survives_reencoding() {
    let captures = captures();
    assert!(captures.len() >= 15, "captures missing from testdata/: {captures:?}");
    for path in captures {
        let bytes = fs::read(&path).unwrap();
        let name = path.display();
        assert_eq!(ferrolb_bgp::message::message_len(&bytes), Some(bytes.len()), "{name}: framing");
        let message = Message::decode(&bytes, &four_octet().0).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Message::Update(update) = &message {
            assert_eq!(update.malformed, [], "{name}");
        }
        let again = Message::decode(&message.to_bytes(&four_octet().1), &four_octet().0);
        assert_eq!(again.as_ref(), Ok(&message), "{name}: re-encoded");
    }
}

#[test]
fn frr_open_spreads_eleven_capabilities_over_eleven_parameters() {
    let Message::Open(open) = decode("frr-8.4.4/01-open.bin") else { panic!("not an OPEN") };
    assert_eq!(open.asn, Asn::new(64513).unwrap());
    assert_eq!(open.hold_time.seconds(), 9);
    assert_eq!(open.capabilities.len(), 11);
    assert!(open.capabilities.contains(&Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)));
    assert!(open.capabilities.contains(&Capability::RouteRefresh));
    assert!(
        open.capabilities
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(gr) if gr.restart_time == 120))
    );
}

#[test]
fn frr_ipv4_update_carries_the_announced_route_and_communities() {
    let Message::Update(update) = decode("frr-8.4.4/03-update.bin") else { panic!("not an UPDATE") };
    let a = &update.attributes;
    assert_eq!(update.nlri, ["203.0.113.10/32".parse().unwrap()]);
    assert_eq!(a.origin, Some(Origin::Igp));
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(a.communities, [Community::new(64513, 100)]);
    assert_eq!(
        a.large_communities,
        [LargeCommunity { global_admin: 64513, local_data_1: 1, local_data_2: 2 }]
    );
}

#[test]
fn frr_ipv6_update_carries_the_route_in_mp_reach() {
    let Message::Update(update) = decode("frr-8.4.4/04-update.bin") else { panic!("not an UPDATE") };
    let Some(MpReach::Ipv6Unicast { next_hop, nlri }) = &update.attributes.mp_reach else {
        panic!("no IPv6 MP_REACH_NLRI: {update:?}");
    };
    assert_eq!(nlri, &["2001:db8::10/128".parse().unwrap()]);
    assert_eq!(next_hop.global, "2001:db8::2".parse::<std::net::Ipv6Addr>().unwrap());
}

#[test]
fn every_peer_says_goodbye_with_cease_administrative_shutdown() {
    for file in [
        "frr-8.4.4/05-notification.bin",
        "bird-2.0.12/07-notification.bin",
        "gobgp-3.10.0/05-notification.bin",
    ] {
        let Message::Notification(notification) = decode(file) else { panic!("{file}: not a NOTIFICATION") };
        assert_eq!((notification.code, notification.subcode), (6, 2), "{file}");
    }
}
