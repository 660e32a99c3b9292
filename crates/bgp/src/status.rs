//! What a session has done, as an operator asks it: its state and since
//! when, the messages of each type sent and received, the prefixes it
//! advertises and the last error. The driver keeps one per peer; metrics
//! (MetalLB's `metallb_bgp_*`) and `ferrolb status` read it.

use std::time::SystemTime;

use crate::fsm::State;
use crate::message::{Message, Notification};

/// How many messages of each type (RFC 4271 §4, RFC 2918).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// OPENs.
    pub opens: u64,
    /// UPDATEs.
    pub updates: u64,
    /// NOTIFICATIONs.
    pub notifications: u64,
    /// KEEPALIVEs.
    pub keepalives: u64,
    /// ROUTE-REFRESHes.
    pub route_refreshes: u64,
}

impl MessageCounts {
    /// Counts `message`.
    pub fn count(&mut self, message: &Message) {
        let counter = match message {
            Message::Open(_) => &mut self.opens,
            Message::Update(_) => &mut self.updates,
            Message::Notification(_) => &mut self.notifications,
            Message::Keepalive => &mut self.keepalives,
            Message::RouteRefresh(_) => &mut self.route_refreshes,
        };
        *counter += 1;
    }

    /// Every message, whatever its type.
    pub fn total(&self) -> u64 {
        self.opens + self.updates + self.notifications + self.keepalives + self.route_refreshes
    }
}

/// One session, as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The FSM's state.
    pub state: State,
    /// Since when it is Established (wall clock, for an operator); `None` when it is not.
    pub established_since: Option<SystemTime>,
    /// How many times it reached Established.
    pub established_count: u64,
    /// Messages sent, on either connection.
    pub sent: MessageCounts,
    /// Messages received, on either connection.
    pub received: MessageCounts,
    /// The prefixes the peer has been sent and not withdrawn (while Established).
    pub advertised_prefixes: usize,
    /// The prefixes the peer should have.
    pub desired_prefixes: usize,
    /// Why the last session ended or could not start: a NOTIFICATION sent or
    /// received, a connection error.
    pub last_error: Option<String>,
}

impl Default for PeerStatus {
    fn default() -> Self {
        PeerStatus {
            state: State::Idle,
            established_since: None,
            established_count: 0,
            sent: MessageCounts::default(),
            received: MessageCounts::default(),
            advertised_prefixes: 0,
            desired_prefixes: 0,
            last_error: None,
        }
    }
}

impl PeerStatus {
    /// Whether routes flow.
    pub fn is_up(&self) -> bool {
        self.state == State::Established
    }

    /// The session moved to `state` at `now`.
    pub fn enter(&mut self, state: State, now: SystemTime) {
        if state == State::Established && self.state != State::Established {
            self.established_since = Some(now);
            self.established_count += 1;
        } else if state != State::Established {
            self.established_since = None;
            self.advertised_prefixes = 0;
        }
        self.state = state;
    }

    /// A NOTIFICATION went out (`sent`) or came in: the session's last error.
    pub fn notification(&mut self, notification: &Notification, sent: bool) {
        let reason = notification.name().map_or_else(|| format!("{notification:?}"), str::to_owned);
        let way = if sent { "sent" } else { "received" };
        self.last_error = Some(format!("NOTIFICATION {way}: {reason}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_counts_under_its_type() {
        let mut counts = MessageCounts::default();
        counts.count(&Message::Keepalive);
        counts.count(&Message::Keepalive);
        counts.count(&Message::Notification(Notification::new(6, 2)));
        assert_eq!(counts.keepalives, 2);
        assert_eq!(counts.notifications, 1);
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn established_is_timed_and_counted_once_per_session() {
        let mut status = PeerStatus::default();
        let t = SystemTime::UNIX_EPOCH;
        status.enter(State::OpenConfirm, t);
        status.enter(State::Established, t);
        status.enter(State::Established, SystemTime::now());
        assert_eq!((status.established_since, status.established_count), (Some(t), 1));
        assert!(status.is_up());
        status.advertised_prefixes = 3;
        status.enter(State::Idle, t);
        assert_eq!((status.established_since, status.advertised_prefixes), (None, 0));
        status.enter(State::Established, t);
        assert_eq!(status.established_count, 2);
    }

    #[test]
    fn the_last_error_names_the_notification() {
        let mut status = PeerStatus::default();
        status.notification(&Notification::new(6, 2), true);
        let error = status.last_error.clone().unwrap();
        assert!(error.starts_with("NOTIFICATION sent: Cease"), "{error}");
    }
}
