//! Several `Membership`s wired together in-process: fake clock, fake network, no sockets.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrolb_membership::{Admitted, MemberId, Membership, Output, Timer, Timing};
use proptest::prelude::*;

/// One-way delay of the fake LAN.
const LATENCY: Duration = Duration::from_micros(200);

struct Node {
    membership: Membership,
    timers: Vec<(Instant, Timer)>,
    /// A crashed node neither sends, receives nor runs timers.
    crashed: bool,
    ups: Vec<MemberId>,
    /// How many times a watcher's pings resumed after a silence.
    resumed: u32,
    /// Members refused: their address is not their Node's.
    refused: Vec<MemberId>,
}

struct Datagram {
    at: Instant,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// A group of members on a fake network, driven by a fake clock.
struct Lan {
    start: Instant,
    now: Instant,
    nodes: HashMap<SocketAddr, Node>,
    names: HashMap<String, SocketAddr>,
    wire: Vec<Datagram>,
    secret: Option<Vec<u8>>,
    rng_seed: u64,
    /// Share of datagrams lost on the wire, in 1/1000.
    loss_per_mille: u64,
    lost: u64,
    /// One-way cuts: nothing sent from the first address reaches the second.
    cut: std::collections::HashSet<(SocketAddr, SocketAddr)>,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, i as u8], 7946))
}

fn names(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

impl Lan {
    fn new(secret: Option<&[u8]>, rng_seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            nodes: HashMap::new(),
            names: HashMap::new(),
            wire: Vec::new(),
            secret: secret.map(<[u8]>::to_vec),
            rng_seed,
            loss_per_mille: 0,
            lost: 0,
            cut: Default::default(),
        }
    }

    /// `n` nodes "node1".. on 198.51.100.1.., all seeds of each other, started at once.
    fn with_nodes(n: usize, rng_seed: u64) -> Self {
        let mut lan = Self::new(Some(b"the shared secret"), rng_seed);
        for i in 1..=n {
            lan.start_node(i, 1, None);
        }
        lan
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Starts (or restarts) node `i` with `generation`; `secret` overrides the group's.
    fn start_node(&mut self, i: usize, generation: u64, secret: Option<Option<&[u8]>>) {
        self.start_as(&format!("node{i}"), &format!("node{i}"), addr(i), generation, secret);
    }

    /// Starts a member named `name` at `at`, known to the test as `label`
    /// (an impostor takes a real node's name).
    fn start_as(
        &mut self,
        label: &str,
        name: &str,
        at: SocketAddr,
        generation: u64,
        secret: Option<Option<&[u8]>>,
    ) {
        let seeds = (1..=9).map(addr);
        let rng_seed = self.random();
        let secret = secret.unwrap_or(self.secret.as_deref());
        let membership = Membership::new(
            MemberId::new(name, at, generation),
            seeds,
            secret,
            Timing::lan(),
            rng_seed,
            self.now,
        );
        let node = Node {
            membership,
            timers: Vec::new(),
            crashed: false,
            ups: Vec::new(),
            resumed: 0,
            refused: Vec::new(),
        };
        self.nodes.insert(at, node);
        self.names.insert(label.to_owned(), at);
        self.perform(at);
    }

    /// Deterministic pseudo-random numbers (an LCG is plenty to pick probe order and losses).
    fn random(&mut self) -> u64 {
        self.rng_seed = self.rng_seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.rng_seed >> 17
    }

    fn node(&self, name: &str) -> &Node {
        &self.nodes[&self.names[name]]
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes.get_mut(&self.names[name]).unwrap()
    }

    fn alive(&self, name: &str) -> &BTreeSet<String> {
        self.node(name).membership.alive()
    }

    fn crash(&mut self, name: &str) {
        let node = self.node_mut(name);
        node.crashed = true;
        node.timers.clear();
    }

    fn leave(&mut self, name: &str) {
        let now = self.now;
        self.node_mut(name).membership.leave(now);
        let at = self.names[name];
        self.perform(at);
    }

    /// Makes `watcher` ping `leaders` (none: stop watching), as an L2 runner-up does.
    fn watch(&mut self, watcher: &str, leaders: &[&str]) {
        let now = self.now;
        self.node_mut(watcher).membership.watch(now, &names(leaders));
        let at = self.names[watcher];
        self.perform(at);
    }

    /// Carries out the outputs of the node at `at`.
    fn perform(&mut self, at: SocketAddr) {
        let now = self.now;
        while let Some(output) = self.nodes.get_mut(&at).unwrap().membership.poll() {
            let lose = self.loss_per_mille > 0 && self.random() % 1000 < self.loss_per_mille;
            let node = self.nodes.get_mut(&at).unwrap();
            match output {
                Output::Send { to, datagram } => {
                    if lose || self.cut.contains(&(at, to)) {
                        self.lost += 1;
                    } else if !node.crashed {
                        self.wire.push(Datagram { at: now + LATENCY, to, bytes: datagram });
                    }
                }
                Output::Arm { at, timer } => node.timers.push((at, timer)),
                Output::MemberUp(id) => node.ups.push(id),
                Output::MemberDown(_)
                | Output::Rejoined(_)
                | Output::AliveChanged(_)
                | Output::UnresponsiveChanged(_) => {}
                Output::WatcherResumed(_) => node.resumed += 1,
                Output::Refused(id) => node.refused.push(id),
            }
        }
    }

    /// Runs the next event (timer or datagram arrival) due no later than `until`; false if none.
    fn step(&mut self, until: Instant) -> bool {
        let next_datagram = self.wire.iter().enumerate().min_by_key(|(_, d)| d.at).map(|(i, d)| (d.at, i));
        let next_timer = self
            .nodes
            .iter()
            .filter(|(_, n)| !n.crashed)
            .flat_map(|(a, n)| {
                n.timers.iter().enumerate().map(move |(i, (t, timer))| ((*t, timer.order()), *a, i))
            })
            .min_by_key(|(key, _, _)| *key);
        match (next_datagram, next_timer) {
            (Some((t, i)), timer) if t <= until && timer.is_none_or(|((tt, _), _, _)| t <= tt) => {
                let datagram = self.wire.swap_remove(i);
                self.now = self.now.max(t);
                if let Some(node) = self.nodes.get_mut(&datagram.to)
                    && !node.crashed
                {
                    node.membership.handle_datagram(self.now, &datagram.bytes);
                    self.perform(datagram.to);
                }
                true
            }
            (_, Some(((t, _), at, i))) if t <= until => {
                self.now = self.now.max(t);
                let node = self.nodes.get_mut(&at).unwrap();
                let (_, timer) = node.timers.swap_remove(i);
                node.membership.handle_timer(self.now, timer);
                self.perform(at);
                true
            }
            _ => false,
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = until;
    }

    /// Runs until `done` holds, for at most `max`; returns how long it took.
    fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Self) -> bool) -> Option<Duration> {
        let begin = self.now;
        let until = begin + max;
        loop {
            if done(self) {
                return Some(self.now - begin);
            }
            if !self.step(until) {
                return done(self).then(|| self.now - begin);
            }
        }
    }
}

