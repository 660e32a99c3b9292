//! The router's side of ferrolb's BGP sessions.
//!
//! For every router the `BGPPeer`s name (one per peer address), the
//! configuration that router needs, in FRR's, BIRD's or Cisco IOS's words:
//! a neighbor for each node that keeps a session with it (the address the
//! node speaks from, its AS, the password, BFD and timers of its BGPPeer),
//! ECMP over all of them, and a policy that accepts from the nodes exactly
//! the prefixes they may announce — the pools' addresses at the aggregation
//! length of each advertisement sent to that router — and sends them nothing.
//! Anything else a node might send (a mistyped pool, a default route) is
//! refused at the router: no blackhole, no loop.
//!
//! Pure: from the typed [`Config`] and the Nodes of the [`Snapshot`], with
//! the node side's own rules (who peers with whom, from which address) taken
//! from [`ferrolb_announce`], so that both ends agree by construction.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ferrolb_announce::SessionReason;
use ferrolb_api::Snapshot;
use ferrolb_api::config::{BfdProfile, Config, PeerAddress, PeerAs};
use ferrolb_api::peer::PeerTimers;
use ferrolb_ipam::Allocation;
use ferrolb_types::IpFamily;
use ipnet::IpNet;

mod bird;
mod cisco;
mod frr;
mod ios;

/// A router's configuration language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// FRR (`frr.conf`, as vtysh writes it; tried with FRR 8.4).
    Frr,
    /// BIRD 2 (`bird.conf`; tried with BIRD 2.0.12).
    Bird,
    /// Cisco IOS and IOS XE.
    CiscoIos,
}

/// One router: every `BGPPeer` whose `peerAddress` is its address.
#[derive(Clone, Debug, PartialEq)]
pub struct Router {
    /// Its address, as the nodes reach it.
    pub address: IpAddr,
    /// Its AS (`peerASN`).
    pub asn: u32,
    /// The BGPPeers that name it, sorted.
    pub peers: Vec<String>,
    /// One per node address, sorted by node name.
    pub neighbors: Vec<Neighbor>,
    /// What it accepts from the nodes, by family and prefix.
    pub accepted: Vec<Accepted>,
    /// Whether one of its BGPPeers enables graceful restart.
    pub graceful_restart: bool,
}

/// A node, as one router's neighbor.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbor {
    /// The node's name.
    pub node: String,
    /// The BGPPeer the node's session comes from.
    pub peer: String,
    /// The address the node speaks from (see [`ferrolb_announce::session_local`]).
    pub address: IpAddr,
    /// The AS the node presents (`localASN`, else `myASN`).
    pub asn: u32,
    /// Whether the session carries IPv4 routes.
    pub ipv4: bool,
    /// Whether the session carries IPv6 routes.
    pub ipv6: bool,
    /// The TCP MD5 password.
    pub password: Option<String>,
    /// The BFD profile, when the BGPPeer names one.
    pub bfd: Option<BfdProfile>,
    /// Hold and keepalive, when the BGPPeer sets them.
    pub timers: Option<PeerTimers>,
    /// `ebgpMultiHop`.
    pub multihop: bool,
}

impl Neighbor {
    /// Whether the session carries routes of `family`.
    pub fn carries(&self, family: IpFamily) -> bool {
        match family {
            IpFamily::V4 => self.ipv4,
            IpFamily::V6 => self.ipv6,
        }
    }

    /// The same session, whichever BGPPeer it comes from.
    fn same_session(&self, other: &Neighbor) -> bool {
        Neighbor { peer: String::new(), ..self.clone() } == Neighbor { peer: String::new(), ..other.clone() }
    }
}

/// The routes of exactly `length` bits within `within`: what the nodes send
/// of a pool's addresses under one aggregation length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Accepted {
    /// The addresses (a CIDR of the pool, or the aggregate covering it).
    pub within: IpNet,
    /// The prefix length of the routes (at least `within`'s).
    pub length: u8,
}

