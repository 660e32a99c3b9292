//! The reference topology: speaker nodes, a router and a client on one L2 segment, and a
//! remote client behind the router.
//!
//! ```text
//!                                          ┌─ remote ────────────┐
//!                                          │ eth0 203.0.113.2/24 │
//!                                          │      2001:db8:2::2  │
//!                                          └─────────┬───────────┘
//!                                                    │ veth
//!  ┌─ client ──────┐ ┌─ node1 ───────┐     ┌─ router ┴─ eth1 203.0.113.1/24 ─┐
//!  │ eth0 .2       │ │ eth0 .11      │ ... │ eth0 .1      forwarding on      │
//!  │  ::2          │ │  ::11         │     │  ::1         (FRR goes here)    │
//!  └──────┬────────┘ └──────┬────────┘     └──────┬──────────────────────────┘
//!         │ veth            │ veth                │ veth
//!  ┌──────┴─────────────────┴─────────────────────┴────────┐
//!  │ br0: 198.51.100.0/24, 2001:db8:100::/64    (segment)  │
//!  └───────────────────────────────────────────────────────┘
//! ```
//!
//! Node *i* (from 1) is 198.51.100.(10+i) and 2001:db8:100::(10+i) (the same digits), with default
//! routes via the router, so the remote client reaches whatever a node announces once the
//! router has the route. L2 tests use the client on the segment; BGP tests peer the nodes with
//! the router and send traffic from the remote client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::frr::FrrConfig;
use crate::netns::{Netns, Segment, veth};

/// One speaker node of the [`Topology`].
#[derive(Debug)]
pub struct Node {
    /// The node's namespace; its interface on the segment is `eth0`.
    pub netns: Netns,
    /// The node's IPv4 address on the segment.
    pub ipv4: Ipv4Addr,
    /// The node's IPv6 address on the segment.
    pub ipv6: Ipv6Addr,
    /// The bridge port the node is plugged into (take it down to cut the node off).
    pub port: String,
}

impl Node {
    /// Makes the node take traffic sent to `vips` (as kube-proxy in IPVS
    /// mode does, by binding them to a local interface) and answer ARP only
    /// for addresses of the asking interface, so that answering ARP for the
    /// VIPs is left to the speaker (MetalLB asks for kube-proxy's strictARP
    /// for the same reason).
    pub fn take_vip_traffic(&self, vips: &[IpAddr]) -> Result<()> {
        self.netns.sysctl("net.ipv4.conf.all.arp_ignore", "1")?;
        self.netns.sysctl("net.ipv4.conf.all.arp_announce", "2")?;
        for vip in vips {
            crate::netns::check_documentation(*vip)?;
            let vip = vip.to_string();
            self.netns.ip(&["route", "add", "local", &vip, "dev", "lo", "table", "local"])?;
        }
        Ok(())
    }
}

/// The reference topology; dropping it removes every namespace it built.
#[derive(Debug)]
pub struct Topology {
    /// Speaker nodes, `node1`…
    pub nodes: Vec<Node>,
    /// The router: `eth0` on the segment, `eth1` towards the remote client; forwards.
    pub router: Netns,
    /// A client on the segment (L2 mode), 198.51.100.2 / 2001:db8:100::2.
    pub client: Netns,
    /// A client behind the router (BGP mode), 203.0.113.2 / 2001:db8:2::2.
    pub remote: Netns,
    /// The L2 segment everything but the remote client is on.
    pub segment: Segment,
}

/// The router's address on the segment.
pub const ROUTER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The router's IPv6 address on the segment.
pub const ROUTER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);

impl Topology {
    /// Builds the topology with `nodes` speaker nodes (1 to 200).
    pub fn new(nodes: usize) -> Result<Self> {
        if !(1..=200).contains(&nodes) {
            return Err(Error::Invalid {
                what: format!("node count {nodes}"),
                reason: "expected 1 to 200".into(),
            });
        }
        let segment = Segment::new()?;
        let router = Netns::new("router")?;
        segment.attach(&router, "eth0")?;
        router.add_addr("eth0", "198.51.100.1/24")?;
        router.add_addr("eth0", "2001:db8:100::1/64")?;
        router.enable_forwarding()?;

        let client = Netns::new("client")?;
        segment.attach(&client, "eth0")?;
        client.add_addr("eth0", "198.51.100.2/24")?;
        client.add_addr("eth0", "2001:db8:100::2/64")?;

        let remote = Netns::new("remote")?;
        veth(&router, "eth1", &remote, "eth0")?;
        router.add_addr("eth1", "203.0.113.1/24")?;
        router.add_addr("eth1", "2001:db8:2::1/64")?;
        remote.add_addr("eth0", "203.0.113.2/24")?;
        remote.add_addr("eth0", "2001:db8:2::2/64")?;
        remote.add_route("default", IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)))?;
        remote.add_route(
            "default",
            "2001:db8:2::1"
                .parse()
                .map_err(|_| Error::Invalid { what: "gateway".into(), reason: "bad literal".into() })?,
        )?;

        let mut list = Vec::with_capacity(nodes);
        for i in 1..=nodes {
            let host = u8::try_from(10 + i).map_err(|_| Error::Invalid {
                what: format!("node {i}"),
                reason: "address out of range".into(),
            })?;
            let netns = Netns::new(&format!("node{i}"))?;
            let port = segment.attach(&netns, "eth0")?;
            let ipv4 = Ipv4Addr::new(198, 51, 100, host);
            // The same digits as the IPv4 host part: node1 is .11 and ::11.
            let ipv6 = Ipv6Addr::new(
                0x2001,
                0xdb8,
                0x100,
                0,
                0,
                0,
                0,
                u16::from_str_radix(&host.to_string(), 16).unwrap_or(0),
            );
            netns.add_addr("eth0", &format!("{ipv4}/24"))?;
            netns.add_addr("eth0", &format!("{ipv6}/64"))?;
            netns.add_route("default", IpAddr::V4(ROUTER_V4))?;
            netns.add_route("default", IpAddr::V6(ROUTER_V6))?;
            list.push(Node { netns, ipv4, ipv6, port });
        }
        Ok(Topology { nodes: list, router, client, remote, segment })
    }

    /// An FRR config for the router: AS `router_asn`, every node a neighbor in `node_asn` with
    /// IPv4 and IPv6 unicast, ECMP over all nodes.
    pub fn router_frr_config(&self, router_asn: u32, node_asn: u32) -> FrrConfig {
        let mut config = FrrConfig::new(router_asn, ROUTER_V4);
        for node in &self.nodes {
            config = config.neighbor(IpAddr::V4(node.ipv4), node_asn, true);
        }
        config.maximum_paths = u16::try_from(self.nodes.len().max(1)).unwrap_or(u16::MAX);
        config
    }

    /// Every namespace of the topology (for cleanup checks and tcpdump).
    pub fn namespaces(&self) -> Vec<&Netns> {
        let mut all = vec![self.segment.netns(), &self.router, &self.client, &self.remote];
        all.extend(self.nodes.iter().map(|n| &n.netns));
        all
    }
}
