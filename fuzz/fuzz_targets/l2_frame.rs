//! Anyone on the segment sends any frame they like: Ethernet (tagged or not) carrying
//! ARP, or IPv6 carrying an NDP Neighbor Solicitation or Advertisement with its options.
//! Parsing must report errors, never panic; whatever parses must encode and parse back to
//! itself; and the responder must take any frame without panicking, answering only with
//! frames that parse. A random ICMPv6 checksum is always wrong, so each IPv6 frame is
//! also tried with its payload length and checksum made right: the NS/NA fields and
//! options behind the checksum are fuzzed too.
#![no_main]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_l2::ethernet::{EtherType, EthernetFrame};
use ferrolb_l2::ndp::{Ipv6Packet, icmpv6_checksum};
use ferrolb_l2::{AnnounceConfig, Announcer, Frame, Input, Leadership, MacAddr, Output};
use libfuzzer_sys::fuzz_target;

const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const IPV6_HEADER_LEN: usize = 40;

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = with_checksum_made_right(data)
        && fixed != data
    {
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    if let Ok(frame) = Frame::parse(data) {
        let bytes = frame.to_bytes();
        assert_eq!(Frame::parse(&bytes), Ok(frame), "re-encoded: {bytes:02x?}");
    }
    // The VIPs of the golden fixtures and captures, so that fuzzed requests can hit them.
    let vips: [IpAddr; 4] = [
        "192.0.2.10".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
        "2001:db8::10".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    ];
    let leadership = vips.iter().fold(Leadership::new(), |l, vip| l.lead("eth0", NODE_MAC, *vip));
    let config =
        AnnounceConfig { count: 2, interval: Duration::from_millis(10), ..AnnounceConfig::default() };
    let mut announcer = Announcer::new(config);
    let now = Instant::now();
    announcer.handle(now, Input::SetLeadership(leadership));
    for output in announcer.handle(now, Input::Received { iface: "eth0", frame: data }) {
        if let Output::Answer { frame, .. } = output {
            assert_eq!(Frame::parse(&frame.to_bytes()), Ok(frame));
        }
    }
}

/// `data` with the IPv6 payload length set to the rest of the frame and the ICMPv6
/// checksum computed, when it is an Ethernet frame with an IPv6 header.
fn with_checksum_made_right(data: &[u8]) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(data).ok()?;
    if eth.ethertype() != EtherType::Ipv6 || eth.payload().len() < IPV6_HEADER_LEN {
        return None;
    }
    let ip_at = eth.header_len();
    let mut fixed = data.to_vec();
    let payload_len = u16::try_from(fixed.len() - ip_at - IPV6_HEADER_LEN).ok()?;
    fixed[ip_at + 4..ip_at + 6].copy_from_slice(&payload_len.to_be_bytes());
    let icmp_at = ip_at + IPV6_HEADER_LEN;
    if fixed.len() >= icmp_at + 4 {
        fixed[icmp_at + 2..icmp_at + 4].fill(0);
        let ip = Ipv6Packet::new_checked(&fixed[ip_at..]).ok()?;
        let checksum = icmpv6_checksum(ip.src_addr(), ip.dst_addr(), ip.payload());
        fixed[icmp_at + 2..icmp_at + 4].copy_from_slice(&checksum.to_be_bytes());
    }
    Some(fixed)
}
