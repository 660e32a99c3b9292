//! RFC 7606 revised error handling: treat-as-withdraw, attribute discard, session reset.

use std::net::Ipv4Addr;

use ferrolb_bgp::message::{
    AsPath, AsSegment, AsSegmentKind, DecodeContext, DecodeError, ExtendedCommunity, Ipv6ExtendedCommunity,
    Malformed, Message, Notification, Origin, RevisedAction, UnknownAttribute, Update,
};
use ferrolb_bgp::types::Asn;

use super::{decode4, four_octet, hex, two_octet, update_message};

/// ORIGIN IGP, AS_PATH 64512, NEXT_HOP 192.0.2.1: a valid set of mandatory attributes.
const MANDATORY: &str = "40 01 01 00  40 02 06 02 01 0000fc00  40 03 04 c0000201";

/// 203.0.113.0/24.
const NLRI: &str = "18 cb0071";

/// Decodes an UPDATE with the mandatory attributes plus `extra`, and one IPv4 prefix.
fn update_with(extra: &str) -> Update {
    let attributes = hex(&format!("{MANDATORY} {extra}"));
    match decode4(&update_message(&[], &attributes, &hex(NLRI))) {
        Message::Update(update) => update,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

/// Decodes an UPDATE whose attributes are exactly `attributes`.
fn update_of(attributes: &str) -> Update {
    match decode4(&update_message(&[], &hex(attributes), &hex(NLRI))) {
        Message::Update(update) => update,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn assert_treat_as_withdraw(update: &Update, error: DecodeError) {
    assert!(update.treat_as_withdraw(), "{update:?}");
    assert_eq!(update.malformed, [Malformed { action: RevisedAction::TreatAsWithdraw, error }]);
    assert_eq!(update.nlri, ["203.0.113.0/24".parse().unwrap()], "routes stay listed, to be withdrawn");
}

#[test]
fn a_valid_update_has_nothing_malformed() {
    let update = update_with("");
    assert!(!update.treat_as_withdraw());
    assert!(update.malformed.is_empty());
}

#[test]
fn malformed_origin_is_treated_as_withdraw() {
    let update = update_of("40 01 01 07  40 02 00  40 03 04 c0000201");
    assert_treat_as_withdraw(&update, DecodeError::InvalidOrigin { attribute: hex("40 01 01 07") });
    let update = update_of("40 01 02 0000  40 02 00  40 03 04 c0000201");
    assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex("40 01 02 0000") });
}

#[test]
fn origin_with_optional_flag_is_a_flags_error_treated_as_withdraw() {
    let update = update_of("c0 01 01 00  40 02 00  40 03 04 c0000201");
    assert_treat_as_withdraw(&update, DecodeError::AttributeFlagsError { attribute: hex("c0 01 01 00") });
}

#[test]
fn malformed_as_path_is_treated_as_withdraw() {
    for path in
        ["40 02 06 05 01 0000fc00", "40 02 02 02 00", "40 02 05 02 01 0000fc", "40 02 06 02 01 00000000"]
    {
        let update = update_of(&format!("40 01 01 00 {path} 40 03 04 c0000201"));
        assert_treat_as_withdraw(&update, DecodeError::MalformedAsPath);
    }
}

#[test]
fn malformed_next_hop_is_treated_as_withdraw() {
    let update = update_of("40 01 01 00  40 02 00  40 03 03 c00002");
    assert_treat_as_withdraw(
        &update,
        DecodeError::AttributeLengthError { attribute: hex("40 03 03 c00002") },
    );
    let update = update_of("40 01 01 00  40 02 00  40 03 04 e0000001");
    assert_treat_as_withdraw(&update, DecodeError::InvalidNextHop { attribute: hex("40 03 04 e0000001") });
}

#[test]
fn med_and_local_pref_of_wrong_length_are_treated_as_withdraw() {
    let update = update_with("80 04 02 0001");
    assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex("80 04 02 0001") });
    let update = update_with("40 05 05 0000000001");
    assert_treat_as_withdraw(
        &update,
        DecodeError::AttributeLengthError { attribute: hex("40 05 05 0000000001") },
    );
}

#[test]
fn communities_must_be_a_non_zero_multiple_of_four() {
    let update = update_with("c0 08 00");
    assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex("c0 08 00") });
    let update = update_with("c0 08 03 fc0000");
    assert_treat_as_withdraw(
        &update,
        DecodeError::AttributeLengthError { attribute: hex("c0 08 03 fc0000") },
    );
}

