//! Every decode error maps to its NOTIFICATION: code, subcode and data (RFC 4271 §6).

use ferrolb_bgp::message::{DecodeError, Message, Notification, code, subcode};

use super::{four_octet, hex, message, update_message};

/// Decodes bytes that must fail, and returns the NOTIFICATION the session sends.
fn notification_for(bytes: &[u8]) -> (DecodeError, Notification) {
    let error = Message::decode(bytes, &four_octet().0).expect_err("must not decode");
    let notification = Notification::from(&error);
    (error, notification)
}

fn assert_notification(bytes: &[u8], code: u8, subcode: u8, data: &[u8]) {
    let (error, notification) = notification_for(bytes);
    assert_eq!(
        (notification.code, notification.subcode, notification.data.as_slice()),
        (code, subcode, data),
        "for {error:?}"
    );
}

/// An OPEN body: version 4, AS 64512, hold 90, 192.0.2.1, no parameters, with edits.
fn open_body(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = hex("04 fc00 005a c0000201 00");
    edit(&mut body);
    body
}

#[test]
fn bad_marker_is_connection_not_synchronized() {
    let bytes = hex("ffffffff 00ffffff ffffffff ffffffff 0013 04");
    assert_notification(&bytes, code::MESSAGE_HEADER, subcode::CONNECTION_NOT_SYNCHRONIZED, &[]);
}

#[test]
fn bad_length_carries_the_length() {
    let keepalive_of_20 = hex("ffffffff ffffffff ffffffff ffffffff 0014 04 00");
    assert_notification(&keepalive_of_20, code::MESSAGE_HEADER, subcode::BAD_MESSAGE_LENGTH, &[0x00, 0x14]);
    let short_open = message(1, &hex("04 fc00"));
    assert_notification(&short_open, code::MESSAGE_HEADER, subcode::BAD_MESSAGE_LENGTH, &[0x00, 0x16]);
    let short_notification = message(3, &hex("06"));
    assert_notification(
        &short_notification,
        code::MESSAGE_HEADER,
        subcode::BAD_MESSAGE_LENGTH,
        &[0x00, 0x14],
    );
    let short_update = message(2, &hex("0000"));
    assert_notification(&short_update, code::MESSAGE_HEADER, subcode::BAD_MESSAGE_LENGTH, &[0x00, 0x15]);
}

#[test]
fn length_field_disagreeing_with_the_buffer_is_bad_length() {
    let mut bytes = hex("ffffffff ffffffff ffffffff ffffffff 0013 04");
    bytes.push(0);
    assert_notification(&bytes, code::MESSAGE_HEADER, subcode::BAD_MESSAGE_LENGTH, &[0x00, 0x13]);
}

#[test]
fn bad_type_carries_the_type() {
    let bytes = message(9, &[]);
    assert_notification(&bytes, code::MESSAGE_HEADER, subcode::BAD_MESSAGE_TYPE, &[9]);
}

#[test]
fn unsupported_version_carries_version_four() {
    let bytes = message(1, &open_body(|b| b[0] = 3));
    assert_notification(&bytes, code::OPEN_MESSAGE, subcode::UNSUPPORTED_VERSION_NUMBER, &[0, 4]);
}

#[test]
fn peer_as_zero_is_bad_peer_as() {
    let bytes = message(1, &open_body(|b| b[1..3].copy_from_slice(&[0, 0])));
    assert_notification(&bytes, code::OPEN_MESSAGE, subcode::BAD_PEER_AS, &[]);
    let four_octet_zero = message(1, &hex("04 5ba0 005a c0000201 08 02 06 41 04 00000000"));
    assert_notification(&four_octet_zero, code::OPEN_MESSAGE, subcode::BAD_PEER_AS, &[]);
}

#[test]
fn identifier_zero_is_bad_bgp_identifier() {
    let bytes = message(1, &open_body(|b| b[5..9].copy_from_slice(&[0; 4])));
    assert_notification(&bytes, code::OPEN_MESSAGE, subcode::BAD_BGP_IDENTIFIER, &[]);
}

#[test]
fn authentication_parameter_is_unsupported() {
    let bytes = message(1, &open_body(|b| b.splice(9.., hex("03 01 01 00")).for_each(drop)));
    assert_notification(&bytes, code::OPEN_MESSAGE, subcode::UNSUPPORTED_OPTIONAL_PARAMETER, &[]);
}

#[test]
fn hold_time_of_one_or_two_seconds_is_unacceptable() {
    for seconds in [1u8, 2] {
        let bytes = message(1, &open_body(|b| b[3..5].copy_from_slice(&[0, seconds])));
        assert_notification(&bytes, code::OPEN_MESSAGE, subcode::UNACCEPTABLE_HOLD_TIME, &[]);
    }
}

#[test]
fn missing_required_capability_names_it() {
    let error = DecodeError::UnsupportedCapability { capabilities: hex("41 04 0000fc00") };
    let notification = Notification::from(&error);
    assert_eq!(notification.code, code::OPEN_MESSAGE);
    assert_eq!(notification.subcode, subcode::UNSUPPORTED_CAPABILITY);
    assert_eq!(notification.data, hex("41 04 0000fc00"));
}

