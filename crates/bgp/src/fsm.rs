//! The BGP session state machine (RFC 4271 §8), for one TCP connection to one peer.
//!
//! Pure: [`Session::handle`] takes the time and one [`Input`] and returns the
//! [`Output`]s for the driver to perform (connect, send, disconnect). It never
//! reads a clock, opens a socket or sleeps. It owns its timers, as every
//! sans-I/O core of ferrolb does (BFD, L2, membership): the driver sleeps
//! until [`Session::poll_timeout`] and then calls [`Session::handle_timeout`]
//! with the time, which runs the expired timers' events.
//!
//! ```text
//!                 ManualStart
//!   Idle ─────────────────────────► Connect ◄──── ConnectRetry ────► Active
//!    ▲                                 │ TcpConnected / send OPEN      │
//!    │ error, NOTIFICATION,             ▼                               │
//!    │ hold timer, ManualStop       OpenSent ◄─────────────────────────┘
//!    │                                 │ OPEN ok / send KEEPALIVE
//!    │                                 ▼
//!    ├─────────────────────────── OpenConfirm
//!    │                                 │ KEEPALIVE
//!    │                                 ▼
//!    └─────────────────────────── Established
//! ```
//!
//! After a failure the session returns to Idle and arms the idle hold timer
//! (RFC 4271 §8.1.1 event 13) for the wait [`crate::backoff`] gives; its expiry
//! starts the session again, so the driver never decides when to reconnect.
//!
//! The forwarding path (RFC 9384, BFD as the session's client): [`Input::PathDown`]
//! closes the session at once with a Cease / BFD Down and keeps it in Idle, neither
//! connecting nor accepting, until [`Input::PathUp`], which starts it at once.

use std::time::{Duration, Instant};

use crate::backoff::{Backoff, MAX_IDLE_HOLD};
use crate::message::{
    Capability, DecodeContext, DecodeError, EncodeContext, GracefulRestart, Message, Notification, Open,
    RouteRefresh, Update, code, subcode,
};
use crate::types::{AfiSafi, Asn, HoldTime, RouterId};

/// The hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2: "4 minutes is suggested").
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// The least send hold time (RFC 9687 §3: "8 minutes or 2 times the negotiated HoldTime,
/// whichever is greater").
pub const MIN_SEND_HOLD_TIME: Duration = Duration::from_secs(480);

/// Which AS the peer must announce in its OPEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAs {
    /// Exactly this AS.
    Fixed(Asn),
    /// Our own AS (iBGP).
    Internal,
    /// Any AS but ours (eBGP).
    External,
    /// Any AS (dynamic neighbors).
    Any,
}

/// How one session is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_as: Asn,
    /// Our BGP identifier.
    pub router_id: RouterId,
    /// The AS we accept from the peer.
    pub peer_as: PeerAs,
    /// The hold time we propose.
    pub hold_time: HoldTime,
    /// Keepalive interval; `None` means a third of the negotiated hold time (RFC 4271 §10).
    pub keepalive: Option<Duration>,
    /// ConnectRetryTime (RFC 4271 §10 suggests 120 s).
    pub connect_retry: Duration,
    /// Wait before starting again after a failure (RFC 4271 §8.1.1 IdleHoldTimer);
    /// doubled while failures repeat ([`crate::backoff`]).
    pub idle_hold: Duration,
    /// Only accept connections, never initiate one (RFC 4271 §8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    /// Families we offer (Multiprotocol capability, RFC 4760 §8).
    pub families: Vec<AfiSafi>,
    /// Further capabilities to offer (route refresh, graceful restart...); 4-octet AS is always sent.
    pub capabilities: Vec<Capability>,
}

impl SessionConfig {
    /// A config with RFC 4271 §10 defaults: hold 90 s, connect retry 120 s, IPv4 and IPv6 unicast.
    pub fn new(local_as: Asn, router_id: RouterId, peer_as: PeerAs) -> SessionConfig {
        SessionConfig {
            local_as,
            router_id,
            peer_as,
            hold_time: HoldTime::DEFAULT,
            keepalive: None,
            connect_retry: Duration::from_secs(120),
            idle_hold: Duration::from_secs(5),
            passive: false,
            families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            capabilities: vec![Capability::RouteRefresh],
        }
    }

