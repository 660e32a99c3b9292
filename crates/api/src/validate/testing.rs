//! Helpers for the validation tests: load YAML, validate, print.

use crate::load::load_str;

/// The file name every test document is loaded as.
pub(super) const FILE: &str = "t.yaml";

/// Every diagnostic of `yaml`, as `validate` prints them. The YAML itself
/// must load cleanly, so that a test only sees what validation found.
pub(super) fn problems(yaml: &str) -> Vec<String> {
    let (snapshot, load_problems) = load_str(FILE, yaml);
    assert!(load_problems.is_empty(), "the test YAML does not load: {load_problems:#?}");
    super::validate(&snapshot).iter().map(ToString::to_string).collect()
}

/// Asserts that `yaml` has exactly the problems `expected`, in order.
#[track_caller]
pub(super) fn assert_problems(yaml: &str, expected: &[&str]) {
    assert_eq!(problems(yaml), expected, "\n--- YAML ---\n{yaml}");
}

/// Asserts that `yaml` has no problem at all.
#[track_caller]
pub(super) fn assert_clean(yaml: &str) {
    assert_problems(yaml, &[]);
}
