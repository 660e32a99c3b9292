//! The durations of a `BGPPeer` (`holdTime`, `keepaliveTime`, `connectTime`) as
//! Kubernetes' `metav1.Duration` reads them: Go's `time.ParseDuration`.
//!
//! kube's [`Duration`] parses more loosely than Go and panics on some of what Go refuses:
//! a sign after the first component (`1s-1s`) or more than `u64::MAX` seconds
//! (`133333333333333333335s`) reach std's `Duration::mul_f64` or `+=`, which panic. A
//! `BGPPeer` comes from whoever may write one, to the controller and every speaker (and in
//! a file to `ferrolb run`), so each duration is first checked against Go's grammar and
//! range: what Go refuses, MetalLB refuses too, and it is an error in Go's words. Only what
//! Go accepts reaches kube's parser, and there every component is a non-negative number and
//! the sum at most 2^63 nanoseconds.

use std::fmt;

use kube_core::Duration;
use serde::de::{self, Deserialize, Deserializer};

/// `#[serde(deserialize_with)]` for an optional duration.
pub(crate) fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    Ok(Option::<Checked>::deserialize(deserializer)?.map(|checked| checked.0))
}

/// A duration Go's `time.ParseDuration` accepts, read by kube.
struct Checked(Duration);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Checked;

            // kube's words, so that a value of another type reads as before.
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string in Go `time.Duration.String()` format")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Checked, E> {
                check(text).map_err(E::custom)?;
                text.parse::<Duration>().map(Checked).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Nanoseconds per unit, as Go's `unitMap` (micro with the micro sign or the Greek mu).
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{00b5}s", 1_000),
    ("\u{03bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// 2^63 nanoseconds: the magnitude of Go's most negative `time.Duration`.
const LIMIT: u64 = 1 << 63;

/// Whether Go's `time.ParseDuration` accepts `text`; if not, its error message.
fn check(text: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(());
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, rest) = split_digits(s);
        let mut value: u64 = 0;
        for digit in whole.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .filter(|v| *v <= LIMIT)
                .ok_or_else(invalid)?;
        }
        s = rest;
        let (mut fraction, mut scale, mut has_fraction) = (0_u64, 1_f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let (digits, rest) = split_digits(rest);
            has_fraction = !digits.is_empty();
            // As Go: digits past what 63 bits hold are ignored, not an error.
            for digit in digits.bytes() {
                if fraction > (LIMIT - 1) / 10 {
                    break;
                }
                let next = fraction * 10 + u64::from(digit - b'0');
                if next > LIMIT {
                    break;
                }
                fraction = next;
                scale *= 10.0;
            }
            s = rest;
        }
        if whole.is_empty() && !has_fraction {
            return Err(invalid());
        }
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let Some(&(_, nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("time: unknown unit {unit:?} in duration {text:?}"));
        };
        if value > LIMIT / nanos {
            return Err(invalid());
        }
        value *= nanos;
        if fraction > 0 {
            // Go's own arithmetic: a float conversion that saturates, then the range check.
            value = value.saturating_add((fraction as f64 * (nanos as f64 / scale)) as u64);
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total = total.checked_add(value).filter(|t| *t <= LIMIT).ok_or_else(invalid)?;
    }
    if !negative && total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(())
}

