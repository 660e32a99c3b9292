//! The UDP driver against BIRD 2's `protocol bfd`, in two network namespaces of the test's own
//! joined by a veth: ferrolb in one, BIRD with explicit `neighbor` sessions in the other (BIRD
//! makes a session only for those or for a client protocol). Needs root and the Debian package
//! bird2; without them the tests say why and skip, except in CI.
//!
//! BIRD runs 50 ms timers, ferrolb its defaults (300 ms, multiplier 3), so the negotiated
//! intervals are ferrolb's. Every assertion is on states, diagnostics, counters and the
//! negotiated values BIRD prints; time appears only as generous deadlines to wait for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_bfd::driver::{Bfd, PeerKey, PeerState};
use ferrolb_bfd::{Diagnostic, SessionConfig, State};
use ferrolb_lab::{
    BIRD_BFD_PROTOCOL, Bird, BirdBfdNeighbor, BirdBfdSession, BirdConfig, Netns, lab_ready, veth,
};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::netns::{DEADLINE, in_netns, up, wait_dropped, wait_state};

const TOOLS: &[&str] = &["ip", "bird", "birdc"];

/// ferrolb's namespace and BIRD's, a veth between them, BIRD running with one BFD neighbor.
struct Lab {
    // Dropped first: BIRD stops before its namespace goes.
    bird: Bird,
    key: PeerKey,
    ours: Netns,
    _theirs: Netns,
}

impl Lab {
    fn new(ours_cidr: &str, theirs_cidr: &str, multihop: bool) -> Lab {
        let ours = Netns::new("ferrolb").expect("namespace");
        let theirs = Netns::new("bird").expect("namespace");
        veth(&ours, "eth0", &theirs, "eth0").expect("veth");
        ours.add_addr("eth0", ours_cidr).expect("address");
        theirs.add_addr("eth0", theirs_cidr).expect("address");
        let ip =
            |cidr: &str| -> IpAddr { cidr.split('/').next().and_then(|a| a.parse().ok()).expect("address") };
        let (our_ip, their_ip) = (ip(ours_cidr), ip(theirs_cidr));
        let neighbor = if multihop {
            BirdBfdNeighbor::multihop(our_ip, their_ip)
        } else {
            BirdBfdNeighbor::single_hop(our_ip, their_ip, "eth0")
        };
        let config = BirdConfig::new(64513, Ipv4Addr::new(192, 0, 2, 254)).bfd_neighbor(neighbor);
        let bird = Bird::start(&theirs, &config).expect("BIRD with protocol bfd");
        let key = PeerKey { peer: their_ip, local: our_ip, multihop };
        Lab { bird, key, ours, _theirs: theirs }
    }

    /// BIRD's view of its session with ferrolb, once it is in `state`.
    fn bird_sees(&self, state: &str) -> BirdBfdSession {
        self.bird
            .wait_bfd_session(self.key.local, state, DEADLINE)
            .unwrap_or_else(|e| panic!("{e}; BIRD sees {:?}", self.bird.bfd_session(self.key.local)))
    }
}

/// Brings the session Up on both sides; returns BIRD's view of it.
fn come_up(lab: &Lab, runtime: &Runtime, rx: &mut watch::Receiver<PeerState>) -> BirdBfdSession {
    wait_state(runtime, rx, "Up on both sides", |s| up(s) && s.remote_state == State::Up);
    let view = lab.bird_sees("Up");
    // BIRD sends at ferrolb's Required Min RX (300 ms, slower than its own 50 ms) and detects
    // at ferrolb's multiplier times ferrolb's interval.
    assert_eq!((view.interval.as_str(), view.timeout.as_str()), ("0.300", "0.900"), "{view:?}");
    view
}

/// `birdc disable` of the BFD protocol: BIRD sends nothing more (no AdminDown), so ferrolb goes
/// Down with diagnostic 1 and still holds BIRD's last state as Up; `enable` brings it Up again.
fn disable_then_enable(lab: &Lab, runtime: &Runtime, rx: &mut watch::Receiver<PeerState>) {
    let downs = rx.borrow().downs;
    lab.bird.disable(BIRD_BFD_PROTOCOL).expect("birdc disable");
    let state = wait_state(runtime, rx, "Down after BIRD's disable", |s| s.state == State::Down);
    assert_eq!(state.diagnostic, Diagnostic::ControlDetectionTimeExpired, "{state:?}");
    assert_eq!(state.remote_state, State::Up, "BIRD said nothing on disable: {state:?}");
    assert_eq!(state.downs, downs + 1, "{state:?}");
    lab.bird.enable(BIRD_BFD_PROTOCOL).expect("birdc enable");
    let state = wait_state(runtime, rx, "Up after BIRD's enable", up);
    assert_eq!(state.diagnostic, Diagnostic::None, "{state:?}");
    come_up(lab, runtime, rx);
}

