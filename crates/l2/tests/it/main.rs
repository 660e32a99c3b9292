//! Network tests of the L2 responder: the `responder` example in namespaces on one bridged
//! segment with a client, asked by real tools (Habets arping, ndisc6), watched by tcpdump.
//!
//! ```text
//!   ┌ node1 ┐  ┌ node2 ┐  ┌ client ┐     node1 192.0.2.1  2001:db8::1
//!   │ eth0  │  │ eth0  │  │ eth0   │     node2 192.0.2.2  2001:db8::2
//!   └───┬───┘  └───┬───┘  └───┬────┘     client 192.0.2.100 2001:db8::100
//!       └──────── br0 ────────┘          VIPs 192.0.2.10, 2001:db8::10 (led)
//!                                             192.0.2.11, 2001:db8::11 (not led)
//! ```
//!
//! Both nodes have the local routes ferrolb adds for an accepted VIP, as a node that was
//! leader a moment ago might still have: only the responder of the leader may answer.

#[cfg(feature = "driver")]
mod responder;

pub use ferrolb_lab::lab_ready;

#[cfg(not(feature = "driver"))]
#[test]
fn network_tests_need_the_driver_feature() {
    let reason = "the network tests need `--features driver` (cargo test -p ferrolb-l2 --features driver)";
    assert!(std::env::var_os("CI").is_none(), "CI must run the network tests: {reason}");
    eprintln!("skipped: {reason}");
}
