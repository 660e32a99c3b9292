//! MetalLB conformance: every case of `tests/conformance/*.cases` is one rule
//! of MetalLB v0.16 (FRR mode: CRD schema and CEL rules, admission webhooks,
//! the controller's whole-config build), with MetalLB's verdict on a small
//! configuration. `ferrolb validate` must give the same verdict, and a
//! refusal must point at a line marked `# <-` in the case.
//!
//! A case file is a run of cases, each starting with `## NAME` and its
//! header comments, then the YAML (line numbers count from the `## ` line):
//!
//! ```text
//! ## pool-overlap-across-pools
//! # rule: no address in two pools
//! # metallb: refuse
//! # source: internal/config/config.go: poolsFor
//! # differs: why ferrolb deliberately gives the other verdict (optional)
//! apiVersion: metallb.io/v1beta1
//! ...
//!   - 192.0.2.8/29   # <-
//! ```
//!
//! `scripts/metallb-verdict/check` runs MetalLB's own code on every case
//! and compares with the recorded verdicts.

use std::path::{Path, PathBuf};

use ferrolb_api::Diagnostic;

/// One case of the suite.
#[derive(Debug)]
pub struct Case {
    /// `FILE.cases: NAME`.
    pub name: String,
    /// The case's text, from its `## ` line.
    pub text: String,
    /// The rule in a few words.
    pub rule: String,
    /// Whether MetalLB refuses the configuration.
    pub metallb_refuses: bool,
    /// Where MetalLB's code holds the rule.
    pub source: String,
    /// Why ferrolb gives the other verdict, when it does on purpose.
    pub differs: Option<String>,
    /// The lines (1-based, in `text`) a refusal may point at.
    pub marked_lines: Vec<u32>,
}

impl Case {
    /// The verdict ferrolb must give: MetalLB's, unless it differs on purpose.
    fn ferrolb_refuses(&self) -> bool {
        self.metallb_refuses != self.differs.is_some()
    }
}

/// The directory of the case files.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Every case of every `*.cases` file, in file then case order.
pub fn all_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cases"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable case file");
        let stem = file.file_name().unwrap().to_string_lossy().into_owned();
        cases.extend(parse_cases(&stem, &text));
    }
    cases
}

fn parse_cases(file: &str, text: &str) -> Vec<Case> {
    let mut chunks: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            chunks.push((name.trim().to_owned(), String::new()));
        }
        if let Some((_, body)) = chunks.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    chunks
        .into_iter()
        .map(|(name, text)| {
            let header = |key: &str| {
                text.lines().find_map(|l| l.strip_prefix(&format!("# {key}:")).map(|v| v.trim().to_owned()))
            };
            let verdict = header("metallb").unwrap_or_else(|| panic!("{file}: {name}: no `# metallb:` line"));
            assert!(matches!(verdict.as_str(), "accept" | "refuse"), "{file}: {name}: verdict {verdict:?}");
            let marked_lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.trim_end().ends_with("# <-"))
                .map(|(i, _)| i as u32 + 1)
                .collect();
            Case {
                name: format!("{file}: {name}"),
                rule: header("rule").unwrap_or_else(|| panic!("{file}: {name}: no `# rule:` line")),
                metallb_refuses: verdict == "refuse",
                source: header("source").unwrap_or_else(|| panic!("{file}: {name}: no `# source:` line")),
                differs: header("differs"),
                marked_lines,
                text,
            }
        })
        .collect()
}

/// Everything ferrolb says about a case: load problems and broken rules.
fn diagnostics_of(case: &Case) -> Vec<Diagnostic> {
    let (snapshot, mut diagnostics) = ferrolb_api::load::load_str("case.yaml", &case.text);
    diagnostics.extend(ferrolb_api::validate::validate(&snapshot));
    diagnostics
}

/// What is wrong with ferrolb's answer to `case`, if anything.
fn disagreement(case: &Case) -> Option<String> {
    let diagnostics = diagnostics_of(case);
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    let shown = || diagnostics.iter().map(|d| format!("\n      {d}")).collect::<String>();
    match (case.ferrolb_refuses(), errors.is_empty()) {
        (true, true) => Some(format!("accepted, expected a refusal ({}){}", case.rule, shown())),
        (false, false) => Some(format!("refused, expected acceptance ({}){}", case.rule, shown())),
        (true, false) if !errors.iter().any(|d| case.marked_lines.contains(&d.location.line)) => {
            Some(format!(
                "refused, but at none of the marked lines {:?} ({}){}",
                case.marked_lines,
                case.rule,
                shown()
            ))
        }
        _ => None,
    }
}

#[test]
fn every_case_is_well_formed() {
    let cases = all_cases();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "case names are unique");
    for case in &cases {
        assert!(case.source.contains(':'), "{}: source names a file and a function", case.name);
        if case.metallb_refuses != case.differs.is_some() {
            assert!(!case.marked_lines.is_empty(), "{}: a refusal marks its line(s) with `# <-`", case.name);
        }
    }
}

#[test]
fn ferrolb_gives_metallbs_verdict_on_every_case() {
    let cases = all_cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| disagreement(case).map(|why| format!("  {}: {why}", case.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with MetalLB:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
