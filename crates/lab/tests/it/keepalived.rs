//! keepalived on two nodes of the reference topology: the higher priority holds the VIP, the
//! other takes it over when the master's link goes down and it is killed, and nothing is left.

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_lab::{Keepalived, KeepalivedConfig, Topology};

use crate::support::{assert_nothing_left, require_lab};

const VIP: &str = "198.51.100.200";

#[test]
fn the_backup_takes_the_vip_over_when_the_master_dies() {
    require_lab!("keepalived", "ping");
    let topo = Topology::new(2).unwrap();
    let vip: IpAddr = VIP.parse().unwrap();
    let speakers: Vec<Keepalived> = topo
        .nodes
        .iter()
        .zip([150, 100])
        .map(|(n, priority)| {
            let config = KeepalivedConfig::new("eth0", 51, priority, &format!("{VIP}/32")).fastest();
            Keepalived::start(&n.netns, &config).unwrap()
        })
        .collect();
    ferrolb_lab::wait_until("node1 (priority 150) to hold the VIP alone", Duration::from_secs(10), || {
        Ok(speakers[0].holds(vip)? && !speakers[1].holds(vip)?)
    })
    .unwrap();
    assert!(topo.client.ping(vip).unwrap(), "the client reaches the VIP on the master");

    topo.segment.netns().ip(&["link", "set", &topo.nodes[0].port, "down"]).unwrap();
    speakers[0].kill().unwrap();
    ferrolb_lab::wait_until("node2 to take the VIP over", Duration::from_secs(10), || speakers[1].holds(vip))
        .unwrap();
    ferrolb_lab::wait_until("the client to reach the VIP on node2", Duration::from_secs(10), || {
        topo.client.ping(vip)
    })
    .unwrap();
    assert!(speakers[1].log().contains("Entering MASTER STATE"), "{}", speakers[1].log());

    let names: Vec<String> = topo.namespaces().iter().map(|n| n.name().to_owned()).collect();
    let mut pids: Vec<u32> = topo.namespaces().iter().flat_map(|n| n.started_pids()).collect();
    pids.extend(speakers.iter().map(Keepalived::vrrp_pid));
    drop((speakers, topo));
    assert_nothing_left(&names, &pids);
}
