//! What the peer helpers share: a scratch directory and a started daemon's health.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// A directory for one daemon's config, sockets and logs, removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `<netns dir>/<what>` afresh.
    pub fn new(netns: &Netns, what: &str) -> Result<Self> {
        Self::at(netns.dir().join(what))
    }

    /// Creates `path` afresh (removing an older one).
    pub fn at(path: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| Error::io("create directory", &path, e))?;
        Ok(ScratchDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` inside the directory; returns its path.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let p = self.path.join(name);
        std::fs::write(&p, contents).map_err(|e| Error::io("write", &p, e))?;
        Ok(p)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The last `n` lines of a log file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Fails with [`Error::DaemonExited`] if process `pid` in `netns` has exited.
pub fn ensure_running(netns: &Netns, pid: u32, daemon: &str, log: &Path) -> Result<()> {
    match netns.exit_status(pid) {
        None => Ok(()),
        Some(status) => Err(Error::DaemonExited {
            daemon: daemon.into(),
            netns: netns.name().into(),
            status: cmd::status_text(status),
            log: log.display().to_string(),
            tail: tail(log, 15),
        }),
    }
}

/// Waits until `path` exists while checking that daemon `pid` is still alive.
pub fn wait_for_path(
    netns: &Netns,
    pid: u32,
    daemon: &str,
    log: &Path,
    path: &Path,
    timeout: Duration,
) -> Result<()> {
    crate::wait::wait_until(&format!("{daemon} to create {}", path.display()), timeout, || {
        ensure_running(netns, pid, daemon, log)?;
        Ok(path.exists())
    })
}

/// Checks that a private ASN (64512–65534) is used.
pub fn check_asn(asn: u32) -> Result<()> {
    if (64512..=65534).contains(&asn) {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: format!("ASN {asn}"),
            reason: "labs use only private ASNs 64512-65534".into(),
        })
    }
}

/// Runs a short command and parses its stdout as JSON.
pub fn run_json(mut c: std::process::Command) -> Result<serde_json::Value> {
    let out = cmd::run(&mut c, cmd::DEFAULT_TIMEOUT)?;
    serde_json::from_str(&out).map_err(|e| Error::Parse { command: cmd::describe(&c), reason: e.to_string() })
}
