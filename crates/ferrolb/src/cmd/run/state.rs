//! The assignments of the last run, kept on disk so that a restart gives
//! every Service the IPs it had. The file's format, its reading (which never
//! trusts a damaged file) and the digest are `ferrolb_ipam::state_file`;
//! this module is the I/O around them.

use std::io;
use std::path::{Path, PathBuf};

use ferrolb_ipam::Assignments;
use ferrolb_ipam::state_file;
pub use ferrolb_ipam::state_file::digest;

/// `STATE_DIR/NODE.assignments.json`, written atomically.
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

    /// The saved assignments; none when there is no file yet, an error when
    /// it is damaged.
    pub fn load(&self) -> anyhow::Result<Assignments> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(state_file::decode(&bytes)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Assignments::default()),
            Err(e) => Err(e.into()),
        }
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
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}
