//! The responder on real interfaces: `AF_PACKET` sockets, tokio tasks and timers around the
//! pure [`Announcer`].
//!
//! ```text
//!  caller ── Responder::set_leadership(Leadership) ──► watch ──┐
//!                                                              ▼
//!  per served interface:                              ┌─ responder task ──────────────┐
//!   reader task (ARP socket)  ──┐                     │ owns the Announcer and Links  │
//!   reader task (IPv6 socket, ──┴── mpsc (iface, ───► │ sleeps until poll_timeout()   │
//!     BPF: NS only)                  frame)           │ sends outputs on the sockets  │
//!                                                     └───────────────────────────────┘
//!  Dropping the Responder aborts the responder task; dropping a Link (interface no longer
//!  served) aborts its reader tasks and closes its sockets and multicast memberships.
//! ```
//!
//! Every served interface gets `net.ipv4.conf.IFACE.arp_ignore=1` unless
//! [`ResponderConfig::set_arp_ignore`] is off, so that the kernel does not answer ARP for
//! VIPs this node only has a local route for (see the crate documentation). The value is
//! left in place on exit: restoring 0 would bring back the duplicate answers.
//!
//! An interface that cannot be opened (missing, no permission) is logged and tried again at
//! the next [`Responder::set_leadership`], even with the same leadership.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ferrolb_sys::packet::{ETH_P_ARP, ETH_P_IPV6, PacketSocket, PacketType};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::announcer::{AnnounceConfig, Announcer, Input, Output};
use crate::ethernet::MacAddr;
use crate::interfaces::{self, HostInterface};
use crate::leadership::Leadership;
use crate::ndp;

/// How the driver behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponderConfig {
    /// Repetition of takeover announcements.
    pub announce: AnnounceConfig,
    /// Set `arp_ignore=1` on every served interface (default true).
    pub set_arp_ignore: bool,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig { announce: AnnounceConfig::default(), set_arp_ignore: true }
    }
}

/// A task handle that aborts the task when dropped.
#[derive(Debug)]
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the responder exchanged for one VIP since it started (MetalLB's
/// `metallb_layer2_*` counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VipCounts {
    /// ARP requests and Neighbor Solicitations for the VIP that it answered.
    pub requests_received: u64,
    /// Answers sent (a full send queue drops one).
    pub responses_sent: u64,
    /// Gratuitous ARPs and unsolicited Neighbor Advertisements sent.
    pub gratuitous_sent: u64,
}

/// The counts of every VIP, shared by the responder's task and whoever reads them.
#[derive(Debug, Clone, Default)]
pub struct Counts(Arc<std::sync::Mutex<BTreeMap<IpAddr, VipCounts>>>);

impl Counts {
    /// The counts now, VIPs no longer led included.
    pub fn snapshot(&self) -> BTreeMap<IpAddr, VipCounts> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn add(&self, vip: IpAddr, change: impl FnOnce(&mut VipCounts)) {
        if let Ok(mut counts) = self.0.lock() {
            change(counts.entry(vip).or_default());
        }
    }
}

/// Up to how many announcements sent together get an info line each.
const ANNOUNCEMENTS_LOGGED_ONE_BY_ONE: usize = 16;

/// The running L2 responder; dropping it stops answering and announcing at once.
#[derive(Debug)]
pub struct Responder {
    leadership: watch::Sender<Leadership>,
    again: watch::Sender<u64>,
    counts: Counts,
    _task: AbortOnDrop<()>,
}

impl Responder {
    /// Starts the responder task, leading nothing yet. Must be called within a tokio runtime
    /// (it spawns; the runtime needs its I/O and time drivers enabled).
    pub fn start(config: ResponderConfig) -> Responder {
        let (tx, rx) = watch::channel(Leadership::new());
        let (again, again_rx) = watch::channel(0);
        let counts = Counts::default();
        let task = tokio::spawn(run(config, rx, again_rx, counts.clone()));
        Responder { leadership: tx, again, counts, _task: AbortOnDrop(task) }
    }

    /// What is exchanged for each VIP, kept current.
    pub fn counts(&self) -> Counts {
        self.counts.clone()
    }

    /// Announces every led VIP again (clients may have been told another
    /// node has them, by a node that took over and handed back).
    pub fn announce_again(&self) {
        self.again.send_modify(|n| *n += 1);
    }

