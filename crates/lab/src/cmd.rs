//! Running commands with a timeout, capturing their output.

use std::io::Read;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Default time a short command (ip, vtysh, birdc, gobgp) is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The command line of `cmd`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to completion within `timeout` and returns its output, whatever its exit status.
///
/// On timeout the command is killed and [`Error::CommandTimeout`] returned.
pub fn output(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let command = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    // Readers on threads so a full pipe never blocks the child; their results come back over
    // channels with a deadline, because a grandchild may keep a pipe open forever.
    let out_rx = read_on_thread(child.stdout.take());
    let err_rx = read_on_thread(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::CommandTimeout { command, timeout });
            }
            Err(source) => return Err(Error::Spawn { command, source }),
        }
    };
    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(500));
    let stdout = out_rx.recv_timeout(remaining).unwrap_or_default();
    let stderr = err_rx.recv_timeout(Duration::from_millis(500)).unwrap_or_default();
    Ok(Output { status, stdout, stderr })
}

fn read_on_thread<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    } else {
        let _ = tx.send(Vec::new());
    }
    rx
}

/// Runs `cmd` within `timeout`; fails unless it exits with status 0. Returns its standard output.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let out = output(cmd, timeout)?;
    check(cmd, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs shell `script` in the mount namespace of process `pid` (as root):
/// what a process started by `ip netns exec` sees of the file system is its
/// own, and changes made there stay there.
pub fn in_mount_namespace(pid: u32, script: &str) -> Result<String> {
    let mut nsenter = Command::new("nsenter");
    nsenter.args(["-t", &pid.to_string(), "-m", "sh", "-c", script]);
    run(&mut nsenter, DEFAULT_TIMEOUT)
}

/// Turns a non-zero exit into [`Error::Command`] carrying the command line and its stderr.
pub fn check(cmd: &Command, out: &Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.is_empty() {
        // Some tools (birdc, vtysh) report errors on stdout.
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    Err(Error::Command { command: describe(cmd), status: status_text(out.status), stderr })
}

/// An exit status in words ("exit status 1", "signal 9").
pub fn status_text(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// The full path of executable `name`, looked up on `PATH` unless `name` is already a path.
pub fn find_binary(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &std::path::Path| {
        p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    };
    if name.contains('/') {
        let p = std::path::PathBuf::from(name);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_exec(p))
}
