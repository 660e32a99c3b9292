//! `IPAddressPool`: addresses that never overlap, within a pool or across
//! pools (a pool alone, its addresses and `serviceAllocation`, is
//! [`crate::config::resolve`]'s).

use super::{Findings, ParsedPools, item};
use crate::snapshot::object_ref;

/// Every entry against every entry before it, in this pool or an earlier one
/// (MetalLB rejects both).
pub(super) fn check_overlaps(parsed: &ParsedPools<'_>, findings: &mut Findings) {
    for (pool_index, (pool, ranges)) in parsed.pools.iter().enumerate() {
        for (range_index, entry) in ranges.ranges.iter().enumerate() {
            let earlier_pools = parsed.pools[..pool_index].iter().flat_map(|(other, ranges)| {
                ranges
                    .ranges
                    .iter()
                    .map(move |r| (r, format!("of {}", object_ref("IPAddressPool", &other.metadata))))
            });
            let same_pool = ranges.ranges[..range_index]
                .iter()
                .map(|r| (r, format!("(spec.addresses[{}]) of the same pool", r.index)));
            for (other, whose) in earlier_pools.chain(same_pool) {
                if entry.range.overlaps(&other.range) {
                    let message = format!("{} overlaps {} {whose}", entry.range, other.range);
                    findings.error(pool, &item("spec.addresses", entry.index), message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{assert_clean, assert_problems};

    #[test]
    fn pool_without_addresses_is_an_error() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: empty
spec:
  addresses: []
",
            &["t.yaml:6: IPAddressPool/empty: spec.addresses: no addresses \
               (expected at least one CIDR or range)"],
        );
    }

    #[test]
    fn unparsable_entries_are_errors_at_their_line() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: bad
spec:
  addresses:
  - 192.0.2.0/33
  - 192.0.2.9-192.0.2.1
  - 192.0.2.1-2001:db8::1
  - 192.0.2.x-192.0.2.9
  - 192.0.2.1-192.0.2.y
",
            &[
                "t.yaml:7: IPAddressPool/bad: spec.addresses[0]: invalid CIDR \"192.0.2.0/33\" \
                 (expected ADDRESS/LENGTH or START-END)",
                "t.yaml:8: IPAddressPool/bad: spec.addresses[1]: invalid IP range \
                 \"192.0.2.9-192.0.2.1\": start IP 192.0.2.9 is after the end IP 192.0.2.1",
                "t.yaml:9: IPAddressPool/bad: spec.addresses[2]: invalid IP range \
                 \"192.0.2.1-2001:db8::1\": start and end are of different IP families \
                 (expected both IPv4 or both IPv6)",
                "t.yaml:10: IPAddressPool/bad: spec.addresses[3]: invalid IP range \
                 \"192.0.2.x-192.0.2.9\": invalid start IP \"192.0.2.x\"",
                "t.yaml:11: IPAddressPool/bad: spec.addresses[4]: invalid IP range \
                 \"192.0.2.1-192.0.2.y\": invalid end IP \"192.0.2.y\"",
            ],
        );
    }

    #[test]
    fn overlap_across_pools_names_the_other_pool() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first
spec:
  addresses:
  - 203.0.113.0/28
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: overlapping
spec:
  addresses:
  - 198.51.100.0/24
  - 203.0.113.8-203.0.113.20
",
            &["t.yaml:16: IPAddressPool/overlapping: spec.addresses[1]: \
               203.0.113.8-203.0.113.20 overlaps 203.0.113.0/28 of IPAddressPool/first"],
        );
    }

    #[test]
    fn overlap_within_a_pool_names_the_other_entry() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: self
spec:
  addresses:
  - 2001:db8::/64
  - 2001:db8::10-2001:db8::20
",
            &["t.yaml:8: IPAddressPool/self: spec.addresses[1]: 2001:db8::10-2001:db8::20 \
               overlaps 2001:db8::/64 (spec.addresses[0]) of the same pool"],
        );
    }

    #[test]
    fn adjacent_ranges_and_other_families_do_not_overlap() {
        assert_clean(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: dual
spec:
  addresses:
  - 192.0.2.0/28
  - 192.0.2.16-192.0.2.31
  - 2001:db8::/120
",
        );
    }

    #[test]
    fn repeated_namespace_in_service_allocation_is_an_error() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: team
spec:
  addresses:
  - 192.0.2.0/28
  serviceAllocation:
    priority: -5
    namespaces:
    - web
    - web
",
            &["t.yaml:12: IPAddressPool/team: spec.serviceAllocation.namespaces[1]: \
               duplicate namespace \"web\" (expected each namespace once)"],
        );
    }

    #[test]
    fn service_allocation_selectors_are_checked() {
        assert_problems(
            r"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: team
spec:
  addresses:
  - 192.0.2.0/28
  serviceAllocation:
    namespaceSelectors:
    - matchLabels:
        team: a
    - matchLabels:
        team: a
    serviceSelectors:
    - matchExpressions:
      - key: app
        operator: Exists
        values: [web]
",
            &[
                "t.yaml:12: IPAddressPool/team: spec.serviceAllocation.namespaceSelectors[1]: \
                 duplicate of spec.serviceAllocation.namespaceSelectors[0] (expected each selector once)",
                "t.yaml:18: IPAddressPool/team: \
                 spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values: \
                 operator Exists takes no values (expected an empty values list)",
            ],
        );
    }
}
