use ferrolb_api::config::Options;
use proptest::prelude::*;

use super::*;

/// The routers of a configuration written as YAML (which must be valid).
fn routers_of(yaml: &str) -> (Vec<Router>, Vec<Problem>) {
    let (snapshot, diagnostics) = ferrolb_api::load::load_str("test.yaml", yaml);
    let (config, broken) = ferrolb_api::validate::validated(&snapshot, &Options::default());
    let errors: Vec<String> =
        diagnostics.iter().chain(&broken).filter(|d| d.is_error()).map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "invalid test configuration: {errors:?}");
    routers(&config, &snapshot)
}

fn node(name: &str, addresses: &[&str], labels: &str) -> String {
    let addresses: String =
        addresses.iter().map(|a| format!("  - type: InternalIP\n    address: {a}\n")).collect();
    format!(
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nstatus:\n  addresses:\n{addresses}"
    )
}

const POOLS: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: web, namespace: metallb-system}
spec:
  addresses: [198.51.100.0/24, 203.0.113.10-203.0.113.20, '2001:db8:1::/64']
";

const PEER: &str = "
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, password: s3cret, holdTime: 9s, keepaliveTime: 3s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
";

fn two_nodes() -> String {
    format!(
        "{POOLS}{PEER}{}{}",
        node("node-a", &["192.0.2.10", "2001:db8::10"], ""),
        node("node-b", &["192.0.2.11", "2001:db8::11"], "")
    )
}

#[test]
fn every_node_is_a_neighbor_with_its_session() {
    let (routers, problems) = routers_of(&two_nodes());
    assert_eq!(problems, vec![]);
    let [router] = routers.as_slice() else { panic!("one router expected: {routers:?}") };
    assert_eq!((router.address.to_string(), router.asn), ("192.0.2.1".into(), 64513));
    let neighbors: Vec<(String, String, u32, bool, bool)> = router
        .neighbors
        .iter()
        .map(|n| (n.node.clone(), n.address.to_string(), n.asn, n.ipv4, n.ipv6))
        .collect();
    assert_eq!(
        neighbors,
        vec![
            ("node-a".into(), "192.0.2.10".into(), 64512, true, false),
            ("node-b".into(), "192.0.2.11".into(), 64512, true, false)
        ]
    );
    let n = &router.neighbors[0];
    assert_eq!(n.password.as_deref(), Some("s3cret"));
    assert_eq!(n.timers.map(|t| seconds(&t)), Some((3, 9)));
}

#[test]
fn a_router_accepts_the_pools_at_the_aggregation_length_and_nothing_else() {
    let (routers, _) = routers_of(&two_nodes());
    let accepted: Vec<String> =
        routers[0].accepted.iter().map(|a| format!("{} {}", a.within, a.length)).collect();
    // The range 203.0.113.10-20 as the CIDRs that cover exactly it.
    assert_eq!(
        accepted,
        vec![
            "198.51.100.0/24 32",
            "203.0.113.10/31 32",
            "203.0.113.12/30 32",
            "203.0.113.16/30 32",
            "203.0.113.20/32 32",
            "2001:db8:1::/64 128"
        ]
    );
    // An IPv4 session carries no IPv6 route: IPv4 only.
    assert_eq!(routers[0].families(), vec![IpFamily::V4]);
}

#[test]
fn an_aggregation_length_accepts_the_aggregates_of_the_pool() {
    let yaml = format!(
        "{POOLS}{PEER}spec: {{aggregationLength: 24, aggregationLengthV6: 64, ipAddressPools: [web]}}\n{}",
        node("node-a", &["192.0.2.10"], "")
    )
    .replace("203.0.113.10-203.0.113.20", "203.0.113.0/24");
    let (routers, _) = routers_of(&yaml);
    let accepted: Vec<String> =
        routers[0].accepted.iter().map(|a| format!("{} {}", a.within, a.length)).collect();
    assert_eq!(accepted, vec!["198.51.100.0/24 24", "203.0.113.0/24 24", "2001:db8:1::/64 64"]);
    assert!(routers[0].accepted.iter().all(|a| !a.is_range()));
}