#[test]
fn three_nodes_converge_to_all_alive() {
    let mut lan = Lan::with_nodes(3, 1);
    let all = names(&["node1", "node2", "node3"]);
    let took = lan
        .run_until(Duration::from_secs(1), |lan| {
            ["node1", "node2", "node3"].iter().all(|n| *lan.alive(n) == all)
        })
        .expect("three nodes converge");
    assert!(took < Duration::from_millis(10), "converged in {took:?}");
    // And stay so: no false suspicion on a quiet LAN.
    lan.run_for(Duration::from_secs(10));
    for n in ["node1", "node2", "node3"] {
        assert_eq!(*lan.alive(n), all, "{n} at {:?}", lan.elapsed());
    }
}

#[test]
fn late_node_joins_without_restart_of_the_others() {
    let mut lan = Lan::new(Some(b"k"), 2);
    lan.start_node(1, 1, None);
    lan.start_node(2, 1, None);
    lan.run_for(Duration::from_secs(3));
    assert_eq!(*lan.alive("node1"), names(&["node1", "node2"]));
    // node3 comes up later; node1 and node2 also keep asking its address every second.
    lan.start_node(3, 1, None);
    let all = names(&["node1", "node2", "node3"]);
    lan.run_until(Duration::from_millis(100), |lan| {
        ["node1", "node2", "node3"].iter().all(|n| *lan.alive(n) == all)
    })
    .expect("node3 joins");
}

