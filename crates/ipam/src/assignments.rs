//! [`Assignments`]: which Service holds which addresses, the memory that
//! keeps allocation stable from one run to the next.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Service's identity: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ServiceKey {
    /// The key of `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey { namespace: namespace.into(), name: name.into() }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The addresses one Service holds and the pool they came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The pool.
    pub pool: String,
    /// One address, or one of each family.
    pub ips: Vec<IpAddr>,
}

/// Which Service holds which addresses; the result of one run, fed to the next.
///
/// Serialized as a list of `{namespace, name, pool, ips}` sorted by Service,
/// so that `ferrolb run` can keep it in a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignments {
    by_service: BTreeMap<ServiceKey, Assignment>,
}

impl Assignments {
    /// No assignments.
    pub fn new() -> Self {
        Assignments::default()
    }

    /// Records that `namespace/name` holds `ips` from `pool`, replacing what it held.
    pub fn insert(
        &mut self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        pool: impl Into<String>,
        ips: Vec<IpAddr>,
    ) {
        self.by_service.insert(ServiceKey::new(namespace, name), Assignment { pool: pool.into(), ips });
    }

    /// Forgets what `namespace/name` held.
    pub fn remove(&mut self, namespace: &str, name: &str) -> Option<Assignment> {
        self.by_service.remove(&ServiceKey::new(namespace, name))
    }

    /// What `namespace/name` holds.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Assignment> {
        self.by_service.get(&ServiceKey::new(namespace, name))
    }

    /// Every assignment, sorted by Service.
    pub fn iter(&self) -> impl Iterator<Item = (&ServiceKey, &Assignment)> {
        self.by_service.iter()
    }

    /// Every assignment as it is written out: namespace, name, pool and
    /// addresses, sorted by Service (as [`AssignmentsOf::iter`] gives them).
    pub fn entries(&self) -> impl Iterator<Item = AssignmentEntry<'_>> {
        self.by_service.iter().map(|(k, a)| (k.namespace.as_str(), k.name.as_str(), a.pool.as_str(), &*a.ips))
    }

    /// How many Services hold addresses.
    pub fn len(&self) -> usize {
        self.by_service.len()
    }

    /// Whether no Service holds an address.
    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }
}

impl FromIterator<(ServiceKey, Assignment)> for Assignments {
    fn from_iter<I: IntoIterator<Item = (ServiceKey, Assignment)>>(iter: I) -> Self {
        Assignments { by_service: iter.into_iter().collect() }
    }
}

/// One assignment as written out: namespace, name, pool and addresses.
pub type AssignmentEntry<'a> = (&'a str, &'a str, &'a str, &'a [IpAddr]);

/// One entry as written out.
#[derive(Serialize)]
struct EntryRef<'a> {
    namespace: &'a str,
    name: &'a str,
    pool: &'a str,
    ips: &'a [IpAddr],
}

/// Writes `entries` out as a list of `{namespace, name, pool, ips}`.
fn serialize_entries<'a, S: Serializer>(
    serializer: S,
    entries: impl Iterator<Item = AssignmentEntry<'a>>,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(entries.map(|(namespace, name, pool, ips)| EntryRef {
        namespace,
        name,
        pool,
        ips,
    }))
}

/// One entry as read back.
#[derive(Deserialize)]
struct EntryOwned {
    namespace: String,
    name: String,
    pool: String,
    ips: Vec<IpAddr>,
}

/// The assignments an allocation makes, written out as [`Assignments`] are,
/// without building them (100,000 of them are a few megabytes of strings).
pub struct AssignmentsOf<'a>(pub &'a crate::Allocation);

impl AssignmentsOf<'_> {
    /// Each Service holding addresses: namespace, name, pool and addresses, sorted by Service.
    pub fn iter(&self) -> impl Iterator<Item = AssignmentEntry<'_>> {
        self.0.services.iter().filter(|s| !s.ips.is_empty()).filter_map(|s| {
            Some((s.namespace.as_str(), s.name.as_str(), s.pool.as_deref()?, s.ips.as_slice()))
        })
    }
}

impl Serialize for AssignmentsOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(serializer, self.iter())
    }
}

impl Serialize for Assignments {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(serializer, self.entries())
    }
}

impl<'de> Deserialize<'de> for Assignments {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<EntryOwned>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|e| (ServiceKey::new(e.namespace, e.name), Assignment { pool: e.pool, ips: e.ips }))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_round_trip_through_json_as_a_sorted_list() {
        let mut a = Assignments::new();
        a.insert("b", "web", "pool", vec!["192.0.2.1".parse().unwrap()]);
        a.insert("a", "dns", "pool", vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()]);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"namespace": "a", "name": "dns", "pool": "pool", "ips": ["192.0.2.2", "2001:db8::2"]},
                {"namespace": "b", "name": "web", "pool": "pool", "ips": ["192.0.2.1"]},
            ])
        );
        let back: Assignments = serde_json::from_value(json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn an_allocation_writes_out_its_assignments_as_they_are_written() {
        let snapshot = crate::fixtures::snapshot(
            vec![crate::fixtures::pool("p", &["192.0.2.0/30"])],
            vec![
                crate::fixtures::lb_service("b", "web"),
                crate::fixtures::lb_service("a", "dns"),
                crate::fixtures::lb_service("a", "x").pool("none"),
            ],
        );
        let allocation = crate::allocate(
            &crate::fixtures::config(&snapshot),
            &snapshot,
            &Assignments::new(),
            &Default::default(),
        );
        assert_eq!(
            serde_json::to_value(AssignmentsOf(&allocation)).unwrap(),
            serde_json::to_value(allocation.assignments()).unwrap()
        );
        assert_eq!(AssignmentsOf(&allocation).iter().count(), 2, "x has no address");
    }
}
