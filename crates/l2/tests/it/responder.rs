//! The responder against arping, ndisc6 and the client's kernel.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use ferrolb_lab::{Netns, STOP_GRACE, Segment, probe};

const VIP4: &str = "192.0.2.10";
const VIP6: &str = "2001:db8::10";
const NOT_LED4: &str = "192.0.2.11";
const NOT_LED6: &str = "2001:db8::11";
const TOOLS: &[&str] = &["ip", "sysctl", "arping", "ndisc6", "tcpdump", "bash"];

/// The `responder` example, built by `cargo test` beside this test's directory.
fn example() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join("responder");
    path.exists().then_some(path)
}

fn ready() -> Option<PathBuf> {
    if !crate::lab_ready(TOOLS) {
        return None;
    }
    let example = example();
    if example.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the network tests: responder example not built"
        );
        eprintln!("skipped: target/debug/examples/responder is not built");
    }
    example
}

struct Lab {
    example: PathBuf,
    node1: Netns,
    node2: Netns,
    client: Netns,
    mac1: String,
    mac2: String,
    // Dropped last: the members' veths hang off its bridge.
    _segment: Segment,
}

fn member(segment: &Segment, role: &str, v4: &str, v6: &str) -> Netns {
    let ns = Netns::new(role).unwrap();
    segment.attach(&ns, "eth0").unwrap();
    ns.add_addr("eth0", v4).unwrap();
    ns.add_addr("eth0", v6).unwrap();
    ns
}

fn mac_of(ns: &Netns) -> String {
    ns.exec("cat", &["/sys/class/net/eth0/address"]).unwrap().trim().to_owned()
}

impl Lab {
    fn new(example: PathBuf) -> Lab {
        let segment = Segment::new().unwrap();
        let node1 = member(&segment, "node1", "192.0.2.1/24", "2001:db8::1/64");
        let node2 = member(&segment, "node2", "192.0.2.2/24", "2001:db8::2/64");
        let client = member(&segment, "client", "192.0.2.100/24", "2001:db8::100/64");
        for node in [&node1, &node2] {
            // What ferrolb does on a leader so that the host accepts the VIP's traffic.
            for vip in [VIP4, NOT_LED4] {
                node.ip(&["route", "add", "local", vip, "dev", "lo", "proto", "248", "table", "local"])
                    .unwrap();
            }
            for vip in [VIP6, NOT_LED6] {
                node.ip(&["-6", "route", "add", "local", vip, "dev", "lo", "proto", "248", "table", "local"])
                    .unwrap();
            }
        }
        let (mac1, mac2) = (mac_of(&node1), mac_of(&node2));
        Lab { example, node1, node2, client, mac1, mac2, _segment: segment }
    }

    /// Starts the responder example on `node`'s eth0 with `args` (VIPs, options); returns its
    /// PID.
    fn responder(&self, node: &Netns, args: &[&str]) -> u32 {
        let mut cmd = node.command(self.example.to_str().unwrap());
        cmd.arg("eth0").args(args).env("RUST_LOG", "debug");
        let log = node.dir().join("responder.log");
        let before = self.log(node).matches("serving interface").count();
        let pid = node.spawn(cmd, &log).unwrap();
        // Ready once its sockets are open. A responder that exits (say, an example binary
        // older than this test: `cargo test --test it` does not rebuild examples) fails here.
        wait_for("the responder to open its sockets", Duration::from_secs(10), || {
            let status = node.exit_status(pid);
            assert!(status.is_none(), "responder exited with {status:?}: {}", self.log(node));
            self.log(node).matches("serving interface").count() > before
        });
        pid
    }

    /// Makes the responder `pid` on `node` re-read its `--vips-file` (SIGHUP) and waits until
    /// it has handed the new leadership over.
    fn reload(&self, node: &Netns, pid: u32) {
        let before = self.log(node).matches("leading").count();
        let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill -HUP {pid}");
        wait_for("the responder to take the new leadership", Duration::from_secs(5), || {
            self.log(node).matches("leading").count() > before
        });
    }

    fn log(&self, node: &Netns) -> String {
        std::fs::read_to_string(node.dir().join("responder.log")).unwrap_or_default()
    }
}

fn run(ns: &Netns, program: &str, args: &[&str]) -> Output {
    let mut c = ns.command(program);
    c.args(args);
    ferrolb_lab::cmd::output(&mut c, Duration::from_secs(20)).unwrap()
}

