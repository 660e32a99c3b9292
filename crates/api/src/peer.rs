//! What a `BGPPeer` means, decided once: its timers and its AS numbers, as
//! MetalLB's config parser reads them (`internal/config/config.go`,
//! `parseTimers`). `validate` reports these rules' errors; `plan`, `run` and
//! the speaker build their sessions from the same answers, so a peer that
//! validates is the peer that runs.

use std::time::Duration as StdDuration;

use ferrolb_types::HoldTime;
use kube_core::Duration;

use crate::metallb::{BGPPeerSpec, DynamicAsnMode};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A peer's hold and keepalive times, as MetalLB derives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerTimers {
    /// The hold time OPEN carries: the whole seconds of the one written (or
    /// of three keepalives), as MetalLB truncates it.
    pub hold: HoldTime,
    /// The keepalive interval as written (or a third of the hold time).
    pub keepalive: StdDuration,
}

/// Why a peer's timers are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// `holdTime` truncates to 1 or 2 s, or is negative.
    #[error("holdTime {hold} is too short (expected 0 or at least 3s)")]
    HoldTooShort {
        /// The hold time, as Kubernetes prints it.
        hold: String,
    },
    /// `keepaliveTime` alone gives a hold time (three of it) that is too short.
    #[error(
        "keepaliveTime {keepalive} without holdTime makes holdTime {hold}, which is too short \
         (expected 0 or at least 3s)"
    )]
    ImpliedHoldTooShort {
        /// The keepalive time, as written.
        keepalive: String,
        /// The hold time it implies.
        hold: String,
    },
    /// `keepaliveTime` exceeds `holdTime`.
    #[error("keepaliveTime {keepalive} is longer than holdTime {hold} (expected at most the holdTime)")]
    KeepaliveLongerThanHold {
        /// The keepalive time.
        keepalive: String,
        /// The hold time.
        hold: String,
    },
}

impl TimerError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TimerError::HoldTooShort { .. } => "spec.holdTime",
            TimerError::ImpliedHoldTooShort { .. } | TimerError::KeepaliveLongerThanHold { .. } => {
                "spec.keepaliveTime"
            }
        }
    }
}

/// The timers of `spec`: `None` when it sets neither (the session's own
/// defaults apply). With one of the two, the other follows: keepalive a
/// third of the hold time, or hold three keepalives.
pub fn timers(spec: &BGPPeerSpec) -> Result<Option<PeerTimers>, TimerError> {
    let (hold, keepalive) = match (&spec.hold_time, &spec.keepalive_time) {
        (None, None) => return Ok(None),
        (Some(hold), Some(keepalive)) => (nanos(hold), nanos(keepalive)),
        (Some(hold), None) => (nanos(hold), nanos(hold) / 3),
        (None, Some(keepalive)) => (nanos(keepalive).saturating_mul(3), nanos(keepalive)),
    };
    let too_short = || match spec.hold_time {
        Some(_) => TimerError::HoldTooShort { hold: go_duration(hold) },
        None => {
            TimerError::ImpliedHoldTooShort { keepalive: go_duration(keepalive), hold: go_duration(hold) }
        }
    };
    // Truncated toward zero: a negative hold time under a second is 0,
    // which MetalLB accepts (no hold timer, so no keepalives); above
    // 65535 s, the most OPEN can carry.
    let whole_secs = hold / NANOS_PER_SEC;
    let seconds =
        if whole_secs < 0 { return Err(too_short()) } else { u16::try_from(whole_secs).unwrap_or(u16::MAX) };
    let hold_time = HoldTime::new(seconds).ok_or_else(too_short)?;
    if keepalive > hold {
        return Err(TimerError::KeepaliveLongerThanHold {
            keepalive: go_duration(keepalive),
            hold: go_duration(hold),
        });
    }
    let keepalive = StdDuration::from_nanos(u64::try_from(keepalive.max(0)).unwrap_or(u64::MAX));
    Ok(Some(PeerTimers { hold: hold_time, keepalive }))
}

/// The AS this node presents to the peer: `localASN` when set, else `myASN`.
pub fn local_asn(spec: &BGPPeerSpec) -> u32 {
    if spec.local_asn != 0 { spec.local_asn } else { spec.my_asn }
}

/// Whether the session is internal (iBGP): `dynamicASN` says so, or the
/// peer's AS is the one this node presents ([`local_asn`]).
pub fn is_ibgp(spec: &BGPPeerSpec) -> bool {
    match spec.dynamic_asn {
        Some(DynamicAsnMode::Internal) => true,
        Some(DynamicAsnMode::External) => false,
        None => spec.peer_asn == local_asn(spec),
    }
}

