//! `ferrolb run` in L2 mode on three nodes of one segment, with a client:
//! the elected node answers ARP/NDP for the VIPs and serves them, no other
//! node answers, and another takes over when it dies or stops.
//!
//! ```text
//!  ┌─ client ──────┐ ┌─ node1 ───────┐ ┌─ node2 ───────┐ ┌─ node3 ───────┐
//!  │ .2 / ::2      │ │ .11 ferrolb   │ │ .12 ferrolb   │ │ .13 ferrolb   │
//!  │ arping ndisc6 │ │ web: "node1"  │ │ web: "node2"  │ │ web: "node3"  │
//!  │ curl          │ │               │ │               │ │               │
//!  └──────┬────────┘ └──────┬────────┘ └──────┬────────┘ └──────┬────────┘
//!  ┌──────┴─────────────────┴─────────────────┴─────────────────┴────────┐
//!  │ br0: 198.51.100.0/24, 2001:db8:100::/64; VIPs .200, ::200           │
//!  └──────────────────────────────────────────────────────────────────────┘
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_lab::outage::{self, Prober};
use ferrolb_lab::traffic::Flows;
use ferrolb_lab::{Netns, Topology, probe};

use crate::metrics::{has, scrape};
use crate::support::{Ferrolb, lab_ready, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const VIP4: &str = "198.51.100.200";
const VIP6: &str = "2001:db8:100::200";
const WEB: u16 = 8080;
const ECHO: u16 = 9000;
const TOOLS: &[&str] = &["ip", "arping", "ndisc6", "curl", "python3"];

/// Three nodes, an L2 pool on the segment and one dual-stack Service.
fn cluster(topology: &Topology) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan}}
spec:
  addresses: [{VIP4}/32, \"{VIP6}/128\"]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  ports: [{{port: {WEB}}}]
"
    );
    for (i, node) in topology.nodes.iter().enumerate() {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {}}}, {{type: InternalIP, address: \"{}\"}}]\n",
            i + 1,
            node.ipv4,
            node.ipv6
        );
    }
    out + ferrolb_lab::GOSSIP_SECRET_DOCUMENT
}

/// The lab with ferrolb and a name server on every node.
struct Lab {
    // Dropped first, while their namespaces (and logs) still exist.
    speakers: Vec<Option<Ferrolb>>,
    topology: Topology,
    config: String,
    macs: Vec<String>,
}

impl Lab {
    fn start() -> Lab {
        Lab::start_with(&[])
    }

    /// [`Lab::start`] with more arguments to each `ferrolb run`.
    fn start_with(args: &[&str]) -> Lab {
        let topology = Topology::new(3).unwrap();
        let config = cluster(&topology);
        Lab::start_on(topology, config, args)
    }

    /// [`Lab::start_with`] with `config` as the nodes' file.
    fn start_on(topology: Topology, config: String, args: &[&str]) -> Lab {
        let mut speakers = Vec::new();
        let mut macs = Vec::new();
        for (i, node) in topology.nodes.iter().enumerate() {
            let name = format!("node{}", i + 1);
            probe::start_name_server(&node.netns, &name, WEB).unwrap();
            outage::start_name_server(&node.netns, &name, ECHO).unwrap();
            macs.push(probe::mac(&node.netns, "eth0").unwrap());
            speakers.push(Some(Ferrolb::start_with(&node.netns, &name, &config, args)));
        }
        for node in &topology.nodes {
            node.netns.wait_tcp_listening(WEB, TIMEOUT).unwrap();
        }
        Lab { speakers, topology, config, macs }
    }

    /// The nodes whose host accepts `vip` (a local route from ferrolb).
    fn accepting(&self, vip: &str) -> Vec<usize> {
        (0..self.topology.nodes.len())
            .filter(|&i| {
                self.topology.nodes[i].netns.ip(&["route", "get", vip]).is_ok_and(|r| r.starts_with("local "))
            })
            .collect()
    }