#[test]
fn unreachable_seeds_are_retried_until_they_answer() {
    let mut lan = Lan::new(Some(b"k"), 6);
    // Every join request of the first seconds is lost (cable unplugged, firewall not open yet).
    lan.loss_per_mille = 1000;
    lan.start_node(1, 1, None);
    lan.start_node(2, 1, None);
    lan.run_for(Duration::from_secs(3));
    assert_eq!(*lan.alive("node1"), names(&["node1"]));
    lan.loss_per_mille = 0;
    let took = lan
        .run_until(Duration::from_secs(2), |lan| *lan.alive("node1") == names(&["node1", "node2"]))
        .expect("joined by retry");
    // Within one `seed_retry` (80 ms) plus a round trip.
    assert!(took < Duration::from_millis(90), "joined {took:?} after the network healed");
}

#[test]
fn dead_node_is_declared_down_by_every_survivor_within_500ms() {
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let runs = 100;
    for seed in 0..runs {
        let mut lan = Lan::with_nodes(3, seed);
        // Die at a different phase of the probe cycle each run.
        lan.run_for(Duration::from_millis(2000 + seed * 37));
        assert_eq!(lan.alive("node1").len(), 3, "seed {seed}: converged");
        lan.crash("node3");
        let took = lan
            .run_until(Duration::from_secs(2), |lan| {
                !lan.alive("node1").contains("node3") && !lan.alive("node2").contains("node3")
            })
            .unwrap_or_else(|| panic!("seed {seed}: node3 never declared down"));
        worst = worst.max(took);
        total += took;
        assert_eq!(*lan.alive("node1"), names(&["node1", "node2"]));
        assert_eq!(*lan.alive("node2"), names(&["node1", "node2"]));
    }
    println!("detection of a dead node over {runs} runs: mean {:?}, worst {worst:?}", total / runs as u32);
    assert!(worst < Duration::from_millis(500), "worst detection {worst:?}");
}

#[test]
fn a_watched_member_that_dies_is_unresponsive_within_50ms_long_before_the_verdict() {
    for seed in 0..20 {
        let mut lan = Lan::with_nodes(3, seed);
        lan.run_for(Duration::from_millis(1000 + seed * 7));
        lan.watch("node2", &["node1"]);
        // Alive and answering: never unresponsive, even on a lossy LAN.
        lan.loss_per_mille = 20;
        lan.run_for(Duration::from_secs(2));
        assert!(lan.node("node2").membership.unresponsive().is_empty(), "seed {seed}");
        lan.loss_per_mille = 0;
        lan.crash("node1");
        let took = lan
            .run_until(Duration::from_secs(1), |lan| {
                lan.node("node2").membership.unresponsive().contains_key("node1")
            })
            .unwrap_or_else(|| panic!("seed {seed}: never unresponsive"));
        assert!(took < Duration::from_millis(50), "seed {seed}: {took:?}");
        assert!(lan.alive("node2").contains("node1"), "seed {seed}: the gossip has not decided yet");
    }
}

#[test]
fn a_member_unresponsive_to_us_alone_is_trusted_again_after_the_limit() {
    let mut lan = Lan::with_nodes(3, 7);
    lan.run_for(Duration::from_secs(1));
    lan.watch("node2", &["node3"]);
    // An asymmetric partition: nothing from node3 reaches node2; node1 still relays.
    let (from, to) = (lan.names["node3"], lan.names["node2"]);
    lan.cut.insert((from, to));
    let took = lan
        .run_until(Duration::from_secs(1), |lan| {
            lan.node("node2").membership.unresponsive().contains_key("node3")
        })
        .expect("unresponsive to node2");
    assert!(took < Duration::from_millis(50), "{took:?}");
    // The gossip keeps node3 alive (indirect probes through node1 succeed); after the limit
    // node2 stops calling it unresponsive, so an L2 takeover does not outlast that.
    lan.run_for(Duration::from_millis(2100));
    assert!(lan.alive("node2").contains("node3"));
    assert!(lan.node("node2").membership.unresponsive().is_empty());
}

