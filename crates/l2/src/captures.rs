//! Frames captured from real tools (`testdata/`, see its README): Habets arping and the
//! kernel's ARP reply, a gratuitous ARP from `arping -U -S`, an NS from ndisc6 and the
//! kernel's NA. Every one must decode, and decode to what the tools meant.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::arp::Operation;
use crate::ethernet::MacAddr;
use crate::frame::{Frame, Payload};
use crate::leadership::Leadership;
use crate::ndp::{self, NdpMessage, NeighborFlags};

/// The frames of a classic pcap file (tcpdump -w), both byte orders.
fn pcap_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let u32_at = |b: &[u8], le: bool| {
        let a = [b[0], b[1], b[2], b[3]];
        if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    let le = match bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file"),
    };
    assert_eq!(u32_at(&bytes[20..24], le), 1, "link type must be Ethernet");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32_at(&bytes[at + 8..at + 12], le) as usize;
        frames.push(bytes[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    frames
}

fn capture(name: &str) -> Vec<Frame> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    pcap_frames(&bytes).iter().map(|f| Frame::parse(f).unwrap_or_else(|e| panic!("{name}: {e}"))).collect()
}

#[test]
fn arping_request_and_kernel_reply_decode() {
    let frames = capture("arping-request-reply.pcap");
    assert_eq!(frames.len(), 2);
    let (Payload::Arp(request), Payload::Arp(reply)) = (frames[0].payload, frames[1].payload) else {
        panic!("not ARP: {frames:?}");
    };
    assert_eq!(frames[0].dst, MacAddr::BROADCAST);
    assert_eq!(request.operation, Operation::Request);
    assert_eq!(
        (request.sender_ip, request.target_ip),
        (Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 1))
    );
    assert_eq!(reply.operation, Operation::Reply);
    assert_eq!(reply.sender_ip, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(reply.target_mac, request.sender_mac);
}

#[test]
fn arping_gratuitous_request_decodes_with_sender_and_target_the_vip() {
    let frames = capture("arping-gratuitous.pcap");
    let Payload::Arp(garp) = frames[0].payload else { panic!("not ARP") };
    assert_eq!(garp.operation, Operation::Request);
    assert_eq!(
        (garp.sender_ip, garp.target_ip),
        (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 10))
    );
    // arping fills the target MAC with ones; RFC 5227 says it is ignored, and ours is zero.
    assert_eq!(garp.target_mac, MacAddr::BROADCAST);
}

#[test]
fn ndisc6_solicitation_and_kernel_advertisement_decode_with_good_checksums() {
    let frames = capture("ndisc6-ns-na.pcap");
    assert_eq!(frames.len(), 2);
    let target: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let (Payload::Ndp(ns), Payload::Ndp(na)) = (frames[0].payload, frames[1].payload) else {
        panic!("not NDP: {frames:?}");
    };
    assert_eq!(ns.dst, ndp::solicited_node(target));
    assert_eq!(ns.message, NdpMessage::NeighborSolicit { target, source_mac: Some(frames[0].src) });
    // The kernel answers as we do: from the target, S and O set, target link-layer option.
    assert_eq!(na.src, target);
    assert_eq!(
        na.message,
        NdpMessage::NeighborAdvert {
            flags: NeighborFlags { router: false, solicited: true, overrides: true },
            target,
            target_mac: Some(frames[1].src),
        }
    );
}

#[test]
fn our_answers_to_the_captured_requests_match_the_kernels() {
    let arp = capture("arping-request-reply.pcap");
    let nd = capture("ndisc6-ns-na.pcap");
    let led = Leadership::new().lead("eth0", arp[1].src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))).lead(
        "eth0",
        nd[1].src,
        "2001:db8::1".parse().unwrap(),
    );
    assert_eq!(led.answer("eth0", &arp[0]), Some(arp[1]));
    let na = led.answer("eth0", &nd[0]).unwrap();
    assert_eq!(na, nd[1]);
}