    /// Waits until exactly one node of `among` (the running ones: a killed
    /// one keeps its routes) accepts both VIPs; returns it.
    fn leader(&self, among: &[usize]) -> usize {
        let mut leader = None;
        wait_for("exactly one node to accept both VIPs", TIMEOUT, || {
            let of = |vip| self.accepting(vip).into_iter().filter(|i| among.contains(i)).collect::<Vec<_>>();
            let (v4, v6) = (of(VIP4), of(VIP6));
            leader = (v4.len() == 1 && v4 == v6).then(|| v4[0]);
            leader.is_some()
        });
        leader.unwrap()
    }

    /// What the client gets from the VIP's web server: the name of the node that served it.
    fn served_by(&self, vip: &str) -> Option<String> {
        probe::fetch_name(
            &self.topology.client,
            vip.parse::<IpAddr>().unwrap(),
            WEB,
            Duration::from_millis(500),
        )
    }

    fn arping_macs(&self) -> Vec<String> {
        let mut macs = probe::arping(&self.topology.client, "eth0", VIP4, 2).unwrap();
        macs.sort();
        macs.dedup();
        macs
    }
}

#[test]
fn the_client_reaches_both_vips_on_the_elected_node_and_only_it_answers() {
    if !lab_ready(TOOLS) {
        return;
    }
    let mut lab = Lab::start();
    let leader = lab.leader(&[0, 1, 2]);
    let name = format!("node{}", leader + 1);

    // The same leader as `ferrolb plan` elects with every node alive.
    let plan = std::process::Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["plan", "-o", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(lab.config.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["services"][0]["l2Leader"], name.as_str(), "{plan}");

    assert_eq!(lab.arping_macs(), [lab.macs[leader].clone()], "exactly the leader's MAC answers ARP");
    // Every advertisement within a second: the answer, and maybe a repeat of
    // the takeover announcement (unsolicited NA), both from the leader.
    let mut ndp = probe::ndisc6_all(&lab.topology.client, "eth0", VIP6).unwrap();
    ndp.dedup();
    assert_eq!(ndp, [lab.macs[leader].clone()], "exactly the leader's MAC answers NDP");
    wait_for("the client served over IPv4 by the leader", TIMEOUT, || {
        lab.served_by(VIP4) == Some(name.clone())
    });
    wait_for("the client served over IPv6 by the leader", TIMEOUT, || {
        lab.served_by(VIP6) == Some(name.clone())
    });

    // SIGTERM hands over: the leader leaves the gossip and another node answers at once.
    let stopped = Instant::now();
    let log = lab.speakers[leader].take().unwrap().stop();
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let next = lab.leader(&others);
    wait_for("the client served by the new leader", TIMEOUT, || {
        lab.served_by(VIP4) == Some(format!("node{}", next + 1))
    });
    eprintln!("SIGTERM handover: served by node{} after {:?}", next + 1, stopped.elapsed());
    assert_eq!(lab.arping_macs(), [lab.macs[next].clone()]);
    assert!(log.contains("stopping"), "{log}");
}

#[test]
fn when_the_leader_dies_another_node_serves_and_its_return_leaves_one_answer() {
    if !lab_ready(TOOLS) {
        return;
    }
    let mut lab = Lab::start();
    let leader = lab.leader(&[0, 1, 2]);
    wait_for("the client served by the leader", TIMEOUT, || {
        lab.served_by(VIP4) == Some(format!("node{}", leader + 1))
    });

    // The leader's link goes down and its process is killed: nothing tells the others.
    let prober =
        Prober::start(&lab.topology.client, VIP4.parse().unwrap(), ECHO, Duration::from_millis(10)).unwrap();
    wait_for("the prober's first answers", TIMEOUT, || prober.answers().unwrap().replies.len() > 10);
    let failure = outage::now();
    let dead = Instant::now();
    lab.topology.segment.netns().ip(&["link", "set", &lab.topology.nodes[leader].port, "down"]).unwrap();
    drop(lab.speakers[leader].take()); // SIGKILL
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let next = lab.leader(&others);
    wait_for("the client served by another node", TIMEOUT, || {
        lab.served_by(VIP4) == Some(format!("node{}", next + 1))
    });
    eprintln!("failover after link down + SIGKILL: served by node{} after {:?}", next + 1, dead.elapsed());
    let outage = prober.stop().unwrap().outage_after(failure).unwrap();
    eprintln!("outage seen by a client probing every 10 ms: {outage:?}");
    assert_eq!(outage.before, format!("node{}", leader + 1));
    assert_eq!(outage.after, format!("node{}", next + 1));
    wait_for("the client served over IPv6 by the new leader", TIMEOUT, || {
        lab.served_by(VIP6) == Some(format!("node{}", next + 1))
    });
    assert_eq!(lab.arping_macs(), [lab.macs[next].clone()]);
    // The new leader counts one failover (the Service's two VIPs) and its
    // outage; the third node took nothing over.
    let taker = scrape(&lab.topology.nodes[next].netns);
    for sample in [
        "ferrolb_layer2_failovers_total 1",
        "ferrolb_layer2_failover_vips_total 2",
        "ferrolb_layer2_failover_outage_seconds_count 1",
    ] {
        assert!(has(&taker, sample), "{sample} missing in\n{taker}");
    }
    let counted = taker.lines().find(|l| l.starts_with("ferrolb_layer2_failover_outage_seconds_sum"));
    eprintln!("the new leader's own count: {counted:?}");
    let third = (0..3).find(|&i| i != leader && i != next).unwrap();
    let bystander = scrape(&lab.topology.nodes[third].netns);
    assert!(has(&bystander, "ferrolb_layer2_failovers_total 0"), "{bystander}");

    // It comes back: at no point do two nodes answer, and one leader remains.
    lab.topology.segment.netns().ip(&["link", "set", &lab.topology.nodes[leader].port, "up"]).unwrap();
    let name = format!("node{}", leader + 1);
    lab.speakers[leader] = Some(Ferrolb::start(&lab.topology.nodes[leader].netns, &name, &lab.config));
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(4) {
        // One request at a time: a handover between two requests is not two answers.
        let mut macs = probe::arping(&lab.topology.client, "eth0", VIP4, 1).unwrap();
        macs.dedup();
        assert!(macs.len() <= 1, "two nodes answer ARP for {VIP4}: {macs:?}");
    }
    // Its routes from before the kill are gone too: one node accepts the VIPs.
    let settled = lab.leader(&[0, 1, 2]);
    assert_eq!(lab.accepting(VIP4), [settled]);
    assert_eq!(lab.arping_macs(), [lab.macs[settled].clone()]);
    for speaker in lab.speakers.iter_mut().flatten() {
        speaker.assert_running();
    }
}

#[test]
fn a_leader_paused_for_a_moment_gets_its_clients_back() {
    if !lab_ready(TOOLS) {
        return;
    }
    let lab = Lab::start();
    let leader = lab.leader(&[0, 1, 2]);
    let name = format!("node{}", leader + 1);
    wait_for("the client served by the leader", TIMEOUT, || lab.served_by(VIP4) == Some(name.clone()));
    let mac = probe::neighbor(&lab.topology.client, "eth0", VIP4).unwrap();
    assert_eq!(mac.as_deref(), Some(lab.macs[leader].as_str()));

    // Paused until the runner-up has taken over (it waits three missed
    // pings), as a throttled or swapped process is: when it resumes, the
    // runner-up hands back and the leader announces again, so the client
    // comes back. (Counted by the takeover, not by a pause of fixed length:
    // whether the gossip also declared it down meanwhile depends on the
    // machine's speed, and either way the client must come back.)
    let pid = lab.speakers[leader].as_ref().unwrap().pid().to_string();
    let signal =
        |sig: &str| assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    signal("-STOP");
    wait_for("the runner-up to take over", TIMEOUT, || {
        lab.accepting(VIP4).iter().any(|i| others.contains(i))
    });
    signal("-CONT");
    wait_for("the client's neighbor entry back on the leader", TIMEOUT, || {
        probe::neighbor(&lab.topology.client, "eth0", VIP4).unwrap().as_deref()
            == Some(lab.macs[leader].as_str())
    });
    wait_for("the client served by the leader again", TIMEOUT, || lab.served_by(VIP4) == Some(name.clone()));
    // The runner-up lets go of the VIP a moment after handing it back.
    wait_for("the leader alone accepting the VIP", TIMEOUT, || lab.accepting(VIP4) == [leader]);
    // It announced again: because its watcher resumed, or as a leader
    // newly elected if the gossip had declared it down.
    let log = lab.speakers[leader].as_ref().unwrap().log();
    let again =
        log.contains("announcing the VIPs led here again") || log.contains("rejoined as a new generation");
    assert!(again, "{log}");
}

#[test]
fn a_vip_advertised_on_one_interface_is_answered_there_only() {
    if !lab_ready(TOOLS) {
        return;
    }
    // A second segment on eth1 (this kernel has no 802.1Q module for VLAN
    // interfaces; an L2Advertisement names them the same way).
    let topology = Topology::new(2).unwrap();
    let second = ferrolb_lab::Segment::new().unwrap();
    let attach = |ns: &Netns, address: &str| {
        second.attach(ns, "eth1").unwrap();
        ns.add_addr("eth1", address).unwrap();
    };
    attach(&topology.client, "203.0.113.2/24");
    let mut config = String::from(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: tagged}
spec:
  addresses: [203.0.113.200/32]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: tagged}
spec:
  interfaces: [eth1]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  ports: [{port: 8080}]
",
    );
    let mut speakers = Vec::new();
    let mut macs = Vec::new();
    for (i, node) in topology.nodes.iter().enumerate() {
        attach(&node.netns, &format!("203.0.113.{}/24", 11 + i));
        let _ = write!(
            config,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus:\n  addresses: [{{type: InternalIP, address: {}}}]\n",
            i + 1,
            node.ipv4
        );
        macs.push(probe::mac(&node.netns, "eth1").unwrap());
    }
    config.push_str(ferrolb_lab::GOSSIP_SECRET_DOCUMENT);
    for (i, node) in topology.nodes.iter().enumerate() {
        let name = format!("node{}", i + 1);
        probe::start_name_server(&node.netns, &name, WEB).unwrap();
        speakers.push(Ferrolb::start(&node.netns, &name, &config));
    }
    let vip: IpAddr = "203.0.113.200".parse().unwrap();
    let mut served = None;
    wait_for("the client served on the second segment", TIMEOUT, || {
        served = probe::fetch_name(&topology.client, vip, WEB, Duration::from_millis(500));
        served.is_some()
    });
    let leader: usize = served.unwrap().trim_start_matches("node").parse::<usize>().unwrap() - 1;
    let mut named = probe::arping(&topology.client, "eth1", "203.0.113.200", 2).unwrap();
    named.dedup();
    assert_eq!(named, [macs[leader].clone()], "the leader answers on eth1");
    let other = probe::arping(&topology.client, "eth0", "203.0.113.200", 2).unwrap();
    assert!(other.is_empty(), "nobody answers on eth0, the advertisement names eth1: {other:?}");
    for mut speaker in speakers {
        speaker.assert_running();
    }
}

