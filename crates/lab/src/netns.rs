//! Network namespaces, veth pairs and bridged segments.
//!
//! ```text
//!   two namespaces and a veth:          an L2 segment (Segment):
//!
//!   ┌── flb-a ──┐      ┌── flb-b ──┐        ┌─ node1 ─┐ ┌─ node2 ─┐ ┌─ client ─┐
//!   │      eth0 ├──────┤ eth0      │        │  eth0   │ │  eth0   │ │  eth0    │
//!   └───────────┘ veth └───────────┘        └────┬────┘ └────┬────┘ └────┬─────┘
//!                                                │veth       │veth       │veth
//!                                           ┌────┴───────────┴───────────┴─────┐
//!                                           │ p0          p1           p2      │
//!                                           │   └──────── br0 ────────┘        │
//!                                           └──────── flb-… (segment) ─────────┘
//! ```
//!
//! Every namespace gets a unique name (`flb-` + process id + counter + a few random bits), so
//! tests in parallel never collide. A [`Netns`] is the guard of everything inside it: when its
//! last clone is dropped (also while a test panics) it stops every process it started (their own
//! PIDs: `ip netns exec` execs its command), kills whatever `ip netns pids` still lists, and
//! deletes the namespace, which removes its interfaces and the far ends of its veths.

use std::fs::File;
use std::net::IpAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::cmd::{self, DEFAULT_TIMEOUT};
use crate::error::{Error, Result};
use crate::wait::wait_until;

/// Time a process gets between SIGTERM and SIGKILL when a namespace or peer is torn down.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A network namespace created for one test; a cheap handle, cloned by the peers running in it.
#[derive(Clone)]
pub struct Netns {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    role: String,
    dir: std::path::PathBuf,
    children: Mutex<Vec<Child>>,
    started: Mutex<Vec<u32>>,
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netns").field("name", &self.inner.name).field("role", &self.inner.role).finish()
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{}-{}", base36(std::process::id()), base36(nanos % 1296), base36(n))
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock must not stop the cleanup in Drop.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Netns {
    /// Creates a namespace with a unique `flb-…` name and its loopback up; `role` is for logs.
    pub fn new(role: &str) -> Result<Self> {
        let mut attempts = 0;
        let name = loop {
            let name = format!("flb-{}", unique_suffix());
            let mut add = Command::new("ip");
            add.args(["netns", "add", &name]);
            let out = cmd::output(&mut add, DEFAULT_TIMEOUT)?;
            if out.status.success() {
                break name;
            }
            attempts += 1;
            // A leftover of an earlier process with the same PID: take the next name.
            if attempts >= 5 || !String::from_utf8_lossy(&out.stderr).contains("exists") {
                cmd::check(&add, &out)?;
            }
        };
        let dir = std::env::temp_dir().join(&name);
        // Created before the guard exists: undo the namespace by hand if this fails.
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
            return Err(Error::io("create directory", &dir, e));
        }
        let ns = Netns {
            inner: Arc::new(Inner {
                name,
                role: role.to_owned(),
                dir,
                children: Mutex::new(Vec::new()),
                started: Mutex::new(Vec::new()),
            }),
        };
        tracing::debug!(netns = %ns.name(), role, "created namespace");
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A scratch directory for this namespace's configs, sockets and logs (`$TMPDIR/<name>`),
    /// removed with the namespace.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.dir
    }