impl Accepted {
    /// Its family.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.within.addr())
    }

    /// Whether it takes more than the one prefix `within` (a range of lengths).
    pub fn is_range(&self) -> bool {
        self.length > self.within.prefix_len()
    }
}

impl Router {
    /// Its router ID: its address when IPv4 (else the router picks one).
    pub fn router_id(&self) -> Option<Ipv4Addr> {
        match self.address {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }
    }

    /// The neighbors whose sessions carry `family`.
    pub fn neighbors_of(&self, family: IpFamily) -> impl Iterator<Item = &Neighbor> {
        self.neighbors.iter().filter(move |n| n.carries(family))
    }

    /// What it accepts of `family`.
    pub fn accepted_of(&self, family: IpFamily) -> impl Iterator<Item = &Accepted> {
        self.accepted.iter().filter(move |a| a.family() == family)
    }

    /// The families it exchanges routes of with the nodes: carried by a
    /// session, and with something to accept.
    pub fn families(&self) -> Vec<IpFamily> {
        [IpFamily::V4, IpFamily::V6]
            .into_iter()
            .filter(|&f| self.neighbors_of(f).next().is_some() && self.accepted_of(f).next().is_some())
            .collect()
    }

    /// How many equal paths it installs for `family`: one per node, so that
    /// traffic to a VIP spreads over every node that announces it.
    pub fn maximum_paths(&self, family: IpFamily) -> usize {
        self.neighbors_of(family).count().max(1)
    }

    /// Whether the nodes are in more than one AS: the router then needs to
    /// treat paths through different ASes as equal.
    pub fn mixed_asns(&self) -> bool {
        self.neighbors.windows(2).any(|w| w[0].asn != w[1].asn)
    }

    /// Whether the nodes are in its own AS (iBGP); they all are or none is
    /// in practice, and ECMP is asked for the kind there is.
    pub fn internal(&self) -> bool {
        self.neighbors.iter().any(|n| n.asn == self.asn)
    }

    /// The BFD profiles its neighbors use, once each, by name.
    pub fn bfd_profiles(&self) -> Vec<&BfdProfile> {
        let mut profiles: Vec<&BfdProfile> = self.neighbors.iter().filter_map(|n| n.bfd.as_ref()).collect();
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        profiles.dedup_by(|a, b| a.name == b.name);
        profiles
    }
}

