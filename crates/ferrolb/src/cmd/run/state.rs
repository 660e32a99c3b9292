//! The assignments of the last run, kept on disk so that a restart gives
//! every Service the IPs it had (MetalLB reads them back from the Services'
//! status; without Kubernetes there is no status to read).

use std::io;
use std::path::{Path, PathBuf};

use ferrolb_ipam::Assignments;

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

    /// The saved assignments; none when there is no file yet.
    pub fn load(&self) -> anyhow::Result<Assignments> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Assignments::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the file: written beside it, then renamed over it, so a crash
    /// never leaves half a file.
    pub fn save(&self, assignments: &Assignments) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        // Streamed: the JSON of 100,000 assignments is never in memory whole.
        let mut file = io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer_pretty(&mut file, assignments)?;
        io::Write::flush(&mut file)?;
        drop(file);
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}
