//! Label selectors (`metav1.LabelSelector`): the syntax Kubernetes accepts
//! when it turns one into a selector, the duplicates MetalLB rejects in a
//! list of them, and matching against an object's labels.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
use kube_core::Resource;

use super::{Findings, item};
use crate::metallb::LabelSelector;
use crate::snapshot::Located;

/// Longest label name, and the name part of a key.
const MAX_NAME_LEN: usize = 63;
/// Longest key prefix (a DNS subdomain).
const MAX_PREFIX_LEN: usize = 253;

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

/// Checks the list of selectors at `path` (`spec.nodeSelectors`): each one
/// valid, and none repeated.
pub(super) fn check_list<K>(
    findings: &mut Findings,
    object: &Located<K>,
    path: &str,
    selectors: &[LabelSelector],
) where
    K: Resource<DynamicType = ()>,
{
    let canonical: Vec<Canonical> = selectors.iter().map(Canonical::of).collect();
    for (index, selector) in selectors.iter().enumerate() {
        let here = item(path, index);
        check_one(findings, object, &here, selector);
        if let Some(first) = canonical[..index].iter().position(|c| *c == canonical[index]) {
            let message = format!("duplicate of {} (expected each selector once)", item(path, first));
            findings.error(object, &here, message);
        }
    }
}

/// Checks one selector at `path`: label keys and values, operators, values
/// present exactly when the operator needs them, and no expression or value
/// repeated.
pub(super) fn check_one<K>(findings: &mut Findings, object: &Located<K>, path: &str, selector: &LabelSelector)
where
    K: Resource<DynamicType = ()>,
{
    for (key, value) in selector.match_labels.iter().flatten() {
        let here = format!("{path}.matchLabels.{key}");
        if let Err(message) = check_key(key) {
            findings.error(object, &here, message);
        }
        if let Err(message) = check_value(value) {
            findings.error(object, &here, message);
        }
    }
    let expressions = selector.match_expressions.as_deref().unwrap_or_default();
    let canonical: Vec<CanonicalExpression> = expressions.iter().map(CanonicalExpression::of).collect();
    for (index, expression) in expressions.iter().enumerate() {
        let here = item(&format!("{path}.matchExpressions"), index);
        check_expression(findings, object, &here, expression);
        if let Some(first) = canonical[..index].iter().position(|c| *c == canonical[index]) {
            let message = format!("duplicate of matchExpressions[{first}] (expected each expression once)");
            findings.error(object, &here, message);
        }
    }
}

fn check_expression<K>(
    findings: &mut Findings,
    object: &Located<K>,
    path: &str,
    expression: &LabelSelectorRequirement,
) where
    K: Resource<DynamicType = ()>,
{
    if let Err(message) = check_key(&expression.key) {
        findings.error(object, &format!("{path}.key"), message);
    }
    let values = expression.values.as_deref().unwrap_or_default();
    let values_path = format!("{path}.values");
    match Operator::parse(&expression.operator) {
        None => {
            let message = format!(
                "invalid operator {:?} (expected In, NotIn, Exists or DoesNotExist)",
                expression.operator
            );
            findings.error(object, &format!("{path}.operator"), message);
        }
        Some(operator) if operator.takes_values() && values.is_empty() => {
            let message =
                format!("operator {} needs values (expected at least one value)", expression.operator);
            findings.error(object, &values_path, message);
        }
        Some(operator) if !operator.takes_values() && !values.is_empty() => {
            let message =
                format!("operator {} takes no values (expected an empty values list)", expression.operator);
            findings.error(object, &values_path, message);
        }
        Some(_) => {}
    }
    for (index, value) in values.iter().enumerate() {
        let here = item(&values_path, index);
        if let Err(message) = check_value(value) {
            findings.error(object, &here, message);
        }
        if values[..index].contains(value) {
            findings.error(object, &here, format!("duplicate value {value:?} (expected each value once)"));
        }
    }
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

/// A selector reduced to what it means, so that two spellings of one
/// selector compare equal (values in any order, an absent list as an empty one).
#[derive(PartialEq, Eq)]
struct Canonical {
    labels: BTreeMap<String, String>,
    expressions: Vec<CanonicalExpression>,
}

impl Canonical {
    fn of(selector: &LabelSelector) -> Canonical {
        Canonical {
            labels: selector.match_labels.clone().unwrap_or_default(),
            expressions: selector.match_expressions.iter().flatten().map(CanonicalExpression::of).collect(),
        }
    }
}

#[derive(PartialEq, Eq)]
struct CanonicalExpression {
    key: String,
    operator: String,
    values: Vec<String>,
}

impl CanonicalExpression {
    fn of(expression: &LabelSelectorRequirement) -> CanonicalExpression {
        let mut values = expression.values.clone().unwrap_or_default();
        values.sort_unstable();
        CanonicalExpression { key: expression.key.clone(), operator: expression.operator.clone(), values }
    }
}

pub(super) use crate::labels::any_matches;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{matches, selector};
    use crate::validate::testing::assert_problems;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
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
            assert_eq!(matches(&selector(&[], expressions), &Some(&node)), expected, "{expressions:?}");
        }
        assert!(matches(&selector(&[("rack", "r1")], &[]), &Some(&node)));
        assert!(!matches(&selector(&[("rack", "r2")], &[]), &Some(&node)));
        assert!(matches(&LabelSelector::default(), &None::<&BTreeMap<String, String>>));
        assert!(!any_matches(&[], &Some(&node)));
    }

    const HEAD: &str = r"apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  nodeSelectors:
