//! Polling until a condition holds, with a timeout.

use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Polls `check` until it returns `Ok(true)` or `timeout` passes.
///
/// Errors from `check` do not stop the polling (a daemon may not answer yet); the last one is
/// reported in [`Error::Timeout`]. [`Error::DaemonExited`] is the exception: it is returned at
/// once, since a daemon that exited will not come back. The interval starts at 10 ms and grows
/// to 100 ms.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(10);
    let mut last = None;
    loop {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e @ Error::DaemonExited { .. }) => return Err(e),
            Err(e) => last = Some(e.to_string()),
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout { what: what.to_owned(), timeout, last });
        }
        thread::sleep(interval);
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}
