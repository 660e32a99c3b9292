//! `BGPPeer`, typed: addresses, AS numbers, timers and password parsed and
//! checked once, so that the plan and the session read one answer.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration as StdDuration;

use ferrolb_types::{Asn, IpFamily};
use kube_core::Duration;

use super::Source;
use crate::core::Secret;
use crate::findings::{Findings, name_of};
use crate::labels::LabelSet;
use crate::metallb::{BGPPeer, DynamicAsnMode};
use crate::peer::{PeerTimers, go_duration, nanos};
use crate::selector::{Selector, any_matches};
use crate::snapshot::{Located, Snapshot, object_ref};

/// Highest `peerPort` (CRD schema).
const MAX_PEER_PORT: u16 = 16384;
/// `connectTime` bounds, in whole seconds (CRD schema).
const CONNECT_SECS: std::ops::RangeInclusive<i128> = 1..=65535;
/// The Secret type that holds a BGP password.
const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// Nanoseconds in a second.
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A peer whose every field MetalLB accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    /// `metadata.name`.
    pub name: String,
    /// Where the router is.
    pub address: PeerAddress,
    /// `spec.sourceAddress`.
    pub source_address: Option<IpAddr>,
    /// `spec.peerPort` (179 unless written).
    pub port: u16,
    /// `spec.routerID`; without it each node uses its own IPv4 InternalIP.
    pub router_id: Option<Ipv4Addr>,
    /// `spec.myASN`, as written (the rules between peers compare it).
    pub my_asn: u32,
    /// The AS this node presents: `spec.localASN`, else `spec.myASN`.
    pub local_asn: Asn,
    /// The router's AS.
    pub peer_as: PeerAs,
    /// Whether the session is internal (iBGP): the one test of it.
    pub ibgp: bool,
    /// Hold and keepalive; `None`: the session's defaults.
    pub timers: Option<PeerTimers>,
    /// `spec.connectTime`, whole seconds.
    pub connect_time: Option<StdDuration>,
    /// `spec.dualStackAddressFamily`.
    pub dual_stack: bool,
    /// `spec.enableGracefulRestart`.
    pub graceful_restart: bool,
    /// `spec.ebgpMultiHop`.
    pub ebgp_multi_hop: bool,
    /// `spec.vrf`, when set.
    pub vrf: Option<String>,
    /// The TCP MD5 password: `spec.password`, or the Secret's.
    pub password: Option<Password>,
    /// `spec.bfdProfile`, when set (its BFDProfile exists).
    pub bfd_profile: Option<String>,
    /// The BFDProfile `bfd_profile` names: a BFD session watches the forwarding path.
    pub bfd: Option<super::BfdProfile>,
    /// `spec.nodeSelectors`: the nodes that have a session; none, every node.
    pub node_selectors: Vec<Selector>,
    /// Where it was written.
    pub source: Source,
}

/// How the router is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddress {
    /// `spec.peerAddress`.
    Ip(IpAddr),
    /// `spec.interface`: an unnumbered session over this link.
    Interface(String),
}

/// The router's AS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAs {
    /// `spec.peerASN`.
    Fixed(Asn),
    /// `spec.dynamicASN`: whatever the router's OPEN says, internal or external.
    Dynamic(DynamicAsnMode),
}

/// A BGP password, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Peer {
    /// Whether a node labelled `labels` keeps a session with the peer.
    pub fn selects_node(&self, labels: &impl LabelSet) -> bool {
        self.node_selectors.is_empty() || any_matches(&self.node_selectors, labels)
    }

    /// Whether the session carries routes of `family`: both for an
    /// unnumbered session or with `dualStackAddressFamily`, else the family
    /// of the peer's address (as MetalLB configures FRR).
    pub fn carries(&self, family: IpFamily) -> bool {
        match &self.address {
            _ if self.dual_stack => true,
            PeerAddress::Interface(_) => true,
            PeerAddress::Ip(ip) => IpFamily::of(ip.to_canonical()) == family,
        }
    }
}