/// An upgrade of the leader (SIGUSR2, then the next process): it keeps the
/// VIPs on its host and stays in the gossip while it restarts, comes back
/// the leader (the elections are the same) and announces the VIPs again
/// (gratuitous ARP, unsolicited NA); a client sending a request to each VIP
/// every 10 ms loses none.
#[test]
fn a_graceful_restart_of_the_leader_loses_no_request() {
    if !lab_ready(TOOLS) {
        return;
    }
    const PORT: u16 = 9100;
    let mut lab = Lab::start();
    let leader = lab.leader(&[0, 1, 2]);
    let name = format!("node{}", leader + 1);
    wait_for("the client served by the leader", TIMEOUT, || lab.served_by(VIP4) == Some(name.clone()));

    let receivers: Vec<&Netns> = lab.topology.nodes.iter().map(|n| &n.netns).collect();
    let vips = [VIP4.parse().unwrap(), VIP6.parse().unwrap()];
    let flows =
        Flows::start(&lab.topology.client, &vips, PORT, &receivers, Duration::from_millis(10)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let log = lab.speakers[leader].take().unwrap().stop_with("USR2");
    assert!(log.contains("stopping for a restart"), "{log}");
    assert!(lab.accepting(VIP4).contains(&leader), "the restarting leader released the IPv4 VIP");
    assert!(lab.accepting(VIP6).contains(&leader), "the restarting leader released the IPv6 VIP");
    lab.speakers[leader] = Some(Ferrolb::start(&lab.topology.nodes[leader].netns, &name, &lab.config));
    wait_for("the client's neighbor entries on the leader", TIMEOUT, || {
        [VIP4, VIP6].iter().all(|vip| {
            probe::neighbor(&lab.topology.client, "eth0", vip).unwrap().as_deref()
                == Some(lab.macs[leader].as_str())
        })
    });
    assert_eq!(lab.leader(&[0, 1, 2]), leader);
    std::thread::sleep(Duration::from_millis(300));
    let loss = flows.stop();
    eprintln!("graceful restart of the L2 leader (SIGUSR2), both VIPs: {loss}");
    assert!(loss.sent > 100, "{loss}");
    assert_eq!(loss.lost, 0, "{loss}");
    for speaker in lab.speakers.iter_mut().flatten() {
        speaker.assert_running();
    }
}

/// The states the client's neighbour entry for `vip` went through, as `ip
/// monitor neigh` printed them in `log`.
fn neighbour_states(log: &str, vip: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.split_whitespace().next() == Some(vip))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect()
}