    /// The OPEN this config sends.
    ///
    /// Route refresh is offered enhanced as well (RFC 7313 §3 offers the two together):
    /// the session always answers a request with BoRR, the routes and EoRR when the
    /// peer offered it too, so whoever sets up `capabilities` need not list it.
    pub fn open(&self) -> Open {
        let mut capabilities: Vec<Capability> =
            self.families.iter().copied().map(Capability::Multiprotocol).collect();
        for capability in &self.capabilities {
            capabilities.push(capability.clone());
            if *capability == Capability::RouteRefresh
                && !self.capabilities.contains(&Capability::EnhancedRouteRefresh)
            {
                capabilities.push(Capability::EnhancedRouteRefresh);
            }
        }
        Open::new(self.local_as, self.hold_time, self.router_id, capabilities)
    }
}

/// Session states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not trying to connect.
    Idle,
    /// Waiting for an outgoing TCP connection.
    Connect,
    /// Waiting for an incoming TCP connection.
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Routes may flow.
    Established,
}

/// The session's timers (see [`Session::poll_timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// ConnectRetryTimer.
    ConnectRetry,
    /// HoldTimer.
    Hold,
    /// KeepaliveTimer.
    Keepalive,
    /// IdleHoldTimer: the wait in Idle before starting again.
    IdleHold,
}

/// What happens to a session (RFC 4271 §8.1 events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "short-lived, moved straight from the driver into handle()")]
pub enum Input {
    /// The operator starts the session (event 1; event 5 when passive).
    ManualStart,
    /// The operator stops the session (event 2), with an optional RFC 9003 message.
    ManualStop(Option<String>),
    /// A TCP connection to the peer is up, ours or theirs (events 16, 17).
    TcpConnected,
    /// The outgoing connection attempt failed (event 18).
    TcpFailed,
    /// The established connection closed (event 18).
    TcpClosed,
    /// A whole message arrived and decoded.
    MessageReceived(Message),
    /// A message arrived that did not decode (events 21, 22, 28).
    DecodeFailed(DecodeError),
    /// ConnectRetryTimer expired (event 9).
    ConnectRetryTimerExpired,
    /// HoldTimer expired (event 10).
    HoldTimerExpired,
    /// KeepaliveTimer expired (event 11).
    KeepaliveTimerExpired,
    /// The peer took nothing we had to send for [`Session::send_hold_time`] (RFC 9687
    /// SendHoldTimer_Expires, event 29). The driver, which sees the writes, keeps this timer.
    SendHoldTimerExpired,
    /// IdleHoldTimer expired (event 13): start again.
    IdleHoldTimerExpired,
    /// This connection lost collision detection (event 23, RFC 4271 §6.8).
    CollisionDump,
    /// The forwarding path to the peer failed (a BFD session went Down, RFC 9384):
    /// close with Cease / BFD Down and stay in Idle until [`Input::PathUp`].
    PathDown,
    /// The forwarding path to the peer works again: a started session starts at once.
    PathUp,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "short-lived, moved straight from the driver into handle()")]
pub enum Output {
    /// Open a TCP connection to the peer.
    Connect,
    /// Close the TCP connection (after sending what came before).
    Disconnect,
    /// Send a message.
    Send(Message),
    /// The state changed.
    StateChanged {
        /// The old state.
        from: State,
        /// The new state.
        to: State,
    },
    /// The session is Established with these parameters.
    Established(Negotiated),
    /// An UPDATE arrived in Established (check [`Update::treat_as_withdraw`]).
    Update(Update),
    /// The peer asks for our routes of a family again (RFC 2918).
    RouteRefresh(RouteRefresh),
}

/// What the two OPENs agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS.
    pub peer_as: Asn,
    /// The peer's BGP identifier.
    pub peer_router_id: RouterId,
    /// The smaller of both hold times (RFC 4271 §4.2).
    pub hold_time: HoldTime,
    /// How often we send KEEPALIVE; `None` when the hold time is 0.
    pub keepalive: Option<Duration>,
    /// Both sides support 4-octet ASNs (RFC 6793).
    pub four_octet_as: bool,
    /// Families both sides offered (IPv4 unicast alone if the peer sent no Multiprotocol, RFC 4760 §8).
    pub families: Vec<AfiSafi>,
    /// The peer supports ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// Both sides offered enhanced route refresh: answers are framed by BoRR and EoRR (RFC 7313 §4).
    pub enhanced_route_refresh: bool,
    /// The peer's graceful restart capability (RFC 4724), if any.
    pub graceful_restart: Option<GracefulRestart>,
    /// Both sides offered IPv4 unicast routes with IPv6 next hops (RFC 8950 §4).
    pub extended_next_hop_v4: bool,
    /// The peer is in another AS (eBGP).
    pub external: bool,
}

