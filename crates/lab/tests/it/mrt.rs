//! The MRT files of `ferrolb_lab::mrt` are what GoBGP's `mrt inject` reads:
//! the baseline of the BGP benchmark depends on it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_lab::mrt::{MrtRoute, table_dump};
use ferrolb_lab::{GoBgp, GoBgpConfig, Netns};

use crate::support::require_lab;

/// 256 IPv4 and 256 IPv6 host routes, alternating, then IPv6 filler for
/// `mrt inject` to drop (it loses the tail of its input: LAB-NOTES).
fn routes() -> Vec<MrtRoute> {
    let filler = (0..2048u16).map(|i| MrtRoute {
        prefix: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, i)),
        next_hop: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    });
    (0..256u32)
        .flat_map(|i| {
            let v4 = MrtRoute {
                prefix: IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(203, 0, 113, 0)) + i)),
                next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            };
            let v6 = MrtRoute {
                prefix: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, i as u16)),
                next_hop: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            };
            [v4, v6]
        })
        .chain(filler)
        .collect()
}

#[test]
fn gobgp_injects_an_mrt_table_dump_of_ipv4_and_ipv6_routes() {
    require_lab!("gobgpd", "gobgp");
    let ns = Netns::new("mrt").unwrap();
    let gobgp = GoBgp::start(&ns, &GoBgpConfig::new(64513, Ipv4Addr::new(192, 0, 2, 2))).unwrap();
    let file = ns.dir().join("routes.mrt");
    std::fs::write(&file, table_dump(64513, Ipv4Addr::new(192, 0, 2, 2), &routes())).unwrap();
    gobgp.cli(&["mrt", "inject", "global", file.to_str().unwrap()]).unwrap();
    let count = |ipv6| gobgp.global_rib(ipv6).unwrap().as_object().map_or(0, |rib| rib.len());
    // gobgpd installs what the CLI streamed after the CLI has returned.
    let _ = ferrolb_lab::wait_until("routes injected", std::time::Duration::from_secs(5), || {
        Ok(count(false) == 256 && count(true) >= 256)
    });
    let (v4, v6) = (count(false), count(true));
    assert!(
        v4 == 256 && v6 >= 256,
        "GoBGP holds {v4} IPv4 and {v6} IPv6 of 256 + 256 (+ 2048 filler) routes"
    );
    let path = &gobgp.global_rib(false).unwrap()["203.0.113.7/32"][0];
    assert_eq!(next_hop(path), Some("192.0.2.2"), "{path}");
    let path = &gobgp.global_rib(true).unwrap()["2001:db8:10::7/128"][0];
    assert_eq!(next_hop(path), Some("2001:db8::2"), "{path}");
}

/// The next hop of a path in `gobgp -j global rib` (NEXT_HOP or MP_REACH_NLRI).
fn next_hop(path: &serde_json::Value) -> Option<&str> {
    path["attrs"].as_array()?.iter().find_map(|a| a["nexthop"].as_str())
}
