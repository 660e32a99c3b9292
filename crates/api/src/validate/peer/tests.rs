//! One test per `BGPPeer` rule.

use crate::validate::testing::{assert_clean, assert_problems};

/// A peer named `router` whose spec (from line 6) is `spec`, each line
/// indented by two spaces.
fn peer(spec: &str) -> String {
    let mut yaml =
        String::from("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: router\nspec:\n");
    for line in spec.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

/// What most tests start from: an eBGP peer by address (lines 6 to 8).
const EBGP: &str = "myASN: 64512\npeerASN: 64513\npeerAddress: 192.0.2.1\n";

#[test]
fn ebgp_peer_by_address_is_clean() {
    assert_clean(&peer(EBGP));
}

#[test]
fn zero_my_asn_is_an_error() {
    assert_problems(
        &peer("myASN: 0\npeerASN: 64513\npeerAddress: 192.0.2.1"),
        &["t.yaml:6: BGPPeer/router: spec.myASN: myASN is missing (expected a non-zero AS number)"],
    );
}

#[test]
fn neither_peer_asn_nor_dynamic_asn_is_an_error() {
    assert_problems(
        &peer("myASN: 64512\npeerAddress: 192.0.2.1"),
        &["t.yaml:5: BGPPeer/router: spec.peerASN: neither peerASN nor dynamicASN is set \
             (expected exactly one)"],
    );
}

#[test]
fn both_peer_asn_and_dynamic_asn_is_an_error() {
    assert_problems(
        &peer(&format!("{EBGP}dynamicASN: external")),
        &["t.yaml:9: BGPPeer/router: spec.dynamicASN: peerASN and dynamicASN are both set \
             (expected exactly one)"],
    );
}

#[test]
fn ebgp_multihop_with_an_ibgp_peer_is_an_error() {
    let expected = "BGPPeer/router: spec.ebgpMultiHop: ebgpMultiHop is set for an iBGP peer (expected \
                    ebgpMultiHop only when the peer's AS differs from myASN)";
    assert_problems(
        &peer("myASN: 64512\npeerASN: 64512\npeerAddress: 192.0.2.1\nebgpMultiHop: true"),
        &[&format!("t.yaml:9: {expected}")],
    );
    // MetalLB compares peerASN with myASN only: with dynamicASN internal it
    // passes, and does nothing.
    assert_problems(
        &peer("myASN: 64512\ndynamicASN: internal\npeerAddress: 192.0.2.1\nebgpMultiHop: true"),
        &[
            "t.yaml:9: warning: BGPPeer/router: spec.ebgpMultiHop: ebgpMultiHop has no effect with dynamicASN \
           internal, an iBGP session (MetalLB accepts it; expected ebgpMultiHop only for eBGP peers)",
        ],
    );
    assert_clean(&peer(&format!("{EBGP}ebgpMultiHop: true")));
}

#[test]
fn neither_address_nor_interface_is_an_error() {
    assert_problems(
        &peer("myASN: 64512\npeerASN: 64513"),
        &["t.yaml:5: BGPPeer/router: spec.peerAddress: neither peerAddress nor interface is set \
             (expected exactly one)"],
    );
}

#[test]
fn both_address_and_interface_is_an_error() {
    assert_problems(
        &peer(&format!("{EBGP}interface: eth1")),
        &["t.yaml:9: BGPPeer/router: spec.interface: peerAddress and interface are both set \
             (expected exactly one)"],
    );
}

#[test]
fn unnumbered_peer_by_interface_is_a_warning_until_ferrolb_opens_such_sessions() {
    assert_problems(
        &peer("myASN: 64512\ndynamicASN: external\ninterface: eth1"),
        &[
            "t.yaml:8: warning: BGPPeer/router: spec.interface: interface (an unnumbered session) is accepted but \
           not acted on: ferrolb does not open unnumbered sessions yet, so no node peers with it (expected \
           peerAddress)",
        ],
    );
}

#[test]
fn invalid_addresses_are_errors() {
    assert_problems(
        &peer("myASN: 64512\npeerASN: 64513\npeerAddress: 192.0.2.300\nsourceAddress: 2001:db8::g"),
        &[
            "t.yaml:8: BGPPeer/router: spec.peerAddress: invalid peerAddress \"192.0.2.300\" (expected an \
             IPv4 or IPv6 address)",
            "t.yaml:9: BGPPeer/router: spec.sourceAddress: invalid sourceAddress \"2001:db8::g\" (expected \
             an IPv4 or IPv6 address)",
        ],
    );
}

#[test]
fn router_id_must_be_ipv4() {
    assert_problems(
        &peer(&format!("{EBGP}routerID: 2001:db8::1")),
        &["t.yaml:9: BGPPeer/router: spec.routerID: invalid routerID \"2001:db8::1\" \
             (expected an IPv4 address)"],
    );
}

#[test]
fn peer_port_above_16384_is_an_error() {
    assert_problems(
        &peer(&format!("{EBGP}peerPort: 20000")),
        &["t.yaml:9: BGPPeer/router: spec.peerPort: peerPort 20000 is out of range (expected 1 to 16384)"],
    );
}

#[test]
fn hold_time_between_zero_and_three_seconds_is_an_error() {
    assert_problems(
        &peer(&format!("{EBGP}holdTime: 2s")),
        &["t.yaml:9: BGPPeer/router: spec.holdTime: holdTime 2s is too short (expected 0 or at least 3s)"],
    );
    // MetalLB truncates to whole seconds: under a second counts as 0.
    assert_clean(&peer(&format!("{EBGP}holdTime: 500ms")));
    assert_clean(&peer(&format!("{EBGP}holdTime: 0s")));
}

#[test]
fn keepalive_longer_than_hold_time_is_an_error() {
    assert_problems(
        &peer(&format!("{EBGP}holdTime: 30s\nkeepaliveTime: 40s")),
        &["t.yaml:10: BGPPeer/router: spec.keepaliveTime: keepaliveTime 40s is longer than holdTime 30s \
           (expected at most the holdTime)"],
    );
}

#[test]
fn keepalive_alone_that_makes_a_short_hold_time_is_an_error() {
    assert_problems(
        &peer(&format!("{EBGP}keepaliveTime: 500ms")),
        &["t.yaml:9: BGPPeer/router: spec.keepaliveTime: keepaliveTime 500ms without holdTime makes \
           holdTime 1.5s, which is too short (expected 0 or at least 3s)"],
    );
    assert_clean(&peer(&format!("{EBGP}keepaliveTime: 1s")));
}

#[test]
fn connect_time_must_be_whole_seconds_from_1_to_65535() {
    assert_problems(
        &peer(&format!("{EBGP}connectTime: 0s")),
        &["t.yaml:9: BGPPeer/router: spec.connectTime: connectTime 0s is out of range \
             (expected 1s to 65535s)"],
    );
    assert_problems(
        &peer(&format!("{EBGP}connectTime: 1500ms")),
        &["t.yaml:9: BGPPeer/router: spec.connectTime: connectTime 1.5s is not a whole number of seconds \
           (expected whole seconds)"],
    );
    assert_problems(
        &peer(&format!("{EBGP}connectTime: 20h")),
        &["t.yaml:9: BGPPeer/router: spec.connectTime: connectTime 20h0m0s is out of range \
             (expected 1s to 65535s)"],
    );
}

const SECRET: &str = "---
apiVersion: v1
kind: Secret
metadata:
  name: bgp-password
type: kubernetes.io/basic-auth
stringData:
  password: not-a-real-password
";

#[test]
fn password_and_password_secret_together_are_an_error() {
    let yaml = peer(&format!("{EBGP}password: inline\npasswordSecret:\n  name: bgp-password")) + SECRET;
    assert_problems(
        &yaml,
        &["t.yaml:9: BGPPeer/router: spec.password: password and passwordSecret are both set \
             (expected one of them)"],
    );
}

#[test]
fn missing_password_secret_refuses_the_whole_configuration() {
    assert_problems(
        &peer(&format!("{EBGP}passwordSecret:\n  name: bgp-password")),
        &[
            "t.yaml:10: BGPPeer/router: spec.passwordSecret.name: no Secret named \"bgp-password\" in namespace \
           \"metallb-system\", where MetalLB looks for it: its controller refuses the whole configuration until \
           it exists (expected a Secret of type kubernetes.io/basic-auth with a password key)",
        ],
    );
    assert_clean(&(peer(&format!("{EBGP}passwordSecret:\n  name: bgp-password")) + SECRET));
}

#[test]
fn password_secret_of_the_wrong_type_or_without_password_is_an_error() {
    let opaque = SECRET.replace("type: kubernetes.io/basic-auth\n", "");
    assert_problems(
        &(peer(&format!("{EBGP}passwordSecret:\n  name: bgp-password")) + &opaque),
        &["t.yaml:10: BGPPeer/router: spec.passwordSecret.name: Secret/bgp-password has type \"Opaque\" \
           (expected kubernetes.io/basic-auth)"],
    );
    let no_password = SECRET.replace("  password: not-a-real-password", "  username: bgp");
    assert_problems(
        &(peer(&format!("{EBGP}passwordSecret:\n  name: bgp-password")) + &no_password),
        &["t.yaml:10: BGPPeer/router: spec.passwordSecret.name: Secret/bgp-password has no password key \
           (expected the password under data.password)"],
    );
}

#[test]
fn missing_bfd_profile_refuses_the_whole_configuration() {
    assert_problems(
        &peer(&format!("{EBGP}bfdProfile: fast")),
        &["t.yaml:9: BGPPeer/router: spec.bfdProfile: no BFDProfile named \"fast\": MetalLB's controller \
           refuses the whole configuration until it exists (expected the name of a BFDProfile)"],
    );
}

#[test]
fn bfd_profile_is_acted_on_without_a_warning() {
    let yaml = peer(&format!("{EBGP}bfdProfile: fast"))
        + "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\n";
    assert_clean(&yaml);
}

#[test]
fn bfd_echo_mode_is_accepted_but_not_acted_on() {
    let yaml = peer(&format!("{EBGP}bfdProfile: echo"))
        + "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: echo}\nspec: {echoMode: true}\n";
    assert_problems(&yaml, &[ECHO_NOT_ACTED_ON]);
}

/// The warning at a peer whose profile `echo` has echoMode on.
const ECHO_NOT_ACTED_ON: &str = "t.yaml:9: warning: BGPPeer/router: spec.bfdProfile: BFDProfile/echo has \
    echoMode on, which is accepted but not acted on: ferrolb runs BFD in asynchronous mode only, without \
    echo, so failure detection uses the profile's receive and transmit intervals (expected echoMode off)";

#[test]
fn disable_mp_is_a_deprecation_warning() {
    assert_problems(
        &peer(&format!("{EBGP}disableMP: true")),
        &["t.yaml:9: warning: BGPPeer/router: spec.disableMP: disableMP is deprecated and has no effect \
           (expected dualStackAddressFamily instead)"],
    );
}

#[test]
fn node_selectors_are_checked() {
    assert_problems(
        &peer(&format!("{EBGP}nodeSelectors:\n- matchLabels: {{rack: r1}}\n- matchLabels: {{rack: r1}}")),
        &["t.yaml:11: BGPPeer/router: spec.nodeSelectors[1]: duplicate of spec.nodeSelectors[0] (expected \
           each selector once)"],
    );
}

/// A second peer, `other`, from line 9 of a document that follows a
/// `peer(EBGP)`; its spec starts at line 15.
fn other(spec: &str) -> String {
    let mut yaml =
        String::from("---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: other\nspec:\n");
    for line in spec.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

#[test]
fn peers_on_one_node_need_one_router_id() {
    let yaml =
        peer(EBGP) + &other("myASN: 64512\npeerASN: 64513\npeerAddress: 192.0.2.2\nrouterID: 192.0.2.9");
    assert_problems(
        &yaml,
        &["t.yaml:18: BGPPeer/other: spec.routerID: routerID \"192.0.2.9\" differs from unset of \
           BGPPeer/router, which shares a node (expected one routerID for all peers of a node)"],
    );
}

#[test]
fn same_address_and_vrf_twice_on_one_node_is_an_error() {
    let yaml = peer(EBGP) + &other("myASN: 64512\npeerASN: 64514\npeerAddress: 192.0.2.1");
    assert_problems(
        &yaml,
        &["t.yaml:17: BGPPeer/other: spec.peerAddress: 192.0.2.1 in the default VRF is already the peer of \
           BGPPeer/router, which shares a node \
            (expected one BGPPeer per address or interface and VRF on a node)"],
    );
    assert_clean(&(peer(EBGP) + &other("myASN: 64512\npeerASN: 64514\npeerAddress: 192.0.2.1\nvrf: red")));
}

#[test]
fn different_my_asn_in_one_vrf_on_one_node_is_an_error() {
    let yaml = peer(EBGP) + &other("myASN: 64520\npeerASN: 64513\npeerAddress: 192.0.2.2");
    assert_problems(
        &yaml,
        &["t.yaml:15: BGPPeer/other: spec.myASN: myASN 64520 differs from myASN 64512 of BGPPeer/router in \
           the same VRF, which shares a node (expected one myASN per VRF on a node)"],
    );
}

#[test]
fn peers_on_disjoint_nodes_may_differ() {
    let nodes = "---
apiVersion: v1
kind: Node
metadata:
  name: node1
  labels: {rack: r1}
---
apiVersion: v1
kind: Node
metadata:
  name: node2
  labels: {rack: r2}
";
    let first = peer(&format!("{EBGP}nodeSelectors:\n- matchLabels: {{rack: r1}}"));
    let second = other(
        "myASN: 64520\npeerASN: 64513\npeerAddress: 192.0.2.1\nrouterID: 192.0.2.9\n\
         nodeSelectors:\n- matchLabels: {rack: r2}",
    );
    assert_clean(&(first + &second + nodes));
}

#[test]
fn bfd_echo_with_ipv6_routes_is_an_error() {
    let yaml = peer(&format!("{EBGP}bfdProfile: echo"))
        + "---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: echo
spec:
  echoMode: true
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: v6
spec:
  addresses:
  - 2001:db8::/120
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
spec: {}
";
    assert_problems(
        &yaml,
        &[
            "t.yaml:9: BGPPeer/router: spec.bfdProfile: BFDProfile/echo has echoMode on, but \
             BGPAdvertisement/adv sends this peer IPv6 routes of IPAddressPool/v6 (expected echoMode off for \
             peers that get IPv6 routes)",
            ECHO_NOT_ACTED_ON,
        ],
    );
}

#[test]
fn durations_print_as_kubernetes_prints_them() {
    use crate::peer::go_duration;
    let cases: [(i128, &str); 9] = [
        (0, "0s"),
        (7, "7ns"),
        (1_500, "1.5\u{b5}s"),
        (500_000_000, "500ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (72_000_000_000_000, "20h0m0s"),
        (3_601_250_000_000, "1h0m1.25s"),
        (-3_000_000_000, "-3s"),
    ];
    for (nanos, text) in cases {
        assert_eq!(go_duration(nanos), text);
    }
}
