//! BIRD 2 as a BGP speaker or a BFD peer in a namespace, with its own control socket.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::cmd::{self, DEFAULT_TIMEOUT};
use crate::daemon::{self, ScratchDir};
use crate::error::{Error, Result};
use crate::netns::{Netns, STOP_GRACE};
use crate::wait::wait_until;

/// One BGP neighbor of a BIRD speaker; becomes `protocol bgp NAME`.
#[derive(Debug, Clone)]
pub struct BirdNeighbor {
    /// Protocol name in BIRD (`peer1`); used by `birdc disable NAME`.
    pub name: String,
    /// The neighbor's address.
    pub address: IpAddr,
    /// The neighbor's ASN.
    pub remote_asn: u32,
    /// Next hop for IPv6 routes when the session runs over IPv4; `None` for no IPv6 channel.
    /// A session over IPv6 carries IPv6 only, from its own address unless this is set.
    pub ipv6_next_hop: Option<IpAddr>,
}

/// The name of the `protocol bfd` a [`BirdConfig`] with BFD neighbors renders; used by
/// `birdc disable` / `enable`.
pub const BIRD_BFD_PROTOCOL: &str = "bfd1";

/// One explicit BFD session of BIRD (a `neighbor` line in `protocol bfd`): BIRD creates sessions
/// only for these or for a client protocol asking for one.
#[derive(Debug, Clone)]
pub struct BirdBfdNeighbor {
    /// The peer's address.
    pub address: IpAddr,
    /// BIRD's own address for the session.
    pub local: IpAddr,
    /// The interface of a single-hop session (`dev "eth0"`); `None` for multihop.
    pub interface: Option<String>,
    /// A multihop session (RFC 5883, UDP port 4784).
    pub multihop: bool,
}

impl BirdBfdNeighbor {
    /// A single-hop session with `address` from `local` over `interface`.
    pub fn single_hop(address: IpAddr, local: IpAddr, interface: &str) -> Self {
        BirdBfdNeighbor { address, local, interface: Some(interface.to_owned()), multihop: false }
    }

    /// A multihop session with `address` from `local`.
    pub fn multihop(address: IpAddr, local: IpAddr) -> Self {
        BirdBfdNeighbor { address, local, interface: None, multihop: true }
    }
}

/// One line of `birdc show bfd sessions`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BirdBfdSession {
    /// The peer's address.
    pub address: IpAddr,
    /// The interface, `---` for multihop.
    pub interface: String,
    /// `Down`, `Init`, `Up` or `AdminDown`.
    pub state: String,
    /// The transmit interval in use, as BIRD prints it in seconds (`1.000`, `0.050`).
    pub interval: String,
    /// The detection time, in seconds (`0.000` while not Up).
    pub timeout: String,
}

/// The configuration a [`Bird`] speaker is started with.
#[derive(Debug, Clone)]
pub struct BirdConfig {
    /// Local ASN.
    pub asn: u32,
    /// Router ID.
    pub router_id: Ipv4Addr,
    /// Neighbors.
    pub neighbors: Vec<BirdNeighbor>,
    /// Prefixes announced from `protocol static` (blackhole routes), IPv4 or IPv6.
    pub static_routes: Vec<String>,
    /// Standard communities `(asn, value)` added to every exported route.
    pub communities: Vec<(u16, u16)>,
    /// Large communities `(asn, data1, data2)` added to every exported route.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// Whether routes learned by BGP are installed in the kernel table.
    pub kernel_export: bool,
    /// Explicit BFD sessions; `protocol bfd` is rendered when there is at least one.
    pub bfd_neighbors: Vec<BirdBfdNeighbor>,
    /// BFD transmit and receive interval in milliseconds, for every session.
    pub bfd_interval_ms: u32,
    /// BFD detect multiplier, for every session.
    pub bfd_multiplier: u8,
    /// `bfd on` in every BGP protocol: BGP asks `protocol bfd` for a session with its
    /// neighbor and goes down with it (the timers of [`BirdConfig::bfd_interval_ms`] on every
    /// interface).
    pub bgp_bfd: bool,
    /// `graceful restart on` in every BGP protocol (RFC 4724).
    pub graceful_restart: bool,
}

