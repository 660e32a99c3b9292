//! When to start a session again after a failure (RFC 4271 §8.1.1's
//! IdleHoldTimer, "dampening" of persistent oscillations).
//!
//! Each failure of an attempt that never reached Established doubles the
//! wait, from `SessionConfig::idle_hold` up to [`MAX_IDLE_HOLD`]. A session
//! that was Established for [`STABLE_AFTER`] starts the series over; one that
//! dropped sooner keeps the current wait (neither grows nor shrinks it), so a
//! peer that resets a session now and then is still retried at once, while
//! one that was unreachable for a while and flaps on return is retried at the
//! slower pace.

use std::time::{Duration, Instant};

/// The longest wait before reconnecting after repeated failures.
pub const MAX_IDLE_HOLD: Duration = Duration::from_secs(30);

/// How long a session must have been Established for the backoff to start over.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Doubles the idle hold wait while failures repeat (see the module doc).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    established_at: Option<Instant>,
}

impl Backoff {
    /// Waits of `base`, then twice as long each time up to `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max: max.max(base), failures: 0, established_at: None }
    }

    /// The session became Established at `now`.
    pub fn established(&mut self, now: Instant) {
        self.established_at = Some(now);
    }

    /// The wait before the next attempt, after a failure at `now`.
    pub fn next_wait(&mut self, now: Instant) -> Duration {
        let flapped = match self.established_at.take() {
            Some(at) if now.saturating_duration_since(at) >= STABLE_AFTER => {
                self.failures = 0;
                false
            }
            Some(_) => true,
            None => false,
        };
        let wait = self.base.saturating_mul(1u32 << self.failures.min(16)).min(self.max);
        if !flapped {
            self.failures = self.failures.saturating_add(1);
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_idle_hold_wait_doubles_up_to_the_maximum() {
        let mut backoff = Backoff::new(secs(1), MAX_IDLE_HOLD);
        let now = Instant::now();
        let waits: Vec<u64> = (0..8).map(|_| backoff.next_wait(now).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        for _ in 0..100 {
            assert_eq!(backoff.next_wait(now), MAX_IDLE_HOLD);
        }
    }

    #[test]
    fn a_session_established_for_a_while_starts_the_backoff_over() {
        let mut backoff = Backoff::new(secs(1), MAX_IDLE_HOLD);
        let t0 = Instant::now();
        for _ in 0..4 {
            backoff.next_wait(t0);
        }
        // Established only briefly: the wait stays where it was.
        backoff.established(t0);
        assert_eq!(backoff.next_wait(t0 + secs(5)), secs(16));
        backoff.established(t0 + secs(20));
        assert_eq!(backoff.next_wait(t0 + secs(25)), secs(16));
        // Failing again before Established: it grows again.
        assert_eq!(backoff.next_wait(t0 + secs(45)), secs(16));
        assert_eq!(backoff.next_wait(t0 + secs(47)), secs(30));
        // Established long enough: back to the base wait.
        backoff.established(t0 + secs(50));
        assert_eq!(backoff.next_wait(t0 + secs(50) + STABLE_AFTER), secs(1));
        assert_eq!(backoff.next_wait(t0 + secs(200)), secs(2));

        // A session that keeps being reset soon after coming up is retried at the base pace.
        let mut backoff = Backoff::new(secs(1), MAX_IDLE_HOLD);
        for i in 0..10 {
            backoff.established(t0 + secs(i));
            assert_eq!(backoff.next_wait(t0 + secs(i)), secs(1));
        }
    }

    #[test]
    fn the_base_wait_is_the_configured_idle_hold() {
        let mut backoff = Backoff::new(secs(5), MAX_IDLE_HOLD);
        let now = Instant::now();
        let waits: Vec<u64> = (0..4).map(|_| backoff.next_wait(now).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 30]);
    }
}
