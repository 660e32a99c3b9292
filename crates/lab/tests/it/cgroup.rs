//! The CPU limit the chaos lab puts on nodes.

use std::time::Duration;

use ferrolb_lab::CpuLimit;

use crate::support::require_lab;

/// A busy process under 100m is stalled, and gets back to
/// the root group when the limit goes.
#[test]
fn a_busy_process_under_a_100m_limit_is_throttled() {
    require_lab!("sh");
    let mut busy = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
    let limit = CpuLimit::new("test", 100).unwrap();
    limit.add(busy.id()).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let throttling = limit.throttling().unwrap();
    drop(limit);
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", busy.id())).unwrap();
    busy.kill().unwrap();
    busy.wait().unwrap();
    // Counts, not timings: a busy loop uses its 10 ms of a period and is stalled.
    assert!(throttling.throttled > 0, "{throttling:?}");
    assert!(!cgroup.contains("ferrolb-lab-"), "still in the lab's group: {cgroup}");
}
