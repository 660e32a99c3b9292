//! The reference topology, and the router learning a node's VIP from GoBGP on a node.

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_lab::{Frr, GoBgp, GoBgpConfig, ROUTER_V4, Topology};

use crate::support::{assert_nothing_left, require_lab};

#[test]
fn the_reference_topology_connects_client_nodes_router_and_remote() {
    require_lab!("ping");
    let topo = Topology::new(2).unwrap();
    assert!(topo.client.ping("198.51.100.11".parse().unwrap()).unwrap(), "client to node1 over the segment");
    assert!(topo.client.ping("2001:db8:100::12".parse().unwrap()).unwrap(), "client to node2 over IPv6");
    assert!(
        topo.remote.ping("198.51.100.12".parse().unwrap()).unwrap(),
        "remote to node2 through the router"
    );

    let names: Vec<String> = topo.namespaces().iter().map(|n| n.name().to_owned()).collect();
    assert_eq!(names.len(), 6);
    drop(topo);
    assert_nothing_left(&names, &[]);
}

#[test]
fn the_router_installs_a_vip_announced_by_two_nodes_as_ecmp() {
    require_lab!("/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "gobgpd", "gobgp");
    let topo = Topology::new(2).unwrap();
    let frr = Frr::start(&topo.router, &topo.router_frr_config(64512, 64513)).unwrap();
    let speakers: Vec<GoBgp> = topo
        .nodes
        .iter()
        .map(|n| {
            let config = GoBgpConfig::new(64513, n.ipv4).neighbor(IpAddr::V4(ROUTER_V4), 64512, false);
            GoBgp::start(&n.netns, &config).unwrap()
        })
        .collect();
    for (node, speaker) in topo.nodes.iter().zip(&speakers) {
        frr.wait_established(IpAddr::V4(node.ipv4), Duration::from_secs(15)).unwrap();
        speaker.announce("203.0.113.100/32", &[]).unwrap();
    }
    ferrolb_lab::wait_until("both paths in the router's kernel", Duration::from_secs(10), || {
        Ok(topo.router.route("203.0.113.100/32")?.is_some_and(|r| r.gateways().len() == 2))
    })
    .unwrap();
    let mut gateways = topo.router.route("203.0.113.100/32").unwrap().unwrap().gateways();
    gateways.sort();
    assert_eq!(gateways, ["198.51.100.11", "198.51.100.12"]);

    let names: Vec<String> = topo.namespaces().iter().map(|n| n.name().to_owned()).collect();
    let pids: Vec<u32> = topo.namespaces().iter().flat_map(|n| n.started_pids()).collect();
    assert_eq!(pids.len(), 4, "zebra, bgpd and two gobgpd");
    drop((speakers, frr, topo));
    assert_nothing_left(&names, &pids);
}
