//! [`allocate`]: every LoadBalancer Service of a snapshot gets its addresses,
//! keeps the ones it had, or learns why not.
//!
//! Three passes over the Services, each in (namespace, name) order:
//!
//! 1. **Keep.** A Service's previous addresses (from the previous result, or
//!    else from its own `status.loadBalancer`) are checked against today's
//!    configuration and reserved if still allowed, before anything new is
//!    handed out, so that a restart or a config edit moves nobody needlessly.
//! 2. **Requested.** Services asking for given addresses get them, if they
//!    may.
//! 3. **Automatic.** Every other Service gets the first free addresses of
//!    the pools it may use (the one it names, or the first that has some).

use std::cmp::Ordering;
use std::net::IpAddr;
use std::rc::Rc;

use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_api::labels::{LabelSet, Labels};
use ferrolb_api::metallb::IPAddressPoolStatus;
use ferrolb_api::service::LbService;
use ferrolb_types::IpFamily;
use ferrolb_types::ip::{from_u128, to_u128};

use crate::assignments::{Assignment, Assignments, ServiceKey};
use crate::error::{AllocationError, ReleaseReason};
use crate::families::{Families, other};
use crate::hash::FastMap;
use crate::pool::Pools;
use crate::request::{Request, canonical};
use crate::sharing::{Claim, Conflict, Holder, Outside, Usage};

/// How ferrolb is deployed, as far as allocation cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The `spec.loadBalancerClass` ferrolb serves. `None`: only Services
    /// without a class; `Some(c)`: only Services of class `c` (as MetalLB's
    /// `--lb-class`).
    pub lb_class: Option<String>,
}

/// What one Service gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOutcome {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The pool its addresses come from; `None` when it has none.
    pub pool: Option<String>,
    /// Its addresses; empty on failure. New ones list first the family the
    /// Service lists first; kept ones stay in the order it holds them, as
    /// MetalLB keeps them (which lists an automatic dual-stack pair IPv4
    /// first), so that neither a restart nor a move from MetalLB rewrites a
    /// status for the order alone.
    pub ips: Vec<IpAddr>,
    /// Why it has no address, or why what it asks for cannot be read (it
    /// then keeps what it had, as MetalLB does). (Boxed, as `released`.)
    pub error: Option<Box<AllocationError>>,
    /// The families it wants.
    pub families: Families,
    /// Previous addresses it gave up, and why.
    /// (Boxed: rare, and large beside the rest; an outcome is kept per Service.)
    pub released: Option<Box<Released>>,
}

/// Addresses a Service held before and does not hold now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// The addresses.
    pub ips: Vec<IpAddr>,
    /// Why.
    pub reason: ReleaseReason,
}

/// How many addresses of a pool are in use and free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// The pool.
    pub name: String,
    /// IPv4 addresses held by Services.
    pub assigned_ipv4: i64,
    /// IPv6 addresses held by Services.
    pub assigned_ipv6: i64,
    /// IPv4 addresses still free.
    pub available_ipv4: i64,
    /// IPv6 addresses still free, saturated at `i64::MAX`.
    pub available_ipv6: i64,
    /// Services holding addresses of it.
    pub services: i64,
}

impl PoolStats {
    /// The statistics as an `IPAddressPool` status.
    pub fn status(&self) -> IPAddressPoolStatus {
        IPAddressPoolStatus {
            assigned_ipv4: self.assigned_ipv4,
            assigned_ipv6: self.assigned_ipv6,
            available_ipv4: self.available_ipv4,
            available_ipv6: self.available_ipv6,
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Every LoadBalancer Service ferrolb handles, by (namespace, name).
    pub services: Vec<ServiceOutcome>,
    /// Every pool, by name.
    pub pools: Vec<PoolStats>,
}

impl Allocation {
    /// Who holds what, to pass to the next run.
    pub fn assignments(&self) -> Assignments {
        self.services
            .iter()
            .filter_map(|s| {
                let pool = s.pool.clone()?;
                (!s.ips.is_empty()).then(|| {
                    (
                        ServiceKey::new(s.namespace.clone(), s.name.clone()),
                        Assignment { pool, ips: s.ips.clone() },
                    )
                })
            })
            .collect()
    }

    /// The outcome of `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&ServiceOutcome> {
        self.get_index(namespace, name).map(|i| &self.services[i])
    }

    /// Lookups of outcomes for Services taken in (namespace, name) order,
    /// as a snapshot lists them: see [`Walk`].
    pub fn walk(&self) -> Walk<'_> {
        Walk { services: &self.services, next: 0 }
    }

