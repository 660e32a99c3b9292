//! Names: no two objects of a kind in a namespace share one (MetalLB:
//! "duplicate definition of pool"). In a cluster the API server guarantees
//! it; in a file nothing does. A missing name is the loader's to report.

use kube_core::Resource;

use super::{Findings, kind_of, name_of};
use crate::snapshot::{Located, Snapshot};

/// Checks the names of every `metallb.io` kind.
pub(super) fn check(snapshot: &Snapshot, findings: &mut Findings) {
    check_kind(&snapshot.pools, findings);
    check_kind(&snapshot.l2_advertisements, findings);
    check_kind(&snapshot.bgp_advertisements, findings);
    check_kind(&snapshot.bgp_peers, findings);
    check_kind(&snapshot.bfd_profiles, findings);
    check_kind(&snapshot.communities, findings);
}

fn check_kind<K: Resource<DynamicType = ()>>(objects: &[Located<K>], findings: &mut Findings) {
    for (index, object) in objects.iter().enumerate() {
        let name = name_of(&object.object);
        if name.is_empty() {
            continue;
        }
        let namespace = object.meta().namespace.as_deref();
        let first = objects[..index]
            .iter()
            .find(|other| name_of(&other.object) == name && other.meta().namespace.as_deref() == namespace);
        if let Some(first) = first {
            let message = format!(
                "duplicate name {name:?} (expected one {} of that name; the first is at {})",
                kind_of::<K>(),
                first.location
            );
            findings.error(object, "metadata.name", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::assert_problems;

    #[test]
    fn repeated_pool_name_is_an_error_at_the_second_name() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: pool
spec:
  addresses:
  - 192.0.2.0/28
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: pool
spec:
  addresses:
  - 198.51.100.0/28
",
            &["t.yaml:12: IPAddressPool/pool: metadata.name: duplicate name \"pool\" \
               (expected one IPAddressPool of that name; the first is at t.yaml:1)"],
        );
    }

    #[test]
    fn same_name_in_another_namespace_is_no_duplicate_but_is_outside_metallbs() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: fast
  namespace: metallb-system
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: fast
  namespace: b
",
            &[
                "t.yaml:11: BFDProfile/fast: metadata.namespace: BFDProfile in namespace \"b\": MetalLB's webhook \
               refuses it and its controller, which reads \"metallb-system\" only, would ignore it (expected \
               namespace \"metallb-system\", or --namespace)",
            ],
        );
    }
}
