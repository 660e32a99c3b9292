//! `ferrolb lab chaos`: nodes running `ferrolb run`, a real FRR router and
//! a client in network namespaces, a thousand VIPs of every shape a user has
//! (L2 over IPv4 and IPv6, L2 and BGP restricted to some nodes by
//! nodeSelectors, Services sharing a requested address, BGP from every
//! node), and a seeded random loop of faults (SIGKILL and restart, SIGSTOP,
//! every node under a CPU limit, a link down, FRR restarted, Services added,
//! removed and moved, a file that does not validate, a truncated state
//! file, a state directory that cannot be written). After each fault,
//! observers that are not ferrolb check the invariants:
//! - every L2 VIP is answered by exactly one MAC, of a node its
//!   advertisement selects, as the client hears it (ARP and NDP); while a
//!   node is down, every VIP is answered again by the others;
//! - the router holds a path from every node selected for every BGP VIP,
//!   and no other;
//! - every node gives every Service the same addresses, Services sharing
//!   one hold the address they requested, and a Service keeps its addresses
//!   across restarts and faults unless the file moved it;
//! - no panic; open files and memory stay flat.
//!
//! It prints each fault with how long VIPs were answered twice, how long the
//! L2 VIPs took to be answered again, and how long everything took to
//! settle, then each process's memory and open files; it fails (exit 1) on
//! the first invariant broken, with the fault log and the seed.
//!
//! ```text
//!  ┌─ client .2 ─┐ ┌─ node1 .11 ─┐ … ┌─ nodeN ─┐ ┌─ router .1 (FRR, AS 64513) ─┐
//!  └──────┬──────┘ └──────┬──────┘   └────┬────┘ └─────────────┬───────────────┘
//!  ┌──────┴───────────────┴───────────────┴────────────────────┴───────────────┐
//!  │ br0 198.51.100.0/24, 2001:db8:100::/64: L2 VIPs .100-.199 and ::1:0/112   │
//!  │ BGP VIPs 192.0.2.0/24 (AS 64512, every node, ECMP at the router)          │
//!  └───────────────────────────────────────────────────────────────────────────┘
//! ```

mod cluster;
mod fault;
mod observe;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_lab::{Frr, Topology, probe};

use cluster::{Cluster, Kind};
use fault::Fault;

/// Arguments of `ferrolb lab chaos`.
#[derive(clap::Args)]
pub struct Args {
    /// Nodes running `ferrolb run` (3 to 5).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(3..=5))]
    nodes: u8,
    /// LoadBalancer Services at the start (a quarter in BGP, the rest in L2).
    #[arg(long, default_value_t = 1000)]
    services: usize,
    /// Faults to inject, one after the other.
    #[arg(long, default_value_t = 20)]
    faults: usize,
    /// The seed of the faults: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How long the lab may take to settle after a fault before that counts as a broken invariant.
    #[arg(long, default_value_t = 30)]
    settle_secs: u64,
    /// After the faults, a soak of this many minutes: a Service added and
    /// one removed every 100 ms, then memory and open files compared.
    #[arg(long, default_value_t = 0)]
    soak_minutes: u64,
}

/// A small seeded generator (xorshift64*): the faults of a seed are always the same.
pub(super) struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// One node's `ferrolb run`.
struct Node {
    /// Its process, while it runs.
    pid: Option<u32>,
    /// Processes started so far (each logs to its own file).
    starts: u32,
    /// Its current process's resident memory (KiB) and open files once settled the first time.
    first: Option<(u32, u64, usize)>,
}

/// What one fault did.
struct Record {
    fault: String,
    /// The longest time two MACs answered for one VIP.
    doubled: Option<Duration>,
    /// While a node was down: time until the others answered for every L2 VIP.
    answered_again: Option<Duration>,
    /// Time until every invariant held again, from the end of the fault.
    settled: Duration,
    /// What else the fault showed (the CPU limit's counts).
    note: Option<String>,
}