#[test]
fn a_watched_member_that_stalls_again_and_again_is_given_longer_each_time() {
    let mut lan = Lan::with_nodes(3, 13);
    lan.run_for(Duration::from_secs(1));
    lan.watch("node2", &["node1"]);
    lan.run_for(Duration::from_millis(100));
    // node1 stalls for 60 ms six times (a throttled process): its answers to node2 are late.
    let (from, to) = (lan.names["node1"], lan.names["node2"]);
    let mut alarms = Vec::new();
    for _ in 0..6 {
        lan.cut.insert((from, to));
        let alarm = lan.run_until(Duration::from_millis(60), |lan| {
            lan.node("node2").membership.unresponsive().contains_key("node1")
        });
        lan.run_for(Duration::from_millis(60).saturating_sub(alarm.unwrap_or(Duration::from_millis(60))));
        lan.cut.clear();
        lan.run_for(Duration::from_millis(200));
        alarms.push(alarm.is_some());
    }
    // 20 ms, then 40: both shorter than the stall; from 80 ms on, none.
    assert_eq!(alarms, [true, true, false, false, false, false]);
    // A real death is still seen within the longer timeout.
    lan.crash("node1");
    let took = lan
        .run_until(Duration::from_secs(1), |lan| {
            lan.node("node2").membership.unresponsive().contains_key("node1")
        })
        .expect("a dead leader is unresponsive");
    assert!(took < Duration::from_millis(100), "{took:?}");
}

/// A leader under a CPU limit tells its watchers how long it may be stalled
/// (one CFS period): a 60 ms stall raises no alarm, a death still does, that
/// much later.
#[test]
fn a_leader_under_a_cpu_limit_is_given_its_stall_bound_more() {
    let mut lan = Lan::with_nodes(3, 17);
    lan.run_for(Duration::from_secs(1));
    lan.node_mut("node1").membership.set_stall_bound(Duration::from_millis(100));
    lan.watch("node2", &["node1"]);
    lan.run_for(Duration::from_millis(100));
    let (from, to) = (lan.names["node1"], lan.names["node2"]);
    lan.cut.insert((from, to));
    let alarm = lan.run_until(Duration::from_millis(60), |lan| {
        lan.node("node2").membership.unresponsive().contains_key("node1")
    });
    assert_eq!(alarm, None, "a stall within the bound is no alarm");
    lan.cut.clear();
    lan.run_for(Duration::from_millis(100));
    lan.crash("node1");
    let took = lan
        .run_until(Duration::from_secs(1), |lan| {
            lan.node("node2").membership.unresponsive().contains_key("node1")
        })
        .expect("a dead leader is unresponsive");
    assert!(took > Duration::from_millis(100) && took < Duration::from_millis(200), "{took:?}");
}

#[test]
fn a_leader_hears_when_its_watcher_pings_again_after_a_silence() {
    let mut lan = Lan::with_nodes(3, 11);
    lan.run_for(Duration::from_secs(1));
    lan.watch("node2", &["node1"]);
    lan.run_for(Duration::from_millis(500));
    assert_eq!(lan.node("node1").resumed, 0, "steady pings are no news");
    let (from, to) = (lan.names["node2"], lan.names["node1"]);
    lan.cut.insert((from, to));
    lan.run_for(Duration::from_millis(100));
    assert!(lan.node("node2").membership.unresponsive().contains_key("node1"));
    lan.cut.clear();
    lan.run_for(Duration::from_millis(50));
    assert_eq!(lan.node("node1").resumed, 1, "node2 may have taken over and handed back");
    assert!(lan.node("node2").membership.unresponsive().is_empty());
}

/// A watcher that stops pinging for a moment (itself stalled, or briefly
/// not watching) did not act on it: no announcements again. One that stops
/// for longer than the gossip needs to declare the leader down may have.
#[test]
fn a_short_silence_of_a_watcher_that_held_nothing_is_no_news() {
    let mut lan = Lan::with_nodes(3, 11);
    lan.run_for(Duration::from_secs(1));
    for (pause, resumed) in [(100, 0), (120, 0), (1000, 1)] {
        lan.watch("node2", &["node1"]);
        lan.run_for(Duration::from_millis(200));
        lan.watch("node2", &[]);
        let before = lan.node("node1").resumed;
        lan.run_for(Duration::from_millis(pause));
        lan.watch("node2", &["node1"]);
        lan.run_for(Duration::from_millis(100));
        assert_eq!(lan.node("node1").resumed - before, resumed, "after {pause} ms without pings");
        assert!(lan.node("node2").membership.unresponsive().is_empty());
    }
}