/// A signed duration in nanoseconds.
pub(crate) fn nanos(duration: &Duration) -> i128 {
    let magnitude = StdDuration::from(*duration).as_nanos() as i128;
    if duration.is_negative() { -magnitude } else { magnitude }
}

/// A duration as Kubernetes prints it back (Go's `time.Duration`):
/// `0s`, `500ms`, `1.5s`, `1m30s`, `20h0m0s`.
pub(crate) fn go_duration(nanos: i128) -> String {
    const NANOS_PER_MILLI: u128 = 1_000_000;
    const NANOS_PER_MICRO: u128 = 1_000;
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let per_sec = NANOS_PER_SEC.unsigned_abs();
    if n == 0 {
        return "0s".to_owned();
    }
    if n < per_sec {
        let (scale, unit) = match n {
            _ if n < NANOS_PER_MICRO => (1, "ns"),
            _ if n < NANOS_PER_MILLI => (NANOS_PER_MICRO, "\u{b5}s"),
            _ => (NANOS_PER_MILLI, "ms"),
        };
        return format!("{sign}{}{unit}", decimal(n, scale));
    }
    let whole = n / per_sec;
    let seconds = decimal((whole % 60) * per_sec + n % per_sec, per_sec);
    let (hours, minutes) = (whole / 3600, whole / 60 % 60);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, _) => format!("{sign}{minutes}m{seconds}s"),
        _ => format!("{sign}{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / scale` in decimal, with no trailing zeros after the point.
fn decimal(value: u128, scale: u128) -> String {
    let (whole, rest) = (value / scale, value % scale);
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let fraction = format!("{rest:0width$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hold: Option<&str>, keepalive: Option<&str>) -> BGPPeerSpec {
        let duration = |s: &str| s.parse::<Duration>().unwrap();
        BGPPeerSpec {
            hold_time: hold.map(duration),
            keepalive_time: keepalive.map(duration),
            ..Default::default()
        }
    }

    /// (holdTime, keepaliveTime) -> (hold s, keepalive ms), or the field refused.
    type Case = (Option<&'static str>, Option<&'static str>, Result<Option<(u64, u64)>, &'static str>);

    /// MetalLB's cases (`parseTimers`).
    const CASES: &[Case] = &[
        (None, None, Ok(None)),
        (Some("90s"), None, Ok(Some((90, 30_000)))),
        (None, Some("10s"), Ok(Some((30, 10_000)))),
        (Some("30s"), Some("10s"), Ok(Some((30, 10_000)))),
        (Some("0s"), None, Ok(Some((0, 0)))),
        (Some("3s"), None, Ok(Some((3, 1_000)))),
        (Some("2s"), None, Err("spec.holdTime")),
        (Some("2900ms"), None, Err("spec.holdTime")),
        (Some("4500ms"), None, Ok(Some((4, 1_500)))),
        (Some("500ms"), None, Ok(Some((0, 166)))),
        (Some("-2s"), None, Err("spec.holdTime")),
        (None, Some("900ms"), Err("spec.keepaliveTime")),
        (None, Some("1s"), Ok(Some((3, 1_000)))),
        (Some("9s"), Some("10s"), Err("spec.keepaliveTime")),
        (Some("9s"), Some("9s"), Ok(Some((9, 9_000)))),
    ];

    #[test]
    fn timers_follow_metallbs_parse_timers() {
        for &(hold, keepalive, want) in CASES {
            let got = timers(&spec(hold, keepalive))
                .map(|t| t.map(|t| (u64::from(t.hold.seconds()), t.keepalive.as_millis() as u64)))
                .map_err(|e| e.field());
            assert_eq!(got, want, "holdTime {hold:?} keepaliveTime {keepalive:?}");
        }
    }

    #[test]
    fn local_asn_wins_over_my_asn_for_ibgp() {
        let peer = |my, local, peer| BGPPeerSpec {
            my_asn: my,
            local_asn: local,
            peer_asn: peer,
            ..Default::default()
        };
        assert!(is_ibgp(&peer(64512, 0, 64512)));
        assert!(!is_ibgp(&peer(64512, 64513, 64512)), "localASN is what the router sees");
        assert!(is_ibgp(&peer(64512, 64513, 64513)));
        assert_eq!(local_asn(&peer(64512, 64513, 1)), 64513);
    }

    #[test]
    fn durations_print_as_kubernetes_prints_them() {
        for (nanos, text) in
            [(0, "0s"), (500_000_000, "500ms"), (1_500_000_000, "1.5s"), (90 * NANOS_PER_SEC, "1m30s")]
        {
            assert_eq!(go_duration(nanos), text);
        }
        assert_eq!(go_duration(-2 * NANOS_PER_SEC), "-2s");
    }
}
