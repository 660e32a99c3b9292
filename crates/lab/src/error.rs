//! What can go wrong while building a lab or talking to a peer.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Result of a lab operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed lab operation; each variant names the command, file or condition involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command could not be started at all (binary missing, not executable).
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        source: io::Error,
    },
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A command did not finish within its timeout and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    CommandTimeout {
        /// The command line.
        command: String,
        /// The time it was given.
        timeout: Duration,
    },
    /// A condition polled by a waiting helper did not hold in time.
    #[error("timed out after {timeout:?} waiting for {what}{}", last_detail(.last))]
    Timeout {
        /// The condition, in words.
        what: String,
        /// The time it was given.
        timeout: Duration,
        /// The last error or observation while polling, if any.
        last: Option<String>,
    },
    /// The output of a command was not what was expected.
    #[error("cannot parse the output of `{command}`: {reason}")]
    Parse {
        /// The command line.
        command: String,
        /// What was wrong.
        reason: String,
    },
    /// A file or directory operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("write", "create directory"...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A daemon started in a namespace exited before it was stopped.
    #[error("{daemon} in namespace {netns} exited early ({status}); last lines of {log}:\n{tail}")]
    DaemonExited {
        /// The daemon's name.
        daemon: String,
        /// The namespace it ran in.
        netns: String,
        /// How it exited.
        status: String,
        /// Its log file.
        log: String,
        /// The last lines of that log.
        tail: String,
    },
    /// An argument was not acceptable (outside the documentation ranges, bad name...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The argument.
        what: String,
        /// Why it was refused.
        reason: String,
    },
}

fn last_detail(last: &Option<String>) -> String {
    last.as_ref().map(|l| format!(" (last: {l})")).unwrap_or_default()
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
