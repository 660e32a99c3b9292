//! `BGPPeer`: AS numbers, addresses, timers, authentication, BFD, and the
//! rules between peers that one node's BGP speaker must satisfy.

use std::net::{IpAddr, Ipv4Addr};

use ferrolb_types::IpFamily;
use kube_core::Duration;

use super::advertisement::{NodeScope, selected_pools};
use super::pool::ParsedPools;
use super::{Findings, name_of, selector};
use crate::core::Secret;
use crate::metallb::{BGPPeer, BGPPeerSpec, DynamicAsnMode};
use crate::peer::{go_duration, nanos};
use crate::snapshot::{Located, Snapshot, object_ref};

/// Highest `peerPort` (CRD schema).
const MAX_PEER_PORT: u16 = 16384;
/// `connectTime` bounds, in whole seconds (CRD schema).
const CONNECT_SECS: std::ops::RangeInclusive<i128> = 1..=65535;
/// The Secret type that holds a BGP password.
const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// Nanoseconds in a second.
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Checks every peer alone, then pairs of peers, then BFD echo against
/// IPv6 routes.
pub(super) fn check(snapshot: &Snapshot, parsed: &ParsedPools<'_>, namespace: &str, findings: &mut Findings) {
    for peer in &snapshot.bgp_peers {
        check_asns(peer, findings);
        check_addresses(peer, findings);
        check_timers(peer, findings);
        check_password(snapshot, peer, namespace, findings);
        check_bfd_profile(snapshot, peer, findings);
        selector::check_list(findings, peer, "spec.nodeSelectors", &peer.spec.node_selectors);
        if peer.spec.disable_mp {
            let message =
                "disableMP is deprecated and has no effect (expected dualStackAddressFamily instead)";
            findings.warning(peer, "spec.disableMP", message);
        }
    }
    check_pairs(snapshot, findings);
    check_bfd_echo(snapshot, parsed, findings);
}

fn check_asns(peer: &Located<BGPPeer>, findings: &mut Findings) {
    let spec = &peer.spec;
    if spec.my_asn == 0 {
        findings.error(peer, "spec.myASN", "myASN is missing (expected a non-zero AS number)");
    }
    match (spec.peer_asn, spec.dynamic_asn) {
        (0, None) => {
            findings.error(
                peer,
                "spec.peerASN",
                "neither peerASN nor dynamicASN is set (expected exactly one)",
            );
        }
        (asn, Some(_)) if asn != 0 => {
            findings.error(
                peer,
                "spec.dynamicASN",
                "peerASN and dynamicASN are both set (expected exactly one)",
            );
        }
        _ => {}
    }
    // MetalLB refuses it when peerASN is myASN, and lets it pass with
    // dynamicASN internal, where it does nothing.
    if spec.ebgp_multi_hop && spec.my_asn != 0 && spec.peer_asn == spec.my_asn {
        let message = "ebgpMultiHop is set for an iBGP peer (expected ebgpMultiHop only when the peer's AS \
                       differs from myASN)";
        findings.error(peer, "spec.ebgpMultiHop", message);
    } else if spec.ebgp_multi_hop && spec.dynamic_asn == Some(DynamicAsnMode::Internal) {
        let message = "ebgpMultiHop has no effect with dynamicASN internal, an iBGP session (MetalLB accepts \
                       it; expected ebgpMultiHop only for eBGP peers)";
        findings.warning(peer, "spec.ebgpMultiHop", message);
    }
    // The v1beta2 schema: localASN, when written, is at least 1.
    if spec.local_asn == 0 && peer.fields.has("spec.localASN") {
        findings.error(
            peer,
            "spec.localASN",
            "localASN 0 is out of range (expected 1 to 4294967295, or no localASN)",
        );
    }
}

fn check_addresses(peer: &Located<BGPPeer>, findings: &mut Findings) {
    let spec = &peer.spec;
    match (spec.peer_address.is_empty(), spec.interface.is_empty()) {
        (true, true) => {
            let message = "neither peerAddress nor interface is set (expected exactly one)";
            findings.error(peer, "spec.peerAddress", message);
        }
        (false, false) => {
            findings.error(
                peer,
                "spec.interface",
                "peerAddress and interface are both set (expected exactly one)",
            );
        }
        _ => {}
    }
    for (field, text) in [("peerAddress", &spec.peer_address), ("sourceAddress", &spec.source_address)] {
        if !text.is_empty() && text.parse::<IpAddr>().is_err() {
            let message = format!("invalid {field} {text:?} (expected an IPv4 or IPv6 address)");
            findings.error(peer, &format!("spec.{field}"), message);
        }
    }
    if !spec.router_id.is_empty() && spec.router_id.parse::<Ipv4Addr>().is_err() {
        let message = format!("invalid routerID {:?} (expected an IPv4 address)", spec.router_id);
        findings.error(peer, "spec.routerID", message);
    }
    // The v1beta2 schema: peerPort, when written, is at least 1 (a v1beta1
    // peer's 0 is left out by the conversion).
    if spec.peer_port == 0 && peer.fields.has("spec.peerPort") {
        let message =
            format!("peerPort 0 is out of range (expected 1 to {MAX_PEER_PORT}, or no peerPort for 179)");
        findings.error(peer, "spec.peerPort", message);
    }
    if spec.peer_port > MAX_PEER_PORT {
        let message = format!("peerPort {} is out of range (expected 1 to {MAX_PEER_PORT})", spec.peer_port);
        findings.error(peer, "spec.peerPort", message);
    }
}

