//! The tokio UDP driver of BFD sessions: RFC 5881 single-hop (port 3784, TTL 255) and
//! RFC 5883 multihop (port 4784, the session's minimum TTL). It performs what each pure
//! [`Session`] asks (send, arm timers) and feeds it what arrives (packets, timer expiries).
//!
//! ```text
//!   Bfd::add_peer / reconfigure / remove_peer ──mpsc──┐
//!   (tx socket per session: source port 49152–65535,  │
//!    TTL / hop limit 255, bound to the local address)  ▼
//!                                            ┌──── sessions task ────────────┐
//!   listener task per socket ──mpsc──────────► demultiplex: Your Discr, or   ├──► watch::Sender<PeerState>
//!   (3784 and 4784, v4 and v6;  Datagram:    │ (peer, local, multihop)       │    per peer
//!    recvmsg: TTL, destination  bytes, TTL,  │ TTL check · Session · timers  ├──► tx sockets
//!    address from cmsgs)        addresses    └───────────────────────────────┘
//! ```
//!
//! One task owns every session, so a packet, a timer and a command never race; the listener
//! tasks only read sockets. Dropping the [`Bfd`] handle puts every session in AdminDown, which
//! is sent at once, keeps answering for one detection time so that peers learn it (RFC 5880
//! §6.8.16), then stops; [`Bfd::shutdown`] waits for that. Removing a peer does the same for
//! its one session.
//!
//! Every session is Asynchronous mode without authentication, as [`Session`] is. The peer and
//! local addresses of a session are global or unique-local ones: an IPv6 link-local session,
//! which needs an interface to send from, is not supported yet.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::packet::{ControlPacket, Diagnostic, State};
use crate::session::{ConfigError, Event, Session, SessionConfig};

/// The destination port of single-hop Control packets (RFC 5881 §4).
pub const SINGLE_HOP_PORT: u16 = 3784;

/// The destination port of multihop Control packets (RFC 5883 §5).
pub const MULTIHOP_PORT: u16 = 4784;

/// The TTL / hop limit every packet is sent with, and the only one a single-hop session
/// accepts (RFC 5881 §5, the GTSM of RFC 5082).
pub const MAX_TTL: u8 = 255;

/// Source ports of Control packets (RFC 5881 §4: 49152 through 65535).
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// The DSCP of Control packets: CS6, network control, as routing protocols use.
const TOS_CS6: u32 = 0xc0;

/// A Control packet is at most 24 bytes plus an authentication section; anything longer than
/// this is not BFD, and is cut short and then refused by the codec.
const MAX_DATAGRAM: usize = 512;

/// Room for the IP_PKTINFO / IPV6_PKTINFO and TTL / hop-limit control messages.
const CMSG_SPACE: usize = 128;

/// Which session a packet belongs to when its Your Discriminator is still zero (RFC 5881 §3,
/// RFC 5883 §4): the peer's address, the local address, and single-hop or multihop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    /// The peer's address.
    pub peer: IpAddr,
    /// The local address packets are sent from and expected at.
    pub local: IpAddr,
    /// RFC 5883 multihop (port 4784, TTL checked against the session's `minimum_ttl`)
    /// rather than RFC 5881 single-hop (port 3784, TTL 255).
    pub multihop: bool,
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hop = if self.multihop { "multihop" } else { "single-hop" };
        write!(f, "{} from {} ({hop})", self.peer, self.local)
    }
}

/// What a peer's session looks like now, published on its [`watch`] channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerState {
    /// The session state (bfd.SessionState).
    pub state: State,
    /// The local diagnostic: why the session last went down ([`Diagnostic::None`] once Up).
    pub diagnostic: Diagnostic,
    /// The peer's state as last heard (updated as it changes): a session brought Down by a
    /// peer in AdminDown should not bring its client protocol down with it (RFC 5882 §3.2).
    pub remote_state: State,
    /// How many times the session has left Up: a watcher that saw Up twice in a row missed a
    /// flap in between when this changed.
    pub downs: u64,
    /// The diagnostic of the last time the session left Up, kept through the states after.
    pub last_down: Option<Diagnostic>,
}