#[test]
fn dead_node_in_a_group_of_five_is_declared_down_within_500ms() {
    let survivors = ["node1", "node2", "node3", "node4"];
    let mut worst = Duration::ZERO;
    for seed in 0..20 {
        let mut lan = Lan::with_nodes(5, 100 + seed);
        lan.run_for(Duration::from_millis(2000 + seed * 41));
        lan.crash("node5");
        let took = lan
            .run_until(Duration::from_secs(2), |lan| {
                survivors.iter().all(|n| !lan.alive(n).contains("node5"))
            })
            .unwrap_or_else(|| panic!("seed {seed}: node5 never declared down"));
        worst = worst.max(took);
    }
    println!("detection of a dead node among 5: worst {worst:?}");
    assert!(worst < Duration::from_millis(500), "worst detection {worst:?}");
}

#[test]
fn leaving_node_is_gone_for_the_others_at_once() {
    let mut worst = Duration::ZERO;
    for seed in 0..20 {
        let mut lan = Lan::with_nodes(3, 200 + seed);
        lan.run_for(Duration::from_millis(1000 + seed * 13));
        lan.leave("node3");
        assert!(lan.alive("node3").is_empty());
        let took = lan
            .run_until(Duration::from_secs(1), |lan| {
                !lan.alive("node1").contains("node3") && !lan.alive("node2").contains("node3")
            })
            .expect("departure seen");
        worst = worst.max(took);
    }
    println!("departure seen by every member: worst {worst:?}");
    // One hop on the fake LAN, far below the 300-500 ms of failure detection.
    assert!(worst <= Duration::from_millis(30), "departure took {worst:?}");
}

#[test]
fn leaving_node_in_a_group_of_six_is_gone_for_everyone_within_a_few_gossip_rounds() {
    let others = ["node1", "node2", "node3", "node4", "node5"];
    let mut worst = Duration::ZERO;
    for seed in 0..20 {
        let mut lan = Lan::with_nodes(6, 300 + seed);
        lan.run_for(Duration::from_millis(1000 + seed * 13));
        lan.leave("node6");
        let took = lan
            .run_until(Duration::from_secs(1), |lan| others.iter().all(|n| !lan.alive(n).contains("node6")))
            .expect("departure seen");
        worst = worst.max(took);
    }
    println!("departure seen by 5 members: worst {worst:?}");
    // leave() tells two members directly; they pass it on at their next gossip push (25 ms).
    assert!(worst <= Duration::from_millis(60), "departure took {worst:?}");
}

#[test]
fn lossy_lan_raises_no_false_verdict() {
    for seed in 0..5 {
        let mut lan = Lan::with_nodes(3, 400 + seed);
        lan.run_for(Duration::from_secs(1));
        // 2 % loss for a simulated minute: indirect probes and refutation absorb it.
        lan.loss_per_mille = 20;
        let all = names(&["node1", "node2", "node3"]);
        for _ in 0..600 {
            lan.run_for(Duration::from_millis(100));
            for n in ["node1", "node2", "node3"] {
                assert_eq!(*lan.alive(n), all, "seed {seed}: {n} at {:?}", lan.elapsed());
            }
        }
        assert!(lan.lost > 40, "the wire did lose datagrams: {}", lan.lost);
    }
}

#[test]
fn restarted_node_rejoins_as_a_new_generation() {
    let all = names(&["node1", "node2", "node3"]);
    let everyone_sees_all = |lan: &Lan| ["node1", "node2", "node3"].iter().all(|n| *lan.alive(n) == all);
    let mut lan = Lan::with_nodes(3, 3);
    lan.run_for(Duration::from_secs(1));

    // Crash, be declared down, restart.
    lan.crash("node3");
    lan.run_until(Duration::from_secs(1), |lan| !lan.alive("node1").contains("node3")).unwrap();
    lan.start_node(3, 2, None);
    let took = lan.run_until(Duration::from_secs(2), everyone_sees_all).expect("rejoins after detection");
    assert!(took < Duration::from_millis(10), "rejoined in {took:?}");
    assert!(lan.node("node1").ups.iter().any(|id| id.name() == "node3" && id.generation() == 2));

    // Restart faster than detection: the new generation replaces the old one at once.
    lan.run_for(Duration::from_secs(1));
    lan.crash("node3");
    lan.start_node(3, 3, None);
    lan.run_until(Duration::from_secs(2), everyone_sees_all).expect("rejoins before detection");
    lan.run_for(Duration::from_secs(3));
    assert!(everyone_sees_all(&lan), "stays alive, its old generation is not mistaken for it");

    // Leave, then come back.
    lan.leave("node3");
    lan.run_for(Duration::from_millis(100));
    assert_eq!(*lan.alive("node1"), names(&["node1", "node2"]));
    lan.start_node(3, 4, None);
    lan.run_until(Duration::from_secs(2), everyone_sees_all).expect("rejoins after leaving");
}