impl Negotiated {
    /// How to read this peer's messages.
    pub fn decode_context(&self) -> DecodeContext {
        DecodeContext {
            four_octet_as: self.four_octet_as,
            families: self.families.clone(),
            external: self.external,
        }
    }

    /// How to write messages to this peer.
    pub fn encode_context(&self) -> EncodeContext {
        EncodeContext { four_octet_as: self.four_octet_as }
    }
}

/// Which of two connections to one peer survives a collision (RFC 4271 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The connection we opened.
    Outgoing,
    /// The connection the peer opened.
    Incoming,
}

/// Collision detection (RFC 4271 §6.8): the speaker with the higher BGP identifier keeps the connection it opened.
///
/// [`crate::peer::Peer`] asks this when the peer's OPEN arrives on a second
/// connection while ours is in OpenSent or OpenConfirm, and feeds
/// [`Input::CollisionDump`] to the losing connection's session.
pub fn resolve_collision(local: RouterId, remote: RouterId) -> Keep {
    if local.to_u32() < remote.to_u32() { Keep::Incoming } else { Keep::Outgoing }
}

/// One BGP session on one connection (RFC 4271 §8).
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: State,
    since: Option<Instant>,
    negotiated: Option<Negotiated>,
    connect_retry_count: u32,
    /// Started by the operator (ManualStart, until ManualStop).
    started: bool,
    /// The forwarding path is down ([`Input::PathDown`]): no connection until it is up.
    path_down: bool,
    /// When each [`Timer`] fires, if armed.
    timers: [Option<Instant>; 4],
    /// The wait before starting again after a failure.
    backoff: Backoff,
}

/// Every timer, in the order [`Session::handle_timeout`] runs those due at one time.
const TIMERS: [Timer; 4] = [Timer::Hold, Timer::Keepalive, Timer::ConnectRetry, Timer::IdleHold];

fn slot(timer: Timer) -> usize {
    match timer {
        Timer::Hold => 0,
        Timer::Keepalive => 1,
        Timer::ConnectRetry => 2,
        Timer::IdleHold => 3,
    }
}

impl Timer {
    /// The event its expiry is.
    fn expired(self) -> Input {
        match self {
            Timer::ConnectRetry => Input::ConnectRetryTimerExpired,
            Timer::Hold => Input::HoldTimerExpired,
            Timer::Keepalive => Input::KeepaliveTimerExpired,
            Timer::IdleHold => Input::IdleHoldTimerExpired,
        }
    }
}

impl Session {
    /// A session in Idle.
    pub fn new(config: SessionConfig) -> Session {
        let config_idle_hold = config.idle_hold;
        Session {
            config,
            state: State::Idle,
            since: None,
            negotiated: None,
            connect_retry_count: 0,
            started: false,
            path_down: false,
            timers: [None; 4],
            backoff: Backoff::new(config_idle_hold, MAX_IDLE_HOLD),
        }
    }