/// A client whose neighbour entry for a VIP went STALE checks it with
/// unicast probes to the leader's MAC (Neighbor Unreachability Detection
/// for IPv6, ARP unicast probes for IPv4): the leader answers them, so the
/// entry comes back REACHABLE and never FAILS (MetalLB's NDP responder
/// ignores unicast solicitations, and its users lose traffic each time:
/// metallb#2920). The client's timers are shortened so that NUD runs every
/// few seconds, and it may not fall back to multicast (`mcast_resolicit` 0,
/// Linux's default). An RFC 5227 probe (sender 0.0.0.0) is answered too.
#[test]
fn a_client_checking_a_stale_entry_with_unicast_probes_gets_answers_from_the_leader() {
    if !lab_ready(TOOLS) {
        return;
    }
    let lab = Lab::start();
    let leader = lab.leader(&[0, 1, 2]);
    let client = &lab.topology.client;
    for family in ["ipv4", "ipv6"] {
        for (key, value) in [
            ("base_reachable_time_ms", "500"),
            ("delay_first_probe_time", "1"),
            ("retrans_time_ms", "200"),
            ("ucast_solicit", "3"),
            ("mcast_resolicit", "0"),
        ] {
            client.sysctl(&format!("net.{family}.neigh.eth0.{key}"), value).unwrap();
        }
    }
    for vip in [VIP4, VIP6] {
        wait_for("the client served by the leader", TIMEOUT, || {
            lab.served_by(vip) == Some(format!("node{}", leader + 1))
        });
    }
    let log = client.dir().join("neigh-monitor.log");
    let mut monitor = client.command("ip");
    monitor.args(["monitor", "neigh", "dev", "eth0"]);
    let monitor = client.spawn(monitor, &log).unwrap();
    let probers: Vec<Prober> = [VIP4, VIP6]
        .map(|vip| Prober::start(client, vip.parse().unwrap(), ECHO, Duration::from_millis(20)).unwrap())
        .into();
    // Several rounds of STALE, DELAY (1 s), PROBE: each ends REACHABLE or FAILED.
    let rounds = |vip| neighbour_states(&std::fs::read_to_string(&log).unwrap_or_default(), vip);
    for vip in [VIP4, VIP6] {
        wait_for(&format!("three rounds of unicast probes for {vip}"), TIMEOUT, || {
            let states = rounds(vip);
            states.windows(2).filter(|w| w[0] == "PROBE" && w[1] != "PROBE").count() >= 3
        });
    }
    for prober in probers {
        prober.stop().unwrap();
    }
    client.stop(monitor, Duration::from_secs(1));
    for vip in [VIP4, VIP6] {
        let states = rounds(vip);
        eprintln!("{vip}: {states:?}");
        assert!(
            !states.iter().any(|s| s == "FAILED" || s == "INCOMPLETE"),
            "{vip}: unanswered probes: {states:?}"
        );
        let after_probe: Vec<&String> =
            states.windows(2).filter(|w| w[0] == "PROBE").map(|w| &w[1]).collect();
        assert!(after_probe.iter().all(|s| *s == "REACHABLE"), "{vip}: {states:?}");
    }

    // RFC 5227: a host checking whether the VIP is free (an ARP probe, sender
    // 0.0.0.0: Habets' arping -0) learns that the leader has it.
    let probe =
        client.command("arping").args(["-0", "-c", "2", "-w", "3", "-i", "eth0", VIP4]).output().unwrap();
    let said = String::from_utf8_lossy(&probe.stdout).to_lowercase();
    assert!(
        said.contains(&lab.macs[leader].to_lowercase()),
        "the VIP looks free to an RFC 5227 probe:\n{said}"
    );
}

