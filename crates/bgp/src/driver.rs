//! The tokio driver of one BGP session: it performs what the pure
//! [`Session`] asks (connect, send, disconnect), sleeps until its timers and feeds it what happens
//! (bytes, timer expiries), and keeps the peer's routes converged to the
//! desired set through an [`AdjRibOut`].
//!
//! ```text
//!   PeerHandle::set_routes ──mpsc───┐ the whole desired set,
//!   PeerHandle::patch_routes ──mpsc─┤ or a patch of it (one queue, in order)
//!   PeerHandle::shutdown ──oneshot──┤
//!   PeerHandle::set_path_up ──watch─┤ the forwarding path (BFD), latest only
//!   Listener (TCP 179, v4 + v6) ────┤ accepted connections, by peer address (mpsc)
//!     MD5 key per peer address     ▼
//!                 ┌──────────── peer task ──────────────────────┐
//!   TCP socket ◄──┤ Peer (FSM: main + candidate session, timers) ├──► tracing
//!   (MD5, TTL) ──►│ a connection per Slot · AdjRibOut            │
//!                 └──────────────────────────────────────────────┘
//! ```
//!
//! One task per peer; the handle aborts it when dropped.
//!
//! Routes: the caller hands over either the whole desired set
//! ([`PeerHandle::set_routes`]), diffed against what was sent, or a patch of
//! it ([`PeerHandle::patch_routes`]), which costs only what it changes: an
//! edit to a file of 100,000 Services changes one route, and rebuilding and
//! diffing 100,000 routes for it takes tens of milliseconds. The task folds
//! every change already queued before sending, so of whole sets handed over
//! meanwhile only the last is diffed. While the session is Established and
//! in sync, the record of what was sent is the only holder of the desired
//! set, so a patch changes it in place; when the session goes down that
//! record becomes the desired set again, sent in full when the session is
//! back.
//!
//! Passive side (RFC 4271 §8, §6.8): a [`Listener`] accepts on port 179 and
//! hands each connection to the session registered for the remote address
//! (unknown addresses are closed at once). Where a connection goes, ours or
//! the peer's, and which of two survives a collision, the pure [`Peer`]
//! decides ([`crate::peer`]); the task keeps the connection of each [`Slot`]
//! and performs what it asks, with one perform, receive and timer path.
//!
//! Forwarding path (RFC 9384): the owner of the handle, which runs BFD to the
//! peer, says whether the path is up ([`PeerHandle::set_path_up`]). Down closes
//! the session at once with a Cease / BFD Down, drops a collision candidate, and
//! refuses connections (out and in) until Up, which connects at once.
//!
//! Timers and reconnect backoff belong to the FSM ([`Session::poll_timeout`],
//! [`crate::backoff`]): the driver sleeps until the earliest and hands it the
//! time, read from tokio's clock (so a test on a paused clock sees what
//! production sees).
//!
//! Writes never wait. A message goes to the connection's queue and out as
//! fast as the peer takes it, while the task keeps reading, running timers and
//! taking route changes, so that a peer that stops reading cannot stop the
//! session's clock: its hold timer still ends a silent peer, and a peer that
//! talks but takes nothing is closed after the send hold time (RFC 9687, Send
//! Hold Timer Expired). What such a peer costs stays bounded:
//! - a KEEPALIVE is not queued behind anything (what waits will do its work);
//! - once [`QUEUE_HIGH`] octets wait, route changes and ROUTE-REFRESH requests
//!   wait too, as the desired set (at most one more copy of the routes) and a
//!   family list, until the queue is down to half of that;
//! - a NOTIFICATION drops what was not yet begun, and a closed connection has
//!   [`LINGER`] to deliver its last octets before it is reset.
//!
//! So the queue holds at most one full table of UPDATEs (the first, at
//! Established, or a whole set replaced at once) beyond [`QUEUE_HIGH`].
//!
//! RFC 7606: an UPDATE whose malformed attributes are handled without a reset
//! (treat-as-withdraw, attribute discard) is logged with its prefixes and its
//! bytes (§6), the first ones of a session as warnings, the rest at debug.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use tokio::io::{AsyncWriteExt, Interest, Ready};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::fsm::{Keep, Negotiated, SessionConfig, State, Timer};
use crate::message::{
    Capability, DecodeContext, EncodeContext, HEADER_LEN, MAX_MESSAGE_LEN, Message, MpReach, Notification,
    RouteRefresh, Update, message_len, refresh_subtype,
};
use crate::next_hop::NextHops;
use crate::peer::{Peer, PeerInput, PeerOutput, Slot};
use crate::rib_out::{self, AdjRibOut, Changes};
use crate::routes::{RouteAttributes, SessionRoutes};
use crate::status::PeerStatus;
use crate::types::AfiSafi;

/// The routes a peer should have, by prefix; shared by the caller, the
/// peer's task and its Adj-RIB-Out.
pub type Routes = Arc<BTreeMap<IpNet, RouteAttributes>>;

/// A change to a peer's routes: prefixes withdrawn, then prefixes announced.
pub type RoutesPatch = rib_out::Patch<IpNet, RouteAttributes>;

/// What the handle tells the task about the routes; queued, not coalesced,
/// since a patch only means something after the changes before it.
enum RoutesChange {
    /// The whole desired set.
    Replace(Routes),
    /// A change to the desired set.
    Patch(RoutesPatch),
}

/// The BGP port we listen on (RFC 4271 §8.2.1.2: 179).
pub const BGP_PORT: u16 = 179;

/// Octets waiting on a connection above which route changes wait as well (see the module).
pub const QUEUE_HIGH: usize = 256 * 1024;

/// How long a closed connection may take to deliver what it was last sent (a
/// NOTIFICATION) before it is reset.
pub const LINGER: Duration = Duration::from_secs(5);

/// The most octets read from a connection at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Malformed UPDATEs of a session logged as warnings (RFC 7606 §6); the rest at debug.
const MALFORMED_WARNINGS: u32 = 10;

/// How to reach one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// A name for logs (the `BGPPeer`'s).
    pub name: String,
    /// The peer's address and TCP port.
    pub address: SocketAddr,
    /// The local address to connect from.
    pub source: Option<IpAddr>,
    /// TCP MD5 key (RFC 2385).
    pub md5_key: Option<Vec<u8>>,
    /// IP TTL / hop limit of our packets (255 for eBGP multihop).
    pub ttl: Option<u32>,
    /// The VRF device the session runs in (`SO_BINDTODEVICE`); none: the default VRF.
    pub vrf: Option<String>,
    /// The session's parameters.
    pub session: SessionConfig,
}

/// How a session is asked to end.
enum Stop {
    /// Cease / Administrative Shutdown with this message: the peer withdraws every route.
    Withdraw(String),
    /// The speaker restarts (RFC 4724): close without a NOTIFICATION where the
    /// peer keeps our routes meanwhile, else withdraw with this message.
    Restart(String),
}

/// A running session; dropping it aborts the task without a NOTIFICATION.
pub struct PeerHandle {
    routes: mpsc::UnboundedSender<RoutesChange>,
    path: PathGate,
    status: watch::Receiver<PeerStatus>,
    stop: Option<oneshot::Sender<Stop>>,
    task: JoinHandle<()>,
    _registration: Option<Registration>,
}

impl PeerHandle {
    /// Starts the session with `spec` on the current tokio runtime; it only connects out.
    pub fn spawn(spec: PeerSpec, routes: Routes) -> PeerHandle {
        PeerHandle::start(spec, routes, None)
    }

