//! The membership state machine: foca plus seeds, authentication and an alive set.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::{Duration, Instant};

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, PeriodicParams, PostcardCodec};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::auth::{OVERHEAD, Refused, Seal};
use crate::id::MemberId;

/// How fast the group probes, suspects and forgets; [`Timing::lan`] is the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often each member pings one other member (round robin over a shuffled list).
    pub probe_period: Duration,
    /// How long a direct ping waits for its ack before asking others to ping indirectly.
    pub probe_rtt: Duration,
    /// How many members are asked to ping a silent member on our behalf.
    pub indirect_probes: NonZeroUsize,
    /// How long a suspect has to refute the suspicion before it is declared down.
    pub suspect_to_down_after: Duration,
    /// How often pending updates are pushed to a few members between probes.
    pub gossip_interval: Duration,
    /// How many times each update is piggybacked before it is considered spread.
    pub max_transmissions: NonZeroU8,
    /// How often seeds with no live member at their address are sent a join request.
    pub seed_retry: Duration,
    /// How often a full membership exchange (join request and reply) is made with one
    /// random member, healing views that gossip alone left apart.
    pub full_sync: Duration,
    /// Largest foca message in octets; the datagram adds up to 33 octets of authentication.
    pub max_message_size: NonZeroUsize,
    /// How often a [watched](Membership::watch) member is pinged directly.
    pub heartbeat_interval: Duration,
    /// A watched member silent this long is [unresponsive](Membership::unresponsive).
    pub heartbeat_timeout: Duration,
    /// How long a member may stay unresponsive to us while the group still
    /// holds it alive before we stop calling it unresponsive (an asymmetric
    /// partition, not a death: the gossip's verdict wins).
    pub unconfirmed_limit: Duration,
}

impl Timing {
    /// Tuned for speakers on one LAN (round trips well under a millisecond): a member that stops
    /// answering is declared down by every survivor in under 500 ms.
    ///
    /// Budget from death to the last survivor's verdict, with a few members:
    /// - until some survivor probes the dead member: each survivor probes one member every
    ///   `probe_period` (80 ms) in shuffled round robin, so the first probe comes within about
    ///   one period, up to three in an unlucky shuffle of a small group;
    /// - the probe fails at the end of its period: `probe_rtt` (25 ms) is tens of LAN round
    ///   trips and leaves the other 55 ms for indirect pings through `indirect_probes` (2)
    ///   other members, so one lost datagram is not a suspicion;
    /// - `suspect_to_down_after` (150 ms): a live member that is only slow hears the suspicion
    ///   within a gossip round or two and refutes it in that time;
    /// - the verdict reaches the others with the next gossip push (`gossip_interval` 25 ms).
    ///
    /// Simulated over 100 deaths at random phases: mean about 300 ms, worst about 430-460 ms
    /// (the tests assert < 500 ms). A departure (`leave`) skips all that: one datagram.
    /// The cost is small: each member sends 12.5 pings a second whatever the group size.
    pub fn lan() -> Self {
        Self {
            probe_period: Duration::from_millis(80),
            probe_rtt: Duration::from_millis(25),
            indirect_probes: NonZeroUsize::new(2).expect("non-zero"),
            suspect_to_down_after: Duration::from_millis(150),
            gossip_interval: Duration::from_millis(25),
            // Enough for an update to reach every member of a few dozen with high probability
            // (foca's own LAN preset uses 4·log10(n+1)).
            max_transmissions: NonZeroU8::new(6).expect("non-zero"),
            // As often as a member is probed: when a partition heals, the two sides
            // find each other within one probe period, so that two leaders of one
            // VIP answer no longer. A dead node costs 12.5 small datagrams a second.
            seed_retry: Duration::from_millis(80),
            full_sync: Duration::from_secs(5),
            // Fits an Ethernet MTU of 1500 with IP, UDP and our tag.
            max_message_size: NonZeroUsize::new(1400).expect("non-zero"),
            // The fast path of L2 failover: the runner-up of a VIP pings its leader every
            // 10 ms and takes over after three missed answers (VRRPv3 at its fastest
            // advertises every 10 ms and waits three intervals too); gossip confirms.
            heartbeat_interval: Duration::from_millis(5),
            heartbeat_timeout: Duration::from_millis(20),
            unconfirmed_limit: Duration::from_secs(2),
        }
    }

