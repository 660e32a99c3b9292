//! Who uses which address, and whether another Service may join it.
//!
//! Services may share an address when both carry the same
//! `allow-shared-ip` key, select the same pods when traffic is node-local
//! (MetalLB's backend key), and serve no common port (protocol and number).

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_types::IpFamily;

use crate::hash::FastMap;
use crate::pool::is_buggy;
use crate::request::{Port, Protocol};

/// A Service, by its index in the sorted list of Services being allocated.
pub(crate) type Holder = u32;

/// The holder of every address held by a Service outside the run (see
/// [`Usage::hold_outside`] and [`Usage::met_outside`]).
pub(crate) const OUTSIDE: Holder = Holder::MAX;

/// A sharing group: sharing key and backend key. Only addresses held under
/// the same group may be shared.
pub(crate) type GroupId = u32;

/// A port, interned.
pub(crate) type PortId = u32;

/// The addresses held by Services outside a run: of the addresses an
/// allocation holds (sorted, by family, once per holder), those its
/// Services in the run did not hold (`except`, the same way). Counted, not
/// set apart: two Services may share an address, and one of them may be in
/// the run while the other is not.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outside<'o> {
    held: &'o [Vec<u128>; 2],
    except: &'o [Vec<u128>; 2],
}

/// No address, of either family.
static NO_ADDRESS: [Vec<u128>; 2] = [Vec::new(), Vec::new()];

impl Default for Outside<'_> {
    fn default() -> Self {
        Outside { held: &NO_ADDRESS, except: &NO_ADDRESS }
    }
}

impl<'o> Outside<'o> {
    /// What `held` holds but `except` (both sorted, by family).
    pub fn new(held: &'o [Vec<u128>; 2], except: &'o [Vec<u128>; 2]) -> Self {
        Outside { held, except }
    }

    /// Whether a Service outside the run holds `n`.
    pub fn holds(&self, family: IpFamily, n: u128) -> bool {
        let i = index(family);
        count(&self.held[i], n) > count(&self.except[i], n)
    }

    /// When Services outside the run hold `n`: the last address of the run
    /// of held ones it starts. One walk along the held addresses (a pool
    /// of 100,000 held in a row is a run of 100,000).
    pub fn run_end(&self, family: IpFamily, n: u128) -> Option<u128> {
        let i = index(family);
        let (held, except) = (&self.held[i], &self.except[i]);
        let mut at = held.partition_point(|&h| h < n);
        let mut last = None;
        let mut expected = n;
        while let Some(&value) = held.get(at)
            && value == expected
        {
            let holders = held[at..].iter().take_while(|&&h| h == value).count();
            if holders <= count(except, value) {
                break;
            }
            last = Some(value);
            at += holders;
            match expected.checked_add(1) {
                Some(next) => expected = next,
                None => break,
            }
        }
        last
    }
}

/// How many times `sorted` holds `n`.
fn count(sorted: &[u128], n: u128) -> usize {
    sorted.partition_point(|&h| h <= n) - sorted.partition_point(|&h| h < n)
}

/// What a Service brings to an address.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    pub holder: Holder,
    /// `None` when the Service does not allow sharing.
    pub group: Option<GroupId>,
    /// Its ports, as an interned set (see [`Usage::ports_of`]).
    pub port_set: u32,
}

/// Why a Service may not use an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// It or the holder does not allow sharing.
    NoSharing { by: Holder },
    /// The holder has another sharing key.
    KeyMismatch { by: Holder, existing: GroupId },
    /// Same sharing key, other backends.
    BackendMismatch { by: Holder },
    /// The holder already serves the port there.
    PortInUse { port: PortId, by: Holder },
}

/// One address in use.
#[derive(Clone, Debug)]
struct IpUse {
    /// The pool it was taken from (by the first holder), for statistics.
    pool: u32,
    group: Option<GroupId>,
    /// The first holder.
    first: Holder,
    /// Only for shareable addresses (boxed: most are not, and a run may
    /// hold 100,000 addresses).
    shared: Option<Box<SharedUse>>,
}

/// Who else holds a shareable address, and which holder serves each port.
#[derive(Clone, Debug, Default)]
struct SharedUse {
    others: Vec<Holder>,
    ports: BTreeMap<PortId, Holder>,
}

/// A family's place in per-family arrays.
pub(crate) fn index(family: IpFamily) -> usize {
    match family {
        IpFamily::V4 => 0,
        IpFamily::V6 => 1,
    }
}