    /// Replaces the whole leadership: newly led VIPs are announced, VIPs no longer listed are
    /// neither answered nor announced any more. List every interface to serve, even with no
    /// VIPs, so that its sockets and `arp_ignore` are ready before a takeover.
    pub fn set_leadership(&self, leadership: Leadership) {
        self.leadership.send_replace(leadership);
    }
}

/// One served interface: its sockets and reader tasks.
struct Link {
    ifindex: u32,
    arp: Arc<AsyncFd<PacketSocket>>,
    ipv6: Arc<AsyncFd<PacketSocket>>,
    /// Holds the solicited-node memberships of the led IPv6 VIPs.
    multicast: socket2::Socket,
    joined: BTreeSet<Ipv6Addr>,
    _readers: [AbortOnDrop<()>; 2],
}

/// A classic BPF program for the IPv6 socket: accept ICMPv6 (next header 58 at byte 20)
/// of type 135, Neighbor Solicitation (byte 54), in untagged frames; drop the rest.
const NEIGHBOR_SOLICIT_FILTER: &[(u16, u8, u8, u32)] = &[
    (0x30, 0, 0, 20),     // ldb [20]
    (0x15, 0, 3, 58),     // jeq #58, next, drop
    (0x30, 0, 0, 54),     // ldb [54]
    (0x15, 0, 1, 135),    // jeq #135, accept, drop
    (0x06, 0, 0, 0xffff), // accept
    (0x06, 0, 0, 0),      // drop
];

/// The receive queue of each packet socket: about 4,000 requests (a frame
/// costs about 1 KiB of queue in the kernel's bookkeeping).
const RECEIVE_BUFFER: usize = 4 << 20;

impl Link {
    fn open(
        name: &str,
        frames: &mpsc::Sender<(String, Vec<u8>)>,
        config: &ResponderConfig,
    ) -> io::Result<Link> {
        let ifindex = read_ifindex(name)?;
        let arp = PacketSocket::open(ETH_P_ARP, ifindex)?;
        let v6 = PacketSocket::open(ETH_P_IPV6, ifindex)?;
        v6.attach_filter(NEIGHBOR_SOLICIT_FILTER)?;
        for socket in [&arp, &v6] {
            // After a takeover every client of the segment asks at once, while this
            // process may be busy electing: the kernel's default queue (about 270
            // frames) drops the rest, and those clients wait for their retry.
            if let Err(e) = socket.set_receive_buffer(RECEIVE_BUFFER) {
                tracing::warn!(interface = name, error = %e, "cannot enlarge the receive queue; a burst of requests may be dropped");
            }
        }
        let arp = Arc::new(register(arp)?);
        let ipv6 = Arc::new(register(v6)?);
        // Joining the solicited-node groups at the IP layer (rather than PACKET_MR_ALLMULTI
        // on the packet socket) programs the NIC's multicast filter for exactly those groups
        // and sends MLD reports, so that switches doing MLD snooping forward the
        // solicitations to this port. Memberships end with the socket.
        let multicast = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)?;
        if config.set_arp_ignore {
            set_arp_ignore(name);
        }
        let readers = [
            AbortOnDrop(tokio::spawn(read_frames(name.to_owned(), arp.clone(), frames.clone()))),
            AbortOnDrop(tokio::spawn(read_frames(name.to_owned(), ipv6.clone(), frames.clone()))),
        ];
        tracing::info!(interface = name, ifindex, "serving interface");
        Ok(Link { ifindex, arp, ipv6, multicast, joined: BTreeSet::new(), _readers: readers })
    }

    /// Joins the solicited-node groups of `vips`' IPv6 addresses and leaves the others.
    fn set_groups(&mut self, name: &str, vips: &BTreeSet<IpAddr>) {
        let wanted: BTreeSet<Ipv6Addr> = vips
            .iter()
            .filter_map(|v| match v {
                IpAddr::V6(v6) => Some(ndp::solicited_node(*v6)),
                IpAddr::V4(_) => None,
            })
            .collect();
        for group in self.joined.difference(&wanted) {
            if let Err(e) = self.multicast.leave_multicast_v6(group, self.ifindex) {
                tracing::warn!(interface = name, %group, error = %e, "cannot leave multicast group");
            }
        }
        for group in wanted.difference(&self.joined) {
            if let Err(e) = self.multicast.join_multicast_v6(group, self.ifindex) {
                tracing::warn!(interface = name, %group, error = %e, "cannot join multicast group; \
                    solicitations may not reach this node");
            }
        }
        self.joined = wanted;
    }

    /// Sends `frame`; whether it left.
    fn send(&self, name: &str, frame: &[u8], is_arp: bool) -> bool {
        let socket = if is_arp { &self.arp } else { &self.ipv6 };
        // Best effort, as on the wire: a full send queue drops this frame, the next
        // request or repeat tries again.
        match socket.get_ref().send(frame) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(interface = name, error = %e, "cannot send frame");
                false
            }
        }
    }
}