    /// Where the outcome of `namespace/name` is in `services`.
    pub(crate) fn get_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.services
            .binary_search_by(|s| (s.namespace.as_str(), s.name.as_str()).cmp(&(namespace, name)))
            .ok()
    }
}

/// Outcomes looked up one Service after another: each lookup starts where
/// the last one ended, so that lookups in (namespace, name) order cost a
/// comparison each, not a search over 100k names; a lookup out of that
/// order is a search, and finds the same.
pub struct Walk<'a> {
    services: &'a [ServiceOutcome],
    /// Where the outcome after the last one looked up is.
    next: usize,
}

impl<'a> Walk<'a> {
    /// The outcome of `namespace/name`, as [`Allocation::get`] finds it.
    pub fn get(&mut self, namespace: &str, name: &str) -> Option<&'a ServiceOutcome> {
        fn key(s: &ServiceOutcome) -> (&str, &str) {
            (&s.namespace, &s.name)
        }
        let wanted = (namespace, name);
        let services = self.services;
        // Everything before `next` sorts before `wanted` when the outcome
        // just before it does: then `wanted` is at `next` or after.
        let onward = self.next.checked_sub(1).is_none_or(|last| key(&services[last]) < wanted);
        let at = match services.get(self.next) {
            Some(s) if onward && key(s) >= wanted => self.next,
            _ if onward => self.next + services[self.next..].partition_point(|s| key(s) < wanted),
            _ => services.partition_point(|s| key(s) < wanted),
        };
        self.next = at;
        let found = services.get(at).filter(|s| key(s) == wanted)?;
        self.next = at + 1;
        Some(found)
    }
}

/// One Service being allocated.
struct Subject<'a> {
    namespace: &'a str,
    name: &'a str,
    labels: &'a Labels,
    namespace_labels: &'a (dyn LabelSet + Sync),
    request: Request,
    claim: Claim,
    /// The pool it says it had, and the addresses.
    previous: Option<(Option<&'a str>, Vec<IpAddr>)>,
}

impl Subject<'_> {
    fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Allocates addresses from the pools of `config` to every LoadBalancer
/// Service in `snapshot` that `options` says ferrolb handles, keeping the
/// `previous` ones that are still allowed. The same inputs give the same
/// result.
pub fn allocate(
    config: &Config,
    snapshot: &Snapshot,
    previous: &Assignments,
    options: &Options,
) -> Allocation {
    let services = handled_services(snapshot, options);
    allocate_services(config, snapshot, &services, previous, Outside::default()).0
}