    fn foca_config(&self) -> foca::Config {
        foca::Config {
            probe_period: self.probe_period,
            probe_rtt: self.probe_rtt,
            num_indirect_probes: self.indirect_probes,
            max_transmissions: self.max_transmissions,
            suspect_to_down_after: self.suspect_to_down_after,
            // Members are keyed by address, so memory stays bounded by the number of nodes; a
            // long memory keeps a stale "alive" rumour from resurrecting a node that is gone.
            remove_down_after: Some(Duration::from_secs(24 * 60 * 60)),
            max_packet_size: self.max_message_size,
            // A member wrongly declared down learns it at its next message and rejoins as its
            // next generation instead of talking into the void.
            notify_down_members: true,
            periodic_announce: Some(PeriodicParams {
                frequency: self.full_sync,
                num_members: NonZeroUsize::MIN,
            }),
            // Our own seed retry covers down members, by address, even before we are connected.
            periodic_announce_to_down_members: None,
            periodic_gossip: Some(PeriodicParams {
                frequency: self.gossip_interval,
                num_members: NonZeroUsize::new(3).expect("non-zero"),
            }),
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::lan()
    }
}

/// A timer the driver arms and hands back to [`Membership::handle_timer`] at its deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer(TimerKind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum TimerKind {
    Foca(foca::Timer<MemberId>),
    SeedRetry,
    Heartbeat,
}

impl Timer {
    /// Among timers due at the same instant, lower goes first (foca wants its indirect probe
    /// handled before the next probe starts).
    pub fn order(&self) -> u8 {
        match &self.0 {
            TimerKind::Foca(foca::Timer::SendIndirectProbe { .. }) => 0,
            TimerKind::Foca(_) => 1,
            TimerKind::SeedRetry | TimerKind::Heartbeat => 2,
        }
    }
}

/// Something the driver must do or may want to know, drained with [`Membership::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `datagram` (already authenticated) to `to` over UDP.
    Send {
        /// Destination: the member's gossip address.
        to: SocketAddr,
        /// The datagram, to send as is.
        datagram: Vec<u8>,
    },
    /// Call [`Membership::handle_timer`] with `timer` at `at`.
    Arm {
        /// Deadline.
        at: Instant,
        /// What to hand back.
        timer: Timer,
    },
    /// A member joined or came back.
    MemberUp(MemberId),
    /// A member left or was declared down.
    MemberDown(MemberId),
    /// A member joined whose address is not its Node's (see [`Admitted`]): it is
    /// not counted alive.
    Refused(MemberId),
    /// We were declared down and rejoined as this new generation.
    Rejoined(MemberId),
    /// The set of alive node names (ourselves included) changed; this is the new one.
    AliveChanged(BTreeSet<String>),
    /// The watched members that stopped answering changed; these are the new ones.
    UnresponsiveChanged(Unresponsive),
    /// A member watching us held us unresponsive, or pings again after the
    /// gossip could have declared us down: it may have taken over what we
    /// lead and handed it back, so announce it again.
    WatcherResumed(SocketAddr),
}

/// Watched members that stopped answering, each with the moment its last
/// answer came (or watching began): the leader was alive until then, so a
/// takeover's outage is at most the time since.
pub type Unresponsive = BTreeMap<String, Instant>;

/// Who may be a member: each Node's name with its addresses. A member
/// whose address is not one of its Node's (an impostor using a real node's
/// name, or a host naming itself) never counts as alive.
pub type Admitted = BTreeMap<String, BTreeSet<std::net::IpAddr>>;

/// Counters of datagrams that were refused, for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Refused by authentication: wrong or missing tag, or tagged vs untagged mismatch.
    pub unauthenticated: u64,
    /// Authenticated (or authentication off) but not a valid foca message.
    pub malformed: u64,
    /// Valid messages foca refused to act on (stale probe, message from ourselves...).
    pub protocol_errors: u64,
    /// From an address no admitted Node has (see [`Membership::admit`]).
    pub strangers: u64,
}

type Swim = Foca<MemberId, PostcardCodec, SmallRng, NoCustomBroadcast>;

