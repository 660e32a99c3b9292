//! The one typed reading of the `metallb.io` objects, as MetalLB's
//! controller builds its configuration (`config.For`): every field parsed
//! and checked once, so that `validate`, `plan`, IPAM, announcements, the
//! Kubernetes controller and the node runtime read the same answer.
//!
//! ```text
//!  Snapshot ──► resolve ──► Config { pools, peers, bgp/l2 advertisements, gossip secret }
//!     │            └──► per-object errors (an address that does not parse, a
//!     │                 selector Kubernetes would refuse, ...)
//!     └──────────► Services, Nodes, Namespaces, EndpointSlices: read as they are
//! ```
//!
//! Label selectors are compiled ([`crate::selector::Selector`]): matching
//! never reads an operator's text again.
//!
//! [`resolve`] reports what is wrong with one object alone; the rules
//! between objects (overlapping pools, peers that share a node, LOCAL_PREF
//! agreement) are [`crate::validate`]'s, over the snapshot and this
//! `Config`. An object outside MetalLB's namespace is not part of the
//! configuration (MetalLB never reads it).

mod advertisement;
mod bfd;
mod gossip;
mod peer;
mod pool;

use kube_core::Resource;

pub use advertisement::{BgpAdvertisement, L2Advertisement, Preference, Scope};
pub(crate) use advertisement::{aggregation_field, aggregation_length, in_range};
pub use bfd::BfdProfile;
pub use gossip::GossipSecret;
pub use peer::{Password, Peer, PeerAddress, PeerAs};
pub use pool::{Pool, PoolRange, ServiceAllocation};

use crate::community::CommunityAliases;
use crate::diagnostic::{Diagnostic, Location};
use crate::findings::Findings;
use crate::snapshot::{Located, Snapshot};

/// MetalLB's namespace unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// Which `metallb.io` objects make the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The namespace MetalLB (and ferrolb) reads `metallb.io` objects and
    /// password Secrets from; an object without a namespace is taken to be
    /// in it, where `kubectl apply -n NAMESPACE` would create it. Empty:
    /// any namespace.
    pub namespace: String,
}

impl Options {
    /// No namespace rule: for a snapshot whose source read one namespace
    /// already (the Kubernetes watchers), whatever its name.
    pub fn any_namespace() -> Self {
        Options { namespace: String::new() }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options { namespace: DEFAULT_NAMESPACE.to_owned() }
    }
}

/// Where a configuration item was written: its object's index in the
/// snapshot's list of its kind, and its first line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The index in the snapshot's list (`snapshot.pools[index]`).
    pub index: usize,
    /// The object's first line.
    pub location: Location,
}

impl Source {
    fn of<K>(index: usize, located: &Located<K>) -> Source {
        Source { index, location: located.location.clone() }
    }
}

/// The configuration: the `metallb.io` objects of MetalLB's namespace,
/// typed, each kind in the snapshot's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// `IPAddressPool`s (a pool keeps the entries that parse).
    pub pools: Vec<Pool>,
    /// `BGPPeer`s whose every field is accepted.
    pub peers: Vec<Peer>,
    /// `BGPAdvertisement`s whose routes can be built.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// `L2Advertisement`s.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// The gossip's secret, from MetalLB's `memberlist` Secret when it is there.
    pub gossip_secret: Option<GossipSecret>,
}

impl Config {
    /// The pool called `name` (the first, if two have it).
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The peer called `name` (the first, if two have it).
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }
}

/// The configuration of `snapshot` for a MetalLB reading
/// `options.namespace`, and what is wrong with each object alone.
pub fn resolve(snapshot: &Snapshot, options: &Options) -> (Config, Vec<Diagnostic>) {
    let mut findings = Findings::default();
    let config = resolve_into(snapshot, options, &mut findings);
    (config, findings.into_sorted())
}

