//! `BGPAdvertisement`: aggregation lengths (alone and against each pool),
//! communities, peers, selectors, and LOCAL_PREF agreement between
//! advertisements that would send the same route.

use std::collections::BTreeSet;

use ferrolb_types::IpFamily;

use super::advertisement::{NodeScope, SelectedPool, check_pool_names, selected_pools};
use super::{Findings, ParsedPools, item, name_of};
use crate::config::{aggregation_field, aggregation_length, in_range};
use crate::metallb::BGPAdvertisement;
use crate::snapshot::{Located, Snapshot, object_ref};

/// Checks every BGP advertisement, alone and against the others.
pub(super) fn check(snapshot: &Snapshot, parsed: &ParsedPools<'_>, findings: &mut Findings) {
    for advertisement in &snapshot.bgp_advertisements {
        check_fields(snapshot, advertisement, findings);
        check_aggregation_per_pool(advertisement, parsed, findings);
    }
    check_local_prefs(snapshot, parsed, findings);
}

fn check_fields(snapshot: &Snapshot, advertisement: &Located<BGPAdvertisement>, findings: &mut Findings) {
    let spec = &advertisement.spec;
    check_pool_names(snapshot, findings, advertisement, "spec.ipAddressPools", &spec.ip_address_pools);
    check_peer_names(snapshot, advertisement, findings);
}

/// Warns about each peer name that names no `BGPPeer`: MetalLB accepts it
/// (the peer may come later) and announces to no one for it.
fn check_peer_names(snapshot: &Snapshot, advertisement: &Located<BGPAdvertisement>, findings: &mut Findings) {
    for (index, name) in advertisement.spec.peers.iter().enumerate() {
        if !snapshot.bgp_peers.iter().any(|peer| name_of(&peer.object) == name) {
            let message = format!("no BGPPeer named {name:?} (expected the name of a BGPPeer)");
            findings.warning(advertisement, &item("spec.peers", index), message);
        }
    }
}

/// An aggregation length shorter than a pool's prefix would announce
/// addresses outside the pool; MetalLB rejects it per address entry (for a
/// range, against the largest CIDR of the range). One problem per pool and
/// family.
fn check_aggregation_per_pool(
    advertisement: &Located<BGPAdvertisement>,
    parsed: &ParsedPools<'_>,
    findings: &mut Findings,
) {
    let spec = &advertisement.spec;
    let pools = selected_pools(parsed, &spec.ip_address_pools, &spec.ip_address_pool_selectors);
    for family in [IpFamily::V4, IpFamily::V6] {
        let (Some(length), _) = aggregation_length(advertisement, family) else {
            continue;
        };
        if !in_range(length, family) {
            continue;
        }
        for (pool, ranges) in pools.iter().copied() {
            let of_family = ranges.ranges.iter().filter(|r| r.family() == family);
            let Some(entry) = of_family.into_iter().find(|r| length < i32::from(r.shortest_prefix())) else {
                continue;
            };
            let prefix = entry.shortest_prefix();
            let field = aggregation_field(family);
            let message = format!(
                "{field} {length} is shorter than prefix length {prefix} of {} in {} \
                 (expected at least {prefix})",
                pool.spec.addresses[entry.index].trim(),
                object_ref("IPAddressPool", &pool.metadata),
            );
            findings.error(advertisement, &format!("spec.{field}"), message);
        }
    }
}

/// An advertisement as it takes part in the LOCAL_PREF rule.
struct Route<'s, 'p, 'a> {
    advertisement: &'s Located<BGPAdvertisement>,
    pools: Vec<SelectedPool<'p, 'a>>,
    nodes: NodeScope<'s>,
}

impl Route<'_, '_, '_> {
    fn spec(&self) -> &crate::metallb::BGPAdvertisementSpec {
        &self.advertisement.spec
    }

    /// Whether the two could send one prefix to one peer from one node with
    /// different LOCAL_PREFs (MetalLB's `BGPAdvertisementsHaveCompatibleLocalPref`).
    fn conflicts_with(&self, earlier: &Route<'_, '_, '_>, families: &BTreeSet<IpFamily>) -> bool {
        self.spec().local_pref != earlier.spec().local_pref
            && !self.aggregation_differs(earlier, families)
            && self.shares_a_peer(earlier)
            && self.nodes.shares_a_node(&earlier.nodes)
    }

    /// Different aggregation lengths make different prefixes, so no clash;
    /// a pool with both families needs both lengths to differ.
    fn aggregation_differs(&self, earlier: &Route<'_, '_, '_>, families: &BTreeSet<IpFamily>) -> bool {
        if families.is_empty() {
            return true;
        }
        families.iter().all(|family| {
            aggregation_length(self.advertisement, *family).1
                != aggregation_length(earlier.advertisement, *family).1
        })
    }

    /// No peer list means every peer.
    fn shares_a_peer(&self, earlier: &Route<'_, '_, '_>) -> bool {
        let (mine, theirs) = (&self.spec().peers, &earlier.spec().peers);
        mine.is_empty() || theirs.is_empty() || mine.iter().any(|peer| theirs.contains(peer))
    }
}