#[test]
fn large_communities_must_be_a_non_zero_multiple_of_twelve() {
    let attribute = "c0 20 0b 0000fc00 00000001 000000";
    let update = update_with(attribute);
    assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex(attribute) });
}

/// RFC 7606 §7.14: EXTENDED_COMMUNITIES whose length is not a non-zero multiple of 8.
#[test]
fn extended_communities_must_be_a_non_zero_multiple_of_eight() {
    for attribute in ["c0 10 00", "c0 10 07 0002fc02000000", "c0 10 09 0002fc0200000001 00"] {
        let update = update_with(attribute);
        assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex(attribute) });
    }
    let update = update_with("c0 10 10 0002fc0200000001 4004fc024b180000");
    assert!(update.malformed.is_empty());
    assert_eq!(
        update.attributes.extended_communities,
        [
            ExtendedCommunity(hex("0002fc0200000001").try_into().unwrap()),
            ExtendedCommunity(hex("4004fc024b180000").try_into().unwrap())
        ]
    );
}

/// RFC 7606 §7.15: IPv6 Address Specific Extended Community (RFC 5701) whose length is
/// not a non-zero multiple of 20.
#[test]
fn ipv6_extended_communities_must_be_a_non_zero_multiple_of_twenty() {
    let community = "0002 20010db8000000000000000000000001 0001";
    for attribute in ["c0 19 00".to_owned(), format!("c0 19 13 {}", &community.replace(' ', "")[..38])] {
        let update = update_with(&attribute);
        assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex(&attribute) });
    }
    let update = update_with(&format!("c0 19 14 {community}"));
    assert!(update.malformed.is_empty());
    assert_eq!(
        update.attributes.ipv6_extended_communities,
        [Ipv6ExtendedCommunity(hex(community).try_into().unwrap())]
    );
}

#[test]
fn missing_mandatory_attributes_are_treated_as_withdraw() {
    let update = update_of("40 01 01 00  40 03 04 c0000201");
    assert_treat_as_withdraw(&update, DecodeError::MissingWellKnownAttribute { type_code: 2 });
    let update = update_of("40 01 01 00  40 02 00");
    assert_treat_as_withdraw(&update, DecodeError::MissingWellKnownAttribute { type_code: 3 });
}

#[test]
fn withdraw_only_updates_need_no_attributes() {
    let bytes = update_message(&hex("18 c63364"), &[], &[]);
    let Message::Update(update) = decode4(&bytes) else { panic!() };
    assert!(update.malformed.is_empty());
    assert_eq!(update.withdrawn, ["198.51.100.0/24".parse().unwrap()]);
}

#[test]
fn malformed_atomic_aggregate_and_aggregator_are_discarded() {
    let update = update_with("40 06 01 00  c0 07 05 0000fc00 c0");
    assert!(!update.treat_as_withdraw());
    assert!(!update.attributes.atomic_aggregate);
    assert_eq!(update.attributes.aggregator, None);
    assert_eq!(
        update.malformed,
        [
            Malformed {
                action: RevisedAction::AttributeDiscard,
                error: DecodeError::AttributeLengthError { attribute: hex("40 06 01 00") },
            },
            Malformed {
                action: RevisedAction::AttributeDiscard,
                error: DecodeError::AttributeLengthError { attribute: hex("c0 07 05 0000fc00 c0") },
            },
        ]
    );
    assert_eq!(update.attributes.origin, Some(Origin::Igp), "the rest of the UPDATE is used");
}

#[test]
fn aggregator_from_as_zero_is_discarded() {
    let update = update_with("c0 07 08 00000000 c0000201");
    assert_eq!(update.attributes.aggregator, None);
    assert_eq!(update.malformed[0].action, RevisedAction::AttributeDiscard);
}

#[test]
fn repeated_attribute_keeps_the_first() {
    let update = update_with("40 01 01 02");
    assert_eq!(update.attributes.origin, Some(Origin::Igp));
    assert!(update.malformed.is_empty());
}

#[test]
fn repeated_mp_reach_resets_the_session() {
    let reach = "80 0e 0d 0001 01 04 c0000201 00 18 cb0071";
    let bytes = update_message(&[], &hex(&format!("40 01 01 00 40 02 00 {reach} {reach}")), &[]);
    assert_eq!(Message::decode(&bytes, &four_octet().0), Err(DecodeError::MalformedAttributeList));
}

