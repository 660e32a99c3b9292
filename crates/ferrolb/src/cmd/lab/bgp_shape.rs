//! The address families a BGP user announces, as the BGP benches build them:
//! an IPv4 Service over IPv4 sessions, an IPv6 one over IPv6 sessions, or a
//! dual-stack Service with one session per family (one BGPPeer each, as
//! MetalLB's documentation sets it up). Two ECMP nodes of the reference
//! [`Topology`] announce the VIPs to its router.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_lab::{BirdConfig, FrrConfig, Node, ROUTER_V4, ROUTER_V6};

/// The router's ASN.
pub const ROUTER_ASN: u32 = 64513;
/// Every node's ASN: the same AS path, so the paths tie for ECMP.
pub const NODE_ASN: u32 = 64512;
/// The IPv4 VIP the nodes announce.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The IPv6 VIP the nodes announce.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);

/// The families of the Service, and the sessions that carry them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Shape {
    /// An IPv4 VIP over IPv4 sessions.
    Ipv4,
    /// An IPv6 VIP over IPv6 sessions.
    Ipv6,
    /// A dual-stack Service: one VIP of each family, one session per family.
    DualStack,
}

impl Shape {
    /// Every shape, the default of the benches' `--shape`.
    pub const ALL: [Shape; 3] = [Shape::Ipv4, Shape::Ipv6, Shape::DualStack];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Ipv4 => "ipv4",
            Shape::Ipv6 => "ipv6",
            Shape::DualStack => "dual-stack",
        }
    }

    /// The VIPs of the Service.
    pub fn vips(self) -> Vec<IpAddr> {
        match self {
            Shape::Ipv4 => vec![VIP4.into()],
            Shape::Ipv6 => vec![VIP6.into()],
            Shape::DualStack => vec![VIP4.into(), VIP6.into()],
        }
    }

    /// The router's addresses each node peers with, one per VIP's family.
    pub fn peers(self) -> Vec<IpAddr> {
        self.vips().iter().map(|v| if v.is_ipv6() { ROUTER_V6.into() } else { ROUTER_V4.into() }).collect()
    }

    /// The node's addresses the router peers with, one per VIP's family.
    pub fn sessions_of(self, node: &Node) -> Vec<IpAddr> {
        self.vips().iter().map(|v| if v.is_ipv6() { node.ipv6.into() } else { node.ipv4.into() }).collect()
    }

    /// The router's FRR: every node a neighbor once per family (IPv6 unicast
    /// on the IPv6 sessions), ECMP over all nodes.
    pub fn router_config(self, nodes: &[Node]) -> FrrConfig {
        let mut config = FrrConfig::new(ROUTER_ASN, ROUTER_V4);
        for node in nodes {
            for session in self.sessions_of(node) {
                config = config.neighbor(session, NODE_ASN, session.is_ipv6());
            }
        }
        config.maximum_paths = u16::try_from(nodes.len().max(1)).unwrap_or(u16::MAX);
        config
    }

    /// BIRD on `node` in ferrolb's place: the router as a neighbor once per
    /// family, the VIPs as static routes to announce.
    pub fn bird_config(self, node: &Node) -> BirdConfig {
        let mut config = BirdConfig::new(NODE_ASN, node.ipv4);
        for peer in self.peers() {
            config = config.neighbor(peer, ROUTER_ASN);
        }
        config.static_routes = self.vips().iter().map(|v| format!("{v}/{}", host_length(*v))).collect();
        config
    }

    /// The cluster file: a pool holding the VIPs, the router as one BGPPeer
    /// per family whose spec ends with `peer_spec` (`, holdTime: 9s`...), a
    /// BGPAdvertisement, a Service of the shape's families and a Node for
    /// each of `nodes` (IPv4, IPv6).
    pub fn cluster(self, nodes: &[(Ipv4Addr, Ipv6Addr)], peer_spec: &str) -> String {
        let vips = self.vips();
        let pool: Vec<String> = vips.iter().map(|v| format!("\"{v}/{}\"", host_length(*v))).collect();
        let families: Vec<&str> = vips.iter().map(|v| if v.is_ipv6() { "IPv6" } else { "IPv4" }).collect();
        let policy = if vips.len() > 1 { "RequireDualStack" } else { "SingleStack" };
        let mut out = format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: vips}}\nspec:\n  addresses: [{}]\n",
            pool.join(", ")
        );
        for peer in self.peers() {
            let _ = write!(
                out,
                "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {}}}\nspec: {{myASN: {NODE_ASN}, peerASN: {ROUTER_ASN}, peerAddress: \"{peer}\"{peer_spec}}}\n",
                peer_name(peer)
            );
        }
        let _ = write!(
            out,
            "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: all}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec:\n  type: LoadBalancer\n  \
             ipFamilyPolicy: {policy}\n  ipFamilies: [{}]\n  ports: [{{port: 80}}]\n",
            families.join(", ")
        );
        for (i, (v4, v6)) in nodes.iter().enumerate() {
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {v4}}}, {{type: InternalIP, address: \"{v6}\"}}]\n",
                i + 1
            );
        }
        out
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The BGPPeer's name for the router at `peer`.
pub fn peer_name(peer: IpAddr) -> &'static str {
    if peer.is_ipv6() { "router-v6" } else { "router-v4" }
}

/// The prefix length of a host route to `vip`.
pub fn host_length(vip: IpAddr) -> u8 {
    if vip.is_ipv6() { 128 } else { 32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shapes_cluster_is_valid_and_gives_the_service_its_vips_over_one_peer_per_family() {
        let nodes = [
            (Ipv4Addr::new(198, 51, 100, 11), "2001:db8:100::11".parse().unwrap()),
            (Ipv4Addr::new(198, 51, 100, 12), "2001:db8:100::12".parse().unwrap()),
        ];
        for shape in Shape::ALL {
            let file = shape.cluster(&nodes, ", holdTime: 9s");
            let (snapshot, diagnostics) = ferrolb_api::load::load_str("bench.yaml", &file);
            let (config, diagnostics) =
                crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, &Default::default());
            assert!(diagnostics.is_empty(), "{shape}: {diagnostics:?}\n{file}");
            let peers: Vec<&str> =
                ["router-v4", "router-v6"].into_iter().filter(|name| config.peer(name).is_some()).collect();
            let want: Vec<&str> = shape.peers().into_iter().map(peer_name).collect();
            assert_eq!(peers, want, "{shape}");
            let allocation = crate::cmd::plan::plan(&config, &snapshot, None);
            assert_eq!(allocation.services[0].ips, shape.vips(), "{shape}");
            assert_eq!(snapshot.nodes.len(), 2);
        }
    }
}
