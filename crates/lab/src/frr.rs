//! FRR (zebra + bgpd, and bfdd when the config has BFD peers) as a router in a namespace.
//!
//! Started as LAB-NOTES says: each daemon in the foreground with its own pathspace
//! (`-N <netns name>`), so several routers coexist; config and run directories belong to user
//! `frr`; the config always has `no bgp ebgp-requires-policy` (FRR 8.4 drops eBGP routes
//! otherwise) and `maximum-paths` for ECMP.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd::{self, DEFAULT_TIMEOUT};
use crate::daemon::{self, ScratchDir};
use crate::error::{Error, Result};
use crate::netns::{Netns, Route, STOP_GRACE};
use crate::wait::wait_until;

/// Where Debian installs the FRR daemons.
pub const FRR_DIR: &str = "/usr/lib/frr";

/// One BGP neighbor of an FRR router.
#[derive(Debug, Clone)]
pub struct FrrNeighbor {
    /// The neighbor's address.
    pub address: IpAddr,
    /// The neighbor's ASN.
    pub remote_asn: u32,
    /// Whether IPv6 unicast is activated too (IPv4 unicast always is).
    pub ipv6: bool,
}

/// One BFD peer of FRR's bfdd (a `peer` stanza under `bfd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrBfdPeer {
    /// The peer's address.
    pub peer: IpAddr,
    /// FRR's own address for the session.
    pub local: IpAddr,
    /// The interface of a single-hop session.
    pub interface: Option<String>,
    /// RFC 5883 multihop rather than RFC 5881 single-hop.
    pub multihop: bool,
    /// `detect-multiplier`.
    pub detect_multiplier: u8,
    /// `receive-interval`, milliseconds.
    pub receive_interval_ms: u32,
    /// `transmit-interval`, milliseconds.
    pub transmit_interval_ms: u32,
}

impl FrrBfdPeer {
    /// A single-hop peer on `interface` with multiplier 3 and 300 ms timers (MetalLB's defaults).
    pub fn single_hop(peer: IpAddr, local: IpAddr, interface: &str) -> Self {
        FrrBfdPeer {
            peer,
            local,
            interface: Some(interface.to_owned()),
            multihop: false,
            detect_multiplier: 3,
            receive_interval_ms: 300,
            transmit_interval_ms: 300,
        }
    }

    /// The `peer …` line that opens (and, in vtysh, selects) this peer's stanza.
    pub fn stanza(&self) -> String {
        let mut line = format!("peer {}", self.peer);
        if self.multihop {
            line.push_str(" multihop");
        }
        let _ = write!(line, " local-address {}", self.local);
        if let Some(interface) = &self.interface {
            let _ = write!(line, " interface {interface}");
        }
        line
    }
}

/// The configuration an [`Frr`] router is started with.
#[derive(Debug, Clone)]
pub struct FrrConfig {
    /// Local ASN.
    pub asn: u32,
    /// BGP router ID.
    pub router_id: Ipv4Addr,
    /// Neighbors, connected to actively and accepted passively.
    pub neighbors: Vec<FrrNeighbor>,
    /// Prefixes announced with `network` (no import check), IPv4 or IPv6.
    pub networks: Vec<String>,
    /// Standard communities (`64512:100`) set on the announced networks.
    pub communities: Vec<String>,
    /// Large communities (`64512:1:2`) set on the announced networks.
    pub large_communities: Vec<String>,
    /// `maximum-paths` for ECMP in both families.
    pub maximum_paths: u16,
    /// BFD peers; bfdd is started when there is at least one.
    pub bfd_peers: Vec<FrrBfdPeer>,
    /// Raw lines appended to the config.
    pub extra: String,
}

