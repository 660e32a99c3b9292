//! The state file of `ferrolb run`: the [`Assignments`] of the last run, kept
//! on disk so that a restart gives every Service the addresses it had
//! (MetalLB reads them back from the Services' status; without Kubernetes
//! there is no status to read).
//!
//! A JSON list of `{namespace, name, pool, ips}` sorted by Service, as
//! [`Assignments`] and [`AssignmentsOf`](crate::AssignmentsOf) serialize.
//! Pure: the bytes in, the assignments out, and back; the binary reads,
//! writes and renames the file.
//!
//! The file is never trusted further than it reads: bytes that are not such
//! a list (a truncated write, a disk error, an edit gone wrong) or that name a
//! Service twice are a [`StateFileError`], never a panic and never a guess.
//! What a well-formed file says is only what the Services held: the
//! allocator's keep pass checks each address against today's pools, as it
//! checks the addresses of a Service's status.

use std::hash::{Hash, Hasher};
use std::io;

use serde::{Deserialize, Serialize};

use crate::assignments::{Assignment, AssignmentEntry, Assignments, ServiceKey};

/// Why the bytes of a state file are not assignments ferrolb wrote.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Not JSON, or not a list of `{namespace, name, pool, ips}`.
    #[error("not a list of {{namespace, name, pool, ips}} at line {line}, column {column}: {message}")]
    Syntax {
        /// The line where reading stopped, from 1.
        line: usize,
        /// The column where reading stopped, from 1 (0: before the line's first character).
        column: usize,
        /// What was wrong there.
        message: String,
    },
    /// One Service has two entries: ferrolb writes each Service once.
    #[error(
        "{service} is listed twice (entries {first} and {second}), where ferrolb writes each Service once"
    )]
    Duplicate {
        /// The Service.
        service: ServiceKey,
        /// Its first entry, counted from 1.
        first: usize,
        /// Its second entry, counted from 1.
        second: usize,
    },
}

/// One entry as read back: the Service and what it held.
#[derive(Deserialize)]
struct Entry {
    #[serde(flatten)]
    service: ServiceKey,
    #[serde(flatten)]
    assignment: Assignment,
}

/// The assignments in the bytes of a state file.
pub fn decode(bytes: &[u8]) -> Result<Assignments, StateFileError> {
    let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| StateFileError::Syntax {
        line: e.line(),
        column: e.column(),
        message: message_of(&e),
    })?;
    let mut order: Vec<(&ServiceKey, usize)> =
        entries.iter().enumerate().map(|(i, e)| (&e.service, i)).collect();
    order.sort_unstable();
    if let Some(pair) = order.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(StateFileError::Duplicate {
            service: pair[0].0.clone(),
            first: pair[0].1 + 1,
            second: pair[1].1 + 1,
        });
    }
    Ok(entries.into_iter().map(|e| (e.service, e.assignment)).collect())
}

/// serde_json's message without the position it appends (the error has it apart).
fn message_of(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    message.strip_suffix(&suffix).map(str::to_owned).unwrap_or(message)
}

/// Writes `assignments` ([`Assignments`], or those of an allocation as
/// [`AssignmentsOf`](crate::AssignmentsOf)) as the state file's bytes,
/// streamed: the JSON of 100,000 assignments is never in memory whole.
pub fn encode(writer: impl io::Write, assignments: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(writer, assignments).map_err(io::Error::from)
}

/// A digest of assignments (namespace, name, pool, addresses; sorted by
/// Service): the same assignments give the same digest, from the file or
/// from an allocation, so that an unchanged allocation is not written again.
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn two() -> Assignments {
        let mut assignments = Assignments::new();
        assignments.insert("default", "web", "p", vec![ip("192.0.2.1")]);
        assignments.insert("default", "api", "p", vec![ip("192.0.2.2"), ip("2001:db8::2")]);
        assignments
    }

    fn encoded(assignments: &Assignments) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(&mut bytes, assignments).unwrap();
        bytes
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let bytes = encoded(&two());
        assert_eq!(decode(&bytes).unwrap(), two());
        assert_eq!(decode(b"[]").unwrap(), Assignments::new());
    }

    #[test]
    fn the_file_is_a_sorted_list_of_entries() {
        let text = String::from_utf8(encoded(&two())).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!([
                {"namespace": "default", "name": "api", "pool": "p", "ips": ["192.0.2.2", "2001:db8::2"]},
                {"namespace": "default", "name": "web", "pool": "p", "ips": ["192.0.2.1"]},
            ])
        );
    }

    #[test]
    fn a_truncated_file_is_an_error_not_fewer_assignments() {
        let bytes = encoded(&two());
        for end in 0..bytes.len() {
            let error = decode(&bytes[..end]).expect_err("every strict prefix is damaged");
            assert!(matches!(error, StateFileError::Syntax { .. }), "{end}: {error}");
        }
    }

    #[test]
    fn damage_says_where_and_what() {
        let error = decode(b"[\n{\"namespace\": \"default\", \"name\": \"web\", \"pool\": \"p\", \"ips\": [\"192.0.2.300\"]}\n]")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a list of {namespace, name, pool, ips} at line 2, column 76: invalid IP address syntax"
        );
        let error = decode(b"{\"namespace\": \"default\"}").unwrap_err();
        assert!(
            error.to_string().starts_with("not a list of {namespace, name, pool, ips} at line 1, column 0"),
            "{error}"
        );
        let error = decode(b"[{\"namespace\": \"default\", \"name\": \"web\", \"ips\": []}]").unwrap_err();
        assert!(error.to_string().ends_with("missing field `pool`"), "{error}");
        assert!(decode(b"[] trailing").is_err());
        assert!(decode(b"\xff\xfe").is_err());
    }

    #[test]
    fn a_service_listed_twice_is_damage_not_the_last_word() {
        let entry = r#"{"namespace": "default", "name": "web", "pool": "p", "ips": ["192.0.2.1"]}"#;
        let other = r#"{"namespace": "default", "name": "api", "pool": "p", "ips": ["192.0.2.2"]}"#;
        let error = decode(format!("[{entry}, {other}, {entry}]").as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "default/web is listed twice (entries 1 and 3), where ferrolb writes each Service once"
        );
    }

    #[test]
    fn assignments_and_the_allocation_that_makes_them_have_one_digest() {
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let mut assignments = Assignments::new();
        assignments.insert("default", "web", "p", vec![a]);
        assignments.insert("default", "api", "p", vec![b]);
        let of_file = digest(assignments.entries());
        let listed = [("default", "api", "p", &[b][..]), ("default", "web", "p", &[a][..])];
        assert_eq!(of_file, digest(listed.into_iter()));
        let moved = [("default", "api", "p", &[a][..]), ("default", "web", "p", &[b][..])];
        assert_ne!(of_file, digest(moved.into_iter()));
        assert_eq!(digest(decode(&encoded(&assignments)).unwrap().entries()), of_file);
    }
}