#[test]
fn parameters_that_do_not_add_up_are_an_unspecific_open_error() {
    let too_long = message(1, &open_body(|b| b.splice(9.., hex("05 02 02 00")).for_each(drop)));
    assert_notification(&too_long, code::OPEN_MESSAGE, subcode::UNSPECIFIC, &[]);
    let bad_capability = message(1, &open_body(|b| b.splice(9.., hex("04 02 02 41 01")).for_each(drop)));
    assert_notification(&bad_capability, code::OPEN_MESSAGE, subcode::UNSPECIFIC, &[]);
}

#[test]
fn withdrawn_length_past_the_message_is_a_malformed_attribute_list() {
    let bytes = message(2, &hex("0009 18 c63364 0000"));
    assert_notification(&bytes, code::UPDATE_MESSAGE, subcode::MALFORMED_ATTRIBUTE_LIST, &[]);
}

#[test]
fn mp_reach_running_past_the_attributes_is_an_attribute_length_error() {
    let attribute = hex("80 0e 20 0002 01 10  # MP_REACH_NLRI claiming 32 octets, 4 present");
    let bytes = update_message(&[], &attribute, &[]);
    assert_notification(&bytes, code::UPDATE_MESSAGE, subcode::ATTRIBUTE_LENGTH_ERROR, &attribute);
}

#[test]
fn unknown_well_known_attribute_carries_the_attribute() {
    let attribute = hex("40 63 01 07  # well-known flags, type 99");
    let bytes = update_message(&[], &attribute, &[]);
    assert_notification(&bytes, code::UPDATE_MESSAGE, subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, &attribute);
}

#[test]
fn missing_well_known_attribute_carries_its_type() {
    let notification = Notification::from(&DecodeError::MissingWellKnownAttribute { type_code: 2 });
    assert_eq!((notification.code, notification.subcode, notification.data), (3, 3, vec![2]));
}

#[test]
fn mp_reach_with_wrong_flags_is_an_attribute_flags_error() {
    let attribute = hex("40 0f 03 0002 01  # MP_UNREACH_NLRI marked well-known");
    let bytes = update_message(&[], &attribute, &[]);
    assert_notification(&bytes, code::UPDATE_MESSAGE, subcode::ATTRIBUTE_FLAGS_ERROR, &attribute);
}

#[test]
fn attribute_errors_that_rfc_7606_downgrades_still_name_their_notification() {
    use DecodeError as E;
    let attribute = hex("40 01 01 03");
    let cases = [
        (E::AttributeLengthError { attribute: attribute.clone() }, subcode::ATTRIBUTE_LENGTH_ERROR),
        (E::InvalidOrigin { attribute: attribute.clone() }, subcode::INVALID_ORIGIN_ATTRIBUTE),
        (E::InvalidNextHop { attribute: attribute.clone() }, subcode::INVALID_NEXT_HOP_ATTRIBUTE),
        (E::OptionalAttributeError { attribute: attribute.clone() }, subcode::OPTIONAL_ATTRIBUTE_ERROR),
        (E::AttributeFlagsError { attribute: attribute.clone() }, subcode::ATTRIBUTE_FLAGS_ERROR),
    ];
    for (error, expected) in cases {
        let notification = Notification::from(&error);
        assert_eq!((notification.code, notification.subcode), (code::UPDATE_MESSAGE, expected), "{error:?}");
        assert_eq!(notification.data, attribute, "{error:?}");
    }
    let notification = Notification::from(&E::MalformedAsPath);
    assert_eq!((notification.code, notification.subcode, notification.data), (3, 11, vec![]));
}

#[test]
fn truncated_mp_reach_is_an_optional_attribute_error() {
    let attribute = hex("80 0e 05 0002 01 10 20  # next hop length 16, one octet of it");
    let bytes = update_message(&[], &attribute, &[]);
    assert_notification(&bytes, code::UPDATE_MESSAGE, subcode::OPTIONAL_ATTRIBUTE_ERROR, &attribute);
}

#[test]
fn prefix_longer_than_32_bits_is_an_invalid_network_field() {
    let nlri_bytes = update_message(&[], &[], &hex("21 cb007100 00"));
    assert_notification(&nlri_bytes, code::UPDATE_MESSAGE, subcode::INVALID_NETWORK_FIELD, &[]);
    let truncated_withdrawal = update_message(&hex("18 c633"), &[], &[]);
    assert_notification(&truncated_withdrawal, code::UPDATE_MESSAGE, subcode::INVALID_NETWORK_FIELD, &[]);
}

#[test]
fn route_refresh_of_wrong_length_carries_the_message() {
    let bytes = message(5, &hex("0001 00 01 00"));
    assert_notification(&bytes, code::ROUTE_REFRESH_MESSAGE, subcode::INVALID_MESSAGE_LENGTH, &bytes);
}