/// With `--gratuitous-arp-interval` (MetalLB's flag), the leader announces
/// its VIPs again and again: the count of gratuitous ARPs and NAs grows in
/// every window longer than the interval. Without it, the announcements of
/// a takeover end (five, 1.1 s apart) and the count stops. (The schedule
/// itself is the announcer's unit tests'; this checks the flag reaches it.)
#[test]
fn periodic_gratuitous_announcements_go_on_after_the_takeover_only_when_asked() {
    if !lab_ready(TOOLS) {
        return;
    }
    let sent = |lab: &Lab, leader: usize, vip: &str| -> u64 {
        let text = scrape(&lab.topology.nodes[leader].netns);
        let prefix = format!("metallb_layer2_gratuitous_sent{{ip=\"{vip}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    const WINDOW: Duration = Duration::from_millis(2500);
    let lab = Lab::start_with(&["--gratuitous-arp-interval", "1"]);
    let leader = lab.leader(&[0, 1, 2]);
    wait_for("the takeover's announcements", TIMEOUT, || sent(&lab, leader, VIP6) >= 5);
    for _ in 0..4 {
        let before = [VIP4, VIP6].map(|vip| sent(&lab, leader, vip));
        std::thread::sleep(WINDOW);
        let after = [VIP4, VIP6].map(|vip| sent(&lab, leader, vip));
        assert!(
            after[0] > before[0] && after[1] > before[1],
            "no announcement in {WINDOW:?}: {before:?} {after:?}"
        );
    }
    drop(lab);

    let lab = Lab::start();
    let leader = lab.leader(&[0, 1, 2]);
    wait_for("the takeover's announcements to end", TIMEOUT, || {
        let before = sent(&lab, leader, VIP4);
        std::thread::sleep(WINDOW);
        before >= 5 && sent(&lab, leader, VIP4) == before
    });
}

/// A host of the LAN that runs ferrolb with a file of its own: named `name`
/// (a fourth node, or an impostor taking node3's name) at `address`, with
/// the three nodes as seeds and nothing to announce (it must not answer ARP
/// itself: the test is about the group's view).
fn start_rogue(
    lab: &Lab,
    name: &str,
    address: &str,
    secret: Option<&str>,
    args: &[&str],
) -> (Netns, Ferrolb) {
    let rogue = Netns::new("rogue").unwrap();
    lab.topology.segment.attach(&rogue, "eth0").unwrap();
    rogue.add_addr("eth0", &format!("{address}/24")).unwrap();
    let mut file = String::from(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: lan}\nspec: {addresses: [198.51.100.250/32]}\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: lan}\n",
    );
    for (i, node) in lab.topology.nodes.iter().enumerate().filter(|(i, _)| format!("node{}", i + 1) != name) {
        let _ = write!(
            file,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus: {{addresses: [{{type: InternalIP, address: {}}}]}}\n",
            i + 1,
            node.ipv4
        );
    }
    let _ = write!(
        file,
        "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus: {{addresses: [{{type: InternalIP, address: {address}}}]}}\n"
    );
    if let Some(secret) = secret {
        file.push_str(&ferrolb_lab::GOSSIP_SECRET_DOCUMENT.replace("lab-gossip-secret", secret));
    }
    let ferrolb = Ferrolb::start_with(&rogue, name, &file, args);
    (rogue, ferrolb)
}