pub(crate) fn resolve_into(snapshot: &Snapshot, options: &Options, findings: &mut Findings) -> Config {
    let namespace = options.namespace.as_str();
    let pools =
        in_namespace(&snapshot.pools, namespace).map(|(i, p)| pool::resolve(i, p, findings)).collect();
    let peers = in_namespace(&snapshot.bgp_peers, namespace)
        .filter_map(|(i, p)| peer::resolve(snapshot, i, p, namespace, findings))
        .collect();
    let communities = in_namespace(&snapshot.communities, namespace).map(|(_, c)| &c.object);
    let aliases = CommunityAliases::new(communities);
    let bgp_advertisements = in_namespace(&snapshot.bgp_advertisements, namespace)
        .filter_map(|(i, a)| advertisement::resolve_bgp(i, a, &aliases, findings))
        .collect();
    let l2_advertisements = in_namespace(&snapshot.l2_advertisements, namespace)
        .map(|(i, a)| advertisement::resolve_l2(i, a, findings))
        .collect();
    let gossip_secret = gossip::resolve(snapshot, namespace, findings);
    Config { pools, peers, bgp_advertisements, l2_advertisements, gossip_secret }
}

/// The objects of `objects` in `namespace`, with their indexes.
fn in_namespace<'a, K: Resource>(
    objects: &'a [Located<K>],
    namespace: &'a str,
) -> impl Iterator<Item = (usize, &'a Located<K>)> {
    objects.iter().enumerate().filter(move |(_, o)| is_in(o.meta().namespace.as_deref(), namespace))
}