#[test]
fn unknown_optional_non_transitive_is_dropped_and_transitive_kept_as_partial() {
    let update = update_with("80 64 01 01  c0 65 01 02");
    assert!(update.malformed.is_empty());
    assert_eq!(update.attributes.unknown, [UnknownAttribute { type_code: 101, value: vec![2] }]);
    let bytes = Message::Update(update).to_bytes(&four_octet().1);
    assert!(bytes.ends_with(&hex("e0 65 01 02  18 cb0071")), "Partial bit set when passed on");
}

#[test]
fn mp_reach_of_a_family_not_negotiated_is_ignored() {
    let mut ctx = four_octet().0;
    ctx.families = vec![ferrolb_bgp::types::AfiSafi::IPV4_UNICAST];
    let reach = "80 0e 15 0002 01 10 20010db8000000000000000000000001 00";
    let bytes = update_message(&[], &hex(&format!("40 01 01 00 40 02 00 {reach}")), &[]);
    let Ok(Message::Update(update)) = Message::decode(&bytes, &ctx) else { panic!() };
    assert_eq!(update.attributes.mp_reach, None);
}

fn asn(n: u32) -> Asn {
    Asn::new(n).unwrap()
}

fn decode2(attributes: &str) -> Update {
    let bytes = update_message(&[], &hex(attributes), &hex(NLRI));
    match Message::decode(&bytes, &two_octet().0) {
        Ok(Message::Update(update)) => update,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

#[test]
fn old_speaker_prepending_keeps_its_leading_asns() {
    // 64513 (old) prepended itself in front of 64512 AS_TRANS; AS4_PATH still says 64512 4200000001.
    let update = decode2(
        "40 01 01 00  40 02 08 02 03 fc01 fc00 5ba0  40 03 04 c0000201
         c0 11 0a 02 02 0000fc00 fa56ea01",
    );
    assert_eq!(
        update.attributes.as_path,
        Some(AsPath::sequence([asn(64513), asn(64512), asn(4_200_000_001)]))
    );
}

#[test]
fn as4_path_longer_than_as_path_is_ignored() {
    let update = decode2(
        "40 01 01 00  40 02 04 02 01 5ba0  40 03 04 c0000201
         c0 11 0a 02 02 0000fc00 fa56ea01",
    );
    assert_eq!(update.attributes.as_path, Some(AsPath::sequence([Asn::TRANS])));
}

#[test]
fn as4_path_is_stale_after_an_old_aggregator() {
    let update = decode2(
        "40 01 01 00  40 02 06 02 02 fc00 5ba0  40 03 04 c0000201
         c0 07 06 fc01 c0000201  c0 11 0a 02 02 0000fc00 fa56ea01",
    );
    assert_eq!(update.attributes.as_path, Some(AsPath::sequence([asn(64512), Asn::TRANS])));
    assert_eq!(
        update.attributes.aggregator.map(|a| (a.asn, a.address)),
        Some((asn(64513), Ipv4Addr::new(192, 0, 2, 1)))
    );
}

#[test]
fn malformed_as4_path_is_discarded_and_as_path_used() {
    let update = decode2("40 01 01 00  40 02 04 02 01 5ba0  40 03 04 c0000201  c0 11 03 02 01 00");
    assert!(!update.treat_as_withdraw());
    assert_eq!(update.malformed[0].action, RevisedAction::AttributeDiscard);
    assert_eq!(update.attributes.as_path, Some(AsPath::sequence([Asn::TRANS])));
}

#[test]
fn as4_path_without_an_asn_is_discarded() {
    let update = decode2("40 01 01 00  40 02 04 02 01 5ba0  40 03 04 c0000201  c0 11 00");
    assert_eq!(
        update.malformed,
        [Malformed { action: RevisedAction::AttributeDiscard, error: DecodeError::MalformedAsPath }]
    );
    assert_eq!(update.attributes.as_path, Some(AsPath::sequence([Asn::TRANS])));
}

/// RFC 6793 §6: confederation segments in AS4_PATH are dropped, not the attribute: the
/// rest of it still rebuilds the 4-octet path.
#[test]
fn confederation_segments_of_as4_path_are_dropped_and_the_rest_used() {
    // AS_PATH 64513 AS_TRANS; AS4_PATH (64515) 4200000001, its confederation segment first.
    let update = decode2(
        "40 01 01 00  40 02 06 02 02 fc01 5ba0  40 03 04 c0000201
         c0 11 0c 03 01 0000fc03 02 01 fa56ea01",
    );
    assert!(!update.treat_as_withdraw());
    assert_eq!(
        update.malformed,
        [Malformed { action: RevisedAction::SegmentDiscard, error: DecodeError::MalformedAsPath }]
    );
    assert_eq!(update.attributes.as_path, Some(AsPath::sequence([asn(64513), asn(4_200_000_001)])));
    // Without NLRI it resets nothing either (RFC 7606 §5.2 is about treat-as-withdraw).
    let bytes = update_message(
        &[],
        &hex("40 01 01 00  40 02 04 02 01 5ba0  c0 11 0c 03 01 0000fc03 02 01 fa56ea01"),
        &[],
    );
    assert!(Message::decode(&bytes, &two_octet().0).is_ok());
}

#[test]
fn as4_path_between_new_speakers_is_ignored() {
    let update = update_with("c0 11 06 02 01 fa56ea01");
    assert_eq!(update.attributes.as_path, Some(AsPath::sequence([asn(64512)])));
    assert!(update.malformed.is_empty());
}

#[test]
fn attribute_running_past_the_attributes_field_is_treated_as_withdraw() {
    let update = update_with("c0 08 08 fc000064");
    assert_treat_as_withdraw(
        &update,
        DecodeError::AttributeLengthError { attribute: hex("c0 08 08 fc000064") },
    );
    assert_eq!(update.attributes.origin, Some(Origin::Igp), "attributes before it were read");
}

#[test]
fn too_few_octets_for_an_attribute_header_is_treated_as_withdraw() {
    let update = update_with("c0 08");
    assert_treat_as_withdraw(&update, DecodeError::AttributeLengthError { attribute: hex("c0 08") });
}

#[test]
fn a_discarded_attribute_does_not_hide_a_missing_mandatory_one() {
    let update = update_of("40 01 01 00  40 03 04 c0000201  40 06 01 00");
    assert!(update.treat_as_withdraw());
    assert!(
        update.malformed.iter().any(|m| m.error == DecodeError::MissingWellKnownAttribute { type_code: 2 })
    );
}

/// Decodes an UPDATE of `attributes`, `nlri` and `withdrawn` with a 4-octet session; the
/// NOTIFICATION it resets the session with, if it does.
fn decode_update(withdrawn: &str, attributes: &str, nlri: &str) -> Result<Update, Notification> {
    let bytes = update_message(&hex(withdrawn), &hex(attributes), &hex(nlri));
    match Message::decode(&bytes, &four_octet().0) {
        Ok(Message::Update(update)) => Ok(update),
        Ok(other) => panic!("not an UPDATE: {other:?}"),
        Err(e) => Err(Notification::from(&e)),
    }
}

fn notification(code: u8, subcode: u8, data: &str) -> Notification {
    Notification { code, subcode, data: hex(data) }
}

/// RFC 7606 §5.2: an UPDATE with path attributes (other than MP_UNREACH_NLRI) and no
/// reachable NLRI cannot prove its NLRI were parsed, so any attribute error calling for more
/// than attribute discard resets the session, with that error's NOTIFICATION.
#[test]
fn an_attribute_error_without_reachable_nlri_resets_the_session() {
    let origin_7 = "40 01 01 07  40 02 06 02 01 0000fc00  40 03 04 c0000201";
    assert_eq!(decode_update("", origin_7, ""), Err(notification(3, 6, "40 01 01 07")));
    // Withdrawn routes are no reachable NLRI either.
    assert_eq!(
        decode_update("18 c63364", "40 01 01 00  80 04 02 0001", ""),
        Err(notification(3, 5, "80 04 02 0001"))
    );
    // An attribute running past the attributes field (RFC 7606 §4).
    assert_eq!(
        decode_update("", "40 01 01 00  c0 08 08 fc000064", ""),
        Err(notification(3, 5, "c0 08 08 fc000064"))
    );
    // An MP_REACH_NLRI without NLRI is no reachable NLRI.
    let empty_reach = "80 0e 15 0002 01 10 20010db8000000000000000000000001 00";
    assert_eq!(
        decode_update("", &format!("{empty_reach} 40 01 01 07 40 02 00"), ""),
        Err(notification(3, 6, "40 01 01 07"))
    );
}

#[test]
fn attribute_discard_without_reachable_nlri_keeps_the_session() {
    let update = decode_update("", "40 01 01 00  40 02 00  c0 07 05 0000fc00 c0", "").expect("no reset");
    assert_eq!(update.malformed[0].action, RevisedAction::AttributeDiscard);
    assert_eq!(update.attributes.aggregator, None);
}

#[test]
fn with_reachable_nlri_the_same_errors_are_treated_as_withdraw() {
    let reach =
        "80 0e 26 0002 01 10 20010db8000000000000000000000001 00  80 20010db8000000000000000000000010";
    let update = decode_update("", &format!("{reach} 40 01 01 07 40 02 00"), "").expect("no reset");
    assert!(update.treat_as_withdraw());
    let update = decode_update("", "40 01 01 07  40 02 00  40 03 04 c0000201", NLRI).expect("no reset");
    assert!(update.treat_as_withdraw());
}

#[test]
fn end_of_rib_and_withdrawals_alone_are_no_error() {
    assert_eq!(decode_update("", "", "").map(|u| u.is_end_of_rib()), Ok(true));
    assert_eq!(decode_update("", "80 0f 03 0002 01", "").map(|u| u.is_end_of_rib()), Ok(true));
    assert_eq!(decode_update("18 c63364", "", "").map(|u| u.malformed.is_empty()), Ok(true));
}

/// A session with a peer in another AS: 4-octet ASNs, IPv4 + IPv6 unicast, external.
fn external() -> DecodeContext {
    DecodeContext { external: true, ..four_octet().0 }
}

fn decode_external(attributes: &str, nlri: &str) -> Result<Update, Notification> {
    let bytes = update_message(&[], &hex(attributes), &hex(nlri));
    match Message::decode(&bytes, &external()) {
        Ok(Message::Update(update)) => Ok(update),
        Ok(other) => panic!("not an UPDATE: {other:?}"),
        Err(e) => Err(Notification::from(&e)),
    }
}

/// RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored; RFC 7606 §7.5: it is
/// discarded ("attribute discard"), malformed or not, instead of treated as withdraw.
#[test]
fn local_pref_from_an_external_peer_is_discarded() {
    let update = decode_external(&format!("{MANDATORY} 40 05 04 00000064"), NLRI).expect("decodes");
    assert_eq!(update.attributes.local_pref, None);
    assert!(update.malformed.is_empty(), "a well-formed one is ignored, not malformed");
    for attribute in ["40 05 05 0000000001", "80 05 04 00000064", "40 05 00"] {
        let update = decode_external(&format!("{MANDATORY} {attribute}"), NLRI).expect("decodes");
        assert!(!update.treat_as_withdraw(), "{attribute}");
        assert_eq!(update.malformed.len(), 1, "{attribute}");
        assert_eq!(update.malformed[0].action, RevisedAction::AttributeDiscard, "{attribute}");
        assert_eq!(update.attributes.local_pref, None);
    }
    // Without NLRI, a discard resets nothing (RFC 7606 §5.2).
    assert!(decode_external("40 01 01 00  40 05 05 0000000001", "").is_ok());
}

/// RFC 5065 §5.3: AS_CONFED_SEQUENCE or AS_CONFED_SET from a peer outside our
/// confederation (ferrolb is in none: any external peer) is a malformed AS_PATH, which
/// RFC 7606 §7.2 treats as withdraw.
#[test]
fn confederation_segments_from_an_external_peer_are_treated_as_withdraw() {
    for segment in ["03 01 0000fc01", "04 01 0000fc01"] {
        let attributes = format!("40 01 01 00  40 02 0c {segment} 02 01 0000fc02  40 03 04 c0000201");
        let update = decode_external(&attributes, NLRI).expect("no reset");
        assert_treat_as_withdraw(&update, DecodeError::MalformedAsPath);
        // Without NLRI, treat-as-withdraw becomes a reset (RFC 7606 §5.2).
        assert_eq!(decode_external(&attributes, ""), Err(notification(3, 11, "")));
    }
    // From an internal peer, which may be a member of a confederation's member AS.
    let update = update_of("40 01 01 00  40 02 0c 03 01 0000fc01 02 01 0000fc02  40 03 04 c0000201");
    assert!(update.malformed.is_empty());
    let confed = AsSegment { kind: AsSegmentKind::ConfedSequence, asns: vec![asn(64513)] };
    assert_eq!(update.attributes.as_path.unwrap().segments[0], confed);
}

#[test]
fn local_pref_from_an_internal_peer_is_kept_or_treated_as_withdraw() {
    assert_eq!(update_with("40 05 04 00000064").attributes.local_pref, Some(100));
    assert!(update_with("40 05 05 0000000001").treat_as_withdraw());
}
