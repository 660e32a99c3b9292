//! The assignments of the last run, kept on disk so that a restart gives
//! every Service the IPs it had. The file's format, its reading (which never
//! trusts a damaged file) and the digest are `ferrolb_ipam::state_file`;
//! this module is the I/O around them.

use std::io;
use std::path::{Path, PathBuf};

use ferrolb_ipam::Assignments;
use ferrolb_ipam::state_file;
pub use ferrolb_ipam::state_file::digest;

/// `STATE_DIR/NODE.assignments.json`, written atomically; the one it
/// replaced is kept as `….prev`, to start from if the file is damaged.
#[derive(Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file of `node` in `dir`.
    pub fn new(dir: &Path, node: &str) -> Self {
        StateFile { path: dir.join(format!("{node}.assignments.json")) }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved assignments; none when there is no file yet. A damaged
    /// file is never trusted: it is said so, kept aside as `….damaged`, and
    /// the one before it (`….prev`) is used — the same file with one change
    /// less, from which this node's allocation comes to the others' again —
    /// or none. Only a file that cannot be read at all is an error.
    pub fn load(&self) -> anyhow::Result<Assignments> {
        let previous = self.previous();
        match read(&self.path) {
            Ok(Some(assignments)) => return Ok(assignments),
            Ok(None) => {}
            Err(Damaged(why)) => {
                let aside = self.path.with_extension("json.damaged");
                tracing::error!(file = %self.path.display(), error = %why, kept_as = %aside.display(),
                    "the state file is damaged and is not trusted; starting from the one before it");
                std::fs::rename(&self.path, &aside)?;
            }
        }
        match read(&previous) {
            Ok(Some(assignments)) => {
                tracing::warn!(file = %previous.display(), services = assignments.len(), "starting from the previous state file");
                Ok(assignments)
            }
            Ok(None) => Ok(Assignments::default()),
            Err(Damaged(why)) => {
                tracing::error!(file = %previous.display(), error = %why, "the previous state file is damaged too: starting from none");
                Ok(Assignments::default())
            }
        }
    }

    fn previous(&self) -> PathBuf {
        self.path.with_extension("json.prev")
    }

    /// Replaces the file with `assignments` ([`Assignments`], or those of an
    /// allocation): written beside it, then renamed over it, so a crash
    /// never leaves half a file.
    pub fn save(&self, assignments: &impl serde::Serialize) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut file = io::BufWriter::new(std::fs::File::create(&tmp)?);
        state_file::encode(&mut file, assignments)?;
        io::Write::flush(&mut file)?;
        drop(file);
        // The file replaced stays as the previous one. (Between the two
        // renames there is no file, and `load` takes the previous one.)
        match std::fs::rename(&self.path, self.previous()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

/// Why a state file cannot be trusted.
struct Damaged(String);

/// The assignments of `path`; `None` when there is no such file.
fn read(path: &Path) -> Result<Option<Assignments>, Damaged> {
    match std::fs::read(path) {
        Ok(bytes) => state_file::decode(&bytes).map(Some).map_err(|e| Damaged(e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Damaged(e.to_string())),
    }
}
