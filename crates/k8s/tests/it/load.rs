//! The controller under load (issue 6): ten thousand LoadBalancer Services
//! from the fake API server, then a pool change that moves half of them.
//! It must write each Service's status once, and once more only for a
//! Service that moves, and stay under 100 MiB.
//!
//! The memory is the process's peak resident set (`VmHWM`), read before the
//! controller starts (the fake already holding the Services) and at the
//! end. Other tests of this binary run on other threads at the same time;
//! they are small (a few Services each) and can only make the growth look
//! larger. The thousand-Service version runs with every `cargo test`; the
//! ten-thousand one, too slow for a debug build, is run by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferrolb_k8s::{Controller, ControllerOptions};

use crate::controller::NS;
use crate::fake::{FakeApi, objects};

const SERVICES: usize = 10_000;

/// The controller's growth allowed by the issue.
const MEMORY_BOUND: u64 = 100 << 20;

/// A field of `/proc/self/status` in bytes (`VmHWM`, `VmRSS`).
fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
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

/// Waits (on the paused clock) until `done`, then a while more so that a
/// write too many would show; returns how long it took for real.
async fn run_until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    for _ in 0..600 {
        if done() {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("{what}: not done after 600 s of the controller's time");
}

#[tokio::test(start_paused = true)]
async fn a_thousand_services_take_one_write_each_and_a_pool_change_one_per_moved_service() {
    load(1_000).await;
}

#[tokio::test(start_paused = true)]
// Fails today on memory: about 490 MiB of growth (~49 KiB per Service; the
// Events about 11 KiB of it, one unpaged LIST through the fake about 20 KiB
// at its peak); the write counts hold.
#[ignore = "about 50 s in a debug build, 10 s in release: cargo test -p ferrolb-k8s --release -- --ignored load"]
async fn ten_thousand_services_take_one_write_each_and_a_pool_change_one_per_moved_service() {
    load(SERVICES).await;
}

/// `services` Services into a /18, then a pool change that moves half of them.
async fn load(services: usize) {
    let fake = FakeApi::default();
    fake.apply(objects::namespace("default"));
    fake.apply(objects::node("node1", "198.51.100.11"));
    // A /18 of the benchmark range (RFC 2544): 16384 addresses.
    fake.apply(objects::pool(NS, "a", &["198.18.0.0/18"]));
    for i in 0..services {
        fake.apply(objects::service("default", &format!("svc-{i:05}")));
    }
    let hwm_fake = proc_status("VmHWM");

    let client = fake.client();
    let options = ControllerOptions { debounce: Duration::from_millis(200), ..ControllerOptions::default() };
    let controller = tokio::spawn(async move {
        Controller::run(client, NS, options).await.expect("runs until aborted");
    });

    let created = run_until("every Service written", || fake.status_patch_count() >= services).await;
    let patches = fake.status_patches();
    assert_eq!(patches.len(), services, "one status write per Service");
    let paths: BTreeSet<&str> = patches.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths.len(), services, "no Service written twice");
    let before = held(&fake);
    assert_eq!(before.len(), services, "every Service holds an address");
    let distinct: BTreeSet<&Ipv4Addr> = before.values().collect();
    assert_eq!(distinct.len(), services, "every Service its own address");
    let pool = fake.get("IPAddressPool", NS, "a").unwrap();
    assert_eq!(pool["status"]["assignedIPv4"], services);
    assert_eq!(pool["status"]["availableIPv4"], 16384 - services);
    let hwm_created = proc_status("VmHWM");

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
    let changed =
        run_until("every moved Service written", || fake.status_patch_count() >= services + moved.len())
            .await;
    let patches = fake.status_patches();
    assert_eq!(patches.len(), services + moved.len(), "one write per moved Service, none for the others");
    let rewritten: BTreeSet<String> = patches[services..].iter().map(|p| p.path.clone()).collect();
    assert_eq!(rewritten, moved, "the moved Services, each once");
    let after = held(&fake);
    assert_eq!(after.len(), services);
    assert!(after.values().all(|ip| (kept.0..=kept.1).contains(ip) || ip.octets()[1] == 19));
    let hwm_end = proc_status("VmHWM");
    let rss_end = proc_status("VmRSS");
    let fake_json = fake.footprint() as u64;
    controller.abort();

    let growth = hwm_end.saturating_sub(hwm_fake);
    println!(
        "load: {} Services: {} status writes to converge ({created:.2?}), {} more for {} moved \
         ({changed:.2?}); {} pool status writes, {} Events; peak RSS {:.1} MiB with the fake filled, \
         {:.1} MiB converged, {:.1} MiB at the end ({:.1} MiB resident then): the controller's growth {:.1} MiB (the fake's JSON alone {:.1} MiB serialized)",
        services,
        services,
        patches.len() - services,
        moved.len(),
        fake.pool_status_patches().len(),
        fake.events().len(),
        mib(hwm_fake),
        mib(hwm_created),
        mib(hwm_end),
        mib(rss_end),
        mib(growth),
        mib(fake_json),
    );
    assert!(growth < MEMORY_BOUND, "the controller grew {:.1} MiB", mib(growth));
}
