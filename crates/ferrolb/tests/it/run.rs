//! `ferrolb run` without Kubernetes: it plans from the file, keeps IPs across
//! restarts, follows changes, keeps the last good config, stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrolb_lab::Netns;

use crate::support::{Ferrolb, lab_ready, wait_for};

const BASE: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool}
spec:
  addresses: [192.0.2.10-192.0.2.20]
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 198.51.100.11}]
";

fn service(name: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n"
    )
}

/// A scratch directory with a config file and a state directory, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ferrolb-run-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }
    fn config(&self) -> PathBuf {
        self.dir.join("cluster.yaml")
    }
    fn state(&self) -> PathBuf {
        self.dir.join("state/node1.assignments.json")
    }
    fn write(&self, text: &str) {
        // Write beside and rename, as editors do, so the runner never reads half a file.
        let tmp = self.dir.join("cluster.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.config()).unwrap();
    }
    fn start(&self) -> Runner {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
            .args(["run", "--node", "node1", "--config"])
            .arg(self.config())
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read as it comes: the test waits for lines, and a full pipe would stop ferrolb.
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let reader = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        Runner { child, log, reader: Some(reader) }
    }
    /// The IPs of `name` in the state file, once `done` holds (10 s at most).
    fn wait_for(&self, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(state) = read_json(&self.state())
                && done(&state)
            {
                return state;
            }
            assert!(Instant::now() < deadline, "state never reached; last: {:?}", read_json(&self.state()));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn ips(state: &serde_json::Value, name: &str) -> Vec<String> {
    state
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == name)
        .flat_map(|a| a["ips"].as_array().cloned().unwrap_or_default())
        .map(|ip| ip.as_str().unwrap().to_owned())
        .collect()
}

struct Runner {
    child: Child,
    /// What it logged so far.
    log: Arc<Mutex<String>>,
    /// Reads its stderr into `log` until it exits.
    reader: Option<JoinHandle<()>>,
}

impl Runner {
    /// Waits until it has logged `line` (10 s at most): the time it takes
    /// to act on a change is not the test's to bound.
    fn wait_for_log(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log.lock().unwrap().contains(line) {
            assert!(Instant::now() < deadline, "no {line:?} in:\n{}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and returns what it logged, once it has exited.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "ferrolb run did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_follows_the_file_and_keeps_the_last_good_config() {
    let scratch = Scratch::new("follow");
    scratch.write(&(BASE.to_owned() + &service("web")));
    let runner = scratch.start();
    let state = scratch.wait_for(|s| ips(s, "web") == ["192.0.2.10"]);
    assert_eq!(ips(&state, "web"), ["192.0.2.10"]);

    scratch.write(&(BASE.to_owned() + &service("web") + &service("api")));
    scratch.wait_for(|s| ips(s, "api") == ["192.0.2.11"]);

    // A change that does not validate is refused; the last good config stays.
    let broken = BASE.replace("192.0.2.10-192.0.2.20", "192.0.2.20-192.0.2.10") + &service("web");
    scratch.write(&broken);
    runner.wait_for_log("configuration change rejected");
    let state = read_json(&scratch.state()).unwrap();
    assert_eq!(
        (ips(&state, "web"), ips(&state, "api")),
        (vec!["192.0.2.10".into()], vec!["192.0.2.11".into()])
    );

    let log = runner.stop();
    assert!(log.contains("configuration change rejected"), "{log}");
    assert!(log.contains("cluster.yaml:5: IPAddressPool/pool: spec.addresses[0]"), "{log}");
}

#[test]
fn run_keeps_ips_across_restarts() {
    let scratch = Scratch::new("restart");
    scratch.write(&(BASE.to_owned() + &service("web")));
    let runner = scratch.start();
    scratch.wait_for(|s| ips(s, "web") == ["192.0.2.10"]);
    runner.stop();

    // "api" sorts before "web" and would take .10 if nothing were remembered.
    scratch.write(&(BASE.to_owned() + &service("web") + &service("api")));
    let runner = scratch.start();
    let state = scratch.wait_for(|s| !ips(s, "api").is_empty());
    assert_eq!(ips(&state, "web"), ["192.0.2.10"]);
    assert_eq!(ips(&state, "api"), ["192.0.2.11"]);
    runner.stop();
}

/// A damaged state file is not trusted and stops nothing: run says so,
/// keeps it aside, and starts from the one before it, so every Service
/// keeps its IPs — here "web" gave up .10 to nobody, and "db", assigned
/// after the previous file was written, gets the same address again. A
/// state directory that cannot be written is said, and the VIPs run on.
#[test]
fn a_damaged_state_file_is_set_aside_and_the_previous_one_keeps_the_ips() {
    let scratch = Scratch::new("damaged");
    // "api" sorts before "web": without a state it would take .10.
    scratch.write(&(BASE.to_owned() + &service("web")));
    let runner = scratch.start();
    scratch.wait_for(|s| ips(s, "web") == ["192.0.2.10"]);
    scratch.write(&(BASE.to_owned() + &service("web") + &service("db") + &service("api")));
    let before = scratch.wait_for(|s| !ips(s, "api").is_empty());
    runner.stop();

    let bytes = std::fs::read(scratch.state()).unwrap();
    std::fs::write(scratch.state(), &bytes[..bytes.len() / 2]).unwrap();
    let runner = scratch.start();
    let after = scratch.wait_for(|s| !ips(s, "api").is_empty());
    for name in ["web", "db", "api"] {
        assert_eq!(ips(&after, name), ips(&before, name), "{name}");
    }
    assert!(scratch.state().with_extension("json.damaged").exists());
    // The state directory made unwritable (chmod does not stop root: a file in its way).
    let dir = scratch.dir.join("state");
    std::fs::remove_file(scratch.state().with_extension("json.prev")).unwrap();
    std::fs::create_dir(scratch.state().with_extension("json.tmp")).unwrap();
    scratch
        .write(&(BASE.to_owned() + &service("web") + &service("db") + &service("api") + &service("cache")));
    runner.wait_for_log("cannot save the assignments");
    let log = runner.stop();
    assert!(log.contains("the state file is damaged and is not trusted"), "{log}");
    assert!(log.contains("cannot save the assignments"), "{log}");
    assert!(dir.exists());
}

#[test]
fn many_services_assigned_or_removed_are_one_line_each_time_not_one_per_service() {
    let scratch = Scratch::new("many");
    let base = BASE.replace("192.0.2.10-192.0.2.20", "192.0.2.0/24");
    let services: String = (0..120).map(|i| service(&format!("svc-{i}"))).collect();
    scratch.write(&(base.clone() + &services));
    let runner = scratch.start();
    scratch.wait_for(|s| !ips(s, "svc-119").is_empty());
    scratch.write(&(base + &service("svc-0")));
    scratch.wait_for(|s| ips(s, "svc-119").is_empty() && !ips(s, "svc-0").is_empty());
    let log = runner.stop();
    assert_eq!(
        log.matches("IPs assigned, changed or released (each one at debug level)").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("service removed"), "{log}");
    assert!(!log.contains("IPs assigned service"), "{log}");
}

#[test]
fn run_refuses_to_start_without_its_node() {
    let scratch = Scratch::new("nonode");
    scratch.write(&BASE.replace("name: node1", "name: node9"));
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["run", "--node", "node1", "--config"])
        .arg(scratch.config())
        .arg("--state-dir")
        .arg(scratch.dir.join("state"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("no Node named \"node1\""), "{log}");
}

/// Which of `ips` the namespace's host accepts (the namespace has no other local addresses).
fn local_vips(ns: &Netns, ips: &[&str]) -> Vec<String> {
    ips.iter()
        .filter(|ip| ns.ip(&["route", "get", ip]).is_ok_and(|route| route.starts_with("local ")))
        .map(|ip| (*ip).to_owned())
        .collect()
}

#[test]
fn announced_vips_are_accepted_by_the_host_until_sigterm() {
    if !lab_ready(&["ip"]) {
        return;
    }
    let ns = Netns::new("hostvip").unwrap();
    let peer = "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: router}\nspec: {myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: all}\n";
    let ferrolb = Ferrolb::start(&ns, "node1", &(BASE.to_owned() + peer + &service("web") + &service("api")));
    let candidates = ["192.0.2.9", "192.0.2.10", "192.0.2.11", "192.0.2.12"];
    wait_for("both VIPs local", Duration::from_secs(10), || local_vips(&ns, &candidates).len() >= 2);
    assert_eq!(local_vips(&ns, &candidates), ["192.0.2.10", "192.0.2.11"]);

    // A Service removed from the file: its VIP is no longer accepted.
    ferrolb.rewrite(&(BASE.to_owned() + peer + &service("web")));
    wait_for("the removed Service's VIP no longer local", Duration::from_secs(10), || {
        local_vips(&ns, &candidates).len() == 1
    });
    // "api" sorted first and had .10; "web" keeps .11.
    assert_eq!(local_vips(&ns, &candidates), ["192.0.2.11"]);

    let log = ferrolb.stop();
    let left = ns.ip(&["route", "show", "table", "local", "proto", "248"]).unwrap();
    assert!(left.trim().is_empty(), "SIGTERM leaves no VIP behind: {left}\n{log}");
}
