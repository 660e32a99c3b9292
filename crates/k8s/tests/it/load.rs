//! The controller under load (issue 6): Services from the fake API server,
//! then a pool change that moves half of them. It must write each Service's
//! status once, and once more only for a Service that moves, and stay under
//! 100 MiB.
//!
//! Two ways to run it, both with every `cargo test`:
//! - in this process, on tokio's paused clock: a thousand Services, for the
//!   write counts. The memory it prints is the whole test process's, with
//!   whatever other tests run beside it: shown, never asserted;
//! - in its own process: the `load_controller` example of this crate, a
//!   client of the fake over HTTP on 127.0.0.1, so that its peak resident
//!   set (`VmHWM` of `/proc/PID/status`) is the controller's alone. Three
//!   hundred Services, on the real clock (a controller that is slow only
//!   takes longer; none of its speed is asserted).
//!
//! Ten thousand Services are `ferrolb lab bench k8s`'s (`--services`,
//! 10,000 by default): the time to give them their addresses, the status
//! writes and the controller's peak memory on a real API server, beside
//! MetalLB's.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrolb_k8s::ControllerOptions;

use crate::controller::{NS, Running};
use crate::fake::{FakeApi, objects};

/// The controller's memory allowed by the issue.
const MEMORY_BOUND: u64 = 100 << 20;

/// A field of `/proc/PID/status` (`self` for this process) in bytes
/// (`VmHWM`, `VmRSS`).
fn proc_status(pid: &str, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let line = status.lines().find(|l| l.starts_with(field)).expect("the field");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Each Service's ingress IPv4 address, by name.
fn held(fake: &FakeApi) -> BTreeMap<String, Ipv4Addr> {
    fake.all("Service")
        .iter()
        .filter_map(|s| {
            let ip = s["status"]["loadBalancer"]["ingress"][0]["ip"].as_str()?.parse().ok()?;
            Some((s["metadata"]["name"].as_str()?.to_owned(), ip))
        })
        .collect()
}

/// How a test waits: how often it looks, and how long it watches once done
/// so that a write too many would show.
#[derive(Clone, Copy)]
struct Pace {
    poll: Duration,
    quiet: Duration,
    attempts: u32,
}

/// On tokio's paused clock: time is free.
const PAUSED: Pace = Pace { poll: Duration::from_secs(1), quiet: Duration::from_secs(30), attempts: 600 };

/// On the real clock, for a controller in another process: ten debounce
/// windows of quiet, ten minutes at most.
const REAL: Pace = Pace { poll: Duration::from_millis(100), quiet: Duration::from_secs(2), attempts: 6_000 };

/// Waits until `done`, then `pace.quiet` more; returns how long it took for
/// real. `running` panics when the controller has stopped: it is asked at
/// every look, so that a dead controller fails the test at once.
async fn run_until(
    what: &str,
    pace: Pace,
    running: &mut dyn FnMut(),
    mut done: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    for _ in 0..pace.attempts {
        running();
        if done() {
            tokio::time::sleep(pace.quiet).await;
            running();
            return start.elapsed();
        }
        tokio::time::sleep(pace.poll).await;
    }
    panic!("{what}: not done after {:?} of the controller's time", pace.poll * pace.attempts);
}

/// A fake holding `services` Services of one /18 pool.
fn filled(services: usize) -> FakeApi {
    let fake = FakeApi::default();
    fake.apply(objects::namespace("default"));
    fake.apply(objects::node("node1", "198.51.100.11"));
    // A /18 of the benchmark range (RFC 2544): 16384 addresses.
    fake.apply(objects::pool(NS, "a", &["198.18.0.0/18"]));
    for i in 0..services {
        fake.apply(objects::service("default", &format!("svc-{i:05}")));
    }
    fake
}

/// What the load test measured.
struct Measured {
    /// How long the first convergence and the move took for real.
    created: Duration,
    changed: Duration,
    moved: usize,
}

impl Measured {
    /// The writes seen for `services` Services, and how long they took.
    fn writes(&self, services: usize, fake: &FakeApi) -> String {
        format!(
            "{services} Services: {services} status writes ({:.2?}), {} more for {} moved ({:.2?}); \
             {} pool status writes, {} Events",
            self.created,
            self.moved,
            self.moved,
            self.changed,
            fake.pool_status_patches().len(),
            fake.events().len(),
        )
    }
}

/// Waits for every Service to be written once, checks that, moves half of
/// them by a pool change and checks that only they are written again.
async fn converge_then_move(
    fake: &FakeApi,
    services: usize,
    pace: Pace,
    running: &mut dyn FnMut(),
) -> Measured {
    let created =
        run_until("every Service written", pace, running, || fake.status_patch_count() >= services).await;
    let patches = fake.status_patches();
    assert_eq!(patches.len(), services, "one status write per Service");
    let paths: BTreeSet<&str> = patches.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths.len(), services, "no Service written twice");
    let before = held(fake);
    assert_eq!(before.len(), services, "every Service holds an address");
    let distinct: BTreeSet<&Ipv4Addr> = before.values().collect();
    assert_eq!(distinct.len(), services, "every Service its own address");
    let pool = fake.get("IPAddressPool", NS, "a").unwrap();
    assert_eq!(pool["status"]["assignedIPv4"], services);
    assert_eq!(pool["status"]["availableIPv4"], 16384 - services);

    // Half the Services' addresses leave the pool: it keeps the first half
    // of them and gains a /18 of 198.19.0.0 instead.
    let kept = (
        Ipv4Addr::new(198, 18, 0, 0),
        Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + services as u32 / 2 - 1),
    );
    let range = format!("{}-{}", kept.0, kept.1);
    fake.apply(objects::pool(NS, "a", &[&range, "198.19.0.0/18"]));
    let moved: BTreeSet<String> = before
        .iter()
        .filter(|(_, ip)| !(kept.0..=kept.1).contains(*ip))
        .map(|(name, _)| format!("/api/v1/namespaces/default/services/{name}/status"))
        .collect();
    assert_eq!(moved.len(), services / 2, "the first addresses go to the Services in name order");
    let changed = run_until("every moved Service written", pace, running, || {
        fake.status_patch_count() >= services + moved.len()
    })
    .await;
    let patches = fake.status_patches();
    assert_eq!(patches.len(), services + moved.len(), "one write per moved Service, none for the others");
    let rewritten: BTreeSet<String> = patches[services..].iter().map(|p| p.path.clone()).collect();
    assert_eq!(rewritten, moved, "the moved Services, each once");
    let after = held(fake);
    assert_eq!(after.len(), services);
    assert!(after.values().all(|ip| (kept.0..=kept.1).contains(ip) || ip.octets()[1] == 19));
    Measured { created, changed, moved: moved.len() }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_services_take_one_write_each_and_a_pool_change_one_per_moved_service() {
    let services = 1_000;
    let fake = filled(services);
    let hwm_fake = proc_status("self", "VmHWM");
    let options = ControllerOptions { debounce: Duration::from_millis(200), ..ControllerOptions::default() };
    let mut controller = Running::spawn(fake.client(), options);
    let measured = converge_then_move(&fake, services, PAUSED, &mut || controller.assert_running()).await;
    let hwm_end = proc_status("self", "VmHWM");
    // Other tests run in this process meanwhile: a figure, not a bound.
    println!(
        "load in this process: {}; this process's peak grew {:.1} MiB, other tests' work included \
         (the fake's JSON {:.1} MiB serialized)",
        measured.writes(services, &fake),
        mib(hwm_end.saturating_sub(hwm_fake)),
        mib(fake.footprint() as u64),
    );
}