impl FrrConfig {
    /// A router with `asn` and `router_id`, no neighbors, ECMP over up to 8 paths.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        FrrConfig {
            asn,
            router_id,
            neighbors: Vec::new(),
            networks: Vec::new(),
            communities: Vec::new(),
            large_communities: Vec::new(),
            maximum_paths: 8,
            bfd_peers: Vec::new(),
            extra: String::new(),
        }
    }

    /// Adds a neighbor (IPv4 unicast, and IPv6 unicast when `ipv6`).
    pub fn neighbor(mut self, address: IpAddr, remote_asn: u32, ipv6: bool) -> Self {
        self.neighbors.push(FrrNeighbor { address, remote_asn, ipv6 });
        self
    }

    /// Adds a prefix to announce.
    pub fn network(mut self, prefix: &str) -> Self {
        self.networks.push(prefix.to_owned());
        self
    }

    /// Adds a BFD peer (and so starts bfdd).
    pub fn bfd_peer(mut self, peer: FrrBfdPeer) -> Self {
        self.bfd_peers.push(peer);
        self
    }

    /// The `frr.conf` text read by zebra, bgpd and bfdd.
    pub fn render(&self, hostname: &str) -> String {
        let mut c = String::new();
        let w = &mut c;
        let _ = writeln!(w, "frr defaults traditional\nhostname {hostname}\nlog stdout informational\n!");
        let tagged = !self.communities.is_empty() || !self.large_communities.is_empty();
        if tagged {
            let _ = writeln!(w, "route-map FLB-TAG permit 10");
            if !self.communities.is_empty() {
                let _ = writeln!(w, " set community {}", self.communities.join(" "));
            }
            if !self.large_communities.is_empty() {
                let _ = writeln!(w, " set large-community {}", self.large_communities.join(" "));
            }
            let _ = writeln!(w, "!");
        }
        let _ = writeln!(w, "router bgp {}", self.asn);
        let _ = writeln!(w, " bgp router-id {}", self.router_id);
        let _ = writeln!(
            w,
            " no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast"
        );
        for n in &self.neighbors {
            let _ = writeln!(w, " neighbor {} remote-as {}", n.address, n.remote_asn);
            // Short timers so tests see sessions come up and go down quickly.
            let _ =
                writeln!(w, " neighbor {} timers 3 9\n neighbor {} timers connect 1", n.address, n.address);
            let _ = writeln!(w, " neighbor {} advertisement-interval 0", n.address);
        }
        for (family, v6) in [("ipv4", false), ("ipv6", true)] {
            let _ = writeln!(w, " address-family {family} unicast");
            for p in self.networks.iter().filter(|p| p.contains(':') == v6) {
                let rm = if tagged { " route-map FLB-TAG" } else { "" };
                let _ = writeln!(w, "  network {p}{rm}");
            }
            for n in self.neighbors.iter().filter(|n| !v6 || n.ipv6) {
                let _ = writeln!(w, "  neighbor {} activate", n.address);
            }
            let _ = writeln!(w, "  maximum-paths {}\n exit-address-family", self.maximum_paths);
        }
        let _ = writeln!(w, "!\n{}", self.extra);
        // Last: each daemon reads the whole file, and bgpd, which has no `bfd` node, takes the
        // stanza's `exit` lines as leaving configuration mode; whatever follows them (`extra`'s
        // `neighbor X bfd`) would be lost to bgpd without a word.
        if !self.bfd_peers.is_empty() {
            let _ = writeln!(w, "!\nbfd");
            for p in &self.bfd_peers {
                let _ = writeln!(w, " {}", p.stanza());
                let _ = writeln!(w, "  detect-multiplier {}", p.detect_multiplier);
                let _ = writeln!(w, "  receive-interval {}", p.receive_interval_ms);
                let _ = writeln!(w, "  transmit-interval {}", p.transmit_interval_ms);
                let _ = writeln!(w, " exit");
            }
            let _ = writeln!(w, "exit");
        }
        c
    }
}

/// A running FRR router (zebra + bgpd, and bfdd with BFD peers); stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Frr {
    netns: Netns,
    pathspace: String,
    zebra: u32,
    bgpd: u32,
    bfdd: Option<u32>,
    run_dir: PathBuf,
    dir: ScratchDir,
}

fn chown_frr(path: &Path) -> Result<()> {
    let mut c = Command::new("chown");
    c.arg("-R").arg("frr:frr").arg(path);
    cmd::run(&mut c, DEFAULT_TIMEOUT).map(drop)
}

impl Frr {
    /// Starts zebra, waits for its zserv socket, then starts bgpd (and bfdd when the config
    /// has BFD peers) and waits for its vty.
    pub fn start(netns: &Netns, config: &FrrConfig) -> Result<Self> {
        daemon::check_asn(config.asn)?;
        for n in &config.neighbors {
            daemon::check_asn(n.remote_asn)?;
            crate::netns::check_documentation(n.address)?;
        }
        for p in &config.bfd_peers {
            crate::netns::check_documentation(p.peer)?;
            crate::netns::check_documentation(p.local)?;
        }
        Frr::start_with_text(netns, &config.render(netns.role()), !config.bfd_peers.is_empty())
    }