/// Membership of one speaker in the gossip group: feed it datagrams and timer expiries, perform
/// the [`Output`]s it returns, read [`Membership::alive`].
pub struct Membership {
    swim: Swim,
    runtime: AccumulatingRuntime<MemberId>,
    seal: Seal,
    seeds: Vec<SocketAddr>,
    timing: Timing,
    outputs: VecDeque<Output>,
    alive: BTreeSet<String>,
    left: bool,
    stats: Stats,
    heartbeat: Heartbeat,
    /// Who may be a member; `None`: anyone (tests, and before the caller says).
    admitted: Option<Admitted>,
}

/// Direct pings to the few members whose death must be noticed fastest.
#[derive(Default)]
struct Heartbeat {
    watched: BTreeMap<String, Watched>,
    unresponsive: Unresponsive,
    armed: bool,
    sequence: u64,
    /// Who watches us (their reply address): when their last ping came,
    /// and whether it said they held us unresponsive.
    watchers: BTreeMap<SocketAddr, (Instant, bool)>,
    /// How long this process may be stalled (a CPU limit's period), told
    /// to our watchers in every answer.
    stall_bound: Duration,
}

struct Watched {
    addr: SocketAddr,
    /// The last answer, or when watching began.
    heard: Instant,
    /// Pings sent since the last answer. Counting them, not only the time,
    /// keeps a watcher that was itself not scheduled for a while (its pings
    /// not sent, the answers waiting in its socket) from blaming the leader.
    unanswered: u32,
    /// How long its CPU limit may stall it, as its last answer said: added
    /// to its timeout (a silence that short is a throttled process, not a death).
    stall_bound: Duration,
    /// How long it may be silent: `heartbeat_timeout`, doubled each time it
    /// answered again after being held unresponsive (a stall, not a death:
    /// a throttled leader), up to [`MAX_BACKOFF`] times; halved back after
    /// [`CALM`] without one.
    timeout: Duration,
    /// Since when its timeout last changed.
    since: Instant,
}

/// How far a watched member's timeout grows after false alarms: 16 × 20 ms
/// is 320 ms, still well under a second for a real death.
const MAX_BACKOFF: u32 = 16;

/// How long a watched member must answer without a false alarm before its
/// timeout halves back towards `heartbeat_timeout`.
const CALM: Duration = Duration::from_secs(30);

/// Pings that must go unanswered (besides `heartbeat_timeout` passing) before
/// a watched member is unresponsive.
const MISSED_PINGS: u32 = 3;

/// The top bit of a ping's sequence: the watcher holds us unresponsive (it
/// may have taken over what we lead). Older speakers echo the sequence and
/// answer as before.
const HELD_UNRESPONSIVE: u64 = 1 << 63;

/// An answer echoes the ping's sequence with bits 48 to 62 replaced by the
/// answering member's stall bound in milliseconds (older speakers read only
/// the name of an answer; a sequence never reaches 2^48).
const STALL_SHIFT: u32 = 48;
const STALL_MAX_MS: u64 = 0x7fff;

/// What follows the seal: gossip, or a heartbeat ping or answer.
const INNER_SWIM: u8 = 0;
const INNER_PING: u8 = 1;
const INNER_ACK: u8 = 2;

impl Membership {
    /// Joins the group as `id` through `seeds` (every other node's gossip address; our own is
    /// skipped). `secret` authenticates every datagram; `None` turns authentication off.
    /// `rng_seed` drives probe order; the first outputs are join requests to every seed.
    pub fn new(
        id: MemberId,
        seeds: impl IntoIterator<Item = SocketAddr>,
        secret: Option<&[u8]>,
        timing: Timing,
        rng_seed: u64,
        now: Instant,
    ) -> Self {
        let own = id.addr();
        let mut seeds: Vec<SocketAddr> = seeds.into_iter().filter(|s| *s != own).collect();
        seeds.sort_unstable();
        seeds.dedup();
        let alive = BTreeSet::from([id.name().to_owned()]);
        let config = timing.foca_config();
        let mut membership = Self {
            swim: Foca::new(id, config, SmallRng::seed_from_u64(rng_seed), PostcardCodec),
            runtime: AccumulatingRuntime::new(),
            seal: Seal::new(secret),
            seeds,
            timing,
            outputs: VecDeque::new(),
            alive,
            left: false,
            stats: Stats::default(),
            heartbeat: Heartbeat::default(),
            admitted: None,
        };
        membership.retry_seeds(now);
        membership
    }

