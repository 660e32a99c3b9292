//! MetalLB's own controller (built by `scripts/go-tools metallb`) on the same
//! API server as ferrolb's: the same Services, created in the same order,
//! get the same verdicts from both, and a cluster moved from MetalLB to
//! ferrolb as deploy/README.md says keeps every address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_lab::k8s::audit::AuditEvent;
use ferrolb_lab::k8s::{GoTools, MetalLbController, go_tools_ready};
use serde_json::Value;

use crate::support::{Cleanup, Cluster, NAMESPACE, deploy_dir, status_writes, wait_for};

const POOL: &str = "metallb.io/address-pool";
const IPS: &str = "metallb.io/loadBalancerIPs";
const SHARED: &str = "metallb.io/allow-shared-ip";
const ALLOCATED_FROM: &str = "metallb.io/ip-allocated-from-pool";

const IPV6: &str = "  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]\n";
const DUAL: &str = "  ipFamilyPolicy: RequireDualStack\n";
const DUAL_IPV6_FIRST: &str = "  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv6, IPv4]\n";
const PREFER_DUAL: &str = "  ipFamilyPolicy: PreferDualStack\n";

/// A Service as a user writes one.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    /// In the namespace a restricted pool serves, rather than the main one.
    team: bool,
    annotations: &'static [(&'static str, &'static str)],
    ports: &'static [u16],
    /// Lines added to the spec.
    spec: &'static str,
}

impl Shape {
    const fn new(
        name: &'static str,
        annotations: &'static [(&'static str, &'static str)],
        spec: &'static str,
    ) -> Shape {
        Shape { name, team: false, annotations, ports: &[80], spec }
    }

    const fn ports(self, ports: &'static [u16]) -> Shape {
        Shape { ports, ..self }
    }

    const fn team(self) -> Shape {
        Shape { team: true, ..self }
    }

    fn sharing_key(&self) -> Option<&'static str> {
        self.annotations.iter().find(|(k, _)| *k == SHARED).map(|(_, v)| *v)
    }

    fn yaml(&self, namespace: &str) -> String {
        let annotations: Vec<String> =
            self.annotations.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
        let ports: Vec<String> =
            self.ports.iter().map(|p| format!("{{name: p{p}, port: {p}, protocol: TCP}}")).collect();
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {namespace}\n  annotations: {{{}}}\n\
             spec:\n  type: LoadBalancer\n  ports: [{}]\n{}",
            self.name,
            annotations.join(", "),
            ports.join(", "),
            self.spec
        )
    }
}

/// The configuration both controllers read, in ferrolb's (and MetalLB's)
/// namespace: one pool open to every Service (so that MetalLB, which walks
/// its pools in Go's random map order, has one choice), two a Service must
/// name, and one kept for the namespaces `teams`.
fn verdicts_configuration(teams: [&str; 2]) -> String {
    let [a, b] = teams;
    format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: verdicts-general, namespace: {NAMESPACE}}}
spec:
  addresses: [192.0.2.0/28, 2001:db8:16::/124]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: verdicts-named, namespace: {NAMESPACE}}}
spec:
  addresses: [198.51.100.0/30]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: verdicts-small, namespace: {NAMESPACE}}}
spec:
  addresses: [198.51.100.8/31]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: verdicts-team, namespace: {NAMESPACE}}}
spec:
  addresses: [203.0.113.0/31]
  serviceAllocation: {{namespaces: [{a}, {b}]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: verdicts, namespace: {NAMESPACE}}}
spec:
  ipAddressPools: [verdicts-general, verdicts-named, verdicts-small, verdicts-team]
"
    )
}

