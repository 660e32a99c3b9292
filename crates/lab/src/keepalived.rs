//! keepalived (VRRP) in a namespace: the baseline for ferrolb's L2 failover.
//!
//! ```text
//!  ┌─ node1 ─────────────────┐ ┌─ node2 ──────────┐ ┌─ node3 ──────────┐
//!  │ keepalived (parent)     │ │ keepalived       │ │ keepalived       │
//!  │  └─ VRRP child          │ │  └─ VRRP child   │ │  └─ VRRP child   │
//!  │ priority 150 → MASTER   │ │ priority 100     │ │ priority 50      │
//!  │ eth0 .11 + VIP .200/32  │ │ eth0 .12         │ │ eth0 .13         │
//!  └──────────┬──────────────┘ └────────┬─────────┘ └────────┬─────────┘
//!  ┌──────────┴─────────────────────────┴────────────────────┴──────────┐
//!  │ br0: adverts to 224.0.0.18 every advert_int; GARPs from the master │
//!  └────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Each instance runs in the foreground (`--dont-fork`) with the VRRP subsystem only (`-P`),
//! logging to its console (captured in a file) and not to syslog, and with its config and all
//! three pid files in its own scratch directory, so that several keepalived run on one machine
//! without finding each other's pid files. The parent forks one VRRP child, which sends and
//! receives the adverts and adds the VIPs; its pid is read from the VRRP pid file.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd;
use crate::daemon::{self, ScratchDir};
use crate::error::{Error, Result};
use crate::netns::{Netns, STOP_GRACE, check_documentation, process_alive};
use crate::wait::wait_until;

/// Where Debian's `keepalived` package installs the daemon.
pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// keepalived's default advertisement interval (`advert_int 1`), with VRRPv2.
pub const DEFAULT_ADVERT_INT: Duration = Duration::from_secs(1);

/// The shortest advertisement interval keepalived accepts: VRRPv3 counts the interval in
/// centiseconds (RFC 5798 §5.2.7), and keepalived 2.2.7 refuses `advert_int 0.001` ("number
/// '0.001' outside range [0.010000, 255.000000]") while VRRPv2 rounds anything below one
/// second up to whole seconds. So `vrrp_version 3` with `advert_int 0.01` is the fastest
/// documented setting.
pub const FASTEST_ADVERT_INT: Duration = Duration::from_millis(10);

/// The configuration one [`Keepalived`] is started with: one `vrrp_instance`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepalivedConfig {
    /// The interface the adverts go out on and the VIPs are added to (`eth0`).
    pub interface: String,
    /// `virtual_router_id`, the same on every router of the group (1–255).
    pub virtual_router_id: u8,
    /// `priority` (1–254); the highest among the live routers is the master.
    pub priority: u8,
    /// `vrrp_version` in `global_defs`: 2 (keepalived's default for IPv4) or 3.
    pub vrrp_version: u8,
    /// `advert_int`: whole seconds with VRRPv2, centiseconds with VRRPv3.
    pub advert_int: Duration,
    /// The VIPs with their prefix length (`198.51.100.200/32`), in `virtual_ipaddress`.
    pub vips: Vec<String>,
}

impl KeepalivedConfig {
    /// One instance on `interface` with keepalived's default timers (VRRPv2, `advert_int 1`,
    /// GARP delays and refresh untouched).
    pub fn new(interface: &str, virtual_router_id: u8, priority: u8, vip: &str) -> Self {
        KeepalivedConfig {
            interface: interface.to_owned(),
            virtual_router_id,
            priority,
            vrrp_version: 2,
            advert_int: DEFAULT_ADVERT_INT,
            vips: vec![vip.to_owned()],
        }
    }

    /// The same with the fastest timers keepalived documents: VRRPv3 and
    /// [`FASTEST_ADVERT_INT`]. The GARP settings stay at their defaults: the first burst of
    /// gratuitous ARPs goes out at once on becoming master whatever they say
    /// (`garp_master_delay` only delays the second burst, and 0 would just drop it).
    pub fn fastest(mut self) -> Self {
        self.vrrp_version = 3;
        self.advert_int = FASTEST_ADVERT_INT;
        self
    }