impl BirdConfig {
    /// A speaker with `asn` and `router_id`, nothing announced, no neighbors.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        BirdConfig {
            asn,
            router_id,
            neighbors: Vec::new(),
            static_routes: Vec::new(),
            communities: Vec::new(),
            large_communities: Vec::new(),
            kernel_export: false,
            bfd_neighbors: Vec::new(),
            bfd_interval_ms: 50,
            bfd_multiplier: 3,
            bgp_bfd: false,
            graceful_restart: false,
        }
    }

    /// Adds an explicit BFD session.
    pub fn bfd_neighbor(mut self, neighbor: BirdBfdNeighbor) -> Self {
        self.bfd_neighbors.push(neighbor);
        self
    }

    /// Adds a neighbor, named `peerN`: over IPv4 it carries IPv4, over IPv6 it carries IPv6.
    pub fn neighbor(mut self, address: IpAddr, remote_asn: u32) -> Self {
        let name = format!("peer{}", self.neighbors.len() + 1);
        self.neighbors.push(BirdNeighbor { name, address, remote_asn, ipv6_next_hop: None });
        self
    }

    /// Adds a prefix to announce.
    pub fn static_route(mut self, prefix: &str) -> Self {
        self.static_routes.push(prefix.to_owned());
        self
    }

    /// The `bird.conf` text.
    pub fn render(&self, log: &Path) -> String {
        let mut c = String::new();
        let w = &mut c;
        let _ = writeln!(w, "log \"{}\" all;\nrouter id {};\n", log.display(), self.router_id);
        let _ = writeln!(w, "protocol device {{ scan time 10; }}");
        if self.kernel_export {
            let _ = writeln!(
                w,
                "protocol kernel {{ ipv4 {{ export all; }}; }}\nprotocol kernel {{ ipv6 {{ export all; }}; }}"
            );
        }
        for (family, v6) in [("ipv4", false), ("ipv6", true)] {
            let routes: Vec<&String> = self.static_routes.iter().filter(|p| p.contains(':') == v6).collect();
            if routes.is_empty() {
                continue;
            }
            let _ = writeln!(w, "protocol static static_{family} {{\n  {family};");
            for r in routes {
                let _ = writeln!(w, "  route {r} blackhole;");
            }
            let _ = writeln!(w, "}}");
        }
        let mut tag = String::new();
        for (a, v) in &self.communities {
            let _ = write!(tag, " bgp_community.add(({a},{v}));");
        }
        for (a, d1, d2) in &self.large_communities {
            let _ = write!(tag, " bgp_large_community.add(({a},{d1},{d2}));");
        }
        self.render_bfd(w);
        let export = format!("export filter {{{tag} accept; }};");
        for n in &self.neighbors {
            let _ = writeln!(w, "\nprotocol bgp {} {{", n.name);
            let _ = writeln!(w, "  local as {};\n  neighbor {} as {};", self.asn, n.address, n.remote_asn);
            let _ = writeln!(
                w,
                "  hold time 9;\n  keepalive time 3;\n  connect retry time 1;\n  error wait time 1, 5;"
            );
            if self.bgp_bfd {
                let _ = writeln!(w, "  bfd on;");
            }
            if self.graceful_restart {
                let _ = writeln!(w, "  graceful restart on;");
            }
            if n.address.is_ipv4() {
                let _ = writeln!(w, "  ipv4 {{ import all; {export} }};");
            }
            match n.ipv6_next_hop {
                Some(nh) => {
                    let _ = writeln!(w, "  ipv6 {{ import all; {export} next hop address {nh}; }};");
                }
                None if n.address.is_ipv6() => {
                    let _ = writeln!(w, "  ipv6 {{ import all; {export} }};");
                }
                None => {}
            }
            let _ = writeln!(w, "}}");
        }
        c
    }

    /// `protocol bfd`: the timers per interface (and for multihop), then one line per session.
    fn render_bfd(&self, w: &mut String) {
        if self.bfd_neighbors.is_empty() && !self.bgp_bfd {
            return;
        }
        let timers =
            format!("{{ interval {} ms; multiplier {}; }};", self.bfd_interval_ms, self.bfd_multiplier);
        let _ = writeln!(w, "\nprotocol bfd {BIRD_BFD_PROTOCOL} {{");
        let mut interfaces: Vec<&str> =
            self.bfd_neighbors.iter().filter_map(|n| n.interface.as_deref()).collect();
        interfaces.sort_unstable();
        interfaces.dedup();
        // BIRD takes the first pattern an interface matches: the named ones, then the rest for
        // the sessions BGP asks for.
        if self.bgp_bfd {
            interfaces.push("*");
        }
        for i in interfaces {
            let _ = writeln!(w, "  interface \"{i}\" {timers}");
        }
        if self.bfd_neighbors.iter().any(|n| n.multihop) {
            let _ = writeln!(w, "  multihop {timers}");
        }
        for n in &self.bfd_neighbors {
            let _ = write!(w, "  neighbor {}", n.address);
            if let Some(i) = &n.interface {
                let _ = write!(w, " dev \"{i}\"");
            }
            let _ = write!(w, " local {}", n.local);
            if n.multihop {
                let _ = write!(w, " multihop on");
            }
            let _ = writeln!(w, ";");
        }
        let _ = writeln!(w, "}}");
    }
}