    /// When the next timer fires: sleep until then and call [`Session::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// Runs the events of the timers due at `now`, earliest first; returns what to do.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        // One at a time: an event may stop or re-arm the others.
        while let Some(timer) = TIMERS
            .iter()
            .copied()
            .filter(|t| self.timers[slot(*t)].is_some_and(|at| at <= now))
            .min_by_key(|t| self.timers[slot(*t)])
        {
            self.timers[slot(timer)] = None;
            out.extend(self.handle(now, timer.expired()));
        }
        out
    }

    /// When `timer` fires, if armed.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers[slot(timer)]
    }

    /// Takes over the reconnect history of `previous`, the session this one
    /// replaces (a connection collision won by a newer connection).
    pub fn carry_on_from(&mut self, previous: &Session) {
        self.backoff = previous.backoff.clone();
        self.connect_retry_count = previous.connect_retry_count;
    }

    fn arm(&mut self, timer: Timer, at: Instant) {
        self.timers[slot(timer)] = Some(at);
    }

    fn cancel(&mut self, timer: Timer) {
        self.timers[slot(timer)] = None;
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// When the session entered its current state, if it ever left Idle.
    pub fn state_since(&self) -> Option<Instant> {
        self.since
    }

    /// What the OPENs agreed on, once the peer's OPEN was accepted.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// How many times the session fell back after trying (RFC 4271 §8.1 ConnectRetryCounter).
    pub fn connect_retry_count(&self) -> u32 {
        self.connect_retry_count
    }

    /// Whether the forwarding path is down ([`Input::PathDown`]), which keeps the session in Idle.
    pub fn path_down(&self) -> bool {
        self.path_down
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// How long the peer may take nothing of what we have to send before the session is
    /// closed (RFC 9687 §3): twice the negotiated hold time, at least [`MIN_SEND_HOLD_TIME`].
    pub fn send_hold_time(&self) -> Duration {
        let hold = self.negotiated.as_ref().map_or(Duration::ZERO, |n| n.hold_time.as_duration());
        (hold * 2).max(MIN_SEND_HOLD_TIME)
    }

    /// Feeds one event at time `now`; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match &input {
            Input::ManualStart => self.started = true,
            Input::ManualStop(_) => self.started = false,
            _ => {}
        }
        match (self.state, input) {
            (_, Input::PathDown) if self.path_down => {}
            (State::Idle, Input::PathDown) => {
                self.path_down = true;
                self.cancel(Timer::IdleHold);
            }
            (_, Input::PathDown) => {
                self.path_down = true;
                // No automatic restart while the path is down: PathUp restarts.
                self.stop(now, Some(Notification::bfd_down()), false, &mut out);
            }
            (_, Input::PathUp) if !self.path_down => {}
            (state, Input::PathUp) => {
                self.path_down = false;
                if state == State::Idle && self.started {
                    self.connect_retry_count = 0;
                    self.start(now, &mut out);
                }
            }
            // While the path is down the session stays in Idle.
            (State::Idle, Input::ManualStart | Input::IdleHoldTimerExpired) if self.path_down => {}
            (State::Idle, Input::ManualStart | Input::IdleHoldTimerExpired) => self.start(now, &mut out),
            // A stop while waiting to restart after a failure: stay down.
            (State::Idle, Input::ManualStop(_)) => {
                self.cancel(Timer::IdleHold);
                self.connect_retry_count = 0;
            }
            (State::Idle, _) => {}

            (_, Input::ManualStop(message)) => {
                let notification = match message {
                    Some(text) => Notification::administrative_shutdown(&text),
                    None => Notification::new(code::CEASE, subcode::ADMINISTRATIVE_SHUTDOWN),
                };
                self.stop(now, Some(notification), false, &mut out);
                self.connect_retry_count = 0;
            }

            (State::Connect | State::Active, Input::ConnectRetryTimerExpired) => {
                self.arm(Timer::ConnectRetry, now + self.config.connect_retry);
                if self.config.passive {
                    self.transition(now, State::Active, &mut out);
                } else {
                    out.push(Output::Disconnect);
                    out.push(Output::Connect);
                    self.transition(now, State::Connect, &mut out);
                }
            }
            (State::Connect | State::Active, Input::TcpConnected) => {
                self.cancel(Timer::ConnectRetry);
                out.push(Output::Send(Message::Open(self.config.open())));
                self.arm(Timer::Hold, now + OPEN_HOLD_TIME);
                self.transition(now, State::OpenSent, &mut out);
            }
            // RFC 4271 §8.2.2: a start while starting is ignored...
            (State::Connect | State::Active, Input::ManualStart | Input::IdleHoldTimerExpired) => {}
            // ...and any other event in Connect or Active returns to Idle, without a NOTIFICATION.
            (State::Connect | State::Active, _) => self.stop(now, None, true, &mut out),

            (State::OpenSent, Input::MessageReceived(Message::Open(open))) => match self.accept_open(&open) {
                Ok(negotiated) => {
                    out.push(Output::Send(Message::Keepalive));
                    self.arm_session_timers(now, &negotiated);
                    if negotiated.hold_time.is_disabled() {
                        // RFC 4271 §8.2.2 starts no hold timer for a hold time of 0, so a
                        // peer that never sends its KEEPALIVE would keep the session in
                        // OpenConfirm for ever. It gets as long as an OPEN does (the large
                        // hold timer, 4 minutes); the KEEPALIVE cancels it.
                        self.arm(Timer::Hold, now + OPEN_HOLD_TIME);
                    }
                    self.negotiated = Some(negotiated);
                    self.transition(now, State::OpenConfirm, &mut out);
                }
                Err(error) => self.stop(now, Some(Notification::from(&error)), true, &mut out),
            },
            (State::OpenSent, Input::TcpClosed | Input::TcpFailed) => {
                // RFC 4271 §8.2.2: back to Active to wait for the peer to connect again.
                out.push(Output::Disconnect);
                self.arm(Timer::ConnectRetry, now + self.config.connect_retry);
                self.cancel(Timer::Hold);
                self.transition(now, State::Active, &mut out);
            }

            (State::OpenConfirm, Input::MessageReceived(Message::Keepalive)) => {
                if let Some(negotiated) = self.negotiated.clone() {
                    self.arm_hold(now, &negotiated);
                    self.backoff.established(now);
                    self.transition(now, State::Established, &mut out);
                    out.push(Output::Established(negotiated));
                }
            }

            (State::OpenConfirm | State::Established, Input::KeepaliveTimerExpired) => {
                out.push(Output::Send(Message::Keepalive));
                if let Some(interval) = self.negotiated.as_ref().and_then(|n| n.keepalive) {
                    self.arm(Timer::Keepalive, now + interval);
                }
            }

            (
                State::Established,
                Input::MessageReceived(
                    message @ (Message::Keepalive | Message::Update(_) | Message::RouteRefresh(_)),
                ),
            ) => {
                if let Some(negotiated) = self.negotiated.clone() {
                    self.arm_hold(now, &negotiated);
                }
                match message {
                    Message::Update(update) => out.push(Output::Update(update)),
                    Message::RouteRefresh(refresh) => out.push(Output::RouteRefresh(refresh)),
                    _ => {}
                }
            }

            // From here on: the states with a connection, OpenSent to Established.
            (_, Input::HoldTimerExpired) => {
                self.stop(now, Some(Notification::hold_timer_expired()), true, &mut out)
            }
            (_, Input::SendHoldTimerExpired) => {
                self.stop(now, Some(Notification::send_hold_timer_expired()), true, &mut out)
            }
            (state, Input::DecodeFailed(error)) => {
                let notification = Notification::from(&error);
                // RFC 4271 §8.2.2: a header error (event 21) has its own NOTIFICATION in
                // every state, an OPEN error (22) before Established; an UPDATE error (28)
                // in OpenSent or OpenConfirm, and an OPEN error in Established, are
                // unexpected messages first (RFC 6608).
                let unexpected = match (state, notification.code) {
                    (State::Established, code::OPEN_MESSAGE) => Some(message_type::OPEN),
                    (State::OpenSent | State::OpenConfirm, code::UPDATE_MESSAGE) => {
                        Some(message_type::UPDATE)
                    }
                    (State::OpenSent | State::OpenConfirm, code::ROUTE_REFRESH_MESSAGE) => {
                        Some(message_type::ROUTE_REFRESH)
                    }
                    _ => None,
                };
                let notification = match unexpected {
                    Some(kind) => fsm_error(state, kind),
                    None => notification,
                };
                self.stop(now, Some(notification), true, &mut out)
            }
            (_, Input::MessageReceived(Message::Notification(_))) => self.stop(now, None, true, &mut out),
            (_, Input::TcpClosed | Input::TcpFailed) => self.stop(now, None, true, &mut out),
            (_, Input::CollisionDump) => {
                let cease = Notification::new(code::CEASE, subcode::CONNECTION_COLLISION_RESOLUTION);
                // The other connection carries on: no automatic restart from this one.
                self.stop(now, Some(cease), false, &mut out);
            }
            (state, Input::MessageReceived(message)) => {
                self.stop(now, Some(fsm_error(state, message.kind())), true, &mut out);
            }
            // Stray timer expiries or connection events the driver raced with: nothing to do.
            (_, _) => {}
        }
        out
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.cancel(Timer::IdleHold);
        self.arm(Timer::ConnectRetry, now + self.config.connect_retry);
        if self.config.passive {
            self.transition(now, State::Active, out);
        } else {
            out.push(Output::Connect);
            self.transition(now, State::Connect, out);
        }
    }

    /// Back to Idle: send the NOTIFICATION if any, close, stop timers, maybe arm the idle hold timer.
    fn stop(
        &mut self,
        now: Instant,
        notification: Option<Notification>,
        restart: bool,
        out: &mut Vec<Output>,
    ) {
        let connected = matches!(self.state, State::OpenSent | State::OpenConfirm | State::Established);
        if let Some(notification) = notification.filter(|_| connected) {
            out.push(Output::Send(Message::Notification(notification)));
        }
        out.push(Output::Disconnect);
        for timer in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            self.cancel(timer);
        }
        if restart {
            self.connect_retry_count = self.connect_retry_count.saturating_add(1);
            let wait = self.backoff.next_wait(now);
            self.arm(Timer::IdleHold, now + wait);
        }
        self.negotiated = None;
        self.transition(now, State::Idle, out);
    }

    fn transition(&mut self, now: Instant, to: State, out: &mut Vec<Output>) {
        if self.state != to {
            out.push(Output::StateChanged { from: self.state, to });
            self.state = to;
            self.since = Some(now);
        }
    }

    fn arm_session_timers(&mut self, now: Instant, negotiated: &Negotiated) {
        self.arm_hold(now, negotiated);
        match negotiated.keepalive {
            Some(interval) => self.arm(Timer::Keepalive, now + interval),
            None => self.cancel(Timer::Keepalive),
        }
    }

    fn arm_hold(&mut self, now: Instant, negotiated: &Negotiated) {
        if negotiated.hold_time.is_disabled() {
            self.cancel(Timer::Hold);
        } else {
            self.arm(Timer::Hold, now + negotiated.hold_time.as_duration());
        }
    }

    /// The OPEN checks of RFC 4271 §6.2 that need the configuration, and negotiation.
    fn accept_open(&self, open: &Open) -> Result<Negotiated, DecodeError> {
        let local = self.config.local_as;
        let acceptable = match self.config.peer_as {
            PeerAs::Fixed(asn) => open.asn == asn,
            PeerAs::Internal => open.asn == local,
            PeerAs::External => open.asn != local,
            PeerAs::Any => true,
        };
        if !acceptable {
            return Err(DecodeError::BadPeerAs { asn: open.asn.get() });
        }
        // RFC 6286 §2.2: within one AS the identifiers must differ.
        if open.asn == local && open.router_id == self.config.router_id {
            return Err(DecodeError::BadBgpIdentifier { id: open.router_id.addr() });
        }
        let hold_time = self.config.hold_time.negotiate(open.hold_time);
        let keepalive = match (hold_time.keepalive_interval(), self.config.keepalive) {
            (None, _) => None,
            (Some(third), Some(configured)) => Some(configured.min(third)),
            (Some(third), None) => Some(third),
        };
        let offered: Vec<AfiSafi> = open
            .capabilities
            .iter()
            .filter_map(|c| if let Capability::Multiprotocol(f) = c { Some(*f) } else { None })
            .collect();
        let theirs = if offered.is_empty() { vec![AfiSafi::IPV4_UNICAST] } else { offered };
        let families = self.config.families.iter().copied().filter(|f| theirs.contains(f)).collect();
        Ok(Negotiated {
            peer_as: open.asn,
            peer_router_id: open.router_id,
            hold_time,
            keepalive,
            four_octet_as: open.four_octet_as(),
            families,
            route_refresh: open.capabilities.contains(&Capability::RouteRefresh),
            enhanced_route_refresh: self
                .config
                .open()
                .capabilities
                .contains(&Capability::EnhancedRouteRefresh)
                && open.capabilities.contains(&Capability::EnhancedRouteRefresh),
            graceful_restart: open.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart(gr) => Some(gr.clone()),
                _ => None,
            }),
            extended_next_hop_v4: offers_ipv4_over_ipv6(&self.config.capabilities)
                && offers_ipv4_over_ipv6(&open.capabilities),
            external: open.asn != local,
        })
    }
}

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3), the data of an FSM error.
mod message_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// RFC 6608 §4: an unexpected message is a Finite State Machine Error whose subcode
/// names the state (1 OpenSent, 2 OpenConfirm, 3 Established) and whose data is the
/// type of the message, one octet.
fn fsm_error(state: State, message_type: u8) -> Notification {
    let subcode = match state {
        State::OpenSent => subcode::UNEXPECTED_MESSAGE_IN_OPEN_SENT,
        State::OpenConfirm => subcode::UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM,
        _ => subcode::UNEXPECTED_MESSAGE_IN_ESTABLISHED,
    };
    Notification { code: code::FSM, subcode, data: vec![message_type] }
}

/// Whether `capabilities` offer IPv4 unicast routes with an IPv6 next hop (RFC 8950 §3).
fn offers_ipv4_over_ipv6(capabilities: &[Capability]) -> bool {
    capabilities.iter().any(|c| match c {
        Capability::ExtendedNextHop(tuples) => {
            tuples.iter().any(|t| (t.nlri_afi, t.nlri_safi, t.next_hop_afi) == (1, 1, 2))
        }
        _ => false,
    })
}
