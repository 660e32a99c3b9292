//! A CPU limit for lab processes, as a Kubernetes container's `limits.cpu`
//! sets one: a CFS quota per 100 ms period, so a process that used its share
//! is stalled until the next period (tens of milliseconds at a time). Works
//! with cgroup v2 (`cpu.max`) and v1 (`cpu.cfs_quota_us`); processes go back
//! to the root group and the group is removed when the handle is dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// The CFS period Kubernetes uses (and the kernel's default).
const PERIOD_US: u64 = 100_000;

/// A cgroup whose processes share `millicores` thousandths of one CPU.
#[derive(Debug)]
pub struct CpuLimit {
    dir: PathBuf,
    /// The group processes go back to (the hierarchy's root).
    root: PathBuf,
}

/// How often a [`CpuLimit`]'s processes were stalled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttling {
    /// CFS periods in which a process of the group ran.
    pub periods: u64,
    /// Periods in which the group used its quota and was stalled.
    pub throttled: u64,
    /// The time stalled, in all.
    pub stalled: Duration,
}

impl CpuLimit {
    /// A new group named after `name` and this process, limited to `millicores`.
    pub fn new(name: &str, millicores: u64) -> Result<CpuLimit> {
        let quota = (millicores * PERIOD_US / 1000).max(1000);
        let unique = format!("ferrolb-lab-{}-{name}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
        let (root, limit) = if v2.exists() {
            let root = PathBuf::from("/sys/fs/cgroup");
            // The cpu controller must be enabled for the root's children.
            let subtree = root.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&subtree).map_err(|e| Error::io("read", &subtree, e))?;
            if !enabled.split_whitespace().any(|c| c == "cpu") {
                write(&subtree, "+cpu")?;
            }
            (root, vec![("cpu.max", format!("{quota} {PERIOD_US}"))])
        } else {
            let root = PathBuf::from("/sys/fs/cgroup/cpu");
            if !root.join("cpu.cfs_quota_us").exists() {
                return Err(Error::Invalid {
                    what: "CPU limit".to_owned(),
                    reason: "neither cgroup v2 nor v1's cpu controller is mounted under /sys/fs/cgroup"
                        .to_owned(),
                });
            }
            (
                root,
                vec![("cpu.cfs_period_us", PERIOD_US.to_string()), ("cpu.cfs_quota_us", quota.to_string())],
            )
        };
        let dir = root.join(unique);
        std::fs::create_dir(&dir).map_err(|e| Error::io("create cgroup", &dir, e))?;
        let group = CpuLimit { dir, root };
        for (file, value) in limit {
            write(&group.dir.join(file), &value)?;
        }
        Ok(group)
    }

    /// Moves process `pid` (every thread of it) into the group, and lets it
    /// see its group as a container sees its own: `ip netns exec` gives a
    /// process a fresh sysfs without the cgroup mounts, so they are mounted
    /// again in its mount namespace (which only it and its children share).
    pub fn add(&self, pid: u32) -> Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())?;
        let mounts = if self.root.ends_with("cpu") {
            "mountpoint -q /sys/fs/cgroup || mount -t tmpfs cgroup /sys/fs/cgroup; \
             mkdir -p /sys/fs/cgroup/cpu; \
             mountpoint -q /sys/fs/cgroup/cpu || mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu"
        } else {
            "mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup"
        };
        crate::cmd::in_mount_namespace(pid, mounts)?;
        Ok(())
    }

    /// How often the group's processes were stalled so far.
    pub fn throttling(&self) -> Result<Throttling> {
        let path = self.dir.join("cpu.stat");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        Ok(parse_cpu_stat(&text))
    }
}

/// `cpu.stat` of either version: v2 counts the stalled time in µs, v1 in ns.
fn parse_cpu_stat(text: &str) -> Throttling {
    let mut t = Throttling::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(Ok(value))) = (words.next(), words.next().map(str::parse::<u64>)) else {
            continue;
        };
        match key {
            "nr_periods" => t.periods = value,
            "nr_throttled" => t.throttled = value,
            "throttled_usec" => t.stalled = Duration::from_micros(value),
            "throttled_time" => t.stalled = Duration::from_nanos(value),
            _ => {}
        }
    }
    t
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stat_of_both_versions() {
        let v2 = "usage_usec 5\nnr_periods 31\nnr_throttled 30\nthrottled_usec 2755891\n";
        let v1 = "nr_periods 31\nnr_throttled 30\nthrottled_time 2755891547\nnr_bursts 0\n";
        let expected = Throttling { periods: 31, throttled: 30, stalled: Duration::from_micros(2_755_891) };
        assert_eq!(parse_cpu_stat(v2), expected);
        assert_eq!(
            Throttling { stalled: Duration::from_nanos(2_755_891_547), ..expected },
            parse_cpu_stat(v1)
        );
    }
}
