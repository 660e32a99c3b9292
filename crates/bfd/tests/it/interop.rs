//! The UDP driver against FRR 8.4 `bfdd`, in two network namespaces of the test's own joined
//! by a veth: ferrolb in one, zebra + bgpd + bfdd in the other. Needs root and the Debian
//! package frr; without them the tests say why and skip, except in CI.
//!
//! The driver runs on a tokio runtime built by a thread that entered ferrolb's namespace, so
//! every socket it opens lives there. Every assertion is on states, diagnostics and counters;
//! time appears only as generous deadlines to wait for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::num::{NonZeroU8, NonZeroU32};
use std::time::Duration;

use ferrolb_bfd::driver::{Bfd, MULTIHOP_PORT, PeerKey, PeerState};
use ferrolb_bfd::{ControlPacket, Diagnostic, Flags, SessionConfig, State};
use ferrolb_lab::{Frr, FrrBfdPeer, FrrConfig, Netns, lab_ready, veth};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::netns::{DEADLINE, enter, in_netns, up, wait_dropped, wait_state};

const TOOLS: &[&str] = &["ip", "vtysh", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"];

/// ferrolb's namespace and FRR's, a veth between them, FRR running with one BFD peer.
struct Lab {
    // Dropped first: the daemons stop before their namespace goes.
    frr: Frr,
    frr_peer: FrrBfdPeer,
    key: PeerKey,
    ours: Netns,
    theirs: Netns,
}

impl Lab {
    fn new(ours_cidr: &str, theirs_cidr: &str, multihop: bool) -> Lab {
        let ours = Netns::new("ferrolb").expect("namespace");
        let theirs = Netns::new("frr").expect("namespace");
        veth(&ours, "eth0", &theirs, "eth0").expect("veth");
        ours.add_addr("eth0", ours_cidr).expect("address");
        theirs.add_addr("eth0", theirs_cidr).expect("address");
        let ip =
            |cidr: &str| -> IpAddr { cidr.split('/').next().and_then(|a| a.parse().ok()).expect("address") };
        let (our_ip, their_ip) = (ip(ours_cidr), ip(theirs_cidr));
        let mut frr_peer = FrrBfdPeer::single_hop(our_ip, their_ip, "eth0");
        if multihop {
            frr_peer.multihop = true;
            frr_peer.interface = None;
        }
        let config = FrrConfig::new(64512, Ipv4Addr::new(192, 0, 2, 254)).bfd_peer(frr_peer.clone());
        let frr = Frr::start(&theirs, &config).expect("FRR with bfdd");
        let key = PeerKey { peer: their_ip, local: our_ip, multihop };
        Lab { frr, frr_peer, key, ours, theirs }
    }

    /// FRR's view of its session with ferrolb, once `status` is `want`.
    fn frr_sees(&self, want: &str) -> Value {
        self.frr
            .wait_bfd_peer(self.key.local, &format!("status {want}"), DEADLINE, |p| p["status"] == want)
            .unwrap_or_else(|e| panic!("{e}; FRR sees {:?}", self.frr.bfd_peer(self.key.local)))
    }
}

/// Brings the session Up on both sides; returns FRR's view of it.
fn come_up(lab: &Lab, runtime: &Runtime, rx: &mut watch::Receiver<PeerState>) -> Value {
    wait_state(runtime, rx, "Up on both sides", |s| up(s) && s.remote_state == State::Up);
    lab.frr_sees("up")
}

/// FRR's `shutdown` of its peer brings ferrolb Down with diagnostic 3, `no shutdown` Up again;
/// SIGKILL of bfdd brings it Down with diagnostic 1.
fn shutdown_then_crash(lab: &mut Lab, runtime: &Runtime, rx: &mut watch::Receiver<PeerState>) {
    let downs = rx.borrow().downs;
    lab.frr.configure_bfd_peer(&lab.frr_peer, &["shutdown"]).expect("vtysh shutdown");
    let state = wait_state(runtime, rx, "Down after FRR's shutdown", |s| s.state == State::Down);
    assert_eq!(state.diagnostic, Diagnostic::NeighborSignaledSessionDown, "{state:?}");
    assert_eq!(state.remote_state, State::AdminDown, "{state:?}");
    assert_eq!(state.downs, downs + 1, "{state:?}");
    assert_eq!(state.last_down, Some(Diagnostic::NeighborSignaledSessionDown), "{state:?}");
    lab.frr_sees("shutdown");

    lab.frr.configure_bfd_peer(&lab.frr_peer, &["no shutdown"]).expect("vtysh no shutdown");
    let state = wait_state(runtime, rx, "Up after FRR's no shutdown", up);
    assert_eq!(state.diagnostic, Diagnostic::None, "{state:?}");
    lab.frr_sees("up");

    lab.frr.kill_bfdd().expect("bfdd was running");
    let state = wait_state(runtime, rx, "Down after bfdd was killed", |s| s.state == State::Down);
    assert_eq!(state.diagnostic, Diagnostic::ControlDetectionTimeExpired, "{state:?}");
    assert_eq!(state.downs, downs + 2, "{state:?}");
    assert_eq!(state.last_down, Some(Diagnostic::ControlDetectionTimeExpired), "{state:?}");
}

fn u64_field(view: &Value, field: &str) -> u64 {
    view[field].as_u64().unwrap_or_else(|| panic!("no {field} in {view}"))
}

/// Sends `payload` to `to` port `port` from a thread in `ns`, with IP TTL (IPv6 hop limit) `ttl`.
fn send_from(ns: &Netns, from: IpAddr, to: SocketAddr, ttl: u32, payload: &[u8]) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(ns);
                let socket = UdpSocket::bind(SocketAddr::new(from, 0)).expect("bind");
                let raw = socket2::SockRef::from(&socket);
                if from.is_ipv4() { raw.set_ttl_v4(ttl) } else { raw.set_unicast_hops_v6(ttl) }.expect("TTL");
                socket.send_to(payload, to).expect("send");
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
}