/// Why a router's side is not written as the configuration asks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The configuration names no router at all.
    #[error(
        "no BGPPeer in the configuration: there is no router to write for (expected a BGPPeer with peerAddress and peerASN)"
    )]
    NoBgpPeer,
    /// The router's AS is learned from its OPEN, not written down.
    #[error(
        "BGPPeer {peer}: dynamicASN leaves the router's AS unknown (expected peerASN to write the router's side)"
    )]
    DynamicAsn {
        /// The BGPPeer.
        peer: String,
    },
    /// ferrolb opens no unnumbered session.
    #[error(
        "BGPPeer {peer}: interface {interface} asks for an unnumbered session, which ferrolb does not open"
    )]
    Unnumbered {
        /// The BGPPeer.
        peer: String,
        /// `spec.interface`.
        interface: String,
    },
    /// Two BGPPeers at one address disagree on the router's AS.
    #[error(
        "router {address}: BGPPeer {first} says AS {first_asn}, BGPPeer {second} AS {second_asn} (expected one AS per router)"
    )]
    AsnConflict {
        /// The router.
        address: IpAddr,
        /// The first BGPPeer.
        first: String,
        /// Its peerASN.
        first_asn: u32,
        /// The other.
        second: String,
        /// Its peerASN.
        second_asn: u32,
    },
    /// A node would need two different neighbor entries at one router.
    #[error(
        "router {address}: node {node} has two different sessions from {neighbor} (BGPPeers {first} and {second}); a router keeps one neighbor per address"
    )]
    NeighborConflict {
        /// The router.
        address: IpAddr,
        /// The node.
        node: String,
        /// The node's address.
        neighbor: IpAddr,
        /// One BGPPeer.
        first: String,
        /// The other.
        second: String,
    },
    /// No node has a session with the router.
    #[error(
        "router {address} (BGPPeer {peers}): no Node of the configuration keeps a session with it (expected the Nodes, kind: Node with an InternalIP, in the files)"
    )]
    NoNeighbor {
        /// The router.
        address: IpAddr,
        /// Its BGPPeers, comma-separated.
        peers: String,
    },
    /// A node that should peer has no address to speak from.
    #[error(
        "node {node}: no {family} InternalIP and no sourceAddress for BGPPeer {peer}: left out of router {address}"
    )]
    NoAddress {
        /// The node.
        node: String,
        /// The BGPPeer.
        peer: String,
        /// The router.
        address: IpAddr,
        /// The family of the router's address.
        family: &'static str,
    },
    /// A node the BGPPeer selects cannot open its session (the node side says why).
    #[error("node {node}: BGPPeer {peer}: {reason}: left out of router {address}")]
    Unusable {
        /// The node.
        node: String,
        /// The BGPPeer.
        peer: String,
        /// The router.
        address: IpAddr,
        /// Why, as `ferrolb plan --node` says it.
        reason: String,
    },
    /// The nodes connect to a port other than 179.
    #[error(
        "router {address}: BGPPeer {peer} connects to port {port}: the router must listen there (FRR: bgpd -p {port}; BIRD: `local port {port}`)"
    )]
    Port {
        /// The router.
        address: IpAddr,
        /// The BGPPeer.
        peer: String,
        /// `spec.peerPort`.
        port: u16,
    },
    /// Nothing is advertised to the router.
    #[error(
        "router {address}: no BGPAdvertisement sends a pool to it (BGPPeer {peers}): it accepts nothing from the nodes"
    )]
    NothingAccepted {
        /// The router.
        address: IpAddr,
        /// Its BGPPeers, comma-separated.
        peers: String,
    },
}

impl Problem {
    /// The router it is about; `None` when the BGPPeer names no router
    /// ferrolb can write for.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            Problem::NoBgpPeer | Problem::DynamicAsn { .. } | Problem::Unnumbered { .. } => None,
            Problem::AsnConflict { address, .. }
            | Problem::NeighborConflict { address, .. }
            | Problem::NoNeighbor { address, .. }
            | Problem::NoAddress { address, .. }
            | Problem::Unusable { address, .. }
            | Problem::Port { address, .. }
            | Problem::NothingAccepted { address, .. } => Some(*address),
        }
    }

    /// Whether the router's side cannot be written (else it is written, and
    /// this says what the operator must know).
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            Problem::NoAddress { .. }
                | Problem::Unusable { .. }
                | Problem::Port { .. }
                | Problem::NothingAccepted { .. }
        )
    }
}

