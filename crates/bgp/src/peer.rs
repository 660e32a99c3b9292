//! Both connections to one peer, and which one survives (RFC 4271 §6.8): pure.
//!
//! A [`Session`] runs one connection. When both sides connect at once, a
//! peer has two for a moment: the *main* one (ours, or one we accepted while
//! we had none) and a *candidate*, accepted while the main one was open and
//! run by a second [`Session`] until the peer's OPEN arrives on it. Then:
//! - the main session is Established: the candidate loses;
//! - the main connection is ours and in OpenSent/OpenConfirm: the speaker
//!   with the higher BGP identifier keeps the connection it opened
//!   ([`resolve_collision`]);
//! - otherwise (the main connection was accepted too, or is gone): the
//!   candidate wins, the newer connection.
//!
//! The loser is sent Cease / Connection Collision Resolution (6/7) and
//! closed; a winning candidate becomes the main session ([`PeerOutput::Promote`])
//! and carries on its reconnect history. A main session reaching Established
//! ends a candidate at once. So after the OPENs at most one connection per
//! peer remains.
//!
//! The driver names connections by [`Slot`], performs the [`PeerOutput`]s in
//! order and keeps the time as for a [`Session`] ([`Peer::poll_timeout`]).

use std::time::Instant;

use crate::fsm::{Input, Keep, Negotiated, Output, Session, SessionConfig, State, resolve_collision};
use crate::message::{DecodeError, Message, RouteRefresh, Update};
use crate::types::RouterId;

/// Which of the peer's connections an event or an output is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The session's connection.
    Main,
    /// A connection the peer opened while the main one was open.
    Candidate,
}

/// What happens to the peer's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "short-lived, moved straight from the driver into handle()")]
pub enum PeerInput {
    /// The operator starts the session.
    Start,
    /// The operator stops it, with an optional RFC 9003 message.
    Stop(Option<String>),
    /// The forwarding path failed (BFD Down): see [`Input::PathDown`].
    PathDown,
    /// The forwarding path works again.
    PathUp,
    /// Our outgoing connection attempt succeeded (answered by [`PeerOutput::Adopt`] or [`PeerOutput::Refuse`]).
    Connected,
    /// Our outgoing connection attempt failed.
    ConnectFailed,
    /// The peer opened a connection (answered by [`PeerOutput::Adopt`] or [`PeerOutput::Refuse`]).
    Accepted,
    /// A connection closed.
    Closed(Slot),
    /// A whole message arrived and decoded.
    Received(Slot, Message),
    /// A message arrived that did not decode.
    Malformed(Slot, DecodeError),
    /// The peer took nothing sent on this connection for the send hold time (RFC 9687).
    SendHoldTimerExpired(Slot),
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "short-lived, moved straight from handle() to the driver")]
pub enum PeerOutput {
    /// Start an outgoing connection attempt.
    Connect,
    /// Give up the outgoing attempt in progress.
    AbortConnect,
    /// Keep the connection just connected or accepted, in this slot.
    Adopt(Slot),
    /// Close the connection just connected or accepted.
    Refuse,
    /// Send a message on a connection.
    Send(Slot, Message),
    /// Close a connection (after sending what came before).
    Close(Slot),
    /// The candidate's connection becomes the main one (whose was closed before).
    Promote,
    /// The main session's state changed.
    StateChanged {
        /// The old state.
        from: State,
        /// The new state.
        to: State,
    },
    /// A collision was decided.
    Collision {
        /// The main session's state then.
        main_state: State,
        /// Which connection stays: the main (`Outgoing`) or the candidate (`Incoming`).
        kept: Keep,
        /// The peer's BGP identifier.
        remote_id: RouterId,
    },
    /// The main session is Established with these parameters.
    Established(Negotiated),
    /// An UPDATE arrived in Established.
    Update(Update),
    /// The peer asks for our routes of a family again.
    RouteRefresh(RouteRefresh),
}

/// One peer's session and its connections (see the module).
#[derive(Debug, Clone)]
pub struct Peer {
    config: SessionConfig,
    main: Session,
    /// The main session has a connection, and whether we opened it.
    main_connection: Option<Outgoing>,
    /// An outgoing attempt is in progress.
    connecting: bool,
    candidate: Option<Session>,
}

/// Whether a connection is one we opened.
type Outgoing = bool;

impl Peer {
    /// A peer in Idle, with no connection.
    pub fn new(config: SessionConfig) -> Peer {
        Peer {
            main: Session::new(config.clone()),
            config,
            main_connection: None,
            connecting: false,
            candidate: None,
        }
    }