#[test]
fn member_with_the_wrong_secret_never_joins() {
    let mut lan = Lan::new(Some(b"right"), 4);
    lan.start_node(1, 1, None);
    lan.start_node(2, 1, None);
    lan.start_node(3, 1, Some(Some(b"wrong")));
    lan.start_node(4, 1, Some(None));
    lan.run_for(Duration::from_secs(5));
    assert_eq!(*lan.alive("node1"), names(&["node1", "node2"]));
    assert_eq!(*lan.alive("node2"), names(&["node1", "node2"]));
    assert_eq!(*lan.alive("node3"), names(&["node3"]));
    assert_eq!(*lan.alive("node4"), names(&["node4"]));
    let stats = lan.node("node1").membership.stats();
    assert!(stats.unauthenticated >= 8, "node3 and node4 retry every second: {stats:?}");
    assert!(lan.node("node3").membership.stats().unauthenticated > 0);
    assert!(lan.node("node4").membership.stats().unauthenticated > 0);
    assert!(!lan.node("node4").membership.is_authenticated());
}

#[test]
fn members_at_other_addresses_than_their_nodes_never_count_as_alive() {
    // No secret: the Nodes' addresses are what keeps them out.
    let mut lan = Lan::new(None, 11);
    let admitted: Admitted = (1..=3).map(|i| (format!("node{i}"), BTreeSet::from([addr(i).ip()]))).collect();
    for i in 1..=3 {
        lan.start_node(i, 1, None);
        let now = lan.now;
        lan.node_mut(&format!("node{i}")).membership.admit(now, admitted.clone());
    }
    // A host that names itself in its own file, and one that takes node3's name.
    lan.start_as("node4", "node4", addr(4), 1, None);
    lan.start_as("impostor", "node3", addr(5), 1, None);
    lan.run_for(Duration::from_secs(5));
    let three = names(&["node1", "node2", "node3"]);
    for node in ["node1", "node2", "node3"] {
        assert_eq!(*lan.alive(node), three, "{node}");
        let refused: BTreeSet<SocketAddr> = lan.node(node).refused.iter().map(MemberId::addr).collect();
        assert_eq!(refused, BTreeSet::from([addr(4), addr(5)]), "{node}");
    }
    // The real node3 dies: its name is not kept alive by the impostor.
    lan.crash("node3");
    lan.run_until(Duration::from_secs(2), |lan| !lan.alive("node1").contains("node3"))
        .expect("node3 declared down although an impostor has its name");
    assert_eq!(*lan.alive("node2"), names(&["node1", "node2"]));
}

#[test]
fn after_a_partition_heals_the_views_are_one_within_a_seed_retry() {
    let mut lan = Lan::with_nodes(3, 21);
    let all = names(&["node1", "node2", "node3"]);
    lan.run_until(Duration::from_millis(200), |lan| *lan.alive("node1") == all).expect("converged");
    // node1 alone on one side, node2 and node3 on the other, long enough for verdicts.
    for other in [2, 3] {
        lan.cut.insert((addr(1), addr(other)));
        lan.cut.insert((addr(other), addr(1)));
    }
    lan.run_until(Duration::from_secs(3), |lan| {
        *lan.alive("node1") == names(&["node1"]) && *lan.alive("node2") == names(&["node2", "node3"])
    })
    .expect("each side declares the other down");
    lan.run_for(Duration::from_secs(2));
    lan.cut.clear();
    let took = lan
        .run_until(Duration::from_secs(2), |lan| {
            ["node1", "node2", "node3"].iter().all(|n| *lan.alive(n) == all)
        })
        .expect("the views merge");
    // One seed retry (80 ms), a round trip, and the rejoin of the side declared down.
    assert!(took < Duration::from_millis(100), "merged {took:?} after the partition healed");
}

#[test]
fn group_without_secret_works_unauthenticated() {
    let mut lan = Lan::new(None, 5);
    lan.start_node(1, 1, None);
    lan.start_node(2, 1, None);
    lan.run_for(Duration::from_millis(100));
    assert_eq!(*lan.alive("node2"), names(&["node1", "node2"]));
}