    /// Starts FRR with `frr_conf` as it is (a configuration written
    /// elsewhere: `ferrolb router-config`'s), and bfdd too when `bfd`.
    pub fn start_with_text(netns: &Netns, frr_conf: &str, bfd: bool) -> Result<Self> {
        let pathspace = netns.name().to_owned();
        let dir = ScratchDir::new(netns, "frr")?;
        let conf = dir.write("frr.conf", frr_conf)?;
        dir.write("vtysh.conf", "")?;
        chown_frr(dir.path())?;
        let run_dir = PathBuf::from("/var/run/frr").join(&pathspace);
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir).map_err(|e| Error::io("create directory", &run_dir, e))?;
        chown_frr(&run_dir)?;
        let mut frr = Frr { netns: netns.clone(), pathspace, zebra: 0, bgpd: 0, bfdd: None, run_dir, dir };
        frr.zebra = frr.spawn("zebra", &conf)?;
        let zlog = frr.log("zebra");
        daemon::wait_for_path(
            netns,
            frr.zebra,
            "zebra",
            &zlog,
            &frr.run_dir.join("zserv.api"),
            Duration::from_secs(10),
        )?;
        frr.bgpd = frr.spawn("bgpd", &conf)?;
        let blog = frr.log("bgpd");
        daemon::wait_for_path(
            netns,
            frr.bgpd,
            "bgpd",
            &blog,
            &frr.run_dir.join("bgpd.vty"),
            Duration::from_secs(10),
        )?;
        // The vty socket appears before the config is read; a query answers only afterwards.
        wait_until("bgpd to answer vtysh", Duration::from_secs(10), || {
            daemon::ensure_running(netns, frr.bgpd, "bgpd", &blog)?;
            Ok(frr.vtysh("show bgp summary json").is_ok())
        })?;
        if bfd {
            frr.start_bfdd()?;
        }
        Ok(frr)
    }

    /// Starts bfdd with the router's config and waits until it answers: at start, or again
    /// after [`Frr::kill_bfdd`] (a crashed bfdd coming back). Does nothing if it runs.
    pub fn start_bfdd(&mut self) -> Result<()> {
        if self.bfdd.is_some() {
            return Ok(());
        }
        let conf = self.dir.path().join("frr.conf");
        // A killed bfdd leaves its vty socket behind: wait for a new one.
        let _ = std::fs::remove_file(self.run_dir.join("bfdd.vty"));
        let bfdd = self.spawn("bfdd", &conf)?;
        self.bfdd = Some(bfdd);
        let log = self.log("bfdd");
        daemon::wait_for_path(
            &self.netns,
            bfdd,
            "bfdd",
            &log,
            &self.run_dir.join("bfdd.vty"),
            Duration::from_secs(10),
        )?;
        wait_until("bfdd to answer vtysh", Duration::from_secs(10), || {
            daemon::ensure_running(&self.netns, bfdd, "bfdd", &log)?;
            Ok(self.vtysh("show bfd peers json").is_ok())
        })
    }

    fn log(&self, daemon: &str) -> PathBuf {
        self.dir.path().join(format!("{daemon}.log"))
    }

    fn spawn(&self, daemon: &str, conf: &Path) -> Result<u32> {
        let mut c = self.netns.command(&format!("{FRR_DIR}/{daemon}"));
        c.args(["-N", &self.pathspace, "-F", "traditional", "-P", "0"])
            .arg("-f")
            .arg(conf)
            .arg("-i")
            .arg(self.run_dir.join(format!("{daemon}.pid")));
        self.netns.spawn(c, &self.log(daemon))
    }

    /// The PIDs of zebra and bgpd.
    pub fn pids(&self) -> [u32; 2] {
        [self.zebra, self.bgpd]
    }

    /// The PID of bfdd, if started and not killed.
    pub fn bfdd_pid(&self) -> Option<u32> {
        self.bfdd
    }

    /// `show bfd peers json`: one object per session.
    pub fn bfd_peers(&self) -> Result<Vec<serde_json::Value>> {
        let value = self.vtysh_json("show bfd peers json")?;
        match value {
            serde_json::Value::Array(peers) => Ok(peers),
            other => Err(Error::Parse {
                command: "show bfd peers json".into(),
                reason: format!("expected an array, got {other}"),
            }),
        }
    }

    /// The session with `peer` as `show bfd peers json` shows it (`status`, `diagnostic`,
    /// `transmit-interval`, `remote-transmit-interval`...), if bfdd knows it.
    pub fn bfd_peer(&self, peer: IpAddr) -> Result<Option<serde_json::Value>> {
        let key = peer.to_string();
        Ok(self.bfd_peers()?.into_iter().find(|p| p.get("peer").and_then(|a| a.as_str()) == Some(&key)))
    }

    /// Waits until the session with `peer` satisfies `check`; returns its last view.
    pub fn wait_bfd_peer(
        &self,
        peer: IpAddr,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let mut last = None;
        wait_until(&format!("FRR bfdd in {} to see {peer} {what}", self.netns.name()), timeout, || {
            if let Some(bfdd) = self.bfdd {
                daemon::ensure_running(&self.netns, bfdd, "bfdd", &self.log("bfdd"))?;
            }
            last = self.bfd_peer(peer)?;
            Ok(last.as_ref().is_some_and(&mut check))
        })?;
        last.ok_or_else(|| Error::Invalid { what: format!("BFD peer {peer}"), reason: "vanished".into() })
    }

    /// Runs vtysh commands inside a BFD peer's stanza (`shutdown`, `transmit-interval 600`...).
    pub fn configure_bfd_peer(&self, peer: &FrrBfdPeer, commands: &[&str]) -> Result<()> {
        let stanza = peer.stanza();
        let mut all = vec!["configure terminal", "bfd", stanza.as_str()];
        all.extend_from_slice(commands);
        self.vtysh_commands(&all).map(drop)
    }

    /// SIGKILLs bfdd (a crash: its peers hear nothing more) and reaps it.
    pub fn kill_bfdd(&mut self) -> Option<std::process::ExitStatus> {
        self.netns.kill(self.bfdd.take()?)
    }

    /// The directory holding `frr.conf` and the daemons' logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs one or more vtysh commands in this router's pathspace; returns the output.
    pub fn vtysh_commands(&self, commands: &[&str]) -> Result<String> {
        let mut c = Command::new("vtysh");
        c.arg("-N").arg(&self.pathspace).arg("--config_dir").arg(self.dir.path());
        for command in commands {
            c.args(["-c", command]);
        }
        cmd::run(&mut c, DEFAULT_TIMEOUT)
    }

    /// Runs one vtysh command; returns its output.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        self.vtysh_commands(&[command])
    }

    /// Runs one vtysh command ending in `json` and parses its output.
    pub fn vtysh_json(&self, command: &str) -> Result<serde_json::Value> {
        let out = self.vtysh(command)?;
        serde_json::from_str(&out).map_err(|e| Error::Parse {
            command: format!("vtysh -N {} -c '{command}'", self.pathspace),
            reason: e.to_string(),
        })
    }

    /// `show bgp summary json`.
    pub fn bgp_summary(&self) -> Result<serde_json::Value> {
        self.vtysh_json("show bgp summary json")
    }

    /// Whether bgpd holds a path of the host route `vip` (IPv4 or IPv6) as stale
    /// (kept for a peer that restarts, RFC 4724); `None` when it holds no path of it.
    pub fn stale(&self, vip: &str) -> Result<Option<bool>> {
        let (family, length) = if vip.contains(':') { ("ipv6", 128) } else { ("ipv4", 32) };
        let detail = self.vtysh_json(&format!("show bgp {family} unicast {vip}/{length} json"))?;
        let paths = detail["paths"].as_array().filter(|p| !p.is_empty());
        Ok(paths.map(|paths| paths.iter().any(|p| p["stale"].as_bool().unwrap_or(false))))
    }

    /// `show bgp ipv4 unicast json`.
    pub fn bgp_ipv4_unicast(&self) -> Result<serde_json::Value> {
        self.vtysh_json("show bgp ipv4 unicast json")
    }

    /// `show bgp ipv6 unicast json`.
    pub fn bgp_ipv6_unicast(&self) -> Result<serde_json::Value> {
        self.vtysh_json("show bgp ipv6 unicast json")
    }

    /// The kernel table of the router's namespace for one family (`ip -j route`).
    pub fn kernel_routes(&self, ipv6: bool) -> Result<Vec<Route>> {
        self.netns.routes(ipv6)
    }

    /// The state of the session with `neighbor` (`Established`, `Active`...), if it is known.
    pub fn neighbor_state(&self, neighbor: IpAddr) -> Result<Option<String>> {
        let summary = self.bgp_summary()?;
        let key = neighbor.to_string();
        let state = summary
            .as_object()
            .into_iter()
            .flat_map(|families| families.values())
            .filter_map(|family| family.get("peers")?.get(&key)?.get("state")?.as_str())
            .next()
            .map(str::to_owned);
        Ok(state)
    }

    /// How many times the session with `neighbor` has reached Established
    /// (`None`: FRR does not know the neighbor): a restarted peer is back when it grew.
    pub fn established_count(&self, neighbor: IpAddr) -> Result<Option<u64>> {
        let detail = self.vtysh_json(&format!("show bgp neighbors {neighbor} json"))?;
        Ok(detail[neighbor.to_string()]["connectionsEstablished"].as_u64())
    }

    /// Waits until the session with `neighbor` is Established.
    pub fn wait_established(&self, neighbor: IpAddr, timeout: Duration) -> Result<()> {
        wait_until(
            &format!("FRR in {} to reach Established with {neighbor}", self.netns.name()),
            timeout,
            || {
                daemon::ensure_running(&self.netns, self.bgpd, "bgpd", &self.log("bgpd"))?;
                Ok(self.neighbor_state(neighbor)?.as_deref() == Some("Established"))
            },
        )
    }

    /// Shuts the session with `neighbor` down administratively (FRR sends a Cease NOTIFICATION).
    pub fn shutdown_neighbor(&self, neighbor: IpAddr) -> Result<()> {
        let router = format!("router bgp {}", self.asn()?);
        let shut = format!("neighbor {neighbor} shutdown");
        self.vtysh_commands(&["configure terminal", &router, &shut]).map(drop)
    }

    fn asn(&self) -> Result<u64> {
        let s = self.bgp_summary()?;
        s.as_object().into_iter().flat_map(|f| f.values()).find_map(|f| f.get("as")?.as_u64()).ok_or_else(
            || Error::Parse { command: "show bgp summary json".into(), reason: "no `as` field".into() },
        )
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        if let Some(bfdd) = self.bfdd {
            self.netns.stop(bfdd, STOP_GRACE);
        }
        // bgpd first, so it says goodbye (NOTIFICATION) before zebra withdraws its routes.
        self.netns.stop(self.bgpd, STOP_GRACE);
        self.netns.stop(self.zebra, STOP_GRACE);
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_accepts_ebgp_routes_without_policy_and_allows_ecmp() {
        let c = FrrConfig::new(64512, Ipv4Addr::new(192, 0, 2, 1))
            .neighbor("192.0.2.2".parse().unwrap(), 64513, true)
            .network("203.0.113.1/32")
            .network("2001:db8::1/128");
        let text = c.render("router");
        for line in [
            "no bgp ebgp-requires-policy",
            " neighbor 192.0.2.2 remote-as 64513",
            "  network 203.0.113.1/32\n",
            "  network 2001:db8::1/128\n",
            "  maximum-paths 8",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.matches("neighbor 192.0.2.2 activate").count(), 2, "{text}");
        assert!(!text.contains("\nbfd"), "no bfd stanza without BFD peers:\n{text}");
    }

    #[test]
    fn bfd_peers_get_a_stanza_each() {
        let single =
            FrrBfdPeer::single_hop("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), "eth0");
        let multi = FrrBfdPeer {
            multihop: true,
            interface: None,
            transmit_interval_ms: 100,
            ..FrrBfdPeer::single_hop("198.51.100.1".parse().unwrap(), "203.0.113.1".parse().unwrap(), "x")
        };
        let mut config = FrrConfig::new(64512, Ipv4Addr::new(192, 0, 2, 2)).bfd_peer(single.clone());
        config.extra = "router bgp 64512\n neighbor 192.0.2.1 bfd\n!\n".to_owned();
        let text = config.render("router");
        assert!(
            text.find("neighbor 192.0.2.1 bfd").unwrap() < text.find("\nbfd\n").unwrap(),
            "the bfd stanza's `exit` ends bgpd's configuration, so it comes last:\n{text}"
        );
        let text = FrrConfig::new(64512, Ipv4Addr::new(192, 0, 2, 2))
            .bfd_peer(single)
            .bfd_peer(multi)
            .render("router");
        for line in [
            "\nbfd\n",
            " peer 192.0.2.1 local-address 192.0.2.2 interface eth0\n",
            " peer 198.51.100.1 multihop local-address 203.0.113.1\n",
            "  transmit-interval 100\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
