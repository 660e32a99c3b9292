//! The tokio driver: one UDP socket, one task, a watch of the alive set.
//!
//! ```text
//!   MembershipHandle                          gossip task (one per speaker)
//!  ┌──────────────────────┐                  ┌───────────────────────────────────────────┐
//!  │ alive() ─────────────┼◄── watch ────────┤ Output::AliveChanged ──► watch::send      │
//!  │ leave() ─────────────┼── mpsc Leave ───►│ select! {                                 │
//!  │   (oneshot: done)  ◄─┼──────────────────┤   recv_from(socket) ─► handle_datagram    │
//!  │ drop: abort the task │                  │   sleep_until(first timer) ─► handle_timer│
//!  └──────────────────────┘                  │   command ─► leave, flush, reply, return  │
//!                                            │ }                                         │
//!            UDP <InternalIP>:7946 ◄────────►│ Output::Send ─► send_to; Output::Arm ─►   │
//!                                            │   timer queue (BTreeMap by deadline)      │
//!                                            └───────────────────────────────────────────┘
//! ```
//!
//! The task owns the [`Membership`] outright, so nothing is shared or locked; the handle only
//! talks to it through channels.
//!
//! A speaker joins with its InternalIP and every node of the file as seeds, reads the alive
//! set from a watch, and leaves on SIGTERM (here alone on the loopback, on a port the system
//! picks):
//!
//! ```
//! # use std::net::{IpAddr, Ipv4Addr};
//! use std::net::SocketAddr;
//!
//! use ferrolb_membership::driver::{MembershipConfig, MembershipHandle, SECRET_ENV, secret_from};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (internal_ip, nodes, secret_file) = (IpAddr::V4(Ipv4Addr::LOCALHOST), Vec::<IpAddr>::new(), None);
//! let mut config = MembershipConfig::new("node1", internal_ip);
//! # config.port = 0;
//! config.seeds = nodes.iter().map(|ip| SocketAddr::new(*ip, config.port)).collect();
//! config.secret = secret_from(secret_file, SECRET_ENV)?;
//! let membership = MembershipHandle::spawn(config)?;
//! let alive = membership.alive(); // watch::Receiver<BTreeSet<String>>
//! assert!(alive.borrow().contains("node1"), "a speaker counts itself");
//! // ... on SIGTERM:
//! membership.leave().await;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::{Admitted, MemberId, Membership, Output, Timer, Timing, Unresponsive};

/// Gossip port, as MetalLB's memberlist.
pub const DEFAULT_PORT: u16 = 7946;

/// Environment variable holding the gossip secret when no secret file is given.
pub const SECRET_ENV: &str = "FERROLB_MEMBERLIST_SECRET";

/// How long [`MembershipHandle::leave`] waits for the departure to be sent.
const LEAVE_TIMEOUT: Duration = Duration::from_millis(100);

/// What a speaker needs to join the gossip group.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// This node's name (its `Node` object).
    pub node: String,
    /// Address to gossip from: the node's InternalIP.
    pub bind: IpAddr,
    /// UDP port, [`DEFAULT_PORT`] unless changed.
    pub port: u16,
    /// Gossip addresses of the other nodes (InternalIP:port of every node of the file; our own
    /// is skipped). Unreachable ones are retried every [`Timing::seed_retry`].
    pub seeds: Vec<SocketAddr>,
    /// Shared secret authenticating every datagram; `None` gossips unauthenticated.
    pub secret: Option<Vec<u8>>,
    /// Who may be a member (each Node's name and addresses); `None`: anyone.
    pub admitted: Option<Admitted>,
    /// Probe and suspicion timing.
    pub timing: Timing,
}

impl MembershipConfig {
    /// Node `node` gossiping on `bind`:7946 with LAN timing, no seeds and no secret.
    pub fn new(node: impl Into<String>, bind: IpAddr) -> Self {
        Self {
            node: node.into(),
            bind,
            port: DEFAULT_PORT,
            seeds: Vec::new(),
            secret: None,
            admitted: None,
            timing: Timing::lan(),
        }
    }
}

/// Why the gossip driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The UDP socket could not be bound (address not on this host, port taken...).
    #[error(
        "cannot bind the gossip socket on {addr}: {source} (expected the node's InternalIP and a free UDP port)"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// The socket could not be registered with tokio (called outside a tokio runtime?).
    #[error("cannot register the gossip socket {addr} with tokio: {source}")]
    Register {
        /// The bound address.
        addr: SocketAddr,
        /// What tokio said.
        source: io::Error,
    },
}

/// Why the gossip secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret file could not be read.
    #[error("{}: cannot read the gossip secret: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The secret file holds nothing but whitespace.
    #[error("{}: the gossip secret file is empty; expected the shared secret", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The environment variable is set but empty.
    #[error("environment variable {var} is set but empty; expected the shared secret or unset")]
    EmptyEnv {
        /// The variable.
        var: String,
    },
}