/// The passes over `services` (sorted by (namespace, name), one per name),
/// while Services outside the run keep the addresses `outside` (sorted, by
/// family; they share with none of `services` and are left out of the pool
/// counts). Also says whether any of `services` ran into an address held
/// outside, i.e. whether a run over every Service could have ended
/// otherwise (see [`reallocate`]).
///
/// [`reallocate`]: crate::reallocate
pub(crate) fn allocate_services(
    config: &Config,
    snapshot: &Snapshot,
    services: &[(&str, &str, &LbService)],
    previous: &Assignments,
    outside: Outside<'_>,
) -> (Allocation, bool) {
    let mut pools = Pools::new(&config.pools);
    let namespace_labels: FastMap<&str, &(dyn LabelSet + Sync)> = snapshot
        .namespaces
        .iter()
        .filter_map(|ns| {
            Some((ns.metadata.name.as_deref()?, ns.metadata.labels.as_ref()? as &(dyn LabelSet + Sync)))
        })
        .collect();

    let mut usage = Usage::default();
    usage.hold_outside(outside);
    // What each Service asks, and what its status says it holds, is read
    // from it alone: at 100k Services, a fifth of a run, which two cores halve.
    let read = map_halves(services, |&(_, _, service)| (Request::of(service), status_ips(service)));
    // Both lists are sorted by (namespace, name): walk them side by side.
    let mut earlier = previous.iter().peekable();
    let subjects: Vec<Subject> = services
        .iter()
        .zip(read)
        .enumerate()
        .map(|(i, (&(namespace, name, service), (request, status)))| {
            while earlier
                .next_if(|(k, _)| (k.namespace.as_str(), k.name.as_str()) < (namespace, name))
                .is_some()
            {}
            let had = earlier
                .next_if(|(k, _)| (k.namespace.as_str(), k.name.as_str()) == (namespace, name))
                .map(|(_, a)| a);
            let claim =
                usage.claim(i as Holder, request.sharing.as_deref(), &request.backend, &request.ports);
            Subject {
                namespace,
                name,
                labels: &service.labels,
                namespace_labels: namespace_labels.get(namespace).copied().unwrap_or(&()),
                previous: previous_ips(had, status),
                request,
                claim,
            }
        })
        .collect();

    let mut held: Vec<Option<(usize, Vec<IpAddr>)>> = vec![None; subjects.len()];
    let mut released: Vec<Option<Box<Released>>> = vec![None; subjects.len()];
    let mut errors: Vec<Option<Box<AllocationError>>> = vec![None; subjects.len()];

    let mut run =
        Run { pools: &mut pools, usage: &mut usage, subjects: &subjects, by_namespace: FastMap::default() };
    for (i, subject) in subjects.iter().enumerate() {
        let Some((pool_name, ips)) = &subject.previous else { continue };
        match run.keep(subject, *pool_name, ips) {
            Ok(pool) => {
                run.take(subject, pool, ips);
                held[i] = Some((pool, ips.clone()));
            }
            Err(reason) => released[i] = Some(Box::new(Released { ips: ips.clone(), reason })),
        }
    }
    // Services asking for given addresses go before those that can do with
    // any, so that an automatic pick never takes an address someone asked for.
    let asks = |s: &Subject| s.request.ips.as_ref().is_ok_and(|ips| !ips.is_empty());
    let order = (0..subjects.len())
        .filter(|&i| asks(&subjects[i]))
        .chain((0..subjects.len()).filter(|&i| !asks(&subjects[i])));
    for i in order {
        let subject = &subjects[i];
        if let Err(e) = &subject.request.ips {
            errors[i] = Some(e.clone());
        }
        match &mut held[i] {
            Some((pool, ips)) => run.add_missing_family(subject, *pool, ips),
            None => match run.allocate_new(subject) {
                Ok((pool, mut ips)) => {
                    run.take(subject, pool, &ips);
                    ips.sort_by_key(|ip| IpFamily::of(*ip) != subject.request.families.primary());
                    held[i] = Some((pool, ips));
                }
                Err(e) => errors[i] = Some(Box::new(e)),
            },
        }
    }

    // A conflict names a holder of the address; name it from the final
    // holders, so that the reason reads the same on the next run.
    for (i, subject) in subjects.iter().enumerate() {
        if let (Some(e), Ok(requested)) = (&errors[i], &subject.request.ips)
            && e.is_conflict()
            && let Err(e) = run.check_all(subject, requested)
        {
            errors[i] = Some(Box::new(e));
        }
    }

    /// What the passes settled for one Service: what it holds, why it
    /// failed, what it gave up.
    type Settled = ((Option<(usize, Vec<IpAddr>)>, Option<Box<AllocationError>>), Option<Box<Released>>);
    let outcome = |(subject, ((held, error), released)): (&Subject, Settled)| {
        let (pool, ips) = match held {
            Some((pool, ips)) => (Some(pools.pools[pool].name.clone()), ips),
            None => (None, Vec::new()),
        };
        ServiceOutcome {
            namespace: subject.namespace.to_owned(),
            name: subject.name.to_owned(),
            pool,
            ips,
            error,
            families: subject.request.families,
            released,
        }
    };
    // Each outcome is its Service's alone: the second half of many built
    // on a second core.
    let mut settled: Vec<Settled> = held.into_iter().zip(errors).zip(released).collect();
    let middle = if settled.len() < PARALLEL_ITEMS { settled.len() } else { settled.len() / 2 };
    let later = settled.split_off(middle);
    let first = || {
        let mut services = Vec::with_capacity(crate::sorted::room_for_edits(subjects.len()));
        services.extend(subjects.iter().zip(settled).map(outcome));
        services
    };
    let services = if later.is_empty() {
        first()
    } else {
        let (mut services, later) =
            both(first, || subjects[middle..].iter().zip(later).map(outcome).collect::<Vec<_>>());
        services.extend(later);
        services
    };

    let pools = pool_stats(&pools, &usage, &services);
    (Allocation { services, pools }, usage.met_outside())
}

