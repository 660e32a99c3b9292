//! What the driver tests share: a thread inside a test's namespace, waiting for a state or
//! for the drop counters.

use std::time::Duration;

use ferrolb_bfd::State;
use ferrolb_bfd::driver::{Bfd, Dropped, PeerState};
use ferrolb_lab::Netns;
use nix::sched::{CloneFlags, setns};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// Long enough for a slow start of FRR and a 1 s slow-rate handshake on a busy machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `body` on a thread inside `ns`, with a tokio runtime whose worker threads and sockets
/// live there too. A panic in `body` fails the test.
pub fn in_netns<T: Send>(ns: &Netns, body: impl FnOnce(&Runtime) -> T + Send) -> T {
    on_a_thread_in(ns, body, || {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()
    })
}

/// As [`in_netns`], on one thread and tokio's paused clock, for drivers that talk only to each
/// other (the driver takes its time from tokio): time passes only while both wait, so a busy
/// machine cannot stretch an interval into a detection time.
pub fn in_netns_on_paused_clock<T: Send>(ns: &Netns, body: impl FnOnce(&Runtime) -> T + Send) -> T {
    on_a_thread_in(ns, body, || {
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
    })
}

fn on_a_thread_in<T: Send>(
    ns: &Netns,
    body: impl FnOnce(&Runtime) -> T + Send,
    runtime: impl FnOnce() -> std::io::Result<Runtime> + Send,
) -> T {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            enter(ns);
            body(&runtime().expect("tokio runtime"))
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread into `ns`; sockets it opens afterwards live there.
pub fn enter(ns: &Netns) {
    let file = std::fs::File::open(format!("/run/netns/{}", ns.name())).expect("namespace file");
    setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
}

/// Waits until the session's state satisfies `check`; returns it.
pub fn wait_state(
    runtime: &Runtime,
    rx: &mut watch::Receiver<PeerState>,
    what: &str,
    check: impl FnMut(&PeerState) -> bool,
) -> PeerState {
    runtime.block_on(async {
        let waited = tokio::time::timeout(DEADLINE, rx.wait_for(check)).await.map(|r| r.map(|s| *s));
        match waited {
            Ok(Ok(state)) => state,
            Ok(Err(_)) => panic!("waiting for {what}: the session's state channel closed"),
            Err(_) => panic!("waiting for {what}: after {DEADLINE:?} the session is {:?}", *rx.borrow()),
        }
    })
}

/// Whether the session is Up.
pub fn up(s: &PeerState) -> bool {
    s.state == State::Up
}

/// Waits until the driver's drop counters satisfy `check`.
pub fn wait_dropped(runtime: &Runtime, bfd: &Bfd, mut check: impl FnMut(&Dropped) -> bool) {
    runtime.block_on(async {
        let counted = async {
            while !check(&bfd.dropped()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(DEADLINE, counted)
            .await
            .unwrap_or_else(|_| panic!("the driver did not count the datagrams: {:?}", bfd.dropped()));
    });
}
