//! Whole-config validation: the rules that MetalLB's admission webhooks, CRD
//! schemas and config parser enforce, checked over a whole [`Snapshot`] at
//! once so that one run reports every problem, each at its `FILE:LINE`.
//!
//! Errors are what MetalLB (v0.16, FRR mode) refuses: its CRD schemas, its
//! admission webhooks (which refuse `metallb.io` objects outside its
//! namespace), and its controller's whole-config build (`config.For`), which
//! refuses the whole configuration while a peer names a `BFDProfile` or a
//! password `Secret` that does not exist, or an advertisement a community
//! alias no `Community` defines. A file is the whole configuration, so those
//! are errors here. Warnings are references MetalLB accepts and waits for (a
//! pool or a peer named by an advertisement), settings that have no effect,
//! and what ferrolb accepts but does not act on (BFD).
//!
//! Pure: no I/O, no clock, no globals.

mod advertisement;
mod bfd;
mod bgp_advertisement;
mod community;
mod l2_advertisement;
mod names;
mod namespace;
mod peer;
mod pool;
mod selector;

use std::borrow::Cow;

use kube_core::Resource;

use crate::diagnostic::{Diagnostic, Severity};
use crate::snapshot::{Located, Snapshot, object_ref};

/// MetalLB's namespace unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// What validation needs besides the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The namespace MetalLB (and ferrolb) reads `metallb.io` objects and
    /// password Secrets from; an object without a namespace is taken to be
    /// in it, where `kubectl apply -n NAMESPACE` would create it. Empty:
    /// any namespace.
    pub namespace: String,
}

impl Options {
    /// No namespace rule: for a snapshot whose source read one namespace
    /// already (the Kubernetes watchers), whatever its name.
    pub fn any_namespace() -> Self {
        Options { namespace: String::new() }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options { namespace: DEFAULT_NAMESPACE.to_owned() }
    }
}

/// Every problem of the configuration in `snapshot`, with MetalLB's
/// namespace `metallb-system`, sorted by file, line and message.
pub fn validate(snapshot: &Snapshot) -> Vec<Diagnostic> {
    validate_in(snapshot, &Options::default())
}

/// Every problem of the configuration in `snapshot` for a MetalLB that
/// reads `options.namespace`, sorted by file, line and message.
pub fn validate_in(snapshot: &Snapshot, options: &Options) -> Vec<Diagnostic> {
    let mut findings = Findings::default();
    let pools = pool::ParsedPools::new(snapshot);
    namespace::check(snapshot, &options.namespace, &mut findings);
    names::check(snapshot, &mut findings);
    pool::check(snapshot, &pools, &mut findings);
    advertisement::check(snapshot, &pools, &mut findings);
    peer::check(snapshot, &pools, &options.namespace, &mut findings);
    bfd::check(snapshot, &mut findings);
    community::check(snapshot, &mut findings);
    findings.into_sorted()
}

/// The problems found so far.
#[derive(Default)]
struct Findings {
    diagnostics: Vec<Diagnostic>,
}

impl Findings {
    /// An error in `object` at `field`.
    fn error<K>(&mut self, object: &Located<K>, field: &str, message: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.push(Severity::Error, object, field, message.into());
    }

    /// A warning in `object` at `field`.
    fn warning<K>(&mut self, object: &Located<K>, field: &str, message: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.push(Severity::Warning, object, field, message.into());
    }

    /// A problem of `severity` in `object` at `field`.
    fn push<K>(&mut self, severity: Severity, object: &Located<K>, field: &str, message: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let location = object.location_of(field);
        let reference = reference(&object.object);
        let diagnostic = match severity {
            Severity::Error => Diagnostic::error(location, reference, field, message),
            Severity::Warning => Diagnostic::warning(location, reference, field, message),
        };
        self.diagnostics.push(diagnostic);
    }

    fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by(|a, b| {
            (&a.location.file, a.location.line, &a.message)
                .cmp(&(&b.location.file, b.location.line, &b.message))
                .then_with(|| a.cmp(b))
        });
        self.diagnostics.dedup();
        self.diagnostics
    }
}

/// `Kind/name` of a resource.
fn reference<K: Resource<DynamicType = ()>>(object: &K) -> String {
    object_ref(&K::kind(&()), object.meta())
}

/// The name of a resource; empty when it has none.
fn name_of<K: Resource>(object: &K) -> &str {
    object.meta().name.as_deref().unwrap_or("")
}

/// The kind of a resource (`IPAddressPool`).
fn kind_of<K: Resource<DynamicType = ()>>() -> Cow<'static, str> {
    K::kind(&())
}

/// The path of item `index` of the list at `path`: `spec.addresses[2]`.
fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// Reports every repeated entry of the list at `path`, naming each entry a
/// `what` (`duplicate pool "a" (expected each pool once)`).
fn check_unique<K>(
    findings: &mut Findings,
    object: &Located<K>,
    path: &str,
    entries: &[String],
    what: &str,
    severity: Severity,
) where
    K: Resource<DynamicType = ()>,
{
    for (index, entry) in entries.iter().enumerate() {
        if entries[..index].contains(entry) {
            let message = format!("duplicate {what} {entry:?} (expected each {what} once)");
            findings.push(severity, object, &item(path, index), message);
        }
    }
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::testing::problems;

    /// The two configurations ferrolb starts from must be spotless.
    #[test]
    fn seed_fixtures_have_no_problem_at_all() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures");
        for name in ["seed-l2.yaml", "seed-bgp.yaml"] {
            let path = std::path::Path::new(fixtures).join(name);
            let Ok(yaml) = std::fs::read_to_string(&path) else {
                println!("skipped: {} is not there", path.display());
                continue;
            };
            assert_eq!(problems(&yaml), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn problems_come_sorted_by_line_then_message() {
        let yaml = r"apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: b
spec:
  transmitInterval: 1
  detectMultiplier: 1
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: b
spec:
  receiveInterval: 1
";
        assert_eq!(
            problems(yaml),
            [
                "t.yaml:6: BFDProfile/b: spec.transmitInterval: transmitInterval 1 is out of range \
                 (expected 10 to 60000 ms)",
                "t.yaml:7: BFDProfile/b: spec.detectMultiplier: detectMultiplier 1 is out of range \
                 (expected 2 to 255)",
                "t.yaml:12: BFDProfile/b: metadata.name: duplicate name \"b\" (expected one BFDProfile \
                 of that name; the first is at t.yaml:1)",
                "t.yaml:14: BFDProfile/b: spec.receiveInterval: receiveInterval 1 is out of range \
                 (expected 10 to 60000 ms)",
            ]
        );
    }
}
