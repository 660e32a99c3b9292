//! Anyone on the segment sends any frame they like: parsing must report errors, never
//! panic; whatever parses must encode and parse back to itself; and the responder must
//! take any frame without panicking, answering only with frames that parse.
#![no_main]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_l2::{AnnounceConfig, Announcer, Frame, Input, Leadership, MacAddr, Output};
use libfuzzer_sys::fuzz_target;

const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

fuzz_target!(|data: &[u8]| {
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
    let mut announcer = Announcer::new(AnnounceConfig { count: 2, interval: Duration::from_millis(10) });
    let now = Instant::now();
    announcer.handle(now, Input::SetLeadership(leadership));
    for output in announcer.handle(now, Input::Received { iface: "eth0", frame: data }) {
        if let Output::Answer { frame, .. } = output {
            assert_eq!(Frame::parse(&frame.to_bytes()), Ok(frame));
        }
    }
});
