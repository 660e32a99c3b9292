//! Namespaces, veths, segments and their cleanup.

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use ferrolb_lab::{Netns, Segment, veth};

use crate::support::{assert_nothing_left, namespaces, require_lab};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

#[test]
fn two_namespaces_with_a_veth_ping_each_other() {
    require_lab!("ping");
    let a = Netns::new("a").unwrap();
    let b = Netns::new("b").unwrap();
    veth(&a, "eth0", &b, "eth0").unwrap();
    a.add_addr("eth0", "192.0.2.1/24").unwrap();
    b.add_addr("eth0", "192.0.2.2/24").unwrap();
    a.add_addr("eth0", "2001:db8::1/64").unwrap();
    b.add_addr("eth0", "2001:db8::2/64").unwrap();

    assert!(a.ping(ip("192.0.2.2")).unwrap(), "a cannot ping b over IPv4");
    assert!(b.ping(ip("192.0.2.1")).unwrap(), "b cannot ping a over IPv4");
    assert!(a.ping(ip("2001:db8::2")).unwrap(), "a cannot ping b over IPv6");
    assert!(!a.ping(ip("192.0.2.3")).unwrap(), "an address nobody has answered");
}

#[test]
fn nodes_and_a_client_on_one_segment_reach_each_other() {
    require_lab!("ping");
    let segment = Segment::new().unwrap();
    let nodes: Vec<Netns> = (1..=3).map(|i| Netns::new(&format!("node{i}")).unwrap()).collect();
    for (i, node) in nodes.iter().enumerate() {
        segment.attach(node, "eth0").unwrap();
        node.add_addr("eth0", &format!("198.51.100.{}/24", 11 + i)).unwrap();
    }
    let client = &nodes[2];
    assert!(client.ping(ip("198.51.100.11")).unwrap());
    assert!(client.ping(ip("198.51.100.12")).unwrap());
}

#[test]
fn addresses_outside_the_documentation_ranges_are_refused() {
    require_lab!();
    let a = Netns::new("a").unwrap();
    let err = a.add_addr("lo", "10.0.0.1/8").unwrap_err();
    assert!(err.to_string().contains("192.0.2.0/24"), "{err}");
}

#[test]
fn a_route_appears_in_the_kernel_table_and_forwarding_can_be_enabled() {
    require_lab!();
    let a = Netns::new("router").unwrap();
    let b = Netns::new("b").unwrap();
    veth(&a, "eth0", &b, "eth0").unwrap();
    a.add_addr("eth0", "192.0.2.1/24").unwrap();
    a.enable_forwarding().unwrap();
    assert_eq!(a.exec("sysctl", &["-n", "net.ipv4.ip_forward"]).unwrap().trim(), "1");
    a.add_route("203.0.113.0/24", ip("192.0.2.2")).unwrap();
    let route = a.wait_route("203.0.113.0/24", Duration::from_secs(2)).unwrap();
    assert_eq!(route.gateways(), ["192.0.2.2"]);
    assert!(a.route("203.0.113.10/32").unwrap().is_none());
}

#[test]
fn waiting_for_a_tcp_listener_sees_it_and_times_out_without_one() {
    require_lab!("perl");
    let a = Netns::new("a").unwrap();
    let err = a.wait_tcp_listening(7946, Duration::from_millis(200)).unwrap_err();
    assert!(err.to_string().contains("TCP port 7946"), "{err}");
    let log = a.dir().join("listener.log");
    let mut listener = a.command("perl");
    listener.args([
        "-MIO::Socket::INET",
        "-e",
        "my $s = IO::Socket::INET->new(LocalPort => 7946, Listen => 1) or die $!; sleep 600",
    ]);
    a.spawn(listener, &log).unwrap();
    a.wait_tcp_listening(7946, Duration::from_secs(5)).unwrap();
}

#[test]
fn dropping_a_namespace_stops_its_processes_and_deletes_it() {
    require_lab!("sleep");
    let a = Netns::new("a").unwrap();
    let log = a.dir().join("sleep.log");
    let mut cmd = a.command("sleep");
    cmd.arg("600");
    a.spawn(cmd, &log).unwrap();
    // A process the namespace did not start itself, found through `ip netns pids`.
    let mut stray = Command::new("ip");
    stray.args(["netns", "exec", a.name(), "setsid", "-f", "sleep", "601"]);
    assert!(stray.status().unwrap().success());
    ferrolb_lab::wait_until("the stray sleep to show up", Duration::from_secs(2), || {
        Ok(a.pids_inside()?.len() == 2)
    })
    .unwrap();
    let mut pids = a.started_pids();
    pids.extend(a.pids_inside().unwrap());
    let name = a.name().to_owned();
    assert!(namespaces().contains(&name));

    drop(a);
    assert_nothing_left(&[name], &pids);
}

#[test]
fn a_panicking_test_still_removes_its_namespace() {
    require_lab!("sleep");
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let a = Netns::new("doomed").unwrap();
        let log = a.dir().join("sleep.log");
        let mut cmd = a.command("sleep");
        cmd.arg("600");
        a.spawn(cmd, &log).unwrap();
        tx.send((a.name().to_owned(), a.started_pids())).unwrap();
        panic!("on purpose, with a namespace alive");
    })
    .join();
    assert!(result.is_err());
    let (name, pids) = rx.recv().unwrap();
    assert_nothing_left(&[name], &pids);
}