    fn start(
        spec: PeerSpec,
        routes: Routes,
        accepting: Option<(Registration, mpsc::Receiver<TcpStream>)>,
    ) -> Self {
        // The handle keeps no copy of the routes, so that the task can change them in place.
        let (routes_tx, routes_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (path_tx, path_rx) = watch::channel(true);
        let (status_tx, status) = watch::channel(PeerStatus::default());
        let (registration, incoming) = accepting.unzip();
        let task =
            tokio::spawn(PeerTask::new(spec, routes, routes_rx, incoming, path_rx, status_tx).run(stop_rx));
        let path = PathGate(Arc::new(path_tx));
        PeerHandle { routes: routes_tx, path, status, stop: Some(stop_tx), task, _registration: registration }
    }

    /// What the session has done so far, kept current (metrics, `ferrolb status`).
    pub fn status(&self) -> watch::Receiver<PeerStatus> {
        self.status.clone()
    }

    /// Says whether the forwarding path to the peer works (its BFD session is Up).
    /// Down closes the session at once with a Cease / BFD Down (RFC 9384) and keeps it
    /// closed, neither connecting nor accepting; Up connects at once. A new session
    /// starts with the path up; telling the same twice does nothing.
    pub fn set_path_up(&self, up: bool) {
        self.path.set_up(up);
    }

    /// A handle on the session's forwarding path alone, for whoever watches the path.
    pub fn path_gate(&self) -> PathGate {
        self.path.clone()
    }

    /// Makes the peer's routes `routes` (sent now if the session is up).
    pub fn set_routes(&self, routes: Routes) {
        // Fails only once the task has ended, when there is no one left to tell.
        let _ = self.routes.send(RoutesChange::Replace(routes));
    }

    /// Changes the peer's routes by `patch` (sent now if the session is up).
    pub fn patch_routes(&self, patch: RoutesPatch) {
        let _ = self.routes.send(RoutesChange::Patch(patch));
    }

    /// Withdraws everything by closing the session with a Cease /
    /// Administrative Shutdown carrying `message` (RFC 9003); waits at most
    /// `grace` for it to leave.
    pub async fn shutdown(self, message: &str, grace: Duration) {
        self.stop(Stop::Withdraw(message.to_owned()), grace).await;
    }

    /// Ends the session for a restart of this speaker (RFC 4724 §4.1): when
    /// both sides offered graceful restart and we offered to keep forwarding
    /// (`enableGracefulRestart`), the connection is closed without a
    /// NOTIFICATION, so that the peer keeps our routes, marked stale, until
    /// the next process sends them again and End-of-RIB (or its restart time
    /// ends); otherwise as [`PeerHandle::shutdown`] with `message`.
    pub async fn stop_for_restart(self, message: &str, grace: Duration) {
        self.stop(Stop::Restart(message.to_owned()), grace).await;
    }

    async fn stop(mut self, how: Stop, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(how);
        }
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

/// Tells one session whether its forwarding path works ([`PeerHandle::set_path_up`]);
/// cloned to the task that watches the path (a BFD session).
#[derive(Clone, Debug)]
pub struct PathGate(Arc<watch::Sender<bool>>);

impl PathGate {
    /// Says the path is up (`true`) or down; see [`PeerHandle::set_path_up`].
    pub fn set_up(&self, up: bool) {
        self.0.send_if_modified(|current| std::mem::replace(current, up) != up);
    }

    /// Whether the session was last told the path is up.
    pub fn is_up(&self) -> bool {
        *self.0.borrow()
    }
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sessions that accept connections, by peer address.
#[derive(Default)]
struct Registry {
    next_id: u64,
    peers: HashMap<IpAddr, (u64, mpsc::Sender<TcpStream>)>,
}

/// Shared between the listener's accept tasks and the registrations.
struct Shared {
    registry: Mutex<Registry>,
    listeners: Vec<Arc<TcpListener>>,
}

impl Shared {
    /// Sets (or, with an empty key, removes) the MD5 key for `peer` on the listeners of its family.
    fn set_key(&self, peer: IpAddr, key: &[u8]) {
        for listener in &self.listeners {
            let family_matches = listener.local_addr().is_ok_and(|a| a.is_ipv4() == peer.is_ipv4());
            if family_matches && let Err(e) = ferrolb_sys::md5::set_key(listener.as_fd(), peer, key) {
                warn!(peer = %peer, error = %e, "could not set the TCP MD5 key on the listening socket");
            }
        }
    }
}

/// A session's place in the [`Listener`]; removed (with its MD5 key) when dropped.
struct Registration {
    shared: Arc<Shared>,
    address: IpAddr,
    id: u64,
    md5: bool,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.shared.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if registry.peers.get(&self.address).is_some_and(|(id, _)| *id == self.id) {
            registry.peers.remove(&self.address);
            drop(registry);
            if self.md5 {
                self.shared.set_key(self.address, &[]);
            }
        }
    }
}

/// Accepts BGP connections on a port (IPv4 and IPv6, every address) and
/// hands each to the session of the peer it comes from; accept tasks stop
/// when it is dropped.
pub struct Listener {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Listener {
    /// Listens on `port` of every IPv4 and IPv6 address; a family that
    /// cannot be bound is logged and left out (sessions still connect out).
    pub fn bind(port: u16) -> Listener {
        let mut listeners = Vec::new();
        for v4 in [true, false] {
            match listen(v4, port) {
                Ok(listener) => {
                    info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "BGP listening");
                    listeners.push(Arc::new(listener));
                }
                Err(e) => warn!(
                    family = if v4 { "IPv4" } else { "IPv6" },
                    port,
                    error = %e,
                    "cannot listen for BGP connections; sessions only connect out"
                ),
            }
        }
        let shared = Arc::new(Shared { registry: Mutex::new(Registry::default()), listeners });
        let tasks =
            shared.listeners.iter().map(|l| tokio::spawn(accept_loop(l.clone(), shared.clone()))).collect();
        Listener { shared, tasks }
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Starts the session with `spec`, which also takes the connections its peer opens to us.
    pub fn spawn(&self, spec: PeerSpec, routes: Routes) -> PeerHandle {
        let (tx, rx) = mpsc::channel(4);
        let address = spec.address.ip().to_canonical();
        let mut registry = self.shared.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if registry.peers.contains_key(&address) {
            warn!(peer = %spec.name, address = %address, "another session has this peer address; connections from it go there");
            drop(registry);
            return PeerHandle::start(spec, routes, None);
        }
        registry.next_id += 1;
        let id = registry.next_id;
        registry.peers.insert(address, (id, tx));
        drop(registry);
        let md5 = spec.md5_key.as_deref().filter(|k| !k.is_empty());
        if let Some(key) = md5 {
            self.shared.set_key(address, key);
        }
        let registration = Registration { shared: self.shared.clone(), address, id, md5: md5.is_some() };
        PeerHandle::start(spec, routes, Some((registration, rx)))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn listen(v4: bool, port: u16) -> io::Result<TcpListener> {
    let socket = if v4 { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    if !v4 {
        socket2::SockRef::from(&socket).set_only_v6(true)?;
    }
    let any: IpAddr =
        if v4 { std::net::Ipv4Addr::UNSPECIFIED.into() } else { std::net::Ipv6Addr::UNSPECIFIED.into() };
    socket.bind(SocketAddr::new(any, port))?;
    socket.listen(64)
}

async fn accept_loop(listener: Arc<TcpListener>, shared: Arc<Shared>) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let address = remote.ip().to_canonical();
        let session = shared
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .peers
            .get(&address)
            .map(|(_, tx)| tx.clone());
        match session {
            Some(tx) => {
                if tx.try_send(stream).is_err() {
                    debug!(remote = %remote, "session busy or gone; connection closed");
                }
            }
            None => debug!(remote = %remote, "connection from an unknown address closed"),
        }
    }
}

/// An open connection to the peer.
struct Connection {
    stream: TcpStream,
    /// Received octets not yet framed into messages.
    buffer: Vec<u8>,
    local: SocketAddr,
    /// We opened it.
    outgoing: bool,
    /// Encoded messages not yet written, oldest first; the first may be partly written.
    queue: VecDeque<Vec<u8>>,
    /// Octets of the first queued message already written.
    written: usize,
    /// Octets queued and not yet written.
    queued: usize,
    /// Since when something waits and the peer took nothing (RFC 9687's SendHoldTimer).
    stalled_since: Option<Instant>,
}

impl Connection {
    fn new(stream: TcpStream, outgoing: bool) -> Connection {
        let local = stream.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Connection {
            stream,
            buffer: Vec::new(),
            local,
            outgoing,
            queue: VecDeque::new(),
            written: 0,
            queued: 0,
            stalled_since: None,
        }
    }

    /// Queues one encoded message.
    fn push(&mut self, bytes: Vec<u8>) {
        if self.queue.is_empty() {
            self.stalled_since = Some(Instant::now());
        }
        self.queued += bytes.len();
        self.queue.push_back(bytes);
    }

    /// Drops the queued messages not yet begun: a NOTIFICATION comes next, and last.
    fn drop_unbegun(&mut self) {
        let keep = usize::from(self.written > 0);
        for message in self.queue.drain(keep..) {
            self.queued -= message.len();
        }
        if self.queue.is_empty() {
            self.stalled_since = None;
        }
    }

    /// Writes what the socket takes now, without waiting.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(first) = self.queue.front() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(&first[self.written..]))
                .chain(self.queue.iter().skip(1).take(63).map(|m| IoSlice::new(m)))
                .collect();
            let mut n = match self.stream.try_write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            self.queued -= n;
            self.stalled_since = Some(Instant::now());
            while let Some(first) = self.queue.front() {
                let left = first.len() - self.written;
                if n < left {
                    self.written += n;
                    break;
                }
                n -= left;
                self.queue.pop_front();
                self.written = 0;
            }
        }
        if self.queue.is_empty() {
            self.stalled_since = None;
        }
        Ok(())
    }

    /// Reads what has arrived, without waiting: `Ok(0)` once the peer has closed.
    fn read(&mut self) -> io::Result<usize> {
        self.buffer.reserve(READ_CHUNK);
        self.stream.try_read_buf(&mut self.buffer)
    }

    /// Ends the connection: what is queued goes out if the peer takes it within
    /// [`LINGER`], then the write side is shut; otherwise it is reset. `None` when
    /// done at once, else the task finishing it.
    fn close(mut self) -> Option<JoinHandle<()>> {
        if self.flush().is_ok() && self.queue.is_empty() {
            let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Write);
            return None;
        }
        Some(tokio::spawn(async move {
            let delivered = tokio::time::timeout(LINGER, async {
                while !self.queue.is_empty() {
                    self.stream.writable().await?;
                    self.flush()?;
                }
                self.stream.shutdown().await
            })
            .await;
            if !matches!(delivered, Ok(Ok(()))) {
                // Not taken: reset, so that neither side keeps the octets.
                let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
            }
        }))
    }
}

/// What the task owns.
struct PeerTask {
    spec: PeerSpec,
    /// The session and a collision candidate, and which connection survives.
    peer: Peer,
    routes: mpsc::UnboundedReceiver<RoutesChange>,
    /// The routes the peer should have; `None`: exactly what `rib` has sent,
    /// which only happens while Established, so that then the rib holds the
    /// only reference and patches change the set in place.
    desired: Option<Routes>,
    /// The connection of each [`Slot`].
    main: Option<Connection>,
    candidate: Option<Connection>,
    connecting: Option<JoinHandle<io::Result<TcpStream>>>,
    established: Option<Negotiated>,
    /// The next hop of each family while Established.
    next_hops: NextHops,
    /// End-of-RIB is owed after the first routes (RFC 4724 §4: both sides offered graceful restart).
    end_of_rib_due: bool,
    rib: AdjRibOut<IpNet, RouteAttributes>,
    incoming: Option<mpsc::Receiver<TcpStream>>,
    /// Whether the forwarding path is up; `None` once the handle is gone.
    path: Option<watch::Receiver<bool>>,
    status: watch::Sender<PeerStatus>,
    /// Families whose ROUTE-REFRESH waits for the queue to go down.
    refresh_due: Vec<AfiSafi>,
    /// Closed connections still delivering their last octets ([`LINGER`]).
    lingering: Vec<JoinHandle<()>>,
    /// Malformed UPDATEs logged in this session (RFC 7606 §6).
    malformed_logged: u32,
}

impl PeerTask {
    fn new(
        spec: PeerSpec,
        desired: Routes,
        routes: mpsc::UnboundedReceiver<RoutesChange>,
        incoming: Option<mpsc::Receiver<TcpStream>>,
        path: watch::Receiver<bool>,
        status: watch::Sender<PeerStatus>,
    ) -> Self {
        let peer = Peer::new(spec.session.clone());
        PeerTask {
            spec,
            peer,
            routes,
            desired: Some(desired),
            main: None,
            candidate: None,
            connecting: None,
            established: None,
            next_hops: NextHops::default(),
            end_of_rib_due: false,
            rib: AdjRibOut::default(),
            incoming,
            path: Some(path),
            status,
            refresh_due: Vec::new(),
            lingering: Vec::new(),
            malformed_logged: 0,
        }
    }