    /// Why keepalived would refuse or silently change this config, if it would.
    pub fn check(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::Invalid { what: "keepalived config".into(), reason });
        if self.virtual_router_id == 0 {
            return invalid("virtual_router_id must be 1-255".into());
        }
        if !(1..=254).contains(&self.priority) {
            return invalid(format!("priority {} is not 1-254 (255 is the address owner)", self.priority));
        }
        let centis = self.advert_int.as_millis() / 10;
        match self.vrrp_version {
            // VRRPv2 rounds a fraction of a second silently: refuse it instead.
            2 if self.advert_int.subsec_nanos() != 0 || !(1..=255).contains(&self.advert_int.as_secs()) => {
                return invalid(format!(
                    "VRRPv2 advert_int {:?} is not 1-255 whole seconds",
                    self.advert_int
                ));
            }
            3 if !self.advert_int.as_nanos().is_multiple_of(10_000_000) || !(1..=4095).contains(&centis) => {
                return invalid(format!("VRRPv3 advert_int {:?} is not 0.01-40.95 s", self.advert_int));
            }
            2 | 3 => {}
            v => return invalid(format!("vrrp_version {v} is not 2 or 3")),
        }
        if self.vips.is_empty() {
            return invalid("no VIP".into());
        }
        for vip in &self.vips {
            let addr: IpAddr = vip.split('/').next().unwrap_or("").parse().map_err(|_| Error::Invalid {
                what: format!("VIP {vip}"),
                reason: "expected ADDRESS/LEN".into(),
            })?;
            check_documentation(addr)?;
        }
        Ok(())
    }

    /// The `keepalived.conf` text; `name` becomes the instance's name (`VI_<name>`).
    pub fn render(&self, name: &str) -> String {
        let mut c = String::new();
        let w = &mut c;
        let _ =
            writeln!(w, "global_defs {{\n    router_id {name}\n    vrrp_version {}\n}}", self.vrrp_version);
        let _ = writeln!(w, "vrrp_instance VI_{name} {{");
        // Every router starts as BACKUP: the priority alone elects the master, as in a cluster
        // where no node is special.
        let _ = writeln!(w, "    state BACKUP\n    interface {}", self.interface);
        let _ =
            writeln!(w, "    virtual_router_id {}\n    priority {}", self.virtual_router_id, self.priority);
        let advert = if self.vrrp_version == 3 {
            format!("{:.2}", self.advert_int.as_secs_f64())
        } else {
            self.advert_int.as_secs().to_string()
        };
        let _ = writeln!(w, "    advert_int {advert}\n    virtual_ipaddress {{");
        for vip in &self.vips {
            let _ = writeln!(w, "        {vip}");
        }
        let _ = writeln!(w, "    }}\n}}");
        c
    }
}

/// A running keepalived (parent and VRRP child); stopped on drop.
#[derive(Debug)]
pub struct Keepalived {
    netns: Netns,
    pid: u32,
    vrrp_pid: u32,
    interface: String,
    log: PathBuf,
    dir: ScratchDir,
}

impl Keepalived {
    /// Writes the config, starts keepalived in `netns` and waits until its VRRP child runs.
    pub fn start(netns: &Netns, config: &KeepalivedConfig) -> Result<Self> {
        config.check()?;
        let dir = ScratchDir::new(netns, "keepalived")?;
        let conf = dir.write("keepalived.conf", &config.render(netns.role()))?;
        let log = dir.path().join("keepalived.log");
        let vrrp_pid_file = dir.path().join("vrrp.pid");
        let mut c = netns.command(KEEPALIVED);
        c.arg("--use-file")
            .arg(&conf)
            .arg("--pid")
            .arg(dir.path().join("keepalived.pid"))
            .arg("--vrrp_pid")
            .arg(&vrrp_pid_file)
            .arg("--checkers_pid")
            .arg(dir.path().join("checkers.pid"))
            .args(["--vrrp", "--dont-fork", "--log-console", "--log-detail", "--no-syslog"]);
        let pid = netns.spawn(c, &log)?;
        let mut vrrp_pid = None;
        wait_until("keepalived's VRRP child to write its pid file", Duration::from_secs(10), || {
            daemon::ensure_running(netns, pid, "keepalived", &log)?;
            vrrp_pid = read_pid(&vrrp_pid_file).filter(|&p| process_alive(p));
            Ok(vrrp_pid.is_some())
        })?;
        let vrrp_pid = vrrp_pid.unwrap_or_default();
        Ok(Keepalived { netns: netns.clone(), pid, vrrp_pid, interface: config.interface.clone(), log, dir })
    }

