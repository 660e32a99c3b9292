//! How soon the allocator gives freed memory back to the kernel.
//!
//! ferrolb's binaries allocate with mimalloc. Its version 3 keeps freed pages
//! resident for a second before it purges them (version 2 waited 10 ms), so
//! the transient memory of each stage of a large load (parsing, allocation,
//! planning) stays resident while the next stage allocates: at 100,000
//! Services that was a fifth of the process's peak. The option can be set
//! by the environment (`MIMALLOC_PURGE_DELAY`) or by mimalloc's C interface;
//! the `mimalloc` crate has no safe call for it.
#![allow(unsafe_code)] // mimalloc's options have no safe wrapper.

use std::time::Duration;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of mimalloc 3's `mimalloc.h` (the Rust bindings
/// name the options of version 2 only); a test checks its default.
const PURGE_DELAY: mi_option_t = 15;

/// Makes mimalloc purge freed memory `delay` after it is freed (in whole
/// milliseconds). Harmless when mimalloc is not the global allocator.
pub fn purge_freed_memory_after(delay: Duration) {
    let ms = libc::c_long::try_from(delay.as_millis()).unwrap_or(libc::c_long::MAX);
    // SAFETY: mi_option_set only stores a value in mimalloc's option table;
    // PURGE_DELAY is one of its options.
    unsafe { mi_option_set(PURGE_DELAY, ms) }
}

/// The purge delay in force; `None` when freed memory is never purged
/// (mimalloc's -1).
pub fn purge_delay() -> Option<Duration> {
    // SAFETY: mi_option_get only reads mimalloc's option table (and the
    // environment the first time).
    let ms = unsafe { mi_option_get(PURGE_DELAY) };
    u64::try_from(ms).ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_mimallocs_purge_delay_and_can_be_set() {
        // mimalloc 3 defaults to 1000 ms; another option number would read
        // something else (and the environment of the test may not set it).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), Some(Duration::from_millis(1000)));
        }
        purge_freed_memory_after(Duration::from_millis(10));
        assert_eq!(purge_delay(), Some(Duration::from_millis(10)));
    }
}
