//! A process the lab starts in its own network namespace (the test's), such
//! as the control plane or a controller: its output in a log file, stopped
//! (SIGTERM, then SIGKILL) and reaped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use crate::cmd;
use crate::daemon::tail;
use crate::error::{Error, Result};
use crate::netns::{STOP_GRACE, spawn_logged, stop_children};

/// A running process started by the lab outside any namespace it created.
#[derive(Debug)]
pub struct HostProcess {
    name: String,
    log: PathBuf,
    child: Option<Child>,
}

impl HostProcess {
    /// Starts `command`, its stdout and stderr appended to `log`; `name` is for messages.
    pub fn spawn(name: &str, command: Command, log: &Path) -> Result<HostProcess> {
        let child = spawn_logged(command, log)?;
        Ok(HostProcess { name: name.to_owned(), log: log.to_owned(), child: Some(child) })
    }

    /// Its process id (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails with [`Error::DaemonExited`] (and the log's tail) if it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        let status = match self.child.as_mut() {
            None => None,
            Some(child) => match child.try_wait() {
                Ok(None) => return Ok(()),
                Ok(Some(status)) => Some(status),
                Err(_) => None,
            },
        };
        Err(Error::DaemonExited {
            daemon: self.name.clone(),
            netns: "host".into(),
            status: status.map_or_else(|| "stopped".into(), cmd::status_text),
            log: self.log.display().to_string(),
            tail: tail(&self.log, 15),
        })
    }

    /// Stops it: SIGTERM, then SIGKILL after `grace`; reaps it.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        stop_children(self.child.take().into_iter().collect(), grace).into_iter().next()
    }

    /// SIGKILLs it (a crash: no chance to clean up) and reaps it.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}
