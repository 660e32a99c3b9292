//! The other speakers' link-layer addresses resolved again as soon as a
//! partition heals. While a Node is unreachable, the kernel's neighbour
//! entry for it cycles through resolving (`INCOMPLETE`, one ARP request or
//! Neighbor Solicitation per `retrans_time`, 1 s by default) and `FAILED`;
//! the gossip's datagrams wait in it. When the link comes back, nothing
//! flows between the two sides until the next retransmission, and
//! meanwhile each side's leader answers ARP for the same VIPs (measured
//! 0.6–1.3 s of two MACs after a link came back). Deleting such an entry
//! makes the next datagram (the gossip retries a lost Node every 80 ms)
//! resolve at once: the other side answers the request, and its kernel
//! learns our address from it too.
//!
//! Only entries that are resolving or failed, for the addresses of Nodes
//! the gossip does not hold alive, are touched; at most every
//! [`RETRY_EVERY`], which is also the rate of the requests it causes while
//! a Node stays unreachable (one per unreachable address and period).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ferrolb_membership::{Admitted, Unresponsive};
use futures_util::TryStreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::NodeError;

/// How often unreachable speakers' entries are made to resolve again.
pub const RETRY_EVERY: Duration = Duration::from_millis(100);

/// The entries of `entries` to delete: resolving or failed, for one of `unreachable`.
fn stuck<'a>(
    entries: &'a [NeighbourMessage],
    unreachable: &'a BTreeSet<IpAddr>,
) -> impl Iterator<Item = &'a NeighbourMessage> {
    entries.iter().filter(|entry| {
        matches!(entry.header.state, NeighbourState::Incomplete | NeighbourState::Failed)
            && destination(entry).is_some_and(|ip| unreachable.contains(&ip))
    })
}

fn destination(entry: &NeighbourMessage) -> Option<IpAddr> {
    entry.attributes.iter().find_map(|attribute| match attribute {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        _ => None,
    })
}

/// Deletes the stuck entries for `unreachable`; how many.
async fn retry(handle: &Handle, unreachable: &BTreeSet<IpAddr>) -> Result<usize, NodeError> {
    let entries: Vec<NeighbourMessage> = handle.neighbours().get().execute().try_collect().await?;
    let mut deleted = 0;
    for entry in stuck(&entries, unreachable) {
        // Gone meanwhile (resolved, or deleted by the kernel): nothing to do.
        if handle.neighbours().del(entry.clone()).execute().await.is_ok() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The addresses of the Nodes the gossip admits but does not hold alive,
/// and of the leaders we watch that do not answer us (after a partition,
/// the gossip may hold a Node alive through a third one while our own
/// datagrams to it still wait in the kernel).
fn unreachable(
    admitted: &Admitted,
    alive: &BTreeSet<String>,
    unresponsive: &Unresponsive,
) -> BTreeSet<IpAddr> {
    admitted
        .iter()
        .filter(|(name, _)| !alive.contains(*name) || unresponsive.contains_key(*name))
        .flat_map(|(_, ips)| ips.iter().copied())
        .collect()
}

/// The task that keeps unreachable speakers' entries resolving; stopped when dropped.
pub struct Resolver(tokio::task::JoinHandle<()>);

impl Resolver {
    /// Starts it on the current runtime.
    pub fn spawn(
        alive: watch::Receiver<BTreeSet<String>>,
        unresponsive: watch::Receiver<Unresponsive>,
        admitted: watch::Receiver<Admitted>,
    ) -> Resolver {
        Resolver(tokio::spawn(async move {
            if let Err(error) = keep_resolving(alive, unresponsive, admitted).await {
                warn!(
                    %error,
                    "cannot make the kernel resolve unreachable speakers again: after a partition heals, two nodes may answer for a VIP until it does (net.ipv4.neigh.IFACE.retrans_time_ms)"
                );
            }
        }))
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs until the gossip or the Nodes' channel closes: every
/// [`RETRY_EVERY`] while some admitted Node is unreachable, deletes the
/// stuck entries of its addresses.
async fn keep_resolving(
    mut alive: watch::Receiver<BTreeSet<String>>,
    mut unresponsive: watch::Receiver<Unresponsive>,
    mut admitted: watch::Receiver<Admitted>,
) -> Result<(), NodeError> {
    let (connection, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(connection);
    let mut tick = tokio::time::interval(RETRY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let lost = unreachable(
            &admitted.borrow_and_update(),
            &alive.borrow_and_update(),
            &unresponsive.borrow_and_update(),
        );
        if lost.is_empty() {
            // Nothing to do until the gossip or the Nodes change.
            let changed = tokio::select! {
                changed = alive.changed() => changed,
                changed = unresponsive.changed() => changed,
                changed = admitted.changed() => changed,
            };
            if changed.is_err() {
                return Ok(());
            }
            continue;
        }
        tick.tick().await;
        let deleted = retry(&handle, &lost).await?;
        if deleted > 0 {
            debug!(deleted, addresses = ?lost, "neighbour entries of unreachable speakers resolving again");
        }
        if alive.has_changed().is_err()
            || unresponsive.has_changed().is_err()
            || admitted.has_changed().is_err()
        {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ip: &str, state: NeighbourState) -> NeighbourMessage {
        let mut entry = NeighbourMessage::default();
        entry.header.state = state;
        let address = match ip.parse().unwrap() {
            IpAddr::V4(ip) => NeighbourAddress::Inet(ip),
            IpAddr::V6(ip) => NeighbourAddress::Inet6(ip),
        };
        entry.attributes.push(NeighbourAttribute::Destination(address));
        entry
    }

    #[test]
    fn unreachable_speakers_are_those_not_alive_or_not_answering_us() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let admitted: Admitted =
            [("node1", "198.51.100.11"), ("node2", "198.51.100.12"), ("node3", "198.51.100.13")]
                .into_iter()
                .map(|(n, a)| (n.to_owned(), BTreeSet::from([ip(a)])))
                .collect();
        let alive: BTreeSet<String> = ["node1", "node2"].map(str::to_owned).into();
        let mut unresponsive = Unresponsive::new();
        assert_eq!(unreachable(&admitted, &alive, &unresponsive), BTreeSet::from([ip("198.51.100.13")]));
        unresponsive.insert("node1".to_owned(), std::time::Instant::now());
        assert_eq!(
            unreachable(&admitted, &alive, &unresponsive),
            BTreeSet::from([ip("198.51.100.11"), ip("198.51.100.13")])
        );
    }

    #[test]
    fn only_resolving_or_failed_entries_of_unreachable_speakers_are_stuck() {
        let entries = [
            entry("198.51.100.12", NeighbourState::Incomplete),
            entry("198.51.100.12", NeighbourState::Reachable),
            entry("2001:db8::12", NeighbourState::Failed),
            entry("198.51.100.13", NeighbourState::Incomplete),
            entry("198.51.100.2", NeighbourState::Failed),
        ];
        let unreachable: BTreeSet<IpAddr> =
            ["198.51.100.12", "2001:db8::12", "198.51.100.13"].iter().map(|a| a.parse().unwrap()).collect();
        let stuck: Vec<(Option<IpAddr>, NeighbourState)> =
            stuck(&entries, &unreachable).map(|e| (destination(e), e.header.state)).collect();
        assert_eq!(
            stuck,
            [
                (Some("198.51.100.12".parse().unwrap()), NeighbourState::Incomplete),
                (Some("2001:db8::12".parse().unwrap()), NeighbourState::Failed),
                (Some("198.51.100.13".parse().unwrap()), NeighbourState::Incomplete),
            ]
        );
    }
}