    async fn run(mut self, mut stop: oneshot::Receiver<Stop>) {
        self.input(PeerInput::Start).await;
        loop {
            if self.routes_wait() && !self.congested(QUEUE_HIGH / 2) {
                self.send_waiting_routes().await;
            }
            let next_timer = self.peer.poll_timeout().map(Instant::from_std);
            let send_hold = self.send_hold_deadline();
            tokio::select! {
                how = &mut stop => {
                    let message = match how {
                        Ok(Stop::Restart(_)) if self.peer_keeps_routes() => {
                            info!(peer = %self.spec.name, "restarting: closing the session without a NOTIFICATION; the peer keeps our routes until we are back (graceful restart)");
                            None
                        }
                        Ok(Stop::Restart(message) | Stop::Withdraw(message)) => Some(message),
                        Err(_) => Some(String::new()),
                    };
                    if let Some(message) = message {
                        self.input(PeerInput::Stop(Some(message))).await;
                    }
                    for slot in [Slot::Main, Slot::Candidate] {
                        self.close(slot);
                    }
                    // What was sent last (the NOTIFICATION) leaves before the task ends.
                    for task in std::mem::take(&mut self.lingering) {
                        let _ = task.await;
                    }
                    return;
                }
                () = sleep_until(next_timer) => {
                    let outputs = self.peer.handle_timeout(now());
                    self.perform_all(outputs, None).await;
                }
                () = sleep_until(send_hold) => self.send_hold_expired().await,
                connected = join(&mut self.connecting) => {
                    self.connecting = None;
                    match connected {
                        Ok(stream) => self.arrived(PeerInput::Connected, stream, true).await,
                        Err(e) => {
                            debug!(peer = %self.spec.name, error = %e, "TCP connection failed");
                            self.status.send_modify(|s| s.last_error = Some(format!("TCP connection failed: {e}")));
                            self.input(PeerInput::ConnectFailed).await;
                        }
                    }
                }
                accepted = recv(&mut self.incoming) => match accepted {
                    Some(stream) => {
                        if let Some(ttl) = self.spec.ttl {
                            let raw = socket2::SockRef::from(&stream);
                            let _ = if self.spec.address.is_ipv4() { raw.set_ttl_v4(ttl) } else { raw.set_unicast_hops_v6(ttl) };
                        }
                        self.arrived(PeerInput::Accepted, stream, false).await;
                    }
                    None => self.incoming = None,
                },
                ready = io_ready(&self.main) => self.io(Slot::Main, ready).await,
                ready = io_ready(&self.candidate) => self.io(Slot::Candidate, ready).await,
                up = path_changed(&mut self.path) => match up {
                    Some(up) => self.path_changed(up).await,
                    None => self.path = None,
                },
                change = self.routes.recv() => {
                    let Some(change) = change else {
                        return; // the handle is gone
                    };
                    let changes = self.fold_route_changes(change);
                    self.send_route_changes(changes).await;
                    self.count_prefixes();
                }
            }
        }
    }

