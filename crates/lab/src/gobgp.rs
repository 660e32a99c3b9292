//! GoBGP (`gobgpd` and its `gobgp` CLI) as a BGP speaker in a namespace.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use crate::cmd::{self, DEFAULT_TIMEOUT};
use crate::daemon::{self, ScratchDir};
use crate::error::Result;
use crate::netns::{Netns, STOP_GRACE};
use crate::wait::wait_until;

/// One BGP neighbor of a GoBGP speaker.
#[derive(Debug, Clone)]
pub struct GoBgpNeighbor {
    /// The neighbor's address.
    pub address: IpAddr,
    /// The neighbor's ASN.
    pub remote_asn: u32,
    /// Whether IPv6 unicast is negotiated too (IPv4 unicast always is).
    pub ipv6: bool,
}

/// The configuration a [`GoBgp`] speaker is started with (rendered as TOML).
#[derive(Debug, Clone)]
pub struct GoBgpConfig {
    /// Local ASN.
    pub asn: u32,
    /// BGP router ID.
    pub router_id: Ipv4Addr,
    /// TCP port gobgpd listens on for BGP; `None` to connect actively only.
    pub listen_port: Option<u16>,
    /// Neighbors.
    pub neighbors: Vec<GoBgpNeighbor>,
}

impl GoBgpConfig {
    /// A speaker with `asn` and `router_id`, listening on 179, no neighbors.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        GoBgpConfig { asn, router_id, listen_port: Some(179), neighbors: Vec::new() }
    }

    /// Adds a neighbor (IPv4 unicast, and IPv6 unicast when `ipv6`).
    pub fn neighbor(mut self, address: IpAddr, remote_asn: u32, ipv6: bool) -> Self {
        self.neighbors.push(GoBgpNeighbor { address, remote_asn, ipv6 });
        self
    }

    /// The `gobgpd.toml` text.
    pub fn render(&self) -> String {
        let mut c = String::new();
        let w = &mut c;
        let port = self.listen_port.map_or(-1, i32::from);
        let _ = writeln!(
            w,
            "[global.config]\n  as = {}\n  router-id = \"{}\"\n  port = {port}\n",
            self.asn, self.router_id
        );
        for n in &self.neighbors {
            let _ = writeln!(
                w,
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}",
                n.address, n.remote_asn
            );
            let _ = writeln!(
                w,
                "  [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = 9\n    keepalive-interval = 3"
            );
            let mut families = vec!["ipv4-unicast"];
            if n.ipv6 {
                families.push("ipv6-unicast");
            }
            for f in families {
                let _ = writeln!(
                    w,
                    "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\""
                );
            }
            let _ = writeln!(w);
        }
        c
    }
}

/// A running gobgpd; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct GoBgp {
    netns: Netns,
    pid: u32,
    api_port: u16,
    dir: ScratchDir,
}

impl GoBgp {
    /// Starts gobgpd with its own gRPC port (`--api-hosts`) and waits until its API answers.
    pub fn start(netns: &Netns, config: &GoBgpConfig) -> Result<Self> {
        // The API listens on the namespace's loopback, so any port would do; a distinct one
        // per instance keeps `ss` output and logs unambiguous.
        static NEXT_PORT: AtomicU16 = AtomicU16::new(0);
        daemon::check_asn(config.asn)?;
        for n in &config.neighbors {
            daemon::check_asn(n.remote_asn)?;
            crate::netns::check_documentation(n.address)?;
        }
        let api_port = 50051 + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 1000;
        let dir = ScratchDir::new(netns, "gobgp")?;
        let conf = dir.write("gobgpd.toml", &config.render())?;
        let mut c = netns.command("gobgpd");
        c.arg("-f").arg(&conf).args(["-t", "toml", "-p", "-l", "info", "--pprof-disable"]);
        c.arg(format!("--api-hosts=127.0.0.1:{api_port}"));
        let pid = netns.spawn(c, &dir.path().join("gobgpd.log"))?;
        let gobgp = GoBgp { netns: netns.clone(), pid, api_port, dir };
        wait_until("gobgpd to answer on its API", Duration::from_secs(10), || {
            gobgp.ensure_running()?;
            Ok(gobgp.cli(&["global"]).is_ok())
        })?;
        Ok(gobgp)
    }