/// A running BIRD; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Bird {
    netns: Netns,
    pid: u32,
    conf: PathBuf,
    socket: PathBuf,
    dir: ScratchDir,
}

/// One line of `birdc show protocols`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BirdProtocol {
    /// Protocol name (`peer1`, `static_ipv4`).
    pub name: String,
    /// Protocol type (`BGP`, `Static`, `Device`).
    pub proto: String,
    /// Table, `---` when none.
    pub table: String,
    /// `up`, `down`, `start`.
    pub state: String,
    /// Details, e.g. `Established`, `Active  Socket: Connection refused`.
    pub info: String,
}

impl Bird {
    /// Starts `bird -f` with its own control socket and waits until `birdc` answers.
    pub fn start(netns: &Netns, config: &BirdConfig) -> Result<Self> {
        daemon::check_asn(config.asn)?;
        for n in &config.neighbors {
            daemon::check_asn(n.remote_asn)?;
            crate::netns::check_documentation(n.address)?;
        }
        for n in &config.bfd_neighbors {
            crate::netns::check_documentation(n.address)?;
            crate::netns::check_documentation(n.local)?;
        }
        Bird::start_with(netns, |log| config.render(log))
    }

    /// Starts BIRD with `bird_conf` as it is (a configuration written
    /// elsewhere: `ferrolb router-config`'s), logging to its directory.
    pub fn start_with_text(netns: &Netns, bird_conf: &str) -> Result<Self> {
        Bird::start_with(netns, |log| format!("log \"{}\" all;\n{bird_conf}", log.display()))
    }

    /// Starts `bird` with the configuration `render` writes, given the log file.
    fn start_with(netns: &Netns, render: impl FnOnce(&Path) -> String) -> Result<Self> {
        let dir = ScratchDir::new(netns, "bird")?;
        let log = dir.path().join("bird.log");
        let conf = dir.write("bird.conf", &render(&log))?;
        let socket = dir.path().join("bird.ctl");
        let mut bird = Bird { netns: netns.clone(), pid: 0, conf, socket, dir };
        bird.spawn(false)?;
        Ok(bird)
    }

    /// Starts `bird -f` (`-R` to `recover` from a graceful restart) with the written config
    /// and waits until `birdc` answers.
    fn spawn(&mut self, recover: bool) -> Result<()> {
        // A killed bird leaves its control socket behind: wait for a new one.
        let _ = std::fs::remove_file(&self.socket);
        let out = self.dir.path().join("bird.out");
        let mut c = self.netns.command("bird");
        c.arg("-f").arg("-c").arg(&self.conf).arg("-s").arg(&self.socket);
        c.arg("-P").arg(self.dir.path().join("bird.pid"));
        if recover {
            c.arg("-R");
        }
        self.pid = self.netns.spawn(c, &out)?;
        daemon::wait_for_path(&self.netns, self.pid, "bird", &out, &self.socket, Duration::from_secs(10))?;
        wait_until("bird to answer birdc", Duration::from_secs(10), || {
            self.ensure_running()?;
            Ok(self.birdc(&["show", "status"]).is_ok())
        })
    }