    /// Whether the peer, as a graceful restart helper, keeps our routes when
    /// the session closes without a NOTIFICATION (RFC 4724 §4.2): Established,
    /// with its capability received, and ours listing a family with its
    /// forwarding state preserved.
    fn peer_keeps_routes(&self) -> bool {
        let Some(negotiated) = &self.established else { return false };
        let preserved = self.spec.session.capabilities.iter().any(|c| match c {
            Capability::GracefulRestart(gr) => gr.families.iter().any(|f| f.forwarding_preserved),
            _ => false,
        });
        self.peer.session().state() == State::Established
            && preserved
            && negotiated.graceful_restart.is_some()
    }

    /// The forwarding path went down or came back.
    async fn path_changed(&mut self, up: bool) {
        if up {
            info!(peer = %self.spec.name, "forwarding path up: starting the session");
            self.input(PeerInput::PathUp).await;
        } else {
            info!(peer = %self.spec.name, state = ?self.peer.session().state(), "forwarding path down: closing the session");
            self.input(PeerInput::PathDown).await;
        }
    }

    /// A connection came up, ours or the peer's: the FSM says where it goes.
    async fn arrived(&mut self, input: PeerInput, stream: TcpStream, outgoing: bool) {
        let outputs = self.peer.handle(now(), input);
        let mut stream = Some(Connection::new(stream, outgoing));
        self.perform_all(outputs, Some(&mut stream)).await;
        if let Some(mut refused) = stream {
            let _ = refused.stream.shutdown().await;
        }
    }

    /// The connection of `slot` can be written to, or read from (or has ended).
    async fn io(&mut self, slot: Slot, ready: io::Result<Ready>) {
        let Some(connection) = self.connection(slot).as_mut() else { return };
        let ready = match ready {
            Ok(ready) => ready,
            Err(e) => return self.lost(slot, &e).await,
        };
        if ready.is_writable()
            && let Err(e) = connection.flush()
        {
            return self.lost(slot, &e).await;
        }
        if ready.is_readable() {
            let Some(connection) = self.connection(slot).as_mut() else { return };
            match connection.read() {
                Ok(0) => self.lost(slot, &io::Error::from(io::ErrorKind::UnexpectedEof)).await,
                Ok(_) => self.receive(slot).await,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => self.lost(slot, &e).await,
            }
        }
    }

    /// The connection of `slot` ended (closed by the peer, or failed).
    async fn lost(&mut self, slot: Slot, error: &io::Error) {
        match slot {
            Slot::Main => info!(peer = %self.spec.name, reason = %error, "TCP connection closed"),
            Slot::Candidate => {
                debug!(peer = %self.spec.name, reason = %error, "accepted connection closed before its OPEN")
            }
        }
        *self.connection(slot) = None;
        self.input(PeerInput::Closed(slot)).await;
    }

    /// Ends the connection of `slot`, letting its last octets go out ([`Connection::close`]).
    fn close(&mut self, slot: Slot) {
        if let Some(connection) = self.connection(slot).take()
            && let Some(task) = connection.close()
        {
            self.lingering.retain(|t| !t.is_finished());
            self.lingering.push(task);
        }
    }

    /// When the first connection that has taken nothing for its send hold time is due.
    fn send_hold_deadline(&self) -> Option<Instant> {
        [(Slot::Main, &self.main), (Slot::Candidate, &self.candidate)]
            .into_iter()
            .filter_map(|(slot, c)| {
                let since = c.as_ref()?.stalled_since?;
                Some(since + self.peer.slot_session(slot)?.send_hold_time())
            })
            .min()
    }

    /// RFC 9687: the connections whose peer took nothing for the send hold time end.
    async fn send_hold_expired(&mut self) {
        let now_tokio = Instant::now();
        for slot in [Slot::Main, Slot::Candidate] {
            let stalled = self.connection(slot).as_ref().and_then(|c| c.stalled_since);
            let hold = self.peer.slot_session(slot).map(|s| s.send_hold_time());
            if let (Some(since), Some(hold)) = (stalled, hold)
                && since + hold <= now_tokio
            {
                let queued = self.connection(slot).as_ref().map_or(0, |c| c.queued);
                warn!(peer = %self.spec.name, ?slot, queued, send_hold = ?hold, "the peer took nothing we sent for the send hold time (RFC 9687)");
                self.input(PeerInput::SendHoldTimerExpired(slot)).await;
            }
        }
    }

    /// Whether more than `limit` octets wait on the main connection.
    fn congested(&self, limit: usize) -> bool {
        self.main.as_ref().is_some_and(|c| c.queued > limit)
    }

    /// Whether route changes or ROUTE-REFRESH answers wait for the queue to go down.
    fn routes_wait(&self) -> bool {
        self.established.is_some() && (self.desired.is_some() || !self.refresh_due.is_empty())
    }

    /// Sends the route changes and ROUTE-REFRESH answers that waited for the queue to go down.
    async fn send_waiting_routes(&mut self) {
        if self.desired.is_some() {
            self.send_route_changes(Vec::new()).await;
            self.count_prefixes();
        }
        for family in std::mem::take(&mut self.refresh_due) {
            self.route_refresh(RouteRefresh::new(family)).await;
        }
    }

    /// Answers a ROUTE-REFRESH (RFC 2918 §4), once the queue has room for it.
    async fn route_refresh(&mut self, refresh: RouteRefresh) {
        let families = self.established.as_ref().map(|n| n.families.clone()).unwrap_or_default();
        if self.congested(QUEUE_HIGH) || self.desired.is_some() {
            if refresh.subtype == 0
                && families.contains(&refresh.family)
                && !self.refresh_due.contains(&refresh.family)
            {
                debug!(peer = %self.spec.name, ?refresh, "ROUTE-REFRESH waits for the peer to take what is queued");
                self.refresh_due.push(refresh.family);
            }
            return;
        }
        let enhanced = self.established.as_ref().is_some_and(|n| n.enhanced_route_refresh);
        match refreshed(&self.rib, &refresh, &families) {
            // RFC 7313 §4: with enhanced route refresh the routes go between BoRR and
            // EoRR, so that the peer can drop what it had and we did not send again.
            Some(changes) if enhanced => {
                self.send(&Message::RouteRefresh(RouteRefresh::begin(refresh.family))).await;
                self.send_changes(&changes).await;
                self.send(&Message::RouteRefresh(RouteRefresh::end(refresh.family))).await;
            }
            Some(changes) => self.send_changes(&changes).await,
            None => {
                debug!(peer = %self.spec.name, ?refresh, "ROUTE-REFRESH ignored: a family not negotiated, or not a request")
            }
        }
    }

    fn connection(&mut self, slot: Slot) -> &mut Option<Connection> {
        match slot {
            Slot::Main => &mut self.main,
            Slot::Candidate => &mut self.candidate,
        }
    }

    /// The session went down and the peer forgot our routes; what it had
    /// been sent stays the desired set, to be sent in full when it is back.
    fn forget_sent(&mut self) {
        if self.desired.is_none() {
            self.desired = Some(Arc::clone(self.rib.sent_shared()));
        }
        self.rib.clear();
        self.count_prefixes();
    }

