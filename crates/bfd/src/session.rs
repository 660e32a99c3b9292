//! One BFD session in Asynchronous mode (RFC 5880 §6.8), sans-I/O.
//!
//! The session owns its timers and is driven by the caller, as every ferrolb core is:
//!
//! - [`Session::handle_packet`] with each [`ControlPacket`] the driver selected for it;
//! - [`Session::handle_timeout`] when [`Session::poll_timeout`] is reached;
//! - [`Session::poll_transmit`] until `None` after each of the above: the packets to send now;
//! - [`Session::poll_event`] until `None`: state changes to report (to BGP, to metrics).
//!
//! Time is the caller's [`Instant`]; the crate never reads a clock, so tests run on a
//! simulated one. Transmission jitter (§6.8.7) comes from a small generator seeded by the
//! caller, so every run of a test is the same.

use std::collections::VecDeque;
use std::num::{NonZeroU8, NonZeroU32};
use std::time::{Duration, Instant};

use crate::packet::{ControlPacket, Diagnostic, Flags, State};

/// While a session is not Up it transmits no faster than once a second (RFC 5880 §6.8.3).
const SLOW_TX_US: u32 = 1_000_000;

/// Timers below this are refused: a session must never make its driver spin.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The configuration of one session, in the units of MetalLB's `BFDProfile` turned into
/// [`Duration`]s. [`Default`] gives MetalLB's defaults.
///
/// Echo mode is not implemented by this crate: a session advertises a Required Min Echo RX
/// Interval of zero, which tells the peer not to send Echo packets (RFC 5880 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// `transmitInterval`: the fastest this system wishes to transmit once Up
    /// (bfd.DesiredMinTxInterval; MetalLB default 300 ms).
    pub desired_min_tx: Duration,
    /// `receiveInterval`: the fastest this system accepts packets (bfd.RequiredMinRxInterval;
    /// MetalLB default 300 ms).
    pub required_min_rx: Duration,
    /// `detectMultiplier`: packets the peer may miss before it declares the session down
    /// (bfd.DetectMult; MetalLB default 3).
    pub detect_multiplier: NonZeroU8,
    /// `passiveMode`: transmit nothing until the peer is heard (RFC 5880 §6.1; default false).
    pub passive: bool,
    /// `minimumTtl`: the lowest TTL accepted on received packets of a multihop session
    /// (RFC 5883 §5; MetalLB default 254). Recorded here only: the TTL is not part of a
    /// Control packet, so the UDP driver checks it (and sends and expects TTL 255 on a
    /// single-hop session, RFC 5881 §5).
    pub minimum_ttl: u8,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_multiplier: const { NonZeroU8::new(3).unwrap() },
            passive: false,
            minimum_ttl: 254,
        }
    }
}

impl SessionConfig {
    /// Checks that both intervals fit the wire's microseconds and are at least 1 ms.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in
            [("desired_min_tx", self.desired_min_tx), ("required_min_rx", self.required_min_rx)]
        {
            if value < MIN_INTERVAL || value.as_micros() > u128::from(u32::MAX) {
                return Err(ConfigError::Interval { field, got: value });
            }
        }
        Ok(())
    }
}

/// Why a [`SessionConfig`] cannot run a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An interval is below 1 ms or above what 32 bits of microseconds hold.
    #[error("BFD {field} of {got:?} is out of range, expected 1ms to 4294.967295s")]
    Interval {
        /// The field of [`SessionConfig`].
        field: &'static str,
        /// The value given.
        got: Duration,
    },
}

/// What the session reports to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The session state changed (bfd.SessionState).
    StateChanged {
        /// The state before.
        from: State,
        /// The state now.
        to: State,
        /// The local diagnostic after the change: why the session went down, kept through
        /// Init, and [`Diagnostic::None`] once Up.
        diagnostic: Diagnostic,
        /// The peer's state as last heard. A session brought Down by a peer in AdminDown
        /// should not bring its client protocol down with it (RFC 5882 §3.2).
        remote_state: State,
    },
}