/// The peer `located` describes (item `index` of the snapshot's peers), or
/// `None` when a field is refused (each refusal an error in `findings`).
pub(super) fn resolve(
    snapshot: &Snapshot,
    index: usize,
    located: &Located<BGPPeer>,
    namespace: &str,
    findings: &mut Findings,
) -> Option<Peer> {
    let errors_before = findings.errors();
    let peer_asn = check_asns(located, findings);
    let address = check_addresses(located, findings);
    let timers = check_timers(located, findings);
    let password = check_password(snapshot, located, namespace, findings);
    let node_selectors = findings.selectors(located, "spec.nodeSelectors", &located.spec.node_selectors);
    check_not_acted_on(located, findings);
    if findings.errors() > errors_before {
        return None;
    }
    let spec = &located.spec;
    let (address, source_address, router_id) = address?;
    Some(Peer {
        name: name_of(&located.object).to_owned(),
        address,
        source_address,
        port: spec.port(),
        router_id,
        my_asn: spec.my_asn,
        local_asn: Asn::new(crate::peer::local_asn(spec))?,
        peer_as: peer_asn?,
        ibgp: crate::peer::is_ibgp(spec),
        timers: timers?.0,
        connect_time: timers?.1,
        dual_stack: spec.dual_stack_address_family,
        graceful_restart: spec.enable_graceful_restart,
        ebgp_multi_hop: spec.ebgp_multi_hop,
        vrf: Some(spec.vrf.clone()).filter(|v| !v.is_empty()),
        password: password?,
        bfd_profile: Some(spec.bfd_profile.clone()).filter(|p| !p.is_empty()),
        bfd: Some(spec.bfd_profile.as_str())
            .filter(|p| !p.is_empty())
            .and_then(|name| super::bfd::find(snapshot, name, namespace)),
        node_selectors,
        source: Source::of(index, located),
    })
}

/// Warns at each field the peer may have that does nothing here.
fn check_not_acted_on(peer: &Located<BGPPeer>, findings: &mut Findings) {
    if !peer.spec.interface.is_empty() && peer.spec.peer_address.is_empty() {
        let message = "interface (an unnumbered session) is accepted but not acted on: ferrolb does not \
                       open unnumbered sessions yet, so no node peers with it (expected peerAddress)";
        findings.warning(peer, "spec.interface", message);
    }
    if peer.spec.disable_mp {
        let message = "disableMP is deprecated and has no effect (expected dualStackAddressFamily instead)";
        findings.warning(peer, "spec.disableMP", message);
    }
}