    /// The main session.
    pub fn session(&self) -> &Session {
        &self.main
    }

    /// The session of `slot`, if it has one.
    pub fn slot_session(&self, slot: Slot) -> Option<&Session> {
        match slot {
            Slot::Main => Some(&self.main),
            Slot::Candidate => self.candidate.as_ref(),
        }
    }

    /// Whether a candidate connection is being run.
    pub fn has_candidate(&self) -> bool {
        self.candidate.is_some()
    }

    /// When the next timer of either session fires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let candidate = self.candidate.as_ref().and_then(Session::poll_timeout);
        [self.main.poll_timeout(), candidate].into_iter().flatten().min()
    }

    /// Runs the timers due at `now`; returns what to do.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<PeerOutput> {
        let mut out = Vec::new();
        let main = self.main.handle_timeout(now);
        self.main_outputs(now, main, &mut out);
        if let Some(candidate) = self.candidate.as_mut() {
            let outputs = candidate.handle_timeout(now);
            self.candidate_outputs(now, outputs, &mut out);
        }
        out
    }

    /// Feeds one event at `now`; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: PeerInput) -> Vec<PeerOutput> {
        let mut out = Vec::new();
        match input {
            PeerInput::Start => self.main_input(now, Input::ManualStart, &mut out),
            PeerInput::Stop(message) => {
                self.drop_candidate(&mut out);
                self.main_input(now, Input::ManualStop(message), &mut out);
            }
            PeerInput::PathDown => {
                self.drop_candidate(&mut out);
                self.main_input(now, Input::PathDown, &mut out);
            }
            PeerInput::PathUp => self.main_input(now, Input::PathUp, &mut out),
            PeerInput::Connected => {
                self.connecting = false;
                if self.main_connection.is_some()
                    || !matches!(self.main.state(), State::Connect | State::Active)
                {
                    out.push(PeerOutput::Refuse);
                    return out;
                }
                out.push(PeerOutput::Adopt(Slot::Main));
                self.main_connection = Some(true);
                self.main_input(now, Input::TcpConnected, &mut out);
            }
            PeerInput::ConnectFailed => {
                self.connecting = false;
                self.main_input(now, Input::TcpFailed, &mut out);
            }
            PeerInput::Accepted => self.accepted(now, &mut out),
            PeerInput::Closed(Slot::Main) => {
                // The session's Disconnect closes the slot; the driver then forgets what was sent.
                self.main_input(now, Input::TcpClosed, &mut out);
                if self.main_connection.take().is_some() {
                    out.push(PeerOutput::Close(Slot::Main));
                }
            }
            PeerInput::Closed(Slot::Candidate) => self.candidate = None,
            PeerInput::Received(slot, message) => {
                self.slot_input(now, slot, Input::MessageReceived(message), &mut out)
            }
            PeerInput::Malformed(slot, error) => {
                self.slot_input(now, slot, Input::DecodeFailed(error), &mut out)
            }
            PeerInput::SendHoldTimerExpired(slot) => {
                self.slot_input(now, slot, Input::SendHoldTimerExpired, &mut out)
            }
        }
        out
    }

    /// A connection the peer opened.
    fn accepted(&mut self, now: Instant, out: &mut Vec<PeerOutput>) {
        if self.main.path_down() {
            out.push(PeerOutput::Refuse);
            return;
        }
        if self.main_connection.is_none() {
            if self.main.state() == State::Idle {
                // Waiting to start again: the peer is evidently back.
                self.main_input(now, Input::IdleHoldTimerExpired, out);
            }
            if !matches!(self.main.state(), State::Connect | State::Active) {
                out.push(PeerOutput::Refuse); // stopped by the operator
                return;
            }
            if std::mem::take(&mut self.connecting) {
                out.push(PeerOutput::AbortConnect);
            }
            out.push(PeerOutput::Adopt(Slot::Main));
            self.main_connection = Some(false);
            self.main_input(now, Input::TcpConnected, out);
            return;
        }
        if self.candidate.is_some() {
            out.push(PeerOutput::Refuse); // one candidate at a time
            return;
        }
        out.push(PeerOutput::Adopt(Slot::Candidate));
        let mut candidate = Session::new(self.config.clone());
        let mut outputs = candidate.handle(now, Input::ManualStart);
        outputs.extend(candidate.handle(now, Input::TcpConnected));
        self.candidate = Some(candidate);
        self.candidate_outputs(now, outputs, out);
    }

    fn slot_input(&mut self, now: Instant, slot: Slot, input: Input, out: &mut Vec<PeerOutput>) {
        match slot {
            Slot::Main => self.main_input(now, input, out),
            Slot::Candidate => {
                if let Some(candidate) = self.candidate.as_mut() {
                    let outputs = candidate.handle(now, input);
                    self.candidate_outputs(now, outputs, out);
                }
            }
        }
    }

    fn main_input(&mut self, now: Instant, input: Input, out: &mut Vec<PeerOutput>) {
        let outputs = self.main.handle(now, input);
        self.main_outputs(now, outputs, out);
    }

    fn main_outputs(&mut self, now: Instant, outputs: Vec<Output>, out: &mut Vec<PeerOutput>) {
        for output in outputs {
            match output {
                Output::Connect => {
                    self.connecting = true;
                    out.push(PeerOutput::Connect);
                }
                Output::Disconnect => {
                    if self.main_connection.take().is_some() {
                        out.push(PeerOutput::Close(Slot::Main));
                    }
                    // An attempt still connecting is part of the connection being closed.
                    if std::mem::take(&mut self.connecting) {
                        out.push(PeerOutput::AbortConnect);
                    }
                }
                Output::Send(message) => out.push(PeerOutput::Send(Slot::Main, message)),
                Output::StateChanged { from, to } => out.push(PeerOutput::StateChanged { from, to }),
                Output::Established(negotiated) => {
                    out.push(PeerOutput::Established(negotiated));
                    // RFC 4271 §6.8: an Established session wins over a newer connection.
                    if let Some(mut candidate) = self.candidate.take() {
                        let outputs = candidate.handle(now, Input::CollisionDump);
                        out.extend(candidate_sends(outputs));
                        out.push(PeerOutput::Close(Slot::Candidate));
                    }
                }
                Output::Update(update) => out.push(PeerOutput::Update(update)),
                Output::RouteRefresh(refresh) => out.push(PeerOutput::RouteRefresh(refresh)),
            }
        }
    }

    /// The candidate's outputs; once the peer's OPEN arrived on it, the collision is decided.
    fn candidate_outputs(&mut self, now: Instant, outputs: Vec<Output>, out: &mut Vec<PeerOutput>) {
        let closed = outputs.contains(&Output::Disconnect);
        out.extend(candidate_sends(outputs));
        if closed {
            out.push(PeerOutput::Close(Slot::Candidate));
            self.candidate = None;
            return;
        }
        if self.candidate.as_ref().is_some_and(|c| c.state() == State::OpenConfirm) {
            self.resolve(now, out);
        }
    }

    /// The peer's OPEN arrived on the candidate: keep one connection (RFC 4271 §6.8).
    fn resolve(&mut self, now: Instant, out: &mut Vec<PeerOutput>) {
        let Some(remote_id) = self.candidate.as_ref().and_then(Session::negotiated).map(|n| n.peer_router_id)
        else {
            return;
        };
        let kept = match self.main.state() {
            State::Established => Keep::Outgoing,
            State::OpenSent | State::OpenConfirm if self.main_connection == Some(true) => {
                resolve_collision(self.config.router_id, remote_id)
            }
            _ => Keep::Incoming,
        };
        out.push(PeerOutput::Collision { main_state: self.main.state(), kept, remote_id });
        let Some(mut candidate) = self.candidate.take() else { return };
        if kept == Keep::Outgoing {
            let outputs = candidate.handle(now, Input::CollisionDump);
            out.extend(candidate_sends(outputs));
            out.push(PeerOutput::Close(Slot::Candidate));
            return;
        }
        if self.main_connection.is_some() {
            self.main_input(now, Input::CollisionDump, out);
        }
        if std::mem::take(&mut self.connecting) {
            out.push(PeerOutput::AbortConnect);
        }
        candidate.carry_on_from(&self.main);
        self.main = candidate;
        self.main_connection = Some(false);
        out.push(PeerOutput::Promote);
    }

    fn drop_candidate(&mut self, out: &mut Vec<PeerOutput>) {
        if self.candidate.take().is_some() {
            out.push(PeerOutput::Close(Slot::Candidate));
        }
    }
}

/// What a candidate session asks that the driver performs: only sends (it
/// never connects out, and its state and results are the peer's business).
fn candidate_sends(outputs: Vec<Output>) -> impl Iterator<Item = PeerOutput> {
    outputs.into_iter().filter_map(|o| match o {
        Output::Send(message) => Some(PeerOutput::Send(Slot::Candidate, message)),
        _ => None,
    })
}