    /// Tells the status how many prefixes the peer has and should have.
    fn count_prefixes(&self) {
        let advertised = if self.established.is_some() { self.rib.sent_shared().len() } else { 0 };
        let desired = self.desired.as_ref().map_or(advertised, |d| d.len());
        self.status.send_if_modified(|s| {
            let before = (s.advertised_prefixes, s.desired_prefixes);
            (s.advertised_prefixes, s.desired_prefixes) = (advertised, desired);
            before != (advertised, desired)
        });
    }

    /// Feeds the FSM and performs everything it asks, in order.
    async fn input(&mut self, input: PeerInput) {
        let outputs = self.peer.handle(now(), input);
        self.perform_all(outputs, None).await;
    }

    /// Performs `outputs`; `arrived` is a connection just made, for the FSM to adopt or refuse.
    async fn perform_all(&mut self, outputs: Vec<PeerOutput>, mut arrived: Option<&mut Option<Connection>>) {
        for output in outputs {
            if let PeerOutput::Adopt(slot) = output {
                let Some(connection) = arrived.as_mut().and_then(|a| a.take()) else { continue };
                let remote = connection.stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                match (slot, connection.outgoing) {
                    (Slot::Main, true) => {
                        info!(peer = %self.spec.name, address = %self.spec.address, "TCP connected")
                    }
                    (Slot::Main, false) => info!(peer = %self.spec.name, remote, "TCP connection accepted"),
                    (Slot::Candidate, _) => {
                        info!(peer = %self.spec.name, remote, state = ?self.peer.session().state(), "TCP connection accepted while one is open: collision candidate")
                    }
                }
                *self.connection(slot) = Some(connection);
                continue;
            }
            if output == PeerOutput::Refuse {
                debug!(peer = %self.spec.name, state = ?self.peer.session().state(), "connection closed: not wanted now");
                continue; // `arrived` keeps it; the caller closes it
            }
            self.perform(output).await;
        }
    }

    async fn perform(&mut self, output: PeerOutput) {
        match output {
            PeerOutput::Connect => {
                let spec = self.spec.clone();
                self.connecting = Some(tokio::spawn(async move { connect(&spec).await }));
            }
            PeerOutput::AbortConnect => {
                if let Some(attempt) = self.connecting.take() {
                    attempt.abort();
                }
            }
            PeerOutput::Adopt(_) | PeerOutput::Refuse => {} // in perform_all
            PeerOutput::Send(slot, message) => self.send_on(slot, &message).await,
            PeerOutput::Close(slot) => {
                self.close(slot);
                if slot == Slot::Main {
                    self.established = None;
                    self.forget_sent();
                }
            }
            PeerOutput::Promote => {
                self.main = self.candidate.take();
                self.established = None;
                self.forget_sent();
            }
            PeerOutput::StateChanged { from, to } => {
                info!(peer = %self.spec.name, from = ?from, to = ?to, "session state");
                self.status.send_modify(|s| s.enter(to, SystemTime::now()));
                if let Some(at) = self.peer.session().timer(Timer::IdleHold) {
                    let wait = at.saturating_duration_since(now());
                    debug!(peer = %self.spec.name, wait = ?wait, "waiting before starting again");
                }
            }
            PeerOutput::Collision { main_state, kept, remote_id } => {
                let kept = if kept == Keep::Outgoing { "existing" } else { "accepted" };
                info!(peer = %self.spec.name, main_state = ?main_state, kept, local_id = %self.spec.session.router_id.addr(), remote_id = %remote_id.addr(), "connection collision resolved");
            }
            PeerOutput::Established(negotiated) => {
                info!(peer = %self.spec.name, peer_as = ?negotiated.peer_as, "session established");
                if let Some(connection) = &self.main {
                    let local = connection.local.ip();
                    self.next_hops = NextHops::choose(
                        local,
                        &interface_addresses(local),
                        &negotiated.families,
                        negotiated.extended_next_hop_v4,
                    );
                    for family in &negotiated.families {
                        let carried = match *family {
                            AfiSafi::IPV4_UNICAST => self.next_hops.v4.is_some(),
                            _ => self.next_hops.v6.is_some(),
                        };
                        if !carried {
                            warn!(peer = %self.spec.name, %family, local = %local,
                                "no next hop of this family on the session's interface; its routes are not sent");
                        }
                    }
                }
                let we_offered_gr = self
                    .spec
                    .session
                    .capabilities
                    .iter()
                    .any(|c| matches!(c, Capability::GracefulRestart(_)));
                self.end_of_rib_due = we_offered_gr && negotiated.graceful_restart.is_some();
                self.established = Some(negotiated);
                self.malformed_logged = 0;
                self.send_route_changes(Vec::new()).await;
                self.count_prefixes();
            }
            PeerOutput::Update(_) => {} // ferrolb announces; it does not learn routes
            PeerOutput::RouteRefresh(refresh) => self.route_refresh(refresh).await,
        }
    }

    /// Decodes every whole message in the buffer of `slot` and feeds it to the FSM.
    async fn receive(&mut self, slot: Slot) {
        loop {
            let context = self.decode_context(slot);
            let Some(connection) = self.connection(slot).as_mut() else { return };
            let Some(len) = message_len(&connection.buffer) else { return };
            let bytes: Vec<u8> = if (HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
                if connection.buffer.len() < len {
                    return;
                }
                connection.buffer.drain(..len).collect()
            } else {
                // A bad length: let the decoder name the error.
                std::mem::take(&mut connection.buffer)
            };
            match Message::decode(&bytes, &context) {
                Ok(message) => {
                    if let Message::Update(update) = &message
                        && !update.malformed.is_empty()
                        && slot == Slot::Main
                        && self.established.is_some()
                    {
                        self.log_malformed(update, &bytes);
                    }
                    if let Message::Notification(n) = &message {
                        // The peer's reason for closing: the first thing to look at.
                        info!(peer = %self.spec.name, reason = n.name().unwrap_or("unknown"), notification = ?n, "NOTIFICATION received");
                    }
                    self.status.send_modify(|s| {
                        s.received.count(&message);
                        if let Message::Notification(n) = &message {
                            s.notification(n, false);
                        }
                    });
                    self.input(PeerInput::Received(slot, message)).await;
                }
                Err(e) => {
                    warn!(peer = %self.spec.name, error = %e, "malformed message");
                    self.input(PeerInput::Malformed(slot, e)).await;
                }
            }
        }
    }

    /// RFC 7606 §6: an UPDATE handled without a reset, logged with its prefixes and its bytes.
    fn log_malformed(&mut self, update: &Update, bytes: &[u8]) {
        self.malformed_logged = self.malformed_logged.saturating_add(1);
        let warn = self.malformed_logged <= MALFORMED_WARNINGS;
        let mut prefixes: Vec<String> = update.nlri.iter().map(ToString::to_string).collect();
        match &update.attributes.mp_reach {
            Some(MpReach::Ipv4Unicast { nlri, .. }) => prefixes.extend(nlri.iter().map(ToString::to_string)),
            Some(MpReach::Ipv6Unicast { nlri, .. }) => prefixes.extend(nlri.iter().map(ToString::to_string)),
            None => {}
        }
        let prefixes = prefixes.join(",");
        let update_hex = hex(bytes);
        for m in &update.malformed {
            let n = Notification::from(&m.error);
            let rfc4271 = format!("{}/{}", n.code, n.subcode);
            let data = hex(&n.data);
            if warn {
                warn!(peer = %self.spec.name, action = %m.action, rfc4271 = %rfc4271, data = %data, error = %m.error, prefixes = %prefixes, update = %update_hex, "malformed attribute handled as RFC 7606 says, without a NOTIFICATION");
            } else {
                debug!(peer = %self.spec.name, action = %m.action, rfc4271 = %rfc4271, data = %data, error = %m.error, prefixes = %prefixes, update = %update_hex, "malformed attribute handled as RFC 7606 says, without a NOTIFICATION");
            }
        }
        if self.malformed_logged == MALFORMED_WARNINGS {
            warn!(peer = %self.spec.name, "further malformed UPDATEs of this session are logged at debug level");
        }
    }

