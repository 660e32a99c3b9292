//! How long this process may be stalled by a CPU limit: under a CFS quota
//! (a container's `limits.cpu`), a process that used its share of a period
//! waits for the next one, so it can be silent for up to one period (100 ms
//! by default) without being dead. The L2 heartbeat tells its watchers so.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The CFS period of this process's cgroup if a CPU quota is set (cgroup v2
/// `cpu.max`, or v1 `cpu.cfs_quota_us`), else `None`.
pub fn stall_bound() -> Option<Duration> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let root = Path::new("/sys/fs/cgroup");
    // In a container with its own cgroup namespace the group is mounted at
    // the root; elsewhere at its path under the root.
    let candidates = |mount: &Path, path: &str| -> [PathBuf; 2] {
        [mount.join(path.trim_start_matches('/')), mount.to_owned()]
    };
    if let Some(path) = v2_path(&own) {
        for dir in candidates(root, path) {
            if let Ok(text) = std::fs::read_to_string(dir.join("cpu.max")) {
                return parse_cpu_max(&text);
            }
        }
    }
    if let Some((mount, path)) = v1_path(&own) {
        for dir in candidates(&root.join(mount), path) {
            let read = |file| std::fs::read_to_string(dir.join(file)).ok();
            if let (Some(quota), Some(period)) = (read("cpu.cfs_quota_us"), read("cpu.cfs_period_us")) {
                return parse_v1(&quota, &period);
            }
        }
    }
    None
}

/// The unified hierarchy's path of `/proc/self/cgroup` (`0::PATH`).
fn v2_path(own: &str) -> Option<&str> {
    own.lines().find_map(|line| line.strip_prefix("0::"))
}

/// The v1 cpu controller's mount directory name and path (`N:cpu,cpuacct:PATH`).
fn v1_path(own: &str) -> Option<(&str, &str)> {
    own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == "cpu").then_some((controllers, path))
    })
}

/// `cpu.max`: `QUOTA PERIOD` in µs, `max` for no quota.
fn parse_cpu_max(text: &str) -> Option<Duration> {
    let mut words = text.split_whitespace();
    let (quota, period) = (words.next()?, words.next()?);
    if quota == "max" {
        return None;
    }
    quota.parse::<u64>().ok()?;
    period.parse().ok().map(Duration::from_micros)
}

/// v1's quota (`-1` for none) and period, in µs.
fn parse_v1(quota: &str, period: &str) -> Option<Duration> {
    if quota.trim().parse::<i64>().ok()? < 0 {
        return None;
    }
    period.trim().parse().ok().map(Duration::from_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_bounds_a_stall_by_its_period() {
        assert_eq!(parse_cpu_max("10000 100000\n"), Some(Duration::from_millis(100)));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_v1("10000\n", "50000\n"), Some(Duration::from_millis(50)));
        assert_eq!(parse_v1("-1\n", "100000\n"), None);
    }

    #[test]
    fn the_cgroup_of_each_version_is_found() {
        let v2 = "0::/kubepods/burstable/pod1/abc\n";
        assert_eq!(v2_path(v2), Some("/kubepods/burstable/pod1/abc"));
        let v1 = "12:pids:/x\n4:cpu,cpuacct:/kubepods/pod1/abc\n1:name=systemd:/y\n";
        assert_eq!(v1_path(v1), Some(("cpu,cpuacct", "/kubepods/pod1/abc")));
        assert_eq!(v2_path(v1), None);
        assert_eq!(v1_path("4:cpuset:/a\n"), None);
    }

    /// Whatever this machine has, reading it does not fail or panic.
    #[test]
    fn this_process_can_be_asked() {
        let _ = stall_bound();
    }
}
