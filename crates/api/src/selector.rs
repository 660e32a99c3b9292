//! Label selectors (`metav1.LabelSelector`) compiled once, as Kubernetes
//! turns one into a selector (`LabelSelectorAsSelector`) before MetalLB
//! matches with it: operators parsed, label keys and values checked,
//! repeated expressions, values and selectors found. The configuration
//! holds compiled selectors, so matching never reads an operator's text.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::labels::LabelSet;

/// Longest label name, and the name part of a key.
const MAX_NAME_LEN: usize = 63;
/// Longest key prefix (a DNS subdomain).
const MAX_PREFIX_LEN: usize = 253;

/// A label selector, compiled. The default selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// `matchLabels`, by key.
    labels: BTreeMap<String, String>,
    /// `matchExpressions`, in order.
    requirements: Vec<Requirement>,
}

/// One match expression.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    /// `None`: an operator Kubernetes does not know (a problem), which
    /// selects nothing.
    operator: Option<Operator>,
    /// Sorted: their order means nothing.
    values: Vec<String>,
}

/// An operator of a match expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Operator {
    fn parse(text: &str) -> Option<Operator> {
        match text {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            _ => None,
        }
    }

    fn takes_values(self) -> bool {
        matches!(self, Operator::In | Operator::NotIn)
    }
}

/// What is wrong with a selector, at `path` below it (`.matchLabels.rack`,
/// `.matchExpressions[0].operator`; for a list, `[1]` and below).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, relative to the selector (or the list).
    pub path: String,
    /// What, and what was expected.
    pub message: String,
}

impl Selector {
    /// `selector` compiled, and each of its problems. A selector with a
    /// problem is refused by Kubernetes and MetalLB; compiled, an unknown
    /// operator selects nothing and the rest matches as written.
    pub fn compile(selector: &LabelSelector) -> (Selector, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        let labels = selector.match_labels.clone().unwrap_or_default();
        for (key, value) in &labels {
            let here = format!(".matchLabels.{key}");
            if let Err(message) = check_key(key) {
                problem(here.clone(), message);
            }
            if let Err(message) = check_value(value) {
                problem(here, message);
            }
        }
        let expressions = selector.match_expressions.as_deref().unwrap_or_default();
        let mut requirements: Vec<Requirement> = Vec::with_capacity(expressions.len());
        for (index, expression) in expressions.iter().enumerate() {
            let here = format!(".matchExpressions[{index}]");
            let requirement = compile_expression(expression, &here, &mut problem);
            if let Some(first) = requirements.iter().position(|r| *r == requirement) {
                problem(
                    here,
                    format!("duplicate of matchExpressions[{first}] (expected each expression once)"),
                );
            }
            requirements.push(requirement);
        }
        (Selector { labels, requirements }, problems)
    }

    /// The selectors of the list at `path` (`spec.nodeSelectors`)
    /// compiled, with each one's problems (at `[index]` and below) and
    /// those repeated.
    pub fn compile_list(path: &str, selectors: &[LabelSelector]) -> (Vec<Selector>, Vec<Problem>) {
        let mut compiled: Vec<Selector> = Vec::with_capacity(selectors.len());
        let mut problems = Vec::new();
        for (index, selector) in selectors.iter().enumerate() {
            let (selector, own) = Selector::compile(selector);
            let here = format!("[{index}]");
            problems.extend(own.into_iter().map(|p| Problem { path: format!("{here}{}", p.path), ..p }));
            if let Some(first) = compiled.iter().position(|c| *c == selector) {
                let message = format!("duplicate of {path}[{first}] (expected each selector once)");
                problems.push(Problem { path: here, message });
            }
            compiled.push(selector);
        }
        (compiled, problems)
    }

    /// Whether the selector selects an object with `labels`.
    pub fn matches(&self, labels: &impl LabelSet) -> bool {
        self.labels.iter().all(|(key, value)| labels.label(key) == Some(value.as_str()))
            && self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// Whether any of `selectors` selects an object with `labels` (none: no).
pub fn any_matches(selectors: &[Selector], labels: &impl LabelSet) -> bool {
    selectors.iter().any(|s| s.matches(labels))
}

impl Requirement {
    fn matches(&self, labels: &impl LabelSet) -> bool {
        let label = labels.label(&self.key);
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Some(Operator::In) => label.is_some_and(listed),
            Some(Operator::NotIn) => label.is_none_or(|v| !listed(v)),
            Some(Operator::Exists) => label.is_some(),
            Some(Operator::DoesNotExist) => label.is_none(),
            None => false,
        }
    }
}

/// One expression compiled; its problems reported at `path` and below.
fn compile_expression(
    expression: &LabelSelectorRequirement,
    path: &str,
    problem: &mut impl FnMut(String, String),
) -> Requirement {
    if let Err(message) = check_key(&expression.key) {
        problem(format!("{path}.key"), message);
    }
    let values = expression.values.as_deref().unwrap_or_default();
    let values_path = format!("{path}.values");
    let operator = Operator::parse(&expression.operator);
    match operator {
        None => problem(
            format!("{path}.operator"),
            format!(
                "invalid operator {:?} (expected In, NotIn, Exists or DoesNotExist)",
                expression.operator
            ),
        ),
        Some(operator) if operator.takes_values() && values.is_empty() => problem(
            values_path.clone(),
            format!("operator {} needs values (expected at least one value)", expression.operator),
        ),
        Some(operator) if !operator.takes_values() && !values.is_empty() => problem(
            values_path.clone(),
            format!("operator {} takes no values (expected an empty values list)", expression.operator),
        ),
        Some(_) => {}
    }
    for (index, value) in values.iter().enumerate() {
        let here = format!("{values_path}[{index}]");
        if let Err(message) = check_value(value) {
            problem(here.clone(), message);
        }
        if values[..index].contains(value) {
            problem(here, format!("duplicate value {value:?} (expected each value once)"));
        }
    }
    let mut values = values.to_vec();
    values.sort_unstable();
    Requirement { key: expression.key.clone(), operator, values }
}

/// Whether `key` is a label key: an optional DNS subdomain prefix and `/`,
/// then a name.
fn check_key(key: &str) -> Result<(), String> {
    let valid = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    };
    if valid {
        return Ok(());
    }
    Err(format!(
        "invalid label key {key:?} (expected an optional DNS subdomain and '/', then at most 63 \
         letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
    ))
}

