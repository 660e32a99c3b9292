//! `BGPPeer`: its BFD profile, and the rules between peers that one node's
//! BGP speaker must satisfy (each peer alone — AS numbers, addresses,
//! timers, password, selectors, fields not acted on — is
//! [`crate::config::resolve`]'s).

use ferrolb_types::IpFamily;

use super::advertisement::{NodeScope, selected_pools};
use super::{Findings, ParsedPools, name_of};
use crate::metallb::{BGPPeer, BGPPeerSpec};
use crate::snapshot::{Located, Snapshot, object_ref};

/// Checks each peer's BFD profile, then pairs of peers, then BFD echo against
/// IPv6 routes.
pub(super) fn check(snapshot: &Snapshot, parsed: &ParsedPools<'_>, findings: &mut Findings) {
    for peer in &snapshot.bgp_peers {
        check_bfd_profile(snapshot, peer, findings);
    }
    check_pairs(snapshot, findings);
    check_bfd_echo(snapshot, parsed, findings);
}

fn check_bfd_profile(snapshot: &Snapshot, peer: &Located<BGPPeer>, findings: &mut Findings) {
    let name = &peer.spec.bfd_profile;
    if name.is_empty() {
        return;
    }
    let profile = snapshot.bfd_profiles.iter().find(|profile| name_of(&profile.object) == name);
    if let Some(profile) = profile {
        if profile.spec.echo_mode == Some(true) {
            let message = format!(
                "{} has echoMode on, which is accepted but not acted on: ferrolb runs BFD in asynchronous \
                 mode only, without echo, so failure detection uses the profile's receive and transmit \
                 intervals (expected echoMode off)",
                object_ref("BFDProfile", &profile.metadata),
            );
            findings.warning(peer, "spec.bfdProfile", message);
        }
        return;
    }
    let message = format!(
        "no BFDProfile named {name:?}: MetalLB's controller refuses the whole configuration until it exists \
         (expected the name of a BFDProfile)"
    );
    findings.error(peer, "spec.bfdProfile", message);
}

/// Whether two peers may have a session from the same node; when the
/// snapshot has no node, MetalLB assumes they do.
fn share_a_node(snapshot: &Snapshot, a: &BGPPeer, b: &BGPPeer) -> bool {
    if snapshot.nodes.is_empty() {
        return true;
    }
    let scope_a = NodeScope::of(snapshot, &a.spec.node_selectors);
    scope_a.shares_a_node(&NodeScope::of(snapshot, &b.spec.node_selectors))
}

/// Who the peer is on a node: its address or interface, and its VRF.
fn identity(spec: &BGPPeerSpec) -> (&str, &str) {
    let who = if spec.peer_address.is_empty() { &spec.interface } else { &spec.peer_address };
    (who.as_str(), spec.vrf.as_str())
}

/// The rules of MetalLB's default (FRR) mode for peers that share a node:
/// one routerID, one session per address and VRF, one myASN per VRF. Each
/// later peer is reported once per rule, against the first earlier peer
/// that breaks it.
fn check_pairs(snapshot: &Snapshot, findings: &mut Findings) {
    for (index, peer) in snapshot.bgp_peers.iter().enumerate() {
        let earlier = &snapshot.bgp_peers[..index];
        let neighbours: Vec<&Located<BGPPeer>> =
            earlier.iter().filter(|other| share_a_node(snapshot, peer, other)).collect();
        check_router_id(peer, &neighbours, findings);
        check_duplicate_session(peer, &neighbours, findings);
        check_my_asn(peer, &neighbours, findings);
    }
}

fn check_router_id(peer: &Located<BGPPeer>, neighbours: &[&Located<BGPPeer>], findings: &mut Findings) {
    let Some(other) = neighbours.iter().find(|o| o.spec.router_id != peer.spec.router_id) else {
        return;
    };
    let message = format!(
        "routerID {} differs from {} of {}, which shares a node (expected one routerID for all \
         peers of a node)",
        shown(&peer.spec.router_id),
        shown(&other.spec.router_id),
        object_ref("BGPPeer", &other.metadata),
    );
    findings.error(peer, "spec.routerID", message);
}

