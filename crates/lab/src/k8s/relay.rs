//! A relay that lets a process in a lab namespace reach the API server,
//! which listens on the loopback of the test's own namespace: it listens on
//! `127.0.0.1:PORT` inside the namespace and copies every connection to
//! `127.0.0.1:PORT` outside, so one kubeconfig (and one certificate name)
//! serves both. No packet leaves a loopback interface.
//!
//! ```text
//!   ┌─ node namespace ──────────────┐        ┌─ test's namespace ───────────┐
//!   │ ferrolb speaker ─► 127.0.0.1:P │═relay═►│ 127.0.0.1:P  kube-apiserver  │
//!   └───────────────────────────────┘ (this  └──────────────────────────────┘
//!                                      process's threads)
//! ```

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// Relays `127.0.0.1:PORT` in one namespace to the same port outside; stops when dropped.
#[derive(Debug)]
pub struct ApiRelay {
    stop: Arc<AtomicBool>,
    /// Both ends of every relayed connection, shut down when the relay stops.
    open: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl ApiRelay {
    /// Starts relaying `port` from inside `netns` to this namespace's loopback.
    pub fn start(netns: &Netns, port: u16) -> Result<ApiRelay> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = listen_inside(netns.name(), addr).map_err(|e| {
            Error::io("listen (relay to the API server) on", format!("{}:{addr}", netns.name()), e)
        })?;
        ApiRelay::serve(listener, addr, Duration::ZERO)
    }

    /// Relays a new loopback port of this namespace to `port`, each byte
    /// sent towards the API server held back `latency` (a slow link): a
    /// client's write reaches the server that much after its read, and
    /// other clients' writes land in between. The relay and its port.
    pub fn with_latency(port: u16, latency: Duration) -> Result<(ApiRelay, u16)> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("listen (slow relay to the API server) on", "127.0.0.1:0", e))?;
        let local =
            listener.local_addr().map_err(|e| Error::io("read the address of", "the slow relay", e))?;
        let relay = ApiRelay::serve(listener, SocketAddr::from((Ipv4Addr::LOCALHOST, port)), latency)?;
        Ok((relay, local.port()))
    }

    fn serve(listener: TcpListener, target: SocketAddr, latency: Duration) -> Result<ApiRelay> {
        listener.set_nonblocking(true).map_err(|e| Error::io("configure", target.to_string(), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, open) = (Arc::clone(&stop), Arc::clone(&open));
            thread::spawn(move || accept_loop(&listener, target, latency, &stop, &open))
        };
        Ok(ApiRelay { stop, open, accept: Some(accept) })
    }
}

impl Drop for ApiRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for stream in self.open.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// A listener bound inside `netns`: a socket keeps the namespace it was
/// made in, so a short-lived thread enters the namespace, binds and returns.
fn listen_inside(netns: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    let path = format!("/var/run/netns/{netns}");
    thread::spawn(move || {
        let namespace = std::fs::File::open(&path)?;
        setns(&namespace, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        TcpListener::bind(addr)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the thread binding the relay panicked")))
}

fn accept_loop(
    listener: &TcpListener,
    target: SocketAddr,
    latency: Duration,
    stop: &AtomicBool,
    open: &Mutex<Vec<TcpStream>>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((inside, _)) => {
                // Connected from this thread, which is in the test's namespace.
                let Ok(outside) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                    let _ = inside.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = inside.set_nonblocking(false);
                if let Err(e) = relay(inside, outside, latency, open) {
                    tracing::warn!(error = %e, "API relay connection failed");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                tracing::warn!(error = %e, "API relay stopped accepting");
                return;
            }
        }
    }
}

/// Copies bytes both ways on two threads (those towards the API server
/// `latency` late); each direction's end closes the other's writing half.
fn relay(
    inside: TcpStream,
    outside: TcpStream,
    latency: Duration,
    open: &Mutex<Vec<TcpStream>>,
) -> io::Result<()> {
    {
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|s| s.peer_addr().is_ok());
        open.push(inside.try_clone()?);
        open.push(outside.try_clone()?);
    }
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    match latency.is_zero() {
        true => copy(inside.try_clone()?, outside.try_clone()?),
        false => {
            let (from, to) = (inside.try_clone()?, outside.try_clone()?);
            thread::spawn(move || copy_late(from, to, latency))
        }
    };
    copy(outside, inside);
    Ok(())
}

/// Copies `from` to `to`, each chunk written `latency` after it was read:
/// a reader that queues what it reads with the time, and a writer that
/// waits for each chunk's time (so the link is slow, not narrow).
fn copy_late(mut from: TcpStream, mut to: TcpStream, latency: Duration) {
    let (queue, chunks) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        for (read_at, chunk) in chunks {
            thread::sleep((read_at + latency).saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer) {
        if queue.send((Instant::now(), buffer[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(queue);
    let _ = writer.join();
}
