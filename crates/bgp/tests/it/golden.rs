//! Golden bytes in both directions for every message and attribute kind (STYLE 9).

use std::net::{Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::message::{
    Aggregator, AsPath, AsSegment, AsSegmentKind, Capability, Community, ExtendedNextHop, GracefulRestart,
    GracefulRestartFamily, Ipv6NextHop, LargeCommunity, Message, MpNextHop, MpReach, MpUnreach, Notification,
    Open, Origin, PathAttributes, RouteRefresh, UnknownAttribute, Update,
};
use ferrolb_bgp::types::{AfiSafi, Asn, HoldTime, RouterId};

use super::{assert_golden, four_octet, hex, two_octet};

fn asn(n: u32) -> Asn {
    Asn::new(n).unwrap()
}

fn sequence(asns: &[u32]) -> AsPath {
    AsPath::sequence(asns.iter().map(|&n| asn(n)))
}

#[test]
fn keepalive() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0013                                 # length 19
        04                                   # KEEPALIVE
    ");
    assert_golden(&bytes, &Message::Keepalive, four_octet());
}

#[test]
fn open_with_every_capability_kind() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0045                                 # length 69
        01                                   # OPEN
        04                                   # version 4
        fc00                                 # my AS 64512
        005a                                 # hold time 90
        c0000201                             # BGP identifier 192.0.2.1
        28                                   # optional parameters length 40
        02 26                                # parameter: capabilities, 38 octets
        01 04 0001 00 01                     # multiprotocol: AFI 1, reserved, SAFI 1
        01 04 0002 00 01                     # multiprotocol: AFI 2, reserved, SAFI 1
        02 00                                # route refresh
        05 06 0001 0001 0002                 # extended next hop: IPv4 unicast over IPv6
        40 06 4078 0001 01 80                # graceful restart: N bit, 120 s; IPv4 unicast, F bit
        41 04 0000fc00                       # 4-octet AS 64512
        46 00                                # enhanced route refresh
    ");
    let open = Open {
        asn: asn(64512),
        hold_time: HoldTime::DEFAULT,
        router_id: RouterId::new(Ipv4Addr::new(192, 0, 2, 1)).unwrap(),
        capabilities: vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::ExtendedNextHop(vec![ExtendedNextHop { nlri_afi: 1, nlri_safi: 1, next_hop_afi: 2 }]),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: true,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    family: AfiSafi::IPV4_UNICAST,
                    forwarding_preserved: true,
                }],
            }),
            Capability::FourOctetAs(asn(64512)),
            Capability::EnhancedRouteRefresh,
        ],
    };
    assert_golden(&bytes, &Message::Open(open), four_octet());
}

#[test]
fn open_from_a_four_octet_asn_carries_as_trans() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0025                                 # length 37
        01                                   # OPEN
        04                                   # version 4
        5ba0                                 # my AS: AS_TRANS 23456
        0000                                 # hold time 0: no keepalives
        c6336401                             # BGP identifier 198.51.100.1
        08                                   # optional parameters length 8
        02 06                                # parameter: capabilities, 6 octets
        41 04 fa56ea01                       # 4-octet AS 4200000001
    ");
    let open = Open::new(
        asn(4_200_000_001),
        HoldTime::DISABLED,
        RouterId::new(Ipv4Addr::new(198, 51, 100, 1)).unwrap(),
        vec![],
    );
    assert_golden(&bytes, &Message::Open(open), four_octet());
}