/// The Control packets of one session so far (FRR's `control-packet-input`
/// and `-output`, which MetalLB exports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packets {
    /// Received and taken by the session.
    pub received: u64,
    /// Sent (handed to the kernel).
    pub sent: u64,
}

/// A session's packet counts, read while it runs (a clone follows the same session).
#[derive(Debug, Clone, Default)]
pub struct PacketCounter(Arc<(AtomicU64, AtomicU64)>);

impl PacketCounter {
    /// The counts now.
    pub fn get(&self) -> Packets {
        Packets { received: self.0.0.load(Ordering::Relaxed), sent: self.0.1.load(Ordering::Relaxed) }
    }

    fn received(&self) {
        self.0.0.fetch_add(1, Ordering::Relaxed);
    }

    fn sent(&self) {
        self.0.1.fetch_add(1, Ordering::Relaxed);
    }
}

/// Datagrams the driver dropped before any session acted on them, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Not a valid BFD Control packet (RFC 5880 §6.8.6 checks on the packet alone).
    pub malformed: u64,
    /// TTL or hop limit below what the session accepts (RFC 5881 §5, RFC 5883 §5).
    pub ttl: u64,
    /// No session for the discriminator or addresses, or the addresses do not match the
    /// session the discriminator names.
    pub unknown_session: u64,
    /// Selected a session, which discarded it (authentication, AdminDown).
    pub discarded: u64,
}

/// Why the driver cannot do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A listening socket cannot be opened or bound.
    #[error("BFD cannot listen on {addr}: {source}")]
    Listen {
        /// The address and port.
        addr: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// A session's sending socket cannot be opened, set up or bound.
    #[error("BFD peer {key}: cannot open a sending socket: {source}")]
    Socket {
        /// The peer.
        key: PeerKey,
        /// What the kernel said.
        source: io::Error,
    },
    /// The peer and local addresses are of different families, or the local one is unspecified.
    #[error("BFD peer {key}: expected a specific local address of the peer's family")]
    Addresses {
        /// The peer.
        key: PeerKey,
    },
    /// The peer already has a session.
    #[error("BFD peer {key} already has a session")]
    DuplicatePeer {
        /// The peer.
        key: PeerKey,
    },
    /// The peer has no session.
    #[error("BFD peer {key} has no session")]
    UnknownPeer {
        /// The peer.
        key: PeerKey,
    },
    /// The session configuration is invalid.
    #[error("BFD peer {key}: {source}")]
    Config {
        /// The peer.
        key: PeerKey,
        /// What is wrong.
        source: ConfigError,
    },
    /// The sessions task has stopped (its runtime is shutting down).
    #[error("BFD driver has stopped")]
    Stopped,
}

/// The BFD sessions of this system; see the [module documentation](self).
pub struct Bfd {
    commands: Option<mpsc::UnboundedSender<Command>>,
    peers: Mutex<HashMap<PeerKey, PacketCounter>>,
    next_discriminator: AtomicU32,
    dropped: Arc<DropCounters>,
    task: Option<JoinHandle<()>>,
    listeners: Vec<SocketAddr>,
}

impl fmt::Debug for Bfd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bfd").field("listeners", &self.listeners).finish_non_exhaustive()
    }
}

enum Command {
    Add(Box<Peer>),
    Reconfigure(PeerKey, SessionConfig),
    Remove(PeerKey),
}

