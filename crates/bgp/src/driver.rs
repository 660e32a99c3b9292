//! The tokio driver of one BGP session: it performs what the pure
//! [`Session`] asks (connect, send, arm timers) and feeds it what happens
//! (bytes, timer expiries), and keeps the peer's routes converged to the
//! desired set through an [`AdjRibOut`].
//!
//! ```text
//!   PeerHandle::set_routes ──watch──┐
//!   PeerHandle::shutdown ──oneshot──┤
//!                                   ▼
//!                 ┌──────────── peer task ─────────────┐
//!   TCP socket ◄──┤ Session (FSM) · timers · AdjRibOut ├──► tracing
//!   (MD5, TTL) ──►└────────────────────────────────────┘
//! ```
//!
//! One task per peer; the handle aborts it when dropped.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::fsm::{Input, Negotiated, Output, Session, SessionConfig, Timer};
use crate::message::{
    DecodeContext, EncodeContext, HEADER_LEN, MAX_MESSAGE_LEN, Message, Notification, message_len,
};
use crate::rib_out::AdjRibOut;
use crate::routes::{RouteAttributes, SessionRoutes};

/// The routes a peer should have, by prefix.
pub type Routes = BTreeMap<IpNet, RouteAttributes>;

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
    /// The session's parameters.
    pub session: SessionConfig,
}

/// A running session; dropping it aborts the task without a NOTIFICATION.
pub struct PeerHandle {
    routes: watch::Sender<Routes>,
    stop: Option<oneshot::Sender<String>>,
    task: JoinHandle<()>,
}

impl PeerHandle {
    /// Starts the session with `spec` on the current tokio runtime.
    pub fn spawn(spec: PeerSpec, routes: Routes) -> PeerHandle {
        let (routes_tx, routes_rx) = watch::channel(routes);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(PeerTask::new(spec, routes_rx).run(stop_rx));
        PeerHandle { routes: routes_tx, stop: Some(stop_tx), task }
    }

    /// Makes the peer's routes `routes` (sent now if the session is up).
    pub fn set_routes(&self, routes: Routes) {
        self.routes.send_if_modified(|current| {
            let changed = *current != routes;
            *current = routes;
            changed
        });
    }

    /// Withdraws everything by closing the session with a Cease /
    /// Administrative Shutdown carrying `message` (RFC 9003); waits at most
    /// `grace` for it to leave.
    pub async fn shutdown(mut self, message: &str, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(message.to_owned());
        }
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An open connection to the peer.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    local: SocketAddr,
}

/// What the task owns.
struct PeerTask {
    spec: PeerSpec,
    session: Session,
    routes: watch::Receiver<Routes>,
    timers: HashMap<Timer, Instant>,
    connection: Option<Connection>,
    connecting: Option<JoinHandle<io::Result<TcpStream>>>,
    established: Option<Negotiated>,
    rib: AdjRibOut<IpNet, RouteAttributes>,
}

impl PeerTask {
    fn new(spec: PeerSpec, routes: watch::Receiver<Routes>) -> Self {
        let session = Session::new(spec.session.clone());
        PeerTask {
            spec,
            session,
            routes,
            timers: HashMap::new(),
            connection: None,
            connecting: None,
            established: None,
            rib: AdjRibOut::default(),
        }
    }

    async fn run(mut self, mut stop: oneshot::Receiver<String>) {
        self.input(Input::ManualStart).await;
        loop {
            let next_timer = self.timers.values().min().copied();
            tokio::select! {
                message = &mut stop => {
                    let message = message.unwrap_or_default();
                    self.input(Input::ManualStop(Some(message))).await;
                    if let Some(c) = self.connection.as_mut() {
                        let _ = c.stream.shutdown().await;
                    }
                    return;
                }
                () = sleep_until(next_timer) => self.fire_timers().await,
                connected = join(&mut self.connecting) => {
                    self.connecting = None;
                    match connected {
                        Ok(stream) => {
                            let local = stream.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                            info!(peer = %self.spec.name, address = %self.spec.address, "TCP connected");
                            self.connection = Some(Connection { stream, buffer: Vec::new(), local });
                            self.input(Input::TcpConnected).await;
                        }
                        Err(e) => {
                            debug!(peer = %self.spec.name, error = %e, "TCP connection failed");
                            self.input(Input::TcpFailed).await;
                        }
                    }
                }
                read = read_some(&mut self.connection) => match read {
                    Ok(0) | Err(_) => {
                        info!(peer = %self.spec.name, "TCP connection closed");
                        self.connection = None;
                        self.input(Input::TcpClosed).await;
                    }
                    Ok(_) => self.receive().await,
                },
                changed = self.routes.changed() => {
                    if changed.is_err() {
                        return; // the handle is gone
                    }
                    self.send_route_changes().await;
                }
            }
        }
    }

    /// Feeds the FSM and performs everything it asks, in order.
    async fn input(&mut self, input: Input) {
        let outputs = self.session.handle(std::time::Instant::now(), input);
        for output in outputs {
            self.perform(output).await;
        }
    }