/// The leading ASCII digits of `s`, and the rest.
fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metallb::{BGPPeer, v1beta1};

    #[test]
    fn what_go_accepts() {
        for text in [
            "0",
            "-0",
            "+0",
            "0s",
            "90s",
            "300ms",
            "-1.5h",
            "+2h45m",
            "1\u{00b5}s",
            "1\u{03bc}s",
            "1us",
            "1ns",
            "1.s",
            ".5s",
            "1.000000000000000000000000000001s",
            "0.18446744073709551619s",
            "9223372036854775807ns",
            "-9223372036854775808ns",
            "2562047h",
            "1h1m1s1ms1us1ns",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn what_go_refuses_in_its_words() {
        let refused = [
            ("", "time: invalid duration \"\""),
            ("-", "time: invalid duration \"-\""),
            ("soon", "time: invalid duration \"soon\""),
            ("90", "time: missing unit in duration \"90\""),
            ("1s0", "time: missing unit in duration \"1s0\""),
            ("1sec", "time: unknown unit \"sec\" in duration \"1sec\""),
            ("1s-1s", "time: unknown unit \"s-\" in duration \"1s-1s\""),
            ("--1s", "time: invalid duration \"--1s\""),
            (".s", "time: invalid duration \".s\""),
            ("1e3s", "time: unknown unit \"e\" in duration \"1e3s\""),
            ("9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""),
            ("2562048h", "time: invalid duration \"2562048h\""),
            ("133333333333333333335s", "time: invalid duration \"133333333333333333335s\""),
            ("2562047h2562047h", "time: invalid duration \"2562047h2562047h\""),
        ];
        for (text, message) in refused {
            assert_eq!(check(text), Err(message.to_owned()), "{text}");
        }
    }

    fn peer(mut spec: serde_json::Value) -> serde_json::Value {
        spec["myASN"] = 64512.into();
        spec["peerASN"] = 64513.into();
        spec["peerAddress"] = "192.0.2.1".into();
        serde_json::json!({
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "r", "namespace": "metallb-system"},
            "spec": spec,
        })
    }

    // Found by fuzz/fuzz_targets/k8s_objects.rs: kube's parser panicked on both.
    #[test]
    fn a_duration_out_of_range_or_signed_inside_is_an_error_not_a_panic() {
        for field in ["holdTime", "keepaliveTime", "connectTime"] {
            for text in ["133333333333333333335s", "1s-1s", "99999999999999999999h"] {
                let object = peer(serde_json::json!({field: text}));
                let error = serde_json::from_value::<BGPPeer>(object).expect_err(text);
                assert!(
                    error.to_string().contains(&format!("in duration \"{text}\""))
                        || error.to_string().contains(&format!("time: invalid duration \"{text}\"")),
                    "{field}: {error}"
                );
            }
        }
        let mut old = peer(serde_json::json!({"holdTime": "1s-1s"}));
        old["apiVersion"] = "metallb.io/v1beta1".into();
        assert!(serde_json::from_value::<v1beta1::BGPPeer>(old).is_err());
    }

    #[test]
    fn what_go_accepts_reads_as_kube_reads_it() {
        let object =
            peer(serde_json::json!({"holdTime": "1m30s", "keepaliveTime": "-5s", "connectTime": "0"}));
        let spec = serde_json::from_value::<BGPPeer>(object).unwrap().spec;
        assert_eq!(spec.hold_time, Some("1m30s".parse::<Duration>().unwrap()));
        assert_eq!(spec.keepalive_time, Some("-5s".parse::<Duration>().unwrap()));
        assert_eq!(spec.connect_time, Some("0".parse::<Duration>().unwrap()));
        let object = peer(serde_json::json!({"holdTime": 90}));
        let error = serde_json::from_value::<BGPPeer>(object).unwrap_err().to_string();
        assert!(error.contains("expected a string in Go `time.Duration.String()` format"), "{error}");
    }

    // The same through the file loader: `ferrolb validate` panicked.
    #[test]
    fn a_file_with_such_a_duration_gets_a_diagnostic_at_its_line() {
        let text = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: r}\n\
                    spec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n  holdTime: 1s-1s\n";
        let (_, diagnostics) = crate::load::load_str("peer.yaml", text);
        let error = diagnostics.iter().find(|d| d.is_error()).expect("an error");
        assert_eq!(error.field, "spec.holdTime", "{error:?}");
        assert!(error.message.contains("in duration \"1s-1s\""), "{error:?}");
        assert_eq!(error.location.line, 8, "{error:?}");
    }
}
