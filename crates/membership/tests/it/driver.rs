//! Three UDP drivers in a network namespace made by the test: join, crash, leave, restart.
//!
//! Nothing leaves the namespace: the speakers gossip on 198.51.100.1-3 (documentation range)
//! on its loopback.
//!
//! The drivers run on tokio's paused clock (the driver takes its time from tokio, as its
//! sleeps do): time passes only while every speaker waits, and a datagram sent on the
//! loopback is in its receiver's socket when `send_to` returns. So the times bounded here are
//! the gossip's own, whatever else the machine is doing (a busy 2-core CI runner used to
//! make the crash look slow). The protocol's timing over many seeds is `sim`'s, on a fake
//! clock; what a failover costs on the real clock is `ferrolb lab bench l2-failover`'s.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrolb_membership::driver::{MembershipConfig, MembershipHandle};
use nix::sched::{CloneFlags, setns};
use tokio::sync::watch;
use tokio::time::Instant;

/// A network namespace that is deleted when dropped, even if the test fails.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Result<Self, String> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("ferrolb-mbr-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name])?;
        Ok(Self { name })
    }

    /// Runs `ip -n <ns> args...`.
    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Moves the calling thread into the namespace; sockets it opens afterwards live there.
    fn enter(&self) {
        let file = File::open(format!("/run/netns/{}", self.name)).expect("namespace file");
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Skips (returns None) without root, unless in CI where the test must run.
fn namespace_or_skip() -> Option<Netns> {
    let in_ci = std::env::var_os("CI").is_some();
    if !is_root() {
        assert!(!in_ci, "CI is set: this test needs root for network namespaces");
        eprintln!("skipped: needs root to create a network namespace");
        return None;
    }
    match Netns::create() {
        Ok(ns) => Some(ns),
        Err(e) if !in_ci => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn speaker_ip(i: u8) -> IpAddr {
    IpAddr::from([198, 51, 100, i])
}

fn start(i: u8) -> MembershipHandle {
    let mut config = MembershipConfig::new(format!("node{i}"), speaker_ip(i));
    config.seeds = (1..=3).map(|j| SocketAddr::new(speaker_ip(j), config.port)).collect();
    config.secret = Some(b"driver test secret".to_vec());
    MembershipHandle::spawn(config).expect("spawn")
}

fn names(n: &[u8]) -> BTreeSet<String> {
    n.iter().map(|i| format!("node{i}")).collect()
}

/// Waits until every receiver shows `want`; returns how long that took on the paused clock.
async fn all_see(
    alive: &mut [watch::Receiver<BTreeSet<String>>],
    want: &BTreeSet<String>,
    max: Duration,
) -> Result<Duration, String> {
    let begin = Instant::now();
    for rx in alive.iter_mut() {
        let left = max.saturating_sub(begin.elapsed());
        if tokio::time::timeout(left, rx.wait_for(|set| set == want)).await.is_err() {
            return Err(format!("after {max:?} one member sees {:?}, expected {want:?}", *rx.borrow()));
        }
    }
    Ok(begin.elapsed())
}

#[test]
fn three_drivers_detect_crash_and_departure_and_rejoin() {
    let Some(ns) = namespace_or_skip() else { return };
    ns.ip(&["link", "set", "lo", "up"]).unwrap();
    for i in 1..=3 {
        ns.ip(&["addr", "add", &format!("198.51.100.{i}/32"), "dev", "lo"]).unwrap();
    }
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(scenario())
        })
        .join()
    });
    match report {
        Ok(Ok(report)) => println!("{report}"),
        Ok(Err(e)) => panic!("{e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn scenario() -> Result<String, String> {
    let mut speakers = vec![start(1), start(2), start(3)];
    let mut survivors: Vec<_> = speakers[..2].iter().map(MembershipHandle::alive).collect();
    let mut all: Vec<_> = speakers.iter().map(MembershipHandle::alive).collect();
    let join = all_see(&mut all, &names(&[1, 2, 3]), Duration::from_secs(3)).await?;

    // Crash: gone without a word.
    drop(speakers.pop());
    let crash = all_see(&mut survivors, &names(&[1, 2]), Duration::from_secs(2)).await?;
    if crash >= Duration::from_secs(1) {
        return Err(format!("crash detected in {crash:?}, expected under 1 s"));
    }

    speakers.push(start(3));
    let mut all: Vec<_> = speakers.iter().map(MembershipHandle::alive).collect();
    let rejoin_after_crash = all_see(&mut all, &names(&[1, 2, 3]), Duration::from_secs(3)).await?;

    // Departure: leave() returns quickly and the others know at once.
    let leaving = speakers.pop().unwrap();
    let begin = Instant::now();
    leaving.leave().await;
    let leave_call = begin.elapsed();
    let departure = all_see(&mut survivors, &names(&[1, 2]), Duration::from_secs(1)).await?;
    let departure = departure + leave_call;
    if leave_call > Duration::from_millis(150) || departure > Duration::from_millis(200) {
        return Err(format!(
            "leave() took {leave_call:?}, departure seen after {departure:?}; expected under 200 ms"
        ));
    }

    speakers.push(start(3));
    let mut all: Vec<_> = speakers.iter().map(MembershipHandle::alive).collect();
    let rejoin_after_leave = all_see(&mut all, &names(&[1, 2, 3]), Duration::from_secs(3)).await?;

    Ok(format!(
        "join {join:?}; crash detected by both survivors in {crash:?}; rejoin after crash {rejoin_after_crash:?}; \
         leave() returned in {leave_call:?}, departure seen in {departure:?}; rejoin after leave {rejoin_after_leave:?}"
    ))
}