/// Advertisements of one pool to the same peers from the same nodes must
/// agree on LOCAL_PREF, unless their aggregation lengths differ. Those with
/// serviceSelectors are left out, as in MetalLB, since which Services they
/// share cannot be known. Reported once per later advertisement.
fn check_local_prefs(snapshot: &Snapshot, parsed: &ParsedPools<'_>, findings: &mut Findings) {
    let routes: Vec<Route<'_, '_, '_>> = snapshot
        .bgp_advertisements
        .iter()
        .filter(|advertisement| advertisement.spec.service_selectors.is_empty())
        .map(|advertisement| {
            let spec = &advertisement.spec;
            Route {
                advertisement,
                pools: selected_pools(parsed, &spec.ip_address_pools, &spec.ip_address_pool_selectors),
                nodes: NodeScope::of(snapshot, &spec.node_selectors),
            }
        })
        .collect();
    for (index, route) in routes.iter().enumerate() {
        if let Some(message) = first_conflict(route, &routes[..index]) {
            findings.error(route.advertisement, "spec.localPref", message);
        }
    }
}

fn first_conflict(route: &Route<'_, '_, '_>, earlier: &[Route<'_, '_, '_>]) -> Option<String> {
    for (pool, ranges) in route.pools.iter().copied() {
        let families: BTreeSet<IpFamily> = ranges.ranges.iter().map(|r| r.family()).collect();
        let sharing = earlier.iter().filter(|other| other.pools.iter().any(|(p, _)| std::ptr::eq(*p, *pool)));
        if let Some(other) = sharing.into_iter().find(|other| route.conflicts_with(other, &families)) {
            return Some(format!(
                "localPref {} conflicts with localPref {} of {} for {} (expected one localPref for \
                 advertisements of a pool to the same peers from the same nodes, unless their aggregation \
                 lengths differ)",
                route.spec().local_pref,
                other.spec().local_pref,
                object_ref("BGPAdvertisement", &other.advertisement.metadata),
                object_ref("IPAddressPool", &pool.metadata),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{assert_clean, assert_problems};

    /// Lines 1 to 10: a /26 IPv4 pool and a /64 IPv6 pool.
    const POOLS: &str = r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: pool
  labels: {tier: gold}
spec:
  addresses:
  - 192.0.2.0/26
  - 2001:db8::/64
---
";

    fn with_pools(advertisements: &str) -> String {
        format!("{POOLS}{advertisements}")
    }

    #[test]
    fn aggregation_lengths_out_of_range_are_errors() {
        assert_problems(
            &with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  aggregationLength: 33
  aggregationLengthV6: 129
",
            ),
            &[
                "t.yaml:16: BGPAdvertisement/adv: spec.aggregationLength: aggregationLength 33 is out \
                 of range (expected 1 to 32)",
                "t.yaml:17: BGPAdvertisement/adv: spec.aggregationLengthV6: aggregationLengthV6 129 is \
                 out of range (expected at most 128)",
            ],
        );
    }

    #[test]
    fn aggregation_shorter_than_the_pool_prefix_is_an_error() {
        assert_problems(
            &with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  aggregationLength: 24
  aggregationLengthV6: 64
  ipAddressPools:
  - pool
",
            ),
            &["t.yaml:16: BGPAdvertisement/adv: spec.aggregationLength: aggregationLength 24 is \
               shorter than prefix length 26 of 192.0.2.0/26 in IPAddressPool/pool (expected at least 26)"],
        );
    }

    #[test]
    fn aggregation_against_a_range_uses_its_largest_cidr() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: range
spec:
  addresses:
  - 2001:db8::-2001:db8::2:ffff
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  aggregationLengthV6: 110
",
            &["t.yaml:14: BGPAdvertisement/adv: spec.aggregationLengthV6: aggregationLengthV6 110 is \
               shorter than prefix length 111 of 2001:db8::-2001:db8::2:ffff in IPAddressPool/range \
               (expected at least 111)"],
        );
    }

    #[test]
    fn service_selectors_with_aggregation_are_an_error() {
        assert_problems(
            &with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  aggregationLength: 32
  aggregationLengthV6: 120
  serviceSelectors:
  - matchLabels: {app: web}
",
            ),
            &["t.yaml:17: BGPAdvertisement/adv: spec.aggregationLengthV6: aggregationLengthV6 120 is \
               set together with serviceSelectors (expected the default 128 when serviceSelectors are set)"],
        );
    }

    #[test]
    fn as_path_prepend_is_refused_as_in_metallbs_frr_mode() {
        assert_problems(
            &with_pools(
                "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: adv\nspec:\n  asPathPrepend: 3\n",
            ),
            &[
                "t.yaml:16: BGPAdvertisement/adv: spec.asPathPrepend: asPathPrepend 3 is refused by MetalLB in \
                 FRR mode (only its frr-k8s backend prepends), and ferrolb does not prepend (expected no \
                 asPathPrepend)",
            ],
        );
    }

    #[test]
    fn community_syntax_is_checked_and_missing_alias_refuses_the_whole_configuration() {
        assert_problems(
            &with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: aliases
spec:
  communities:
  - name: no-advertise
    value: 65535:65282
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  communities:
  - no-advertise
  - 64512:100
  - large:64512:1:2
  - 64512:70000
  - 1:2:3
  - later-alias
",
            ),
            &[
                "t.yaml:29: BGPAdvertisement/adv: spec.communities[3]: invalid community \
                 \"64512:70000\": \"70000\" is not a number from 0 to 65535 (expected AA:NN with both \
                 parts from 0 to 65535)",
                "t.yaml:30: BGPAdvertisement/adv: spec.communities[4]: invalid community \"1:2:3\" \
                 (expected AA:NN or large:A:B:C)",
                "t.yaml:31: BGPAdvertisement/adv: spec.communities[5]: community alias \
                 \"later-alias\" is not defined: MetalLB's controller refuses the whole configuration until \
                 a Community defines it (expected AA:NN, large:A:B:C or the name of an alias of a Community \
                 resource)",
            ],
        );
    }

    #[test]
    fn repeated_community_and_peer_are_errors_and_unknown_peer_is_a_warning() {
        assert_problems(
            &with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata:
  name: router
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 192.0.2.254
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  communities:
  - 64512:1
  - 64512:1
  peers:
  - router
  - router
  - elsewhere
",
            ),
            &[
                "t.yaml:27: BGPAdvertisement/adv: spec.communities[1]: duplicate community \"64512:1\" \
                 (expected each community once)",
                "t.yaml:30: BGPAdvertisement/adv: spec.peers[1]: duplicate peer \"router\" (expected \
                 each peer once)",
                "t.yaml:31: warning: BGPAdvertisement/adv: spec.peers[2]: no BGPPeer named \"elsewhere\" \
                 (expected the name of a BGPPeer)",
            ],
        );
    }

    #[test]
    fn repeated_pool_and_unknown_pool_are_reported() {
        assert_problems(
            &with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  ipAddressPools:
  - pool
  - pool
  - missing
",
            ),
            &[
                "t.yaml:18: BGPAdvertisement/adv: spec.ipAddressPools[1]: duplicate pool \"pool\" \
                 (expected each pool once)",
                "t.yaml:19: warning: BGPAdvertisement/adv: spec.ipAddressPools[2]: no IPAddressPool \
                 named \"missing\" (expected the name of an IPAddressPool)",
            ],
        );
    }

    const NODE: &str = r"apiVersion: v1