    /// Our current identity (its generation grows if we were declared down and rejoined).
    pub fn id(&self) -> &MemberId {
        self.swim.identity()
    }

    /// Whether datagrams carry an HMAC tag; without, anyone who can reach the port can join.
    pub fn is_authenticated(&self) -> bool {
        self.seal.is_authenticated()
    }

    /// Largest datagram this member sends or accepts.
    pub fn max_datagram_size(&self) -> usize {
        self.timing.max_message_size.get() + OVERHEAD + 1
    }

    /// Names of the alive members, ourselves included; empty once we have left.
    pub fn alive(&self) -> &BTreeSet<String> {
        &self.alive
    }

    /// Only members whose address is one of their Node's count as alive
    /// from now on (the Nodes of the configuration, as they change).
    pub fn admit(&mut self, now: Instant, admitted: Admitted) {
        let refused: Vec<MemberId> = self
            .swim
            .iter_members()
            .map(|m| m.id().clone())
            .filter(|id| !is_admitted(&admitted, id))
            .collect();
        self.admitted = Some(admitted);
        self.outputs.extend(refused.into_iter().map(Output::Refused));
        self.collect(now);
    }

    fn admits(&self, id: &MemberId) -> bool {
        self.admitted.as_ref().is_none_or(|admitted| is_admitted(admitted, id))
    }

    /// Counters of refused datagrams.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether [`Membership::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// A datagram arrived from `from`: refused and counted when no admitted
    /// Node has that address (see [`Membership::admit`]), else handled.
    pub fn handle_datagram_from(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if let Some(admitted) = &self.admitted
            && !admitted.values().any(|addresses| addresses.contains(&from.ip()))
        {
            self.stats.strangers += 1;
            return;
        }
        self.handle_datagram(now, datagram);
    }