/// The gossip secret from `file` if given, else from the environment variable `env_var`
/// (usually [`SECRET_ENV`]); `Ok(None)` when neither is set, meaning unauthenticated gossip.
///
/// `file` may also be a directory holding a `secretkey` file: that is how MetalLB's speaker
/// mounts its `memberlist` Secret (`METALLB_ML_SECRET_KEY_PATH` points at the mount; older
/// releases passed the key itself in `METALLB_ML_SECRET_KEY`). The same Secret can be reused,
/// though the wire format is ferrolb's, not memberlist's. Trailing whitespace (the newline of
/// `echo > file`) is not part of the secret.
pub fn secret_from(file: Option<&Path>, env_var: &str) -> Result<Option<Vec<u8>>, SecretError> {
    if let Some(path) = file {
        let path = if path.is_dir() { path.join("secretkey") } else { path.to_owned() };
        let mut secret =
            std::fs::read(&path).map_err(|source| SecretError::Read { path: path.clone(), source })?;
        secret.truncate(secret.trim_ascii_end().len());
        if secret.is_empty() {
            return Err(SecretError::EmptyFile { path });
        }
        return Ok(Some(secret));
    }
    match std::env::var_os(env_var) {
        None => Ok(None),
        Some(value) if value.is_empty() => Err(SecretError::EmptyEnv { var: env_var.to_owned() }),
        Some(value) => Ok(Some(value.into_encoded_bytes())),
    }
}

/// A task that is aborted when its handle is dropped, so a dropped [`MembershipHandle`] never
/// leaves a speaker gossiping in the background.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Command {
    Leave(oneshot::Sender<()>),
    Watch(BTreeSet<String>),
    Admit(Admitted),
}

/// A running member of the gossip group. Dropping it stops gossip at once without telling the
/// others (they detect it); call [`MembershipHandle::leave`] to tell them.
pub struct MembershipHandle {
    id: MemberId,
    local_addr: SocketAddr,
    alive: watch::Receiver<BTreeSet<String>>,
    unresponsive: watch::Receiver<Unresponsive>,
    resumed: watch::Receiver<u64>,
    commands: mpsc::Sender<Command>,
    _task: AbortOnDrop,
}

impl MembershipHandle {
    /// Binds the gossip socket and starts gossiping; must be called within a tokio runtime.
    pub fn spawn(config: MembershipConfig) -> Result<Self, MembershipError> {
        let addr = SocketAddr::new(config.bind, config.port);
        let socket =
            std::net::UdpSocket::bind(addr).map_err(|source| MembershipError::Bind { addr, source })?;
        let local_addr = socket.local_addr().map_err(|source| MembershipError::Bind { addr, source })?;
        socket.set_nonblocking(true).map_err(|source| MembershipError::Register { addr, source })?;
        let socket =
            UdpSocket::from_std(socket).map_err(|source| MembershipError::Register { addr, source })?;

        // A restart is a new life: the start time makes each generation larger than the last
        // (a clock stepped back by more than the downtime would only delay the rejoin until the
        // old generation is forgotten).
        let generation = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let id = MemberId::new(config.node.clone(), local_addr, generation);
        // Probe order only needs to differ between members, not to be unpredictable.
        let rng_seed = RandomState::new().hash_one(&id);
        let mut membership = Membership::new(
            id.clone(),
            config.seeds.iter().copied(),
            config.secret.as_deref(),
            config.timing,
            rng_seed,
            now(),
        );
        if let Some(admitted) = config.admitted.clone() {
            membership.admit(now(), admitted);
        }
        if membership.is_authenticated() {
            tracing::info!(node = %config.node, addr = %local_addr, generation, seeds = ?config.seeds, "gossip started");
        } else {
            tracing::warn!(
                node = %config.node, addr = %local_addr, generation, seeds = ?config.seeds,
                "gossip started UNAUTHENTICATED: no secret configured (set {SECRET_ENV} or a secret file); \
                 anyone reaching this port can join or evict members"
            );
        }
        let (alive_tx, alive) = watch::channel(membership.alive().clone());
        let (unresponsive_tx, unresponsive) = watch::channel(Unresponsive::new());
        let (resumed_tx, resumed) = watch::channel(0);
        let (commands, command_rx) = mpsc::channel(8);
        let gossip = Gossip {
            membership,
            socket,
            timers: BTreeMap::new(),
            next_seq: 0,
            alive: alive_tx,
            unresponsive: unresponsive_tx,
            resumed: resumed_tx,
            resumed_logged: None,
        };
        let task = AbortOnDrop(tokio::spawn(gossip.run(command_rx)));
        Ok(Self { id, local_addr, alive, unresponsive, resumed, commands, _task: task })
    }