    /// How to read the connection of `slot`: as negotiated once the main
    /// session is Established, else as an OPEN is read.
    fn decode_context(&self, slot: Slot) -> DecodeContext {
        match (slot, &self.established) {
            (Slot::Main, Some(negotiated)) => negotiated.decode_context(),
            _ => DecodeContext::default(),
        }
    }

    fn encode_context(&self, slot: Slot) -> EncodeContext {
        match (slot, &self.established) {
            (Slot::Main, Some(negotiated)) => negotiated.encode_context(),
            _ => EncodeContext::default(),
        }
    }

    /// Sends `message` on the main connection.
    async fn send(&mut self, message: &Message) {
        self.send_on(Slot::Main, message).await;
    }

    async fn send_on(&mut self, slot: Slot, message: &Message) {
        let bytes = message.to_bytes(&self.encode_context(slot));
        if let Message::Notification(n) = message {
            log_notification(&self.spec.name, n);
        }
        let Some(connection) = self.connection(slot).as_mut() else { return };
        // The type of the last message queued, if any: UPDATE is 2, KEEPALIVE 4 (RFC 4271 §4.1).
        let last = connection.queue.back().map(|m| m[18]);
        match message {
            // An UPDATE or KEEPALIVE waiting restarts the peer's hold timer when it arrives, as
            // this one would (RFC 4271 §4.4); one behind an OPEN confirms it, and goes.
            Message::Keepalive if last.is_some_and(|kind| matches!(kind, 2 | 4)) => {
                return;
            }
            // The last message: what was not begun would only delay it.
            Message::Notification(_) => connection.drop_unbegun(),
            _ => {}
        }
        connection.push(bytes);
        let flushed = connection.flush();
        self.status.send_modify(|s| {
            s.sent.count(message);
            if let Message::Notification(n) = message {
                s.notification(n, true);
            }
        });
        if let Err(e) = flushed {
            warn!(peer = %self.spec.name, error = %e, "write failed");
            *self.connection(slot) = None;
            Box::pin(self.input(PeerInput::Closed(slot))).await;
        }
    }

    /// Folds `first` and every change queued behind it into the desired
    /// routes, in order; answers what patches applied straight to the rib
    /// (in sync, while Established) left to send.
    fn fold_route_changes(&mut self, first: RoutesChange) -> Vec<Changes<IpNet, RouteAttributes>> {
        let mut changes = Vec::new();
        if self.desired.is_none() && self.congested(QUEUE_HIGH) {
            // The peer has not taken what is queued: changes wait, as a desired set.
            self.desired = Some(Arc::clone(self.rib.sent_shared()));
        }
        let mut next = Some(first);
        while let Some(change) = next {
            match change {
                RoutesChange::Replace(routes) => self.desired = Some(routes),
                RoutesChange::Patch(patch) => match self.desired.as_mut() {
                    // Copied only if the caller still holds the set it handed over.
                    Some(desired) => patch.apply_to(Arc::make_mut(desired)),
                    None => changes.push(self.rib.apply(patch)),
                },
            }
            next = self.routes.try_recv().ok();
        }
        changes
    }

    /// Sends `changes`, then what it takes to bring the peer to the desired
    /// routes, when the session is up.
    async fn send_route_changes(&mut self, mut changes: Vec<Changes<IpNet, RouteAttributes>>) {
        if self.established.is_none() {
            return;
        }
        // The desired set waits while the peer has not taken what is queued (End-of-RIB with it).
        let waits = self.congested(QUEUE_HIGH);
        if !waits && let Some(desired) = self.desired.take() {
            changes.push(self.rib.converge(&desired));
        }
        for changes in &changes {
            self.send_changes(changes).await;
        }
        if waits {
            return;
        }
        if std::mem::take(&mut self.end_of_rib_due) {
            // RFC 4724 §4: the initial routes are all out; a restarting peer
            // may now drop what it kept from before.
            let families = self.established.as_ref().map(|n| n.families.clone()).unwrap_or_default();
            for family in families {
                self.send(&Message::Update(Update::end_of_rib(family))).await;
            }
        }
    }

    async fn send_changes(&mut self, changes: &Changes<IpNet, RouteAttributes>) {
        let (Some(negotiated), true) = (&self.established, self.main.is_some()) else { return };
        let routes = SessionRoutes {
            local_as: self.spec.session.local_as,
            ibgp: negotiated.peer_as == self.spec.session.local_as,
            next_hop_v4: self.next_hops.v4,
            next_hop_v6: self.next_hops.v6,
        };
        let updates = routes.updates(changes);
        if !updates.is_empty() {
            debug!(peer = %self.spec.name, updates = updates.len(), withdrawn = changes.withdrawn.len(), "sending routes");
        }
        for update in &updates {
            self.send(update).await;
        }
    }
}

/// Every address of the interface that holds `local` (none if it cannot be read).
fn interface_addresses(local: IpAddr) -> Vec<IpAddr> {
    let Ok(all) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    let all: Vec<(String, IpAddr)> = all
        .filter_map(|ifaddr| {
            let address = ifaddr.address?;
            let ip = match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
                (Some(v4), _) => IpAddr::V4(v4.ip()),
                (_, Some(v6)) => IpAddr::V6(v6.ip()),
                _ => return None,
            };
            Some((ifaddr.interface_name, ip))
        })
        .collect();
    let local = local.to_canonical();
    let Some((interface, _)) = all.iter().find(|(_, ip)| *ip == local) else { return Vec::new() };
    all.iter().filter(|(name, _)| name == interface).map(|(_, ip)| *ip).collect()
}

fn log_notification(peer: &str, notification: &Notification) {
    info!(peer, reason = notification.name().unwrap_or("unknown"), notification = ?notification, "NOTIFICATION sent");
}