/// Below this many items a second thread costs more than it saves.
const PARALLEL_ITEMS: usize = 4096;

/// `first()` and `second()`, the second on another thread.
fn both<A, B: Send>(first: impl FnOnce() -> A, second: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|scope| {
        let second = scope.spawn(second);
        let first = first();
        (first, second.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// `f` of every item, in order; the second half of many on a second thread.
fn map_halves<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < PARALLEL_ITEMS {
        return items.iter().map(f).collect();
    }
    let (first, second) = items.split_at(items.len() / 2);
    let (mut all, rest) = both(
        || {
            let mut all = Vec::with_capacity(items.len());
            all.extend(first.iter().map(&f));
            all
        },
        || second.iter().map(&f).collect::<Vec<R>>(),
    );
    all.extend(rest);
    all
}

/// `items` sorted by `order`, under which no two are equal (so that the
/// result is that of one sort); the halves of many sorted on two cores,
/// then merged.
fn sort_halves<T: Copy + Send>(mut items: Vec<T>, order: impl Fn(&T, &T) -> Ordering + Sync) -> Vec<T> {
    if items.len() < PARALLEL_ITEMS {
        items.sort_unstable_by(order);
        return items;
    }
    let middle = items.len() / 2;
    let (first, second) = items.split_at_mut(middle);
    both(|| first.sort_unstable_by(&order), || second.sort_unstable_by(&order));
    let (mut first, mut second) = (items[..middle].iter().peekable(), items[middle..].iter().peekable());
    let mut merged = Vec::with_capacity(items.len());
    while let (Some(a), Some(b)) = (first.peek(), second.peek()) {
        if order(a, b).is_lt() {
            merged.extend(first.next());
        } else {
            merged.extend(second.next());
        }
    }
    merged.extend(first.chain(second));
    merged
}

/// The Services ferrolb handles, sorted by (namespace, name), one per name.
pub(crate) fn handled_services<'a>(
    snapshot: &'a Snapshot,
    options: &Options,
) -> Vec<(&'a str, &'a str, &'a LbService)> {
    let mut services: Vec<(&str, &str, &LbService)> = snapshot
        .services
        .iter()
        .filter(|s| handles(s, options))
        .map(|s| (namespace_of(s), &*s.name, &s.object))
        .collect();
    // Stable: of two objects with one name, the first in the snapshot counts.
    // Lists read from a store are often sorted already; checking is cheap.
    if !services.is_sorted_by(|a, b| (a.0, a.1) <= (b.0, b.1)) {
        // The unstable sort is markedly faster; `dedup_by` below needs the
        // first of two equal names first, which the index keeps.
        let indexed: Vec<_> = services.into_iter().enumerate().collect();
        let sorted = sort_halves(indexed, |(i, a), (j, b)| (a.0, a.1, *i).cmp(&(b.0, b.1, *j)));
        services = sorted.into_iter().map(|(_, s)| s).collect();
    }
    services.dedup_by(|later, first| (later.0, later.1) == (first.0, first.1));
    services
}

/// Addresses assigned and free, and the Services holding them, per pool.
fn pool_stats(pools: &Pools, usage: &Usage, services: &[ServiceOutcome]) -> Vec<PoolStats> {
    let mut counts = vec![(0u64, 0u64); pools.pools.len()];
    usage.count_by_pool(&mut counts);
    let mut holders: FastMap<&str, i64> = FastMap::default();
    for outcome in services.iter().filter(|o| !o.ips.is_empty()) {
        if let Some(pool) = &outcome.pool {
            *holders.entry(pool.as_str()).or_default() += 1;
        }
    }
    let clamp = |n: u128| i64::try_from(n).unwrap_or(i64::MAX);
    pools
        .pools
        .iter()
        .zip(counts)
        .map(|(pool, (v4, v6))| {
            let (cap4, cap6) = pool.capacity();
            PoolStats {
                name: pool.name.clone(),
                assigned_ipv4: clamp(v4.into()),
                assigned_ipv6: clamp(v6.into()),
                available_ipv4: clamp(cap4.saturating_sub(v4.into())),
                available_ipv6: clamp(cap6.saturating_sub(v6.into())),
                services: holders.get(pool.name.as_str()).copied().unwrap_or_default(),
            }
        })
        .collect()
}

/// Whether ferrolb handles `service`: type LoadBalancer, and the class it serves.
pub(crate) fn handles(service: &LbService, options: &Options) -> bool {
    service.load_balancer && service.load_balancer_class.as_deref() == options.lb_class.as_deref()
}

/// The namespace a Service's outcome and assignment are kept under:
/// `default` for one that names none.
pub fn namespace_of(service: &LbService) -> &str {
    if service.namespace.is_empty() { "default" } else { &service.namespace }
}

/// The addresses the Service held: from `previous`, else those its status
/// records (`status`, from [`status_ips`]).
fn previous_ips(previous: Option<&Assignment>, status: Vec<IpAddr>) -> Option<(Option<&str>, Vec<IpAddr>)> {
    match previous {
        Some(a) if !a.ips.is_empty() => Some((Some(a.pool.as_str()), unique(a.ips.iter().copied()))),
        _ => (!status.is_empty()).then_some((None, status)),
    }
}

/// The addresses the Service's `status.loadBalancer` records.
fn status_ips(service: &LbService) -> Vec<IpAddr> {
    unique(service.ingress_ips.iter().filter_map(|ip| ip.trim().parse::<IpAddr>().ok()))
}

/// `ips` as Go reads them, each once.
fn unique(ips: impl Iterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut unique: Vec<IpAddr> = Vec::new();
    for ip in ips.map(canonical) {
        if !unique.contains(&ip) {
            unique.push(ip);
        }
    }
    unique
}

/// The state of one run.
struct Run<'r, 'a> {
    pools: &'r mut Pools,
    usage: &'r mut Usage<'a>,
    subjects: &'r [Subject<'a>],
    /// The pools with a serviceAllocation that each namespace may use:
    /// decided once per namespace, not once per Service (100 pools with
    /// namespace selectors and 100k Services are 10M selector matches).
    by_namespace: FastMap<&'a str, Rc<[usize]>>,
}