    /// Our identity at start (name, address, generation).
    pub fn id(&self) -> &MemberId {
        &self.id
    }

    /// The address the gossip socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Alive node names, ourselves included, updated on every change.
    pub fn alive(&self) -> watch::Receiver<BTreeSet<String>> {
        self.alive.clone()
    }

    /// Watched members (see [`MembershipHandle::watch`]) that stopped answering, updated on
    /// every change: tens of milliseconds after a death, long before the group agrees.
    pub fn unresponsive(&self) -> watch::Receiver<Unresponsive> {
        self.unresponsive.clone()
    }

    /// Counts the times a member watching us resumed its pings after a silence (see
    /// [`Output::WatcherResumed`]); a change means: announce what we lead again.
    pub fn watchers_resumed(&self) -> watch::Receiver<u64> {
        self.resumed.clone()
    }

    /// Admits as members only these Nodes at these addresses from now on (see
    /// [`Membership::admit`]); datagrams from other addresses are dropped.
    pub fn admit(&self, admitted: Admitted) {
        if self.commands.try_send(Command::Admit(admitted)).is_err() {
            tracing::warn!(node = %self.id.name(), "gossip task busy or gone; admitted members not updated");
        }
    }

    /// Pings exactly these members every few milliseconds from now on (the L2 runner-up
    /// watches the leader it would replace).
    pub fn watch(&self, members: BTreeSet<String>) {
        if self.commands.try_send(Command::Watch(members)).is_err() {
            tracing::warn!(node = %self.id.name(), "gossip task busy or gone; watch list not updated");
        }
    }

    /// Announces our departure to the group and stops; returns within about 100 ms (for
    /// SIGTERM: the others take over at once instead of waiting for failure detection).
    pub async fn leave(self) {
        let (done, sent) = oneshot::channel();
        if self.commands.send(Command::Leave(done)).await.is_ok()
            && tokio::time::timeout(LEAVE_TIMEOUT, sent).await.is_err()
        {
            tracing::warn!(node = %self.id.name(), "departure not sent within {LEAVE_TIMEOUT:?}");
        }
        // Dropping self aborts the task.
    }
}

/// The gossip task's state.
struct Gossip {
    membership: Membership,
    socket: UdpSocket,
    /// Keyed by deadline, then foca's order for simultaneous timers, then arrival.
    timers: BTreeMap<(Instant, u8, u64), Timer>,
    next_seq: u64,
    alive: watch::Sender<BTreeSet<String>>,
    unresponsive: watch::Sender<Unresponsive>,
    resumed: watch::Sender<u64>,
    /// When "a member watching us pings again" was last logged at info level.
    resumed_logged: Option<Instant>,
}

