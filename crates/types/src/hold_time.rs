//! BGP hold times.

use std::time::Duration;

/// A BGP hold time: 0 (no keepalives, no hold timer) or at least 3 s (RFC 4271 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldTime(u16);

impl HoldTime {
    /// Hold time 0: keepalives and the hold timer are off.
    pub const DISABLED: HoldTime = HoldTime(0);
    /// The RFC 4271 §10 suggested default, 90 s.
    pub const DEFAULT: HoldTime = HoldTime(90);

    /// A hold time, or `None` for 1 and 2 s, which RFC 4271 §4.2 forbids.
    pub const fn new(seconds: u16) -> Option<HoldTime> {
        if seconds == 1 || seconds == 2 { None } else { Some(HoldTime(seconds)) }
    }

    /// The value in seconds.
    pub const fn seconds(self) -> u16 {
        self.0
    }

    /// Whether the hold timer is off (hold time 0).
    pub const fn is_disabled(self) -> bool {
        self.0 == 0
    }

    /// The hold time as a duration.
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }

    /// The negotiated hold time: the smaller of ours and the peer's (RFC 4271 §4.2).
    pub fn negotiate(self, peer: HoldTime) -> HoldTime {
        self.min(peer)
    }

    /// The keepalive interval, a third of the hold time (RFC 4271 §10); `None` if disabled.
    pub const fn keepalive_interval(self) -> Option<Duration> {
        if self.0 == 0 { None } else { Some(Duration::from_secs(self.0 as u64 / 3)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hold_time_of_one_or_two_seconds_cannot_exist() {
        assert_eq!(HoldTime::new(1), None);
        assert_eq!(HoldTime::new(2), None);
        assert_eq!(HoldTime::new(0), Some(HoldTime::DISABLED));
        assert_eq!(HoldTime::new(3).map(HoldTime::seconds), Some(3));
    }

    #[test]
    fn negotiated_hold_time_is_the_smaller_and_zero_disables_keepalives() {
        let ours = HoldTime::new(90).unwrap();
        let theirs = HoldTime::new(9).unwrap();
        assert_eq!(ours.negotiate(theirs), theirs);
        assert_eq!(theirs.keepalive_interval(), Some(Duration::from_secs(3)));
        assert_eq!(ours.negotiate(HoldTime::DISABLED).keepalive_interval(), None);
    }

    proptest! {
        #[test]
        fn a_hold_time_gives_back_its_seconds(seconds: u16) {
            let hold = HoldTime::new(seconds);
            prop_assert_eq!(hold.is_none(), seconds == 1 || seconds == 2);
            if let Some(hold) = hold {
                prop_assert_eq!(hold.seconds(), seconds);
                prop_assert_eq!(hold.as_duration(), Duration::from_secs(seconds.into()));
            }
        }
    }
}
