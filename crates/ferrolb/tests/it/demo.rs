//! `ferrolb lab demo`, the README's main job, runs to the end and leaves
//! nothing behind, from one file and with kubectl on a real control plane.

use std::path::Path;
use std::process::Command;

use ferrolb_lab::k8s::{GoTools, go_tools_ready};

use crate::support::lab_ready;

/// What the demo needs on the machine, in both modes.
const NEEDS: &[&str] = &["ip", "vtysh", "python3", "curl", "arping"];

/// Runs `ferrolb lab demo ARGS` to its end; what it printed.
fn demo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolb")).args(["lab", "demo"]).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn assert_tells(stdout: &str, lines: &[&str]) {
    for expected in lines {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

/// Every namespace the demo named is gone.
fn assert_namespaces_removed(stdout: &str) {
    let namespaces = stdout.lines().find_map(|l| l.trim().strip_prefix("namespaces: ")).unwrap();
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    for ns in namespaces.split_whitespace() {
        assert!(!left.contains(ns), "{ns} left behind:\n{left}");
    }
}

#[test]
fn the_demo_shows_l2_bgp_and_a_failover_then_removes_its_namespaces() {
    if !lab_ready(NEEDS) {
        return;
    }
    let stdout = demo(&[]);
    assert_tells(
        &stdout,
        &[
            "(only the leader answers)",
            "FRR: sessions with node1, node2 and node3 Established",
            "sends Cease to FRR",
            "got no answer for",
            "done.",
        ],
    );
    assert_namespaces_removed(&stdout);
}

#[test]
fn the_kubernetes_demo_tells_the_story_with_kubectl_then_removes_the_control_plane() {
    if !lab_ready(NEEDS) || go_tools_ready(GoTools::missing_control_plane).is_none() {
        return;
    }
    let stdout = demo(&["--kubernetes"]);
    assert_tells(
        &stdout,
        &[
            "kubectl apply -f deploy/ferrolb.yaml",
            "every CRD Established",
            "ferrolb controller --no-leader-election",
            "node3: ferrolb speaker --node node3",
            "kubectl apply -n metallb-system: ipaddresspool/lan, l2advertisement/lan, ipaddresspool/routed",
            "web-l2    LoadBalancer",
            "198.51.100.200",
            "what kube-proxy would do",
            "servicel2status.metallb.io/l2-",
            "servicebgpstatus.metallb.io/bgp-",
            "as its ServiceL2Status says)",
            "FRR: sessions with node1, node2 and node3 Established",
            "192.0.2.100 via 198.51.100.11, 198.51.100.12, 198.51.100.13",
            "got no answer for",
            "leads now, as its ServiceL2Status says",
            "done.",
        ],
    );
    assert_namespaces_removed(&stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.split_once("(files in ").and_then(|(_, rest)| rest.strip_suffix(')')))
        .expect("the control plane's directory");
    assert!(!Path::new(dir).exists(), "the control plane's files are left in {dir}");
}