/// SIGKILL of BIRD brings ferrolb Down with diagnostic 1; BIRD started again brings it Up.
fn crash_then_restart(lab: &mut Lab, runtime: &Runtime, rx: &mut watch::Receiver<PeerState>) {
    let downs = rx.borrow().downs;
    lab.bird.kill().expect("bird was running");
    let state = wait_state(runtime, rx, "Down after BIRD was killed", |s| s.state == State::Down);
    assert_eq!(state.diagnostic, Diagnostic::ControlDetectionTimeExpired, "{state:?}");
    assert_eq!(state.downs, downs + 1, "{state:?}");
    assert_eq!(state.last_down, Some(Diagnostic::ControlDetectionTimeExpired), "{state:?}");

    lab.bird.restart().expect("BIRD started again");
    come_up(lab, runtime, rx);
    let state = *rx.borrow();
    assert_eq!((state.diagnostic, state.downs), (Diagnostic::None, downs + 1), "{state:?}");
}

#[test]
fn ipv4_single_hop_comes_up_with_bird_and_survives_its_disable_crash_and_restart() {
    if !lab_ready(TOOLS) {
        return;
    }
    let mut lab = Lab::new("192.0.2.1/24", "192.0.2.2/24", false);
    let ours = lab.ours.clone();
    in_netns(&ours, |runtime| {
        let _entered = runtime.enter();
        let bfd = Bfd::spawn(&[Ipv4Addr::UNSPECIFIED.into()]).expect("listen");
        let mut rx = bfd.add_peer(lab.key, SessionConfig::default()).expect("add peer");
        come_up(&lab, runtime, &mut rx);
        disable_then_enable(&lab, runtime, &mut rx);
        crash_then_restart(&mut lab, runtime, &mut rx);
        runtime.block_on(bfd.shutdown());
    });
}

#[test]
fn ipv6_single_hop_on_global_addresses_comes_up_with_bird_and_survives_removal_disable_and_crash() {
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

        // Removing the peer sends AdminDown: BIRD's session goes Down and waits there.
        // (The interval BIRD shows then is its own business: "1.000" or, for a moment,
        // "0.000", as a CI run saw.)
        bfd.remove_peer(lab.key).expect("remove");
        lab.bird_sees("Down");

        let mut rx = bfd.add_peer(lab.key, SessionConfig::default()).expect("add peer again");
        come_up(&lab, runtime, &mut rx);
        disable_then_enable(&lab, runtime, &mut rx);
        crash_then_restart(&mut lab, runtime, &mut rx);
        runtime.block_on(bfd.shutdown());
    });
}

/// Multihop with BIRD between `ours` and `theirs`: BIRD 2.0.12 sends multihop packets with
/// the system's default TTL or hop limit (64 here), not 255, so the default minimum (254)
/// drops every one and the session stays Down; a minimum of 64 brings it Up; then a crash.
fn multihop(ours_cidr: &str, theirs_cidr: &str, any: IpAddr) {
    let mut lab = Lab::new(ours_cidr, theirs_cidr, true);
    let ours = lab.ours.clone();
    in_netns(&ours, |runtime| {
        let _entered = runtime.enter();
        let bfd = Bfd::spawn(&[any]).expect("listen");
        let mut rx = bfd.add_peer(lab.key, SessionConfig::default()).expect("add peer");
        wait_dropped(runtime, &bfd, |now| now.ttl >= 3);
        let state = *rx.borrow();
        assert_eq!((state.state, state.remote_state), (State::Down, State::Down), "{state:?}");
        // ferrolb's packets (TTL 255) reach BIRD, which answers Init: the session is one-way.
        lab.bird_sees("Init");

        // A minimum of 64 accepts them: one router between BIRD and ferrolb would be one too many.
        let config = SessionConfig { minimum_ttl: 64, ..SessionConfig::default() };
        bfd.reconfigure(lab.key, config).expect("reconfigure");
        let view = come_up(&lab, runtime, &mut rx);
        assert_eq!(view.interface, "---", "a multihop session has no interface: {view:?}");
        crash_then_restart(&mut lab, runtime, &mut rx);
        runtime.block_on(bfd.shutdown());
    });
}

#[test]
fn ipv4_multihop_drops_bird_at_ttl_64_until_the_minimum_allows_it_then_survives_a_crash() {
    if lab_ready(TOOLS) {
        multihop("198.51.100.1/24", "198.51.100.2/24", Ipv4Addr::UNSPECIFIED.into());
    }
}

#[test]
fn ipv6_multihop_drops_bird_at_hop_limit_64_until_the_minimum_allows_it_then_survives_a_crash() {
    if lab_ready(TOOLS) {
        multihop("2001:db8:bfd::1/64", "2001:db8:bfd::2/64", Ipv6Addr::UNSPECIFIED.into());
    }
}