/// What the network and the clock do next, in the property test.
#[derive(Clone, Debug)]
enum Chaos {
    /// Deliver the datagram at this index (modulo the in-flight count), out of order.
    Deliver(usize),
    /// Deliver it twice.
    Duplicate(usize),
    /// Lose it.
    Drop(usize),
    /// Fire this timer of this node now, whatever its deadline.
    Fire(usize, usize),
    /// Let the clock run normally for this many milliseconds.
    Run(u16),
    /// Hostile bytes to a node.
    Garbage(usize, Vec<u8>),
    /// A well-formed-looking datagram with a flipped bit.
    Flip(usize, usize),
    /// Crash and restart a node under its next generation.
    Restart(usize),
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        4 => any::<usize>().prop_map(Chaos::Deliver),
        1 => any::<usize>().prop_map(Chaos::Duplicate),
        2 => any::<usize>().prop_map(Chaos::Drop),
        2 => (0..3usize, any::<usize>()).prop_map(|(n, t)| Chaos::Fire(n, t)),
        2 => (0..400u16).prop_map(Chaos::Run),
        1 => (0..3usize, proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(n, b)| Chaos::Garbage(n, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(d, bit)| Chaos::Flip(d, bit)),
        1 => (0..3usize).prop_map(Chaos::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_order_or_loss_never_panics_and_self_stays_alive(
        secret in prop_oneof![Just(None), Just(Some(b"k".to_vec()))],
        steps in proptest::collection::vec(chaos(), 0..200),
    ) {
        let mut lan = Lan::new(secret.as_deref(), 7);
        let mut generations = [1u64; 3];
        for i in 1..=3 {
            lan.start_node(i, 1, None);
        }
        for step in steps {
            match step {
                Chaos::Deliver(i) | Chaos::Duplicate(i) | Chaos::Drop(i) if !lan.wire.is_empty() => {
                    let i = i % lan.wire.len();
                    let datagram = match step {
                        Chaos::Duplicate(_) => Datagram { at: lan.now, ..clone(&lan.wire[i]) },
                        _ => lan.wire.swap_remove(i),
                    };
                    if !matches!(step, Chaos::Drop(_)) {
                        let to = datagram.to;
                        let now = lan.now;
                        if let Some(node) = lan.nodes.get_mut(&to) {
                            node.membership.handle_datagram(now, &datagram.bytes);
                            lan.perform(to);
                        }
                    }
                }
                Chaos::Fire(n, t) => {
                    let at = addr(n + 1);
                    let now = lan.now;
                    let node = lan.nodes.get_mut(&at).unwrap();
                    if !node.timers.is_empty() {
                        let (_, timer) = node.timers.swap_remove(t % node.timers.len());
                        node.membership.handle_timer(now, timer);
                        lan.perform(at);
                    }
                }
                Chaos::Run(ms) => lan.run_for(Duration::from_millis(u64::from(ms))),
                Chaos::Garbage(n, bytes) => {
                    let now = lan.now;
                    let at = addr(n + 1);
                    lan.nodes.get_mut(&at).unwrap().membership.handle_datagram(now, &bytes);
                    lan.perform(at);
                }
                Chaos::Flip(d, bit) if !lan.wire.is_empty() => {
                    let d = d % lan.wire.len();
                    let bytes = &mut lan.wire[d].bytes;
                    let bit = bit % (bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
                Chaos::Restart(n) => {
                    generations[n] += 1;
                    lan.start_node(n + 1, generations[n], None);
                }
                _ => {}
            }
            for (at, node) in &lan.nodes {
                let me = format!("node{}", at.ip().to_string().rsplit('.').next().unwrap());
                prop_assert!(node.membership.alive().contains(&me), "{me} not in its own alive set");
            }
        }
        // Whatever happened, a quiet network heals into one group.
        lan.run_for(Duration::from_secs(5));
        let all = names(&["node1", "node2", "node3"]);
        for n in ["node1", "node2", "node3"] {
            prop_assert_eq!(lan.alive(n), &all, "{} after healing", n);
        }
    }
}

fn clone(d: &Datagram) -> Datagram {
    Datagram { at: d.at, to: d.to, bytes: d.bytes.clone() }
}
