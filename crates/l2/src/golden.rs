//! Golden bytes in both directions: each fixture is bytes written by hand, field by field,
//! and the value they mean; one test decodes every fixture, one encodes it.
//! The NDP checksums were computed apart from this crate (a few lines of Python over the
//! RFC 8200 §8.1 pseudo-header).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::arp::{ArpRepr, Operation};
use crate::ethernet::{MacAddr, VlanTag};
use crate::frame::{Frame, Payload};
use crate::leadership::{Leadership, gratuitous_arp, unsolicited_na};
use crate::ndp::{NdpMessage, NdpPacket, NeighborFlags};

/// Hex with whitespace and `// comments` ignored.
pub(crate) fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap()).collect()
}

pub(crate) const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub(crate) const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub(crate) const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub(crate) const CLIENT4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub(crate) const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
pub(crate) const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const SOLICITED_VIP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0x10);

pub(crate) fn arp_request() -> Frame {
    Frame {
        dst: MacAddr::BROADCAST,
        src: CLIENT_MAC,
        vlan: None,
        payload: Payload::Arp(ArpRepr {
            operation: Operation::Request,
            sender_mac: CLIENT_MAC,
            sender_ip: CLIENT4,
            target_mac: MacAddr::ZERO,
            target_ip: VIP4,
        }),
    }
}

const ARP_REQUEST: &str = "
    ffffffffffff  // destination: broadcast
    020000000002  // source: the client
    0806          // EtherType: ARP
    0001          // hardware type: Ethernet
    0800          // protocol type: IPv4
    06 04         // address lengths
    0001          // operation: request
    020000000002  // sender MAC: the client
    c0000202      // sender IP: 192.0.2.2
    000000000000  // target MAC: unknown
    c000020a      // target IP: 192.0.2.10, the VIP
    000000000000000000000000000000000000  // padding to 60 bytes
";

fn tagged_arp_reply() -> Frame {
    Frame {
        dst: CLIENT_MAC,
        src: NODE_MAC,
        vlan: Some(VlanTag::new(100)),
        payload: Payload::Arp(ArpRepr {
            operation: Operation::Reply,
            sender_mac: NODE_MAC,
            sender_ip: VIP4,
            target_mac: CLIENT_MAC,
            target_ip: CLIENT4,
        }),
    }
}

const TAGGED_ARP_REPLY: &str = "
    020000000002  // destination: the client
    020000000001  // source: the node
    8100 0064     // 802.1Q tag: priority 0, VLAN 100
    0806          // EtherType: ARP
    0001 0800 06 04
    0002          // operation: reply
    020000000001  // sender MAC: the node
    c000020a      // sender IP: the VIP
    020000000002  // target MAC: the client
    c0000202      // target IP: the client
    0000000000000000000000000000  // padding to 60 bytes
";

const GRATUITOUS_ARP: &str = "
    ffffffffffff  // destination: broadcast
    020000000001  // source: the node
    0806
    0001 0800 06 04
    0001          // operation: request (the form that moves Linux clients' entries)
    020000000001  // sender MAC: the node
    c000020a      // sender IP: the VIP
    000000000000  // target MAC: zero (RFC 5227 §3)
    c000020a      // target IP: the VIP again
    000000000000000000000000000000000000
";

pub(crate) fn neighbor_solicit() -> Frame {
    Frame {
        dst: MacAddr::ipv6_multicast(SOLICITED_VIP6),
        src: CLIENT_MAC,
        vlan: None,
        payload: Payload::Ndp(NdpPacket {
            src: CLIENT6,
            dst: SOLICITED_VIP6,
            message: NdpMessage::NeighborSolicit { target: VIP6, source_mac: Some(CLIENT_MAC) },
        }),
    }
}