/// In the order they are created. Requested addresses sit at the top of
/// the general pool, above what the automatic picks reach.
const VERDICT_SHAPES: &[Shape] = &[
    Shape::new("v4", &[], ""),
    Shape::new("v6", &[], IPV6),
    Shape::new("dual", &[], DUAL),
    Shape::new("dual-ipv6-first", &[], DUAL_IPV6_FIRST),
    Shape::new("prefer-dual", &[], PREFER_DUAL),
    Shape::new("named", &[(POOL, "verdicts-named")], ""),
    // The named pool has no IPv6: one address will do for PreferDualStack, none for IPv6.
    Shape::new("named-prefer-dual", &[(POOL, "verdicts-named")], PREFER_DUAL),
    Shape::new("named-ipv6", &[(POOL, "verdicts-named")], IPV6),
    Shape::new("requested", &[(IPS, "192.0.2.14")], ""),
    Shape::new("requested-spec", &[], "  loadBalancerIP: 192.0.2.13\n"),
    Shape::new("requested-dual", &[(IPS, "2001:db8:16::e,192.0.2.12")], DUAL),
    Shape::new("requested-outside", &[(IPS, "203.0.113.200")], ""),
    Shape::new("shared-http", &[(SHARED, "web"), (IPS, "192.0.2.10")], ""),
    Shape::new("shared-https", &[(SHARED, "web"), (IPS, "192.0.2.10")], "").ports(&[443]),
    Shape::new("shared-same-port", &[(SHARED, "web"), (IPS, "192.0.2.10")], ""),
    Shape::new("shared-other-key", &[(SHARED, "api"), (IPS, "192.0.2.10")], "").ports(&[8080]),
    Shape::new("small-0", &[(POOL, "verdicts-small")], ""),
    Shape::new("small-1", &[(POOL, "verdicts-small")], ""),
    Shape::new("small-2", &[(POOL, "verdicts-small")], ""),
    Shape::new("not-team-pool", &[(POOL, "verdicts-team")], ""),
    Shape::new("not-team-ip", &[(IPS, "203.0.113.1")], ""),
    Shape::new("team-0", &[], "").team(),
    Shape::new("team-1", &[], "").team(),
    // The team pool is full: the pool open to everyone.
    Shape::new("team-2", &[], "").team(),
    // Last, so that where it lands moves no one after it.
    Shape::new("shared-any", &[(SHARED, "web")], "").ports(&[8443]),
];

/// What one controller made of one Service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Verdict {
    /// `status.loadBalancer.ingress`, in order.
    ips: Vec<IpAddr>,
    /// The `metallb.io/ip-allocated-from-pool` annotation.
    pool: Option<String>,
    /// `spec.ipFamilies`, as the API server filled it in.
    families: Vec<String>,
    /// The Warning Events about it: (reason, message).
    warnings: BTreeSet<(String, String)>,
    /// The reasons of its Normal Events.
    normal: BTreeSet<String>,
}

impl Verdict {
    fn warning_reasons(&self) -> BTreeSet<&str> {
        self.warnings.iter().map(|(reason, _)| reason.as_str()).collect()
    }

    fn summary(&self) -> String {
        match self.ips.is_empty() {
            false => {
                let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
                format!("{} from {}", ips.join(", "), self.pool.as_deref().unwrap_or("no pool"))
            }
            true => {
                let warned: Vec<String> = self.warnings.iter().map(|(r, m)| format!("{r}: {m}")).collect();
                format!(
                    "no address; {}",
                    if warned.is_empty() { "no warning".into() } else { warned.join("; ") }
                )
            }
        }
    }
}

/// The main namespace and the restricted pool's one, of one controller's run.
struct Namespaces {
    main: String,
    team: String,
}

impl Namespaces {
    fn new(cluster: &Cluster, cleanup: &mut Cleanup, controller: &str) -> Namespaces {
        let ns = Namespaces {
            main: cluster.namespace(&format!("verdicts-{controller}")),
            team: cluster.namespace(&format!("verdicts-{controller}-team")),
        };
        for namespace in [&ns.main, &ns.team] {
            cleanup.delete(&["services", "--all", "-n", namespace]);
        }
        ns
    }

    fn of(&self, shape: &Shape) -> &str {
        if shape.team { &self.team } else { &self.main }
    }