/// Every address in use in one run, with what sharing needs to know.
#[derive(Debug, Default)]
pub(crate) struct Usage<'o> {
    /// By family, then by address.
    ips: [FastMap<u128, IpUse>; 2],
    groups: Vec<(String, String)>,
    /// By sharing key, then backend: looked up without copying either.
    group_ids: FastMap<String, FastMap<String, GroupId>>,
    /// Addresses held by each group, by family.
    group_ips: Vec<[BTreeSet<u128>; 2]>,
    /// For a group and a set of ports: the group's addresses not yet seen
    /// to clash with those ports. Ports are only ever added to an address
    /// during a run, so an address that clashes once clashes for good and
    /// is dropped from the set; a search never looks at it again.
    candidates: FastMap<(GroupId, u32), [BTreeSet<u128>; 2]>,
    /// Port sets with a candidate set, by group.
    port_sets_of_group: Vec<Vec<u32>>,
    port_ids: FastMap<Port, PortId>,
    port_list: Vec<Port>,
    /// Interned port sets (sorted, without repeats), both ways.
    port_sets: FastMap<Vec<PortId>, u32>,
    port_set_list: Vec<Vec<PortId>>,
    /// Reused to look port sets up without allocating.
    scratch: Vec<PortId>,
    /// Addresses held by Services outside the run: kept apart from `ips`
    /// (100,000 of them sorted cost less than hashed).
    outside: Outside<'o>,
    /// Whether a check found an address held by [`OUTSIDE`].
    met_outside: std::cell::Cell<bool>,
}

impl<'o> Usage<'o> {
    /// The claim of `holder` with `ports`, sharing under `sharing` (if any)
    /// and `backend`.
    pub fn claim(&mut self, holder: Holder, sharing: Option<&str>, backend: &str, ports: &[Port]) -> Claim {
        let group = sharing.map(|key| {
            if let Some(&id) = self.group_ids.get(key).and_then(|by_backend| by_backend.get(backend)) {
                return id;
            }
            let id = self.groups.len() as GroupId;
            self.groups.push((key.to_owned(), backend.to_owned()));
            self.group_ids.entry(key.to_owned()).or_default().insert(backend.to_owned(), id);
            self.group_ips.push(Default::default());
            self.port_sets_of_group.push(Vec::new());
            id
        });
        self.scratch.clear();
        for p in ports {
            let id = match self.port_ids.get(p) {
                Some(&id) => id,
                None => {
                    let id = self.port_list.len() as PortId;
                    self.port_list.push(p.clone());
                    self.port_ids.insert(p.clone(), id);
                    id
                }
            };
            self.scratch.push(id);
        }
        self.scratch.sort_unstable();
        self.scratch.dedup();
        let port_set = match self.port_sets.get(self.scratch.as_slice()) {
            Some(&set) => set,
            None => {
                let set = self.port_set_list.len() as u32;
                self.port_sets.insert(self.scratch.clone(), set);
                self.port_set_list.push(self.scratch.clone());
                set
            }
        };
        Claim { holder, group, port_set }
    }

    /// The ports of a claim, sorted.
    pub fn ports_of(&self, claim: &Claim) -> &[PortId] {
        self.port_set_list.get(claim.port_set as usize).map_or(&[], Vec::as_slice)
    }

    /// The sharing key of a group.
    pub fn sharing_key(&self, group: GroupId) -> &str {
        self.groups.get(group as usize).map_or("", |g| g.0.as_str())
    }

    /// The port behind an id.
    pub fn port(&self, id: PortId) -> Port {
        self.port_list.get(id as usize).cloned().unwrap_or(Port { protocol: Protocol::Tcp, port: 0 })
    }

    /// Records that Services outside the run hold the addresses of
    /// `outside`, sharing with nobody in it. They are not counted by
    /// [`Usage::count_by_pool`].
    pub fn hold_outside(&mut self, outside: Outside<'o>) {
        self.outside = outside;
    }

    fn is_outside(&self, family: IpFamily, n: u128) -> bool {
        self.outside.holds(family, n)
    }

    /// `None` when no Service holds the address; else the last address of
    /// the run of held ones it starts (itself, unless Services outside the
    /// run hold the next ones too).
    pub fn used_run(&self, family: IpFamily, n: u128) -> Option<u128> {
        if self.ips[index(family)].contains_key(&n) {
            return Some(n);
        }
        self.outside.run_end(family, n)
    }