    /// The role given at creation ("router", "node1"...).
    pub fn role(&self) -> &str {
        &self.inner.role
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.name(), program]);
        c
    }

    /// Runs `program args…` inside the namespace within the default timeout; returns its stdout.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut c = self.command(program);
        c.args(args);
        cmd::run(&mut c, DEFAULT_TIMEOUT)
    }

    /// Runs `ip -n NAME args…` and returns its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ip");
        c.args(["-n", self.name()]).args(args);
        cmd::run(&mut c, DEFAULT_TIMEOUT)
    }

    /// Starts `cmd` (made with [`Netns::command`]) in the background, its stdout and stderr
    /// appended to `log`. The process is recorded and stopped when the namespace is dropped.
    pub fn spawn(&self, cmd: Command, log: &std::path::Path) -> Result<u32> {
        let child = spawn_logged(cmd, log)?;
        let pid = child.id();
        tracing::debug!(netns = %self.name(), pid, "spawned");
        lock(&self.inner.started).push(pid);
        lock(&self.inner.children).push(child);
        Ok(pid)
    }

    /// Every PID this namespace has started, including those already stopped.
    pub fn started_pids(&self) -> Vec<u32> {
        lock(&self.inner.started).clone()
    }

    /// The exit status of a process started here, if it has exited (`None` while it runs).
    pub fn exit_status(&self, pid: u32) -> Option<ExitStatus> {
        let mut children = lock(&self.inner.children);
        let child = children.iter_mut().find(|c| c.id() == pid)?;
        child.try_wait().ok().flatten()
    }

    /// Stops a process started here: SIGTERM, then SIGKILL after `grace`; reaps it.
    pub fn stop(&self, pid: u32, grace: Duration) -> Option<ExitStatus> {
        self.stop_with(pid, "-TERM", grace)
    }

    /// Stops a process started here with `signal` (`-TERM`, `-USR2`...), then
    /// SIGKILL after `grace`; reaps it.
    pub fn stop_with(&self, pid: u32, signal: &str, grace: Duration) -> Option<ExitStatus> {
        let child = {
            let mut children = lock(&self.inner.children);
            let i = children.iter().position(|c| c.id() == pid)?;
            children.swap_remove(i)
        };
        stop_children_with(vec![child], signal, grace).into_iter().next()
    }

    /// SIGKILLs a process this namespace started (a crash: it gets no chance
    /// to say goodbye) and reaps it.
    pub fn kill(&self, pid: u32) -> Option<ExitStatus> {
        let mut child = {
            let mut children = lock(&self.inner.children);
            let i = children.iter().position(|c| c.id() == pid)?;
            children.swap_remove(i)
        };
        let _ = child.kill();
        child.wait().ok()
    }

    /// PIDs of every process in the namespace, started here or not (`ip netns pids`).
    pub fn pids_inside(&self) -> Result<Vec<u32>> {
        let mut c = Command::new("ip");
        c.args(["netns", "pids", self.name()]);
        let out = cmd::run(&mut c, DEFAULT_TIMEOUT)?;
        Ok(out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
    }

    /// Brings an interface up.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "up"]).map(drop)
    }

    /// Adds an address such as `192.0.2.1/24` or `2001:db8::1/64` (IPv6 without duplicate
    /// address detection, so it is usable at once). Only documentation ranges are accepted.
    pub fn add_addr(&self, dev: &str, cidr: &str) -> Result<()> {
        let addr: IpAddr = cidr.split('/').next().unwrap_or("").parse().map_err(|_| Error::Invalid {
            what: format!("address {cidr}"),
            reason: "expected ADDRESS/LEN".into(),
        })?;
        check_documentation(addr)?;
        if addr.is_ipv6() {
            self.ip(&["addr", "add", cidr, "dev", dev, "nodad"]).map(drop)
        } else {
            self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
        }
    }

    /// Adds a route: `dst` (`203.0.113.0/24`, `default`) via `gateway`.
    pub fn add_route(&self, dst: &str, gateway: IpAddr) -> Result<()> {
        let gw = gateway.to_string();
        let family = if gateway.is_ipv6() { "-6" } else { "-4" };
        self.ip(&[family, "route", "add", dst, "via", &gw]).map(drop)
    }

    /// Sets a sysctl inside the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")]).map(drop)
    }

    /// Turns on IPv4 and IPv6 forwarding, which a new namespace does not have.
    pub fn enable_forwarding(&self) -> Result<()> {
        self.sysctl("net.ipv4.ip_forward", "1")?;
        self.sysctl("net.ipv6.conf.all.forwarding", "1")
    }

    /// The kernel's main routing table for one family, from `ip -j route`.
    pub fn routes(&self, ipv6: bool) -> Result<Vec<Route>> {
        let family = if ipv6 { "-6" } else { "-4" };
        let mut c = Command::new("ip");
        c.args(["-j", "-n", self.name(), family, "route", "show"]);
        let out = cmd::run(&mut c, DEFAULT_TIMEOUT)?;
        if out.trim().is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&out)
            .map_err(|e| Error::Parse { command: cmd::describe(&c), reason: e.to_string() })
    }

    /// The kernel route for exactly `prefix` (`203.0.113.10/32`, `2001:db8::10/128`), if present.
    pub fn route(&self, prefix: &str) -> Result<Option<Route>> {
        let ipv6 = prefix.contains(':');
        Ok(self.routes(ipv6)?.into_iter().find(|r| r.is(prefix)))
    }

    /// Waits until the kernel has a route for `prefix`; returns it.
    pub fn wait_route(&self, prefix: &str, timeout: Duration) -> Result<Route> {
        let mut found = None;
        wait_until(&format!("route {prefix} in the kernel table of {}", self.name()), timeout, || {
            found = self.route(prefix)?;
            Ok(found.is_some())
        })?;
        found.ok_or_else(|| Error::Invalid { what: prefix.into(), reason: "route vanished".into() })
    }

    /// Whether something listens on TCP `port` in the namespace (`ss -ltn`).
    pub fn tcp_listening(&self, port: u16) -> Result<bool> {
        let out = self.exec("ss", &["-H", "-l", "-t", "-n", &format!("sport = :{port}")])?;
        Ok(!out.trim().is_empty())
    }

    /// Waits until something listens on TCP `port` in the namespace.
    pub fn wait_tcp_listening(&self, port: u16, timeout: Duration) -> Result<()> {
        wait_until(&format!("TCP port {port} listening in {}", self.name()), timeout, || {
            self.tcp_listening(port)
        })
    }

    /// Sends one ping (`ping -c1 -W1`) to `addr`; true when it was answered.
    pub fn ping(&self, addr: IpAddr) -> Result<bool> {
        check_documentation(addr)?;
        let mut c = self.command("ping");
        c.args(["-c1", "-W1", "-n", &addr.to_string()]);
        Ok(cmd::output(&mut c, Duration::from_secs(5))?.status.success())
    }
}

