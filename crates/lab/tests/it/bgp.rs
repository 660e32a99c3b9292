//! Real peers against each other: sessions come up and routes reach FRR's kernel table.
//!
//! ```text
//!   ┌─ router ───────────────┐        ┌─ speaker ──────────────┐
//!   │ FRR (zebra + bgpd)     │  veth  │ GoBGP or BIRD          │
//!   │ 192.0.2.1  AS 64512    ├────────┤ 192.0.2.2  AS 64513    │
//!   │ kernel: 203.0.113.x/32 │  eth0  │ announces 203.0.113.x  │
//!   └────────────────────────┘        └────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_lab::{Bird, BirdConfig, Frr, FrrConfig, GoBgp, GoBgpConfig, Netns, veth};

use crate::support::{assert_nothing_left, require_lab};

const FRR_ASN: u32 = 64512;
const SPEAKER_ASN: u32 = 64513;
const SESSION_TIMEOUT: Duration = Duration::from_secs(15);

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

/// A router namespace (192.0.2.1) and a speaker namespace (192.0.2.2) on one veth.
fn router_and_speaker() -> (Netns, Netns) {
    let router = Netns::new("router").unwrap();
    let speaker = Netns::new("speaker").unwrap();
    veth(&router, "eth0", &speaker, "eth0").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    speaker.add_addr("eth0", "192.0.2.2/24").unwrap();
    router.enable_forwarding().unwrap();
    (router, speaker)
}

fn frr_router(router: &Netns) -> Frr {
    let config =
        FrrConfig::new(FRR_ASN, v4("192.0.2.1")).neighbor(IpAddr::V4(v4("192.0.2.2")), SPEAKER_ASN, false);
    Frr::start(router, &config).unwrap()
}

#[test]
fn frr_and_gobgp_establish_and_a_gobgp_prefix_reaches_the_frr_kernel() {
    require_lab!("/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "gobgpd", "gobgp");
    let (router, speaker) = router_and_speaker();
    let frr = frr_router(&router);
    let gobgp = GoBgp::start(
        &speaker,
        &GoBgpConfig::new(SPEAKER_ASN, v4("192.0.2.2")).neighbor(IpAddr::V4(v4("192.0.2.1")), FRR_ASN, false),
    )
    .unwrap();

    frr.wait_established(IpAddr::V4(v4("192.0.2.2")), SESSION_TIMEOUT).unwrap();
    gobgp.wait_established(IpAddr::V4(v4("192.0.2.1")), SESSION_TIMEOUT).unwrap();
    gobgp.announce("203.0.113.10/32", &[]).unwrap();

    let route = router.wait_route("203.0.113.10/32", Duration::from_secs(10)).unwrap();
    assert_eq!(route.gateways(), ["192.0.2.2"]);
    assert_eq!(route.protocol.as_deref(), Some("bgp"));
    let rib = frr.bgp_ipv4_unicast().unwrap();
    assert!(rib["routes"].get("203.0.113.10/32").is_some(), "FRR RIB: {rib}");
    let local = gobgp.global_rib(false).unwrap();
    assert!(local.get("203.0.113.10/32").is_some(), "GoBGP RIB: {local}");

    let names = [router.name().to_owned(), speaker.name().to_owned()];
    let mut pids = router.started_pids();
    pids.extend(speaker.started_pids());
    drop((frr, gobgp, router, speaker));
    assert_nothing_left(&names, &pids);
}

#[test]
fn bird_and_frr_establish_and_a_bird_prefix_reaches_the_frr_kernel() {
    require_lab!("/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "bird", "birdc");
    let (router, speaker) = router_and_speaker();
    let frr = frr_router(&router);
    let config = BirdConfig::new(SPEAKER_ASN, v4("192.0.2.2"))
        .neighbor(IpAddr::V4(v4("192.0.2.1")), FRR_ASN)
        .static_route("203.0.113.20/32");
    let bird = Bird::start(&speaker, &config).unwrap();

    bird.wait_established("peer1", SESSION_TIMEOUT).unwrap();
    frr.wait_established(IpAddr::V4(v4("192.0.2.2")), SESSION_TIMEOUT).unwrap();

    let route = router.wait_route("203.0.113.20/32", Duration::from_secs(10)).unwrap();
    assert_eq!(route.gateways(), ["192.0.2.2"]);
    assert!(bird.route_prefixes().unwrap().contains(&"203.0.113.20/32".to_owned()));
    let protocols = bird.protocols_json().unwrap();
    assert!(
        protocols.as_array().unwrap().iter().any(|p| p["name"] == "peer1" && p["state"] == "up"),
        "{protocols}"
    );

    let names = [router.name().to_owned(), speaker.name().to_owned()];
    let mut pids = router.started_pids();
    pids.extend(speaker.started_pids());
    drop((frr, bird, router, speaker));
    assert_nothing_left(&names, &pids);
}

#[test]
fn a_daemon_that_cannot_start_says_why() {
    require_lab!("bird", "birdc");
    let ns = Netns::new("broken").unwrap();
    let config = BirdConfig::new(SPEAKER_ASN, v4("192.0.2.2")).static_route("203.0.113.300/32");
    let err = Bird::start(&ns, &config).unwrap_err().to_string();
    assert!(err.contains("bird in namespace") && err.contains("exited early"), "{err}");
    assert!(err.contains("bird.conf"), "the log tail names the config file: {err}");
}