/// Every router of `config`, by address, and what keeps their sides from
/// being what the configuration asks.
pub fn routers(config: &Config, snapshot: &Snapshot) -> (Vec<Router>, Vec<Problem>) {
    let mut problems = Vec::new();
    if config.peers.is_empty() {
        problems.push(Problem::NoBgpPeer);
    }
    let mut routers: BTreeMap<IpAddr, Router> = BTreeMap::new();
    // Which BGPPeer first named each router, for the AS conflict's message.
    let mut first_peer: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for peer in &config.peers {
        let address = match &peer.address {
            PeerAddress::Ip(ip) => ip.to_canonical(),
            PeerAddress::Interface(interface) => {
                let (peer, interface) = (peer.name.clone(), interface.clone());
                problems.push(Problem::Unnumbered { peer, interface });
                continue;
            }
        };
        let asn = match peer.peer_as {
            PeerAs::Fixed(asn) => asn.get(),
            PeerAs::Dynamic(_) => {
                problems.push(Problem::DynamicAsn { peer: peer.name.clone() });
                continue;
            }
        };
        if peer.port != 179 {
            problems.push(Problem::Port { address, peer: peer.name.clone(), port: peer.port });
        }
        let router = routers.entry(address).or_insert_with(|| Router {
            address,
            asn,
            peers: Vec::new(),
            neighbors: Vec::new(),
            accepted: Vec::new(),
            graceful_restart: false,
        });
        let first = *first_peer.entry(address).or_insert(&peer.name);
        if router.asn != asn {
            problems.push(Problem::AsnConflict {
                address,
                first: first.to_owned(),
                first_asn: router.asn,
                second: peer.name.clone(),
                second_asn: asn,
            });
            continue;
        }
        router.peers.push(peer.name.clone());
        router.graceful_restart |= peer.graceful_restart;
    }
    for router in routers.values_mut() {
        router.peers.sort();
        router.peers.dedup();
        router.accepted = accepted(config, &router.peers);
    }
    add_neighbors(config, snapshot, &mut routers, &mut problems);
    for router in routers.values() {
        let peers = router.peers.join(", ");
        if router.neighbors.is_empty() {
            problems.push(Problem::NoNeighbor { address: router.address, peers });
        } else if router.accepted.is_empty() {
            problems.push(Problem::NothingAccepted { address: router.address, peers });
        }
    }
    (routers.into_values().collect(), problems)
}

/// Each node's sessions, as the node's own BGP plan has them, as neighbors
/// of their routers.
fn add_neighbors(
    config: &Config,
    snapshot: &Snapshot,
    routers: &mut BTreeMap<IpAddr, Router>,
    problems: &mut Vec<Problem>,
) {
    let no_services = Allocation { services: Vec::new(), pools: Vec::new() };
    let mut nodes: Vec<&ferrolb_api::core::Node> = snapshot.nodes.iter().map(|n| &n.object).collect();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    // The first of two Nodes with one name counts, as everywhere.
    nodes.dedup_by(|later, first| later.metadata.name == first.metadata.name);
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let plan = ferrolb_announce::plan_bgp(config, snapshot, &no_services, name);
        for peer_plan in &plan.peers {
            let Some(peer) = config.peer(&peer_plan.peer) else { continue };
            let PeerAddress::Ip(router_address) = peer.address else { continue };
            let Some(router) = routers.get_mut(&router_address.to_canonical()) else { continue };
            if !router.peers.contains(&peer.name) {
                continue; // its AS conflicts: told already
            }
            if let SessionReason::Unusable(_) = peer_plan.session {
                problems.push(Problem::Unusable {
                    node: name.to_owned(),
                    peer: peer.name.clone(),
                    address: router.address,
                    reason: peer_plan.session.to_string(),
                });
            }
            if !peer_plan.has_session() {
                continue;
            }
            let Some(address) = ferrolb_announce::session_local(peer, Some(node)) else {
                problems.push(Problem::NoAddress {
                    node: name.to_owned(),
                    peer: peer.name.clone(),
                    address: router.address,
                    family: IpFamily::of(router.address).k8s_name(),
                });
                continue;
            };
            let neighbor = Neighbor {
                node: name.to_owned(),
                peer: peer.name.clone(),
                address,
                asn: peer.local_asn.get(),
                ipv4: peer.carries(IpFamily::V4),
                ipv6: peer.carries(IpFamily::V6),
                password: peer.password.as_ref().map(|p| p.expose().to_owned()),
                bfd: peer.bfd.clone(),
                timers: peer_plan.timers,
                multihop: peer.ebgp_multi_hop,
            };
            match router.neighbors.iter().find(|n| n.address == address) {
                Some(known) if known.same_session(&neighbor) => {}
                Some(known) => problems.push(Problem::NeighborConflict {
                    address: router.address,
                    node: name.to_owned(),
                    neighbor: address,
                    first: known.peer.clone(),
                    second: neighbor.peer,
                }),
                None => router.neighbors.push(neighbor),
            }
        }
    }
}

