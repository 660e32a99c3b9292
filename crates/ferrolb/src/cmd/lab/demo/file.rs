//! The demo from one file: `ferrolb run` on every node, each reading the
//! same cluster file; a BGP node is stopped, then the L2 leader killed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{
    BGP_VIP, GOSSIP_SECRET, L2_VIP, Network, ROUTER_ASN, TIMEOUT, WEB, check_interrupted, configuration,
    node_name, nodes, services, step, wait,
};

/// The running demo; dropping it stops every process and removes every namespace.
pub(super) struct Demo {
    // Dropped after `Drop::drop` stopped the speakers.
    speakers: Vec<Option<u32>>,
    network: Network,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.network.stop_speakers(&mut self.speakers);
    }
}

impl Demo {
    /// Builds the topology and starts FRR and `ferrolb run` on every node.
    pub(super) fn build(exe: &Path) -> anyhow::Result<Demo> {
        println!("ferrolb lab demo: three nodes, an FRR router and two clients in network namespaces");
        step(1, "building the topology (namespaces, a bridge, veth pairs; documentation addresses only)");
        let topology = super::topology()?;
        check_interrupted()?;

        step(2, "starting FRR on the router, and ferrolb plus a web server on every node");
        let network = Network::start(topology)?;
        let config = cluster(&network.topology.nodes.iter().map(|n| n.ipv4.to_string()).collect::<Vec<_>>());
        let mut speakers = Vec::new();
        for (i, node) in network.topology.nodes.iter().enumerate() {
            let name = node_name(i);
            let file = node.netns.dir().join("cluster.yaml");
            std::fs::write(&file, &config)?;
            // The gossip between the nodes is authenticated with a shared secret.
            let secret = node.netns.dir().join("gossip.key");
            std::fs::write(&secret, GOSSIP_SECRET)?;
            let mut c = node.netns.command(&exe.to_string_lossy());
            c.args(["run", "--node", &name, "--gossip-secret-file"])
                .arg(&secret)
                .arg("--config")
                .arg(&file)
                .arg("--state-dir")
                .arg(node.netns.dir().join("state"))
                .env("RUST_LOG", "info");
            let pid = node.netns.spawn(c, &node.netns.dir().join("ferrolb.log"))?;
            println!(
                "  {name}: ferrolb run --node {name} (pid {pid}, log {})",
                node.netns.dir().join("ferrolb.log").display()
            );
            speakers.push(Some(pid));
        }
        Ok(Demo { speakers, network })
    }

    /// Tells the story, step 3 to 6.
    pub(super) fn show(&mut self) -> anyhow::Result<()> {
        step(3, "every node reads the same file: an L2 pool and a BGP pool, one Service in each");
        for node in &self.network.topology.nodes {
            node.netns.wait_tcp_listening(WEB, TIMEOUT)?;
        }
        let leader = self.wait_l2_leader(&[0, 1, 2])?;
        println!(
            "  default/web-l2   {L2_VIP:<15}  L2: {} elected (gossip among node1..3)",
            node_name(leader)
        );
        println!(
            "  default/web-bgp  {BGP_VIP:<15}  BGP: announced by every node to the router (AS {ROUTER_ASN})"
        );

        step(4, &format!("L2 mode: the client on the segment asks who has {L2_VIP}"));
        let owners = self.network.arp_owners(2)?;
        let leader_mac = self.network.owner(&self.network.macs[leader]);
        anyhow::ensure!(
            !owners.is_empty() && owners.iter().all(|o| *o == leader_mac),
            "ARP replies from {}, but {} is the leader",
            owners.join(", "),
            node_name(leader)
        );
        println!("  ARP replies: {} (only the leader answers)", owners.join(", "));
        let page = self.network.fetch(&self.network.topology.client, L2_VIP)?;
        println!("  curl http://{L2_VIP}:{WEB}/ from the client → {page}");

        step(5, &format!("BGP mode: FRR learns {BGP_VIP}/32 from every node and spreads traffic (ECMP)"));
        self.network.wait_sessions()?;
        println!("  FRR: sessions with node1, node2 and node3 Established");
        let gateways = self.network.wait_bgp_paths(3)?;
        println!("  router's kernel: {BGP_VIP} via {}", gateways.join(", "));
        println!("  20 requests from the remote client (203.0.113.2): {}", self.network.spread()?);
        // A node that is not the L2 leader: the L2 VIP stays where it is.
        let stopped = (0..3).rev().find(|&i| i != leader).context("three nodes")?;
        let started = Instant::now();
        if let Some(pid) = self.speakers[stopped].take() {
            self.network.topology.nodes[stopped].netns.stop(pid, Duration::from_secs(2));
        }
        let gateways = self.network.wait_bgp_paths(2)?;
        println!(
            "  SIGTERM to {}: it sends Cease to FRR, whose kernel route is via {} {:.2} s later",
            node_name(stopped),
            gateways.join(", "),
            started.elapsed().as_secs_f64()
        );

        step(6, &format!("L2 failover: {} (the leader) loses its link and is killed", node_name(leader)));
        let outage = self.network.fail_over(leader, &mut self.speakers)?;
        println!(
            "  the client, sending a request every 10 ms, got no answer for {:.0} ms; then {} answered",
            outage.duration.as_secs_f64() * 1000.0,
            outage.after
        );
        println!("  ARP replies now: {}", self.network.arp_owners(1)?.join(", "));
        Ok(())
    }

    /// Waits until exactly one node of `among` accepts the L2 VIP (the
    /// leader makes the host accept it); returns it.
    fn wait_l2_leader(&self, among: &[usize]) -> anyhow::Result<usize> {
        let mut leader = None;
        wait("an L2 leader", TIMEOUT, || {
            let accepting: Vec<usize> = among
                .iter()
                .copied()
                .filter(|&i| {
                    self.network.topology.nodes[i]
                        .netns
                        .ip(&["route", "get", L2_VIP])
                        .is_ok_and(|r| r.starts_with("local "))
                })
                .collect();
            leader = (accepting.len() == 1).then(|| accepting[0]);
            leader.is_some()
        })?;
        leader.context("no leader")
    }
}

/// The cluster file every node reads, for nodes at `addresses`.
fn cluster(addresses: &[String]) -> String {
    format!(
        "# The demo's cluster: one file, the same on every node.\n{}---\n{}---\n{}",
        configuration(),
        services(),
        nodes(addresses)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_cluster_validates_and_gives_each_service_its_vip() {
        let nodes = ["198.51.100.11", "198.51.100.12", "198.51.100.13"].map(String::from);
        let (snapshot, diagnostics) = ferrolb_api::load::load_str("demo.yaml", &cluster(&nodes));
        let (config, diagnostics) =
            crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let allocation = crate::cmd::plan::plan(&config, &snapshot, None);
        let ips: Vec<String> =
            allocation.services.iter().map(|s| s.ips.iter().map(ToString::to_string).collect()).collect();
        assert_eq!(ips, [BGP_VIP, L2_VIP]);
    }
}
