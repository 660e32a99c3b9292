//! Deciding whether a network test can run, and checking that a lab left nothing behind.

use std::process::Command;

/// Returns from the test (skipped) when it cannot run here; panics instead in CI.
macro_rules! require_lab {
    ($($binary:expr),* $(,)?) => {
        if !$crate::support::lab_ready(&[$($binary),*]) {
            return;
        }
    };
}
pub(crate) use require_lab;

/// Whether the test can run (with `ip`, `ss` and `sysctl` besides `binaries`).
pub fn lab_ready(binaries: &[&str]) -> bool {
    let mut all = vec!["ip", "ss", "sysctl"];
    all.extend_from_slice(binaries);
    ferrolb_lab::lab_ready(&all)
}

/// Names of the namespaces that exist now.
pub fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Panics unless every namespace in `names` is gone and no process in `pids` is alive.
pub fn assert_nothing_left(names: &[String], pids: &[u32]) {
    let existing = namespaces();
    let left: Vec<&String> = names.iter().filter(|n| existing.contains(n)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let dirs: Vec<_> = names.iter().map(|n| std::env::temp_dir().join(n)).filter(|d| d.exists()).collect();
    assert!(dirs.is_empty(), "scratch directories left behind: {dirs:?}");
    let alive: Vec<&u32> = pids.iter().filter(|p| ferrolb_lab::process_alive(**p)).collect();
    assert!(alive.is_empty(), "processes left behind: {alive:?}");
}