    async fn perform(&mut self, output: Output) {
        match output {
            Output::Connect => {
                let spec = self.spec.clone();
                self.connecting = Some(tokio::spawn(async move { connect(&spec).await }));
            }
            Output::Disconnect => {
                if let Some(mut c) = self.connection.take() {
                    let _ = c.stream.shutdown().await;
                }
                self.established = None;
                self.rib.clear();
            }
            Output::Send(message) => self.send(&message).await,
            Output::ArmTimer(timer, after) => {
                self.timers.insert(timer, Instant::now() + after);
            }
            Output::CancelTimer(timer) => {
                self.timers.remove(&timer);
            }
            Output::StateChanged { from, to } => {
                info!(peer = %self.spec.name, from = ?from, to = ?to, "session state");
            }
            Output::Established(negotiated) => {
                info!(peer = %self.spec.name, peer_as = ?negotiated.peer_as, "session established");
                self.established = Some(negotiated);
                self.send_route_changes().await;
            }
            Output::Update(_) => {} // ferrolb announces; it does not learn routes
            Output::RouteRefresh(_) => {
                let everything = self.rib.everything();
                self.send_changes(&everything).await;
            }
        }
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<Timer> = self.timers.iter().filter(|(_, at)| **at <= now).map(|(t, _)| *t).collect();
        for timer in due {
            self.timers.remove(&timer);
            let input = match timer {
                Timer::ConnectRetry => Input::ConnectRetryTimerExpired,
                Timer::Hold => Input::HoldTimerExpired,
                Timer::Keepalive => Input::KeepaliveTimerExpired,
                Timer::IdleHold => Input::IdleHoldTimerExpired,
            };
            self.input(input).await;
        }
    }

    /// Decodes every whole message in the buffer and feeds it to the FSM.
    async fn receive(&mut self) {
        loop {
            let Some(connection) = self.connection.as_mut() else { return };
            let Some(len) = message_len(&connection.buffer) else { return };
            if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
                // A bad length: let the decoder name the error.
                let bytes = std::mem::take(&mut connection.buffer);
                self.decoded(Message::decode(&bytes, &self.decode_context())).await;
                return;
            }
            if connection.buffer.len() < len {
                return;
            }
            let bytes: Vec<u8> = connection.buffer.drain(..len).collect();
            self.decoded(Message::decode(&bytes, &self.decode_context())).await;
        }
    }

    async fn decoded(&mut self, message: Result<Message, crate::message::DecodeError>) {
        match message {
            Ok(message) => {
                if let Message::Notification(n) = &message {
                    // The peer's reason for closing: the first thing to look at.
                    info!(peer = %self.spec.name, notification = ?n, "NOTIFICATION received");
                }
                self.input(Input::MessageReceived(message)).await;
            }
            Err(e) => {
                warn!(peer = %self.spec.name, error = %e, "malformed message");
                self.input(Input::DecodeFailed(e)).await;
            }
        }
    }

    fn decode_context(&self) -> DecodeContext {
        self.established.as_ref().map(Negotiated::decode_context).unwrap_or_default()
    }

    fn encode_context(&self) -> EncodeContext {
        self.established.as_ref().map(Negotiated::encode_context).unwrap_or_default()
    }

    async fn send(&mut self, message: &Message) {
        let bytes = message.to_bytes(&self.encode_context());
        if let Message::Notification(n) = message {
            log_notification(&self.spec.name, n);
        }
        let Some(connection) = self.connection.as_mut() else { return };
        if let Err(e) = connection.stream.write_all(&bytes).await {
            warn!(peer = %self.spec.name, error = %e, "write failed");
            self.connection = None;
            Box::pin(self.input(Input::TcpClosed)).await;
        }
    }

    /// Sends what changed in the desired routes, when the session is up.
    async fn send_route_changes(&mut self) {
        if self.established.is_none() {
            return;
        }
        let desired = self.routes.borrow_and_update().clone();
        let changes = self.rib.converge(&desired);
        self.send_changes(&changes).await;
    }

    async fn send_changes(&mut self, changes: &crate::rib_out::Changes<IpNet, RouteAttributes>) {
        let (Some(negotiated), Some(connection)) = (&self.established, &self.connection) else { return };
        let local = connection.local.ip();
        let routes = SessionRoutes {
            local_as: self.spec.session.local_as,
            ibgp: negotiated.peer_as == self.spec.session.local_as,
            next_hop_v4: match local {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            },
            next_hop_v6: match local {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            },
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

fn log_notification(peer: &str, notification: &Notification) {
    info!(peer, notification = ?notification, "NOTIFICATION sent");
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

async fn read_some(connection: &mut Option<Connection>) -> io::Result<usize> {
    match connection {
        Some(c) => c.stream.read_buf(&mut c.buffer).await,
        None => std::future::pending().await,
    }
}