/// Connects to the peer from its source address, with its MD5 key and TTL.
async fn connect(spec: &PeerSpec) -> io::Result<TcpStream> {
    let socket = if spec.address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(key) = &spec.md5_key {
        ferrolb_sys::md5::set_key(socket.as_fd(), spec.address.ip(), key)?;
    }
    if let Some(ttl) = spec.ttl {
        let raw = socket2::SockRef::from(&socket);
        if spec.address.is_ipv4() { raw.set_ttl_v4(ttl)? } else { raw.set_unicast_hops_v6(ttl)? }
    }
    if let Some(vrf) = &spec.vrf {
        socket2::SockRef::from(&socket).bind_device(Some(vrf.as_bytes())).map_err(|e| {
            io::Error::new(e.kind(), format!("vrf {vrf:?}: {e} (expected a VRF device on this host)"))
        })?;
    }
    if let Some(source) = spec.source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let timeout = spec.session.connect_retry.min(Duration::from_secs(30));
    tokio::time::timeout(timeout, socket.connect(spec.address))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn join(task: &mut Option<JoinHandle<io::Result<TcpStream>>>) -> io::Result<TcpStream> {
    match task {
        Some(handle) => handle.await.unwrap_or_else(|e| Err(io::Error::other(e))),
        None => std::future::pending().await,
    }
}

/// Waits until the connection can be read from, or written to while something is queued.
async fn io_ready(connection: &Option<Connection>) -> io::Result<Ready> {
    match connection {
        Some(c) if c.queue.is_empty() => c.stream.ready(Interest::READABLE).await,
        Some(c) => c.stream.ready(Interest::READABLE | Interest::WRITABLE).await,
        None => std::future::pending().await,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The path's new state; `None` once the handle is gone.
async fn path_changed(path: &mut Option<watch::Receiver<bool>>) -> Option<bool> {
    match path {
        Some(rx) => rx.changed().await.ok().map(|()| *rx.borrow_and_update()),
        None => std::future::pending().await,
    }
}

async fn recv(incoming: &mut Option<mpsc::Receiver<TcpStream>>) -> Option<TcpStream> {
    match incoming {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What a ROUTE-REFRESH asks to be sent again (RFC 2918 §4): the routes of
/// its family alone. `None` (ignored) for a family the session did not
/// negotiate, and for a message that is not a request: a BoRR or EoRR from the
/// peer changes nothing, since ferrolb stores no route it receives (there is no
/// Adj-RIB-In to mark stale or purge, RFC 7313 §4), and subtypes 3 to 255 are
/// ignored (RFC 7313 §5).
fn refreshed(
    rib: &AdjRibOut<IpNet, RouteAttributes>,
    refresh: &RouteRefresh,
    negotiated: &[AfiSafi],
) -> Option<Changes<IpNet, RouteAttributes>> {
    if refresh.subtype != refresh_subtype::REQUEST || !negotiated.contains(&refresh.family) {
        return None;
    }
    // IPv4 routes keep AFI 1 when they ride an IPv6 session (RFC 8950).
    let v6 = refresh.family == AfiSafi::IPV6_UNICAST;
    Some(rib.everything_where(|prefix| matches!(prefix, IpNet::V6(_)) == v6))
}

/// The time for the FSM, from tokio's clock.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsm::PeerAs;
    use crate::types::{Asn, HoldTime, RouterId};
    use ferrolb_types::LargeCommunity;
    use tokio::io::AsyncReadExt;

    #[test]
    fn a_route_refresh_sends_the_routes_of_its_family_alone() {
        let mut rib = AdjRibOut::default();
        let routes: Routes = Arc::new(
            ["192.0.2.10/32", "198.51.100.0/24", "2001:db8::10/128"]
                .iter()
                .map(|p| (p.parse().unwrap(), RouteAttributes::default()))
                .collect(),
        );
        rib.converge(&routes);
        let both = [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
        let prefixes = |family, negotiated: &[AfiSafi], subtype| {
            refreshed(&rib, &RouteRefresh { family, subtype }, negotiated).map(|c| {
                c.announced.into_iter().flat_map(|(_, p)| p).map(|p| p.to_string()).collect::<Vec<_>>()
            })
        };
        assert_eq!(prefixes(AfiSafi::IPV4_UNICAST, &both, 0).unwrap(), ["192.0.2.10/32", "198.51.100.0/24"]);
        assert_eq!(prefixes(AfiSafi::IPV6_UNICAST, &both, 0).unwrap(), ["2001:db8::10/128"]);
        // A family the session does not carry, or a BoRR/EoRR marker: nothing.
        assert_eq!(prefixes(AfiSafi::IPV6_UNICAST, &[AfiSafi::IPV4_UNICAST], 0), None);
        assert_eq!(prefixes(AfiSafi::IPV4_UNICAST, &both, 1), None);
    }

    /// A session from 127.0.0.1 (AS 64512, hold 9 s) to `address` (AS 64513).
    fn spec(address: SocketAddr) -> PeerSpec {
        let router_id = RouterId::new(std::net::Ipv4Addr::new(192, 0, 2, 11)).unwrap();
        let mut session =
            SessionConfig::new(Asn::new(64512).unwrap(), router_id, PeerAs::Fixed(Asn::new(64513).unwrap()));
        session.hold_time = HoldTime::new(9).unwrap();
        PeerSpec {
            name: "stalled".into(),
            address,
            source: None,
            md5_key: None,
            ttl: None,
            vrf: None,
            session,
        }
    }

    /// `n` IPv6 /128s in 2001:db8::/32, each with its own 250 large communities: one UPDATE
    /// of about 3.2 kB each, so that a few thousand fill any socket buffer.
    fn bulky_routes(n: u32, from: u32) -> BTreeMap<IpNet, RouteAttributes> {
        (from..from + n)
            .map(|i| {
                let prefix = IpNet::V6(
                    ipnet::Ipv6Net::new(
                        std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, i as u16),
                        128,
                    )
                    .unwrap(),
                );
                let large_communities = (0..250)
                    .map(|j| LargeCommunity { global_admin: 64512, local_data_1: i, local_data_2: j })
                    .collect();
                (prefix, RouteAttributes { large_communities, ..RouteAttributes::default() })
            })
            .collect()
    }

    async fn read_message(stream: &mut TcpStream) -> Vec<u8> {
        let mut message = vec![0; HEADER_LEN];
        stream.read_exact(&mut message).await.unwrap();
        let len = usize::from(u16::from_be_bytes([message[16], message[17]]));
        message.resize(len, 0);
        stream.read_exact(&mut message[HEADER_LEN..]).await.unwrap();
        message
    }

    /// The peer's end of the session: OPEN (AS 64513, hold 9 s, IPv4 + IPv6 unicast) and
    /// KEEPALIVE exchanged, and the first UPDATE read; its receive buffer is small. The
    /// listener stays open, so that ferrolb's next connection does not fail.
    async fn established_peer(routes: Routes) -> (PeerHandle, TcpStream, TcpListener) {
        established_peer_offering(routes, vec![]).await
    }

    /// The same, the peer's OPEN offering `capabilities` besides its families.
    async fn established_peer_offering(
        routes: Routes,
        capabilities: Vec<Capability>,
    ) -> (PeerHandle, TcpStream, TcpListener) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let handle = PeerHandle::spawn(spec(listener.local_addr().unwrap()), routes);
        let (mut stream, _) = listener.accept().await.unwrap();
        // On a paused clock, Nagle would hold a KEEPALIVE for an ACK due in real time.
        stream.set_nodelay(true).unwrap();
        assert_eq!(read_message(&mut stream).await[18], 1, "ferrolb's OPEN");
        let router_id = RouterId::new(std::net::Ipv4Addr::new(192, 0, 2, 1)).unwrap();
        let open = crate::message::Open::new(
            Asn::new(64513).unwrap(),
            HoldTime::new(9).unwrap(),
            router_id,
            [
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            ]
            .into_iter()
            .chain(capabilities)
            .collect(),
        );
        let ctx = EncodeContext::default();
        stream.write_all(&Message::Open(open).to_bytes(&ctx)).await.unwrap();
        stream.write_all(&Message::Keepalive.to_bytes(&ctx)).await.unwrap();
        while read_message(&mut stream).await[18] != 2 {}
        (handle, stream, listener)
    }

    /// Waits (on tokio's clock, which these tests pause) until `status` leaves Established.
    async fn session_end(status: &mut watch::Receiver<PeerStatus>) -> PeerStatus {
        tokio::time::timeout(Duration::from_secs(3600), status.wait_for(|s| s.state != State::Established))
            .await
            .expect("the session ended")
            .unwrap()
            .clone()
    }

    /// A peer that stops reading and says nothing more: its hold timer ends the session
    /// (ferrolb attempts Hold Timer Expired), though ferrolb's writes are stuck.
    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_that_stopped_reading_ends_by_its_hold_time() {
        let (handle, _stream, _listener) = established_peer(Arc::new(bulky_routes(3000, 0))).await;
        let mut status = handle.status();
        status.wait_for(|s| s.state == State::Established).await.unwrap();
        let since = Instant::now();
        let ended = session_end(&mut status).await;
        assert_eq!(ended.last_error.as_deref(), Some("NOTIFICATION sent: Hold Timer Expired"));
        let after = since.elapsed();
        assert!(after >= Duration::from_secs(8) && after <= Duration::from_secs(10), "{after:?}");
    }

    /// IPv4 routes for the route refresh tests (one UPDATE).
    fn ipv4_routes() -> Routes {
        Arc::new(
            ["192.0.2.10/32", "198.51.100.0/24"]
                .iter()
                .map(|p| (p.parse().unwrap(), RouteAttributes::default()))
                .collect(),
        )
    }

    /// Sends a ROUTE-REFRESH of `subtype` for `family`.
    async fn send_refresh(stream: &mut TcpStream, family: AfiSafi, subtype: u8) {
        let refresh = RouteRefresh { family, subtype };
        stream.write_all(&Message::RouteRefresh(refresh).to_bytes(&EncodeContext::default())).await.unwrap();
    }

    /// The messages ferrolb sends up to and including the first one `last` accepts,
    /// KEEPALIVEs left out.
    async fn read_until(stream: &mut TcpStream, last: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let message = read_message(stream).await;
            if message[18] == 4 {
                continue;
            }
            let done = last(&message);
            out.push(message);
            if done {
                return out;
            }
        }
    }

    /// RFC 7313 §4: with enhanced route refresh on both sides, a request is answered with
    /// BoRR, the routes of its family (one UPDATE of both prefixes), then EoRR; a family
    /// without routes (IPv6 here) with BoRR and EoRR alone. A BoRR or EoRR from the peer,
    /// or a subtype 3 to 255, is answered with nothing. On
    /// the real clock: a paused one jumps to the next timer whenever a socket wakes a task.
    #[tokio::test]
    async fn an_enhanced_route_refresh_is_framed_by_borr_and_eorr() {
        let offered = vec![Capability::RouteRefresh, Capability::EnhancedRouteRefresh];
        let (_handle, mut stream, _listener) = established_peer_offering(ipv4_routes(), offered).await;
        for subtype in [1, 2, 3, 255] {
            send_refresh(&mut stream, AfiSafi::IPV4_UNICAST, subtype).await;
        }
        send_refresh(&mut stream, AfiSafi::IPV4_UNICAST, 0).await;
        send_refresh(&mut stream, AfiSafi::IPV6_UNICAST, 0).await;
        let answer = read_until(&mut stream, |m| m[18] == 5 && m[20] == 2 && m[21] == 2).await;
        // Marker, length 23, ROUTE-REFRESH, AFI, subtype 1 (BoRR) or 2 (EoRR), SAFI 1.
        let marker = |afi: &str, subtype: &str| format!("{}001705{afi}{subtype}01", "ff".repeat(16));
        let kinds: Vec<u8> = answer.iter().map(|m| m[18]).collect();
        assert_eq!(kinds, [5, 2, 5, 5, 5], "nothing but the two answers: {answer:02x?}");
        assert_eq!(hex(&answer[0]), marker("0001", "01"));
        assert_eq!(hex(&answer[2]), marker("0001", "02"));
        assert_eq!(hex(&answer[3]), marker("0002", "01"));
        assert_eq!(hex(&answer[4]), marker("0002", "02"));
        let update =
            Message::decode(&answer[1], &DecodeContext { four_octet_as: true, ..DecodeContext::default() });
        let Ok(Message::Update(update)) = update else { panic!("{update:?}") };
        assert_eq!(update.nlri, ["192.0.2.10/32".parse().unwrap(), "198.51.100.0/24".parse().unwrap()]);
    }

    /// RFC 2918: with route refresh alone, the routes are the whole answer, no BoRR or EoRR.
    #[tokio::test]
    async fn a_plain_route_refresh_is_answered_with_the_routes_alone() {
        let (_handle, mut stream, _listener) =
            established_peer_offering(ipv4_routes(), vec![Capability::RouteRefresh]).await;
        // Twice: what follows the first answer is the second, no EoRR between them.
        for _ in 0..2 {
            send_refresh(&mut stream, AfiSafi::IPV4_UNICAST, 0).await;
            let answer = read_until(&mut stream, |m| m[18] == 2).await;
            assert_eq!(answer.len(), 1, "the UPDATE alone: {answer:02x?}");
        }
    }

    /// A peer that negotiates a hold time of 0 and never sends its KEEPALIVE: RFC 4271
    /// §8.2.2 would leave the session in OpenConfirm for ever; the large hold timer ends
    /// it after 4 minutes with Hold Timer Expired, which reaches the peer.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_confirms_a_hold_time_of_zero_is_closed_after_the_large_hold_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = PeerHandle::spawn(spec(listener.local_addr().unwrap()), Arc::new(BTreeMap::new()));
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        assert_eq!(read_message(&mut stream).await[18], 1, "ferrolb's OPEN");
        let router_id = RouterId::new(std::net::Ipv4Addr::new(192, 0, 2, 1)).unwrap();
        let open =
            crate::message::Open::new(Asn::new(64513).unwrap(), HoldTime::new(0).unwrap(), router_id, vec![]);
        stream.write_all(&Message::Open(open).to_bytes(&EncodeContext::default())).await.unwrap();
        assert_eq!(read_message(&mut stream).await[18], 4, "ferrolb's KEEPALIVE");
        let mut status = handle.status();
        status.wait_for(|s| s.state == State::OpenConfirm).await.unwrap();
        let since = Instant::now();
        let ended = tokio::time::timeout(
            Duration::from_secs(3600),
            status.wait_for(|s| s.state != State::OpenConfirm),
        )
        .await
        .expect("OpenConfirm ended")
        .unwrap()
        .clone();
        assert_eq!(ended.last_error.as_deref(), Some("NOTIFICATION sent: Hold Timer Expired"));
        let after = since.elapsed();
        assert!(
            after >= crate::fsm::OPEN_HOLD_TIME
                && after <= crate::fsm::OPEN_HOLD_TIME + Duration::from_secs(1),
            "{after:?}"
        );
        let notification = read_message(&mut stream).await;
        assert_eq!(notification[18..], [3, 4, 0], "Hold Timer Expired on the wire");
    }

    /// RFC 9687: a peer that keeps talking but takes nothing is closed after the send hold
    /// time (8 minutes, more than twice its hold time of 9 s), with Send Hold Timer Expired
    /// attempted; meanwhile ferrolb reads it (its KEEPALIVEs keep the hold timer away), and
    /// route changes wait as a set instead of as UPDATEs.
    #[tokio::test(start_paused = true)]
    async fn a_talking_peer_that_takes_nothing_ends_by_the_send_hold_time() {
        let (handle, mut stream, _listener) = established_peer(Arc::new(bulky_routes(3000, 0))).await;
        let mut status = handle.status();
        status.wait_for(|s| s.state == State::Established).await.unwrap();
        let since = Instant::now();
        let keepalives = tokio::spawn(async move {
            let keepalive = Message::Keepalive.to_bytes(&EncodeContext::default());
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if stream.write_all(&keepalive).await.is_err() {
                    return;
                }
            }
        });
        // Stuck, with more than QUEUE_HIGH queued: new routes wait as a set.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let sent = status.borrow().sent.updates;
        for i in 0..100 {
            handle.patch_routes(RoutesPatch {
                withdrawn: vec![],
                announced: bulky_routes(1, 10_000 + i).into_iter().collect(),
            });
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(status.borrow().sent.updates, sent, "no UPDATE queued behind what the peer did not take");
        assert_eq!(status.borrow().desired_prefixes, 3100);
        let ended = session_end(&mut status).await;
        assert_eq!(ended.last_error.as_deref(), Some("NOTIFICATION sent: Send Hold Timer Expired"));
        let after = since.elapsed();
        assert!(after >= Duration::from_secs(480) && after <= Duration::from_secs(490), "{after:?}");
        keepalives.abort();
    }
}