    /// Whether `claim` may use the address (free, or shareable with it).
    pub fn check(&self, family: IpFamily, n: u128, claim: &Claim) -> Result<(), Conflict> {
        let Some(used) = self.ips[index(family)].get(&n) else {
            if self.is_outside(family, n) {
                self.met_outside.set(true);
                return Err(Conflict::NoSharing { by: OUTSIDE });
            }
            return Ok(());
        };
        // A Service that is the only holder may change how it holds the address.
        let others = used.shared.as_ref().map_or(&[][..], |s| s.others.as_slice());
        let holders = std::iter::once(used.first).chain(others.iter().copied());
        let Some(by) = holders.filter(|h| *h != claim.holder).min() else {
            return Ok(());
        };
        if by == OUTSIDE {
            self.met_outside.set(true);
        }
        match (claim.group, used.group) {
            (Some(mine), Some(theirs)) if mine == theirs => {}
            (Some(mine), Some(theirs)) => {
                let (m, t) = (&self.groups[mine as usize], &self.groups[theirs as usize]);
                return Err(if m.0 != t.0 {
                    Conflict::KeyMismatch { by, existing: theirs }
                } else {
                    Conflict::BackendMismatch { by }
                });
            }
            _ => return Err(Conflict::NoSharing { by }),
        }
        match first_clash(used, self.ports_of(claim), claim.holder) {
            Some((port, by)) => Err(Conflict::PortInUse { port, by }),
            None => Ok(()),
        }
    }

    /// Records that `claim` holds the address, taken from pool `pool`.
    /// The caller has checked that it may.
    pub fn take(&mut self, family: IpFamily, n: u128, claim: &Claim, pool: u32) {
        let fam = index(family);
        let mut joined = None;
        let used = self.ips[fam].entry(n).or_insert_with(|| {
            joined = claim.group;
            IpUse { pool, group: claim.group, first: claim.holder, shared: None }
        });
        // Only a shareable address (its first holder's group) gets a second holder.
        if used.group.is_some() {
            let shared = used.shared.get_or_insert_with(Box::default);
            if used.first != claim.holder && !shared.others.contains(&claim.holder) {
                shared.others.push(claim.holder);
            }
            let ports = self.port_set_list.get(claim.port_set as usize).map_or(&[][..], Vec::as_slice);
            for &p in ports {
                shared.ports.insert(p, claim.holder);
            }
        }
        if let Some(group) = joined {
            let g = group as usize;
            self.group_ips[g][fam].insert(n);
            for set in &self.port_sets_of_group[g] {
                if let Some(c) = self.candidates.get_mut(&(group, *set)) {
                    c[fam].insert(n);
                }
            }
        }
    }

    /// The lowest address in `start..=end` that the claim's group already
    /// holds and that the claim may join (no port in common).
    pub fn shared_candidate(
        &mut self,
        claim: &Claim,
        family: IpFamily,
        start: u128,
        end: u128,
        avoid_buggy: bool,
    ) -> Option<u128> {
        let group = claim.group?;
        let fam = index(family);
        let g = group as usize;
        // Most searches find nothing to share; they need no candidate set.
        self.group_ips.get(g)?[fam].range(start..=end).next()?;
        let key = (group, claim.port_set);
        if !self.candidates.contains_key(&key) {
            self.port_sets_of_group[g].push(claim.port_set);
            self.candidates.insert(key, self.group_ips[g].clone());
        }
        let candidates = self.candidates.get_mut(&key)?;
        let ports = self.port_set_list.get(claim.port_set as usize).map_or(&[][..], Vec::as_slice);
        let mut clashing = Vec::new();
        let mut found = None;
        for &n in candidates[fam].range(start..=end) {
            crate::work::count(crate::work::Step::SharedCandidate);
            if avoid_buggy && is_buggy(family, n) {
                continue;
            }
            let Some(used) = self.ips[fam].get(&n) else { continue };
            if first_clash(used, ports, claim.holder).is_some() {
                clashing.push(n);
                continue;
            }
            found = Some(n);
            break;
        }
        for n in clashing {
            candidates[fam].remove(&n);
        }
        found
    }

    /// Whether any check so far met an address held by [`OUTSIDE`]: then a
    /// run over every Service might have decided otherwise.
    pub fn met_outside(&self) -> bool {
        self.met_outside.get()
    }