    /// SIGKILLs bird (a crash: its peers hear nothing more) and reaps it; `None` if it was not
    /// running.
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        self.netns.kill(self.pid)
    }

    /// Starts bird again with the same config, after [`Bird::kill`] (a crashed BIRD coming
    /// back); a running bird is stopped first.
    pub fn restart(&mut self) -> Result<()> {
        self.netns.stop(self.pid, STOP_GRACE);
        self.spawn(false)
    }

    /// Restarts bird as an upgrade with graceful restart does: `birdc
    /// graceful restart` (sessions closed without a NOTIFICATION), then
    /// `bird -R` (graceful restart recovery), which needs `graceful_restart`
    /// in the config for its peers to keep its routes meanwhile.
    pub fn graceful_restart(&mut self) -> Result<()> {
        self.birdc(&["graceful", "restart"])?;
        // It exits by itself (signal 0 sends nothing); killed only if it lingers.
        self.netns.stop_with(self.pid, "-0", STOP_GRACE);
        self.spawn(true)
    }

    fn ensure_running(&self) -> Result<()> {
        daemon::ensure_running(&self.netns, self.pid, "bird", &self.dir.path().join("bird.out"))
    }

    /// The PID of bird.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The directory holding `bird.conf`, the control socket and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `birdc -s SOCK args…`; returns its output (birdc exits 0 even on some errors, so
    /// replies with an error code `8xxx`/`9xxx` are turned into [`Error::Command`]).
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("birdc");
        c.arg("-s").arg(&self.socket).args(args);
        let out = cmd::run(&mut c, DEFAULT_TIMEOUT)?;
        if out.lines().any(|l| l.starts_with('8') || l.starts_with('9')) || out.contains("syntax error") {
            return Err(Error::Command {
                command: cmd::describe(&c),
                status: "error reply".into(),
                stderr: out,
            });
        }
        Ok(out)
    }

    /// `birdc show protocols`, parsed.
    pub fn protocols(&self) -> Result<Vec<BirdProtocol>> {
        let out = self.birdc(&["show", "protocols"])?;
        Ok(parse_protocols(&out))
    }

    /// `birdc show protocols` as JSON (an array of [`BirdProtocol`]).
    pub fn protocols_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self.protocols()?)
            .map_err(|e| Error::Parse { command: "birdc show protocols".into(), reason: e.to_string() })
    }

    /// `birdc show route all`, as BIRD prints it.
    pub fn routes_text(&self) -> Result<String> {
        self.birdc(&["show", "route", "all"])
    }

    /// The prefixes in `birdc show route all`, in order.
    pub fn route_prefixes(&self) -> Result<Vec<String>> {
        let out = self.routes_text()?;
        Ok(out
            .lines()
            .filter(|l| !l.starts_with(char::is_whitespace))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.contains('/'))
            .map(str::to_owned)
            .collect())
    }

    /// Waits until protocol `name` shows `Established`.
    pub fn wait_established(&self, name: &str, timeout: Duration) -> Result<()> {
        wait_until(&format!("bird in {} to reach Established on {name}", self.netns.name()), timeout, || {
            self.ensure_running()?;
            Ok(self.protocols()?.iter().any(|p| p.name == name && p.info.starts_with("Established")))
        })
    }

    /// Disables protocol `name` (for BGP, BIRD sends a Cease NOTIFICATION).
    pub fn disable(&self, name: &str) -> Result<()> {
        self.birdc(&["disable", name]).map(drop)
    }

    /// Enables protocol `name` again.
    pub fn enable(&self, name: &str) -> Result<()> {
        self.birdc(&["enable", name]).map(drop)
    }

    /// `birdc show bfd sessions`, parsed.
    pub fn bfd_sessions(&self) -> Result<Vec<BirdBfdSession>> {
        Ok(parse_bfd_sessions(&self.birdc(&["show", "bfd", "sessions"])?))
    }

    /// The session with `peer` as `birdc show bfd sessions` shows it, if BIRD has one.
    pub fn bfd_session(&self, peer: IpAddr) -> Result<Option<BirdBfdSession>> {
        Ok(self.bfd_sessions()?.into_iter().find(|s| s.address == peer))
    }

    /// Waits until BIRD's session with `peer` is in `state` (`Up`, `Down`...); returns it.
    pub fn wait_bfd_session(&self, peer: IpAddr, state: &str, timeout: Duration) -> Result<BirdBfdSession> {
        let mut last = None;
        let what = format!("bird in {} to see BFD peer {peer} {state}", self.netns.name());
        wait_until(&what, timeout, || {
            self.ensure_running()?;
            last = self.bfd_session(peer)?;
            Ok(last.as_ref().is_some_and(|s| s.state == state))
        })?;
        last.ok_or_else(|| Error::Parse { command: "birdc show bfd sessions".into(), reason: what })
    }
}