/// Refuses addresses outside the documentation ranges, so nothing leaves the lab by mistake.
pub fn check_documentation(addr: IpAddr) -> Result<()> {
    let ok = match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            matches!((o[0], o[1], o[2]), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            s[0] == 0x2001 && s[1] == 0x0db8
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: format!("address {addr}"),
            reason: "labs use only 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32".into(),
        })
    }
}

/// Starts `cmd` in the background, its stdout and stderr appended to `log`.
pub(crate) fn spawn_logged(mut cmd: Command, log: &std::path::Path) -> Result<Child> {
    let file =
        File::options().create(true).append(true).open(log).map_err(|e| Error::io("open log", log, e))?;
    let file2 = file.try_clone().map_err(|e| Error::io("open log", log, e))?;
    let command = cmd::describe(&cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2)
        .spawn()
        .map_err(|source| Error::Spawn { command: command.clone(), source })?;
    tracing::debug!(pid = child.id(), command, "spawned");
    Ok(child)
}

/// Whether process `pid` exists and is not a zombie. (A process killed in a namespace is
/// reparented to PID 1, which in some containers never reaps it.)
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X" | "x"))
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let mut c = Command::new("kill");
    c.args([sig, &pid.to_string()]);
    let _ = cmd::output(&mut c, Duration::from_secs(2));
}

