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

/// The text after `marker` on the first line holding it.
fn after<'a>(stdout: &'a str, marker: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.split_once(marker).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{stdout}"))
}

/// The nodes of a list of owners as the demo prints them: `MAC (node2), MAC (node2)`.
fn owners(list: &str) -> Vec<&str> {
    list.split(", ")
        .map(|o| o.rsplit_once(" (").and_then(|(_, n)| n.strip_suffix(')')).unwrap_or(o))
        .collect()
}

/// What the L2 steps of either demo saw, not only their words: every ARP
/// reply from `leader`, then after its failure an answer from another node,
/// which alone answers ARP. Returns that node.
fn assert_l2_story<'a>(stdout: &'a str, leader: &str) -> &'a str {
    let (replies, _) = after(stdout, "ARP replies: ")
        .split_once(" (only the leader answers")
        .unwrap_or_else(|| panic!("no claim about the leader in:\n{stdout}"));
    let replies = owners(replies);
    assert!(
        !replies.is_empty() && replies.iter().all(|o| *o == leader),
        "{replies:?}, not {leader}:\n{stdout}"
    );
    let outage = after(stdout, "got no answer for ");
    let (ms, rest) = outage.split_once(" ms; then ").unwrap_or_else(|| panic!("{outage}"));
    assert!(ms.parse::<u32>().is_ok(), "{outage}");
    let next = rest.strip_suffix(" answered").unwrap_or_else(|| panic!("{outage}"));
    assert!(next.starts_with("node") && next != leader, "{next} answered after {leader} failed:\n{stdout}");
    let now = owners(after(stdout, "ARP replies now: "));
    assert!(!now.is_empty() && now.iter().all(|o| *o == next), "{now:?}, not {next}:\n{stdout}");
    next
}

/// The gateways of `A, B, C` (the router's kernel route).
fn gateways(list: &str) -> Vec<&str> {
    list.split(", ").collect()
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
    let leader = after(&stdout, "L2: ").strip_suffix(" elected (gossip among node1..3)").expect("the leader");
    assert_l2_story(&stdout, leader);
    assert_eq!(after(&stdout, "from the client → "), leader, "the leader serves the VIP");
    assert_eq!(gateways(after(&stdout, "router's kernel: 192.0.2.100 via ")).len(), 3, "{stdout}");
    let (away, _) = after(&stdout, "whose kernel route is via ")
        .strip_suffix(" s later")
        .and_then(|r| r.rsplit_once(' '))
        .expect("the route after SIGTERM");
    assert_eq!(gateways(away).len(), 2, "one path fewer after SIGTERM:\n{stdout}");
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
    let leader = after(&stdout, "only the leader answers: ").split_once(',').expect("the leader").0;
    let next = assert_l2_story(&stdout, leader);
    assert!(stdout.contains(&format!("  {next} leads now, as its ServiceL2Status says")), "{stdout}");
    assert_namespaces_removed(&stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.split_once("(files in ").and_then(|(_, rest)| rest.strip_suffix(')')))
        .expect("the control plane's directory");
    assert!(!Path::new(dir).exists(), "the control plane's files are left in {dir}");
}