#[test]
fn an_advertisement_for_another_peer_or_pool_is_not_accepted() {
    let yaml = format!(
        "{}\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: other, namespace: metallb-system}}\nspec:\n  addresses: [192.0.2.128/25]\n",
        two_nodes().replace(
            "metadata: {name: all, namespace: metallb-system}",
            "metadata: {name: all, namespace: metallb-system}\nspec: {ipAddressPools: [web], peers: [tor]}"
        )
    );
    let (routers, _) = routers_of(&yaml);
    assert!(routers[0].accepted.iter().all(|a| !a.within.to_string().starts_with("192.0.2.")));
    let yaml = yaml.replace("peers: [tor]", "peers: [elsewhere]");
    let (routers, problems) = routers_of(&yaml);
    assert_eq!(routers[0].accepted, vec![]);
    assert!(matches!(problems.as_slice(), [Problem::NothingAccepted { .. }]), "{problems:?}");
}

#[test]
fn node_selectors_decide_the_neighbors_as_they_decide_the_sessions() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        PEER.replace("password: s3cret,", "nodeSelectors: [{matchLabels: {rack: r1}}],"),
        node("node-a", &["192.0.2.10"], "rack: r1"),
        node("node-b", &["192.0.2.11"], "rack: r2")
    );
    let (routers, _) = routers_of(&yaml);
    let nodes: Vec<&str> = routers[0].neighbors.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(nodes, vec!["node-a"]);
}

#[test]
fn problems_name_the_object_and_what_was_expected() {
    let dynamic = two_nodes().replace("peerASN: 64513", "dynamicASN: external");
    let (routers, problems) = routers_of(&dynamic);
    assert_eq!(routers, vec![]);
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "BGPPeer tor: dynamicASN leaves the router's AS unknown (expected peerASN to write the router's side)"
        ]
    );
    assert!(problems[0].is_error());

    // An L2-only configuration: nothing to write, said so.
    let (routers, problems) = routers_of(POOLS);
    assert_eq!(routers, vec![]);
    assert_eq!(problems, vec![Problem::NoBgpPeer]);
    assert!(problems[0].is_error());

    let (_, problems) = routers_of(&format!("{POOLS}{PEER}"));
    assert!(matches!(problems.as_slice(), [Problem::NoNeighbor { .. }]) && problems[0].is_error());

    let (routers, problems) = routers_of(&format!(
        "{POOLS}{PEER}{}{}",
        node("v6-only", &["2001:db8::10"], ""),
        node("ok", &["192.0.2.10"], "")
    ));
    assert_eq!(routers[0].neighbors.len(), 1);
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "node v6-only: BGPPeer tor: no session: the peer sets no routerID and this node has no IPv4 InternalIP \
             to use as one (set spec.routerID, or give the Node an IPv4 InternalIP): left out of router 192.0.2.1"
        ]
    );
    assert!(!problems[0].is_error());

    let v6_router = PEER.replace("peerAddress: 192.0.2.1", "peerAddress: '2001:db8::1'");
    let (_, problems) = routers_of(&format!(
        "{POOLS}{v6_router}{}{}",
        node("v4-only", &["192.0.2.11"], ""),
        node("ok", &["192.0.2.10", "2001:db8::10"], "")
    ));
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "node v4-only: no IPv6 InternalIP and no sourceAddress for BGPPeer tor: left out of router 2001:db8::1"
        ]
    );
}

#[test]
fn two_peers_at_one_router_must_agree_on_its_as() {
    let second = "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor-b, namespace: metallb-system}\nspec: {myASN: 64512, peerASN: 64514, peerAddress: 192.0.2.1, nodeSelectors: [{matchLabels: {rack: r9}}]}\n";
    let (_, problems) = routers_of(&format!("{}{second}", two_nodes()));
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "router 192.0.2.1: BGPPeer tor says AS 64513, BGPPeer tor-b AS 64514 (expected one AS per router)"
        ]
    );
}