pub(crate) fn stop_children(children: Vec<Child>, grace: Duration) -> Vec<ExitStatus> {
    stop_children_with(children, "-TERM", grace)
}

/// [`stop_children`] with `sig` instead of SIGTERM.
fn stop_children_with(mut children: Vec<Child>, sig: &str, grace: Duration) -> Vec<ExitStatus> {
    let mut statuses = Vec::new();
    children.retain_mut(|c| match c.try_wait() {
        Ok(Some(s)) => {
            statuses.push(s);
            false
        }
        _ => true,
    });
    for c in &children {
        signal(c.id(), sig);
    }
    let deadline = Instant::now() + grace;
    while !children.is_empty() && Instant::now() < deadline {
        children.retain_mut(|c| match c.try_wait() {
            Ok(Some(s)) => {
                statuses.push(s);
                false
            }
            _ => true,
        });
        thread::sleep(Duration::from_millis(10));
    }
    for mut c in children {
        tracing::warn!(pid = c.id(), signal = sig, "did not stop; killing");
        let _ = c.kill();
        if let Ok(s) = c.wait() {
            statuses.push(s);
        }
    }
    statuses
}

impl Drop for Inner {
    fn drop(&mut self) {
        let children = std::mem::take(&mut *lock(&self.children));
        stop_children(children, STOP_GRACE);
        // Whatever else runs inside (a daemon's forked helper, a process someone else started).
        let mut c = Command::new("ip");
        c.args(["netns", "pids", &self.name]);
        if let Ok(out) = cmd::run(&mut c, DEFAULT_TIMEOUT) {
            let pids: Vec<&str> = out.split_whitespace().collect();
            for pid in &pids {
                tracing::warn!(netns = %self.name, pid, "killing leftover process");
                let mut k = Command::new("kill");
                k.args(["-KILL", pid]);
                let _ = cmd::output(&mut k, Duration::from_secs(2));
            }
            if !pids.is_empty() {
                let _ = wait_until("leftover processes to exit", Duration::from_secs(2), || {
                    Ok(pids.iter().filter_map(|p| p.parse().ok()).all(|p| !process_alive(p)))
                });
            }
        }
        let mut del = Command::new("ip");
        del.args(["netns", "del", &self.name]);
        if let Err(e) = cmd::run(&mut del, DEFAULT_TIMEOUT) {
            tracing::warn!(netns = %self.name, error = %e, "cannot delete namespace");
        } else {
            tracing::debug!(netns = %self.name, "deleted namespace");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connects two namespaces with a veth pair, `a_dev` in `a` and `b_dev` in `b`, both up.
pub fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) -> Result<()> {
    // Created inside `a` with the peer put straight into `b`: interface names are per
    // namespace, so parallel tests can all use `eth0` without touching the host's namespace.
    a.ip(&["link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b.name()])?;
    a.link_up(a_dev)?;
    b.link_up(b_dev)
}

/// One L2 segment: a namespace holding bridge `br0`, to which member namespaces attach by veth.
#[derive(Debug)]
pub struct Segment {
    netns: Netns,
    ports: AtomicUsize,
}

impl Segment {
    /// Creates the segment's namespace and its bridge.
    pub fn new() -> Result<Self> {
        let netns = Netns::new("segment")?;
        netns.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"])?;
        netns.link_up("br0")?;
        Ok(Segment { netns, ports: AtomicUsize::new(0) })
    }

    /// Plugs `member` into the segment through a veth whose member end is `dev`; returns the
    /// bridge-side port name (`p0`, `p1`…), e.g. to take it down in a failover test.
    pub fn attach(&self, member: &Netns, dev: &str) -> Result<String> {
        let port = format!("p{}", self.ports.fetch_add(1, Ordering::Relaxed));
        veth(&self.netns, &port, member, dev)?;
        self.netns.ip(&["link", "set", &port, "master", "br0"])?;
        Ok(port)
    }

    /// The namespace holding the bridge (e.g. to run tcpdump on `br0`).
    pub fn netns(&self) -> &Netns {
        &self.netns
    }
}

/// One route of the kernel table, as `ip -j route` prints it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Route {
    /// Destination: `default`, `203.0.113.10` (a host route prints without `/32`) or a prefix.
    pub dst: String,
    /// Next-hop address for a single-path route.
    #[serde(default)]
    pub gateway: Option<String>,
    /// A next hop of the other family (`via inet6 ADDR` for an IPv4 route, RFC 8950).
    #[serde(default)]
    pub via: Option<Via>,
    /// Outgoing interface for a single-path route.
    #[serde(default)]
    pub dev: Option<String>,
    /// Who installed it (`kernel`, `bgp`, `static`...).
    #[serde(default)]
    pub protocol: Option<String>,
    /// The paths of an ECMP route.
    #[serde(default)]
    pub nexthops: Vec<Nexthop>,
}

/// One path of an ECMP route.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Nexthop {
    /// Next-hop address.
    #[serde(default)]
    pub gateway: Option<String>,
    /// A next hop of the other family.
    #[serde(default)]
    pub via: Option<Via>,
    /// Outgoing interface.
    #[serde(default)]
    pub dev: Option<String>,
}

/// A next hop of the other address family, as `ip -j route` prints `via inet6 ADDR`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Via {
    /// `inet` or `inet6`.
    pub family: String,
    /// The next-hop address.
    pub host: String,
}

impl Route {
    /// Whether this route's destination is exactly `prefix` (`/32` and `/128` may be omitted).
    pub fn is(&self, prefix: &str) -> bool {
        let strip =
            |p: &str| p.strip_suffix("/32").or_else(|| p.strip_suffix("/128")).unwrap_or(p).to_owned();
        strip(&self.dst) == strip(prefix)
    }