impl Bfd {
    /// Listens on ports 3784 and 4784 of every address in `listen` (an unspecified address
    /// listens on all of its family's) and starts the sessions task on the current tokio
    /// runtime. Must be called within a runtime.
    pub fn spawn(listen: &[IpAddr]) -> Result<Bfd, DriverError> {
        let (datagrams_tx, datagrams) = mpsc::channel(1024);
        let mut listeners = Vec::new();
        let mut readers = Vec::new();
        for &ip in listen {
            for (port, multihop) in [(SINGLE_HOP_PORT, false), (MULTIHOP_PORT, true)] {
                let addr = SocketAddr::new(ip, port);
                let socket = listener(addr).map_err(|source| DriverError::Listen { addr, source })?;
                listeners.push(addr);
                readers.push(AbortOnDrop(tokio::spawn(read_datagrams(
                    socket,
                    multihop,
                    datagrams_tx.clone(),
                ))));
            }
        }
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let dropped = Arc::new(DropCounters::default());
        let sessions = Sessions { peers: HashMap::new(), by_key: HashMap::new(), dropped: dropped.clone() };
        let task = tokio::spawn(sessions.run(commands, datagrams, readers));
        info!(listen = ?listeners, "BFD listening");
        Ok(Bfd {
            commands: Some(commands_tx),
            peers: Mutex::new(HashMap::new()),
            next_discriminator: AtomicU32::new(first_discriminator()),
            dropped,
            task: Some(task),
            listeners,
        })
    }

