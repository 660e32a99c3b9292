//! What a client on the segment sees: who answers ARP and NDP for an
//! address (Habets arping, ndisc6), its kernel's neighbor entry, and a tiny
//! web server on each node that says which node answered.

use std::net::IpAddr;
use std::time::Duration;

use crate::cmd;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// The MAC of every ARP reply to `count` requests for `ip` sent on `dev` (one per second).
pub fn arping(ns: &Netns, dev: &str, ip: &str, count: u32) -> Result<Vec<String>> {
    let mut c = ns.command("arping");
    c.args(["-c", &count.to_string(), "-i", dev, ip]);
    let out = cmd::output(&mut c, Duration::from_secs(u64::from(count) + 10))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once("bytes from ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_lowercase)
        .collect())
}

/// The MAC in the first Neighbor Advertisement for `ip` on `dev`, if any came within 1 s.
pub fn ndisc6(ns: &Netns, dev: &str, ip: &str) -> Result<Option<String>> {
    Ok(advertised(ns, &["-1", "-r", "2", "-w", "500", ip, dev])?.into_iter().next())
}

/// The MAC of every Neighbor Advertisement for `ip` on `dev` within 1 s of one solicitation.
pub fn ndisc6_all(ns: &Netns, dev: &str, ip: &str) -> Result<Vec<String>> {
    advertised(ns, &["-m", "-r", "1", "-w", "1000", ip, dev])
}

/// The target link-layer addresses `ndisc6 ARGS` prints.
fn advertised(ns: &Netns, args: &[&str]) -> Result<Vec<String>> {
    let mut c = ns.command("ndisc6");
    c.args(args);
    let out = cmd::output(&mut c, Duration::from_secs(10))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Target link-layer address: "))
        .map(|mac| mac.trim().to_lowercase())
        .collect())
}

/// The MAC of the kernel's neighbor entry for `ip` on `dev`, if it has one.
pub fn neighbor(ns: &Netns, dev: &str, ip: &str) -> Result<Option<String>> {
    let out = ns.ip(&["neigh", "show", ip, "dev", dev])?;
    let mut words = out.split_whitespace();
    Ok(words.find(|w| *w == "lladdr").and(words.next()).map(str::to_lowercase))
}

/// The MAC address of `dev`.
pub fn mac(ns: &Netns, dev: &str) -> Result<String> {
    let out = ns.exec("cat", &[&format!("/sys/class/net/{dev}/address")])?;
    Ok(out.trim().to_lowercase())
}

/// Starts a web server on port `port` of every address of `ns` whose page is
/// `name`, so a client sees which host answered; returns its pid.
pub fn start_name_server(ns: &Netns, name: &str, port: u16) -> Result<u32> {
    let dir = ns.dir().join("www");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let page = dir.join("index.html");
    std::fs::write(&page, name).map_err(|e| Error::io("write", &page, e))?;
    let mut c = ns.command("python3");
    c.args(["-m", "http.server", "--bind", "::", &port.to_string(), "--directory"]).arg(&dir);
    ns.spawn(c, &ns.dir().join("www.log"))
}

/// The page at `http://ip:port/` fetched from `ns` within `timeout`, if any.
pub fn fetch_name(ns: &Netns, ip: IpAddr, port: u16, timeout: Duration) -> Option<String> {
    let url = match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/"),
    };
    let seconds = format!("{:.3}", timeout.as_secs_f64());
    let mut c = ns.command("curl");
    c.args(["-s", "-g", "--max-time", &seconds, &url]);
    let out = cmd::output(&mut c, timeout + Duration::from_secs(5)).ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