impl Gossip {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        // Any datagram larger than what members send is refused by the tag or by foca; the
        // buffer only has to hold the largest UDP payload to see it whole.
        let mut buf = vec![0u8; 65536];
        let (mut unauthenticated, mut strangers) =
            (self.membership.stats().unauthenticated, self.membership.stats().strangers);
        let mut last_refusal_log: Option<Instant> = None;
        // A CPU limit can be set or changed while we run (a resized Pod).
        let mut cpu_limit = tokio::time::interval(CPU_LIMIT_CHECK);
        let mut stall_bound = None;
        self.perform().await;
        loop {
            let next_deadline = self.timers.first_key_value().map(|((at, _, _), _)| *at);
            tokio::select! {
                // Datagrams first: an answer waiting in the socket must count before a
                // heartbeat timer judges its sender silent.
                biased;
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        self.membership.handle_datagram_from(now(), from, &buf[..len]);
                        let stats = self.membership.stats();
                        let why = if stats.unauthenticated > unauthenticated {
                            Some("wrong or missing secret")
                        } else if stats.strangers > strangers {
                            Some("from an address no Node of the configuration has")
                        } else {
                            None
                        };
                        (unauthenticated, strangers) = (stats.unauthenticated, stats.strangers);
                        // One line per 10 s per speaker: a misconfigured peer retries forever.
                        if let Some(why) = why
                            && last_refusal_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10))
                        {
                            last_refusal_log = Some(now());
                            tracing::warn!(
                                node = %self.membership.id().name(), from = %from,
                                unauthenticated = stats.unauthenticated, strangers = stats.strangers,
                                "gossip datagram refused: {why}"
                            );
                        }
                    }
                    // ICMP errors (a seed not up yet) surface here on some systems; not fatal.
                    Err(error) => tracing::debug!(node = %self.membership.id().name(), %error, "gossip receive failed"),
                },
                () = sleep_until(next_deadline) => {
                    let now = now();
                    while let Some(entry) = self.timers.first_entry() {
                        if entry.key().0 > now {
                            break;
                        }
                        let timer = entry.remove();
                        self.membership.handle_timer(now, timer);
                    }
                }
                _ = cpu_limit.tick() => {
                    let bound = ferrolb_sys::cpu_quota::stall_bound();
                    if bound != stall_bound {
                        tracing::info!(
                            node = %self.membership.id().name(),
                            stall_bound_ms = bound.unwrap_or_default().as_millis(),
                            "CPU limit: watchers allow this long a silence more before a takeover"
                        );
                        stall_bound = bound;
                        self.membership.set_stall_bound(bound.unwrap_or_default());
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Leave(done)) => {
                        tracing::info!(node = %self.membership.id().name(), "leaving the gossip group");
                        self.membership.leave(now());
                        self.perform().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(Command::Watch(members)) => {
                        self.membership.watch(now(), &members);
                    }
                    Some(Command::Admit(admitted)) => {
                        self.membership.admit(now(), admitted);
                    }
                    // The handle is gone; its drop aborts us anyway.
                    None => return,
                },
            }
            self.perform().await;
        }
    }

    async fn perform(&mut self) {
        let node = self.membership.id().name().to_owned();
        while let Some(output) = self.membership.poll() {
            match output {
                Output::Send { to, datagram } => {
                    if let Err(error) = self.socket.send_to(&datagram, to).await {
                        tracing::debug!(node = %node, addr = %to, %error, "gossip send failed");
                    }
                }
                Output::Arm { at, timer } => {
                    self.next_seq += 1;
                    self.timers.insert((at, timer.order(), self.next_seq), timer);
                }
                Output::MemberUp(id) => {
                    tracing::info!(node = %node, member = %id.name(), addr = %id.addr(), generation = id.generation(), "member up");
                }
                Output::Refused(id) => {
                    tracing::warn!(node = %node, member = %id.name(), addr = %id.addr(), "gossip member refused: its address is not its Node's; it does not count as alive");
                }
                Output::MemberDown(id) => {
                    tracing::info!(node = %node, member = %id.name(), addr = %id.addr(), generation = id.generation(), "member down");
                }
                Output::Rejoined(id) => {
                    tracing::warn!(node = %node, generation = id.generation(), "declared down by the group; rejoined as a new generation");
                }
                Output::AliveChanged(alive) => {
                    tracing::debug!(node = %node, alive = ?alive, "alive members changed");
                    self.alive.send_replace(alive);
                }
                Output::UnresponsiveChanged(silent) => {
                    tracing::info!(node = %node, unresponsive = ?silent.keys().collect::<Vec<_>>(), "watched members not answering");
                    self.unresponsive.send_replace(silent);
                }
                Output::WatcherResumed(watcher) => {
                    // A throttled process can see this every few seconds: one line per 10 s.
                    const WHY: &str = "a member watching us held us unresponsive or lost us a while";
                    if self.resumed_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                        self.resumed_logged = Some(now());
                        tracing::info!(node = %node, %watcher, "{WHY} (more within 10 s at debug level)");
                    } else {
                        tracing::debug!(node = %node, %watcher, "{WHY}");
                    }
                    self.resumed.send_modify(|n| *n += 1);
                }
            }
        }
    }
}

/// How often the process's CPU limit is read again.
const CPU_LIMIT_CHECK: Duration = Duration::from_secs(5);

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The time for the sans-I/O core: tokio's clock, which the sleeps use too,
/// so that a test on a paused clock sees what production sees.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(what: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ferrolb-membership-{}-{what}", std::process::id()))
    }

    #[test]
    fn secret_comes_from_the_file_without_its_trailing_newline() {
        let path = temp_path("file");
        std::fs::write(&path, b"s3cret\n").unwrap();
        let secret = secret_from(Some(&path), "FERROLB_TEST_UNSET_VARIABLE");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(secret.unwrap(), Some(b"s3cret".to_vec()));
    }

    #[test]
    fn secret_comes_from_a_metallb_style_secret_mount() {
        let dir = temp_path("dir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secretkey"), b"from-metallb").unwrap();
        let secret = secret_from(Some(&dir), SECRET_ENV);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(secret.unwrap(), Some(b"from-metallb".to_vec()));
    }

    #[test]
    fn empty_or_missing_secret_file_is_an_error_naming_the_file() {
        let path = temp_path("empty");
        std::fs::write(&path, b" \n").unwrap();
        let empty = secret_from(Some(&path), SECRET_ENV).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(empty, SecretError::EmptyFile { .. }), "{empty}");
        let missing = secret_from(Some(&temp_path("missing")), SECRET_ENV).unwrap_err();
        assert!(missing.to_string().contains("ferrolb-membership-"), "{missing}");
    }

    #[test]
    fn no_file_and_no_variable_means_no_secret() {
        assert_eq!(secret_from(None, "FERROLB_TEST_UNSET_VARIABLE").unwrap(), None);
    }
}
