//! Pools as the allocator uses them: ranges as integers with a cursor for the
//! next free address, and `serviceAllocation` ready to match Services.

use std::net::IpAddr;

use ferrolb_api::config::{self, ServiceAllocation};
use ferrolb_api::labels::LabelSet;
use ferrolb_types::ip::to_u128;
use ferrolb_types::{IpFamily, IpRange};

/// One range of a pool, with its cursor.
///
/// Everything between `start` and the cursor is known not to be free
/// (taken, or skipped as buggy). Addresses are only ever taken while a
/// cursor is in use, never given back, so the cursor only moves forward and
/// each address is looked at once per run.
#[derive(Clone, Debug)]
pub(crate) struct Range {
    pub family: IpFamily,
    pub start: u128,
    pub end: u128,
    /// The lowest address that may be free; `None` once the range is full.
    next: Option<u128>,
}

impl Range {
    fn new(range: IpRange) -> Range {
        let start = to_u128(range.start());
        Range { family: range.family(), start, end: to_u128(range.end()), next: Some(start) }
    }

    /// Whether `n` of `family` lies in the range.
    pub fn contains(&self, family: IpFamily, n: u128) -> bool {
        self.family == family && self.start <= n && n <= self.end
    }

    /// The lowest address that is neither used nor (with `avoid_buggy`)
    /// buggy, without taking it. `used(n)` is `None` when `n` is free, else
    /// the last address of the run of used ones from `n` (at least `n`), so
    /// that a range whose first 100,000 addresses are taken is crossed in
    /// one step.
    pub fn first_free(&mut self, avoid_buggy: bool, used: impl Fn(u128) -> Option<u128>) -> Option<u128> {
        let mut n = self.next?;
        loop {
            crate::work::count(crate::work::Step::FreeProbe);
            let last = match used(n) {
                Some(last) => last.max(n),
                None if avoid_buggy && is_buggy(self.family, n) => n,
                None => {
                    self.next = Some(n);
                    return Some(n);
                }
            };
            if last >= self.end {
                self.next = None;
                return None;
            }
            n = last + 1;
        }
    }
}

/// Whether an address ends in `.0` or `.255`, which some old CPE firmware
/// drops as "smurf" traffic. Only IPv4 has such addresses.
pub(crate) fn is_buggy(family: IpFamily, n: u128) -> bool {
    family == IpFamily::V4 && matches!(n & 0xff, 0 | 0xff)
}

/// How many addresses of `start..=end` end in `.0` or `.255`.
fn buggy_count(start: u128, end: u128) -> u128 {
    // Addresses in 0..=n whose last octet is r.
    let upto = |n: u128, r: u128| if n >= r { (n - r) / 256 + 1 } else { 0 };
    let upto_both = |n: u128| upto(n, 0) + upto(n, 255);
    match start.checked_sub(1) {
        Some(before) => upto_both(end) - upto_both(before),
        None => upto_both(end),
    }
}

/// A pool, ready to allocate from.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    pub name: String,
    pub auto_assign: bool,
    pub avoid_buggy: bool,
    /// `None`: every Service may use the pool.
    pub restriction: Option<ServiceAllocation>,
    /// Lower first; `None` (no priority, or 0) after every pool with one.
    pub priority: Option<i32>,
    /// In the order of `spec.addresses` (those that parse).
    pub ranges: Vec<Range>,
}

impl Pool {
    /// The pool `pool` of the configuration describes.
    pub fn new(pool: &config::Pool) -> Pool {
        Pool {
            name: pool.name.clone(),
            auto_assign: pool.auto_assign,
            avoid_buggy: pool.avoid_buggy_ips,
            restriction: pool.allocation.clone(),
            priority: pool.allocation.as_ref().and_then(|a| a.priority),
            ranges: pool.ranges.iter().map(|r| Range::new(r.range)).collect(),
        }
    }

    /// Whether `ip` is one of the pool's addresses (in a range, and not
    /// excluded as buggy).
    pub fn holds(&self, ip: IpAddr) -> bool {
        self.covers(ip) && !(self.avoid_buggy && is_buggy(IpFamily::of(ip), to_u128(ip)))
    }

    /// Whether `ip` lies in one of the pool's ranges, buggy or not.
    pub fn covers(&self, ip: IpAddr) -> bool {
        let (family, n) = (IpFamily::of(ip), to_u128(ip));
        self.ranges.iter().any(|r| r.contains(family, n))
    }

    /// Whether a Service in `namespace` with `labels` may use the pool.
    pub fn allows(&self, namespace: &str, namespace_labels: &dyn LabelSet, labels: &dyn LabelSet) -> bool {
        self.allows_namespace(namespace, namespace_labels) && self.allows_service(labels)
    }

    /// The namespace half of [`Pool::allows`].
    pub fn allows_namespace(&self, namespace: &str, namespace_labels: &dyn LabelSet) -> bool {
        self.restriction.as_ref().is_none_or(|r| r.allows_namespace(namespace, namespace_labels))
    }

