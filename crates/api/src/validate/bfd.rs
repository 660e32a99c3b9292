//! `BFDProfile`: every timer and counter within the bounds MetalLB (and FRR's
//! bfdd) accept.

use std::ops::RangeInclusive;

use super::Findings;
use crate::metallb::{BFDProfile, BFDProfileSpec};
use crate::snapshot::{Located, Snapshot};

/// Bounds of the intervals, in milliseconds.
const INTERVAL_MS: RangeInclusive<u32> = 10..=60000;
/// Bounds of the detection multiplier.
const DETECT_MULTIPLIER: RangeInclusive<u32> = 2..=255;
/// Bounds of the minimum TTL.
const MINIMUM_TTL: RangeInclusive<u32> = 1..=254;

/// One bounded field of a profile: its YAML name, its value, its bounds and unit.
type Bounded = (&'static str, fn(&BFDProfileSpec) -> Option<u32>, RangeInclusive<u32>, &'static str);

/// The bounded fields, in the order MetalLB checks them.
const FIELDS: [Bounded; 5] = [
    ("detectMultiplier", |s| s.detect_multiplier, DETECT_MULTIPLIER, ""),
    ("receiveInterval", |s| s.receive_interval, INTERVAL_MS, " ms"),
    ("transmitInterval", |s| s.transmit_interval, INTERVAL_MS, " ms"),
    ("minimumTtl", |s| s.minimum_ttl, MINIMUM_TTL, ""),
    ("echoInterval", |s| s.echo_interval, INTERVAL_MS, " ms"),
];

/// Checks every BFD profile.
pub(super) fn check(snapshot: &Snapshot, findings: &mut Findings) {
    for profile in &snapshot.bfd_profiles {
        // That ferrolb does not run BFD is said where a peer asks for it.
        check_one(profile, findings);
    }
}

fn check_one(profile: &Located<BFDProfile>, findings: &mut Findings) {
    for (field, value_of, bounds, unit) in FIELDS {
        let Some(value) = value_of(&profile.spec) else {
            continue;
        };
        if !bounds.contains(&value) {
            let message = format!(
                "{field} {value} is out of range (expected {} to {}{unit})",
                bounds.start(),
                bounds.end()
            );
            findings.error(profile, &format!("spec.{field}"), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{assert_clean, assert_problems};

    fn profile(spec: &str) -> String {
        format!("apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: fast\nspec:\n{spec}")
    }

    #[test]
    fn intervals_outside_10_to_60000_ms_are_errors() {
        assert_problems(
            &profile("  receiveInterval: 9\n  transmitInterval: 60001\n  echoInterval: 5\n"),
            &[
                "t.yaml:6: BFDProfile/fast: spec.receiveInterval: receiveInterval 9 is out of range \
                 (expected 10 to 60000 ms)",
                "t.yaml:7: BFDProfile/fast: spec.transmitInterval: transmitInterval 60001 is out of range \
                 (expected 10 to 60000 ms)",
                "t.yaml:8: BFDProfile/fast: spec.echoInterval: echoInterval 5 is out of range \
                 (expected 10 to 60000 ms)",
            ],
        );
    }

    #[test]
    fn detect_multiplier_outside_2_to_255_is_an_error() {
        assert_problems(
            &profile("  detectMultiplier: 1\n"),
            &["t.yaml:6: BFDProfile/fast: spec.detectMultiplier: detectMultiplier 1 is out of range \
               (expected 2 to 255)"],
        );
    }

    #[test]
    fn minimum_ttl_outside_1_to_254_is_an_error() {
        assert_problems(
            &profile("  minimumTtl: 255\n"),
            &["t.yaml:6: BFDProfile/fast: spec.minimumTtl: minimumTtl 255 is out of range \
               (expected 1 to 254)"],
        );
    }

    #[test]
    fn bounds_themselves_are_accepted() {
        assert_clean(&profile(
            "  receiveInterval: 10\n  transmitInterval: 60000\n  echoInterval: 10\n  \
             detectMultiplier: 255\n  minimumTtl: 1\n  echoMode: true\n  passiveMode: true\n",
        ));
    }
}
