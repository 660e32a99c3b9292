//! Property tests: decoding what was encoded gives the value back.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::message::{
    Aggregator, AsPath, AsSegment, AsSegmentKind, Capability, Community, ExtendedCommunity, ExtendedNextHop,
    GracefulRestart, GracefulRestartFamily, Ipv6ExtendedCommunity, Ipv6NextHop, LargeCommunity, Message,
    MpNextHop, MpReach, MpUnreach, Notification, Open, Origin, PathAttributes, RouteRefresh,
    UnknownAttribute, Update,
};
use ferrolb_bgp::types::{AfiSafi, Asn, HoldTime, RouterId};
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use super::{four_octet, two_octet};

/// Private ASNs only, 2- and 4-octet (RFC 6996).
fn asn() -> impl Strategy<Value = Asn> {
    prop_oneof![64512u32..=65534, 4_200_000_000u32..=4_294_967_294].prop_map(|n| Asn::new(n).unwrap())
}

fn two_octet_asn() -> impl Strategy<Value = Asn> {
    (64512u32..=65534).prop_map(|n| Asn::new(n).unwrap())
}

/// An address in one of the IPv4 documentation networks.
fn doc_v4() -> impl Strategy<Value = Ipv4Addr> {
    (prop::sample::select(vec![[192, 0, 2], [198, 51, 100], [203, 0, 113]]), 1u8..=254)
        .prop_map(|(net, host)| Ipv4Addr::new(net[0], net[1], net[2], host))
}

fn doc_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(|bits| Ipv6Addr::from((0x2001_0db8u128 << 96) | (bits >> 32)))
}

fn v4_prefix() -> impl Strategy<Value = Ipv4Net> {
    (doc_v4(), 24u8..=32).prop_map(|(addr, len)| Ipv4Net::new(addr, len).unwrap().trunc())
}

fn v6_prefix() -> impl Strategy<Value = Ipv6Net> {
    (doc_v6(), 32u8..=128).prop_map(|(addr, len)| Ipv6Net::new(addr, len).unwrap().trunc())
}

fn family() -> impl Strategy<Value = AfiSafi> {
    (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| AfiSafi { afi, safi })
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        vec((any::<u16>(), any::<u16>(), any::<u16>()), 1..4).prop_map(|tuples| Capability::ExtendedNextHop(
            tuples
                .into_iter()
                .map(|(nlri_afi, nlri_safi, next_hop_afi)| ExtendedNextHop {
                    nlri_afi,
                    nlri_safi,
                    next_hop_afi
                })
                .collect()
        )),
        (any::<bool>(), any::<bool>(), 0u16..4096, vec((family(), any::<bool>()), 0..3)).prop_map(
            |(restart_state, notification, restart_time, families)| Capability::GracefulRestart(
                GracefulRestart {
                    restart_state,
                    notification,
                    restart_time,
                    families: families
                        .into_iter()
                        .map(|(family, forwarding_preserved)| GracefulRestartFamily {
                            family,
                            forwarding_preserved
                        })
                        .collect(),
                }
            )
        ),
        asn().prop_map(Capability::FourOctetAs),
        (
            any::<u8>().prop_filter("unknown code", |c| ![1, 2, 5, 64, 65, 70].contains(c)),
            vec(any::<u8>(), 0..8)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (two_octet_asn(), prop_oneof![Just(0u16), 3u16..], doc_v4(), vec(capability(), 0..8)).prop_map(
        |(two_octet, hold, id, capabilities)| {
            // The ASN is the 4-octet capability's when there is one (RFC 6793 §4.1).
            let asn = capabilities
                .iter()
                .find_map(|c| if let Capability::FourOctetAs(asn) = c { Some(*asn) } else { None })
                .unwrap_or(two_octet);
            Open {
                asn,
                hold_time: HoldTime::new(hold).unwrap(),
                router_id: RouterId::new(id).unwrap(),
                capabilities,
            }
        },
    )
}

fn as_path(confederations: bool) -> impl Strategy<Value = AsPath> {
    let kinds = if confederations {
        vec![
            AsSegmentKind::Sequence,
            AsSegmentKind::Set,
            AsSegmentKind::ConfedSequence,
            AsSegmentKind::ConfedSet,
        ]
    } else {
        vec![AsSegmentKind::Sequence, AsSegmentKind::Set]
    };
    vec((prop::sample::select(kinds), vec(asn(), 1..10)), 0..4).prop_map(|segments| AsPath {
        segments: segments.into_iter().map(|(kind, asns)| AsSegment { kind, asns }).collect(),
    })
}

fn ipv6_next_hop() -> impl Strategy<Value = Ipv6NextHop> {
    (doc_v6(), prop::option::of(any::<u64>())).prop_map(|(global, ll)| Ipv6NextHop {
        global,
        link_local: ll.map(|ll| Ipv6Addr::from((0xfe80u128 << 112) | u128::from(ll))),
    })
}

fn mp_reach() -> impl Strategy<Value = MpReach> {
    prop_oneof![
        (
            prop_oneof![doc_v4().prop_map(MpNextHop::V4), ipv6_next_hop().prop_map(MpNextHop::V6)],
            vec(v4_prefix(), 0..10)
        )
            .prop_map(|(next_hop, nlri)| MpReach::Ipv4Unicast { next_hop, nlri }),
        (ipv6_next_hop(), vec(v6_prefix(), 0..10))
            .prop_map(|(next_hop, nlri)| MpReach::Ipv6Unicast { next_hop, nlri }),
    ]
}

fn mp_unreach() -> impl Strategy<Value = MpUnreach> {
    prop_oneof![
        vec(v4_prefix(), 0..10).prop_map(MpUnreach::Ipv4Unicast),
        vec(v6_prefix(), 0..10).prop_map(MpUnreach::Ipv6Unicast)
    ]
}

fn origin() -> impl Strategy<Value = Origin> {
    prop::sample::select(vec![Origin::Igp, Origin::Egp, Origin::Incomplete])
}

fn update(confederations: bool) -> impl Strategy<Value = Update> {
    let attributes = (
        (prop::option::of(origin()), prop::option::of(as_path(confederations)), prop::option::of(doc_v4())),
        (prop::option::of(any::<u32>()), prop::option::of(any::<u32>()), any::<bool>()),
        prop::option::of((asn(), doc_v4()).prop_map(|(asn, address)| Aggregator { asn, address })),
        vec(any::<u32>().prop_map(Community::from_u32), 0..5),
        vec(
            any::<(u32, u32, u32)>().prop_map(|(g, a, b)| LargeCommunity {
                global_admin: g,
                local_data_1: a,
                local_data_2: b,
            }),
            0..3,
        ),
        (prop::option::of(mp_reach()), prop::option::of(mp_unreach())),
        (
            vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 0..3),
            vec(any::<[u8; 20]>().prop_map(Ipv6ExtendedCommunity), 0..3),
        ),
        btree_map(
            any::<u8>().prop_filter("unknown type", |t| {
                ![1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 25, 32].contains(t)
            }),
            vec(any::<u8>(), 0..10),
            0..3,
        ),
    )
        .prop_map(
            |(
                (origin, as_path, next_hop),
                (med, local_pref, atomic_aggregate),
                aggregator,
                communities,
                large_communities,
                (mp_reach, mp_unreach),
                (extended_communities, ipv6_extended_communities),
                unknown,
            ): (_, _, _, _, _, _, _, BTreeMap<u8, Vec<u8>>)| PathAttributes {
                origin,
                as_path,
                next_hop,
                med,
                local_pref,
                atomic_aggregate,
                aggregator,
                communities,
                large_communities,
                mp_reach,
                mp_unreach,
                extended_communities,
                ipv6_extended_communities,
                unknown: unknown
                    .into_iter()
                    .map(|(type_code, value)| UnknownAttribute { type_code, value })
                    .collect(),
            },
        );
    (vec(v4_prefix(), 0..10), attributes, vec(v4_prefix(), 0..10)).prop_map(
        |(withdrawn, mut attributes, nlri)| {
            // Routes need the mandatory attributes, or the decoder (rightly) treats them as withdrawn.
            let mp_routes = match &attributes.mp_reach {
                Some(MpReach::Ipv4Unicast { nlri, .. }) => !nlri.is_empty(),
                Some(MpReach::Ipv6Unicast { nlri, .. }) => !nlri.is_empty(),
                None => false,
            };
            if !nlri.is_empty() || mp_routes {
                attributes.origin.get_or_insert(Origin::Igp);
                attributes.as_path.get_or_insert_with(AsPath::default);
            }
            if !nlri.is_empty() {
                attributes.next_hop.get_or_insert(Ipv4Addr::new(192, 0, 2, 1));
            }
            Update { withdrawn, attributes, nlri, malformed: vec![] }
        },
    )
}

