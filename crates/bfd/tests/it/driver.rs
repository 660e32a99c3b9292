//! Two drivers back to back, one per namespace of the test's own, joined by a veth: the API's
//! refusals, the handshake, and AdminDown on removal and on drop. No FRR needed (root is).
//!
//! One thread opens both drivers' sockets, entering each namespace in turn before the calls
//! that open sockets (`Bfd::spawn`, `Bfd::add_peer`); a socket stays in the namespace it was
//! opened in, whichever thread uses it later.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_bfd::driver::{Bfd, DriverError, PeerKey, PeerState};
use ferrolb_bfd::{Diagnostic, SessionConfig, State};
use ferrolb_lab::{Netns, lab_ready, veth};
use tokio::sync::watch;

use crate::netns::{enter, in_netns_on_paused_clock, up, wait_state};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

fn both_up(s: &PeerState) -> bool {
    up(s) && s.remote_state == State::Up
}

#[test]
fn two_drivers_come_up_refuse_bad_requests_and_say_admin_down_on_removal_and_drop() {
    if !lab_ready(&["ip"]) {
        return;
    }
    let a = Netns::new("bfd-a").expect("namespace");
    let b = Netns::new("bfd-b").expect("namespace");
    veth(&a, "eth0", &b, "eth0").expect("veth");
    a.add_addr("eth0", "203.0.113.1/24").expect("address");
    b.add_addr("eth0", "203.0.113.2/24").expect("address");
    let key_a = PeerKey { peer: B, local: A, multihop: false };
    let key_b = PeerKey { peer: A, local: B, multihop: false };
    // MetalLB's defaults (300 ms, multiplier 3), on tokio's paused clock: no spurious detection,
    // however busy the machine.
    let config = SessionConfig::default();

    in_netns_on_paused_clock(&a, |runtime| {
        let _entered = runtime.enter();
        let bfd_a = Bfd::spawn(&[Ipv4Addr::UNSPECIFIED.into()]).expect("listen in a");
        let mut rx_a = bfd_a.add_peer(key_a, config).expect("add peer in a");
        enter(&b);
        let bfd_b = Bfd::spawn(&[B]).expect("listen in b");
        let mut rx_b = bfd_b.add_peer(key_b, config).expect("add peer in b");
        wait_state(runtime, &mut rx_a, "a Up", both_up);
        wait_state(runtime, &mut rx_b, "b Up", both_up);
        // Coming Up took packets both ways, counted on each side (MetalLB's
        // control_packet_input and _output).
        let (at_a, at_b) =
            (bfd_a.packets(key_a).expect("a's counts").get(), bfd_b.packets(key_b).expect("b's").get());
        assert!(
            at_a.sent > 0 && at_a.received > 0 && at_b.sent > 0 && at_b.received > 0,
            "{at_a:?} {at_b:?}"
        );
        assert!(bfd_a.packets(PeerKey { multihop: true, ..key_a }).is_none());

        // What the handle refuses, before any packet.
        assert!(matches!(bfd_a.add_peer(key_a, config), Err(DriverError::DuplicatePeer { .. })));
        let other_family = PeerKey { local: "2001:db8::1".parse().expect("address"), ..key_a };
        assert!(matches!(bfd_a.add_peer(other_family, config), Err(DriverError::Addresses { .. })));
        let unspecified = PeerKey { local: Ipv4Addr::UNSPECIFIED.into(), ..key_a };
        assert!(matches!(bfd_a.add_peer(unspecified, config), Err(DriverError::Addresses { .. })));
        let zero = SessionConfig { desired_min_tx: Duration::ZERO, ..config };
        assert!(matches!(bfd_a.reconfigure(key_a, zero), Err(DriverError::Config { .. })));
        let unknown = PeerKey { multihop: true, ..key_a };
        assert!(matches!(bfd_a.reconfigure(unknown, config), Err(DriverError::UnknownPeer { .. })));
        assert!(matches!(bfd_a.remove_peer(unknown), Err(DriverError::UnknownPeer { .. })));

        // Removal: b says AdminDown, so a goes Down with diagnostic 3 rather than waiting out a
        // detection time; b's channel closes once it has said so for a detection time.
        bfd_b.remove_peer(key_b).expect("remove b's peer");
        let state = wait_state(runtime, &mut rx_a, "a Down", |s| s.state == State::Down);
        assert_eq!(state.diagnostic, Diagnostic::NeighborSignaledSessionDown, "{state:?}");
        assert_eq!(state.remote_state, State::AdminDown, "{state:?}");
        assert_eq!(closed_state(runtime, rx_b).state, State::AdminDown);

        // The same peer again: a new session, Up again on both sides.
        enter(&b);
        let mut rx_b = bfd_b.add_peer(key_b, config).expect("add b's peer again");
        wait_state(runtime, &mut rx_b, "b Up again", both_up);
        wait_state(runtime, &mut rx_a, "a Up again", both_up);

        // Dropping b's handle takes every session AdminDown, and a hears it.
        drop(bfd_b);
        let state = wait_state(runtime, &mut rx_a, "a Down after b's drop", |s| s.state == State::Down);
        assert_eq!(state.diagnostic, Diagnostic::NeighborSignaledSessionDown, "{state:?}");
        assert_eq!(state.remote_state, State::AdminDown, "{state:?}");
        assert_eq!(state.downs, 2, "{state:?}");
        let final_b = closed_state(runtime, rx_b);
        assert_eq!((final_b.state, final_b.diagnostic), (State::AdminDown, Diagnostic::AdministrativelyDown));

        let dropped = bfd_a.dropped();
        assert_eq!((dropped.malformed, dropped.ttl), (0, 0), "{dropped:?}");
        runtime.block_on(bfd_a.shutdown());
    });
}

/// Waits until a removed session's channel closes; returns its last state.
fn closed_state(runtime: &tokio::runtime::Runtime, mut rx: watch::Receiver<PeerState>) -> PeerState {
    runtime.block_on(async {
        let closed =
            tokio::time::timeout(crate::netns::DEADLINE, async { while rx.changed().await.is_ok() {} });
        closed.await.expect("the removed session's channel to close");
    });
    *rx.borrow()
}