    /// The Service half of [`Pool::allows`].
    pub fn allows_service(&self, labels: &dyn LabelSet) -> bool {
        self.restriction.as_ref().is_none_or(|r| r.allows_service(labels))
    }

    /// How many addresses the pool offers, IPv4 and IPv6 (buggy ones left
    /// out when avoided), saturating.
    pub fn capacity(&self) -> (u128, u128) {
        let (mut v4, mut v6) = (0u128, 0u128);
        for r in &self.ranges {
            let mut len = (r.end - r.start).saturating_add(1);
            if r.family == IpFamily::V4 && self.avoid_buggy {
                len -= buggy_count(r.start, r.end);
            }
            match r.family {
                IpFamily::V4 => v4 = v4.saturating_add(len),
                IpFamily::V6 => v6 = v6.saturating_add(len),
            }
        }
        (v4, v6)
    }
}

/// Every pool, by name, with the orders automatic allocation tries them in.
#[derive(Clone, Debug)]
pub(crate) struct Pools {
    /// Sorted by name; one per name (the first in the snapshot).
    pub pools: Vec<Pool>,
    /// Pools with a `serviceAllocation` and `autoAssign`: by priority (lower
    /// first, unprioritised last), then by name. MetalLB leaves ties to
    /// chance; the name makes the result the same on every run.
    pub with_allocation: Vec<usize>,
    /// Pools without a `serviceAllocation`, with `autoAssign`, by name.
    pub for_everyone: Vec<usize>,
}

impl Pools {
    /// The pools of a configuration.
    pub fn new(config: &[config::Pool]) -> Pools {
        let mut pools: Vec<Pool> = config.iter().map(Pool::new).collect();
        pools.sort_by(|a, b| a.name.cmp(&b.name));
        pools.dedup_by(|later, first| later.name == first.name);
        let mut with_allocation: Vec<usize> =
            (0..pools.len()).filter(|&i| pools[i].auto_assign && pools[i].restriction.is_some()).collect();
        with_allocation.sort_by_key(|&i| (pools[i].priority.is_none(), pools[i].priority, i));
        let for_everyone =
            (0..pools.len()).filter(|&i| pools[i].auto_assign && pools[i].restriction.is_none()).collect();
        Pools { pools, with_allocation, for_everyone }
    }

    /// The pool name closest to `name`, if close enough to be a typo of it.
    pub fn closest_name(&self, name: &str) -> Option<&str> {
        self.pools
            .iter()
            .map(|p| (strsim::jaro_winkler(name, &p.name), p.name.as_str()))
            .filter(|(score, _)| *score >= 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n)
    }

    /// The index of the pool called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.pools.binary_search_by(|p| p.name.as_str().cmp(name)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::pool;

    #[test]
    fn buggy_count_matches_a_scan() {
        for (s, e) in [
            (0u128, 0u128),
            (0, 255),
            (0, 256),
            (1, 254),
            (255, 256),
            (250, 1030),
            (0xffff_ff00, 0xffff_ffff),
        ] {
            let scanned = (s..=e).filter(|n| is_buggy(IpFamily::V4, *n)).count() as u128;
            assert_eq!(buggy_count(s, e), scanned, "{s}..={e}");
        }
    }

    #[test]
    fn capacity_leaves_out_buggy_ips_only_when_avoided() {
        let resolved = |builder: crate::fixtures::PoolBuilder| {
            let snapshot = crate::fixtures::snapshot(vec![builder], vec![]);
            Pool::new(&crate::fixtures::config(&snapshot).pools[0])
        };
        let p = resolved(pool("p", &["192.0.2.0/24", "198.51.100.0/23", "2001:db8::/120"]));
        assert_eq!(p.capacity(), (256 + 512, 256));
        let p = resolved(pool("p", &["192.0.2.0/24", "198.51.100.0/23", "2001:db8::/120"]).avoid_buggy());
        assert_eq!(p.capacity(), (254 + 508, 256));
    }

    #[test]
    fn cursor_skips_used_and_buggy_addresses_and_stops_at_the_end() {
        let mut r = Range::new(IpRange::parse("192.0.2.253-192.0.2.255").unwrap());
        let base = to_u128("192.0.2.253".parse().unwrap());
        assert_eq!(r.first_free(true, |n| (n == base).then_some(n)), Some(base + 1));
        assert_eq!(r.first_free(true, |n| (n <= base + 1).then_some(base + 1)), None, ".255 is buggy");
        assert_eq!(r.first_free(false, |_| None), None, "a full range stays full");
        let mut r = Range::new(IpRange::parse("198.51.100.0/31").unwrap());
        assert_eq!(r.first_free(true, |_| None), Some(to_u128("198.51.100.1".parse().unwrap())));
    }

    #[test]
    fn cursor_at_the_top_of_the_address_space_does_not_overflow() {
        let mut r = Range::new(IpRange::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127").unwrap());
        assert_eq!(r.first_free(false, |n| (n != u128::MAX).then_some(n)), Some(u128::MAX));
        assert_eq!(r.first_free(false, Some), None);
    }
}