#[tokio::test]
async fn three_hundred_services_in_the_controllers_own_process_stay_under_100_mib() {
    in_its_own_process(300).await;
}

/// The `load_controller` example, which `cargo test` builds beside this
/// test binary (`cargo test --test it` alone does not: build it with
/// `cargo build -p ferrolb-k8s --example load_controller`).
fn load_controller() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join("load_controller");
    path.exists().then_some(path)
}

/// A controller process, killed when dropped (also when the test fails).
struct ControllerProcess(Child);

impl ControllerProcess {
    /// Panics if the process has exited: it runs until killed.
    fn assert_running(&mut self) {
        if let Some(status) = self.0.try_wait().expect("the controller process's status") {
            panic!("the controller process exited: {status}");
        }
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `services` Services, the controller in a process of its own over HTTP:
/// the write counts, and its peak memory.
async fn in_its_own_process(services: usize) {
    let test = "load::three_hundred_services_in_the_controllers_own_process_stay_under_100_mib";
    let Some(program) = load_controller() else {
        let reason = "target/debug/examples/load_controller is not built (cargo build -p ferrolb-k8s --example load_controller)";
        assert!(std::env::var_os("CI").is_none(), "CI must run the load test: {reason}");
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
        return;
    };
    let fake = filled(services);
    let (address, _serving) = fake.serve().await;
    let child = Command::new(program)
        .args([&format!("http://{address}"), NS])
        .stdout(Stdio::null())
        .spawn()
        .expect("the controller process");
    let mut process = ControllerProcess(child);
    let pid = process.0.id().to_string();

    let measured = converge_then_move(&fake, services, REAL, &mut || process.assert_running()).await;
    let peak = proc_status(&pid, "VmHWM");
    let resident = proc_status(&pid, "VmRSS");
    // Of the resident set: the heap and stacks, and the pages of the program.
    let (anonymous, file) = (proc_status(&pid, "RssAnon"), proc_status(&pid, "RssFile"));
    drop(process);
    println!(
        "load in the controller's own process: {}; the controller process: peak RSS {:.1} MiB, \
         {:.1} MiB resident at the end ({:.1} MiB anonymous, {:.1} MiB of files)",
        measured.writes(services, &fake),
        mib(peak),
        mib(resident),
        mib(anonymous),
        mib(file),
    );
    assert!(peak < MEMORY_BOUND, "the controller process peaked at {:.1} MiB", mib(peak));
}