#[test]
fn frr_config_for_two_nodes() {
    let (routers, _) = routers_of(&two_nodes());
    assert_eq!(
        render(Dialect::Frr, &routers),
        "\
! Generated by `ferrolb router-config --for frr` for the router 192.0.2.1 (AS 64513, BGPPeer tor).
! Neighbors: the nodes node-a, node-b. Accepted from them: only the pools' prefixes; sent to them: nothing.
!
ip prefix-list ferrolb-pools-v4 seq 5 permit 198.51.100.0/24 ge 32
ip prefix-list ferrolb-pools-v4 seq 10 permit 203.0.113.10/31 ge 32
ip prefix-list ferrolb-pools-v4 seq 15 permit 203.0.113.12/30 ge 32
ip prefix-list ferrolb-pools-v4 seq 20 permit 203.0.113.16/30 ge 32
ip prefix-list ferrolb-pools-v4 seq 25 permit 203.0.113.20/32
!
route-map ferrolb-in-v4 permit 10
 match ip address prefix-list ferrolb-pools-v4
exit
!
route-map ferrolb-out deny 10
exit
!
router bgp 64513
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 neighbor 192.0.2.10 remote-as 64512
 neighbor 192.0.2.10 description node-a (BGPPeer tor)
 neighbor 192.0.2.10 password s3cret
 neighbor 192.0.2.10 timers 3 9
 neighbor 192.0.2.11 remote-as 64512
 neighbor 192.0.2.11 description node-b (BGPPeer tor)
 neighbor 192.0.2.11 password s3cret
 neighbor 192.0.2.11 timers 3 9
 !
 address-family ipv4 unicast
  neighbor 192.0.2.10 activate
  neighbor 192.0.2.10 route-map ferrolb-in-v4 in
  neighbor 192.0.2.10 route-map ferrolb-out out
  neighbor 192.0.2.11 activate
  neighbor 192.0.2.11 route-map ferrolb-in-v4 in
  neighbor 192.0.2.11 route-map ferrolb-out out
  maximum-paths 2
 exit-address-family
exit
!
"
    );
}

#[test]
fn bird_config_for_two_nodes_with_bfd() {
    let bfd = "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast, namespace: metallb-system}\nspec: {receiveInterval: 50, transmitInterval: 60, detectMultiplier: 4}\n";
    let yaml = format!("{}{bfd}", two_nodes().replace("holdTime: 9s, keepaliveTime: 3s", "bfdProfile: fast"));
    let (routers, _) = routers_of(&yaml);
    assert_eq!(
        render(Dialect::Bird, &routers),
        "\
# ferrolb router-config --for bird: held once, whatever the routers below.
router id 192.0.2.1;
protocol device { }
protocol kernel ferrolb_kernel_v4 { ipv4 { export all; }; merge paths on; }
protocol bfd ferrolb_bfd {
  interface \"*\" { min rx interval 50 ms; min tx interval 60 ms; multiplier 4; };
}

# Generated by `ferrolb router-config --for bird` for the router 192.0.2.1 (AS 64513, BGPPeer tor).
# Neighbors: the nodes node-a, node-b. Accepted from them: only the pools' prefixes; sent to them: nothing.
define ferrolb_pools_v4 = [ 198.51.100.0/24{32,32}, 203.0.113.10/31{32,32}, 203.0.113.12/30{32,32}, 203.0.113.16/30{32,32}, 203.0.113.20/32{32,32} ];
filter ferrolb_in_v4 { if net ~ ferrolb_pools_v4 then accept; reject; }

protocol bgp ferrolb_node_a {
  description \"node-a (BGPPeer tor)\";
  local 192.0.2.1 as 64513;
  neighbor 192.0.2.10 as 64512;
  password \"s3cret\";
  bfd on;
  ipv4 { import filter ferrolb_in_v4; export none; };
}

protocol bgp ferrolb_node_b {
  description \"node-b (BGPPeer tor)\";
  local 192.0.2.1 as 64513;
  neighbor 192.0.2.11 as 64512;
  password \"s3cret\";
  bfd on;
  ipv4 { import filter ferrolb_in_v4; export none; };
}
"
    );
}