    /// Addresses in use per pool: `(pool, IPv4 count, IPv6 count)` summed into `counts`.
    pub fn count_by_pool(&self, counts: &mut [(u64, u64)]) {
        for (fam, map) in self.ips.iter().enumerate() {
            for used in map.values() {
                if let Some(c) = counts.get_mut(used.pool as usize) {
                    if fam == 0 {
                        c.0 += 1;
                    } else {
                        c.1 += 1;
                    }
                }
            }
        }
    }
}

/// The first of `ports` a holder other than `holder` already serves on the address.
fn first_clash(used: &IpUse, ports: &[PortId], holder: Holder) -> Option<(PortId, Holder)> {
    let shared = used.shared.as_ref()?;
    ports.iter().find_map(|p| match shared.ports.get(p) {
        Some(&by) if by != holder => Some((*p, by)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(n: i32) -> Port {
        Port { protocol: Protocol::Tcp, port: n }
    }

    #[test]
    fn free_address_is_open_to_anyone() {
        let mut u = Usage::default();
        let c = u.claim(0, None, "", &[port(80)]);
        assert_eq!(u.check(IpFamily::V4, 1, &c), Ok(()));
    }

    #[test]
    fn address_without_key_is_not_shared() {
        let mut u = Usage::default();
        let a = u.claim(0, None, "", &[port(80)]);
        let b = u.claim(1, Some("k"), "", &[port(443)]);
        u.take(IpFamily::V4, 1, &a, 0);
        assert_eq!(u.check(IpFamily::V4, 1, &b), Err(Conflict::NoSharing { by: 0 }));
    }

    #[test]
    fn same_key_with_distinct_ports_shares_and_same_port_clashes() {
        let mut u = Usage::default();
        let a = u.claim(0, Some("k"), "", &[port(80)]);
        let b = u.claim(1, Some("k"), "", &[port(443)]);
        let c = u.claim(2, Some("k"), "", &[port(80)]);
        u.take(IpFamily::V4, 1, &a, 0);
        assert_eq!(u.check(IpFamily::V4, 1, &b), Ok(()));
        assert_eq!(u.shared_candidate(&b, IpFamily::V4, 0, 10, false), Some(1));
        let p80 = u.ports_of(&c)[0];
        assert_eq!(u.check(IpFamily::V4, 1, &c), Err(Conflict::PortInUse { port: p80, by: 0 }));
        assert_eq!(u.shared_candidate(&c, IpFamily::V4, 0, 10, false), None);
    }

    #[test]
    fn other_backend_under_the_same_key_is_refused() {
        let mut u = Usage::default();
        let a = u.claim(0, Some("k"), "app=a", &[port(80)]);
        let b = u.claim(1, Some("k"), "app=b", &[port(443)]);
        u.take(IpFamily::V4, 1, &a, 0);
        assert_eq!(u.check(IpFamily::V4, 1, &b), Err(Conflict::BackendMismatch { by: 0 }));
    }

    #[test]
    fn a_check_that_meets_an_address_held_outside_the_run_is_remembered() {
        let mut u = Usage::default();
        let (held, except) = ([vec![1, 2, 3, 3, 4, 7], vec![]], [vec![3, 4], vec![]]);
        u.hold_outside(Outside::new(&held, &except));
        let a = u.claim(0, Some("k"), "", &[port(80)]);
        assert_eq!(u.used_run(IpFamily::V4, 1), Some(3), "held outside from 1 to 3");
        assert_eq!(u.used_run(IpFamily::V4, 4), None);
        assert_eq!(u.used_run(IpFamily::V4, 7), Some(7));
        assert_eq!(u.used_run(IpFamily::V6, 1), None);
        assert_eq!(u.check(IpFamily::V4, 4, &a), Ok(()));
        assert!(!u.met_outside());
        assert_eq!(u.check(IpFamily::V4, 1, &a), Err(Conflict::NoSharing { by: OUTSIDE }));
        assert!(u.met_outside());
    }

    #[test]
    fn candidates_learn_of_addresses_joining_the_group_later() {
        let mut u = Usage::default();
        let a = u.claim(0, Some("k"), "", &[port(80)]);
        let b = u.claim(1, Some("k"), "", &[port(80)]);
        let c = u.claim(2, Some("k"), "", &[port(443)]);
        u.take(IpFamily::V4, 5, &a, 0);
        assert_eq!(u.shared_candidate(&b, IpFamily::V4, 0, 10, false), None);
        u.take(IpFamily::V4, 3, &c, 0);
        assert_eq!(u.shared_candidate(&b, IpFamily::V4, 0, 10, false), Some(3));
    }
}
