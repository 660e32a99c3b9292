//! What the chaos lab watches, from outside ferrolb: the ARP and NDP
//! answers a client on the segment gets for every L2 VIP, the BGP paths the
//! router holds, and, from each node's control socket, the address each
//! Service has there; the processes' memory and open files.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use ferrolb_lab::{Frr, Netns};

/// Asks, from the client's interface, who has each address of a file (one
/// per line): an ARP request for IPv4, a Neighbor Solicitation for IPv6, 50
/// at a time 2 ms apart (as many clients would, not one burst); prints `ADDRESS MAC` for each answer heard within the
/// window (an address answered by two MACs prints twice).
const PROBER: &str = r#"
import socket, struct, sys, time
iface, path, window = sys.argv[1], sys.argv[2], float(sys.argv[3])
src4 = socket.inet_aton("198.51.100.2")
src6 = socket.inet_pton(socket.AF_INET6, "2001:db8:100::2")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
# Room for every answer, our own requests looped back and the nodes'
# announcements while we send (SO_RCVBUFFORCE: past rmem_max, as root).
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
s.bind((iface, 0))
mac = s.getsockname()[4]
def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
for n, line in enumerate(open(path)):
    vip = line.strip()
    if not vip:
        continue
    if n % 50 == 49:
        time.sleep(0.002)
    if ":" in vip:
        target = socket.inet_pton(socket.AF_INET6, vip)
        group = bytes.fromhex("ff0200000000000000000001ff") + target[13:]
        icmp = struct.pack("!BBH4x16sBB6s", 135, 0, 0, target, 1, 1, mac)
        pseudo = src6 + group + struct.pack("!I3xB", len(icmp), 58)
        icmp = icmp[:2] + struct.pack("!H", checksum(pseudo + icmp)) + icmp[4:]
        ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(icmp), 58, 255, src6, group)
        s.send(bytes.fromhex("3333ff") + target[13:] + mac + b"\x86\xdd" + ip6 + icmp)
    else:
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, src4, b"\0" * 6, socket.inet_aton(vip))
        s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
s.settimeout(0.02)
end = time.monotonic() + window
while time.monotonic() < end:
    try:
        frame = s.recv(2048)
    except socket.timeout:
        continue
    sender = frame[6:12]
    if sender == mac:
        continue
    kind = frame[12:14]
    if kind == b"\x08\x06" and frame[20:22] == b"\x00\x02":
        print(socket.inet_ntoa(frame[28:32]), sender.hex(":"))
    elif kind == b"\x86\xdd" and frame[20] == 58 and frame[54] == 136:
        print(socket.inet_ntop(socket.AF_INET6, frame[62:78]), sender.hex(":"))
sys.stdout.flush()
"#;

/// Who answers for each of `vips`, as the client hears it: every MAC per address.
pub(super) fn l2_answers(
    client: &Netns,
    vips: &[IpAddr],
) -> anyhow::Result<BTreeMap<IpAddr, BTreeSet<String>>> {
    let list = client.dir().join("chaos-vips.txt");
    let text: String = vips.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&list, text).with_context(|| format!("writing {}", list.display()))?;
    let out = client
        .command("python3")
        .args(["-c", PROBER, "eth0"])
        .arg(&list)
        .arg("0.3")
        .output()
        .context("running the ARP/NDP prober")?;
    anyhow::ensure!(
        out.status.success(),
        "the ARP/NDP prober failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut answers: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        if let (Some(Ok(ip)), Some(mac)) = (words.next().map(str::parse::<IpAddr>), words.next()) {
            answers.entry(ip).or_default().insert(mac.to_owned());
        }
    }
    Ok(answers)
}

/// Counts, from the client's interface, what the nodes announce unasked for
/// a number of seconds: gratuitous ARP (sender and target address the same)
/// and unsolicited Neighbor Advertisements (Solicited flag clear); prints the count.
const LISTENER: &str = r#"
import socket, sys, time
iface, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
s.bind((iface, 0))
s.settimeout(0.05)
count = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        frame = s.recv(2048)
    except socket.timeout:
        continue
    kind = frame[12:14]
    if kind == b"\x08\x06" and frame[28:32] == frame[38:42]:
        count += 1
    elif kind == b"\x86\xdd" and frame[20] == 58 and frame[54] == 136 and not frame[58] & 0x40:
        count += 1
print(count)
"#;

/// The client counting the nodes' unasked announcements (see [`LISTENER`]).
pub(super) struct Announcements(std::process::Child);

impl Announcements {
    /// Starts counting on the client for `during`.
    pub(super) fn count(client: &Netns, during: std::time::Duration) -> anyhow::Result<Announcements> {
        let child = client
            .command("python3")
            .args(["-c", LISTENER, "eth0", &during.as_secs_f64().to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("starting the announcement listener")?;
        Ok(Announcements(child))
    }

    /// How many it heard, once its time is over.
    pub(super) fn heard(self) -> anyhow::Result<u64> {
        let out = self.0.wait_with_output().context("the announcement listener")?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().with_context(|| format!("the announcement listener said {text:?}"))
    }
}

/// The BGP paths the router holds: prefix address → the peers it came from.
pub(super) fn bgp_paths(frr: &Frr) -> anyhow::Result<BTreeMap<IpAddr, BTreeSet<String>>> {
    let rib = frr.bgp_ipv4_unicast()?;
    let mut paths: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
    for (prefix, entries) in rib["routes"].as_object().into_iter().flatten() {
        let Some(Ok(address)) = prefix.split('/').next().map(str::parse::<IpAddr>) else { continue };
        let peers = entries.as_array().into_iter().flatten().filter_map(|p| p["peerId"].as_str());
        paths.entry(address).or_default().extend(peers.map(str::to_owned));
    }
    Ok(paths)
}

/// The addresses of each Service as node's `ferrolb status` tells them
/// (its control socket at `socket`).
pub(super) fn assignments(exe: &Path, socket: &Path) -> anyhow::Result<BTreeMap<String, BTreeSet<IpAddr>>> {
    let out = std::process::Command::new(exe)
        .args(["status", "-o", "json", "--socket"])
        .arg(socket)
        .output()
        .context("running ferrolb status")?;
    anyhow::ensure!(out.status.success(), "ferrolb status: {}", String::from_utf8_lossy(&out.stderr).trim());
    let status: ferrolb_node::observe::NodeStatus =
        serde_json::from_slice(&out.stdout).context("ferrolb status -o json")?;
    let mut by_service: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for vip in status.vips {
        let name = vip.service.rsplit('/').next().unwrap_or(&vip.service).to_owned();
        by_service.entry(name).or_default().insert(vip.ip);
    }
    Ok(by_service)
}

/// A process's resident memory (KiB) and open files.
pub(super) fn resources(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}
