//! `BGPPeer`: `v1beta2` is stored and used everywhere; `v1beta1` is read and
//! converted, as MetalLB's conversion webhook does.

use kube_core::Duration;
use kube_derive::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabelSelector;
use super::schema::atomic_selectors;

/// A BGP router that speakers keep a session with.
// The `x_kube` rules are the per-object rules of `validate::peer`, as CEL
// that the API server checks; rules between objects stay in `validate`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    derive = "PartialEq",
    group = "metallb.io",
    version = "v1beta2",
    kind = "BGPPeer",
    doc = "A BGP router that speakers keep a session with.",
    plural = "bgppeers",
    namespaced,
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
    printcolumn = r#"{"name":"ASN","type":"string","jsonPath":".spec.peerASN"}"#,
    printcolumn = r#"{"name":"BFD Profile","type":"string","jsonPath":".spec.bfdProfile"}"#,
    printcolumn = r#"{"name":"Multi Hops","type":"string","jsonPath":".spec.ebgpMultiHop"}"#,
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        schemars = "::schemars",
        serde = "::serde",
        serde_json = "::serde_json"
    )
)]
#[x_kube(
    crates(kube_core = "::kube_core"),
    validation = Rule::new("(has(self.peerASN) && self.peerASN != 0) || has(self.dynamicASN)")
        .message("neither peerASN nor dynamicASN is set (expected exactly one)")
        .field_path(".peerASN"),
    validation = Rule::new("!(has(self.peerASN) && self.peerASN != 0 && has(self.dynamicASN))")
        .message("peerASN and dynamicASN are both set (expected exactly one)")
        .field_path(".dynamicASN"),
    // As MetalLB: refused when peerASN is myASN; dynamicASN internal passes.
    validation = Rule::new(
        "!(has(self.ebgpMultiHop) && self.ebgpMultiHop) || !(has(self.peerASN) && self.peerASN != 0 \
         && self.peerASN == self.myASN)"
    )
    .message(
        "ebgpMultiHop is set for an iBGP peer (expected ebgpMultiHop only when the peer's AS differs \
         from myASN)"
    )
    .field_path(".ebgpMultiHop"),
    validation = Rule::new(
        "(has(self.peerAddress) && self.peerAddress != '') || (has(self.interface) && self.interface != '')"
    )
    .message("neither peerAddress nor interface is set (expected exactly one)")
    .field_path(".peerAddress"),
    validation = Rule::new(
        "!(has(self.peerAddress) && self.peerAddress != '' && has(self.interface) && self.interface != '')"
    )
    .message("peerAddress and interface are both set (expected exactly one)")
    .field_path(".interface"),
    validation = Rule::new(
        "!has(self.holdTime) || !has(self.keepaliveTime) \
         || duration(self.keepaliveTime) <= duration(self.holdTime)"
    )
    .message("keepaliveTime is longer than holdTime (expected at most the holdTime)")
    .field_path(".keepaliveTime"),
    // Without a hold time, MetalLB makes it three keepalives (whole seconds).
    validation = Rule::new(
        "has(self.holdTime) || !has(self.keepaliveTime) || (duration(self.keepaliveTime) \
         + duration(self.keepaliveTime) + duration(self.keepaliveTime)).getSeconds() == 0 \
         || (duration(self.keepaliveTime) + duration(self.keepaliveTime) \
         + duration(self.keepaliveTime)).getSeconds() >= 3"
    )
    .message(
        "keepaliveTime without holdTime makes holdTime three times keepaliveTime, which is too short \
         (expected 0 or at least 3s)"
    )
    .field_path(".keepaliveTime"),
    validation = Rule::new(
        "!(has(self.password) && self.password != '' && has(self.passwordSecret) \
         && has(self.passwordSecret.name) && self.passwordSecret.name != '')"
    )
    .message("password and passwordSecret are both set (expected one of them)")
    .field_path(".password"),
)]
#[serde(rename_all = "camelCase")]
pub struct BGPPeerSpec {
    /// Our AS number on this session.
    #[serde(rename = "myASN")]
    #[schemars(range(min = 0, max = 4294967295_u32), extend("format" = "int64"))]
    #[x_kube(validation = Rule::new("self != 0").message("myASN is missing (expected a non-zero AS number)"))]
    pub my_asn: u32,
    /// The AS number the peer must announce; exclusive with `dynamicASN`,
    /// and one of the two is required. Zero means unset.
    #[serde(default, rename = "peerASN", skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0, max = 4294967295_u32), extend("format" = "int64"))]
    pub peer_asn: u32,
    /// AS number announced to this peer in place of `myASN` (local-as).
    #[serde(default, rename = "localASN", skip_serializing_if = "is_zero")]
    #[schemars(range(min = 1, max = 4294967295_u32), extend("format" = "int64"))]
    pub local_asn: u32,
    /// Accept the peer's AS number when it is ours (`internal`) or not
    /// (`external`), instead of naming it in `peerASN`.
    #[serde(default, rename = "dynamicASN", skip_serializing_if = "Option::is_none")]
    pub dynamic_asn: Option<DynamicAsnMode>,
    /// Address of the peer; exclusive with `interface`, and one of the two is
    /// required.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == '' || isIP(self)")
        .message("invalid peerAddress (expected an IPv4 or IPv6 address)"))]
    pub peer_address: String,
    /// Host interface for an unnumbered session (the peer is found by IPv6
    /// link-local address); exclusive with `peerAddress`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Local address the session is opened from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == '' || isIP(self)")
        .message("invalid sourceAddress (expected an IPv4 or IPv6 address)"))]
    pub source_address: String,
    /// TCP port of the peer (default 179).
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    #[schemars(range(min = 1, max = 16384), extend("default" = 179))]
    pub peer_port: u16,
    /// Hold time proposed in OPEN (RFC 4271): 0, or at least 3 s. Default 90 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Go's reading, checked before kube's, which panics on some of what Go refuses.
    #[serde(deserialize_with = "crate::metallb::duration::deserialize_option")]
    // MetalLB truncates it to whole seconds first.
    #[x_kube(validation = Rule::new("duration(self).getSeconds() == 0 || duration(self).getSeconds() >= 3")
        .message("holdTime is too short (expected 0 or at least 3s)"))]
    pub hold_time: Option<Duration>,
    /// Interval between KEEPALIVEs; at most the hold time. Default a third of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::metallb::duration::deserialize_option")]
    pub keepalive_time: Option<Duration>,
    /// Wait between connection attempts, whole seconds from 1 to 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::metallb::duration::deserialize_option")]
    #[x_kube(
        validation = Rule::new("duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535")
            .message("connectTime is out of range (expected 1s to 65535s)"),
        // MetalLB's own rules (the same text): whole seconds to the millisecond.
        validation = Rule::new("duration(self).getMilliseconds() % 1000 == 0")
            .message("connectTime is not a whole number of seconds (expected whole seconds)")
    )]
    pub connect_time: Option<Duration>,
    /// BGP identifier sent to the peer, an IPv4 address; the node's by default.
    #[serde(default, rename = "routerID", skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == '' || (isIP(self) && ip(self).family() == 4)")
        .message("invalid routerID (expected an IPv4 address)"))]
    pub router_id: String,
    /// Nodes that keep a session with this peer; every node when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = atomic_selectors)]
    pub node_selectors: Vec<LabelSelector>,
    /// TCP MD5 (RFC 2385) password; exclusive with `passwordSecret`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Secret (type `kubernetes.io/basic-auth`, key `password`) holding the
    /// TCP MD5 password.
    #[serde(default, skip_serializing_if = "SecretReference::is_empty")]
    // As `core/v1 SecretReference` declares itself: replaced whole, never merged.
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub password_secret: SecretReference,
    /// Name of the `BFDProfile` for a BFD session with this peer; none when empty.
    #[serde(default, rename = "bfdProfile", skip_serializing_if = "String::is_empty")]
    pub bfd_profile: String,
    /// Keep forwarding across a restart of this speaker (RFC 4724).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    // As MetalLB's CRD: the session would have to restart to change it.
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("enableGracefulRestart cannot be changed after creation (expected the value it was created with)"))]
    pub enable_graceful_restart: bool,
    /// The eBGP peer is more than one hop away.
    #[serde(default, rename = "ebgpMultiHop", skip_serializing_if = "std::ops::Not::not")]
    pub ebgp_multi_hop: bool,
    /// Host VRF whose interface the session runs over.
    #[serde(default, rename = "vrf", skip_serializing_if = "String::is_empty")]
    pub vrf: String,
    /// Deprecated by `dualStackAddressFamily`: one session per address family.
    #[serde(default, rename = "disableMP", skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub disable_mp: bool,
    /// Also carry the other address family over this session (IPv6 routes
    /// over an IPv4 session and the reverse).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub dual_stack_address_family: bool,
}