    /// The parent process's pid (the one started in the namespace).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The VRRP child's pid: the process that sends adverts and adds the VIPs.
    pub fn vrrp_pid(&self) -> u32 {
        self.vrrp_pid
    }

    /// The directory holding the config, the pid files and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What keepalived logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether `vip` (an address, no prefix length) is on the instance's interface, i.e.
    /// whether this keepalived is the master.
    pub fn holds(&self, vip: IpAddr) -> Result<bool> {
        let out = self.netns.ip(&["-o", "addr", "show", "dev", &self.interface])?;
        let vip = vip.to_string();
        Ok(out
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| !w.starts_with("inet")).nth(1))
            .any(|cidr| cidr.split('/').next() == Some(vip.as_str())))
    }

    /// SIGKILLs the parent and the VRRP child at once, as a crash: no goodbye advert with
    /// priority 0, which would let a backup take over at once. The parent goes first in the
    /// same signal call, so it cannot respawn the child.
    pub fn kill(&self) -> Result<()> {
        let mut c = Command::new("kill");
        c.args(["-KILL", &self.pid.to_string(), &self.vrrp_pid.to_string()]);
        cmd::run(&mut c, cmd::DEFAULT_TIMEOUT).map(drop)
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        // SIGTERM to the parent stops its child too; the child is killed by hand only if the
        // parent died first (after `kill`, or a crash) and left it behind.
        self.netns.stop(self.pid, STOP_GRACE);
        if process_alive(self.vrrp_pid) {
            let mut c = Command::new("kill");
            c.args(["-KILL", &self.vrrp_pid.to_string()]);
            let _ = cmd::output(&mut c, cmd::DEFAULT_TIMEOUT);
        }
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timers_are_vrrp2_with_one_second_adverts() {
        let c = KeepalivedConfig::new("eth0", 51, 150, "198.51.100.200/32");
        c.check().unwrap();
        let text = c.render("node1");
        for line in [
            "    vrrp_version 2\n",
            "vrrp_instance VI_node1 {",
            "    state BACKUP\n",
            "    interface eth0\n",
            "    virtual_router_id 51\n",
            "    priority 150\n",
            "    advert_int 1\n",
            "        198.51.100.200/32\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("garp"), "GARP timers stay at keepalived's defaults:\n{text}");
    }

    #[test]
    fn the_fastest_timers_are_vrrp3_with_centisecond_adverts() {
        let c = KeepalivedConfig::new("eth0", 51, 100, "198.51.100.200/32").fastest();
        c.check().unwrap();
        let text = c.render("node2");
        assert!(text.contains("    vrrp_version 3\n") && text.contains("    advert_int 0.01\n"), "{text}");
    }

    #[test]
    fn configs_keepalived_would_refuse_or_round_are_refused() {
        let ok = KeepalivedConfig::new("eth0", 51, 100, "198.51.100.200/32");
        let refused = [
            KeepalivedConfig { advert_int: Duration::from_millis(100), ..ok.clone() },
            KeepalivedConfig { advert_int: Duration::from_millis(5), ..ok.clone().fastest() },
            KeepalivedConfig { priority: 255, ..ok.clone() },
            KeepalivedConfig { virtual_router_id: 0, ..ok.clone() },
            KeepalivedConfig { vrrp_version: 4, ..ok.clone() },
            KeepalivedConfig { vips: vec!["10.0.0.1/32".into()], ..ok.clone() },
            KeepalivedConfig { vips: vec![], ..ok.clone() },
        ];
        for c in refused {
            assert!(c.check().is_err(), "{c:?}");
        }
        KeepalivedConfig { advert_int: Duration::from_millis(100), ..ok.fastest() }.check().unwrap();
    }
}