/// Hosts of the LAN that gossip as members without being the Nodes of the
/// configuration: a fourth one named in its own file, and an impostor that
/// claims to be node3 from another address. Without a secret (the group
/// runs with --insecure-gossip) the Nodes' addresses keep them out; with
/// the secret known to them too (an insider's file), the addresses still
/// do. Each time the three nodes count three members, and the VIP stays
/// with its leader, answered by one MAC.
#[test]
fn hosts_that_are_not_the_nodes_never_become_gossip_members() {
    if !lab_ready(TOOLS) {
        return;
    }
    for secure in [false, true] {
        let topology = Topology::new(3).unwrap();
        let mut config = cluster(&topology);
        let mut args: Vec<&str> = Vec::new();
        if !secure {
            config = config.replace(ferrolb_lab::GOSSIP_SECRET_DOCUMENT, "");
            args.push("--insecure-gossip");
        }
        let lab = Lab::start_on(topology, config, &args);
        let leader = lab.leader(&[0, 1, 2]);
        wait_for("the client served by the leader", TIMEOUT, || {
            lab.served_by(VIP4) == Some(format!("node{}", leader + 1))
        });
        let secret = secure.then_some("lab-gossip-secret");
        let rogues = [
            start_rogue(&lab, "node4", "198.51.100.14", secret, &args),
            start_rogue(&lab, "node3", "198.51.100.15", secret, &args),
        ];
        wait_for("the rogues' gossip refused", TIMEOUT, || {
            (0..3).all(|i| lab.speakers[i].as_ref().unwrap().log().contains("gossip datagram refused"))
        });
        // Several gossip rounds later, still three members everywhere.
        std::thread::sleep(Duration::from_secs(2));
        for (i, node) in lab.topology.nodes.iter().enumerate() {
            let text = scrape(&node.netns);
            assert!(has(&text, "ferrolb_gossip_members_alive 3"), "secure={secure} node{}:\n{text}", i + 1);
        }
        assert_eq!(lab.leader(&[0, 1, 2]), leader, "secure={secure}: the VIP moved");
        assert_eq!(lab.arping_macs(), [lab.macs[leader].clone()], "secure={secure}");
        drop(rogues);
    }
}

