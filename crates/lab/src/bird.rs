//! BIRD 2 as a BGP speaker in a namespace, with its own control socket.

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
    pub ipv6_next_hop: Option<IpAddr>,
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
        }
    }

    /// Adds a neighbor over IPv4 only, named `peerN`.
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
        let export = format!("export filter {{{tag} accept; }};");
        for n in &self.neighbors {
            let _ = writeln!(w, "\nprotocol bgp {} {{", n.name);
            let _ = writeln!(w, "  local as {};\n  neighbor {} as {};", self.asn, n.address, n.remote_asn);
            let _ = writeln!(
                w,
                "  hold time 9;\n  keepalive time 3;\n  connect retry time 1;\n  error wait time 1, 5;"
            );
            let _ = writeln!(w, "  ipv4 {{ import all; {export} }};");
            if let Some(nh) = n.ipv6_next_hop {
                let _ = writeln!(w, "  ipv6 {{ import all; {export} next hop address {nh}; }};");
            }
            let _ = writeln!(w, "}}");
        }
        c
    }
}

/// A running BIRD; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Bird {
    netns: Netns,
    pid: u32,
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
        let dir = ScratchDir::new(netns, "bird")?;
        let log = dir.path().join("bird.log");
        let conf = dir.write("bird.conf", &config.render(&log))?;
        let socket = dir.path().join("bird.ctl");
        let mut c = netns.command("bird");
        c.arg("-f").arg("-c").arg(&conf).arg("-s").arg(&socket).arg("-P").arg(dir.path().join("bird.pid"));
        let pid = netns.spawn(c, &dir.path().join("bird.out"))?;
        let bird = Bird { netns: netns.clone(), pid, socket, dir };
        daemon::wait_for_path(
            netns,
            pid,
            "bird",
            &bird.dir.path().join("bird.out"),
            &bird.socket,
            Duration::from_secs(10),
        )?;
        wait_until("bird to answer birdc", Duration::from_secs(10), || {
            bird.ensure_running()?;
            Ok(bird.birdc(&["show", "status"]).is_ok())
        })?;
        Ok(bird)
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
}
