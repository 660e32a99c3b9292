//! The problems found so far by `resolve` and `validate`, each placed at its
//! field's line.

use std::borrow::Cow;

use kube_core::Resource;

use crate::diagnostic::{Diagnostic, Severity};
use crate::metallb::LabelSelector;
use crate::selector::{Problem, Selector};
use crate::snapshot::{Located, object_ref};

/// The problems found so far.
#[derive(Default)]
pub(crate) struct Findings {
    diagnostics: Vec<Diagnostic>,
}

impl Findings {
    /// An error in `object` at `field`.
    pub fn error<K>(&mut self, object: &Located<K>, field: &str, message: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.push(Severity::Error, object, field, message.into());
    }

    /// A warning in `object` at `field`.
    pub fn warning<K>(&mut self, object: &Located<K>, field: &str, message: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.push(Severity::Warning, object, field, message.into());
    }

    /// The list of selectors at `path` of `object`, compiled; each of their
    /// problems an error there.
    pub fn selectors<K>(
        &mut self,
        object: &Located<K>,
        path: &str,
        selectors: &[LabelSelector],
    ) -> Vec<Selector>
    where
        K: Resource<DynamicType = ()>,
    {
        let (compiled, problems) = Selector::compile_list(path, selectors);
        self.selector_problems(object, path, problems);
        compiled
    }

    /// The selector at `path` of `object`, compiled; each of its problems
    /// an error there.
    pub fn selector<K>(&mut self, object: &Located<K>, path: &str, selector: &LabelSelector) -> Selector
    where
        K: Resource<DynamicType = ()>,
    {
        let (compiled, problems) = Selector::compile(selector);
        self.selector_problems(object, path, problems);
        compiled
    }

    fn selector_problems<K>(&mut self, object: &Located<K>, path: &str, problems: Vec<Problem>)
    where
        K: Resource<DynamicType = ()>,
    {
        for problem in problems {
            self.error(object, &format!("{path}{}", problem.path), problem.message);
        }
    }

    /// A problem of `severity` in `object` at `field`.
    pub fn push<K>(&mut self, severity: Severity, object: &Located<K>, field: &str, message: String)
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

    /// A problem placed by the caller (an object that is not a `metallb.io`
    /// resource: a Service).
    pub fn add(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// How many errors so far.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Every problem, sorted by file, line and message, once each.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
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
pub(crate) fn reference<K: Resource<DynamicType = ()>>(object: &K) -> String {
    object_ref(&K::kind(&()), object.meta())
}

/// The name of a resource; empty when it has none.
pub(crate) fn name_of<K: Resource>(object: &K) -> &str {
    object.meta().name.as_deref().unwrap_or("")
}

/// The kind of a resource (`IPAddressPool`).
pub(crate) fn kind_of<K: Resource<DynamicType = ()>>() -> Cow<'static, str> {
    K::kind(&())
}

/// The path of item `index` of the list at `path`: `spec.addresses[2]`.
pub(crate) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// Reports every repeated entry of the list at `path`, naming each entry a
/// `what` (`duplicate pool "a" (expected each pool once)`).
pub(crate) fn check_unique<K>(
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