";

    #[test]
    fn unknown_operator_is_an_error_at_the_operator() {
        let yaml = format!(
            "{HEAD}  - matchExpressions:
    - key: rack
      operator: Gt
      values: [\"1\"]
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:9: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[0].operator: \
               invalid operator \"Gt\" (expected In, NotIn, Exists or DoesNotExist)"],
        );
    }

    #[test]
    fn in_without_values_is_an_error() {
        let yaml = format!(
            "{HEAD}  - matchExpressions:
    - key: rack
      operator: In
      values: []
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:10: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[0].values: \
               operator In needs values (expected at least one value)"],
        );
    }

    #[test]
    fn exists_with_values_is_an_error() {
        let yaml = format!(
            "{HEAD}  - matchExpressions:
    - key: rack
      operator: Exists
      values:
      - r1
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:10: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[0].values: \
               operator Exists takes no values (expected an empty values list)"],
        );
    }

    #[test]
    fn malformed_key_and_value_are_errors() {
        let yaml = format!(
            "{HEAD}  - matchExpressions:
    - key: bad key
      operator: In
      values:
      - -r1
"
        );
        assert_problems(
            &yaml,
            &[
                "t.yaml:8: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[0].key: \
                 invalid label key \"bad key\" (expected an optional DNS subdomain and '/', then at \
                 most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
                "t.yaml:11: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[0].values[0]: \
                 invalid label value \"-r1\" (expected at most 63 letters, digits, '-', '_' or '.', \
                 starting and ending with a letter or digit, or empty)",
            ],
        );
    }

    #[test]
    fn malformed_match_label_is_an_error() {
        let yaml = format!(
            "{HEAD}  - matchLabels:
      rack: r 1
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:8: L2Advertisement/l2: spec.nodeSelectors[0].matchLabels.rack: \
               invalid label value \"r 1\" (expected at most 63 letters, digits, '-', '_' or '.', \
               starting and ending with a letter or digit, or empty)"],
        );
    }

    #[test]
    fn repeated_value_and_expression_are_errors() {
        let yaml = format!(
            "{HEAD}  - matchExpressions:
    - key: rack
      operator: In
      values: [r1, r2]
    - key: rack
      operator: In
      values: [r2, r1]
    - key: zone
      operator: In
      values:
      - a
      - a
"
        );
        assert_problems(
            &yaml,
            &[
                "t.yaml:11: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[1]: \
                 duplicate of matchExpressions[0] (expected each expression once)",
                "t.yaml:18: L2Advertisement/l2: spec.nodeSelectors[0].matchExpressions[2].values[1]: \
                 duplicate value \"a\" (expected each value once)",
            ],
        );
    }

    #[test]
    fn repeated_selector_is_an_error_even_with_values_reordered() {
        let yaml = format!(
            "{HEAD}  - matchExpressions:
    - {{key: rack, operator: In, values: [r1, r2]}}
  - matchExpressions:
    - {{key: rack, operator: In, values: [r2, r1]}}
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:9: L2Advertisement/l2: spec.nodeSelectors[1]: \
               duplicate of spec.nodeSelectors[0] (expected each selector once)"],
        );
    }
}