/// Parses `birdc show bfd sessions` output (the sessions of every `protocol bfd`).
pub fn parse_bfd_sessions(out: &str) -> Vec<BirdBfdSession> {
    out.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let address = words.first()?.parse().ok()?;
            // "Since" is a time, or a date and a time: Interval and Timeout are the last two.
            let [interval, timeout] = words.get(words.len().checked_sub(2)?..)? else { return None };
            Some(BirdBfdSession {
                address,
                interface: (*words.get(1)?).to_owned(),
                state: (*words.get(2)?).to_owned(),
                interval: (*interval).to_owned(),
                timeout: (*timeout).to_owned(),
            })
        })
        .collect()
}

/// Parses `birdc show protocols` output.
pub fn parse_protocols(out: &str) -> Vec<BirdProtocol> {
    out.lines()
        .skip_while(|l| !l.starts_with("Name"))
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?.to_owned();
            let proto = words.next()?.to_owned();
            let table = words.next()?.to_owned();
            let state = words.next()?.to_owned();
            // "since" is a date and a time, or only one of them; the info follows it.
            let rest: Vec<&str> = words.collect();
            let skip =
                rest.iter().take(2).filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit())).count();
            Some(BirdProtocol { name, proto, table, state, info: rest[skip..].join(" ") })
        })
        .collect()
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.netns.stop(self.pid, STOP_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_protocols_output_is_parsed_with_and_without_a_date() {
        let out = "BIRD 2.0.12 ready.\n\
Name       Proto      Table      State  Since         Info\n\
device1    Device     ---        up     12:56:03.123  \n\
static_ipv4 Static    master4    up     2026-11-25 12:56:03  \n\
peer1      BGP        ---        start  12:56:03.123  Active        Socket: Connection refused\n\
peer2      BGP        ---        up     12:56:04.456  Established   \n";
        let p = parse_protocols(out);
        assert_eq!(p.len(), 4);
        assert_eq!(p[1].name, "static_ipv4");
        assert_eq!(p[1].info, "");
        assert_eq!(p[2].info, "Active Socket: Connection refused");
        assert_eq!(
            (p[3].proto.as_str(), p[3].state.as_str(), p[3].info.as_str()),
            ("BGP", "up", "Established")
        );
    }

    #[test]
    fn show_bfd_sessions_output_is_parsed() {
        let out = "BIRD 2.0.12 ready.\n\
bfd1:\n\
IP address                Interface  State      Since         Interval  Timeout\n\
192.0.2.1                 eth0       Up         14:39:59.106    0.050    0.150\n\
2001:db8:bfd::1           eth0       Down       2026-12-07 14:39:56    1.000    0.000\n\
198.51.100.1              ---        Init       14:39:56.645    1.000    0.000\n";
        let s = parse_bfd_sessions(out);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(
            (s[0].state.as_str(), s[0].interval.as_str(), s[0].timeout.as_str()),
            ("Up", "0.050", "0.150")
        );
        assert_eq!(s[1].address, "2001:db8:bfd::1".parse::<IpAddr>().unwrap());
        assert_eq!((s[1].state.as_str(), s[1].interval.as_str()), ("Down", "1.000"));
        assert_eq!((s[2].interface.as_str(), s[2].state.as_str()), ("---", "Init"));
    }

    #[test]
    fn the_config_has_a_bfd_protocol_with_explicit_neighbors() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let c = BirdConfig::new(64513, Ipv4Addr::new(192, 0, 2, 2))
            .bfd_neighbor(BirdBfdNeighbor::single_hop(ip("192.0.2.1"), ip("192.0.2.2"), "eth0"))
            .bfd_neighbor(BirdBfdNeighbor::multihop(ip("198.51.100.1"), ip("198.51.100.2")));
        let text = c.render(Path::new("/tmp/bird.log"));
        assert!(text.contains("protocol bfd bfd1 {"), "{text}");
        assert!(text.contains("interface \"eth0\" { interval 50 ms; multiplier 3; };"), "{text}");
        assert!(text.contains("multihop { interval 50 ms; multiplier 3; };"), "{text}");
        assert!(text.contains("neighbor 192.0.2.1 dev \"eth0\" local 192.0.2.2;"), "{text}");
        assert!(text.contains("neighbor 198.51.100.1 local 198.51.100.2 multihop on;"), "{text}");
        assert!(!BirdConfig::new(64513, Ipv4Addr::new(192, 0, 2, 2)).render(Path::new("/l")).contains("bfd"));
    }

    #[test]
    fn bgp_with_bfd_asks_for_sessions_with_the_configured_timers() {
        let mut c =
            BirdConfig::new(64512, Ipv4Addr::new(192, 0, 2, 2)).neighbor("192.0.2.1".parse().unwrap(), 64513);
        c.bgp_bfd = true;
        c.bfd_interval_ms = 300;
        let text = c.render(Path::new("/tmp/bird.log"));
        assert!(
            text.contains("protocol bfd bfd1 {\n  interface \"*\" { interval 300 ms; multiplier 3; };\n}"),
            "{text}"
        );
        assert!(text.contains("  bfd on;\n"), "{text}");
    }

    #[test]
    fn the_config_announces_static_routes_and_tags_exports() {
        let mut c =
            BirdConfig::new(64513, Ipv4Addr::new(192, 0, 2, 2)).neighbor("192.0.2.1".parse().unwrap(), 64512);
        c.static_routes = vec!["203.0.113.20/32".into(), "2001:db8::20/128".into()];
        c.communities = vec![(64513, 100)];
        let text = c.render(Path::new("/tmp/bird.log"));
        assert!(
            text.contains("protocol static static_ipv4 {\n  ipv4;\n  route 203.0.113.20/32 blackhole;"),
            "{text}"
        );
        assert!(text.contains("route 2001:db8::20/128 blackhole;"), "{text}");
        assert!(text.contains("neighbor 192.0.2.1 as 64512;"), "{text}");
        assert!(text.contains("bgp_community.add((64513,100));"), "{text}");
        assert!(!text.contains("ipv6 { import"), "no IPv6 channel without a next hop: {text}");
    }

    #[test]
    fn a_session_over_ipv6_carries_ipv6_only() {
        let c = BirdConfig::new(64513, Ipv4Addr::new(192, 0, 2, 2))
            .neighbor("192.0.2.1".parse().unwrap(), 64512)
            .neighbor("2001:db8::1".parse().unwrap(), 64512);
        let text = c.render(Path::new("/tmp/bird.log"));
        let (v4, v6) = text.split_once("protocol bgp peer2").unwrap();
        assert!(v4.contains("  ipv4 { import all;") && !v4.contains("ipv6 { import"), "{text}");
        assert!(v6.contains("  ipv6 { import all; export filter { accept; }; };"), "{text}");
        assert!(!v6.contains("ipv4 { import"), "{text}");
    }
}