impl<'a> Run<'_, 'a> {
    /// Whether `subject` may keep `ips`, and from which pool.
    fn keep(
        &self,
        subject: &Subject,
        pool_name: Option<&str>,
        ips: &[IpAddr],
    ) -> Result<usize, ReleaseReason> {
        let families = subject.request.families;
        if !families.accepts(ips) {
            return Err(ReleaseReason::FamilyChanged { families });
        }
        let pool = self
            .pool_of(subject, ips, &[pool_name, subject.request.pool.as_deref()])
            .map_err(ReleaseReason::NotAllowed)?;
        let name = &self.pools.pools[pool].name;
        if !self.allows(pool, subject) {
            let pool = name.clone();
            return Err(ReleaseReason::NotAllowed(AllocationError::PoolNotAllowed { pool }));
        }
        if let Some(wanted) = &subject.request.pool
            && wanted != name
        {
            return Err(ReleaseReason::PoolChanged { from: name.clone(), to: wanted.clone() });
        }
        if let Ok(requested) = &subject.request.ips {
            let same = requested.len() == ips.len() && requested.iter().all(|ip| ips.contains(ip));
            if !requested.is_empty() && !same {
                return Err(ReleaseReason::IpsChanged { requested: requested.clone() });
            }
        }
        self.check_all(subject, ips).map_err(ReleaseReason::NotAllowed).map(|()| pool)
    }

    /// A new allocation for `subject`.
    fn allocate_new(&mut self, subject: &Subject<'a>) -> Result<(usize, Vec<IpAddr>), AllocationError> {
        let requested = subject.request.ips.as_ref().map_err(|e| (**e).clone())?;
        if !requested.is_empty() {
            return self.requested(subject, requested).map(|pool| (pool, requested.clone()));
        }
        if self.pools.pools.is_empty() {
            return Err(AllocationError::NoPools);
        }
        match &subject.request.pool {
            Some(name) => self.named_pool(subject, name),
            None => self.automatic(subject),
        }
    }

    /// Whether `subject` may have the addresses it asks for, and from which pool.
    fn requested(&self, subject: &Subject, ips: &[IpAddr]) -> Result<usize, AllocationError> {
        let families = subject.request.families;
        if !families.accepts(ips) {
            return Err(AllocationError::RequestedFamilyMismatch { ips: ips.to_vec(), families });
        }
        let wanted = subject.request.pool.as_deref();
        let pool = self.pool_of(subject, ips, &[wanted])?;
        let name = &self.pools.pools[pool].name;
        if let Some(wanted) = wanted
            && wanted != name
        {
            return Err(AllocationError::RequestedIpsOutsidePool {
                ips: ips.to_vec(),
                pool: wanted.to_owned(),
            });
        }
        if !self.allows(pool, subject) {
            return Err(AllocationError::PoolNotAllowed { pool: name.clone() });
        }
        self.check_all(subject, ips)?;
        Ok(pool)
    }

    /// Addresses from the pool the Service names.
    fn named_pool(&mut self, subject: &Subject, name: &str) -> Result<(usize, Vec<IpAddr>), AllocationError> {
        let Some(pool) = self.pools.find(name) else {
            let closest = self.pools.closest_name(name).map(str::to_owned);
            return Err(AllocationError::UnknownPool { pool: name.to_owned(), closest });
        };
        if !self.allows(pool, subject) {
            return Err(AllocationError::PoolNotAllowed { pool: name.to_owned() });
        }
        // Whether the pool has ranges of the right families is a fact of the
        // configuration, so the reason stays the same from run to run.
        let families = subject.request.families;
        let has = |family| self.pools.pools[pool].ranges.iter().any(|r| r.family == family);
        let lacking = match families {
            Families::Single(f) => !has(f),
            Families::RequireDual(_) => !has(IpFamily::V4) || !has(IpFamily::V6),
            Families::PreferDual(_) => !has(IpFamily::V4) && !has(IpFamily::V6),
        };
        if lacking {
            return Err(AllocationError::PoolLacksFamily { pool: name.to_owned(), families });
        }
        let primary = families.primary();
        let first = self.candidate(subject, pool, primary);
        let second = match families {
            Families::Single(_) => None,
            _ => self.candidate(subject, pool, other(primary)),
        };
        let ips = match (families, first, second) {
            (Families::Single(_), Some(a), _) => vec![a],
            (_, Some(a), Some(b)) => vec![a, b],
            (Families::PreferDual(_), Some(a), None) | (Families::PreferDual(_), None, Some(a)) => {
                vec![a]
            }
            _ => return Err(AllocationError::PoolExhausted { pool: name.to_owned() }),
        };
        Ok((pool, ips))
    }

    /// Addresses from the first pool that has them: pools whose
    /// `serviceAllocation` selects the Service first, by priority, then
    /// pools open to every Service; `autoAssign: false` pools never.
    fn automatic(&mut self, subject: &Subject<'a>) -> Result<(usize, Vec<IpAddr>), AllocationError> {
        let in_namespace = match self.by_namespace.get(subject.namespace) {
            Some(pools) => Rc::clone(pools),
            None => {
                let pools: Rc<[usize]> = (self.pools.with_allocation.iter().copied())
                    .filter(|&p| {
                        self.pools.pools[p].allows_namespace(subject.namespace, subject.namespace_labels)
                    })
                    .collect();
                self.by_namespace.insert(subject.namespace, Rc::clone(&pools));
                pools
            }
        };
        let selected: Vec<usize> = in_namespace
            .iter()
            .copied()
            .filter(|&p| self.pools.pools[p].allows_service(subject.labels))
            .collect();
        if let Some(found) = self.best_of(subject, &selected) {
            return Ok(found);
        }
        let everyone = self.pools.for_everyone.clone();
        self.best_of(subject, &everyone)
            .ok_or(AllocationError::NoAvailableIps { families: subject.request.families })
    }

    /// The first of `pools` with what the Service wants, as MetalLB picks:
    /// one address of its family; or one of each; or, when dual-stack is only
    /// preferred and no pool has both, the first pool with the family listed
    /// first, else the first with the other.
    fn best_of(&mut self, subject: &Subject, pools: &[usize]) -> Option<(usize, Vec<IpAddr>)> {
        let families = subject.request.families;
        let primary = families.primary();
        let (mut primary_only, mut secondary_only) = (None, None);
        for &pool in pools {
            if let Families::Single(family) = families {
                if let Some(ip) = self.candidate(subject, pool, family) {
                    return Some((pool, vec![ip]));
                }
                continue;
            }
            let first = self.candidate(subject, pool, primary);
            let second = self.candidate(subject, pool, other(primary));
            match (first, second) {
                (Some(a), Some(b)) => return Some((pool, vec![a, b])),
                (Some(a), None) if primary_only.is_none() => primary_only = Some((pool, vec![a])),
                (None, Some(b)) if secondary_only.is_none() => {
                    secondary_only = Some((pool, vec![b]));
                }
                _ => {}
            }
        }
        match families {
            Families::PreferDual(_) => primary_only.or(secondary_only),
            _ => None,
        }
    }

    /// For a kept single address of a Service that prefers dual-stack: one
    /// of the other family from the same pool, if there is one free.
    fn add_missing_family(&mut self, subject: &Subject, pool: usize, ips: &mut Vec<IpAddr>) {
        let (Families::PreferDual(_), [only], Ok([])) =
            (subject.request.families, ips.as_slice(), subject.request.ips.as_deref())
        else {
            return;
        };
        if let Some(ip) = self.candidate(subject, pool, other(IpFamily::of(*only))) {
            self.take(subject, pool, &[ip]);
            ips.push(ip);
        }
    }

    /// The address of `family` that `pool` would give the Service, without
    /// taking it: one its sharing key already holds there and it may join
    /// (lowest first, range by range), else the lowest free one.
    fn candidate(&mut self, subject: &Subject, pool: usize, family: IpFamily) -> Option<IpAddr> {
        let p = &mut self.pools.pools[pool];
        let avoid_buggy = p.avoid_buggy;
        if subject.claim.group.is_some() {
            for r in p.ranges.iter().filter(|r| r.family == family) {
                let shared = self.usage.shared_candidate(&subject.claim, family, r.start, r.end, avoid_buggy);
                if let Some(n) = shared {
                    return Some(from_u128(family, n));
                }
            }
        }
        let usage = &*self.usage;
        for r in p.ranges.iter_mut().filter(|r| r.family == family) {
            if let Some(n) = r.first_free(avoid_buggy, |n| usage.used_run(family, n)) {
                return Some(from_u128(family, n));
            }
        }
        None
    }

    /// The pool holding every one of `ips`: of several, the first of
    /// `preferred` named, else the first (by name) the Service may use, else
    /// the first.
    fn pool_of(
        &self,
        subject: &Subject,
        ips: &[IpAddr],
        preferred: &[Option<&str>],
    ) -> Result<usize, AllocationError> {
        let pools = &self.pools.pools;
        let holds_all = |p: usize| ips.iter().all(|ip| pools[p].holds(*ip));
        let named =
            preferred.iter().flatten().find_map(|name| self.pools.find(name).filter(|&p| holds_all(p)));
        if let Some(p) = named
            .or_else(|| (0..pools.len()).find(|&p| holds_all(p) && self.allows(p, subject)))
            .or_else(|| (0..pools.len()).find(|&p| holds_all(p)))
        {
            return Ok(p);
        }
        let mut homes = Vec::new();
        for ip in ips {
            match pools.iter().find(|p| p.holds(*ip)) {
                Some(p) => homes.push(p.name.clone()),
                None => {
                    return Err(match pools.iter().find(|p| p.covers(*ip)) {
                        Some(p) => AllocationError::BuggyIp { ip: *ip, pool: p.name.clone() },
                        None => AllocationError::NotInAnyPool { ip: *ip },
                    });
                }
            }
        }
        let mut homes = homes.into_iter();
        Err(AllocationError::IpsInDifferentPools {
            ips: ips.to_vec(),
            first_pool: homes.next().unwrap_or_default(),
            second_pool: homes.next().unwrap_or_default(),
        })
    }

    fn allows(&self, pool: usize, subject: &Subject) -> bool {
        self.pools.pools[pool].allows(subject.namespace, subject.namespace_labels, subject.labels)
    }

    /// Whether the Service may use each of `ips` alongside their holders.
    fn check_all(&self, subject: &Subject, ips: &[IpAddr]) -> Result<(), AllocationError> {
        for &ip in ips {
            self.usage
                .check(IpFamily::of(ip), to_u128(ip), &subject.claim)
                .map_err(|c| self.conflict(subject, ip, c))?;
        }
        Ok(())
    }

    fn take(&mut self, subject: &Subject, pool: usize, ips: &[IpAddr]) {
        for &ip in ips {
            self.usage.take(IpFamily::of(ip), to_u128(ip), &subject.claim, pool as u32);
        }
    }

    /// A conflict, in words.
    fn conflict(&self, subject: &Subject, ip: IpAddr, conflict: Conflict) -> AllocationError {
        let name = |h: Holder| self.subjects.get(h as usize).map_or_else(String::new, Subject::display);
        match conflict {
            Conflict::NoSharing { by } => AllocationError::IpInUse { ip, by: name(by) },
            Conflict::KeyMismatch { by, existing } => AllocationError::SharingKeyMismatch {
                ip,
                by: name(by),
                key: subject.request.sharing.clone().unwrap_or_default(),
                existing: self.usage.sharing_key(existing).to_owned(),
            },
            Conflict::BackendMismatch { by } => AllocationError::BackendMismatch { ip, by: name(by) },
            Conflict::PortInUse { port, by } => {
                AllocationError::PortInUse { ip, port: self.usage.port(port), by: name(by) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_two_threads_give_what_one_pass_gives() {
        // Many repeated keys, told apart by their index as in `handled_services`.
        let keys: Vec<(usize, u32)> =
            (0..3 * PARALLEL_ITEMS).map(|i| (i, (i * 7919 % 1000) as u32)).collect();
        let order = |a: &(usize, u32), b: &(usize, u32)| (a.1, a.0).cmp(&(b.1, b.0));
        let mut one_pass = keys.clone();
        one_pass.sort_by(order);
        assert_eq!(sort_halves(keys.clone(), order), one_pass);
        assert_eq!(sort_halves(keys[..10].to_vec(), order), {
            let mut few = keys[..10].to_vec();
            few.sort_by(order);
            few
        });
        let doubled: Vec<usize> = keys.iter().map(|k| k.0 * 2).collect();
        assert_eq!(map_halves(&keys, |k| k.0 * 2), doubled);
    }
}