/// Why [`Session::handle_packet`] discarded a packet (RFC 5880 §6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discarded {
    /// The A bit is set, and this session has no authentication configured.
    #[error("BFD packet carries authentication, expected none (no authentication is configured)")]
    Authenticated,
    /// Your Discriminator names another session: the driver selected the wrong one.
    #[error("BFD packet is for discriminator {got}, expected {ours} or 0")]
    OtherSession {
        /// This session's discriminator.
        ours: u32,
        /// The packet's Your Discriminator.
        got: u32,
    },
    /// The session is in AdminDown: the packet updated what is known of the peer, nothing more.
    #[error("BFD session is administratively down, packet not acted on")]
    AdminDown,
}

/// The values a Poll Sequence carries, applied when its Final arrives (RFC 5880 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Poll {
    desired_min_tx: u32,
    required_min_rx: u32,
}

/// xorshift64*: enough randomness for transmission jitter, reproducible from its seed.
#[derive(Debug, Clone)]
struct Jitter(u64);

impl Jitter {
    fn new(seed: u64) -> Jitter {
        // The generator's one fixed point is zero.
        Jitter(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// A value in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        low + (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % (high - low + 1)
    }
}

/// One BFD session: the state variables of RFC 5880 §6.8.1 and its timers.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    local_discriminator: NonZeroU32,
    state: State,
    diagnostic: Diagnostic,
    remote_discriminator: u32,
    remote_state: State,
    remote_demand: bool,
    /// bfd.RemoteMinRxInterval, µs.
    remote_min_rx: u32,
    /// The peer's Desired Min TX Interval, µs.
    remote_desired_tx: u32,
    /// The peer's Detect Mult; 0 until heard.
    remote_detect_mult: u8,
    /// The Desired Min TX this system paces itself by: an increase waits for the Poll
    /// Sequence to end (§6.8.3).
    tx_in_use: u32,
    /// The Required Min RX the detection time uses: a decrease waits for the Poll Sequence
    /// to end (§6.8.3).
    rx_in_use: u32,
    poll: Option<Poll>,
    last_rx: Option<Instant>,
    last_tx: Instant,
    /// This period's share of the negotiated interval, in thousandths.
    jitter_permille: u64,
    send_now: bool,
    send_final: bool,
    events: VecDeque<Event>,
    jitter: Jitter,
}

impl Session {
    /// A session in state Down (RFC 5880 §6.8.1) with this system's nonzero discriminator,
    /// unique among its sessions (the driver selects sessions by it). `seed` drives the
    /// transmission jitter. An active session sends its first packet at once.
    pub fn new(
        config: SessionConfig,
        local_discriminator: NonZeroU32,
        seed: u64,
        now: Instant,
    ) -> Result<Session, ConfigError> {
        config.validate()?;
        let mut session = Session {
            config,
            local_discriminator,
            state: State::Down,
            diagnostic: Diagnostic::None,
            remote_discriminator: 0,
            remote_state: State::Down,
            remote_demand: false,
            remote_min_rx: 1,
            remote_desired_tx: 0,
            remote_detect_mult: 0,
            tx_in_use: 0,
            rx_in_use: 0,
            poll: None,
            last_rx: None,
            last_tx: now,
            jitter_permille: 1000,
            send_now: false,
            send_final: false,
            events: VecDeque::new(),
            jitter: Jitter::new(seed),
        };
        session.tx_in_use = session.advertised_tx();
        session.rx_in_use = session.advertised_rx();
        session.restart_period(now);
        session.send_now = !config.passive;
        Ok(session)
    }

    /// The configuration in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// This system's discriminator (bfd.LocalDiscr).
    pub fn local_discriminator(&self) -> NonZeroU32 {
        self.local_discriminator
    }