fn check_duplicate_session(
    peer: &Located<BGPPeer>,
    neighbours: &[&Located<BGPPeer>],
    findings: &mut Findings,
) {
    let Some(other) = neighbours.iter().find(|o| identity(&o.spec) == identity(&peer.spec)) else {
        return;
    };
    let (who, vrf) = identity(&peer.spec);
    let field = if peer.spec.peer_address.is_empty() { "spec.interface" } else { "spec.peerAddress" };
    let vrf = if vrf.is_empty() { "the default VRF".to_owned() } else { format!("VRF {vrf}") };
    let message = format!(
        "{who} in {vrf} is already the peer of {}, which shares a node (expected one BGPPeer per address \
         or interface and VRF on a node)",
        object_ref("BGPPeer", &other.metadata),
    );
    findings.error(peer, field, message);
}

fn check_my_asn(peer: &Located<BGPPeer>, neighbours: &[&Located<BGPPeer>], findings: &mut Findings) {
    let spec = &peer.spec;
    let Some(other) = neighbours.iter().find(|o| o.spec.vrf == spec.vrf && o.spec.my_asn != spec.my_asn)
    else {
        return;
    };
    let message = format!(
        "myASN {} differs from myASN {} of {} in the same VRF, which shares a node (expected one \
         myASN per VRF on a node)",
        spec.my_asn,
        other.spec.my_asn,
        object_ref("BGPPeer", &other.metadata),
    );
    findings.error(peer, "spec.myASN", message);
}

/// A routerID as a message shows it.
fn shown(router_id: &str) -> String {
    if router_id.is_empty() { "unset".to_owned() } else { format!("{router_id:?}") }
}

/// BFD echo mode does not work over IPv6: a peer whose profile has it must
/// not get IPv6 routes. Reported once per peer, at its `bfdProfile`.
fn check_bfd_echo(snapshot: &Snapshot, parsed: &ParsedPools<'_>, findings: &mut Findings) {
    for peer in &snapshot.bgp_peers {
        let profile = snapshot.bfd_profiles.iter().find(|p| name_of(&p.object) == peer.spec.bfd_profile);
        let Some(profile) = profile.filter(|p| p.spec.echo_mode == Some(true)) else {
            continue;
        };
        if let Some((advertisement, pool)) = first_ipv6_route(snapshot, parsed, name_of(&peer.object)) {
            let message = format!(
                "{} has echoMode on, but {advertisement} sends this peer IPv6 routes of {pool} (expected \
                 echoMode off for peers that get IPv6 routes)",
                object_ref("BFDProfile", &profile.metadata),
            );
            findings.error(peer, "spec.bfdProfile", message);
        }
    }
}

/// The first advertisement (and its pool) that sends IPv6 routes to the
/// peer named `peer_name`, as `Kind/name` references.
fn first_ipv6_route(
    snapshot: &Snapshot,
    parsed: &ParsedPools<'_>,
    peer_name: &str,
) -> Option<(String, String)> {
    snapshot.bgp_advertisements.iter().find_map(|advertisement| {
        let spec = &advertisement.spec;
        if !spec.peers.is_empty() && !spec.peers.iter().any(|p| p == peer_name) {
            return None;
        }
        let pools = selected_pools(parsed, &spec.ip_address_pools, &spec.ip_address_pool_selectors);
        let (pool, _) = pools.into_iter().find(|(_, pool)| pool.has_family(IpFamily::V6))?;
        Some((
            object_ref("BGPAdvertisement", &advertisement.metadata),
            object_ref("IPAddressPool", &pool.metadata),
        ))
    })
}

#[cfg(test)]
mod tests;
