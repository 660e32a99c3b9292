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
#[cfg(test)]
mod selector;
mod service;

use crate::config::{Config, Pool};
pub use crate::config::{DEFAULT_NAMESPACE, Options};
use crate::diagnostic::Diagnostic;
pub(crate) use crate::findings::{Findings, item, kind_of, name_of};
use crate::metallb::IPAddressPool;
use crate::snapshot::{Located, Snapshot};

/// Every problem of the configuration in `snapshot`, with MetalLB's
/// namespace `metallb-system`, sorted by file, line and message.
pub fn validate(snapshot: &Snapshot) -> Vec<Diagnostic> {
    validate_in(snapshot, &Options::default())
}

/// Every problem of the configuration in `snapshot` for a MetalLB that
/// reads `options.namespace`, sorted by file, line and message.
pub fn validate_in(snapshot: &Snapshot, options: &Options) -> Vec<Diagnostic> {
    validated(snapshot, options).1
}

/// The configuration of `snapshot` ([`crate::config::resolve`]) and every
/// problem of it, alone or between objects, sorted by file, line and
/// message: what `plan`, `run` and the Kubernetes components start from.
pub fn validated(snapshot: &Snapshot, options: &Options) -> (Config, Vec<Diagnostic>) {
    let mut findings = Findings::default();
    let config = crate::config::resolve_into(snapshot, options, &mut findings);
    let pools = ParsedPools::new(snapshot, &config);
    namespace::check(snapshot, &options.namespace, &mut findings);
    names::check(snapshot, &mut findings);
    pool::check_overlaps(&pools, &mut findings);
    advertisement::check(snapshot, &pools, &mut findings);
    peer::check(snapshot, &pools, &mut findings);
    bfd::check(snapshot, &mut findings);
    community::check(snapshot, &mut findings);
    service::check(snapshot, &mut findings);
    (config, findings.into_sorted())
}

/// Every pool of the configuration with the object it was read from.
pub(super) struct ParsedPools<'a> {
    pub pools: Vec<(&'a Located<IPAddressPool>, &'a Pool)>,
}

impl<'a> ParsedPools<'a> {
    fn new(snapshot: &'a Snapshot, config: &'a Config) -> Self {
        ParsedPools { pools: config.pools.iter().map(|p| (&snapshot.pools[p.source.index], p)).collect() }
    }
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::testing::problems;

    /// The two configurations ferrolb starts from (the article's MetalLB
    /// configs, in `examples/`) must be spotless.
    #[test]
    fn metallb_examples_have_no_problem_at_all() {
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        for name in ["metallb-l2.yaml", "metallb-bgp.yaml"] {
            let path = std::path::Path::new(examples).join(name);
            let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