fn round_trip(
    message: &Message,
    (decode, encode): (ferrolb_bgp::DecodeContext, ferrolb_bgp::EncodeContext),
) -> Message {
    let bytes = message.to_bytes(&encode);
    assert_eq!(ferrolb_bgp::message::message_len(&bytes), Some(bytes.len()));
    Message::decode(&bytes, &decode).expect("what we encode decodes")
}

proptest! {
    #[test]
    fn open_round_trips(open in open()) {
        let message = Message::Open(open);
        prop_assert_eq!(round_trip(&message, four_octet()), message);
    }

    #[test]
    fn update_round_trips_between_four_octet_speakers(update in update(true)) {
        let message = Message::Update(update);
        prop_assert_eq!(round_trip(&message, four_octet()), message);
    }

    #[test]
    fn update_round_trips_through_as4_path_to_an_old_speaker(mut update in update(false)) {
        // An old aggregator makes AS4_PATH stale (RFC 6793 §4.2.3); a new one carries it.
        let has_four_octet = update.attributes.as_path.iter().flat_map(|p| &p.segments).flat_map(|s| &s.asns).any(|a| !a.is_two_octet());
        if let Some(aggregator) = update.attributes.aggregator.as_mut().filter(|a| a.asn.is_two_octet() && has_four_octet) {
            aggregator.asn = Asn::new(4_200_000_000).unwrap();
        }
        let message = Message::Update(update);
        prop_assert_eq!(round_trip(&message, two_octet()), message);
    }

    #[test]
    fn notification_round_trips(code in any::<u8>(), subcode in any::<u8>(), data in vec(any::<u8>(), 0..64)) {
        let message = Message::Notification(Notification { code, subcode, data });
        prop_assert_eq!(round_trip(&message, four_octet()), message);
    }

    #[test]
    fn route_refresh_round_trips(family in family(), subtype in any::<u8>()) {
        let message = Message::RouteRefresh(RouteRefresh { family, subtype });
        prop_assert_eq!(round_trip(&message, four_octet()), message);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in vec(any::<u8>(), 0..200), kind in 1u8..=5) {
        let bytes = super::message(kind, &body);
        for ctx in [four_octet().0, two_octet().0] {
            if let Ok(message) = Message::decode(&bytes, &ctx) {
                let _ = message.to_bytes(&four_octet().1);
            }
        }
    }
}
