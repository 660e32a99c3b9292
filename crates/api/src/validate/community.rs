//! `Community`: alias names and values; and how a `BGPAdvertisement`'s
//! community is judged against the aliases.

use ferrolb_types::BgpCommunity;

use super::{Findings, item};
use crate::snapshot::{Snapshot, object_ref};

/// Checks every alias of every `Community` resource: a name, a value that
/// parses, and no name defined twice (across all resources, as MetalLB
/// merges them).
pub(super) fn check(snapshot: &Snapshot, findings: &mut Findings) {
    let mut seen: Vec<(&str, String)> = Vec::new();
    for resource in &snapshot.communities {
        for (index, alias) in resource.spec.communities.iter().enumerate() {
            let path = item("spec.communities", index);
            if let Err(error) = alias.value.parse::<BgpCommunity>() {
                findings.error(resource, &format!("{path}.value"), error.to_string());
            }
            let name_path = format!("{path}.name");
            if alias.name.is_empty() {
                findings.error(resource, &name_path, "alias name is empty (expected a name)");
                continue;
            }
            match seen.iter().find(|(name, _)| *name == alias.name) {
                Some((_, first)) => {
                    let message = format!(
                        "duplicate alias {:?} (expected each alias once; the first is in {first})",
                        alias.name
                    );
                    findings.error(resource, &name_path, message);
                }
                None => {
                    let place = format!(
                        "{} at {}",
                        object_ref("Community", &resource.metadata),
                        resource.location_of(&path)
                    );
                    seen.push((&alias.name, place));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{assert_clean, assert_problems};

    #[test]
    fn alias_values_must_parse() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: aliases
spec:
  communities:
  - name: ok
    value: 65535:65282
  - name: too-big
    value: 65536:1
  - name: big-ok
    value: large:64512:1:2
  - name: not-a-value
    value: no-advertise
",
            &[
                "t.yaml:10: Community/aliases: spec.communities[1].value: invalid community \
                 \"65536:1\": \"65536\" is not a number from 0 to 65535 (expected AA:NN with both \
                 parts from 0 to 65535)",
                "t.yaml:14: Community/aliases: spec.communities[3].value: invalid community \
                 \"no-advertise\" (expected AA:NN or large:A:B:C)",
            ],
        );
    }

    #[test]
    fn empty_alias_name_is_an_error() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: aliases
spec:
  communities:
  - name: ''
    value: 64512:1
",
            &["t.yaml:7: Community/aliases: spec.communities[0].name: alias name is empty \
               (expected a name)"],
        );
    }

    #[test]
    fn alias_defined_twice_across_resources_is_an_error() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: first
spec:
  communities:
  - name: no-advertise
    value: 65535:65282
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: second
spec:
  communities:
  - name: no-advertise
    value: 64512:1
",
            &["t.yaml:16: Community/second: spec.communities[0].name: duplicate alias \
               \"no-advertise\" (expected each alias once; the first is in Community/first at t.yaml:7)"],
        );
    }

    #[test]
    fn valid_aliases_are_clean() {
        assert_clean(
            r"apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: aliases
spec:
  communities:
  - name: no-advertise
    value: 65535:65282
  - name: big
    value: large:4200000000:1:2
",
        );
    }
}