/// `ferrolb run` refuses L2 mode without a gossip secret, saying where to
/// put one, unless --insecure-gossip says so.
#[test]
fn l2_mode_without_a_gossip_secret_is_refused_unless_insecure_gossip() {
    if !lab_ready(TOOLS) {
        return;
    }
    let topology = Topology::new(1).unwrap();
    let config = cluster(&topology).replace(ferrolb_lab::GOSSIP_SECRET_DOCUMENT, "");
    let node = &topology.nodes[0].netns;
    let path = node.dir().join("no-secret.yaml");
    std::fs::write(&path, &config).unwrap();
    let out = node
        .command(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["run", "--node", "node1", "--state-dir"])
        .arg(node.dir().join("state"))
        .arg("--config")
        .arg(&path)
        .env_remove("FERROLB_MEMBERLIST_SECRET")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("L2 mode needs a gossip secret") && said.contains("memberlist"), "{said}");
    let mut allowed = Ferrolb::start_with(node, "node1", &config, &["--insecure-gossip"]);
    wait_for("the VIP accepted", TIMEOUT, || {
        node.ip(&["route", "get", VIP4]).is_ok_and(|r| r.starts_with("local "))
    });
    allowed.assert_running();
    assert!(allowed.log().contains("UNAUTHENTICATED"), "{}", allowed.log());
}