    /// `text` with the namespaces' names made the same for every run.
    fn neutral(&self, text: &str) -> String {
        text.replace(&self.team, "<team>").replace(&self.main, "<ns>")
    }
}

/// MetalLB's programs and both versions' sources, or `None` (the test is
/// skipped, but in CI) with what is missing said.
pub fn metallb_tools() -> Option<GoTools> {
    go_tools_ready(|tools| {
        tools.missing_metallb().or_else(|| match &tools.metallb_run_src {
            Some(src) if src.join("config/crd/bases").is_dir() => None,
            _ => Some(format!(
                "MetalLB {}'s module source is missing (run scripts/go-tools metallb)",
                tools.metallb_run_version
            )),
        })
    })
}

/// Every shape created in `ns`, one after the other, each once the one
/// before has its verdict (an address, or a Warning Event); `check` runs at
/// every poll (to stop at once if the controller exited). The run's duration.
fn create_one_by_one(
    cluster: &Cluster,
    ns: &Namespaces,
    shapes: &[Shape],
    check: &mut dyn FnMut(),
) -> Duration {
    let started = Instant::now();
    for shape in shapes {
        let namespace = ns.of(shape);
        cluster.create(&shape.yaml(namespace));
        wait_for(&format!("a verdict on {namespace}/{}", shape.name), Duration::from_secs(30), || {
            check();
            let service = cluster.kubectl_json(&["get", "service", "-n", namespace, shape.name]);
            let assigned =
                service["status"]["loadBalancer"]["ingress"].as_array().is_some_and(|i| !i.is_empty());
            let selector = format!("involvedObject.name={},type=Warning", shape.name);
            assigned
                || cluster.kubectl_json(&["get", "events", "-n", namespace, "--field-selector", &selector])["items"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
        });
    }
    started.elapsed()
}

/// The verdict on every Service of `namespaces`, by name.
fn verdicts(cluster: &Cluster, namespaces: &[&str]) -> BTreeMap<String, Verdict> {
    let mut verdicts = BTreeMap::new();
    for namespace in namespaces {
        let mut by_uid = BTreeMap::new();
        for service in items(&cluster.kubectl_json(&["get", "services", "-n", namespace])) {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
            };
            let verdict = Verdict {
                ips: service["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["ip"].as_str()?.parse().ok())
                    .collect(),
                pool: service["metadata"]["annotations"][ALLOCATED_FROM].as_str().map(str::to_owned),
                families: strings(&service["spec"]["ipFamilies"]),
                ..Verdict::default()
            };
            let name = service["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            by_uid.insert(service["metadata"]["uid"].as_str().unwrap_or_default().to_owned(), name.clone());
            verdicts.insert(name, verdict);
        }
        // Core Events: MetalLB writes them so; ferrolb's events.k8s.io ones read the same.
        for event in items(&cluster.kubectl_json(&["get", "events", "-n", namespace])) {
            // The load balancers' own, not Kubernetes' (kube-apiserver's ClusterIP
            // repair loop warns ClusterIPNotAllocated about a Service now and then).
            if !from_a_load_balancer(&event) {
                continue;
            }
            let uid = event["involvedObject"]["uid"].as_str().unwrap_or_default();
            let Some(verdict) = by_uid.get(uid).and_then(|name| verdicts.get_mut(name)) else { continue };
            let reason = event["reason"].as_str().unwrap_or_default().to_owned();
            match event["type"].as_str() {
                Some("Warning") => {
                    verdict
                        .warnings
                        .insert((reason, event["message"].as_str().unwrap_or_default().to_owned()));
                }
                _ => {
                    verdict.normal.insert(reason);
                }
            }
        }
    }
    verdicts
}

/// Whether MetalLB (`metallb-controller`) or ferrolb (`ferrolb-controller`)
/// reported `event`, by its reporting component or, from an older
/// recorder, its source.
fn from_a_load_balancer(event: &Value) -> bool {
    [&event["reportingComponent"], &event["source"]["component"]]
        .iter()
        .filter_map(|c| c.as_str())
        .any(|c| c.starts_with("metallb-") || c.starts_with("ferrolb-"))
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// How one controller did, from the audit log: per Service that got an
/// address, microseconds from its creation to the first status write (as
/// the API server timed both), sorted; and the status writes per Service.
struct Timing {
    assigned: Vec<i64>,
    writes: BTreeMap<(String, String), usize>,
}

impl Timing {
    fn of(events: &[AuditEvent], namespaces: &[&str]) -> Timing {
        let ok = |e: &AuditEvent| (200..300).contains(&e.code());
        let in_run = |e: &AuditEvent| {
            e.object_ref.as_ref().is_some_and(|o| namespaces.contains(&o.namespace.as_str()))
        };
        let mut created = BTreeMap::new();
        let mut timing = Timing { assigned: Vec::new(), writes: BTreeMap::new() };
        for event in events.iter().filter(|e| in_run(e) && ok(e)) {
            let (Some(object), Some(at)) = (&event.object_ref, event.at()) else { continue };
            let key = (object.namespace.clone(), object.name.clone());
            if event.verb == "create" && event.is_about("services") {
                created.insert(key, at.as_microsecond());
            } else if event.is_write() && event.is_about("services/status") {
                if let Some(start) = created.remove(&key) {
                    timing.assigned.push(at.as_microsecond() - start);
                }
                *timing.writes.entry(key).or_insert(0) += 1;
            }
        }
        timing.assigned.sort_unstable();
        timing
    }

    fn describe(&self, who: &str, wall: Duration) -> String {
        let ms = |us: i64| us as f64 / 1000.0;
        let times = &self.assigned;
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        let max = times.last().copied().unwrap_or_default();
        let total: i64 = times.iter().sum();
        let writes: usize = self.writes.values().sum();
        let most = self.writes.values().max().copied().unwrap_or_default();
        format!(
            "{who}: {} Services assigned, created to status written: median {:.1} ms, max {:.1} ms, sum {:.1} ms; \
             {writes} status writes to {} Services (at most {most} to one); {} Services one by one in {wall:.1?}",
            times.len(),
            ms(median),
            ms(max),
            ms(total),
            self.writes.len(),
            VERDICT_SHAPES.len()
        )
    }
}

fn family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// MetalLB's controller, then ferrolb's, given the same configuration and
/// the same Services created in the same order (each run in namespaces of
/// its own, MetalLB's Services deleted and MetalLB stopped before ferrolb
/// starts): every Service gets an address from both or from neither, from
/// the same pool, and the same Warning reasons. Where the addresses differ,
/// the difference must be one of ferrolb's deliberate rules.
pub fn same_services_get_the_same_verdicts_as_metallb(cluster: &Cluster) {
    let Some(tools) = metallb_tools() else { return };
    let mut cleanup = Cleanup::new(cluster);
    let metallb_ns = Namespaces::new(cluster, &mut cleanup, "metallb");
    let ferrolb_ns = Namespaces::new(cluster, &mut cleanup, "ferrolb");
    let configuration = verdicts_configuration([&metallb_ns.team, &ferrolb_ns.team]);
    let file = cluster.plane().write_manifest(&configuration).unwrap_or_else(|e| panic!("{e}"));
    cleanup.delete(&["-f", &file.to_string_lossy()]);
    cluster.try_apply(&configuration).unwrap_or_else(|e| panic!("{e}"));

    let mut metallb = MetalLbController::start(&cluster.plane(), &tools, NAMESPACE, "metallb-verdicts", &[])
        .unwrap_or_else(|e| panic!("{e}"));
    metallb.wait_synced(Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    let metallb_wall = create_one_by_one(cluster, &metallb_ns, VERDICT_SHAPES, &mut || {
        metallb.ensure_running().unwrap_or_else(|e| panic!("{e}"))
    });
    // A sharing Service makes MetalLB go through every Service again: let it end.
    std::thread::sleep(Duration::from_secs(2));
    let metallb_verdicts = verdicts(cluster, &[&metallb_ns.main, &metallb_ns.team]);
    drop(metallb);
    for namespace in [&metallb_ns.main, &metallb_ns.team] {
        cluster.kubectl(&["delete", "services", "--all", "-n", namespace]);
    }

    let mut controller = cluster.controller("controller-verdicts", &["--no-leader-election"]);
    controller.wait_for_log(&["allocated"], Duration::from_secs(30));
    let ferrolb_wall = create_one_by_one(cluster, &ferrolb_ns, VERDICT_SHAPES, &mut || {
        controller.process.ensure_running().unwrap_or_else(|e| panic!("{e}"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let ferrolb_verdicts = verdicts(cluster, &[&ferrolb_ns.main, &ferrolb_ns.team]);
    drop(controller);

    // MetalLB answers each Service at once; ferrolb gathers changes for its
    // snapshot debounce (200 ms, crates/k8s ControllerOptions) and writes
    // each Service once. MetalLB writes a Service again each time it
    // handles it (once more after its own write, and whenever it goes
    // through them all, as each Service that may share makes it): the status
    // it builds lacks the `ipMode: VIP` the API server adds, so it never
    // equals the one read (controller/main.go SetBalancer), and the write
    // changes nothing.
    let audit = cluster.audit();
    let metallb_timing = Timing::of(&audit, &[&metallb_ns.main, &metallb_ns.team]);
    let ferrolb_timing = Timing::of(&audit, &[&ferrolb_ns.main, &ferrolb_ns.team]);
    println!("    {}", metallb_timing.describe("MetalLB", metallb_wall));
    println!("    {}", ferrolb_timing.describe("ferrolb", ferrolb_wall));

    let mut mismatches = Vec::new();
    let mut explained = Vec::new();
    for shape in VERDICT_SHAPES {
        let get =
            |verdicts: &BTreeMap<String, Verdict>| verdicts.get(shape.name).cloned().unwrap_or_default();
        let (m, f) = (get(&metallb_verdicts), get(&ferrolb_verdicts));
        let (m_text, f_text) = (metallb_ns.neutral(&m.summary()), ferrolb_ns.neutral(&f.summary()));
        println!("    {:<18} MetalLB {m_text}\n    {:<18} ferrolb {f_text}", shape.name, "");
        if m.normal != f.normal {
            println!("    {:<18} Normal Events: MetalLB {:?}, ferrolb {:?}", "", m.normal, f.normal);
        }
        let differs = |what: &str| format!("{}: {what}: MetalLB {m_text}; ferrolb {f_text}", shape.name);
        if m.ips.is_empty() != f.ips.is_empty() {
            mismatches.push(differs("an address from one controller only"));
            continue;
        }
        if m.warning_reasons() != f.warning_reasons() {
            mismatches.push(differs("other Warning reasons"));
        }
        if m.ips.is_empty() {
            continue;
        }
        if m.pool != f.pool {
            mismatches.push(differs(&format!("other pools ({:?} and {:?})", m.pool, f.pool)));
        }
        let (m_set, f_set): (BTreeSet<_>, BTreeSet<_>) = (m.ips.iter().collect(), f.ips.iter().collect());
        if m.ips == f.ips {
            continue;
        }
        if m_set == f_set {
            // The same addresses in another order. MetalLB lists an
            // automatic dual-stack pair IPv4 first whatever the Service says
            // (internal/allocator/allocation.go selectIPsForFamilyAndPolicy
            // returns [ipv4, ipv6]); a requested pair in the annotation's
            // order, then, the next time it handles the Service, sorted as
            // strings (controller/service.go isEqualIPs sorts the slices it
            // compares in place, and the sorted one is written). ferrolb
            // lists first the family the Service lists first in
            // spec.ipFamilies, as its clusterIPs are.
            let first = f.ips.first().map(family);
            if first != f.families.first().map(String::as_str) {
                mismatches.push(differs("ferrolb's order is not spec.ipFamilies' order"));
            } else {
                explained.push(differs("same addresses, ferrolb's in spec.ipFamilies order"));
            }
            continue;
        }
        // Other addresses. MetalLB gives a Service that may share the first
        // address of the pool that is free or shareable, walking the range
        // from its start (internal/allocator/allocator.go getIPFromCIDR,
        // checkSharing): a free address below the shared one wins. ferrolb
        // joins an address its sharing key already holds before it takes a
        // free one, so that Services meant to share do share.
        let joined = shape.sharing_key().is_some_and(|key| {
            f.ips.iter().all(|ip| {
                VERDICT_SHAPES.iter().any(|other| {
                    other.name != shape.name
                        && other.sharing_key() == Some(key)
                        && ferrolb_verdicts.get(other.name).is_some_and(|o| o.ips.contains(ip))
                })
            })
        });
        let metallb_took_a_lower_free_one = m.ips.iter().zip(&f.ips).all(|(mine, theirs)| {
            mine < theirs
                && !metallb_verdicts
                    .iter()
                    .any(|(name, other)| name != shape.name && other.ips.contains(mine))
        });
        if joined && metallb_took_a_lower_free_one {
            explained
                .push(differs("ferrolb joined its sharing key's address, MetalLB took a lower free one"));
        } else {
            mismatches.push(differs("other addresses, and no rule of ferrolb's says why"));
        }
    }
    for difference in &explained {
        println!("    explained: {difference}");
    }
    assert!(mismatches.is_empty(), "verdicts differ from MetalLB's:\n  {}", mismatches.join("\n  "));
}

/// A cluster as MetalLB's users have it: MetalLB's configuration, including
/// objects ferrolb's CRDs read differently (an L2Advertisement without a spec).
fn migration_configuration() -> String {
    format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: migration-lan, namespace: {NAMESPACE}}}
spec:
  addresses: [198.51.100.64/28, 2001:db8:18::/124]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: migration-routed, namespace: {NAMESPACE}}}
spec:
  addresses: [203.0.113.64/28]
  autoAssign: false
  avoidBuggyIPs: true
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: migration-lan, namespace: {NAMESPACE}}}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {{name: migration, namespace: {NAMESPACE}}}
spec:
  communities: [{{name: no-advertise-here, value: \"64512:200\"}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: migration-routed, namespace: {NAMESPACE}}}
spec:
  ipAddressPools: [migration-routed]
  aggregationLength: 32
  localPref: 100
  communities: [no-advertise-here, \"64512:300\"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: migration-router, namespace: {NAMESPACE}}}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 192.0.2.1
  holdTime: 90s
  nodeSelectors: [{{matchLabels: {{rack: r1}}}}]
"
    )
}

const MIGRATION_SHAPES: &[Shape] = &[
    Shape::new("web-v4", &[], ""),
    Shape::new("web-v6", &[], IPV6),
    Shape::new("web-dual", &[], DUAL),
    Shape::new("web-dual-ipv6-first", &[], DUAL_IPV6_FIRST),
    Shape::new("web-prefer-dual", &[], PREFER_DUAL),
    Shape::new("web-requested", &[(IPS, "198.51.100.70")], ""),
    Shape::new("web-requested-dual", &[(IPS, "2001:db8:18::a,198.51.100.71")], DUAL),
    Shape::new("web-routed", &[(POOL, "migration-routed")], ""),
    Shape::new("web-spec-ip", &[], "  loadBalancerIP: 203.0.113.70\n"),
    Shape::new("shared-http", &[(SHARED, "web"), (IPS, "198.51.100.75")], ""),
    Shape::new("shared-https", &[(SHARED, "web"), (IPS, "198.51.100.75")], "").ports(&[443]),
];

/// The kinds of the configuration, as `kubectl get` takes them.
const CONFIGURATION_KINDS: &str =
    "ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,communities,bfdprofiles";

/// The configuration objects whose name starts with `prefix`, by `Kind/name`:
/// (generation, spec).
fn configuration_objects(cluster: &Cluster, prefix: &str) -> BTreeMap<String, (i64, Value)> {
    items(&cluster.kubectl_json(&["get", CONFIGURATION_KINDS, "-n", NAMESPACE]))
        .into_iter()
        .filter(|o| o["metadata"]["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .map(|o| {
            let key = format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            (key, (o["metadata"]["generation"].as_i64().unwrap_or_default(), o["spec"].clone()))
        })
        .collect()
}

/// The first place where `after` lacks or changed what `before` holds
/// (`None`: none). What the CRDs now default may be added.
fn changed(before: &Value, after: &Value, path: &str) -> Option<String> {
    match (before, after) {
        (Value::Null, _) => None,
        (Value::Object(b), Value::Object(a)) => {
            b.iter().find_map(|(k, v)| changed(v, a.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}")))
        }
        (b, a) if b == a => None,
        _ => Some(format!("{path}: {before} became {after}")),
    }
}

/// The `metallb.io` CRDs' specs, by name.
fn crd_specs(cluster: &Cluster) -> BTreeMap<String, Value> {
    items(&cluster.kubectl_json(&["get", "crd"]))
        .into_iter()
        .filter(|c| c["spec"]["group"] == "metallb.io")
        .map(|c| (c["metadata"]["name"].as_str().unwrap_or_default().to_owned(), c["spec"].clone()))
        .collect()
}

/// README "Moving from MetalLB", step 1's last command: the conversion
/// webhook of MetalLB's BGPPeer CRD dropped.
const DROP_CONVERSION_WEBHOOK: [&str; 6] = [
    "patch",
    "crd",
    "bgppeers.metallb.io",
    "--type=merge",
    "-p",
    r#"{"spec":{"conversion":{"strategy":"None","webhook":null}}}"#,
];

/// Puts ferrolb's CRDs back when dropped, as the README's steps do, so that
/// the tests after this one find them, also when it fails half-way.
pub struct FerrolbCrdsBack<'a>(pub &'a Cluster);

impl Drop for FerrolbCrdsBack<'_> {
    fn drop(&mut self) {
        let plane = self.0.plane();
        let bundle = deploy_dir().join("ferrolb.yaml");
        let restored = plane
            .kubectl(&DROP_CONVERSION_WEBHOOK)
            .and_then(|_| plane.kubectl(&["apply", "-f", &bundle.to_string_lossy()]))
            .and_then(|_| {
                plane.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])
            });
        if let Err(e) = restored {
            eprintln!("ferrolb's CRDs not restored: {e}");
        }
    }
}

/// MetalLB's controller with its own CRDs (as its manifests install them,
/// with BGPPeer's conversion webhook) gives a cluster's Services their
/// addresses; MetalLB is replaced by ferrolb exactly as deploy/README.md
/// says; ferrolb's controller then keeps every address as MetalLB wrote it
/// (it writes no Service status at all), every configuration object is
/// still there unchanged, and the CRDs are ferrolb's again.
pub fn migration_from_metallb_keeps_every_address(cluster: &Cluster) {
    let Some(tools) = metallb_tools() else { return };
    let crds = tools.metallb_run_src.as_ref().expect("checked by metallb_tools").join("config/crd");
    cluster.deploy();
    let ferrolb_crds = crd_specs(cluster);
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("migration");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    let configuration = migration_configuration();
    let file = cluster.plane().write_manifest(&configuration).unwrap_or_else(|e| panic!("{e}"));
    cleanup.delete(&["-f", &file.to_string_lossy()]);
    let _restore = FerrolbCrdsBack(cluster);

    // MetalLB's CRDs over ferrolb's, as `kubectl apply -f metallb-native.yaml`
    // leaves them: config/crd is the bases and the conversion patch.
    cluster.kubectl(&["apply", "-k", &crds.to_string_lossy()]);
    cluster.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
    let conversion =
        cluster.kubectl_json(&["get", "crd", "bgppeers.metallb.io"])["spec"]["conversion"].clone();
    assert_eq!(conversion["strategy"], "Webhook", "MetalLB's BGPPeer CRD as its users have it: {conversion}");
    cluster.try_apply(&configuration).unwrap_or_else(|e| panic!("{e}"));
    let mut metallb = MetalLbController::start(&cluster.plane(), &tools, NAMESPACE, "metallb-migration", &[])
        .unwrap_or_else(|e| panic!("{e}"));
    metallb.wait_synced(Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    let stream: String = MIGRATION_SHAPES.iter().map(|s| format!("{}---\n", s.yaml(&namespace))).collect();
    cluster.create(&stream);
    wait_for("every Service with an address from MetalLB", Duration::from_secs(60), || {
        metallb.ensure_running().unwrap_or_else(|e| panic!("{e}"));
        verdicts(cluster, &[&namespace]).values().filter(|v| !v.ips.is_empty()).count()
            == MIGRATION_SHAPES.len()
    });
    std::thread::sleep(Duration::from_secs(1));
    let before = verdicts(cluster, &[&namespace]);
    let objects = configuration_objects(cluster, "migration");
    assert_eq!(objects.len(), 6, "the configuration as applied: {:?}", objects.keys());

    // Step 1: MetalLB stopped (here its Deployment and DaemonSet are
    // processes of the test, and it ran without a webhook).
    metallb.stop(Duration::from_secs(5));
    drop(metallb);
    cluster.kubectl(&[
        "delete",
        "validatingwebhookconfiguration",
        "metallb-webhook-configuration",
        "--ignore-not-found",
    ]);
    cluster.kubectl(&["delete", "-n", NAMESPACE, "service/metallb-webhook-service", "--ignore-not-found"]);
    cluster.kubectl(&DROP_CONVERSION_WEBHOOK);
    // Step 2: ferrolb installed over it; its controller started.
    let seen = cluster.audit().len();
    cluster.kubectl(&["apply", "-f", &deploy_dir().join("ferrolb.yaml").to_string_lossy()]);
    cluster.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
    let mut controller = cluster.controller("controller-migration", &["--no-leader-election"]);
    controller.wait_for_log(&["allocated"], Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    // Step 3: the configuration is valid as ferrolb reads it.
    let state = cluster.kubectl_json(&["get", "configurationstates", "-n", NAMESPACE, "controller"]);
    assert_eq!(
        state["status"]["result"], "Valid",
        "ferrolb's verdict on MetalLB's configuration: {}",
        state["status"]
    );

    let writes = status_writes(&cluster.audit()[seen..], "ferrolb-controller", &namespace);
    let after = verdicts(cluster, &[&namespace]);
    drop(controller);
    for shape in MIGRATION_SHAPES {
        let (was, is) = (&before[shape.name], &after[shape.name]);
        println!("    {:<20} {}", shape.name, was.summary());
        assert_eq!((&is.ips, &is.pool), (&was.ips, &was.pool), "{} moved or was rewritten", shape.name);
    }
    assert!(writes.is_empty(), "ferrolb wrote the status of Services MetalLB had settled: {writes:?}");
    let now = configuration_objects(cluster, "migration");
    for (object, (generation, spec)) in &objects {
        let Some((generation_now, spec_now)) = now.get(object) else { panic!("{object} is gone") };
        assert_eq!(generation_now, generation, "{object} was written");
        if let Some(change) = changed(spec, spec_now, "spec") {
            panic!("{object}: {change}");
        }
    }
    let crds_now = crd_specs(cluster);
    for (name, spec) in &ferrolb_crds {
        assert_eq!(crds_now.get(name), Some(spec), "{name} is not ferrolb's CRD again");
    }
}
