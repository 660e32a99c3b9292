//! `BFDProfile`, typed: MetalLB's defaults for the fields left out, so that the
//! plan and the BFD session read one answer.

use std::time::Duration;

use crate::findings::name_of;
use crate::metallb::{BFDProfile, BFDProfileSpec};
use crate::snapshot::Snapshot;

/// MetalLB's default `receiveInterval` and `transmitInterval`, in milliseconds.
const DEFAULT_INTERVAL_MS: u32 = 300;
/// MetalLB's default `detectMultiplier`.
const DEFAULT_DETECT_MULTIPLIER: u8 = 3;
/// MetalLB's default `minimumTtl`.
const DEFAULT_MINIMUM_TTL: u8 = 254;
/// MetalLB's default `echoInterval`, in milliseconds.
const DEFAULT_ECHO_INTERVAL_MS: u32 = 50;

/// A `BFDProfile` with every field decided (validation has checked the bounds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdProfile {
    /// `metadata.name`.
    pub name: String,
    /// `receiveInterval`: the fastest this end accepts packets.
    pub receive_interval: Duration,
    /// `transmitInterval`: the fastest this end sends packets.
    pub transmit_interval: Duration,
    /// `detectMultiplier`: packets missed before the session is declared down.
    pub detect_multiplier: u8,
    /// `passiveMode`: send nothing until the peer is heard.
    pub passive: bool,
    /// `minimumTtl`: the lowest TTL accepted on a multihop session.
    pub minimum_ttl: u8,
    /// `echoMode`: not acted on (ferrolb runs no echo function).
    pub echo_mode: bool,
    /// `echoInterval`: not acted on, as `echoMode`.
    pub echo_interval: Duration,
}

impl BfdProfile {
    /// The profile `spec` describes, with MetalLB's defaults for what it leaves out; a
    /// value out of bounds (refused by validation) also takes the default.
    pub fn of(name: &str, spec: &BFDProfileSpec) -> BfdProfile {
        let ms =
            |value: Option<u32>, default: u32| Duration::from_millis(u64::from(value.unwrap_or(default)));
        let small =
            |value: Option<u32>, default: u8| value.and_then(|v| u8::try_from(v).ok()).unwrap_or(default);
        BfdProfile {
            name: name.to_owned(),
            receive_interval: ms(spec.receive_interval, DEFAULT_INTERVAL_MS),
            transmit_interval: ms(spec.transmit_interval, DEFAULT_INTERVAL_MS),
            detect_multiplier: small(spec.detect_multiplier, DEFAULT_DETECT_MULTIPLIER).max(1),
            passive: spec.passive_mode.unwrap_or(false),
            minimum_ttl: small(spec.minimum_ttl, DEFAULT_MINIMUM_TTL),
            echo_mode: spec.echo_mode.unwrap_or(false),
            echo_interval: ms(spec.echo_interval, DEFAULT_ECHO_INTERVAL_MS),
        }
    }
}

/// The profile called `name`: the first in `namespace`, else the first of that name.
pub(super) fn find(snapshot: &Snapshot, name: &str, namespace: &str) -> Option<BfdProfile> {
    let named = || snapshot.bfd_profiles.iter().filter(|p| name_of(&p.object) == name);
    let profile: &BFDProfile = named()
        .find(|p| super::is_in(p.metadata.namespace.as_deref(), namespace))
        .or_else(|| named().next())?;
    Some(BfdProfile::of(name, &profile.spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_take_metallbs_defaults() {
        let profile = BfdProfile::of("p", &BFDProfileSpec::default());
        assert_eq!(profile.receive_interval, Duration::from_millis(300));
        assert_eq!(profile.transmit_interval, Duration::from_millis(300));
        assert_eq!((profile.detect_multiplier, profile.minimum_ttl), (3, 254));
        assert!(!profile.passive && !profile.echo_mode);
        assert_eq!(profile.echo_interval, Duration::from_millis(50));
    }

    #[test]
    fn set_fields_are_taken() {
        let spec = BFDProfileSpec {
            receive_interval: Some(50),
            transmit_interval: Some(60),
            detect_multiplier: Some(5),
            passive_mode: Some(true),
            minimum_ttl: Some(250),
            ..BFDProfileSpec::default()
        };
        let profile = BfdProfile::of("p", &spec);
        assert_eq!(profile.receive_interval, Duration::from_millis(50));
        assert_eq!(profile.transmit_interval, Duration::from_millis(60));
        assert_eq!((profile.detect_multiplier, profile.minimum_ttl, profile.passive), (5, 250, true));
    }
}
