//! Noticing that the configuration changed, by polling: it works the same
//! for editors that write in place and for those that rename a new file over
//! the old one, and for files on any filesystem.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
