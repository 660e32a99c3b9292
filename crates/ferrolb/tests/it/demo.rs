//! `ferrolb lab demo`, the README's main job, runs to the end and leaves nothing behind.

use std::process::Command;

use crate::support::lab_ready;

#[test]
fn the_demo_shows_l2_bgp_and_a_failover_then_removes_its_namespaces() {
    if !lab_ready(&["ip", "vtysh", "python3", "curl", "arping"]) {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolb")).args(["lab", "demo"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "(only the leader answers)",
        "FRR: sessions with node1, node2 and node3 Established",
        "sends Cease to FRR",
        "got no answer for",
        "done.",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    let namespaces = stdout.lines().find_map(|l| l.trim().strip_prefix("namespaces: ")).unwrap();
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    for ns in namespaces.split_whitespace() {
        assert!(!left.contains(ns), "{ns} left behind:\n{left}");
    }
}
