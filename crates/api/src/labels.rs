//! Labels, and any set of them a selector ([`crate::selector`]) matches:
//! a compact [`Labels`] or a `BTreeMap`.

use std::collections::BTreeMap;

/// Anything that answers "what is the value of label `key`?".
pub trait LabelSet {
    /// The value of `key`, if the label is set.
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelSet for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// No labels at all.
impl LabelSet for () {
    fn label(&self, _: &str) -> Option<&str> {
        None
    }
}

impl<T: LabelSet> LabelSet for Option<T> {
    fn label(&self, key: &str) -> Option<&str> {
        self.as_ref()?.label(key)
    }
}

impl<T: LabelSet + ?Sized> LabelSet for &T {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

/// A small, sorted set of labels: far lighter than a `BTreeMap` when a
/// snapshot holds a hundred thousand Services with one or two labels each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    /// Whether there is no label.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These labels with `key` set to `value`.
    pub fn with(&self, key: &str, value: &str) -> Labels {
        std::iter::once((key, value)).chain(self.iter().filter(|(k, _)| *k != key)).collect()
    }

    /// The labels in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

impl LabelSet for Labels {
    fn label(&self, key: &str) -> Option<&str> {
        let i = self.0.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(&self.0[i].1)
    }
}

impl<K: Into<Box<str>>, V: Into<Box<str>>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(Box<str>, Box<str>)> =
            iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        // Stable, so that of two values for one key the first is kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, first| later.0 == first.0);
        Labels(pairs.into_boxed_slice())
    }
}

/// Read as a map of strings, without building one: a file's Services are
/// 100k of them. Of two values for one key, the last counts, as in a map.
impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Labels;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut pairs: Vec<(String, String)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                // `collect` keeps the first of equal keys.
                pairs.reverse();
                Ok(pairs.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;
    use crate::selector::{Selector, selector};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().copied().collect()
    }

    fn matches(selector: &LabelSelector, labels: &impl LabelSet) -> bool {
        Selector::compile(selector).0.matches(labels)
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let s = selector(&[("rack", "r1"), ("zone", "a")], &[]);
        assert!(matches(&s, &labels(&[("zone", "a"), ("rack", "r1"), ("x", "y")])));
        assert!(!matches(&s, &labels(&[("rack", "r1")])));
    }

    #[test]
    fn operators_follow_kubernetes() {
        let l = labels(&[("tier", "web")]);
        assert!(matches(&selector(&[], &[("tier", "In", &["web", "db"])]), &l));
        assert!(!matches(&selector(&[], &[("tier", "NotIn", &["web"])]), &l));
        assert!(matches(&selector(&[], &[("zone", "NotIn", &["a"])]), &l));
        assert!(matches(&selector(&[], &[("tier", "Exists", &[])]), &l));
        assert!(matches(&selector(&[], &[("zone", "DoesNotExist", &[])]), &l));
        assert!(!matches(&selector(&[], &[("tier", "Gt", &["1"])]), &l));
    }

    #[test]
    fn labels_and_maps_agree() {
        let map: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        let s = selector(&[("a", "1")], &[]);
        assert!(matches(&s, &map) && matches(&s, &labels(&[("a", "1")])));
        assert!(!matches(&s, &None::<BTreeMap<String, String>>));
    }
}