/// Registers `socket` with the tokio reactor.
///
/// `AsyncFd::new` is deprecated because it cannot check that the descriptor stays open and
/// the same while registered (tokio#8587); its replacement, `AsyncFd::register`, is `unsafe`,
/// which this crate forbids. The condition holds here: a [`PacketSocket`] owns its `OwnedFd`
/// alone, never replaces it, and closes it only when dropped, which `AsyncFd` does after
/// deregistering.
#[allow(deprecated)]
fn register(socket: PacketSocket) -> io::Result<AsyncFd<PacketSocket>> {
    AsyncFd::new(socket)
}

async fn read_frames(
    name: String,
    socket: Arc<AsyncFd<PacketSocket>>,
    frames: mpsc::Sender<(String, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut guard = match socket.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(interface = %name, error = %e, "packet socket failed");
                return;
            }
        };
        match guard.try_io(|s| s.get_ref().recv(&mut buf)) {
            // Our own frames, and frames not for this host: unicast to another MAC seen in
            // promiscuous mode, or tagged for a VLAN that has no interface here (the kernel
            // marks those OTHERHOST; a VLAN is served through its own interface, eth0.100,
            // which tags the answers).
            Ok(Ok((_, PacketType::Outgoing | PacketType::OtherHost))) => {}
            Ok(Ok((n, _))) => {
                if frames.send((name.clone(), buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(interface = %name, error = %e, "cannot read frame");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(_would_block) => {}
        }
    }
}

async fn run(
    config: ResponderConfig,
    mut leadership: watch::Receiver<Leadership>,
    mut again: watch::Receiver<u64>,
    counts: Counts,
) {
    let mut announcer = Announcer::new(config.announce);
    let mut links: BTreeMap<String, Link> = BTreeMap::new();
    let (frames_tx, mut frames_rx) = mpsc::channel::<(String, Vec<u8>)>(256);
    loop {
        let deadline = announcer.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let outputs = tokio::select! {
            changed = leadership.changed() => {
                if changed.is_err() {
                    return; // the Responder is gone
                }
                let next = leadership.borrow_and_update().clone();
                reconcile_links(&mut links, &next, &frames_tx, &config);
                announcer.handle(now(), Input::SetLeadership(next))
            }
            Ok(()) = again.changed() => {
                again.borrow_and_update();
                announcer.handle(now(), Input::AnnounceAgain)
            }
            Some((iface, frame)) = frames_rx.recv() => {
                announcer.handle(now(), Input::Received { iface: &iface, frame: &frame })
            }
            () = sleep => announcer.handle(now(), Input::Timeout),
        };
        // One line per VIP while few are announced at once; a takeover of
        // thousands says so in one line (each VIP at debug level). The
        // repeats of a takeover's announcement and periodic ones are
        // routine: at debug level only (a throttled node's watchers can ask
        // for announcements again every few seconds).
        let first_of_takeover =
            |remaining: u32, periodic: bool| !periodic && remaining + 1 == config.announce.count;
        let announcing = outputs
            .iter()
            .filter(|o| matches!(o, Output::Announce { remaining, periodic, .. } if first_of_takeover(*remaining, *periodic)))
            .count();
        let one_by_one = announcing <= ANNOUNCEMENTS_LOGGED_ONE_BY_ONE;
        if !one_by_one {
            tracing::info!(vips = announcing, "announcing (each VIP at debug level)");
        }
        for output in outputs {
            let (iface, vip, frame, answer) = match &output {
                Output::Answer { iface, vip, frame } => {
                    tracing::debug!(interface = %iface, dst = %frame.dst, "answering");
                    (iface, vip, frame, true)
                }
                Output::Announce { iface, vip, remaining, periodic, frame } => {
                    if one_by_one && first_of_takeover(*remaining, *periodic) {
                        tracing::info!(interface = %iface, %vip, remaining, "announcing");
                    } else {
                        tracing::debug!(interface = %iface, %vip, remaining, "announcing");
                    }
                    (iface, vip, frame, false)
                }
            };
            let sent = links.get(iface).is_some_and(|link| {
                link.send(iface, &frame.to_bytes(), matches!(frame.payload, crate::Payload::Arp(_)))
            });
            counts.add(*vip, |count| {
                if answer {
                    count.requests_received += 1;
                    count.responses_sent += u64::from(sent);
                } else {
                    count.gratuitous_sent += u64::from(sent);
                }
            });
        }
    }
}

fn reconcile_links(
    links: &mut BTreeMap<String, Link>,
    next: &Leadership,
    frames: &mpsc::Sender<(String, Vec<u8>)>,
    config: &ResponderConfig,
) {
    links.retain(|name, _| {
        let keep = next.interfaces.contains_key(name);
        if !keep {
            tracing::info!(interface = %name, "no longer serving interface");
        }
        keep
    });
    for (name, led) in &next.interfaces {
        if !links.contains_key(name) {
            match Link::open(name, frames, config) {
                Ok(link) => {
                    links.insert(name.clone(), link);
                }
                Err(e) => {
                    // Retried with the next leadership; until then nothing is sent there.
                    tracing::error!(interface = %name, error = %e, "cannot serve interface");
                    continue;
                }
            }
        }
        if let Some(link) = links.get_mut(name) {
            link.set_groups(name, &led.vips);
        }
    }
}

/// Sets `arp_ignore=1` on `iface` unless it is already 1 or more (2, 3 and 8 are stricter).
fn set_arp_ignore(iface: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/arp_ignore");
    let current = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u8>().ok());
    if current.is_some_and(|v| v >= 1) {
        return;
    }
    match std::fs::write(&path, "1") {
        Ok(()) => {
            tracing::info!(interface = iface, was = ?current, "set arp_ignore=1 so the kernel does not answer ARP for VIPs")
        }
        Err(e) => {
            tracing::warn!(interface = iface, error = %e, "cannot set arp_ignore=1; the kernel may answer ARP for VIPs with a local route")
        }
    }
}