/// Whether `value` is a label value: empty, or shaped like a name.
fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        return Ok(());
    }
    Err(format!(
        "invalid label value {value:?} (expected at most 63 letters, digits, '-', '_' or '.', \
         starting and ending with a letter or digit, or empty)"
    ))
}

fn is_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let inner_ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= MAX_NAME_LEN
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(inner_ok)
        }
        _ => false,
    }
}

fn is_dns_subdomain(prefix: &str) -> bool {
    prefix.len() <= MAX_PREFIX_LEN && prefix.split('.').all(is_dns_label)
}

fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            lower_alnum(first) && lower_alnum(last) && bytes.iter().all(|b| lower_alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// A selector from `labels` and `(key, operator, values)` expressions, for tests.
#[cfg(test)]
pub(crate) fn selector(labels: &[(&str, &str)], expressions: &[(&str, &str, &[&str])]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
        match_expressions: Some(
            expressions
                .iter()
                .map(|(key, operator, values)| LabelSelectorRequirement {
                    key: (*key).into(),
                    operator: (*operator).into(),
                    values: Some(values.iter().map(|v| (*v).into()).collect()),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    fn compiled(labels: &[(&str, &str)], expressions: &[(&str, &str, &[&str])]) -> Selector {
        Selector::compile(&selector(labels, expressions)).0
    }

    #[test]
    fn keys_follow_kubernetes_syntax() {
        for good in ["rack", "kubernetes.io/hostname", "a-b_c.d", "x", "example.com/A9"] {
            assert_eq!(check_key(good), Ok(()), "{good}");
        }
        let too_long = "a".repeat(64);
        for bad in ["", "-rack", "rack-", "a b", "/name", "Example.com/x", "a/b/c", "p/", too_long.as_str()] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_may_be_empty_but_not_malformed() {
        assert_eq!(check_value(""), Ok(()));
        assert_eq!(check_value("r1.a_b-c"), Ok(()));
        assert!(check_value("a/b").is_err());
        assert!(check_value(".a").is_err());
    }

    #[test]
    fn matching_follows_each_operator() {
        let node = labels(&[("rack", "r1"), ("zone", "z")]);
        type Expressions<'a> = &'a [(&'a str, &'a str, &'a [&'a str])];
        let cases: [(Expressions<'_>, bool); 8] = [
            (&[("rack", "In", &["r1", "r2"])], true),
            (&[("rack", "In", &["r2"])], false),
            (&[("rack", "NotIn", &["r2"])], true),
            (&[("gpu", "NotIn", &["yes"])], true),
            (&[("zone", "Exists", &[])], true),
            (&[("gpu", "Exists", &[])], false),
            (&[("gpu", "DoesNotExist", &[])], true),
            (&[("rack", "Gt", &["1"])], false),
        ];
        for (expressions, expected) in cases {
            assert_eq!(compiled(&[], expressions).matches(&Some(&node)), expected, "{expressions:?}");
        }
        assert!(compiled(&[("rack", "r1")], &[]).matches(&Some(&node)));
        assert!(!compiled(&[("rack", "r2")], &[]).matches(&Some(&node)));
        assert!(Selector::default().matches(&None::<&BTreeMap<String, String>>));
        assert!(!any_matches(&[], &Some(&node)));
    }

    #[test]
    fn each_problem_is_named_below_the_selector() {
        let (_, problems) = Selector::compile(&selector(
            &[("rack", "r 1")],
            &[("bad key", "In", &[]), ("zone", "Gt", &["a", "a"]), ("zone", "Gt", &["a", "a"])],
        ));
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".matchLabels.rack",
                ".matchExpressions[0].key",
                ".matchExpressions[0].values",
                ".matchExpressions[1].operator",
                ".matchExpressions[1].values[1]",
                ".matchExpressions[2].operator",
                ".matchExpressions[2].values[1]",
                ".matchExpressions[2]",
            ]
        );
    }

    #[test]
    fn a_list_names_repeated_selectors_whatever_the_order_of_values() {
        let (compiled, problems) = Selector::compile_list(
            "spec.nodeSelectors",
            &[
                selector(&[], &[("rack", "In", &["r1", "r2"])]),
                selector(&[], &[("rack", "In", &["r2", "r1"])]),
            ],
        );
        assert_eq!(compiled.len(), 2);
        assert_eq!(
            problems,
            [Problem {
                path: "[1]".into(),
                message: "duplicate of spec.nodeSelectors[0] (expected each selector once)".into()
            }]
        );
    }
}
