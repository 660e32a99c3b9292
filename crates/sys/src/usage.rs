//! What the process has used so far, for benchmarks: CPU time is steadier
//! than wall time on a shared machine.
#![allow(unsafe_code)] // getrusage has no safe wrapper in std or a maintained small crate.

use std::time::Duration;

/// CPU time (user + system) of this process and every thread in it so far.
pub fn cpu_time() -> Duration {
    // SAFETY: rusage is plain old data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a live rusage for getrusage to fill; RUSAGE_SELF is valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        // Work until the CPU time moves, not for a span of wall time that a
        // busy machine may give to other processes: the minute only ends a
        // clock that never moves.
        let before = cpu_time();
        let give_up = std::time::Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        while cpu_time() <= before {
            assert!(std::time::Instant::now() < give_up, "no CPU time counted after a minute of work");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
    }
}