/// A host interface as the responder needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    /// Its name.
    pub name: String,
    /// Its index.
    pub ifindex: u32,
    /// Its MAC address.
    pub mac: MacAddr,
}

fn sys_class_net(name: &str, attr: &str) -> io::Result<String> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")));
    }
    let path = Path::new("/sys/class/net").join(name).join(attr);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn read_ifindex(name: &str) -> io::Result<u32> {
    sys_class_net(name, "ifindex")?
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("ifindex of {name} is not a number")))
}

/// Reads an interface's index and MAC from `/sys/class/net/NAME/{ifindex,address}`.
pub fn read_link(name: &str) -> io::Result<HostLink> {
    let ifindex = read_ifindex(name)?;
    let mac = sys_class_net(name, "address")?
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("address of {name}: {e}")))?;
    Ok(HostLink { name: name.to_owned(), ifindex, mac })
}

/// Every interface of this host (network namespace), as [`interfaces::select`] needs them.
pub fn host_interfaces() -> io::Result<Vec<HostInterface>> {
    const IFF_UP: u32 = 0x1;
    const IFF_NOARP: u32 = 0x80;
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/sys/class/net")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Ok(flags) = sys_class_net(&name, "flags") else { continue };
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap_or(0);
        let enslaved = Path::new("/sys/class/net").join(&name).join("master").exists();
        out.push(HostInterface { name, up: flags & IFF_UP != 0, noarp: flags & IFF_NOARP != 0, enslaved });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The interfaces an `L2Advertisement` with this `interfaces` list uses on this host, with
/// their index and MAC (see [`interfaces::select`]).
pub fn interfaces_for(requested: &[String]) -> io::Result<Vec<HostLink>> {
    let host = host_interfaces()?;
    interfaces::select(requested, &host).into_iter().map(|i| read_link(&i.name)).collect()
}

/// The time for the sans-I/O core: tokio's clock, which the sleeps use too,
/// so that a test on a paused clock sees what production sees.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_read_from_sys_class_net_and_excluded_by_default() {
        let lo = read_link("lo").unwrap();
        assert_eq!((lo.ifindex, lo.mac), (1, MacAddr::ZERO));
        let host = host_interfaces().unwrap();
        assert!(host.iter().any(|i| i.name == "lo"));
        assert!(interfaces::select(&[], &host).iter().all(|i| i.name != "lo"));
    }

    #[test]
    fn interface_names_cannot_climb_out_of_sys_class_net() {
        assert_eq!(read_link("../lo").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(read_link("..").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