/// The running lab; dropping it stops every process and removes every namespace.
struct Lab {
    nodes: Vec<Node>,
    // FRR stops before the namespaces go.
    frr: Option<Frr>,
    frr_conf: String,
    topology: Topology,
    macs: Vec<String>,
    exe: PathBuf,
    cluster: Cluster,
    /// The addresses of each Service, as every node agreed at the last settle.
    assigned: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Services whose addresses may change at the next settle (added, moved).
    changing: BTreeSet<String>,
    /// Since when some VIP is answered by two MACs.
    doubled_since: Option<Instant>,
    doubled_longest: Option<Duration>,
    /// What the last L2 observation saw, for a broken invariant's message.
    l2_seen: String,
    /// Who answered each L2 VIP at the last observation.
    l2_answers: BTreeMap<IpAddr, BTreeSet<String>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if let Some(pid) = node.pid.take() {
                let _ = std::process::Command::new("kill").args(["-CONT", &pid.to_string()]).status();
                self.topology.nodes[i].netns.stop(pid, Duration::from_secs(2));
            }
        }
    }
}

/// Runs the chaos loop.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    super::require(
        "the chaos lab",
        &["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "python3", "nsenter"],
    )?;
    let exe = std::env::current_exe().context("cannot find the ferrolb binary")?;
    let settle = Duration::from_secs(args.settle_secs);
    println!(
        "ferrolb lab chaos: {} nodes, FRR, a client, {} Services; {} faults, seed {}",
        args.nodes, args.services, args.faults, args.seed
    );
    let mut lab = Lab::build(exe, usize::from(args.nodes), args.services)?;
    let started = lab.settle(settle).context("the lab did not settle before the first fault")?;
    println!("settled in {} ms: every invariant holds", started.as_millis());
    lab.note_resources();
    // The faults of a seed do not depend on the edits' draws.
    let (mut faults, mut rng) = (Rng::new(args.seed), Rng::new(!args.seed));
    let mut records = Vec::new();
    for n in 1..=args.faults {
        let fault = Fault::draw(&mut faults, lab.nodes.len());
        println!("fault {n}/{}: {}", args.faults, fault.describe());
        match lab.inject(&fault, &mut rng, settle) {
            Ok(record) => records.push(record),
            Err(broken) => {
                print_records(&records);
                println!(
                    "INVARIANT BROKEN after fault {n} ({}), seed {}: {broken:#}",
                    fault.describe(),
                    args.seed
                );
                lab.print_log_tails();
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    print_records(&records);
    if args.soak_minutes > 0 {
        lab.soak(Duration::from_secs(args.soak_minutes * 60), &mut rng, settle)?;
    }
    let flat = lab.print_resources();
    lab.check_no_panic()?;
    if !flat {
        println!("open files grew: a leak (seed {})", args.seed);
        return Ok(ExitCode::FAILURE);
    }
    println!("every invariant held through {} faults (seed {})", args.faults, args.seed);
    Ok(ExitCode::SUCCESS)
}

fn print_records(records: &[Record]) {
    let ms = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string());
    println!(
        "\n{:>3}  {:<52} {:>14} {:>16} {:>12}",
        "#", "fault", "two MACs (ms)", "answered (ms)", "settled (ms)"
    );
    for (i, r) in records.iter().enumerate() {
        println!(
            "{:>3}  {:<52} {:>14} {:>16} {:>12}",
            i + 1,
            r.fault,
            ms(r.doubled),
            ms(r.answered_again),
            r.settled.as_millis()
        );
        if let Some(note) = &r.note {
            println!("     {note}");
        }
    }
}

impl Lab {
    fn build(exe: PathBuf, nodes: usize, services: usize) -> anyhow::Result<Lab> {
        let topology = Topology::new(nodes)?;
        let addresses: Vec<String> = topology.nodes.iter().map(|n| n.ipv4.to_string()).collect();
        let cluster = Cluster::new(addresses, services);
        let frr_conf = super::demo::router_frr_config(&cluster.render())?;
        let frr = Frr::start_with_text(&topology.router, &frr_conf, false)?;
        let macs =
            topology.nodes.iter().map(|n| probe::mac(&n.netns, "eth0")).collect::<Result<Vec<_>, _>>()?;
        let mut lab = Lab {
            nodes: (0..nodes).map(|_| Node { pid: None, starts: 0, first: None }).collect(),
            frr: Some(frr),
            frr_conf,
            topology,
            macs,
            exe,
            cluster,
            assigned: BTreeMap::new(),
            changing: BTreeSet::new(),
            doubled_since: None,
            doubled_longest: None,
            l2_seen: String::new(),
            l2_answers: BTreeMap::new(),
        };
        lab.write_file(&lab.cluster.render())?;
        for i in 0..nodes {
            lab.start_node(i)?;
        }
        lab.changing = lab.cluster.services.keys().cloned().collect();
        Ok(lab)
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.topology.nodes[i].netns.dir().to_owned()
    }

    fn socket(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("control.sock")
    }

    /// Writes the cluster file of every node as an editor does (beside, then renamed).
    fn write_file(&self, text: &str) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            let dir = self.node_dir(i);
            std::fs::write(dir.join("cluster.yaml.new"), text)?;
            std::fs::rename(dir.join("cluster.yaml.new"), dir.join("cluster.yaml"))?;
        }
        Ok(())
    }

    fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let dir = self.node_dir(i);
        let node = &mut self.nodes[i];
        node.starts += 1;
        let netns = &self.topology.nodes[i].netns;
        let mut c = netns.command(&self.exe.to_string_lossy());
        c.args(["run", "--node", &format!("node{}", i + 1), "--config"])
            .arg(dir.join("cluster.yaml"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--control-socket")
            .arg(dir.join("control.sock"))
            .env("RUST_LOG", "info");
        node.pid = Some(netns.spawn(c, &dir.join(format!("ferrolb-{}.log", node.starts)))?);
        node.first = None;
        Ok(())
    }

    fn signal(&self, i: usize, signal: &str) {
        if let Some(pid) = self.nodes[i].pid {
            let _ = std::process::Command::new("kill").args([signal, &pid.to_string()]).status();
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(pid) = self.nodes[i].pid.take() {
            self.topology.nodes[i].netns.kill(pid);
        }
    }

    /// The addresses of the Services of `kind`, as they were last agreed
    /// (a shared one once).
    fn vips(&self, kind: Kind) -> BTreeSet<IpAddr> {
        self.cluster.of(kind).filter_map(|s| self.assigned.get(s)).flatten().copied().collect()
    }

    /// Each VIP of the kinds `bgp` says, with the nodes that may announce
    /// it: those its advertisement selects, less the one `down`.
    fn expected(&self, bgp: bool, down: Option<usize>) -> BTreeMap<IpAddr, BTreeSet<usize>> {
        let nodes = self.nodes.len();
        Kind::ALL
            .into_iter()
            .filter(|kind| kind.is_bgp() == bgp)
            .flat_map(|kind| {
                let eligible: BTreeSet<usize> = kind.eligible(nodes).filter(|i| Some(*i) != down).collect();
                self.vips(kind).into_iter().map(move |vip| (vip, eligible.clone()))
            })
            .collect()
    }

    /// Asks the client who answers for every L2 VIP; notes two answers.
    /// Whether every VIP is answered by exactly one MAC, of a node its
    /// advertisement selects, not `down`.
    fn l2_answered(&mut self, down: Option<usize>) -> anyhow::Result<bool> {
        let expected = self.expected(false, down);
        let vips: Vec<IpAddr> = expected.keys().copied().collect();
        let answers = observe::l2_answers(&self.topology.client, &vips)?;
        let doubled = answers.values().any(|macs| macs.len() > 1);
        match (doubled, self.doubled_since) {
            (true, None) => self.doubled_since = Some(Instant::now()),
            (false, Some(since)) => {
                let lasted = since.elapsed();
                self.doubled_longest = Some(self.doubled_longest.map_or(lasted, |l| l.max(lasted)));
                self.doubled_since = None;
            }
            _ => {}
        }
        let macs = &self.macs;
        let wrong: Vec<(&IpAddr, Option<&BTreeSet<String>>)> = expected
            .iter()
            .map(|(vip, eligible)| (vip, eligible, answers.get(vip)))
            .filter(|(_, eligible, answered)| {
                !answered.is_some_and(|m| {
                    m.len() == 1 && m.iter().all(|m| eligible.iter().any(|i| macs[*i] == *m))
                })
            })
            .map(|(vip, _, answered)| (vip, answered))
            .collect();
        self.l2_seen = match wrong.first() {
            None => format!("all {} L2 VIPs answered by one node", vips.len()),
            Some((vip, answered)) => format!(
                "{} of {} L2 VIPs not answered by exactly one live node it may be, e.g. {vip}: {:?} (may be nodes {:?}; nodes' MACs {:?})",
                wrong.len(),
                vips.len(),
                answered,
                expected[vip].iter().map(|i| format!("node{}", i + 1)).collect::<Vec<_>>(),
                self.macs
            ),
        };
        let settled = wrong.is_empty();
        self.l2_answers = answers;
        Ok(settled)
    }

    /// Whether the router holds a path from every node selected for every
    /// BGP VIP, and no other route of the pools.
    fn bgp_converged(&self) -> anyhow::Result<bool> {
        let Some(frr) = &self.frr else { return Ok(false) };
        let paths = observe::bgp_paths(frr)?;
        let expected: BTreeMap<IpAddr, BTreeSet<String>> = self
            .expected(true, None)
            .into_iter()
            .map(|(vip, nodes)| {
                (vip, nodes.iter().map(|i| self.topology.nodes[*i].ipv4.to_string()).collect())
            })
            .collect();
        Ok(paths == expected)
    }

    /// Whether every node gives every Service of the file the same
    /// addresses, the ones last agreed for those not `changing`. Errors when
    /// one that was not changing has moved: a broken invariant, not a wait.
    fn assignments_agree(&mut self) -> anyhow::Result<bool> {
        let mut views = Vec::new();
        for i in 0..self.nodes.len() {
            match observe::assignments(&self.exe, &self.socket(i)) {
                Ok(view) => views.push(view),
                Err(_) => return Ok(false),
            }
        }
        for (name, ips) in &views[0] {
            if let Some(before) = self.assigned.get(name)
                && !self.changing.contains(name)
                && before != ips
            {
                anyhow::bail!(
                    "Service {name} moved from {before:?} to {ips:?} although the file did not move it"
                );
            }
        }
        let services: BTreeSet<&String> = self.cluster.services.keys().collect();
        let agreed =
            views.iter().all(|v| *v == views[0]) && views[0].keys().collect::<BTreeSet<_>>() == services;
        if agreed {
            for (name, ips) in &views[0] {
                if let Some(requested) = self.cluster.requested(name) {
                    anyhow::ensure!(
                        *ips == BTreeSet::from([requested]),
                        "Service {name} has {ips:?}, not the address {requested} it requested to share"
                    );
                }
            }
            self.assigned = views.swap_remove(0);
            self.changing.clear();
        }
        Ok(agreed)
    }

    /// Waits until every invariant holds; how long it took.
    fn settle(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            let agreed = self.assignments_agree()?;
            if agreed && self.l2_answered(None)? && self.bgp_converged()? {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                let (l2, bgp) = (self.l2_answered(None)?, self.bgp_converged()?);
                anyhow::bail!(
                    "not settled after {timeout:?}: nodes agree on the addresses: {agreed}; every L2 VIP answered by one node: {l2} ({}); the router's paths as expected: {bgp}",
                    self.l2_seen
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Watches the L2 answers for `during` (two MACs are noted).
    fn watch(&mut self, during: Duration) -> anyhow::Result<()> {
        let end = Instant::now() + during;
        while Instant::now() < end {
            self.l2_answered(None)?;
        }
        Ok(())
    }

    /// While node `down` is down: waits until the others answer every L2 VIP.
    fn answered_without(&mut self, down: usize, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        while !self.l2_answered(Some(down))? {
            anyhow::ensure!(
                start.elapsed() < timeout,
                "node{} down: L2 VIPs not answered by the others after {timeout:?}",
                down + 1
            );
        }
        Ok(start.elapsed())
    }

    fn inject(&mut self, fault: &Fault, rng: &mut Rng, settle: Duration) -> anyhow::Result<Record> {
        self.doubled_longest = None;
        self.doubled_since = None;
        let mut answered_again = None;
        let mut note = None;
        match fault {
            Fault::Kill { node, down } => {
                let killed = Instant::now();
                self.kill(*node);
                answered_again = Some(self.answered_without(*node, settle)?);
                std::thread::sleep(down.saturating_sub(killed.elapsed()));
                self.start_node(*node)?;
            }
            Fault::Stop { node, paused } => {
                self.signal(*node, "-STOP");
                self.watch(*paused)?;
                self.signal(*node, "-CONT");
            }
            Fault::CpuLimit { millicores, lasting } => {
                note = Some(self.cpu_limited(*millicores, *lasting, rng)?)
            }
            Fault::LinkFlap { node, down } => {
                let port = self.topology.nodes[*node].port.clone();
                self.topology.segment.netns().ip(&["link", "set", &port, "down"])?;
                let cut = Instant::now();
                answered_again = Some(self.answered_without(*node, settle)?);
                std::thread::sleep(down.saturating_sub(cut.elapsed()));
                self.topology.segment.netns().ip(&["link", "set", &port, "up"])?;
            }
            Fault::RouterRestart => {
                drop(self.frr.take());
                self.frr = Some(Frr::start_with_text(&self.topology.router, &self.frr_conf, false)?);
            }
            Fault::AddServices(n) => {
                let added = self.cluster.add_some(*n, rng);
                self.changing.extend(added);
                self.write_file(&self.cluster.render())?;
            }
            Fault::RemoveServices(n) => {
                self.cluster.remove_some(*n, rng);
                self.write_file(&self.cluster.render())?;
            }
            Fault::MoveService => {
                self.changing.extend(self.cluster.move_one(rng));
                self.write_file(&self.cluster.render())?;
            }
            Fault::InvalidEdit { lasting } => {
                self.write_file(&self.cluster.render_invalid())?;
                // The last good configuration keeps running: everything holds meanwhile.
                let end = Instant::now() + *lasting;
                while Instant::now() < end {
                    anyhow::ensure!(
                        self.l2_answered(None)?,
                        "while the file did not validate: {}",
                        self.l2_seen
                    );
                }
                anyhow::ensure!(
                    self.bgp_converged()?,
                    "the router's paths changed while the file did not validate"
                );
                self.write_file(&self.cluster.render())?;
            }
            Fault::UnwritableState { node, lasting } => {
                self.unwritable_state(*node, *lasting, rng, settle)?
            }
            Fault::TruncatedState { node } => {
                self.kill(*node);
                let state =
                    self.node_dir(*node).join("state").join(format!("node{}.assignments.json", node + 1));
                let bytes = std::fs::read(&state).unwrap_or_default();
                std::fs::write(&state, &bytes[..bytes.len() / 2])?;
                self.start_node(*node)?;
            }
        }
        let settled = self.settle(settle)?;
        if let Some(since) = self.doubled_since.take() {
            self.doubled_longest =
                Some(self.doubled_longest.map_or(since.elapsed(), |l| l.max(since.elapsed())));
        }
        if fault.node().is_some() {
            self.note_resources();
        }
        Ok(Record { fault: fault.describe(), doubled: self.doubled_longest, answered_again, settled, note })
    }

    /// Every node under a CPU limit of `millicores` for `lasting`, with a Service added
    /// every 500 ms (work that makes the limit bite: an idle speaker uses
    /// far less), the L2 answers watched meanwhile; what the limit did, in
    /// counts: the periods the nodes were stalled in, the L2 VIPs another
    /// node answered meanwhile, the announcements the client heard and the
    /// info lines logged.
    fn cpu_limited(&mut self, millicores: u64, lasting: Duration, rng: &mut Rng) -> anyhow::Result<String> {
        // One limit per node, as each speaker Pod has its own. A Pod has it
        // from its start: wait until the nodes have read it (they look every
        // 5 s) and the announcements of the last fault's takeovers are over
        // (five, 1.1 s apart), so that what the client hears is the limit's doing.
        let mut limits = Vec::new();
        for (i, pid) in self.nodes.iter().enumerate().filter_map(|(i, n)| Some((i, n.pid?))) {
            let limit = ferrolb_lab::CpuLimit::new(&format!("chaos-node{}", i + 1), millicores)?;
            limit.add(pid)?;
            limits.push(limit);
        }
        std::thread::sleep(Duration::from_secs(6));
        self.l2_answered(None)?;
        let before = self.l2_answers.clone();
        let lines_before = self.info_lines();
        let throttled_before: Vec<ferrolb_lab::Throttling> =
            limits.iter().map(ferrolb_lab::CpuLimit::throttling).collect::<Result<_, _>>()?;
        let listener = observe::Announcements::count(&self.topology.client, lasting)?;
        let end = Instant::now() + lasting;
        let mut moved = BTreeSet::new();
        let mut next_edit = Instant::now();
        while Instant::now() < end {
            if Instant::now() >= next_edit {
                // Added only: a new Service's address is none of `before`'s.
                let added = self.cluster.add_some(1, rng);
                self.changing.extend(added);
                self.write_file(&self.cluster.render())?;
                next_edit += Duration::from_millis(500);
            }
            self.l2_answered(None)?;
            moved.extend(
                self.l2_answers
                    .iter()
                    .filter(|(vip, macs)| before.get(*vip).is_some_and(|b| !b.is_superset(macs)))
                    .map(|(vip, _)| *vip),
            );
        }
        let mut stalled = ferrolb_lab::Throttling::default();
        for (limit, before) in limits.iter().zip(throttled_before) {
            let now = limit.throttling()?;
            stalled.periods += now.periods - before.periods;
            stalled.throttled += now.throttled - before.throttled;
            stalled.stalled += now.stalled - before.stalled;
        }
        drop(limits);
        Ok(format!(
            "nodes stalled in {} of {} periods ({} ms in all); {} L2 VIPs answered by another node meanwhile; {} announcements heard; {} info lines logged",
            stalled.throttled,
            stalled.periods,
            stalled.stalled.as_millis(),
            moved.len(),
            listener.heard()?,
            self.info_lines() - lines_before
        ))
    }

    /// Node `node`'s state directory read-only for `lasting` (root ignores
    /// permissions: a read-only bind mount in the node's own mount
    /// namespace), Services added meanwhile, which it serves but cannot
    /// save; then writable again, a Service added (the next save), and a
    /// restart: the addresses it gives must be the ones it gave.
    fn unwritable_state(
        &mut self,
        node: usize,
        lasting: Duration,
        rng: &mut Rng,
        settle: Duration,
    ) -> anyhow::Result<()> {
        let Some(pid) = self.nodes[node].pid else { return Ok(()) };
        let state = self.node_dir(node).join("state");
        let state = state.to_string_lossy();
        ferrolb_lab::cmd::in_mount_namespace(
            pid,
            &format!("mount --bind '{state}' '{state}' && mount -o remount,bind,ro '{state}' '{state}'"),
        )?;
        let added = self.cluster.add_some(3, rng);
        self.changing.extend(added);
        self.write_file(&self.cluster.render())?;
        self.settle(settle)?;
        std::thread::sleep(lasting);
        ferrolb_lab::cmd::in_mount_namespace(pid, &format!("umount '{state}'"))?;
        // The fault bit: the node could not save what it served meanwhile.
        anyhow::ensure!(
            self.logs().iter().any(|(name, log)| name.starts_with(&format!("node{} ", node + 1))
                && log.contains("cannot save the assignments")),
            "node{} saved its assignments into a read-only directory",
            node + 1
        );
        let added = self.cluster.add_some(1, rng);
        self.changing.extend(added);
        self.write_file(&self.cluster.render())?;
        self.settle(settle)?;
        self.kill(node);
        self.start_node(node)
    }

    /// Info lines the nodes logged so far (every run).
    fn info_lines(&self) -> usize {
        self.logs().iter().map(|(_, log)| log.lines().filter(|l| l.contains(" INFO ")).count()).sum()
    }

    /// A Service added and one removed every 100 ms for `during` (the
    /// Services' count stays), then every invariant again; prints memory and
    /// open files as they go.
    fn soak(&mut self, during: Duration, rng: &mut Rng, settle: Duration) -> anyhow::Result<()> {
        println!("\nsoak: a Service added and one removed every 100 ms for {} min", during.as_secs() / 60);
        let start = Instant::now();
        let mut edits = 0u64;
        let mut next_report = Duration::ZERO;
        while start.elapsed() < during {
            let added = self.cluster.add_some(1, rng);
            self.changing.extend(added);
            self.cluster.remove_some(1, rng);
            self.write_file(&self.cluster.render())?;
            edits += 1;
            if start.elapsed() >= next_report {
                let now: Vec<String> = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.pid.and_then(observe::resources))
                    .map(|(rss, fds)| format!("{:.1} MiB {fds} files", rss as f64 / 1024.0))
                    .collect();
                println!("  {:>5} s, {edits} edits: {}", start.elapsed().as_secs(), now.join(" | "));
                next_report += Duration::from_secs(60);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let settled = self.settle(settle)?;
        println!(
            "soak over: {edits} edits, settled {} ms after the last, every invariant holds",
            settled.as_millis()
        );
        Ok(())
    }

    /// Notes each process's memory and open files, once per process.
    fn note_resources(&mut self) {
        for node in &mut self.nodes {
            if let Some(pid) = node.pid
                && node.first.is_none_or(|(p, _, _)| p != pid)
                && let Some((rss, fds)) = observe::resources(pid)
            {
                node.first = Some((pid, rss, fds));
            }
        }
    }

    /// Prints memory and open files at the start of each process and now;
    /// whether open files stayed flat (at most 16 more).
    fn print_resources(&self) -> bool {
        println!("\nnode    pid      RSS first/now (MiB)   open files first/now");
        let mut flat = true;
        for (i, node) in self.nodes.iter().enumerate() {
            let (Some((pid, rss, fds)), Some(now)) = (node.first, node.pid.and_then(observe::resources))
            else {
                continue;
            };
            println!(
                "node{}  {pid:>7}  {:>8.1} / {:<8.1}      {fds:>5} / {}",
                i + 1,
                rss as f64 / 1024.0,
                now.0 as f64 / 1024.0,
                now.1
            );
            flat &= now.1 <= fds + 16;
        }
        flat
    }

    fn logs(&self) -> Vec<(String, String)> {
        let mut logs = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for start in 1..=node.starts {
                let path = self.node_dir(i).join(format!("ferrolb-{start}.log"));
                logs.push((
                    format!("node{} run {start}", i + 1),
                    std::fs::read_to_string(path).unwrap_or_default(),
                ));
            }
        }
        logs
    }

    fn check_no_panic(&self) -> anyhow::Result<()> {
        for (name, log) in self.logs() {
            anyhow::ensure!(!log.contains("panicked at"), "{name} panicked:\n{log}");
        }
        Ok(())
    }

    fn print_log_tails(&self) {
        for (name, log) in self.logs() {
            let lines: Vec<&str> = log.lines().collect();
            println!("--- {name} (last 15 lines)\n{}", lines[lines.len().saturating_sub(15)..].join("\n"));
        }
    }
}