/// Split brain: the leader's link to the segment goes down while it keeps
/// running. Each side then sees the other dead: the leader keeps its VIPs
/// (nobody can reach it), the other two elect a new leader, which the
/// client finds. When the link comes back, both answer for a moment: the
/// next seed retry (every 80 ms) brings the groups together once packets
/// flow between the nodes, which ferrolb makes their kernels resolve again
/// at once (`node::neighbours`; left to the kernel's `retrans_time`, 1 s by
/// default, two answered for 0.82–0.97 s here; now 0.11–0.67 s, and the
/// test raises `retrans_time` to 20 s so that only ferrolb can make it),
/// one election is made on both sides, the loser stops answering, and the
/// winner announces again (its runner-up held it unresponsive), so the
/// client's entry follows. Afterwards exactly one MAC answers, and the
/// client is served. (The membership alone merges within 100 ms:
/// `sim::after_a_partition_heals_the_views_are_one_within_a_seed_retry`.)
#[test]
fn after_a_partition_heals_exactly_one_node_answers_for_the_vip() {
    if !lab_ready(TOOLS) {
        return;
    }
    let lab = Lab::start();
    // The kernels retransmit ARP requests only every 20 s: the nodes find
    // each other again after the heal because ferrolb makes them resolve
    // at once, not because a retransmission came.
    for node in &lab.topology.nodes {
        node.netns.sysctl("net.ipv4.neigh.eth0.retrans_time_ms", "20000").unwrap();
    }
    let leader = lab.leader(&[0, 1, 2]);
    wait_for("the client served by the leader", TIMEOUT, || {
        lab.served_by(VIP4) == Some(format!("node{}", leader + 1))
    });
    let port = &lab.topology.nodes[leader].port;
    let bridge = lab.topology.segment.netns();
    bridge.ip(&["link", "set", port, "down"]).unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let next = lab.leader(&others);
    wait_for("the client served by the other side's leader", TIMEOUT, || {
        lab.served_by(VIP4) == Some(format!("node{}", next + 1))
    });
    // The isolated leader still holds the VIP: it believes itself alone.
    assert!(lab.accepting(VIP4).contains(&leader), "the isolated leader let go");

    let prober =
        Prober::start(&lab.topology.client, VIP4.parse().unwrap(), ECHO, Duration::from_millis(10)).unwrap();
    let healed = Instant::now();
    let heal = outage::now();
    bridge.ip(&["link", "set", port, "up"]).unwrap();
    // One ARP request every 50 ms, each answer counted for 50 ms.
    let macs_answering = || {
        let mut c = lab.topology.client.command("arping");
        let out = c.args(["-c", "1", "-w", "0.05", "-i", "eth0", VIP4]).output().unwrap();
        let mut macs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once("bytes from ").and_then(|(_, rest)| rest.split_whitespace().next()))
            .map(str::to_lowercase)
            .collect();
        macs.sort();
        macs.dedup();
        macs
    };
    let mut two_seen = Duration::ZERO;
    wait_for("one MAC answering ARP for the VIP", TIMEOUT, || {
        let macs = macs_answering();
        if macs.len() > 1 {
            two_seen = healed.elapsed();
        }
        healed.elapsed() > Duration::from_secs(1) && macs.len() == 1
    });
    let settled = lab.leader(&[0, 1, 2]);
    eprintln!(
        "partition healed: two MACs answered until {two_seen:?} after it; then node{} alone",
        settled + 1
    );
    wait_for("the client served by the one leader", TIMEOUT, || {
        lab.served_by(VIP4) == Some(format!("node{}", settled + 1))
    });
    let answers = prober.stop().unwrap();
    eprintln!(
        "longest silence for the client after the heal: {:?}",
        answers.outage_after(heal).map(|o| o.duration)
    );
    // Settled: one answer, from the one leader, request after request.
    for _ in 0..10 {
        assert_eq!(lab.arping_macs(), [lab.macs[settled].clone()]);
    }
    assert_eq!(lab.accepting(VIP6), [settled]);
}