impl BGPPeerSpec {
    /// The peer's TCP port, with the BGP default.
    pub fn port(&self) -> u16 {
        if self.peer_port == 0 { 179 } else { self.peer_port }
    }
}

/// How the peer's AS number is accepted when `peerASN` is not given.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicAsnMode {
    /// The peer must be in our AS (iBGP).
    Internal,
    /// The peer must be in another AS (eBGP).
    External,
}

/// A reference to a Secret by name and namespace (`core/v1 SecretReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the Secret; the speaker's namespace when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl SecretReference {
    /// Whether no Secret is named.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.namespace.is_empty()
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

/// The older `metallb.io/v1beta1` `BGPPeer`, read and converted to `v1beta2`.
pub mod v1beta1 {
    use kube_core::Duration;
    use kube_derive::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::{LabelSelector, is_zero_u16};

    /// A BGP router that speakers keep a session with (old version).
    #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
    #[kube(
        derive = "PartialEq",
        group = "metallb.io",
        version = "v1beta1",
        kind = "BGPPeer",
        doc = "A BGP router that speakers keep a session with.",
        plural = "bgppeers",
        namespaced,
        // MetalLB's warning, word for word: kubectl prints it on every use.
        deprecated = "v1beta1 is deprecated, please use v1beta2",
        printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
        printcolumn = r#"{"name":"ASN","type":"string","jsonPath":".spec.peerASN"}"#,
        printcolumn = r#"{"name":"BFD Profile","type":"string","jsonPath":".spec.bfdProfile"}"#,
        printcolumn = r#"{"name":"Multi Hops","type":"string","jsonPath":".spec.ebgpMultiHop"}"#,
        crates(
            kube_core = "::kube_core",
            k8s_openapi = "::k8s_openapi",
            schemars = "::schemars",
            serde = "::serde",
            serde_json = "::serde_json"
        )
    )]
    #[serde(rename_all = "camelCase")]
    pub struct BGPPeerSpec {
        /// Our AS number on this session.
        #[serde(rename = "myASN")]
        #[schemars(range(min = 0, max = 4294967295_u32), extend("format" = "int64"))]
        pub my_asn: u32,
        /// The AS number the peer must announce.
        #[serde(rename = "peerASN")]
        #[schemars(range(min = 0, max = 4294967295_u32), extend("format" = "int64"))]
        pub peer_asn: u32,
        /// Address of the peer.
        pub peer_address: String,
        /// Local address the session is opened from.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub source_address: String,
        /// TCP port of the peer (default 179).
        #[serde(default, skip_serializing_if = "is_zero_u16")]
        #[schemars(range(min = 0, max = 16384))]
        pub peer_port: u16,
        /// Hold time proposed in OPEN.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "crate::metallb::duration::deserialize_option")]
        pub hold_time: Option<Duration>,
        /// Interval between KEEPALIVEs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "crate::metallb::duration::deserialize_option")]
        pub keepalive_time: Option<Duration>,
        /// BGP identifier sent to the peer.
        #[serde(default, rename = "routerID", skip_serializing_if = "String::is_empty")]
        pub router_id: String,
        /// Nodes that keep a session with this peer.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub node_selectors: Vec<NodeSelector>,
        /// TCP MD5 password.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub password: String,
        /// Name of the `BFDProfile` for this peer.
        #[serde(default, rename = "bfdProfile", skip_serializing_if = "String::is_empty")]
        pub bfd_profile: String,
        /// The eBGP peer is more than one hop away.
        #[serde(default, rename = "ebgpMultiHop", skip_serializing_if = "std::ops::Not::not")]
        pub ebgp_multi_hop: bool,
    }

    /// The node selector of `v1beta1`, before MetalLB used `LabelSelector`.
    #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct NodeSelector {
        /// Labels a node must carry.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        pub match_labels: std::collections::BTreeMap<String, String>,
        /// Expressions a node's labels must satisfy.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub match_expressions: Vec<MatchExpression>,
    }

    /// One requirement of a `v1beta1` node selector.
    #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
    // MetalLB's v1beta1 schema wants `values`, at least one, whatever the
    // operator; reading stays lenient, as MetalLB's decoding is.
    #[schemars(extend("required" = ["key", "operator", "values"]))]
    #[serde(rename_all = "camelCase")]
    pub struct MatchExpression {
        /// The label key.
        pub key: String,
        /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
        pub operator: String,
        /// Values for `In` and `NotIn`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(min = 1))]
        pub values: Vec<String>,
    }

    impl From<NodeSelector> for LabelSelector {
        fn from(sel: NodeSelector) -> Self {
            use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
            if sel.match_labels.is_empty() && sel.match_expressions.is_empty() {
                return LabelSelector::default();
            }
            LabelSelector {
                match_labels: Some(sel.match_labels),
                match_expressions: (!sel.match_expressions.is_empty()).then(|| {
                    sel.match_expressions
                        .into_iter()
                        .map(|e| LabelSelectorRequirement {
                            key: e.key,
                            operator: e.operator,
                            values: Some(e.values),
                        })
                        .collect()
                }),
            }
        }
    }

    impl From<BGPPeer> for super::BGPPeer {
        fn from(old: BGPPeer) -> Self {
            let s = old.spec;
            super::BGPPeer {
                metadata: old.metadata,
                spec: super::BGPPeerSpec {
                    my_asn: s.my_asn,
                    peer_asn: s.peer_asn,
                    peer_address: s.peer_address,
                    source_address: s.source_address,
                    peer_port: s.peer_port,
                    hold_time: s.hold_time,
                    keepalive_time: s.keepalive_time,
                    router_id: s.router_id,
                    node_selectors: s.node_selectors.into_iter().map(Into::into).collect(),
                    password: s.password,
                    bfd_profile: s.bfd_profile,
                    ebgp_multi_hop: s.ebgp_multi_hop,
                    ..Default::default()
                },
            }
        }
    }
}
