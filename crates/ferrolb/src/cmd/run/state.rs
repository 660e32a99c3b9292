//! The assignments of the last run, kept on disk so that a restart gives
//! every Service the IPs it had (MetalLB reads them back from the Services'
//! status; without Kubernetes there is no status to read).

use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use ferrolb_ipam::{AssignmentEntry, Assignments};

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

    /// Replaces the file with `assignments` ([`Assignments`], or those of an
    /// allocation): written beside it, then renamed over it, so a crash
    /// never leaves half a file.
    pub fn save(&self, assignments: &impl serde::Serialize) -> anyhow::Result<()> {
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

/// A digest of assignments (namespace, name, pool, addresses; sorted by
/// Service): the same assignments give the same digest, from the file or
/// from an allocation.
pub fn digest<'a>(assignments: impl Iterator<Item = AssignmentEntry<'a>>) -> u64 {
    // SipHash with fixed keys: the same in every run.
    let mut hasher = std::hash::DefaultHasher::new();
    for entry in assignments {
        entry.hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn assignments_and_the_allocation_that_makes_them_have_one_digest() {
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut assignments = Assignments::new();
        assignments.insert("default", "web", "p", vec![a]);
        assignments.insert("default", "api", "p", vec![b]);
        let of_file = digest(assignments.entries());
        let listed = [("default", "api", "p", &[b][..]), ("default", "web", "p", &[a][..])];
        assert_eq!(of_file, digest(listed.into_iter()));
        let moved = [("default", "api", "p", &[a][..]), ("default", "web", "p", &[b][..])];
        assert_ne!(of_file, digest(moved.into_iter()));
    }
}