kind: Node
metadata:
  name: node1
  labels: {rack: r1}
---
";

    #[test]
    fn different_local_prefs_for_one_pool_peer_and_node_are_an_error() {
        let yaml = format!(
            "{NODE}{}",
            with_pools(
                r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: first
spec:
  localPref: 100
  ipAddressPools: [pool]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: second
spec:
  localPref: 200
  ipAddressPoolSelectors:
  - matchLabels: {tier: gold}
"
            )
        );
        assert_problems(
            &yaml,
            &["t.yaml:30: BGPAdvertisement/second: spec.localPref: localPref 200 conflicts with \
               localPref 100 of BGPAdvertisement/first for IPAddressPool/pool (expected one localPref \
               for advertisements of a pool to the same peers from the same nodes, unless their \
               aggregation lengths differ)"],
        );
    }

    #[test]
    fn different_local_prefs_to_other_peers_other_nodes_or_lengths_are_fine() {
        let advertisements = r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: base
spec:
  localPref: 100
  peers: [a]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: other-peer
spec:
  localPref: 200
  peers: [b]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: other-nodes
spec:
  localPref: 300
  nodeSelectors:
  - matchLabels: {rack: r9}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: other-lengths
spec:
  localPref: 400
  aggregationLength: 27
  aggregationLengthV6: 65
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: by-service
spec:
  localPref: 500
  serviceSelectors:
  - matchLabels: {app: web}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata:
  name: a
spec: {myASN: 64512, peerASN: 64512, peerAddress: 192.0.2.253}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata:
  name: b
spec: {myASN: 64512, peerASN: 64512, peerAddress: 192.0.2.254}
";
        assert_clean(&format!("{NODE}{}", with_pools(advertisements)));
    }

    #[test]
    fn without_nodes_advertisements_never_clash() {
        let yaml = with_pools(
            r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: first
spec:
  localPref: 100
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: rack
spec:
  localPref: 150
  nodeSelectors:
  - matchLabels: {rack: r1}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: second
spec:
  localPref: 200
",
        );
        // MetalLB resolves node selectors against the Nodes it has: none,
        // so no two advertisements share a node.
        assert_clean(&yaml);
    }

    #[test]
    fn advertisement_with_defaults_is_clean() {
        assert_clean(&with_pools(
            r"apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec:
  aggregationLength: 26
  aggregationLengthV6: 64
  localPref: 100
",
        ));
    }
}