    /// A datagram arrived. Anything unauthenticated or malformed is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.left {
            return;
        }
        let message = match self.seal.open(datagram) {
            Ok(message) => message,
            Err(Refused::Truncated) => {
                self.stats.malformed += 1;
                return;
            }
            Err(Refused::WrongKind | Refused::BadTag) => {
                self.stats.unauthenticated += 1;
                return;
            }
        };
        let (inner, message) = match message.split_first() {
            Some((&inner, rest)) => (inner, rest),
            None => {
                self.stats.malformed += 1;
                return;
            }
        };
        match inner {
            INNER_SWIM => {}
            INNER_PING => return self.answer_ping(now, message),
            INNER_ACK => return self.heard(now, message),
            _ => {
                self.stats.malformed += 1;
                return;
            }
        }
        if let Err(error) = self.swim.handle_data(message, &mut self.runtime) {
            match error {
                foca::Error::Decode(_) | foca::Error::MalformedPacket | foca::Error::DataTooBig => {
                    self.stats.malformed += 1;
                }
                _ => self.stats.protocol_errors += 1,
            }
        }
        self.collect(now);
    }

    /// A timer armed by an [`Output::Arm`] is due.
    pub fn handle_timer(&mut self, now: Instant, timer: Timer) {
        if self.left {
            return;
        }
        match timer.0 {
            TimerKind::Foca(timer) => {
                if self.swim.handle_timer(timer, &mut self.runtime).is_err() {
                    // Late or out-of-order timers (a stalled host) land here; foca recovers
                    // on the next probe.
                    self.stats.protocol_errors += 1;
                }
                self.collect(now);
            }
            TimerKind::SeedRetry => self.retry_seeds(now),
            TimerKind::Heartbeat => self.beat(now),
        }
    }

    /// Pings these members every `heartbeat_interval` (the L2 runner-up
    /// watches its leader); a name that is not an alive member is ignored.
    pub fn watch(&mut self, now: Instant, names: &BTreeSet<String>) {
        let members: BTreeMap<&str, SocketAddr> = self
            .swim
            .iter_members()
            .filter(|m| self.admits(m.id()))
            .map(|m| (m.id().name(), m.id().addr()))
            .collect();
        let watched = &mut self.heartbeat.watched;
        watched.retain(|name, _| names.contains(name));
        for name in names {
            if let Some(addr) = members.get(name.as_str()) {
                watched.entry(name.clone()).or_insert(Watched {
                    addr: *addr,
                    heard: now,
                    unanswered: 0,
                    stall_bound: Duration::ZERO,
                    timeout: self.timing.heartbeat_timeout,
                    since: now,
                });
            }
        }
        self.update_unresponsive(now);
        if !self.heartbeat.watched.is_empty() && !self.heartbeat.armed && !self.left {
            self.heartbeat.armed = true;
            self.beat(now);
        }
    }

    /// How long a CPU limit may stall this process (see
    /// `ferrolb_sys::cpu_quota`): its watchers wait that much longer before
    /// they hold it unresponsive.
    pub fn set_stall_bound(&mut self, bound: Duration) {
        self.heartbeat.stall_bound = bound;
    }

    /// Watched members that have not answered within `heartbeat_timeout`
    /// (and not for longer than `unconfirmed_limit` while gossip holds them alive).
    pub fn unresponsive(&self) -> &Unresponsive {
        &self.heartbeat.unresponsive
    }

    fn beat(&mut self, now: Instant) {
        if self.heartbeat.watched.is_empty() || self.left {
            self.heartbeat.armed = false;
            return;
        }
        self.heartbeat.sequence = (self.heartbeat.sequence + 1) & !HELD_UNRESPONSIVE;
        let own = self.swim.identity().addr().to_string();
        for (name, watched) in &mut self.heartbeat.watched {
            watched.unanswered = watched.unanswered.saturating_add(1);
            let held = self.heartbeat.unresponsive.contains_key(name);
            let sequence = self.heartbeat.sequence | if held { HELD_UNRESPONSIVE } else { 0 };
            let mut message = vec![INNER_PING];
            message.extend_from_slice(&sequence.to_be_bytes());
            message.extend_from_slice(own.as_bytes());
            self.outputs.push_back(Output::Send { to: watched.addr, datagram: self.seal.seal(&message) });
        }
        self.update_unresponsive(now);
        let at = now + self.timing.heartbeat_interval;
        self.outputs.push_back(Output::Arm { at, timer: Timer(TimerKind::Heartbeat) });
    }

    /// A ping: `SEQUENCE (8 octets) | reply address as text`; answered with our name.
    ///
    /// Whether the watcher may have taken over what we lead, so that we
    /// announce it again ([`Output::WatcherResumed`]): when it starts saying
    /// it holds us unresponsive (its heartbeat's verdict), or pings again
    /// after a silence long enough for the gossip's verdict (it stopped
    /// watching us: we were down to it). A shorter silence is a stall of one
    /// of us — a throttled process, tens of milliseconds — and no news: the
    /// watcher's flag says whether it acted on it.
    fn answer_ping(&mut self, now: Instant, message: &[u8]) {
        let (Some(sequence), Some(to)) = (
            message.get(..8).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes),
            message
                .get(8..)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|a| a.parse::<SocketAddr>().ok()),
        ) else {
            self.stats.malformed += 1;
            return;
        };
        let held = sequence & HELD_UNRESPONSIVE != 0;
        let forget = self.timing.unconfirmed_limit * 5;
        let verdict = self.timing.probe_rtt + self.timing.suspect_to_down_after;
        let watchers = &mut self.heartbeat.watchers;
        watchers.retain(|_, (last, _)| now.saturating_duration_since(*last) < forget);
        let resumed = match watchers.insert(to, (now, held)) {
            Some((last, was_held)) => (held && !was_held) || now.saturating_duration_since(last) > verdict,
            None => held,
        };
        if resumed {
            self.outputs.push_back(Output::WatcherResumed(to));
        }
        let stall = (self.heartbeat.stall_bound.as_millis() as u64).min(STALL_MAX_MS);
        let echo = (sequence & ((1 << STALL_SHIFT) - 1)) | stall << STALL_SHIFT;
        let mut answer = vec![INNER_ACK];
        answer.extend_from_slice(&echo.to_be_bytes());
        answer.extend_from_slice(self.swim.identity().name().as_bytes());
        self.outputs.push_back(Output::Send { to, datagram: self.seal.seal(&answer) });
    }

    /// An answer: `SEQUENCE (8 octets) | name`.
    fn heard(&mut self, now: Instant, message: &[u8]) {
        let (Some(echo), Some(name)) = (
            message.get(..8).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes),
            message.get(8..).and_then(|n| std::str::from_utf8(n).ok()),
        ) else {
            self.stats.malformed += 1;
            return;
        };
        let base = self.timing.heartbeat_timeout;
        let false_alarm = self.heartbeat.unresponsive.contains_key(name);
        if let Some(watched) = self.heartbeat.watched.get_mut(name) {
            watched.heard = now;
            watched.unanswered = 0;
            watched.stall_bound = Duration::from_millis((echo >> STALL_SHIFT) & STALL_MAX_MS);
            if false_alarm {
                watched.timeout = (watched.timeout * 2).min(base * MAX_BACKOFF);
                watched.since = now;
            } else if watched.timeout > base && now.saturating_duration_since(watched.since) > CALM {
                watched.timeout = (watched.timeout / 2).max(base);
                watched.since = now;
            }
        }
        self.update_unresponsive(now);
    }

    fn update_unresponsive(&mut self, now: Instant) {
        let timing = &self.timing;
        let unresponsive: Unresponsive = self
            .heartbeat
            .watched
            .iter()
            .filter(|(name, w)| {
                let silent = now.saturating_duration_since(w.heard);
                silent > w.timeout + w.stall_bound
                    && w.unanswered > MISSED_PINGS
                    && !(self.alive.contains(*name) && silent > timing.unconfirmed_limit)
            })
            .map(|(name, w)| (name.clone(), w.heard))
            .collect();
        if unresponsive != self.heartbeat.unresponsive {
            self.heartbeat.unresponsive = unresponsive.clone();
            self.outputs.push_back(Output::UnresponsiveChanged(unresponsive));
        }
    }

    /// Leaves the group: tells a few members we are gone (they spread it in the next gossip
    /// round), then goes quiet. Further input is ignored; send the last outputs and stop.
    pub fn leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        if self.swim.leave_cluster(&mut self.runtime).is_err() {
            self.stats.protocol_errors += 1;
        }
        self.left = true;
        self.collect(now);
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    // A seed with no live member at its address (not started yet, dead, restarted under a
    // new generation we have not met) gets a join request; whoever listens there answers
    // with its identity and its view of the group.
    fn retry_seeds(&mut self, now: Instant) {
        let live: BTreeSet<SocketAddr> = self.swim.iter_members().map(|m| m.id().addr()).collect();
        for seed in self.seeds.iter().filter(|s| !live.contains(s)) {
            if self.swim.announce(MemberId::seed(*seed), &mut self.runtime).is_err() {
                self.stats.protocol_errors += 1;
            }
        }
        self.outputs
            .push_back(Output::Arm { at: now + self.timing.seed_retry, timer: Timer(TimerKind::SeedRetry) });
        self.collect(now);
    }

    fn collect(&mut self, now: Instant) {
        while let Some((to, message)) = self.runtime.to_send() {
            let mut framed = Vec::with_capacity(1 + message.len());
            framed.push(INNER_SWIM);
            framed.extend_from_slice(&message);
            let datagram = self.seal.seal(&framed);
            self.outputs.push_back(Output::Send { to: to.addr(), datagram });
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            if !self.left {
                self.outputs.push_back(Output::Arm { at: now + after, timer: Timer(TimerKind::Foca(timer)) });
            }
        }
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::MemberUp(id) if !self.admits(&id) => {
                    self.outputs.push_back(Output::Refused(id))
                }
                OwnedNotification::MemberUp(id) => self.outputs.push_back(Output::MemberUp(id)),
                OwnedNotification::MemberDown(id) => self.outputs.push_back(Output::MemberDown(id)),
                OwnedNotification::Rejoin(id) => self.outputs.push_back(Output::Rejoined(id)),
                _ => {}
            }
        }
        let alive = if self.left {
            BTreeSet::new()
        } else {
            std::iter::once(self.swim.identity().name())
                .chain(self.swim.iter_members().filter(|m| self.admits(m.id())).map(|m| m.id().name()))
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if alive != self.alive {
            self.alive = alive.clone();
            self.outputs.push_back(Output::AliveChanged(alive));
        }
    }
}

/// Whether `id`'s address is one of its Node's.
fn is_admitted(admitted: &Admitted, id: &MemberId) -> bool {
    admitted.get(id.name()).is_some_and(|addresses| addresses.contains(&id.addr().ip()))
}