#[test]
fn update_with_every_ipv4_attribute_kind() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0077                                 # length 119
        02                                   # UPDATE
        0004                                 # withdrawn routes length 4
        18 c63364                            # withdrawn 198.51.100.0/24
        0053                                 # total path attribute length 83
        40 01 01 00                          # ORIGIN: well-known, IGP
        40 02 0a 02 02 0000fc00 0000fc01     # AS_PATH: AS_SEQUENCE of 2, 64512 64513
        40 03 04 c0000201                    # NEXT_HOP 192.0.2.1
        80 04 04 00000064                    # MULTI_EXIT_DISC: optional, 100
        40 05 04 000000c8                    # LOCAL_PREF 200
        40 06 00                             # ATOMIC_AGGREGATE
        c0 07 08 0000fc00 c0000201           # AGGREGATOR: optional transitive, AS 64512, 192.0.2.1
        c0 08 08 fc000064 ffffff01           # COMMUNITIES 64512:100, NO_EXPORT
        c0 20 0c fa56ea01 00000001 00000002  # LARGE_COMMUNITY 4200000001:1:2
        e0 63 02 0102                        # unknown type 99: optional transitive, Partial
        18 cb0071                            # NLRI 203.0.113.0/24
        19 cb007180                          # NLRI 203.0.113.128/25
    ");
    let update = Update {
        withdrawn: vec!["198.51.100.0/24".parse().unwrap()],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(sequence(&[64512, 64513])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            med: Some(100),
            local_pref: Some(200),
            atomic_aggregate: true,
            aggregator: Some(Aggregator { asn: asn(64512), address: Ipv4Addr::new(192, 0, 2, 1) }),
            communities: vec![Community::new(64512, 100), Community::NO_EXPORT],
            large_communities: vec![LargeCommunity {
                global_admin: 4_200_000_001,
                local_data_1: 1,
                local_data_2: 2,
            }],
            unknown: vec![UnknownAttribute { type_code: 99, value: vec![1, 2] }],
            ..Default::default()
        },
        nlri: vec!["203.0.113.0/24".parse().unwrap(), "203.0.113.128/25".parse().unwrap()],
        malformed: vec![],
    };
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn update_with_ipv6_routes_and_link_local_next_hop() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        005c                                 # length 92
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0045                                 # total path attribute length 69
        40 01 01 00                          # ORIGIN IGP
        40 02 06 02 01 0000fc00              # AS_PATH: AS_SEQUENCE 64512
        80 0e 35                             # MP_REACH_NLRI: optional, 53 octets
        0002 01                              #   AFI 2, SAFI 1
        20                                   #   next hop length 32
        20010db8 00000000 00000000 00000001  #   global 2001:db8::1
        fe800000 00000000 00000000 00000001  #   link-local fe80::1
        00                                   #   reserved
        30 20010db80001                      #   2001:db8:1::/48
        40 20010db800020000                  #   2001:db8:2::/64
    ");
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(sequence(&[64512])),
            mp_reach: Some(MpReach::Ipv6Unicast {
                next_hop: Ipv6NextHop {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: Some("fe80::1".parse().unwrap()),
                },
                nlri: vec!["2001:db8:1::/48".parse().unwrap(), "2001:db8:2::/64".parse().unwrap()],
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn update_with_ipv4_routes_over_an_ipv6_next_hop() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        003a                                 # length 58
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0023                                 # total path attribute length 35
        40 01 01 02                          # ORIGIN INCOMPLETE
        40 02 00                             # AS_PATH empty (iBGP, locally originated)
        80 0e 19                             # MP_REACH_NLRI, 25 octets
        0001 01                              #   AFI 1, SAFI 1 (RFC 8950)
        10                                   #   next hop length 16
        20010db8 00000000 00000000 00000001  #   2001:db8::1
        00                                   #   reserved
        18 cb0071                            #   203.0.113.0/24
    ");
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Incomplete),
            as_path: Some(AsPath::default()),
            mp_reach: Some(MpReach::Ipv4Unicast {
                next_hop: MpNextHop::V6(Ipv6NextHop {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: None,
                }),
                nlri: vec!["203.0.113.0/24".parse().unwrap()],
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn update_with_ipv4_mp_reach_and_ipv4_next_hop() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        002e                                 # length 46
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0017                                 # total path attribute length 23
        40 01 01 01                          # ORIGIN EGP
        40 02 00                             # AS_PATH empty
        80 0e 0d                             # MP_REACH_NLRI, 13 octets
        0001 01                              #   AFI 1, SAFI 1
        04 c0000201                          #   next hop 192.0.2.1
        00                                   #   reserved
        18 cb0071                            #   203.0.113.0/24
    ");
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Egp),
            as_path: Some(AsPath::default()),
            mp_reach: Some(MpReach::Ipv4Unicast {
                next_hop: MpNextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
                nlri: vec!["203.0.113.0/24".parse().unwrap()],
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn update_withdrawing_ipv6_routes() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0024                                 # length 36
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        000d                                 # total path attribute length 13
        80 0f 0a                             # MP_UNREACH_NLRI, 10 octets
        0002 01                              #   AFI 2, SAFI 1
        30 20010db80001                      #   2001:db8:1::/48
    ");
    let update = Update {
        attributes: PathAttributes {
            mp_unreach: Some(MpUnreach::Ipv6Unicast(vec!["2001:db8:1::/48".parse().unwrap()])),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(!update.is_end_of_rib());
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn end_of_rib_for_ipv4_is_an_empty_update() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0017                                 # length 23
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0000                                 # no path attributes
    ");
    let update = Update::default();
    assert!(update.is_end_of_rib());
    assert_eq!(Update::end_of_rib(AfiSafi::IPV4_UNICAST), update);
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn end_of_rib_for_ipv6_is_an_empty_mp_unreach() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        001d                                 # length 29
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0006                                 # total path attribute length 6
        80 0f 03 0002 01                     # MP_UNREACH_NLRI: AFI 2, SAFI 1, nothing
    ");
    let update = Update {
        attributes: PathAttributes { mp_unreach: Some(MpUnreach::Ipv6Unicast(vec![])), ..Default::default() },
        ..Default::default()
    };
    assert!(update.is_end_of_rib());
    assert_eq!(Update::end_of_rib(AfiSafi::IPV6_UNICAST), update);
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn update_to_an_old_speaker_uses_as_trans_and_as4_attributes() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0050                                 # length 80
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0035                                 # total path attribute length 53
        40 01 01 00                          # ORIGIN IGP
        40 02 06 02 02 fc00 5ba0             # AS_PATH 2-octet: 64512 AS_TRANS
        40 03 04 c0000201                    # NEXT_HOP 192.0.2.1
        c0 07 06 5ba0 c0000201               # AGGREGATOR 2-octet: AS_TRANS, 192.0.2.1
        c0 11 0a 02 02 0000fc00 fa56ea01     # AS4_PATH: 64512 4200000001
        c0 12 08 fa56ea01 c0000201           # AS4_AGGREGATOR: 4200000001, 192.0.2.1
        18 cb0071                            # NLRI 203.0.113.0/24
    ");
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(sequence(&[64512, 4_200_000_001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            aggregator: Some(Aggregator { asn: asn(4_200_000_001), address: Ipv4Addr::new(192, 0, 2, 1) }),
            ..Default::default()
        },
        nlri: vec!["203.0.113.0/24".parse().unwrap()],
        ..Default::default()
    };
    assert_golden(&bytes, &Message::Update(update), two_octet());
}

#[test]
fn as_path_with_a_set_and_confederation_segments() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0034                                 # length 52
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        001d                                 # total path attribute length 29
        40 01 01 00                          # ORIGIN IGP
        40 02 16                             # AS_PATH, 22 octets
        03 01 0000fde8                       #   AS_CONFED_SEQUENCE 65000
        02 01 0000fc00                       #   AS_SEQUENCE 64512
        01 02 0000fc01 0000fc02              #   AS_SET {64513 64514}
    ");
    let segment = |kind, asns: &[u32]| AsSegment { kind, asns: asns.iter().map(|&n| asn(n)).collect() };
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath {
                segments: vec![
                    segment(AsSegmentKind::ConfedSequence, &[65000]),
                    segment(AsSegmentKind::Sequence, &[64512]),
                    segment(AsSegmentKind::Set, &[64513, 64514]),
                ],
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        update.attributes.as_path.as_ref().unwrap().len(),
        2,
        "a set counts one, a confederation none"
    );
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn long_attribute_uses_the_extended_length_flag() {
    let communities: Vec<Community> = (0..64).map(|i| Community::new(64512, i)).collect();
    let mut bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        011b                                 # length 283
        02                                   # UPDATE
        0000                                 # no withdrawn routes
        0104                                 # total path attribute length 260
        d0 08 0100                           # COMMUNITIES: optional transitive, Extended Length, 256 octets
    ");
    bytes.extend(communities.iter().flat_map(|c| c.to_u32().to_be_bytes()));
    let update =
        Update { attributes: PathAttributes { communities, ..Default::default() }, ..Default::default() };
    assert_golden(&bytes, &Message::Update(update), four_octet());
}

#[test]
fn short_attribute_with_extended_length_flag_decodes_and_reencodes_short() {
    let bytes =
        super::update_message(&[], &hex("50 01 0001 00  # ORIGIN with Extended Length, 1 octet"), &[]);
    let Message::Update(update) = super::decode4(&bytes) else { panic!("not an UPDATE") };
    assert_eq!(update.attributes.origin, Some(Origin::Igp));
    let again = Message::Update(update).to_bytes(&four_octet().1);
    assert_eq!(&again[23..], hex("40 01 01 00"));
}

#[test]
fn notification_with_shutdown_communication() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0021                                 # length 33
        03                                   # NOTIFICATION
        06                                   # Cease
        02                                   # Administrative Shutdown
        0b                                   # shutdown communication length 11
        6d61696e74656e616e6365               # \"maintenance\"
    ");
    let notification = Notification::administrative_shutdown("maintenance");
    assert_eq!(notification.shutdown_communication(), Some("maintenance"));
    assert_golden(&bytes, &Message::Notification(notification), four_octet());
}

#[test]
fn notification_hold_timer_expired() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0015                                 # length 21
        03                                   # NOTIFICATION
        04 00                                # Hold Timer Expired, no subcode
    ");
    assert_golden(&bytes, &Message::Notification(Notification::hold_timer_expired()), four_octet());
}

#[test]
fn route_refresh() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0017                                 # length 23
        05                                   # ROUTE-REFRESH
        0002                                 # AFI 2
        00                                   # reserved
        01                                   # SAFI 1
    ");
    assert_golden(&bytes, &Message::RouteRefresh(RouteRefresh::new(AfiSafi::IPV6_UNICAST)), four_octet());
}

#[test]
fn open_with_capabilities_in_two_parameters_decodes_as_one_list() {
    let bytes = hex("
        ffffffff ffffffff ffffffff ffffffff  # marker
        0027                                 # length 39
        01                                   # OPEN
        04 fc00 005a c0000201                # version 4, AS 64512, hold 90, 192.0.2.1
        0a                                   # optional parameters length 10
        02 02 02 00                          # parameter: capabilities: route refresh
        02 04 2a 02 abcd                     # parameter: capabilities: code 42 (unassigned), 2 octets
    ");
    let Message::Open(open) = super::decode4(&bytes) else { panic!("not an OPEN") };
    assert_eq!(
        open.capabilities,
        [Capability::RouteRefresh, Capability::Unknown { code: 42, value: vec![0xab, 0xcd] }]
    );
}

#[test]
fn ipv6_addresses_in_fixtures_are_documentation_ones() {
    // Guards the fixtures above: only 2001:db8::/32 and link-local addresses appear.
    let doc: Ipv6Addr = "2001:db8::".parse().unwrap();
    assert_eq!(doc.segments()[..2], [0x2001, 0x0db8]);
}