#[test]
fn cisco_config_for_ibgp_dual_stack_sessions() {
    let yaml = format!(
        "{POOLS}{}{}{}",
        PEER.replace("peerASN: 64513", "peerASN: 64512, dualStackAddressFamily: true"),
        node("node-a", &["192.0.2.10"], ""),
        node("node-b", &["192.0.2.11"], "")
    );
    let (routers, _) = routers_of(&yaml);
    let text = render(Dialect::CiscoIos, &routers);
    for line in [
        "ipv6 prefix-list FERROLB-POOLS-V6 seq 5 permit 2001:db8:1::/64 ge 128",
        " neighbor 192.0.2.10 password 0 s3cret",
        " address-family ipv6 unicast\n  maximum-paths ibgp 2\n  neighbor 192.0.2.10 activate\n  neighbor 192.0.2.10 prefix-list FERROLB-POOLS-V6 in\n  neighbor 192.0.2.10 route-map FERROLB-OUT out",
        " address-family ipv4 unicast\n  maximum-paths ibgp 2",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn nodes_in_several_ases_make_paths_through_them_equal() {
    let yaml = format!(
        "{POOLS}{}{}{}{}",
        PEER.replace(
            "spec: {myASN: 64512,",
            "spec: {nodeSelectors: [{matchLabels: {rack: r1}}], myASN: 64512,"
        ),
        PEER.replace("name: tor,", "name: tor-r2,")
            .replace("myASN: 64512,", "myASN: 64520, nodeSelectors: [{matchLabels: {rack: r2}}],")
            .replace(
                "kind: BGPAdvertisement\nmetadata: {name: all,",
                "kind: BGPAdvertisement\nmetadata: {name: all-2,"
            ),
        node("node-a", &["192.0.2.10"], "rack: r1"),
        node("node-b", &["192.0.2.11"], "rack: r2")
    );
    let (routers, problems) = routers_of(&yaml);
    assert_eq!(problems, vec![]);
    assert_eq!(routers[0].peers, vec!["tor", "tor-r2"]);
    assert!(routers[0].mixed_asns());
    let text = render(Dialect::Frr, &routers);
    assert!(text.contains(" bgp bestpath as-path multipath-relax\n"), "{text}");
    assert!(text.contains(" neighbor 192.0.2.11 remote-as 64520\n"), "{text}");
}

proptest! {
    /// Whatever the pool (a CIDR, or a range) and the aggregation length
    /// (as long as validation allows), a route the nodes announce for one
    /// of the pool's addresses is accepted, and a route of an address
    /// outside the pool is not.
    #[test]
    fn accepted_prefixes_are_exactly_the_routes_of_the_pool(
        start in 0u32..4096, size in 1u32..600, cidr in prop::option::of(22u8..=32), extra in 0u8..=10, probe in 0u32..8192,
    ) {
        let base = u32::from(Ipv4Addr::new(198, 51, 96, 0));
        let (first, last) = match cidr {
            Some(bits) => {
                let block = 1u32 << (32 - bits);
                let first = base + (start / block) * block;
                (first, first + block - 1)
            }
            None => (base + start, base + (start + size).min(4095)),
        };
        let pool = match cidr {
            Some(bits) => format!("{}/{bits}", Ipv4Addr::from(first)),
            None => format!("{}-{}", Ipv4Addr::from(first), Ipv4Addr::from(last)),
        };
        // No shorter than the longest... of the pool's CIDRs' prefixes, as validation wants.
        let range = ferrolb_types::IpRange::new(Ipv4Addr::from(first).into(), Ipv4Addr::from(last).into()).unwrap();
        let longest = range.cidrs().iter().map(|n| n.prefix_len()).max().unwrap();
        let length = (longest + extra).min(32);
        let yaml = format!(
            "{}{PEER}spec: {{aggregationLength: {length}}}\n{}",
            POOLS.replace("[198.51.100.0/24, 203.0.113.10-203.0.113.20, '2001:db8:1::/64']", &format!("['{pool}']")),
            node("n", &["192.0.2.10"], "")
        );
        let (routers, _) = routers_of(&yaml);
        let route_of = |x: u32| IpNet::new(IpAddr::V4(Ipv4Addr::from(x)), length).unwrap().trunc();
        let accepts = |route: IpNet| routers[0].accepted.iter().any(|r| r.length == route.prefix_len() && r.within.contains(&route));
        let ip = base + probe;
        let in_pool = (first..=last).contains(&ip);
        if in_pool {
            prop_assert!(accepts(route_of(ip)), "{} of {pool} refused", route_of(ip));
        } else if !(first..=last).any(|x| route_of(x) == route_of(ip)) {
            prop_assert!(!accepts(route_of(ip)), "{} outside {pool} accepted", route_of(ip));
        }
    }
}