    /// Every next-hop address of the route, one for a single path, several for ECMP.
    pub fn gateways(&self) -> Vec<String> {
        let via = |v: &Option<Via>| v.as_ref().map(|v| v.host.clone());
        if self.nexthops.is_empty() {
            self.gateway.clone().or_else(|| via(&self.via)).into_iter().collect()
        } else {
            self.nexthops.iter().filter_map(|n| n.gateway.clone().or_else(|| via(&n.via))).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documentation_addresses_are_accepted() {
        for ok in ["192.0.2.1", "198.51.100.255", "203.0.113.10", "2001:db8::1"] {
            assert!(check_documentation(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["10.0.0.1", "192.0.3.1", "8.8.8.8", "2001:db9::1", "fe80::1"] {
            assert!(check_documentation(bad.parse().unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_from_ip_json_match_prefixes_and_list_ecmp_gateways() {
        let json = r#"[{"dst":"203.0.113.10","gateway":"192.0.2.2","dev":"eth0","protocol":"bgp","metric":20,"flags":[]},
            {"dst":"203.0.113.11","protocol":"bgp","metric":20,"flags":[],"nexthops":[
              {"gateway":"192.0.2.2","dev":"eth0","weight":1,"flags":[]},{"gateway":"192.0.2.3","dev":"eth0","weight":1,"flags":[]}]}]"#;
        let routes: Vec<Route> = serde_json::from_str(json).unwrap();
        assert!(routes[0].is("203.0.113.10/32"));
        assert!(!routes[0].is("203.0.113.1"));
        assert_eq!(routes[0].gateways(), ["192.0.2.2"]);
        assert_eq!(routes[1].gateways(), ["192.0.2.2", "192.0.2.3"]);
    }

    #[test]
    fn names_are_short_and_unique() {
        let a = unique_suffix();
        let b = unique_suffix();
        assert_ne!(a, b);
        assert!(format!("flb-{a}").len() <= 15, "{a}");
    }
}