const NEIGHBOR_SOLICIT: &str = "
    3333ff000010  // destination: multicast MAC of ff02::1:ff00:10 (RFC 2464 §7)
    020000000002  // source: the client
    86dd          // EtherType: IPv6
    60000000      // version 6, traffic class 0, flow label 0
    0020          // payload length: 32
    3a            // next header: ICMPv6
    ff            // hop limit: 255 (RFC 4861 §7.1.1)
    20010db8000000000000000000000002  // source: 2001:db8::2
    ff0200000000000000000001ff000010  // destination: solicited-node of the VIP
    87 00         // type 135 (NS), code 0
    1c09          // checksum
    00000000      // reserved
    20010db8000000000000000000000010  // target: 2001:db8::10, the VIP
    01 01 020000000002  // option: source link-layer address, 8 bytes, the client
";

fn solicited_advert() -> Frame {
    Frame {
        dst: CLIENT_MAC,
        src: NODE_MAC,
        vlan: None,
        payload: Payload::Ndp(NdpPacket {
            src: VIP6,
            dst: CLIENT6,
            message: NdpMessage::NeighborAdvert {
                flags: NeighborFlags { router: false, solicited: true, overrides: true },
                target: VIP6,
                target_mac: Some(NODE_MAC),
            },
        }),
    }
}

const SOLICITED_ADVERT: &str = "
    020000000002  // destination: the client
    020000000001  // source: the node
    86dd
    60000000 0020 3a ff
    20010db8000000000000000000000010  // source: the VIP
    20010db8000000000000000000000002  // destination: the client
    88 00         // type 136 (NA), code 0
    8a55          // checksum
    60000000      // flags: S and O
    20010db8000000000000000000000010  // target: the VIP
    02 01 020000000001  // option: target link-layer address, the node
";

const UNSOLICITED_ADVERT: &str = "
    333300000001  // destination: multicast MAC of ff02::1
    020000000001  // source: the node
    86dd
    60000000 0020 3a ff
    20010db8000000000000000000000010  // source: the VIP
    ff020000000000000000000000000001  // destination: all nodes
    88 00
    f90c          // checksum
    20000000      // flags: O only (RFC 4861 §7.2.6)
    20010db8000000000000000000000010  // target: the VIP
    02 01 020000000001  // option: target link-layer address, the node
";

/// Every fixture: its name, its bytes, its value.
pub(crate) fn fixtures() -> Vec<(&'static str, Vec<u8>, Frame)> {
    vec![
        ("ARP request", hex(ARP_REQUEST), arp_request()),
        ("tagged ARP reply", hex(TAGGED_ARP_REPLY), tagged_arp_reply()),
        ("gratuitous ARP", hex(GRATUITOUS_ARP), gratuitous_arp(NODE_MAC, VIP4)),
        ("neighbor solicitation", hex(NEIGHBOR_SOLICIT), neighbor_solicit()),
        ("solicited advertisement", hex(SOLICITED_ADVERT), solicited_advert()),
        ("unsolicited advertisement", hex(UNSOLICITED_ADVERT), unsolicited_na(NODE_MAC, VIP6)),
    ]
}

#[test]
fn every_fixture_decodes_to_its_value() {
    for (name, bytes, value) in fixtures() {
        assert_eq!(Frame::parse(&bytes), Ok(value), "{name}");
    }
}

#[test]
fn every_fixture_encodes_to_its_bytes() {
    for (name, bytes, value) in fixtures() {
        assert_eq!(value.buffer_len(), bytes.len(), "{name}");
        assert_eq!(value.to_bytes(), bytes, "{name}");
    }
}

#[test]
fn the_answers_to_the_requests_are_the_reply_fixtures() {
    let led = Leadership::new().lead("eth0", NODE_MAC, VIP4.into()).lead("eth0", NODE_MAC, VIP6.into());
    let mut tagged_request = arp_request();
    tagged_request.vlan = Some(VlanTag::new(100));
    assert_eq!(led.answer("eth0", &tagged_request), Some(tagged_arp_reply()));
    assert_eq!(led.answer("eth0", &neighbor_solicit()), Some(solicited_advert()));
}
