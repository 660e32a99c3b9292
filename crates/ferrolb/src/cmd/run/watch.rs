//! Noticing that the configuration changed: inotify wakes ferrolb at once,
//! and a [`FileStamp`] (checked on every wake-up, and by polling where
//! inotify cannot help) says whether the file really changed. It works the
//! same for editors that write in place and for those that rename a new file
//! over the old one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use inotify::{EventStream, Inotify, WatchMask};

/// What identifies one version of a file (or directory of files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp(Vec<(PathBuf, Option<Version>)>);

/// Modification time, size and inode: any edit or replacement changes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Version {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now: modification time, size and inode of the
    /// file, or of each entry of the directory.
    pub fn of(path: &Path) -> FileStamp {
        let mut entries = vec![path.to_path_buf()];
        if let Ok(dir) = std::fs::read_dir(path) {
            entries.extend(dir.filter_map(|e| Some(e.ok()?.path())));
            entries.sort();
        }
        FileStamp(entries.into_iter().map(|p| (p.clone(), stamp(&p))).collect())
    }
}

fn stamp(path: &Path) -> Option<Version> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Version { modified: meta.modified().ok()?, len: meta.len(), inode: meta.ino() })
}

/// How often the stamp is checked when inotify cannot watch the file.
const POLL: Duration = Duration::from_millis(50);
/// How often it is checked anyway while inotify watches (a change it cannot
/// see: a network filesystem, a writer that never closes the file).
const SAFETY_POLL: Duration = Duration::from_secs(1);

/// Tells when the configuration changed: at once from inotify events on its
/// directory (a file closed after writing, renamed over, created or
/// removed; not every partial write), else by polling its [`FileStamp`].
pub struct ConfigWatch {
    path: PathBuf,
    stamp: FileStamp,
    events: Option<EventStream<[u8; 4096]>>,
    poll: tokio::time::Interval,
}

impl ConfigWatch {
    /// Watches `path` (a file, or a directory of files) from its current version.
    pub fn new(path: &Path) -> ConfigWatch {
        let events = match inotify_on(path) {
            Ok(events) => Some(events),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, poll = ?POLL, "no inotify; polling the file");
                None
            }
        };
        let every = if events.is_some() { SAFETY_POLL } else { POLL };
        let mut poll = tokio::time::interval(every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ConfigWatch { path: path.to_path_buf(), stamp: FileStamp::of(path), events, poll }
    }

    /// Resolves once the file's version differs from the last one returned.
    pub async fn changed(&mut self) {
        loop {
            let events = self.events.as_mut();
            tokio::select! {
                event = next_event(events) => {
                    if event.is_none() {
                        // The inotify descriptor is gone: fall back to polling.
                        self.events = None;
                        self.poll = tokio::time::interval(POLL);
                    }
                }
                _ = self.poll.tick() => {}
            }
            let now = FileStamp::of(&self.path);
            if now != self.stamp {
                self.stamp = now;
                return;
            }
        }
    }
}

async fn next_event(events: Option<&mut EventStream<[u8; 4096]>>) -> Option<()> {
    match events {
        Some(events) => events.next().await.and_then(Result::ok).map(|_| ()),
        None => std::future::pending().await,
    }
}

/// An inotify stream on the directory holding `path` (or on `path` itself
/// when it is a directory), so that a file renamed over it is seen too.
fn inotify_on(path: &Path) -> std::io::Result<EventStream<[u8; 4096]>> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let inotify = Inotify::init()?;
    inotify.watches().add(
        &dir,
        WatchMask::CLOSE_WRITE
            | WatchMask::MOVED_TO
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::ATTRIB,
    )?;
    inotify.into_event_stream([0; 4096])
}