/// Whether an object of `its` namespace is in `namespace` (no namespace:
/// it goes where it is applied; an empty `namespace`: any, see
/// [`Options::any_namespace`]).
pub(crate) fn is_in(its: Option<&str>, namespace: &str) -> bool {
    namespace.is_empty() || its.is_none_or(|its| its.is_empty() || its == namespace)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use ferrolb_types::IpFamily;

    use super::*;

    fn resolved(yaml: &str) -> (Config, Vec<String>) {
        let (snapshot, loaded) = crate::load::load_str("t.yaml", yaml);
        assert!(loaded.is_empty(), "{loaded:?}");
        let (config, diagnostics) = resolve(&snapshot, &Options::default());
        (config, diagnostics.iter().map(ToString::to_string).collect())
    }

    const PEER: &str = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor}\nspec:\n";

    #[test]
    fn a_pool_keeps_the_entries_that_parse_and_each_other_is_an_error_at_its_line() {
        let (config, problems) = resolved(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, labels: {tier: gold}}\nspec:\n  addresses:\n  - 192.0.2.0/28\n  - 192.0.2.300/32\n  - 2001:db8::1-2001:db8::9\n",
        );
        let pool = &config.pools[0];
        assert_eq!(pool.ranges.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 2]);
        assert!(pool.has_family(IpFamily::V4) && pool.has_family(IpFamily::V6));
        assert_eq!(pool.labels.get("tier").map(String::as_str), Some("gold"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("t.yaml:7: IPAddressPool/p: spec.addresses[1]:"), "{problems:?}");
    }

    #[test]
    fn a_peer_is_typed_once_with_what_metallb_derives() {
        let (config, problems) = resolve_peer(
            "  myASN: 64512\n  localASN: 64600\n  peerASN: 64600\n  peerAddress: 2001:db8::1\n  keepaliveTime: 10s\n  connectTime: 5s\n  password: s3cret\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let peer = &config.peers[0];
        assert_eq!(peer.address, PeerAddress::Ip("2001:db8::1".parse::<IpAddr>().unwrap()));
        assert_eq!(peer.local_asn.get(), 64600);
        assert!(peer.ibgp, "localASN is the AS the router sees");
        let timers = peer.timers.unwrap();
        assert_eq!((timers.hold.seconds(), timers.keepalive.as_secs()), (30, 10));
        assert_eq!(peer.connect_time, Some(std::time::Duration::from_secs(5)));
        assert!(peer.carries(IpFamily::V6) && !peer.carries(IpFamily::V4));
        assert_eq!(peer.port, 179);
        assert_eq!(format!("{:?}", peer.password), "Some(Password(..))", "a password is never printed");
    }

    fn resolve_peer(spec: &str) -> (Config, Vec<String>) {
        resolved(&format!("{PEER}{spec}"))
    }

    #[test]
    fn a_peer_with_a_refused_field_is_not_in_the_configuration() {
        for spec in [
            "  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.300\n",
            "  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n  holdTime: 2s\n",
            "  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n  routerID: 2001:db8::1\n",
            "  myASN: 64512\n  peerAddress: 192.0.2.1\n",
            "  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n  passwordSecret: {name: missing}\n",
        ] {
            let (config, problems) = resolve_peer(spec);
            assert!(config.peers.is_empty(), "{spec}");
            assert_eq!(problems.len(), 1, "{spec}: {problems:?}");
        }
    }

    #[test]
    fn objects_outside_metallbs_namespace_are_not_part_of_the_configuration() {
        let (config, _) = resolved(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: here}\nspec: {addresses: [192.0.2.0/28]}\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: there, namespace: other}\nspec: {addresses: [198.51.100.0/28]}\n",
        );
        let names: Vec<&str> = config.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["here"]);
        assert_eq!(config.pools[0].source.index, 0);
    }

    #[test]
    fn selectors_are_compiled_once_and_their_problems_are_resolves_errors() {
        let (config, problems) = resolved(
            "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2}\nspec:\n  nodeSelectors:\n  - matchExpressions: [{key: rack, operator: In, values: [r1]}]\n  - matchExpressions:\n    - {key: rack, operator: Gt, values: ['1']}\n",
        );
        assert_eq!(
            problems,
            ["t.yaml:8: L2Advertisement/l2: spec.nodeSelectors[1].matchExpressions[0].operator: invalid \
              operator \"Gt\" (expected In, NotIn, Exists or DoesNotExist)"]
        );
        let scope = &config.l2_advertisements[0].scope;
        let rack = |r: &str| std::collections::BTreeMap::from([("rack".to_owned(), r.to_owned())]);
        assert!(scope.selects_node(&rack("r1")));
        assert!(!scope.selects_node(&rack("r2")), "an unknown operator selects nothing");
    }

    #[test]
    fn an_aggregation_length_out_of_range_is_resolves_error_and_leaves_the_advertisement_out() {
        let (config, problems) = resolved(
            "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: a}\nspec:\n  aggregationLength: 33\n",
        );
        assert!(config.bgp_advertisements.is_empty());
        assert_eq!(
            problems,
            ["t.yaml:5: BGPAdvertisement/a: spec.aggregationLength: aggregationLength 33 is out of range \
              (expected 1 to 32)"]
        );
    }

    #[test]
    fn an_alias_defined_only_outside_metallbs_namespace_is_not_defined() {
        let (config, problems) = resolved(
            "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c, namespace: other}\nspec:\n  communities: [{name: gold, value: '64512:1'}]\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: a}\nspec:\n  communities: [gold, gold]\n",
        );
        assert!(config.bgp_advertisements.is_empty());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "t.yaml:11: BGPAdvertisement/a: spec.communities[0]: community alias \"gold\" is not defined"
            ),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("duplicate community \"gold\"")), "{problems:?}");
    }

    #[test]
    fn bgp_advertisements_carry_resolved_communities_and_prefix_lengths() {
        let (config, _) = resolved(
            "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c}\nspec:\n  communities: [{name: gold, value: '64512:1'}]\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: a}\nspec: {aggregationLength: 24, communities: [gold, '64512:1', 'large:1:2:3']}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: bad}\nspec: {communities: [no-such-alias]}\n",
        );
        let names: Vec<&str> = config.bgp_advertisements.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a"], "an advertisement whose routes cannot be built is left out");
        let a = &config.bgp_advertisements[0];
        assert_eq!((a.length(IpFamily::V4), a.length(IpFamily::V6)), (24, 128));
        let communities: Vec<String> = a.communities.iter().map(ToString::to_string).collect();
        assert_eq!(communities, ["64512:1", "large:1:2:3"], "sorted, once each");
    }
}