/// The MACs of every ARP reply `arping -c count` got from the client.
fn arping(client: &Netns, ip: &str, count: u32) -> Vec<String> {
    probe::arping(client, "eth0", ip, count).unwrap()
}

/// The MAC `ndisc6` learned for `ip`, if anyone answered.
fn ndisc6(client: &Netns, ip: &str) -> Option<String> {
    probe::ndisc6(client, "eth0", ip).unwrap()
}

/// The client kernel's neighbor entry for `ip`: its MAC, if it has one.
fn neighbor(client: &Netns, ip: &str) -> Option<String> {
    probe::neighbor(client, "eth0", ip).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_kernel_answers_arp_for_a_local_route_vip_on_every_node_unless_arp_ignore_is_set() {
    let Some(example) = ready() else { return };
    let lab = Lab::new(example);
    // Default arp_ignore=0: both nodes' kernels answer for a VIP they only route locally.
    let macs: BTreeSet<String> = arping(&lab.client, VIP4, 2).into_iter().collect();
    assert_eq!(macs, BTreeSet::from([lab.mac1.clone(), lab.mac2.clone()]));
    // The kernel does not answer a Neighbor Solicitation for a local route.
    assert_eq!(ndisc6(&lab.client, VIP6), None);
    // arp_ignore=1 on the interface silences both, yet the node's own address still answers.
    for node in [&lab.node1, &lab.node2] {
        node.sysctl("net.ipv4.conf.eth0.arp_ignore", "1").unwrap();
    }
    assert_eq!(arping(&lab.client, VIP4, 2), Vec::<String>::new());
    assert_eq!(arping(&lab.client, "192.0.2.1", 1), std::slice::from_ref(&lab.mac1));
}

#[test]
fn only_the_leaders_responder_answers_for_a_vip_and_nobody_for_a_vip_not_led() {
    let Some(example) = ready() else { return };
    let lab = Lab::new(example);
    lab.responder(&lab.node1, &[VIP4, VIP6]);
    // node2 serves the interface but leads nothing: its kernel must stay silent too.
    lab.responder(&lab.node2, &[]);
    wait_for("node1's responder to answer ARP", Duration::from_secs(15), || {
        !arping(&lab.client, VIP4, 1).is_empty()
    });
    wait_for("node2's responder to set arp_ignore", Duration::from_secs(5), || {
        lab.node2.exec("sysctl", &["-n", "net.ipv4.conf.eth0.arp_ignore"]).unwrap().trim() == "1"
    });

    let replies = arping(&lab.client, VIP4, 3);
    assert_eq!(replies, vec![lab.mac1.clone(); 3], "one reply per request, all from node1");
    assert_eq!(ndisc6(&lab.client, VIP6), Some(lab.mac1.clone()));
    assert_eq!(arping(&lab.client, NOT_LED4, 2), Vec::<String>::new());
    assert_eq!(ndisc6(&lab.client, NOT_LED6), None);
    assert!(lab.log(&lab.node1).contains("answering"), "{}", lab.log(&lab.node1));
}

#[test]
fn a_takeover_moves_the_clients_neighbor_entries_to_the_new_leader() {
    let Some(example) = ready() else { return };
    let lab = Lab::new(example);
    let first = lab.responder(&lab.node1, &[VIP4, VIP6]);
    lab.responder(&lab.node2, &[]);
    wait_for("node1's responder to answer ARP", Duration::from_secs(15), || {
        !arping(&lab.client, VIP4, 1).is_empty()
    });

    // The client's kernel resolves both VIPs through node1, as it would for real traffic.
    for vip in [VIP4, VIP6] {
        let script = format!("echo x > /dev/udp/{vip}/9");
        wait_for(&format!("a neighbor entry for {vip} via node1"), Duration::from_secs(10), || {
            run(&lab.client, "bash", &["-c", &script]);
            neighbor(&lab.client, vip).as_deref() == Some(lab.mac1.as_str())
        });
    }

    let capture = lab.client.dir().join("takeover.txt");
    let mut tcpdump = lab.client.command("tcpdump");
    tcpdump.args(["-i", "eth0", "-l", "-nn", "-e", "arp or icmp6"]);
    let tcpdump = lab.client.spawn(tcpdump, &capture).unwrap();
    wait_for("tcpdump to listen", Duration::from_secs(10), || {
        std::fs::read_to_string(&capture).unwrap_or_default().contains("listening on")
    });

    // node1 dies, node2 takes over (the membership layer elected it).
    lab.node1.stop(first, STOP_GRACE);
    let started = Instant::now();
    lab.node2.stop(lab.node2.started_pids()[0], STOP_GRACE);
    let second = lab.responder(&lab.node2, &[VIP4, VIP6]);
    for vip in [VIP4, VIP6] {
        wait_for(&format!("the client's entry for {vip} to move to node2"), Duration::from_secs(8), || {
            neighbor(&lab.client, vip).as_deref() == Some(lab.mac2.as_str())
        });
    }
    eprintln!("neighbor entries moved {:?} after node2 started", started.elapsed());

    // The whole burst: five of each, 1.1 s apart (MetalLB's schedule, which the announcer's
    // unit tests check on a fake clock). Counted, not timed: once the responder has logged the
    // last of each (`remaining=0`) it is stopped, so that nothing more can go out, and the
    // client must have seen exactly what it logged.
    wait_for("the last announcement of each VIP", Duration::from_secs(30), || {
        let log = lab.log(&lab.node2);
        [VIP4, VIP6].iter().all(|vip| log.lines().any(|l| announces(l, vip) && l.ends_with(" remaining=0")))
    });
    lab.node2.stop(second, STOP_GRACE);
    let log = lab.log(&lab.node2);
    for vip in [VIP4, VIP6] {
        assert_eq!(log.lines().filter(|l| announces(l, vip)).count(), 5, "announcements of {vip}:\n{log}");
    }
    let arp = format!("Request who-has {VIP4} tell {VIP4}");
    let na = format!("ff02::1: ICMP6, neighbor advertisement, tgt is {VIP6}");
    let from_node2 = |text: &str, needle: &str| {
        text.lines().filter(|l| l.starts_with_mac(&lab.mac2) && l.contains(needle)).count()
    };
    // The frames are on the wire once sent; tcpdump may print them a moment later.
    wait_for("the client to see them", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&capture).unwrap_or_default();
        from_node2(&text, &arp) >= 5 && from_node2(&text, &na) >= 5
    });
    lab.client.stop(tcpdump, STOP_GRACE);
    let text = std::fs::read_to_string(&capture).unwrap();
    assert_eq!(from_node2(&text, &arp), 5, "{text}");
    assert_eq!(from_node2(&text, &na), 5, "{text}");
}

