//! Selector problems as `validate` reports them, each at its line: the
//! rules are [`crate::selector`]'s, applied when [`crate::config::resolve`]
//! compiles the selectors of each object.

mod tests {
    use crate::validate::testing::assert_problems;

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