    /// The peer's discriminator (bfd.RemoteDiscr), once heard and until a detection time
    /// passes without a packet.
    pub fn remote_discriminator(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.remote_discriminator)
    }

    /// The session state (bfd.SessionState).
    pub fn state(&self) -> State {
        self.state
    }

    /// The diagnostic this system sends (bfd.LocalDiag).
    pub fn diagnostic(&self) -> Diagnostic {
        self.diagnostic
    }

    /// The peer's state as last heard (bfd.RemoteSessionState).
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// Whether a Poll Sequence is waiting for its Final.
    pub fn polling(&self) -> bool {
        self.poll.is_some()
    }

    /// The negotiated transmission interval before jitter (RFC 5880 §6.8.7): the larger of
    /// the Desired Min TX in use and the peer's Required Min RX; `None` while this system
    /// must not transmit periodically.
    pub fn transmit_interval(&self) -> Option<Duration> {
        self.transmits_periodically().then(|| micros(self.tx_in_use.max(self.remote_min_rx)))
    }

    /// The detection time (RFC 5880 §6.8.4, Asynchronous mode): the peer's Detect Mult times
    /// the larger of the Required Min RX in use and the peer's Desired Min TX; `None` until
    /// the peer is heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult != 0).then(|| {
            let per_packet = u64::from(self.rx_in_use.max(self.remote_desired_tx));
            Duration::from_micros(u64::from(self.remote_detect_mult) * per_packet)
        })
    }

    /// Takes a new configuration. A change of either interval while Up starts a Poll
    /// Sequence (RFC 5880 §6.8.3); a slower transmission and a shorter detection time wait
    /// for its Final.
    pub fn reconfigure(&mut self, config: SessionConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let before = self.advertised();
        self.config = config;
        self.retime(before);
        Ok(())
    }

    /// Holds the session down (RFC 5880 §6.8.16): state AdminDown, diagnostic 7, and the
    /// peer is told at once. Packets keep going out, once a second, so the peer knows.
    pub fn admin_down(&mut self, now: Instant) {
        if self.state != State::AdminDown {
            self.change_state(State::AdminDown, Diagnostic::AdministrativelyDown, now);
        }
    }

    /// Releases [`Session::admin_down`]: the session starts again from Down.
    pub fn admin_up(&mut self, now: Instant) {
        if self.state == State::AdminDown {
            let diagnostic = self.diagnostic;
            self.change_state(State::Down, diagnostic, now);
        }
    }

    /// Acts on a packet the driver selected for this session (by Your Discriminator, or by
    /// addresses while it is zero), per the reception rules of RFC 5880 §6.8.6.
    pub fn handle_packet(&mut self, packet: &ControlPacket, now: Instant) -> Result<(), Discarded> {
        if packet.auth.is_some() {
            return Err(Discarded::Authenticated);
        }
        let ours = self.local_discriminator.get();
        if packet.your_discriminator != 0 && packet.your_discriminator != ours {
            return Err(Discarded::OtherSession { ours, got: packet.your_discriminator });
        }
        self.remote_discriminator = packet.my_discriminator.get();
        self.remote_state = packet.state;
        self.remote_demand = packet.flags.demand;
        self.remote_min_rx = packet.required_min_rx;
        self.remote_desired_tx = packet.desired_min_tx;
        self.remote_detect_mult = packet.detect_mult.get();
        if packet.flags.final_ {
            self.end_poll();
        }
        if self.state == State::AdminDown {
            return Err(Discarded::AdminDown);
        }
        match (self.state, packet.state) {
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => {
                self.change_state(State::Down, Diagnostic::NeighborSignaledSessionDown, now)
            }
            (State::Down, State::Down) => self.change_state(State::Init, self.diagnostic, now),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.change_state(State::Up, Diagnostic::None, now)
            }
            (State::Up, State::Down) => {
                self.change_state(State::Down, Diagnostic::NeighborSignaledSessionDown, now)
            }
            _ => {}
        }
        if packet.flags.poll {
            self.send_final = true;
        }
        self.last_rx = Some(now);
        Ok(())
    }

    /// The next instant [`Session::handle_timeout`] has work: a periodic transmission or
    /// the end of the detection time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_periodic(), self.detection_deadline()].into_iter().flatten().min()
    }

    /// Acts on the timers that have run out by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detection_deadline().is_some_and(|at| now >= at) {
            // §6.8.1: a detection time without a packet forgets the peer's discriminator.
            self.remote_discriminator = 0;
            if matches!(self.state, State::Init | State::Up) {
                self.change_state(State::Down, Diagnostic::ControlDetectionTimeExpired, now);
            }
        }
        if self.next_periodic().is_some_and(|at| now >= at) {
            self.send_now = true;
            self.restart_period(now);
        }
    }

    /// The next packet to send now, if any. Call until `None` after every `handle_*`.
    pub fn poll_transmit(&mut self) -> Option<ControlPacket> {
        // A Final goes out whatever the timers, state or Demand mode say (§6.8.7), and never
        // with the Poll bit (§6.5): a pending periodic packet follows it.
        if std::mem::take(&mut self.send_final) {
            return Some(self.packet(Flags { final_: true, ..Flags::default() }));
        }
        if std::mem::take(&mut self.send_now) && self.transmits_periodically() {
            return Some(self.packet(Flags { poll: self.poll.is_some(), ..Flags::default() }));
        }
        None
    }

    /// The next event to report, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn packet(&self, flags: Flags) -> ControlPacket {
        ControlPacket {
            diagnostic: self.diagnostic,
            state: self.state,
            flags,
            detect_mult: self.config.detect_multiplier,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: self.advertised_tx(),
            required_min_rx: self.advertised_rx(),
            required_min_echo_rx: 0,
            auth: None,
        }
    }

    /// bfd.DesiredMinTxInterval: the configured value, but not below one second unless Up.
    fn advertised_tx(&self) -> u32 {
        let configured = to_micros(self.config.desired_min_tx);
        if self.state == State::Up { configured } else { configured.max(SLOW_TX_US) }
    }

    /// bfd.RequiredMinRxInterval.
    fn advertised_rx(&self) -> u32 {
        to_micros(self.config.required_min_rx)
    }

    fn advertised(&self) -> Poll {
        Poll { desired_min_tx: self.advertised_tx(), required_min_rx: self.advertised_rx() }
    }

    /// Applies a change of the advertised intervals from `before` (RFC 5880 §6.8.3). Up, the
    /// safe half applies now (faster transmission, longer detection) and a Poll Sequence
    /// carries the rest; otherwise every packet from the peer is acted on as it comes, so
    /// the new values apply at once.
    fn retime(&mut self, before: Poll) {
        let now = self.advertised();
        if self.state != State::Up {
            self.poll = None;
            self.tx_in_use = now.desired_min_tx;
            self.rx_in_use = now.required_min_rx;
        } else if now != before {
            self.tx_in_use = self.tx_in_use.min(now.desired_min_tx);
            self.rx_in_use = self.rx_in_use.max(now.required_min_rx);
            // A sequence under way keeps its values; its Final starts the next one.
            if self.poll.is_none() {
                self.poll = Some(now);
            }
        }
    }

    fn end_poll(&mut self) {
        let Some(done) = self.poll.take() else { return };
        self.tx_in_use = done.desired_min_tx;
        self.rx_in_use = done.required_min_rx;
        let now = self.advertised();
        if now != done {
            // Values changed during the sequence: the peer has not confirmed them yet.
            self.tx_in_use = self.tx_in_use.min(now.desired_min_tx);
            self.rx_in_use = self.rx_in_use.max(now.required_min_rx);
            self.poll = Some(now);
        }
    }

    fn change_state(&mut self, to: State, diagnostic: Diagnostic, now: Instant) {
        let before = self.advertised();
        let from = self.state;
        self.state = to;
        self.diagnostic = diagnostic;
        self.retime(before);
        self.events.push_back(Event::StateChanged { from, to, diagnostic, remote_state: self.remote_state });
        // Tell the peer at once rather than at the next period: the handshake takes three
        // packets, each a period late otherwise.
        self.send_now = true;
        self.restart_period(now);
    }

    fn restart_period(&mut self, now: Instant) {
        self.last_tx = now;
        // §6.8.7: 75–100% of the interval, 75–90% when a single loss already means down.
        let high = if self.config.detect_multiplier.get() == 1 { 900 } else { 1000 };
        self.jitter_permille = self.jitter.between(750, high);
    }

    /// Whether this system transmits periodic packets now (RFC 5880 §6.8.7).
    fn transmits_periodically(&self) -> bool {
        let passive_unheard = self.config.passive && self.remote_discriminator == 0;
        let remote_demand = self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && self.poll.is_none();
        !passive_unheard && !remote_demand && self.remote_min_rx != 0
    }

    fn next_periodic(&self) -> Option<Instant> {
        if !self.transmits_periodically() {
            return None;
        }
        let interval = u64::from(self.tx_in_use.max(self.remote_min_rx));
        Some(self.last_tx + Duration::from_micros(interval * self.jitter_permille / 1000))
    }

    fn detection_deadline(&self) -> Option<Instant> {
        if self.remote_discriminator == 0 || self.state == State::AdminDown {
            return None;
        }
        Some(self.last_rx? + self.detection_time()?)
    }
}

fn micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// A validated interval in microseconds (see [`SessionConfig::validate`]).
fn to_micros(interval: Duration) -> u32 {
    u32::try_from(interval.as_micros()).unwrap_or(u32::MAX)
}
