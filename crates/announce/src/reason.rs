//! Why a VIP is or is not announced to a peer, why a session with a peer is
//! kept or not, and why a node does or does not answer ARP/NDP for a VIP:
//! what `ferrolb plan` and `ferrolb status` print.

use std::fmt;
use std::sync::Arc;

use ferrolb_types::IpFamily;
use ipnet::IpNet;

use crate::eligibility::{EXCLUDE_FROM_LOAD_BALANCERS, EndpointBar, NETWORK_UNAVAILABLE, NodeBar};

/// Why a VIP of a Service is or is not announced (to one peer, or to none).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Announced, as these prefixes (one per aggregation length in use).
    Announced {
        /// The prefixes that carry the VIP.
        prefixes: Vec<IpNet>,
    },
    /// The node planned for is not among the snapshot's `Node`s, so no
    /// advertisement's nodeSelectors can select it.
    UnknownNode,
    /// The Service has addresses but IPAM names no pool for them.
    NoPool,
    /// No `BGPAdvertisement` covers the pool: a pool is announced by BGP
    /// only when some advertisement names, selects or (naming none) implies it.
    NoAdvertisementForPool {
        /// The pool.
        pool: String,
    },
    /// Advertisements cover the pool but none selects this node.
    NodeNotSelected {
        /// The advertisements covering the pool.
        advertisements: Vec<String>,
    },
    /// Advertisements cover the pool and this node, but their
    /// serviceSelectors leave the Service out.
    ServiceNotSelected {
        /// The advertisements covering the pool and the node.
        advertisements: Vec<String>,
    },
    /// Two advertisements that apply set different LOCAL_PREFs for the same
    /// routes to the same peers.
    ConflictingLocalPref {
        /// The first advertisement and its LOCAL_PREF.
        first: (String, u32),
        /// The second advertisement and its LOCAL_PREF.
        second: (String, u32),
    },
    /// The node may not announce at all.
    NodeBarred(NodeBar),
    /// The Service's endpoints keep this node from announcing it.
    Endpoints(EndpointBar),
    /// Everything allows the announcement but there is no `BGPPeer`.
    NoPeers,
    /// The peer's nodeSelectors do not select this node: no session.
    PeerNotForNode,
    /// The node should peer, but the session cannot be opened.
    SessionUnusable(Unusable),
    /// Every advertisement that applies names other peers.
    PeerNotListed {
        /// Each advertisement with the peers it is limited to.
        limits: Vec<(String, Vec<String>)>,
    },
    /// The session with the peer does not carry this address family.
    FamilyNotCarried {
        /// The VIP's family.
        family: IpFamily,
    },
}

impl Reason {
    /// Whether the VIP is announced.
    pub fn announced(&self) -> bool {
        matches!(self, Reason::Announced { .. })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Announced { prefixes } => write!(f, "announced as {}", list(prefixes)),
            Reason::UnknownNode => {
                f.write_str("this node is not among the Nodes, so no BGPAdvertisement selects it")
            }
            Reason::NoPool => f.write_str("the address belongs to no IPAddressPool"),
            Reason::NoAdvertisementForPool { pool } => write!(f, "no BGPAdvertisement selects pool {pool}"),
            Reason::NodeNotSelected { advertisements } => {
                write!(f, "nodeSelectors of {} do not select this node", advertisement_list(advertisements))
            }
            Reason::ServiceNotSelected { advertisements } => {
                write!(
                    f,
                    "serviceSelectors of {} do not select the service",
                    advertisement_list(advertisements)
                )
            }
            Reason::ConflictingLocalPref { first, second } => write!(
                f,
                "advertisements {} and {} set conflicting localPref ({} vs {}) for the same routes",
                first.0, second.0, first.1, second.1
            ),
            Reason::NodeBarred(bar) => node_bar(f, *bar),
            Reason::Endpoints(bar) => endpoint_bar(f, *bar),
            Reason::NoPeers => f.write_str("no BGPPeer is configured"),
            Reason::PeerNotForNode => f.write_str("the peer's nodeSelectors do not select this node"),
            Reason::SessionUnusable(why) => SessionReason::Unusable(*why).fmt(f),
            Reason::PeerNotListed { limits } => {
                let limits: Vec<String> = limits
                    .iter()
                    .map(|(ad, peers)| format!("advertisement {ad} limits peers to [{}]", peers.join(", ")))
                    .collect();
                f.write_str(&limits.join("; "))
            }
            Reason::FamilyNotCarried { family } => write!(
                f,
                "the session does not carry {family} routes (set dualStackAddressFamily, or peer over {family})"
            ),
        }
    }
}

/// Why this node keeps a session with a peer or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionReason {
    /// The peer has no nodeSelectors: every node peers with it.
    EveryNode,
    /// One of the peer's nodeSelectors selects this node.
    Selected,
    /// None of the peer's nodeSelectors selects this node.
    NotSelected,
    /// The node should peer, but ferrolb cannot open this session.
    Unusable(Unusable),
}

/// Why a session the configuration asks for cannot be opened from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unusable {
    /// The peer sets no routerID and the node has no IPv4 InternalIP to use.
    NoRouterId,
    /// An unnumbered session (`interface`), which ferrolb does not open yet.
    Unnumbered,
}