    fn ensure_running(&self) -> Result<()> {
        daemon::ensure_running(&self.netns, self.pid, "gobgpd", &self.dir.path().join("gobgpd.log"))
    }

    /// The PID of gobgpd.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The gRPC port of this instance.
    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    /// The directory holding `gobgpd.toml` and `gobgpd.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.netns.command("gobgp");
        c.args(["-p", &self.api_port.to_string()]).args(args);
        c
    }

    /// Runs `gobgp -p PORT args…` in the namespace; returns its output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        cmd::run(&mut self.command(args), DEFAULT_TIMEOUT)
    }

    /// Runs `gobgp -p PORT -j args…` and parses its output.
    pub fn cli_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        daemon::run_json(self.command(&full))
    }

    /// `gobgp -j neighbor`: every neighbor with its state.
    pub fn neighbors(&self) -> Result<serde_json::Value> {
        self.cli_json(&["neighbor"])
    }

    /// `gobgp -j global rib -a ipv4|ipv6`.
    pub fn global_rib(&self, ipv6: bool) -> Result<serde_json::Value> {
        self.cli_json(&["global", "rib", "-a", if ipv6 { "ipv6" } else { "ipv4" }])
    }

    /// The session state of `neighbor` as gobgp reports it (`established`, `active`...).
    pub fn neighbor_state(&self, neighbor: IpAddr) -> Result<Option<String>> {
        let key = neighbor.to_string();
        let list = self.neighbors()?;
        let state = list.as_array().into_iter().flatten().find_map(|n| {
            if n.get("conf")?.get("neighbor_address")?.as_str()? != key {
                return None;
            }
            let s = n.get("state")?.get("session_state")?;
            // gobgp 3 prints the gRPC enum as a number; 6 is ESTABLISHED.
            Some(match s.as_u64() {
                Some(1) => "idle".into(),
                Some(2) => "connect".into(),
                Some(3) => "active".into(),
                Some(4) => "opensent".into(),
                Some(5) => "openconfirm".into(),
                Some(6) => "established".into(),
                _ => s.as_str().map(str::to_lowercase).unwrap_or_else(|| s.to_string()),
            })
        });
        Ok(state)
    }

    /// Waits until the session with `neighbor` is established.
    pub fn wait_established(&self, neighbor: IpAddr, timeout: Duration) -> Result<()> {
        wait_until(
            &format!("gobgpd in {} to reach established with {neighbor}", self.netns.name()),
            timeout,
            || {
                self.ensure_running()?;
                Ok(self.neighbor_state(neighbor)?.as_deref() == Some("established"))
            },
        )
    }

    /// Announces `prefix` with ORIGIN IGP (`gobgp global rib add -a FAMILY PREFIX origin igp
    /// EXTRA…`); `extra` adds attributes such as `community 64512:100` or `nexthop 2001:db8::2`.
    pub fn announce(&self, prefix: &str, extra: &[&str]) -> Result<()> {
        let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        let mut args = vec!["global", "rib", "add", "-a", family, prefix, "origin", "igp"];
        args.extend_from_slice(extra);
        self.cli(&args).map(drop)
    }

    /// Withdraws `prefix` from the global RIB.
    pub fn withdraw(&self, prefix: &str) -> Result<()> {
        let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.cli(&["global", "rib", "del", "-a", family, prefix]).map(drop)
    }

    /// Shuts the session with `neighbor` down (gobgpd sends a Cease NOTIFICATION).
    pub fn disable_neighbor(&self, neighbor: IpAddr) -> Result<()> {
        self.cli(&["neighbor", &neighbor.to_string(), "disable"]).map(drop)
    }
}

impl Drop for GoBgp {
    fn drop(&mut self) {
        self.netns.stop(self.pid, STOP_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_lists_neighbors_with_their_families() {
        let mut c = GoBgpConfig::new(64513, Ipv4Addr::new(192, 0, 2, 2)).neighbor(
            "192.0.2.1".parse().unwrap(),
            64512,
            true,
        );
        c.listen_port = None;
        let text = c.render();
        assert!(text.contains("as = 64513\n  router-id = \"192.0.2.2\"\n  port = -1"), "{text}");
        assert!(text.contains("neighbor-address = \"192.0.2.1\"\n    peer-as = 64512"), "{text}");
        assert!(text.contains("\"ipv4-unicast\"") && text.contains("\"ipv6-unicast\""), "{text}");
    }
}
