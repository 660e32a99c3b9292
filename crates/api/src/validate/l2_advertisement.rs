//! `L2Advertisement`: the pools it names (its interfaces, selectors and
//! node preferences are [`crate::config::resolve`]'s).

use super::Findings;
use super::advertisement::check_pool_names;
use crate::snapshot::Snapshot;

/// Checks the pools every L2 advertisement names.
pub(super) fn check(snapshot: &Snapshot, findings: &mut Findings) {
    for advertisement in &snapshot.l2_advertisements {
        let pools = &advertisement.spec.ip_address_pools;
        check_pool_names(snapshot, findings, advertisement, "spec.ipAddressPools", pools);
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{assert_clean, assert_problems};

    const POOL: &str = r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: pool
spec:
  addresses:
  - 192.0.2.0/28
---
";

    #[test]
    fn repeated_pool_is_an_error() {
        let yaml = format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  ipAddressPools:
  - pool
  - pool
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:16: L2Advertisement/l2: spec.ipAddressPools[1]: duplicate pool \"pool\" \
               (expected each pool once)"],
        );
    }

    #[test]
    fn unknown_pool_is_a_warning() {
        let yaml = format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  ipAddressPools:
  - pool
  - later
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:16: warning: L2Advertisement/l2: spec.ipAddressPools[1]: no IPAddressPool \
               named \"later\" (expected the name of an IPAddressPool)"],
        );
    }

    #[test]
    fn repeated_interface_is_a_warning() {
        let yaml = format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  interfaces:
  - eth0
  - eth1
  - eth0
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:17: warning: L2Advertisement/l2: spec.interfaces[2]: duplicate interface \
               \"eth0\" (expected each interface once)"],
        );
    }

    #[test]
    fn weight_out_of_range_is_an_error() {
        let yaml = format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  preferredNodeSelectors:
  - weight: 100
    preference:
      matchLabels:
        rack: r1
  - weight: 101
    preference:
      matchLabels:
        rack: r2
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:19: L2Advertisement/l2: spec.preferredNodeSelectors[1].weight: weight 101 \
               is out of range (expected 1 to 100)"],
        );
    }

    #[test]
    fn preference_selector_is_checked() {
        let yaml = format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  preferredNodeSelectors:
  - weight: 1
    preference:
      matchExpressions:
      - key: rack
        operator: NotIn
"
        );
        assert_problems(
            &yaml,
            &["t.yaml:18: L2Advertisement/l2: \
                 spec.preferredNodeSelectors[0].preference.matchExpressions[0].values: \
               operator NotIn needs values (expected at least one value)"],
        );
    }

    #[test]
    fn selector_lists_are_checked() {
        let yaml = format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  ipAddressPoolSelectors:
  - matchLabels:
      tier: gold
  - matchLabels:
      tier: gold
  serviceSelectors:
  - matchLabels:
      app: web
  - matchLabels:
      app: web
"
        );
        assert_problems(
            &yaml,
            &[
                "t.yaml:17: L2Advertisement/l2: spec.ipAddressPoolSelectors[1]: duplicate of \
                 spec.ipAddressPoolSelectors[0] (expected each selector once)",
                "t.yaml:22: L2Advertisement/l2: spec.serviceSelectors[1]: duplicate of \
                 spec.serviceSelectors[0] (expected each selector once)",
            ],
        );
    }

    #[test]
    fn plain_advertisement_is_clean() {
        assert_clean(&format!(
            "{POOL}apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec: {{}}
"
        ));
    }
}