/// Whether a responder's log line tells of an announcement of `vip`, first or repeated.
fn announces(line: &str, vip: &str) -> bool {
    line.contains(" announcing ") && line.split_whitespace().any(|word| word == format!("vip={vip}"))
}

trait StartsWithMac {
    fn starts_with_mac(&self, mac: &str) -> bool;
}

impl StartsWithMac for &str {
    /// Whether a `tcpdump -e` line (after its timestamp) was sent from `mac`.
    fn starts_with_mac(&self, mac: &str) -> bool {
        self.split_whitespace().nth(1) == Some(mac)
    }
}

#[test]
fn losing_a_vip_stops_the_answers_for_it_at_once() {
    let Some(example) = ready() else { return };
    let lab = Lab::new(example);
    let file = lab.node1.dir().join("vips");
    std::fs::write(&file, format!("{VIP4} {VIP6}")).unwrap();
    let node1 = lab.responder(&lab.node1, &["--vips-file", file.to_str().unwrap()]);
    lab.responder(&lab.node2, &[]);
    wait_for("node1's responder to answer ARP", Duration::from_secs(15), || {
        !arping(&lab.client, VIP4, 1).is_empty()
    });
    assert_eq!(ndisc6(&lab.client, VIP6), Some(lab.mac1.clone()));

    // The election moved both VIPs away: the new whole leadership has none. The very next
    // requests, sent as soon as the responder has taken the change in, get no answer.
    std::fs::write(&file, "").unwrap();
    lab.reload(&lab.node1, node1);
    assert_eq!(arping(&lab.client, VIP4, 2), Vec::<String>::new());
    assert_eq!(ndisc6(&lab.client, VIP6), None);

    // Regained: answered again.
    std::fs::write(&file, VIP4).unwrap();
    lab.reload(&lab.node1, node1);
    wait_for("node1 to answer again", Duration::from_secs(2), || !arping(&lab.client, VIP4, 1).is_empty());
    assert_eq!(ndisc6(&lab.client, VIP6), None);
}
