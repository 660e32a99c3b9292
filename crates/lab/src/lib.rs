//! Network-namespace labs for ferrolb's tests, benchmarks and `ferrolb lab`.
//!
//! Namespaces ([`Netns`]), veth pairs ([`veth`]), L2 segments ([`Segment`]), the reference
//! [`Topology`] (nodes, router and clients), waiting helpers
//! ([`wait_until`], [`Netns::wait_route`], [`Netns::wait_tcp_listening`]), and real BGP peers
//! started inside them: [`Frr`], [`Bird`], [`GoBgp`], each with a config generator and a query
//! API. Everything is blocking (`std::process`, `std::net`) with timeouts, and everything a lab
//! creates is removed when its handles are dropped, also when a test panics.
//!
//! Only documentation addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
//! 2001:db8::/32) and private ASNs (64512–65534) are accepted, and only inside namespaces the
//! lab created. Needs root and the Debian packages listed by [`REQUIRED_BINARIES`].

mod bird;
mod cgroup;
pub mod cmd;
mod daemon;
mod error;
mod frr;
mod gobgp;
mod host_process;
pub mod k8s;
mod keepalived;
pub mod mrt;
mod netns;
pub mod outage;
pub mod probe;
pub mod prometheus;
mod topology;
pub mod traffic;
mod wait;

pub use bird::{
    BIRD_BFD_PROTOCOL, Bird, BirdBfdNeighbor, BirdBfdSession, BirdConfig, BirdNeighbor, BirdProtocol,
    parse_bfd_sessions, parse_protocols,
};
pub use cgroup::{CpuLimit, Throttling};
pub use daemon::ScratchDir;
pub use error::{Error, Result};
pub use frr::{FRR_DIR, Frr, FrrBfdPeer, FrrConfig, FrrNeighbor};
pub use gobgp::{GoBgp, GoBgpConfig, GoBgpNeighbor};
pub use host_process::HostProcess;
pub use keepalived::{DEFAULT_ADVERT_INT, FASTEST_ADVERT_INT, KEEPALIVED, Keepalived, KeepalivedConfig};
pub use netns::{Netns, Nexthop, Route, STOP_GRACE, Segment, Via, check_documentation, process_alive, veth};
pub use topology::{Node, ROUTER_V4, ROUTER_V6, Topology};
pub use wait::wait_until;

/// MetalLB's memberlist Secret as a document of a cluster file: the gossip
/// secret every L2 lab gives its nodes (`ferrolb run` refuses L2 mode without
/// one). A lab's secret, known to everyone: never one for a real network.
pub const GOSSIP_SECRET_DOCUMENT: &str = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: memberlist, namespace: metallb-system}\nstringData: {secretkey: lab-gossip-secret}\n";

/// Every binary the network tests use, with the Debian package that provides it.
pub const REQUIRED_BINARIES: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("ping", "iputils-ping"),
    ("sysctl", "procps"),
    ("nsenter", "util-linux"),
    ("/usr/lib/frr/zebra", "frr"),
    ("/usr/lib/frr/bgpd", "frr"),
    ("/usr/lib/frr/bfdd", "frr"),
    ("vtysh", "frr"),
    ("bird", "bird2"),
    ("birdc", "bird2"),
    ("gobgpd", "gobgpd"),
    ("gobgp", "gobgpd"),
    ("keepalived", "keepalived"),
    ("/usr/bin/prometheus", "prometheus"),
    ("/usr/bin/promtool", "prometheus"),
    ("curl", "curl"),
];

/// Whether this process runs as root (namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Whether a network test can run here (root, `binaries`); when it cannot,
/// it says why and the test returns early, except in CI (the variable `CI`
/// is set), where it panics: CI must run every network test.
pub fn lab_ready(binaries: &[&str]) -> bool {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("network test");
    match missing_requirements(binaries) {
        None => true,
        Some(reason) if std::env::var_os("CI").is_some() => {
            panic!(
                "{test}: network test cannot run in CI: {reason} (CI runs the tests as root with the packages installed)"
            )
        }
        Some(reason) => {
            // Straight to the file descriptor: libtest captures `eprintln!` of passing tests.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
            false
        }
    }
}

/// Why a lab cannot run here (not root, binaries missing), or `None` when it can.
///
/// `binaries` are names on `PATH` or absolute paths; missing ones are reported with their
/// package from [`REQUIRED_BINARIES`].
pub fn missing_requirements(binaries: &[&str]) -> Option<String> {
    let mut reasons = Vec::new();
    if !is_root() {
        reasons.push("not running as root".to_owned());
    }
    let missing: Vec<String> = binaries
        .iter()
        .filter(|b| cmd::find_binary(b).is_none())
        .map(|b| match REQUIRED_BINARIES.iter().find(|(n, _)| n == b) {
            Some((_, pkg)) => format!("{b} (package {pkg})"),
            None => (*b).to_owned(),
        })
        .collect();
    if !missing.is_empty() {
        reasons.push(format!("missing {}", missing.join(", ")));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}