/// What a router whose BGPPeers are `peers` accepts: for each advertisement
/// sent to one of them, the addresses of every pool it covers at its
/// aggregation length. Sorted, each prefix once, none inside another of the
/// same length.
fn accepted(config: &Config, peers: &[String]) -> Vec<Accepted> {
    let mut accepted = Vec::new();
    for advertisement in &config.bgp_advertisements {
        if !peers.iter().any(|p| advertisement.sends_to(p)) {
            continue;
        }
        for pool in &config.pools {
            if !advertisement.scope.covers_pool(&pool.name, &pool.labels) {
                continue;
            }
            for entry in &pool.ranges {
                let length = advertisement.length(entry.range.family());
                // A route is a VIP masked to the aggregation length, which
                // validation keeps no shorter than any CIDR of the pool (as
                // MetalLB does): every route lies within one of them.
                for within in entry.range.cidrs() {
                    accepted.push(Accepted { within, length: length.max(within.prefix_len()) });
                }
            }
        }
    }
    accepted.sort();
    accepted.dedup();
    let covered = |a: &Accepted| {
        accepted.iter().any(|b| b != a && b.length == a.length && b.within.contains(&a.within))
    };
    let kept: Vec<Accepted> = accepted.iter().filter(|a| !covered(a)).copied().collect();
    kept
}

/// The configuration of every router in `routers`, in `dialect`: one
/// section per router, each headed by a comment naming it. With several
/// routers, each section's names (policies, BIRD protocols) end with its
/// first BGPPeer's name, so that sections loaded into one router (the
/// IPv4 and the IPv6 address of one box) do not overwrite each other.
pub fn render(dialect: Dialect, routers: &[Router]) -> String {
    let mut out = String::new();
    if dialect == Dialect::Bird {
        bird::render_common(routers, &mut out);
    }
    for (i, router) in routers.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let suffix = match routers.len() {
            1 => String::new(),
            _ => format!("-{}", router.peers.first().map_or("", String::as_str)),
        };
        match dialect {
            Dialect::Frr => frr::render(router, &suffix, &mut out),
            Dialect::Bird => bird::render(router, &suffix, &mut out),
            Dialect::CiscoIos => cisco::render(router, &suffix.to_uppercase(), &mut out),
        }
    }
    out
}

/// The first lines of every section: what it is for, in the dialect's comments.
fn header(router: &Router, comment: &str, dialect: &str) -> String {
    let nodes: Vec<&str> = router.neighbors.iter().map(|n| n.node.as_str()).collect();
    format!(
        "{comment} Generated by `ferrolb router-config --for {dialect}` for the router {} (AS {}, BGPPeer {}).\n\
         {comment} Neighbors: the nodes {}. Accepted from them: only the pools' prefixes; sent to them: nothing.\n",
        router.address,
        router.asn,
        router.peers.join(", "),
        nodes.join(", "),
    )
}

/// A family's name in file names and policy names: `v4`, `v6`.
fn short(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "v4",
        IpFamily::V6 => "v6",
    }
}

/// The address family's keyword: `ipv4`, `ipv6` (FRR, BIRD and IOS alike).
fn afi_keyword(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ipv4",
        IpFamily::V6 => "ipv6",
    }
}

/// The prefix lists' keyword: `ip`, `ipv6` (FRR and IOS).
fn ip_keyword(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ip",
        IpFamily::V6 => "ipv6",
    }
}

/// Milliseconds of a BFD interval.
fn millis(duration: std::time::Duration) -> u128 {
    duration.as_millis()
}

/// Keepalive and hold in whole seconds, as routers take them.
fn seconds(timers: &PeerTimers) -> (u64, u16) {
    (timers.keepalive.as_secs(), timers.hold.seconds())
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Frr => "frr",
            Dialect::Bird => "bird",
            Dialect::CiscoIos => "cisco-ios",
        })
    }
}

#[cfg(test)]
mod tests;