fn check_asns(peer: &Located<BGPPeer>, findings: &mut Findings) -> Option<PeerAs> {
    let spec = &peer.spec;
    if spec.my_asn == 0 {
        findings.error(peer, "spec.myASN", "myASN is missing (expected a non-zero AS number)");
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
    match (Asn::new(spec.peer_asn), spec.dynamic_asn) {
        (None, None) => {
            let message = "neither peerASN nor dynamicASN is set (expected exactly one)";
            findings.error(peer, "spec.peerASN", message);
            None
        }
        (Some(_), Some(_)) => {
            let message = "peerASN and dynamicASN are both set (expected exactly one)";
            findings.error(peer, "spec.dynamicASN", message);
            None
        }
        (Some(asn), None) => Some(PeerAs::Fixed(asn)),
        (None, Some(mode)) => Some(PeerAs::Dynamic(mode)),
    }
}

/// The peer's address, source address and router ID, as written.
type Addresses = (PeerAddress, Option<IpAddr>, Option<Ipv4Addr>);

fn check_addresses(peer: &Located<BGPPeer>, findings: &mut Findings) -> Option<Addresses> {
    let spec = &peer.spec;
    let ip = |field: &str, text: &str, findings: &mut Findings| -> Result<Option<IpAddr>, ()> {
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<IpAddr>().map(Some).map_err(|_| {
            let message = format!("invalid {field} {text:?} (expected an IPv4 or IPv6 address)");
            findings.error(peer, &format!("spec.{field}"), message);
        })
    };
    let peer_address = ip("peerAddress", &spec.peer_address, findings);
    let source_address = ip("sourceAddress", &spec.source_address, findings);
    let address = match (peer_address, spec.interface.is_empty()) {
        (Ok(None), true) => {
            let message = "neither peerAddress nor interface is set (expected exactly one)";
            findings.error(peer, "spec.peerAddress", message);
            None
        }
        (Ok(Some(_)) | Err(()), false) => {
            let message = "peerAddress and interface are both set (expected exactly one)";
            findings.error(peer, "spec.interface", message);
            None
        }
        (Ok(Some(ip)), true) => Some(PeerAddress::Ip(ip)),
        (Ok(None), false) => Some(PeerAddress::Interface(spec.interface.clone())),
        (Err(()), true) => None,
    };
    let router_id = match spec.router_id.as_str() {
        "" => Ok(None),
        text => text.parse::<Ipv4Addr>().map(Some).map_err(|_| {
            let message = format!("invalid routerID {text:?} (expected an IPv4 address)");
            findings.error(peer, "spec.routerID", message);
        }),
    };
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
    Some((address?, source_address.ok()?, router_id.ok()?))
}

/// Hold and keepalive (MetalLB's `parseTimers`), and the connect time.
type Timers = (Option<PeerTimers>, Option<StdDuration>);

fn check_timers(peer: &Located<BGPPeer>, findings: &mut Findings) -> Option<Timers> {
    let spec = &peer.spec;
    let timers = crate::peer::timers(spec).map_err(|e| findings.error(peer, e.field(), e.to_string()));
    let connect = match &spec.connect_time {
        Some(connect) => Some(check_connect_time(peer, connect, findings)?),
        None => None,
    };
    Some((timers.ok()?, connect))
}

fn check_connect_time(
    peer: &Located<BGPPeer>,
    connect: &Duration,
    findings: &mut Findings,
) -> Option<StdDuration> {
    let total = nanos(connect);
    let shown = go_duration(total);
    let seconds = total / NANOS_PER_SEC;
    let mut valid = true;
    if !CONNECT_SECS.contains(&seconds) {
        let message = format!("connectTime {shown} is out of range (expected 1s to 65535s)");
        findings.error(peer, "spec.connectTime", message);
        valid = false;
    }
    if total % NANOS_PER_SEC != 0 {
        let message =
            format!("connectTime {shown} is not a whole number of seconds (expected whole seconds)");
        findings.error(peer, "spec.connectTime", message);
        valid = false;
    }
    valid.then(|| StdDuration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// The password of the peer: `spec.password`, or the Secret that
/// `spec.passwordSecret` names in MetalLB's namespace.
fn check_password(
    snapshot: &Snapshot,
    peer: &Located<BGPPeer>,
    namespace: &str,
    findings: &mut Findings,
) -> Option<Option<Password>> {
    let spec = &peer.spec;
    let reference = &spec.password_secret;
    if reference.name.is_empty() {
        return Some(Some(Password(spec.password.clone())).filter(|p| !p.0.is_empty()));
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
            && super::is_in(meta.namespace.as_deref(), namespace)
    });
    let field = "spec.passwordSecret.name";
    let Some(secret) = secret else {
        let message = format!(
            "no Secret named {:?} in namespace {namespace:?}, where MetalLB looks for it: its controller refuses \
             the whole configuration until it exists (expected a Secret of type {BASIC_AUTH} with a password key)",
            reference.name
        );
        findings.error(peer, field, message);
        return None;
    };
    match secret_password(secret) {
        Ok(password) => Some(Some(password)),
        Err(message) => {
            findings.error(peer, field, message);
            None
        }
    }
}

/// The password a Secret holds, as MetalLB reads it.
fn secret_password(secret: &Secret) -> Result<Password, String> {
    let secret_ref = object_ref("Secret", &secret.metadata);
    let secret_type = secret.type_.as_deref().unwrap_or("Opaque");
    if secret_type != BASIC_AUTH {
        return Err(format!("{secret_ref} has type {secret_type:?} (expected {BASIC_AUTH})"));
    }
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("password"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let from_string = || secret.string_data.as_ref().and_then(|d| d.get("password")).cloned();
    from_data.or_else(from_string).map(Password).ok_or_else(|| {
        format!("{secret_ref} has no password key (expected the password under data.password)")
    })
}