fn check_timers(peer: &Located<BGPPeer>, findings: &mut Findings) {
    let spec = &peer.spec;
    if let Err(e) = crate::peer::timers(spec) {
        findings.error(peer, e.field(), e.to_string());
    }
    if let Some(connect) = &spec.connect_time {
        check_connect_time(peer, connect, findings);
    }
}

fn check_connect_time(peer: &Located<BGPPeer>, connect: &Duration, findings: &mut Findings) {
    let total = nanos(connect);
    let shown = go_duration(total);
    if !CONNECT_SECS.contains(&(total / NANOS_PER_SEC)) {
        let message = format!("connectTime {shown} is out of range (expected 1s to 65535s)");
        findings.error(peer, "spec.connectTime", message);
    }
    if total % NANOS_PER_SEC != 0 {
        let message =
            format!("connectTime {shown} is not a whole number of seconds (expected whole seconds)");
        findings.error(peer, "spec.connectTime", message);
    }
}

fn check_password(snapshot: &Snapshot, peer: &Located<BGPPeer>, namespace: &str, findings: &mut Findings) {
    let spec = &peer.spec;
    let reference = &spec.password_secret;
    if reference.name.is_empty() {
        return;
    }
    if !spec.password.is_empty() {
        findings.error(
            peer,
            "spec.password",
            "password and passwordSecret are both set (expected one of them)",
        );
    }
    // MetalLB looks the Secret up by name among the Secrets of its own
    // namespace, whatever passwordSecret.namespace says.
    let secret = snapshot.secrets.iter().find(|secret| {
        let meta = &secret.metadata;
        meta.name.as_deref() == Some(reference.name.as_str())
            && super::namespace::is_in(meta.namespace.as_deref(), namespace)
    });
    let field = "spec.passwordSecret.name";
    let Some(secret) = secret else {
        let message = format!(
            "no Secret named {:?} in namespace {namespace:?}, where MetalLB looks for it: its controller refuses \
             the whole configuration until it exists (expected a Secret of type {BASIC_AUTH} with a password key)",
            reference.name
        );
        findings.error(peer, field, message);
        return;
    };
    if let Err(message) = check_secret(secret) {
        findings.error(peer, field, message);
    }
}

/// Whether a Secret can hold a BGP password, as MetalLB reads it.
fn check_secret(secret: &Secret) -> Result<(), String> {
    let secret_ref = object_ref("Secret", &secret.metadata);
    let secret_type = secret.type_.as_deref().unwrap_or("Opaque");
    if secret_type != BASIC_AUTH {
        return Err(format!("{secret_ref} has type {secret_type:?} (expected {BASIC_AUTH})"));
    }
    let in_data = secret.data.as_ref().is_some_and(|data| data.contains_key("password"));
    let in_string_data = secret.string_data.as_ref().is_some_and(|data| data.contains_key("password"));
    if !in_data && !in_string_data {
        return Err(format!("{secret_ref} has no password key (expected the password under data.password)"));
    }
    Ok(())
}

fn check_bfd_profile(snapshot: &Snapshot, peer: &Located<BGPPeer>, findings: &mut Findings) {
    let name = &peer.spec.bfd_profile;
    if name.is_empty() {
        return;
    }
    if snapshot.bfd_profiles.iter().any(|profile| name_of(&profile.object) == name) {
        let message = format!(
            "bfdProfile {name:?} is accepted but not acted on: ferrolb does not run BFD yet, so the session \
             falls back to the BGP hold timer"
        );
        findings.warning(peer, "spec.bfdProfile", message);
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
        let (pool, _) =
            pools.into_iter().find(|(_, ranges)| ranges.iter().any(|r| r.family() == IpFamily::V6))?;
        Some((
            object_ref("BGPAdvertisement", &advertisement.metadata),
            object_ref("IPAddressPool", &pool.metadata),
        ))
    })
}

#[cfg(test)]
mod tests;
