//! Requests a client would lose: numbered UDP datagrams sent from one
//! namespace to an address at a steady pace ([`Stream`]), and counted where
//! they arrive ([`Sink`]). A datagram that cannot be sent (no route) or does
//! not arrive is a lost request.
//!
//! Each socket is made by a short-lived thread that enters the namespace (a
//! socket keeps the namespace it was made in); the threads that send and
//! receive run in the test's own.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// How long a receive waits before looking whether it should stop.
const POLL: Duration = Duration::from_millis(20);

/// Receives the datagrams of a [`Stream`] on one UDP port of every address of a namespace.
pub struct Sink {
    stop: Arc<AtomicBool>,
    /// One receiving thread per family.
    threads: Vec<JoinHandle<BTreeSet<u64>>>,
}

impl Sink {
    /// Listens on `port` of every address of `ns`, IPv4 and IPv6, the VIPs it accepts included.
    pub fn bind(ns: &Netns, port: u16) -> Result<Sink> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(2);
        for any in [IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)] {
            // IPv6 only on the IPv6 socket, so that the IPv4 one gets the IPv4 datagrams
            // whatever `net.ipv6.bindv6only` says.
            let socket = inside(ns, move || bind_one(SocketAddr::new(any, port)))?;
            socket
                .set_read_timeout(Some(POLL))
                .map_err(|e| Error::io("set a read timeout on", ns.dir(), e))?;
            let stopping = Arc::clone(&stop);
            threads.push(thread::spawn(move || {
                let mut seen = BTreeSet::new();
                let mut buf = [0_u8; 64];
                while !stopping.load(Ordering::Relaxed) {
                    if let Ok(8) = socket.recv(&mut buf) {
                        seen.insert(u64::from_be_bytes(buf[..8].try_into().unwrap_or_default()));
                    }
                }
                seen
            }));
        }
        Ok(Sink { stop, threads })
    }

    /// Stops listening; the sequence numbers received.
    pub fn received(self) -> BTreeSet<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().flat_map(|t| t.join().unwrap_or_default()).collect()
    }
}

/// A UDP socket bound to `at`; an IPv6 one takes IPv6 datagrams only.
fn bind_one(at: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if at.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if at.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&at.into())?;
    Ok(socket.into())
}

/// Sends a datagram carrying its sequence number (0, 1, ...) every period.
pub struct Stream {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Stream {
    /// Starts sending from `ns` to `to` every `every`.
    pub fn start(ns: &Netns, to: SocketAddr, every: Duration) -> Result<Stream> {
        let any =
            if to.is_ipv6() { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
        let socket = inside(ns, move || UdpSocket::bind(SocketAddr::new(any, 0)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut sent = 0_u64;
            while !stopping.load(Ordering::Relaxed) {
                // An error (no route to the VIP) is a request lost like any other.
                let _ = socket.send_to(&sent.to_be_bytes(), to);
                sent += 1;
                // Paced from the start, so a slow send does not stretch the period.
                let next = start + every * u32::try_from(sent).unwrap_or(u32::MAX);
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            sent
        });
        Ok(Stream { stop, thread })
    }

    /// Stops sending; how many were sent.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// A [`Stream`] to each of several addresses at once, each on its own port
/// (so that their sequence numbers never mix), received on every namespace
/// that may take them: the requests a client of a dual-stack Service sends.
pub struct Flows {
    flows: Vec<(Stream, Vec<Sink>)>,
}

/// How long the last datagrams of a stopped [`Flows`] get to arrive.
const IN_FLIGHT: Duration = Duration::from_millis(100);

impl Flows {
    /// Sends from `from` to each of `to` (on `port`, `port + 1`, ...) every `every`, and
    /// listens on every namespace of `receivers`.
    pub fn start(
        from: &Netns,
        to: &[IpAddr],
        port: u16,
        receivers: &[&Netns],
        every: Duration,
    ) -> Result<Flows> {
        let mut flows = Vec::with_capacity(to.len());
        for (port, address) in (port..).zip(to) {
            let sinks = receivers.iter().map(|ns| Sink::bind(ns, port)).collect::<Result<Vec<_>>>()?;
            flows.push((Stream::start(from, SocketAddr::new(*address, port), every)?, sinks));
        }
        Ok(Flows { flows })
    }

    /// Stops sending; once the last datagrams had time to arrive, what every flow lost together.
    pub fn stop(self) -> Loss {
        let sent: Vec<(u64, Vec<Sink>)> =
            self.flows.into_iter().map(|(stream, sinks)| (stream.stop(), sinks)).collect();
        thread::sleep(IN_FLIGHT);
        Loss::together(sent.into_iter().map(|(sent, sinks)| {
            let received: BTreeSet<u64> = sinks.into_iter().flat_map(Sink::received).collect();
            Loss::of(sent, &received)
        }))
    }
}

/// What a [`Stream`] lost on its way to a [`Sink`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams that never arrived.
    pub lost: u64,
    /// The longest run of consecutive lost datagrams.
    pub longest_gap: u64,
}

impl Loss {
    /// The loss of `sent` datagrams of which `received` arrived.
    pub fn of(sent: u64, received: &BTreeSet<u64>) -> Loss {
        let mut lost = 0;
        let mut longest_gap = 0;
        let mut gap = 0;
        for seq in 0..sent {
            if received.contains(&seq) {
                gap = 0;
            } else {
                lost += 1;
                gap += 1;
                longest_gap = longest_gap.max(gap);
            }
        }
        Loss { sent, lost, longest_gap }
    }

    /// The loss of several streams together: their sums, and the longest gap of any.
    pub fn together(streams: impl IntoIterator<Item = Loss>) -> Loss {
        streams.into_iter().fold(Loss { sent: 0, lost: 0, longest_gap: 0 }, |all, one| Loss {
            sent: all.sent + one.sent,
            lost: all.lost + one.lost,
            longest_gap: all.longest_gap.max(one.longest_gap),
        })
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} lost (longest gap {})", self.lost, self.sent, self.longest_gap)
    }
}

/// Runs `make` on a thread inside `ns`.
fn inside<T: Send + 'static>(ns: &Netns, make: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T> {
    let path = format!("/var/run/netns/{}", ns.name());
    let made = thread::spawn(move || {
        let namespace = std::fs::File::open(&path)?;
        setns(&namespace, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        make()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the thread entering the namespace panicked")));
    made.map_err(|e| Error::io("open a UDP socket in the namespace of", ns.dir(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_counts_what_never_arrived_and_the_longest_gap() {
        let received: BTreeSet<u64> = [0, 1, 4, 5, 9].into();
        assert_eq!(Loss::of(10, &received), Loss { sent: 10, lost: 5, longest_gap: 3 });
        assert_eq!(Loss::of(2, &received), Loss { sent: 2, lost: 0, longest_gap: 0 });
        assert_eq!(Loss::of(0, &BTreeSet::new()), Loss { sent: 0, lost: 0, longest_gap: 0 });
    }

    #[test]
    fn streams_together_add_up_and_keep_the_longest_gap() {
        let v4 = Loss { sent: 100, lost: 3, longest_gap: 2 };
        let v6 = Loss { sent: 90, lost: 5, longest_gap: 4 };
        assert_eq!(Loss::together([v4, v6]), Loss { sent: 190, lost: 8, longest_gap: 4 });
        assert_eq!(Loss::together([]), Loss { sent: 0, lost: 0, longest_gap: 0 });
    }
}