    /// The addresses and ports listened on.
    pub fn listeners(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// Starts a session with a peer; it sends at once unless `config` is passive. The
    /// receiver shows the session's state, from Down.
    pub fn add_peer(
        &self,
        key: PeerKey,
        config: SessionConfig,
    ) -> Result<watch::Receiver<PeerState>, DriverError> {
        if key.local.is_unspecified() || key.local.is_ipv4() != key.peer.is_ipv4() {
            return Err(DriverError::Addresses { key });
        }
        config.validate().map_err(|source| DriverError::Config { key, source })?;
        let mut peers = lock(&self.peers);
        if peers.contains_key(&key) {
            return Err(DriverError::DuplicatePeer { key });
        }
        let socket = sender(key).map_err(|source| DriverError::Socket { key, source })?;
        let discriminator = self.allocate_discriminator();
        let session = Session::new(config, discriminator, random(discriminator.get()), now())
            .map_err(|source| DriverError::Config { key, source })?;
        let initial = PeerState {
            state: session.state(),
            diagnostic: session.diagnostic(),
            remote_state: session.remote_state(),
            downs: 0,
            last_down: None,
        };
        let (state_tx, state_rx) = watch::channel(initial);
        let destination =
            SocketAddr::new(key.peer, if key.multihop { MULTIHOP_PORT } else { SINGLE_HOP_PORT });
        let packets = PacketCounter::default();
        let peer = Peer {
            key,
            session,
            socket,
            destination,
            state: state_tx,
            packets: packets.clone(),
            retire_at: None,
        };
        self.send(Command::Add(Box::new(peer)))?;
        peers.insert(key, packets);
        debug!(peer = %key.peer, local = %key.local, multihop = key.multihop, discriminator, "BFD session added");
        Ok(state_rx)
    }

    /// Changes a session's timers, multiplier or minimum TTL. A change of interval while Up
    /// runs a Poll Sequence (RFC 5880 §6.8.3).
    pub fn reconfigure(&self, key: PeerKey, config: SessionConfig) -> Result<(), DriverError> {
        config.validate().map_err(|source| DriverError::Config { key, source })?;
        if !lock(&self.peers).contains_key(&key) {
            return Err(DriverError::UnknownPeer { key });
        }
        self.send(Command::Reconfigure(key, config))
    }

    /// Ends a session: AdminDown is sent at once and for one detection time (RFC 5880
    /// §6.8.16), then the session is gone and its state channel closes.
    pub fn remove_peer(&self, key: PeerKey) -> Result<(), DriverError> {
        if lock(&self.peers).remove(&key).is_none() {
            return Err(DriverError::UnknownPeer { key });
        }
        self.send(Command::Remove(key))
    }

    /// The packet counts of the session with `key`, followed while it runs.
    pub fn packets(&self, key: PeerKey) -> Option<PacketCounter> {
        lock(&self.peers).get(&key).cloned()
    }

    /// Datagrams dropped so far before any session acted on them.
    pub fn dropped(&self) -> Dropped {
        self.dropped.snapshot()
    }

    /// Puts every session in AdminDown and waits until the peers have been told (one
    /// detection time at most) and the sessions task has stopped.
    pub async fn shutdown(mut self) {
        self.commands = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn send(&self, command: Command) -> Result<(), DriverError> {
        let commands = self.commands.as_ref().ok_or(DriverError::Stopped)?;
        commands.send(command).map_err(|_| DriverError::Stopped)
    }

    /// A nonzero discriminator no running session has: a counter from a random start, so
    /// that a restarted system does not reuse its last discriminators (RFC 5880 §6.8.1).
    fn allocate_discriminator(&self) -> NonZeroU32 {
        loop {
            if let Some(d) = NonZeroU32::new(self.next_discriminator.fetch_add(1, Ordering::Relaxed)) {
                return d;
            }
        }
    }
}

impl Drop for Bfd {
    fn drop(&mut self) {
        // Closing the command channel is the signal: the task says AdminDown, lingers one
        // detection time, and ends by itself.
        self.commands = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn first_discriminator() -> u32 {
    // Room below the top for many sessions before wrapping through zero.
    (random(std::process::id()) as u32 >> 1).max(1)
}

/// A random number (from the standard library's randomly keyed hasher) mixed with `salt`.
fn random(salt: u32) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(salt);
    h.finish()
}

#[derive(Default)]
struct DropCounters {
    malformed: AtomicU64,
    ttl: AtomicU64,
    unknown_session: AtomicU64,
    discarded: AtomicU64,
}

impl DropCounters {
    fn snapshot(&self) -> Dropped {
        Dropped {
            malformed: self.malformed.load(Ordering::Relaxed),
            ttl: self.ttl.load(Ordering::Relaxed),
            unknown_session: self.unknown_session.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
        }
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A UDP socket on port 3784 or 4784 that reports each datagram's TTL and destination.
fn listener(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
        setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)?;
        setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
    } else {
        setsockopt(&socket, sockopt::Ipv4RecvTtl, &true)?;
        setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The socket a session sends from: bound to its local address and a port in 49152–65535,
/// the same port for every packet of the session (RFC 5881 §4), TTL / hop limit 255.
fn sender(key: PeerKey) -> io::Result<UdpSocket> {
    let domain = if key.local.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if key.local.is_ipv6() {
        socket.set_only_v6(true)?;
        socket.set_unicast_hops_v6(u32::from(MAX_TTL))?;
        socket.set_tclass_v6(TOS_CS6)?;
    } else {
        socket.set_ttl_v4(u32::from(MAX_TTL))?;
        socket.set_tos_v4(TOS_CS6)?;
    }
    socket.set_nonblocking(true)?;
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let start = (random(span) % u64::from(span)) as u32;
    let mut last = None;
    // A handful of tries from a random port, then the next ones: ports in use are rare.
    for i in 0..span.min(1024) {
        let port = SOURCE_PORTS.start() + ((start + i) % span) as u16;
        match socket.bind(&SocketAddr::new(key.local, port).into()) {
            Ok(()) => return UdpSocket::from_std(socket.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// One received datagram with what the IP header said.
#[derive(Debug)]
struct Datagram {
    bytes: Vec<u8>,
    source: IpAddr,
    destination: Option<IpAddr>,
    ttl: Option<u8>,
    multihop: bool,
}

async fn read_datagrams(socket: UdpSocket, multihop: bool, out: mpsc::Sender<Datagram>) {
    let bound = socket.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified());
    loop {
        let received = socket.async_io(Interest::READABLE, || receive(&socket)).await;
        let mut datagram = match received {
            Ok(d) => d,
            Err(e) => {
                // ICMP errors and the like: the socket itself is fine.
                debug!(error = %e, "BFD receive failed");
                continue;
            }
        };
        datagram.multihop = multihop;
        datagram.destination = datagram.destination.or(bound);
        if out.send(datagram).await.is_err() {
            return;
        }
    }
}

fn receive(socket: &UdpSocket) -> io::Result<Datagram> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut cmsg = [0u8; CMSG_SPACE];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_TRUNC)?;
    let source = msg
        .address
        .as_ref()
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without an IP source"))?;
    let mut ttl = None;
    let mut destination = None;
    for message in msg.cmsgs()? {
        match message {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                ttl = u8::try_from(t).ok();
            }
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    // With MSG_TRUNC the length is the datagram's, which may exceed the buffer.
    let len = msg.bytes.min(MAX_DATAGRAM);
    let bytes = if msg.bytes > MAX_DATAGRAM { Vec::new() } else { buf[..len].to_vec() };
    Ok(Datagram { bytes, source, destination, ttl, multihop: false })
}

/// One session and what the driver keeps beside it.
struct Peer {
    key: PeerKey,
    session: Session,
    socket: UdpSocket,
    destination: SocketAddr,
    state: watch::Sender<PeerState>,
    packets: PacketCounter,
    /// Set once removed: AdminDown goes out until then, then the session is dropped.
    retire_at: Option<Instant>,
}

impl Peer {
    /// Sends what the session has to send and publishes its state changes.
    fn flush(&mut self) {
        while let Some(packet) = self.session.poll_transmit() {
            let bytes = packet.encode();
            match self.socket.try_send_to(&bytes, self.destination) {
                Ok(_) => self.packets.sent(),
                // A lost packet is what BFD is built to survive; the detection time decides.
                Err(e) => debug!(peer = %self.key.peer, error = %e, "BFD send failed"),
            }
        }
        while let Some(event) = self.session.poll_event() {
            let Event::StateChanged { from, to, diagnostic, remote_state } = event;
            info!(
                peer = %self.key.peer,
                local = %self.key.local,
                multihop = self.key.multihop,
                from = %from,
                state = %to,
                diag = %diagnostic,
                remote_state = %remote_state,
                "BFD session state changed"
            );
            self.state.send_modify(|s| {
                s.state = to;
                s.diagnostic = diagnostic;
                s.remote_state = remote_state;
                if from == State::Up {
                    s.downs += 1;
                    s.last_down = Some(diagnostic);
                }
            });
        }
        let remote_state = self.session.remote_state();
        self.state.send_if_modified(|s| {
            let changed = s.remote_state != remote_state;
            s.remote_state = remote_state;
            changed
        });
    }

    /// AdminDown now, and dropped after one detection time (RFC 5880 §6.8.16).
    fn retire(&mut self, now: Instant) {
        self.session.admin_down(now);
        self.flush();
        self.retire_at = Some(now + self.session.detection_time().unwrap_or(Duration::ZERO));
    }

    fn next_wake(&self) -> Option<Instant> {
        [self.session.poll_timeout(), self.retire_at].into_iter().flatten().min()
    }
}

/// Every session, owned by the one task.
struct Sessions {
    /// By local discriminator.
    peers: HashMap<NonZeroU32, Peer>,
    /// Sessions not removed, by key: the demultiplexing of packets with Your Discriminator 0.
    by_key: HashMap<PeerKey, NonZeroU32>,
    dropped: Arc<DropCounters>,
}

impl Sessions {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut datagrams: mpsc::Receiver<Datagram>,
        _readers: Vec<AbortOnDrop>,
    ) {
        let mut closing = false;
        loop {
            let wake = self.peers.values().filter_map(Peer::next_wake).min();
            if closing && self.peers.is_empty() {
                break;
            }
            // Far enough to mean "never" without overflowing the timer wheel.
            let deadline = wake.unwrap_or_else(|| now() + Duration::from_secs(3600));
            tokio::select! {
                command = commands.recv(), if !closing => match command {
                    Some(command) => self.command(command, now()),
                    None => {
                        closing = true;
                        let now = now();
                        self.by_key.clear();
                        for peer in self.peers.values_mut().filter(|p| p.retire_at.is_none()) {
                            peer.retire(now);
                        }
                        debug!("BFD driver stopping: sessions AdminDown");
                    }
                },
                Some(datagram) = datagrams.recv() => self.receive(datagram, now()),
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            self.expire(now());
        }
        debug!("BFD driver stopped");
    }

    fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Add(mut peer) => {
                let discriminator = peer.session.local_discriminator();
                self.by_key.insert(peer.key, discriminator);
                peer.flush();
                if let Some(old) = self.peers.insert(discriminator, *peer) {
                    // Only after 2^32 allocations; the handle checks keys, not discriminators.
                    warn!(peer = %old.key.peer, discriminator, "BFD discriminator reused; older session dropped");
                }
            }
            Command::Reconfigure(key, config) => {
                let Some(peer) = self.by_key.get(&key).and_then(|d| self.peers.get_mut(d)) else { return };
                // Validated by the handle, so this cannot fail.
                if let Err(e) = peer.session.reconfigure(config) {
                    warn!(peer = %key.peer, error = %e, "BFD reconfiguration refused");
                }
                debug!(peer = %key.peer, polling = peer.session.polling(), "BFD session reconfigured");
                peer.flush();
            }
            Command::Remove(key) => {
                let Some(discriminator) = self.by_key.remove(&key) else { return };
                if let Some(peer) = self.peers.get_mut(&discriminator) {
                    peer.retire(now);
                }
            }
        }
    }

    fn receive(&mut self, datagram: Datagram, now: Instant) {
        let Datagram { bytes, source, destination, ttl, multihop } = datagram;
        let packet = match ControlPacket::decode(&bytes) {
            Ok(p) => p,
            Err(e) => {
                DropCounters::count(&self.dropped.malformed);
                debug!(peer = %source, len = bytes.len(), error = %e, "BFD packet dropped: malformed");
                return;
            }
        };
        let found = match NonZeroU32::new(packet.your_discriminator) {
            Some(d) => self.peers.get_mut(&d),
            None => {
                let key = destination.map(|local| PeerKey { peer: source, local, multihop });
                key.and_then(|k| self.by_key.get(&k)).and_then(|d| self.peers.get_mut(d))
            }
        };
        let Some(peer) = found.filter(|p| {
            p.key.peer == source && destination.is_none_or(|d| d == p.key.local) && p.key.multihop == multihop
        }) else {
            DropCounters::count(&self.dropped.unknown_session);
            debug!(
                peer = %source,
                local = ?destination,
                multihop,
                your_discriminator = packet.your_discriminator,
                "BFD packet dropped: no such session"
            );
            return;
        };
        let minimum = if multihop { peer.session.config().minimum_ttl } else { MAX_TTL };
        if ttl.is_none_or(|t| t < minimum) {
            DropCounters::count(&self.dropped.ttl);
            debug!(peer = %source, ttl = ?ttl, minimum, "BFD packet dropped: TTL too low");
            return;
        }
        match peer.session.handle_packet(&packet, now) {
            Ok(()) => peer.packets.received(),
            Err(e) => {
                DropCounters::count(&self.dropped.discarded);
                debug!(peer = %source, error = %e, "BFD packet discarded by its session");
            }
        }
        peer.flush();
    }

    fn expire(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for (discriminator, peer) in &mut self.peers {
            if peer.retire_at.is_some_and(|at| now >= at) {
                gone.push(*discriminator);
                continue;
            }
            if peer.session.poll_timeout().is_some_and(|at| now >= at) {
                peer.session.handle_timeout(now);
                peer.flush();
            }
        }
        for discriminator in gone {
            if let Some(peer) = self.peers.remove(&discriminator) {
                debug!(peer = %peer.key.peer, discriminator, "BFD session removed");
            }
        }
    }
}

/// The time for the sans-I/O core: tokio's clock, which the sleeps use too,
/// so that a test on a paused clock sees what production sees.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