/// A valid Down packet for the session FRR shows in `view`, as if from FRR: acted on, it would
/// bring the session down.
fn forged_down(view: &Value) -> ControlPacket {
    let (frr_id, our_id) = (u64_field(view, "id"), u64_field(view, "remote-id"));
    ControlPacket {
        diagnostic: Diagnostic::None,
        state: State::Down,
        flags: Flags::default(),
        detect_mult: NonZeroU8::new(3).expect("nonzero"),
        my_discriminator: NonZeroU32::new(u32::try_from(frr_id).expect("32 bits")).expect("FRR's nonzero id"),
        your_discriminator: u32::try_from(our_id).expect("32 bits"),
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

#[test]
fn ipv4_single_hop_comes_up_with_frr_survives_bad_datagrams_retimes_and_goes_down_both_ways() {
    if !lab_ready(TOOLS) {
        return;
    }
    let mut lab = Lab::new("192.0.2.1/24", "192.0.2.2/24", false);
    let ours = lab.ours.clone();
    in_netns(&ours, |runtime| {
        let _entered = runtime.enter();
        let bfd = Bfd::spawn(&[Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()]).expect("listen");
        let mut rx = bfd.add_peer(lab.key, SessionConfig::default()).expect("add peer");
        let view = come_up(&lab, runtime, &mut rx);
        assert_eq!(u64_field(&view, "remote-receive-interval"), 300, "{view}");

        // A datagram of garbage, and a valid Down packet for this very session with TTL 254
        // (one hop away at least): the first is not BFD, the second fails RFC 5881 §5. With
        // TTL 255 the second would bring the session down.
        let to = SocketAddr::new(lab.key.local, 3784);
        let before = bfd.dropped();
        send_from(&lab.theirs, lab.key.peer, to, 255, b"\x20\x40\x03garbage, not BFD");
        send_from(&lab.theirs, lab.key.peer, to, 254, &forged_down(&view).encode());
        wait_dropped(runtime, &bfd, |now| now.malformed > before.malformed && now.ttl > before.ttl);
        let state = *rx.borrow();
        assert!(up(&state) && state.downs == 0, "bad datagrams must leave the session Up: {state:?}");

        // A timer change while Up: a Poll Sequence, and FRR stays Up with the new values.
        let slower = SessionConfig {
            desired_min_tx: Duration::from_millis(600),
            required_min_rx: Duration::from_millis(500),
            ..SessionConfig::default()
        };
        bfd.reconfigure(lab.key, slower).expect("reconfigure");
        let view = lab
            .frr
            .wait_bfd_peer(lab.key.local, "ferrolb's new timers", DEADLINE, |p| {
                p["remote-transmit-interval"] == 600 && p["remote-receive-interval"] == 500
            })
            .expect("FRR to show the new intervals");
        assert_eq!(view["status"], "up", "{view}");
        let state = *rx.borrow();
        assert!(up(&state) && state.downs == 0, "a timer change must not take the session down: {state:?}");

        shutdown_then_crash(&mut lab, runtime, &mut rx);
        runtime.block_on(bfd.shutdown());
    });
}

#[test]
fn ipv6_single_hop_comes_up_with_frr_says_admin_down_on_removal_and_goes_down_both_ways() {
    if !lab_ready(TOOLS) {
        return;
    }
    let mut lab = Lab::new("2001:db8:bfd::1/64", "2001:db8:bfd::2/64", false);
    let ours = lab.ours.clone();
    in_netns(&ours, |runtime| {
        let _entered = runtime.enter();
        let bfd = Bfd::spawn(&[lab.key.local]).expect("listen");
        let mut rx = bfd.add_peer(lab.key, SessionConfig::default()).expect("add peer");
        come_up(&lab, runtime, &mut rx);

        // Removing the peer tells FRR (AdminDown) rather than letting its detection time run.
        bfd.remove_peer(lab.key).expect("remove");
        let view = lab
            .frr
            .wait_bfd_peer(lab.key.local, "down", DEADLINE, |p| p["status"] == "down")
            .expect("FRR to see the session down");
        assert_eq!(view["remote-diagnostic"], "administratively down", "{view}");
        assert_eq!(view["diagnostic"], "neighbor signaled session down", "{view}");

        let mut rx = bfd.add_peer(lab.key, SessionConfig::default()).expect("add peer again");
        come_up(&lab, runtime, &mut rx);
        shutdown_then_crash(&mut lab, runtime, &mut rx);
        runtime.block_on(bfd.shutdown());
    });
}

/// Multihop between `ours` and `theirs` (one link, but no TTL 255 asked): Up; a Down
/// packet two hops away (TTL 253) is dropped and counted, one hop away (254) is acted on;
/// bfdd killed -> Down with diagnostic 1.
fn multihop(ours_cidr: &str, theirs_cidr: &str, any: IpAddr) {
    let mut lab = Lab::new(ours_cidr, theirs_cidr, true);
    let ours = lab.ours.clone();
    in_netns(&ours, |runtime| {
        let _entered = runtime.enter();
        let bfd = Bfd::spawn(&[any]).expect("listen");
        // MetalLB's default minimum TTL, 254: one router between the peers at most.
        let config = SessionConfig::default();
        assert_eq!(config.minimum_ttl, 254);
        let mut rx = bfd.add_peer(lab.key, config).expect("add peer");
        let view = come_up(&lab, runtime, &mut rx);
        assert_eq!(view["multihop"], true, "{view}");

        // Two hops away is one too many; one hop away is fine for multihop, and this one
        // says Down, so the session goes down and comes back.
        let to = SocketAddr::new(lab.key.local, MULTIHOP_PORT);
        let before = bfd.dropped();
        send_from(&lab.theirs, lab.key.peer, to, 253, &forged_down(&view).encode());
        wait_dropped(runtime, &bfd, |now| now.ttl > before.ttl);
        let state = *rx.borrow();
        assert!(up(&state) && state.downs == 0, "TTL 253 must be dropped: {state:?}");
        send_from(&lab.theirs, lab.key.peer, to, 254, &forged_down(&view).encode());
        let state = wait_state(runtime, &mut rx, "Down after a Down packet with TTL 254", |s| s.downs == 1);
        assert_eq!(bfd.dropped().ttl, before.ttl + 1, "TTL 254 is accepted: {:?}", bfd.dropped());
        // It may be Up again already: the diagnostic of the flap is kept.
        assert_eq!(state.last_down, Some(Diagnostic::NeighborSignaledSessionDown), "{state:?}");
        come_up(&lab, runtime, &mut rx);

        lab.frr.kill_bfdd().expect("bfdd was running");
        let state = wait_state(runtime, &mut rx, "Down after bfdd was killed", |s| s.state == State::Down);
        assert_eq!(state.diagnostic, Diagnostic::ControlDetectionTimeExpired, "{state:?}");
        runtime.block_on(bfd.shutdown());
    });
}

#[test]
fn ipv4_multihop_comes_up_with_frr_refuses_a_ttl_below_its_minimum_and_detects_a_crash() {
    if lab_ready(TOOLS) {
        multihop("198.51.100.1/24", "198.51.100.2/24", Ipv4Addr::UNSPECIFIED.into());
    }
}

#[test]
fn ipv6_multihop_comes_up_with_frr_refuses_a_hop_limit_below_its_minimum_and_detects_a_crash() {
    // The minimum applies to the IPv6 hop limit as to the IPv4 TTL.
    if lab_ready(TOOLS) {
        multihop("2001:db8:bfd::1/64", "2001:db8:bfd::2/64", Ipv6Addr::UNSPECIFIED.into());
    }
}
