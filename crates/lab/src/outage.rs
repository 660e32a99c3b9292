//! Measuring a failover as a client sees it: every node runs a UDP server
//! that answers with its name; a prober in the client's namespace sends a
//! request every few milliseconds and writes down each answer with the time
//! it came back. The outage is the longest silence after the failure.
//!
//! Both sides are small Python programs run inside the namespaces (python3
//! is in every Debian image), so the measuring process needs no namespace
//! switching, and the timestamps are the client's own (wall clock, seconds).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::netns::{Netns, STOP_GRACE};

/// Answers every datagram with `NAME SEQ` (IPv4 and IPv6, any address).
const NAME_SERVER: &str = r#"
import socket, sys
name, port = sys.argv[1].encode(), int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
while True:
    data, peer = s.recvfrom(64)
    s.sendto(name + b" " + data, peer)
"#;

/// Sends `SEQ` to the target every interval; prints `TIME SEQ NAME` per answer, flushed.
const PROBER: &str = r#"
import select, socket, sys, time
host, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.setblocking(False)
seq, next_send = 0, time.monotonic()
while True:
    now = time.monotonic()
    if now >= next_send:
        try:
            s.sendto(str(seq).encode(), (host, port))
        except OSError:
            pass
        seq += 1
        next_send += interval
        if next_send < now:
            next_send = now + interval
    ready, _, _ = select.select([s], [], [], max(0.0, next_send - time.monotonic()))
    if ready:
        try:
            data, _ = s.recvfrom(128)
        except OSError:
            continue
        name, _, number = data.decode(errors="replace").partition(" ")
        print(f"{time.time():.6f} {number} {name}", flush=True)
"#;

/// Starts the UDP name server of `name` on `port` in `ns`; returns its pid.
pub fn start_name_server(ns: &Netns, name: &str, port: u16) -> Result<u32> {
    let mut c = ns.command("python3");
    c.args(["-c", NAME_SERVER, name, &port.to_string()]);
    ns.spawn(c, &ns.dir().join("udp-name-server.log"))
}

/// A client sending a request every interval and recording the answers.
#[derive(Debug)]
pub struct Prober<'a> {
    ns: &'a Netns,
    pid: u32,
    log: PathBuf,
}

impl<'a> Prober<'a> {
    /// Starts probing `target:port` from `ns` every `interval`.
    pub fn start(ns: &'a Netns, target: std::net::IpAddr, port: u16, interval: Duration) -> Result<Self> {
        let log = ns.dir().join(format!("prober-{}.log", now()));
        let mut c = ns.command("python3");
        c.args([
            "-u",
            "-c",
            PROBER,
            &target.to_string(),
            &port.to_string(),
            &interval.as_secs_f64().to_string(),
        ]);
        let pid = ns.spawn(c, &log)?;
        Ok(Prober { ns, pid, log })
    }

    /// The answers so far.
    pub fn answers(&self) -> Result<Answers> {
        let text = std::fs::read_to_string(&self.log).map_err(|e| Error::io("read", &self.log, e))?;
        Ok(Answers::parse(&text))
    }

    /// Stops probing; returns every answer.
    pub fn stop(self) -> Result<Answers> {
        self.ns.stop(self.pid, STOP_GRACE);
        self.answers()
    }
}

/// The answers a [`Prober`] got: (client time in seconds since the epoch, server name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    /// In the order they arrived.
    pub replies: Vec<(f64, String)>,
}

/// A silence in the answers around a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// From the last answer before the silence to the first after it.
    pub duration: Duration,
    /// Who answered before.
    pub before: String,
    /// Who answered after.
    pub after: String,
}

impl Answers {
    /// Reads the prober's output (malformed lines are skipped).
    pub fn parse(text: &str) -> Answers {
        let replies = text
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let time = words.next()?.parse().ok()?;
                let _seq = words.next()?;
                Some((time, words.next()?.to_owned()))
            })
            .collect();
        Answers { replies }
    }

    /// The longest silence that ends after `failure` (seconds since the
    /// epoch, [`now`]), counted from the last answer at or before it; `None`
    /// when nobody answered after the failure.
    pub fn outage_after(&self, failure: f64) -> Option<Outage> {
        let mut best: Option<Outage> = None;
        for pair in self.replies.windows(2) {
            let ((t0, before), (t1, after)) = (&pair[0], &pair[1]);
            if *t1 <= failure {
                continue;
            }
            let duration = Duration::from_secs_f64((t1 - t0).max(0.0));
            if best.as_ref().is_none_or(|b| duration > b.duration) {
                best = Some(Outage { duration, before: before.clone(), after: after.clone() });
            }
        }
        best
    }

    /// Who answered last.
    pub fn last(&self) -> Option<&str> {
        self.replies.last().map(|(_, name)| name.as_str())
    }
}

/// The wall clock in seconds since the epoch, as the prober writes it.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outage_is_the_longest_silence_after_the_failure() {
        let answers = Answers::parse(
            "100.00 1 node1\n100.01 2 node1\n100.02 3 node1\nbad line\n100.45 40 node2\n100.46 41 node2\n",
        );
        let outage = answers.outage_after(100.015).unwrap();
        assert_eq!((outage.before.as_str(), outage.after.as_str()), ("node1", "node2"));
        assert!((outage.duration.as_secs_f64() - 0.43).abs() < 1e-6, "{outage:?}");
        // A silence that ended before the failure does not count.
        assert_eq!(answers.outage_after(100.5), None);
        assert_eq!(answers.last(), Some("node2"));
    }
}
