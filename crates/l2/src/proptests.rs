//! Properties of the codec: every frame it can build reads back as itself, and no bytes
//! make the parser or the responder panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use crate::arp::{ArpRepr, Operation};
use crate::ethernet::{MacAddr, VlanTag};
use crate::frame::{Frame, Payload};
use crate::golden;
use crate::leadership::Leadership;
use crate::ndp::{self, NdpMessage, NdpPacket, NeighborFlags};

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn unicast_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from).prop_filter("unicast", |a| !a.is_multicast())
}

fn arp() -> impl Strategy<Value = Payload> {
    (any::<u16>(), mac(), any::<u32>(), mac(), any::<u32>()).prop_map(|(op, sm, si, tm, ti)| {
        Payload::Arp(ArpRepr {
            operation: Operation::from(op),
            sender_mac: sm,
            sender_ip: Ipv4Addr::from(si),
            target_mac: tm,
            target_ip: Ipv4Addr::from(ti),
        })
    })
}

fn ndp() -> impl Strategy<Value = Payload> {
    let asker = unicast_v6().prop_filter("not a DAD probe", |a| !a.is_unspecified());
    let solicit =
        (asker, unicast_v6(), proptest::option::of(mac())).prop_map(|(src, target, source_mac)| NdpPacket {
            src,
            dst: ndp::solicited_node(target),
            message: NdpMessage::NeighborSolicit { target, source_mac },
        });
    let advert = (unicast_v6(), unicast_v6(), any::<[bool; 3]>(), proptest::option::of(mac())).prop_map(
        |(src, target, [router, solicited, overrides], target_mac)| NdpPacket {
            src,
            dst: target,
            message: NdpMessage::NeighborAdvert {
                flags: NeighborFlags { router, solicited, overrides },
                target,
                target_mac,
            },
        },
    );
    prop_oneof![solicit, advert].prop_map(Payload::Ndp)
}

fn frame() -> impl Strategy<Value = Frame> {
    (mac(), mac(), proptest::option::of(any::<u16>().prop_map(VlanTag)), prop_oneof![arp(), ndp()])
        .prop_map(|(dst, src, vlan, payload)| Frame { dst, src, vlan, payload })
}

proptest! {
    #[test]
    fn every_frame_reads_back_as_itself(f in frame()) {
        let bytes = f.to_bytes();
        prop_assert_eq!(bytes.len(), f.buffer_len());
        prop_assert_eq!(Frame::parse(&bytes), Ok(f));
    }

    #[test]
    fn no_bytes_make_the_parser_or_responder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let led = Leadership::new()
            .lead("eth0", golden::NODE_MAC, IpAddr::V4(golden::VIP4))
            .lead("eth0", golden::NODE_MAC, IpAddr::V6(golden::VIP6));
        if let Ok(f) = Frame::parse(&bytes) {
            let _ = led.answer("eth0", &f);
        }
    }

    #[test]
    fn cutting_a_valid_frame_short_is_an_error_or_loses_only_padding(f in frame(), cut in 0usize..100) {
        let bytes = f.to_bytes();
        let cut = cut.min(bytes.len());
        match Frame::parse(&bytes[..cut]) {
            // Never another frame: a cut that parses took only the padding off.
            Ok(parsed) => prop_assert_eq!(parsed, f, "cut at {} of {}", cut, bytes.len()),
            Err(error) => prop_assert!(cut < bytes.len(), "the whole frame refused: {}", error),
        }
        if cut < 14 {
            prop_assert!(Frame::parse(&bytes[..cut]).is_err(), "no Ethernet header in {} bytes", cut);
        }
    }

    #[test]
    fn flipping_one_byte_of_a_valid_frame_never_panics(f in frame(), at in any::<prop::sample::Index>(), x in 1u8..) {
        let mut bytes = f.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= x;
        let _ = Frame::parse(&bytes);
    }
}
