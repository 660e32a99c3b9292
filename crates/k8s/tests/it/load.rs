//! The controller under load (issue 6): ten thousand LoadBalancer Services
//! from the fake API server, then a pool change that moves half of them.
//! It must write each Service's status once, and once more only for a
//! Service that moves, and stay under 100 MiB.
//!
//! Two ways to run it:
//! - in this process, on tokio's paused clock: a thousand Services with
//!   every `cargo test`, for the write counts. The memory printed there is
//!   the whole test process's (the fake's JSON and the other tests too), a
//!   coarse bound only;
//! - in its own process: this test binary started again as
//!   [`controller_process`], a client of the fake over HTTP on 127.0.0.1,
//!   so that its peak resident set (`VmHWM` of `/proc/PID/status`) is the
//!   controller's alone (with the test harness's few pages). Ten thousand
//!   Services, too slow for a debug build, are run by hand:
//!   `cargo test -p ferrolb-k8s --release -- --ignored load`; three
//!   hundred run with every `cargo test`, so that the path does not rot.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrolb_k8s::{Controller, ControllerOptions};

use crate::controller::NS;
use crate::fake::{FakeApi, objects};

const SERVICES: usize = 10_000;

/// The controller's memory allowed by the issue.
const MEMORY_BOUND: u64 = 100 << 20;

/// Where [`controller_process`] finds the fake: `http://127.0.0.1:PORT`.
const API_ENV: &str = "FERROLB_LOAD_TEST_API";

/// How long a controller process left behind by a test killed hard (no
/// unwinding, so no kill of its child) keeps running.
const ORPHAN_DEADLINE: Duration = Duration::from_secs(900);

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

/// Waits until `done`, then `pace.quiet` more; returns how long it took for real.
async fn run_until(what: &str, pace: Pace, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    for _ in 0..pace.attempts {
        if done() {
            tokio::time::sleep(pace.quiet).await;
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
async fn converge_then_move(fake: &FakeApi, services: usize, pace: Pace) -> Measured {
    let created = run_until("every Service written", pace, || fake.status_patch_count() >= services).await;
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
    let changed = run_until("every moved Service written", pace, || {
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
    let client = fake.client();
    let options = ControllerOptions { debounce: Duration::from_millis(200), ..ControllerOptions::default() };
    let controller = tokio::spawn(async move {
        Controller::run(client, NS, options).await.expect("runs until aborted");
    });
    let measured = converge_then_move(&fake, services, PAUSED).await;
    let hwm_end = proc_status("self", "VmHWM");
    controller.abort();
    let growth = hwm_end.saturating_sub(hwm_fake);
    println!(
        "load in this process: {}; this process's peak grew {:.1} MiB (the fake's JSON {:.1} MiB serialized)",
        measured.writes(services, &fake),
        mib(growth),
        mib(fake.footprint() as u64),
    );
    assert!(growth < MEMORY_BOUND, "this process grew {:.1} MiB", mib(growth));
}

#[tokio::test]
async fn three_hundred_services_in_the_controllers_own_process() {
    in_its_own_process(300).await;
}

#[tokio::test]
// Measured with the shipped binary's allocator (mimalloc without huge
// pages, see main.rs): the controller process peaks at 88-90 MiB, about
// 10 of them this binary's pages. (With the system allocator it was 88-109
// MiB: the heap itself peaks near 59 MiB, a third of it the reflector
// store's Service objects; the rest was malloc's overhead.)
#[ignore = "about 15 s in release, minutes in a debug build: cargo test -p ferrolb-k8s --release -- --ignored load"]
async fn ten_thousand_services_in_the_controllers_own_process_stay_under_100_mib() {
    in_its_own_process(SERVICES).await;
}

/// A controller process, killed when dropped (also when the test fails).
struct ControllerProcess(Child);

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `services` Services, the controller in a process of its own over HTTP:
/// the write counts, and its peak memory.
async fn in_its_own_process(services: usize) {
    let fake = filled(services);
    let (address, _serving) = fake.serve().await;
    let exe = std::env::current_exe().expect("this test binary");
    let child = Command::new(exe)
        .args(["load::controller_process", "--exact", "--ignored", "--test-threads", "1", "--quiet"])
        .env(API_ENV, format!("http://{address}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("the controller process");
    let process = ControllerProcess(child);
    let pid = process.0.id().to_string();

    let measured = converge_then_move(&fake, services, REAL).await;
    let peak = proc_status(&pid, "VmHWM");
    let resident = proc_status(&pid, "VmRSS");
    // Of the resident set: the heap and stacks, and the pages of this test
    // binary itself (its text holds every test).
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

/// The controller of [`in_its_own_process`], started by it as a process of
/// this test binary: runs over the fake at `$FERROLB_LOAD_TEST_API` until
/// killed. Without that variable (any other run of the ignored tests) it
/// does nothing. On the current-thread runtime, as `ferrolb controller`.
#[tokio::test]
#[ignore = "the controller process of the load test; does nothing alone"]
async fn controller_process() {
    let Ok(url) = std::env::var(API_ENV) else { return };
    let config = kube::Config::new(url.parse().expect("the fake's URL"));
    let client = kube::Client::try_from(config).expect("a client of the fake");
    let options = ControllerOptions { debounce: Duration::from_millis(200), ..ControllerOptions::default() };
    // Killed by the test; the deadline only ends one whose test was killed hard.
    let _ = tokio::time::timeout(ORPHAN_DEADLINE, Controller::run(client, NS, options)).await;
}