impl SessionReason {
    /// Whether the node keeps a session.
    pub fn session(self) -> bool {
        matches!(self, SessionReason::EveryNode | SessionReason::Selected)
    }
}

impl fmt::Display for SessionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionReason::EveryNode => "the peer has no nodeSelectors",
            SessionReason::Selected => "the peer's nodeSelectors select this node",
            SessionReason::NotSelected => "the peer's nodeSelectors do not select this node",
            SessionReason::Unusable(Unusable::NoRouterId) => {
                "no session: the peer sets no routerID and this node has no IPv4 InternalIP to use as one \
                 (set spec.routerID, or give the Node an IPv4 InternalIP)"
            }
            SessionReason::Unusable(Unusable::Unnumbered) => {
                "no session: ferrolb does not open unnumbered sessions (spec.interface) yet \
                 (expected spec.peerAddress)"
            }
        })
    }
}

/// Why this node does or does not answer ARP/NDP for a VIP, or why no node
/// does (MetalLB's `ShouldAnnounce` for layer 2, in its order of checking).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L2Reason {
    /// This node is the leader: the first of the candidates.
    Elected {
        /// How many nodes could have led.
        candidates: usize,
    },
    /// This node could lead, but another node comes first.
    NotElected {
        /// The leader (shared with its [`crate::L2Leader`]).
        leader: Arc<str>,
    },
    /// L2Advertisements cover the pool but their serviceSelectors leave the
    /// Service out.
    ServiceNotSelected {
        /// The advertisements covering the pool.
        advertisements: Vec<String>,
    },
    /// The Service shares its IP (`allow-shared-ip`) and an advertisement
    /// that selects it has serviceSelectors: MetalLB refuses the pair, since
    /// the Services sharing the IP could then elect different leaders.
    SharedIpWithServiceSelectors {
        /// The advertisements with serviceSelectors.
        advertisements: Vec<String>,
    },
    /// The Service's endpoints keep this node (or every node) from leading.
    Endpoints(EndpointBar),
    /// The node planned for is not among the snapshot's `Node`s.
    UnknownNode,
    /// Advertisements select the Service but none of their nodeSelectors
    /// selects this node.
    NodeNotSelected {
        /// The advertisements selecting the Service.
        advertisements: Vec<String>,
    },
    /// This node is not among the alive members, so the others elect
    /// without it.
    NotAlive,
    /// The node may not announce at all.
    NodeBarred(NodeBar),
    /// No node is alive, selected, fit and (under `Local`) has an endpoint.
    NoCandidate,
}

impl L2Reason {
    /// Whether this node leads the VIP.
    pub fn elected(&self) -> bool {
        matches!(self, L2Reason::Elected { .. })
    }
}

impl fmt::Display for L2Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            L2Reason::Elected { candidates: 1 } => f.write_str("elected: the only candidate"),
            L2Reason::Elected { candidates } => write!(f, "elected: first of {candidates} candidates"),
            L2Reason::NotElected { leader } => write!(f, "not elected: the leader is {leader}"),
            L2Reason::ServiceNotSelected { advertisements } => write!(
                f,
                "serviceSelectors of {} do not select the service",
                l2_advertisement_list(advertisements)
            ),
            L2Reason::SharedIpWithServiceSelectors { advertisements } => write!(
                f,
                "the service has allow-shared-ip, which cannot be used with the serviceSelectors of {}",
                l2_advertisement_list(advertisements)
            ),
            L2Reason::Endpoints(bar) => endpoint_bar(f, *bar),
            L2Reason::UnknownNode => {
                f.write_str("this node is not among the Nodes, so no L2Advertisement selects it")
            }
            L2Reason::NodeNotSelected { advertisements } => write!(
                f,
                "nodeSelectors of {} do not select this node",
                l2_advertisement_list(advertisements)
            ),
            L2Reason::NotAlive => f.write_str("this node is not an alive member"),
            L2Reason::NodeBarred(bar) => node_bar(f, *bar),
            L2Reason::NoCandidate => f.write_str(
                "no alive node is selected, fit to announce and, under externalTrafficPolicy: Local, \
                 has a ready endpoint",
            ),
        }
    }
}

fn node_bar(f: &mut fmt::Formatter<'_>, bar: NodeBar) -> fmt::Result {
    match bar {
        NodeBar::ExcludedByLabel => write!(f, "node excluded by label {EXCLUDE_FROM_LOAD_BALANCERS}"),
        NodeBar::NetworkUnavailable => write!(f, "node has condition {NETWORK_UNAVAILABLE}=True"),
    }
}

fn endpoint_bar(f: &mut fmt::Formatter<'_>, bar: EndpointBar) -> fmt::Result {
    f.write_str(match bar {
        EndpointBar::NoLocalEndpoint => "no ready endpoint on this node (externalTrafficPolicy: Local)",
        EndpointBar::NoEndpoint => "no ready endpoint on any node",
    })
}

fn list(items: &[impl fmt::Display]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn advertisement_list(names: &[String]) -> String {
    match names {
        [one] => format!("advertisement {one}"),
        _ => format!("advertisements {}", names.join(", ")),
    }
}

fn l2_advertisement_list(names: &[String]) -> String {
    match names {
        [one] => format!("L2Advertisement {one}"),
        _ => format!("L2Advertisements {}", names.join(", ")),
    }
}
