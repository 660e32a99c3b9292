//! The demo with kubectl on a real control plane (`--kubernetes`): etcd and
//! kube-apiserver on loopback (built by `scripts/go-tools k8s`), ferrolb's
//! bundle applied as a user applies it, `ferrolb controller` as a process
//! of this host and three `ferrolb speaker`, each in its node's namespace,
//! each as the ServiceAccount the bundle gives it.
//!
//! ```text
//!   this host:  etcd ◄── kube-apiserver 127.0.0.1:P ◄── ferrolb controller   (ferrolb-controller)
//!                              ▲ relay: 127.0.0.1:P inside each node's namespace
//!   node1..3:   ferrolb speaker --node nodeN                                (ferrolb-speaker)
//!               + kube-proxy's part by hand: a local route per VIP, strict ARP
//! ```
//!
//! No scheduler, kubelet, controller-manager or kube-proxy runs here: what
//! they would do (Pods for the speakers' processes, Node objects, the hosts
//! taking VIP traffic) the demo does by hand, and says so.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_k8s::announcements::LABEL_SERVICE_NAME;
use ferrolb_lab::HostProcess;
use ferrolb_lab::k8s::{ApiRelay, ControlPlane, GoTools, StandInPod};
use serde_json::Value;

use super::super::BUNDLE;
use super::{
    BGP_VIP, GOSSIP_SECRET, INTERRUPTED, L2_VIP, Network, ROUTER_ASN, TIMEOUT, WEB, check_interrupted,
    configuration, node_name, nodes, services, step, wait_every,
};

/// ferrolb's namespace, where the bundle and the configuration live.
const NAMESPACE: &str = "metallb-system";
/// The image of the bundle's DaemonSet, which the speakers' Pods name.
const IMAGE: &str = "ghcr.io/ferrolb/ferrolb:latest";
/// The Secret the bundle's DaemonSet reads the gossip key from.
const GOSSIP_SECRET_NAME: &str = "ferrolb-memberlist";
/// How often kubectl is asked while waiting: each answer costs a process.
const POLL: Duration = Duration::from_millis(200);

/// The Go-built control plane, or a message that says how to build it.
pub(super) fn tools() -> anyhow::Result<GoTools> {
    let tools =
        GoTools::locate().context("cannot find the Go-built tools (build them with scripts/go-tools k8s)")?;
    if let Some(reason) = tools.missing_control_plane() {
        anyhow::bail!("the Kubernetes demo needs a control plane: {reason}");
    }
    Ok(tools)
}

/// The running demo; dropping it stops every process, removes every
/// namespace and the control plane.
pub(super) struct Demo {
    // Dropped in this order, after `Drop::drop` stopped the speakers (which
    // remove their status objects through the relays on the way out).
    speakers: Vec<Option<u32>>,
    /// Held for the speakers' connections to the API server; they stop when dropped.
    _relays: Vec<ApiRelay>,
    controller: HostProcess,
    network: Network,
    plane: ControlPlane,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.network.stop_speakers(&mut self.speakers);
    }
}

impl Demo {
    /// Starts the control plane, applies the bundle, builds the topology,
    /// starts FRR, ferrolb's controller and speakers, and applies the configuration.
    pub(super) fn build(exe: &Path, tools: &GoTools) -> anyhow::Result<Demo> {
        println!(
            "ferrolb lab demo --kubernetes: a real control plane, ferrolb's controller and three speakers, \
             an FRR router and two clients"
        );
        step(1, "starting a control plane, applying ferrolb's bundle, building the topology");
        let plane = start_control_plane(tools)?;
        check_interrupted()?;
        let network = Network::start(super::topology()?)?;
        println!("  FRR on the router (AS {ROUTER_ASN}); a web server and a UDP echo server on every node");
        check_interrupted()?;

        step(2, "ferrolb's controller and three speakers start as the bundle's ServiceAccounts");
        let addresses: Vec<String> = network.topology.nodes.iter().map(|n| n.ipv4.to_string()).collect();
        let created =
            plane.kubectl(&["create", "-f", &plane.write_manifest(&nodes(&addresses))?.to_string_lossy()])?;
        println!(
            "  kubectl create: {} (each with its InternalIP, as its kubelet would register it)",
            objects(&created).join(", ")
        );
        plane.kubectl(&[
            "create",
            "secret",
            "generic",
            GOSSIP_SECRET_NAME,
            "-n",
            NAMESPACE,
            &format!("--from-literal=secretkey={GOSSIP_SECRET}"),
        ])?;
        println!("  kubectl create secret generic {GOSSIP_SECRET_NAME}: the speakers' gossip key");
        let controller = start_controller(&plane, exe)?;
        println!(
            "  each speaker runs in its node's namespace as ServiceAccount ferrolb-speaker, for a Pod made to\n  \
             stand for the DaemonSet's, and reaches the API server through a relay on 127.0.0.1:{}",
            plane.port()
        );
        let mut relays = Vec::new();
        let mut speakers = Vec::new();
        for i in 0..network.topology.nodes.len() {
            let (pid, relay) = start_speaker(&plane, exe, &network, i)?;
            speakers.push(Some(pid));
            relays.push(relay);
        }
        let file = plane.write_manifest(&configuration())?;
        let applied = plane.kubectl(&["apply", "-n", NAMESPACE, "-f", &file.to_string_lossy()])?;
        println!("  kubectl apply -n {NAMESPACE}: {}", objects(&applied).join(", "));
        Ok(Demo { speakers, _relays: relays, controller, network, plane })
    }

    /// Tells the story, step 3 to 6; on a failure, prints the end of every
    /// ferrolb log before they are removed.
    pub(super) fn show(&mut self) -> anyhow::Result<()> {
        let shown = self.tell();
        if shown.is_err() && !INTERRUPTED.load(Ordering::Relaxed) {
            self.print_logs();
        }
        shown
    }

    fn tell(&mut self) -> anyhow::Result<()> {
        self.create_services()?;
        let leader = self.show_l2()?;
        self.show_bgp()?;
        self.fail_over(leader)
    }

    /// Step 3: the Services get their addresses, the hosts take their
    /// traffic, the speakers write their status objects.
    fn create_services(&self) -> anyhow::Result<()> {
        step(3, "kubectl create: two LoadBalancer Services; the controller gives each its address");
        let yaml = format!("{}---\n{}", services(), endpoint_slices(&self.network));
        let created =
            self.kubectl(&["create", "-f", &self.plane.write_manifest(&yaml)?.to_string_lossy()])?;
        println!(
            "  kubectl create: {} (no selector: the endpoints are the web servers on node1..3)",
            objects(&created).join(", ")
        );
        let mut ips = Vec::new();
        let took = wait_every(POLL, "an EXTERNAL-IP for both Services", TIMEOUT, || {
            ips = ["web-l2", "web-bgp"]
                .iter()
                .filter_map(|s| {
                    let ip = self.kubectl(&[
                        "get",
                        "svc",
                        s,
                        "-o",
                        "jsonpath={.status.loadBalancer.ingress[0].ip}",
                    ]);
                    ip.ok().filter(|ip| !ip.trim().is_empty()).map(|ip| ip.trim().to_owned())
                })
                .collect();
            ips.len() == 2
        })?;
        println!(
            "  $ kubectl get svc web-l2 web-bgp -o wide     (EXTERNAL-IP written within {:.1} s)",
            took.as_secs_f64()
        );
        print_indented(&self.kubectl(&["get", "svc", "web-l2", "web-bgp", "-o", "wide"])?);
        self.accept_vip_traffic(&ips)?;
        println!(
            "  what kube-proxy would do (none runs here), by hand on every node: the host takes the traffic of\n  \
             {} (ip route add local VIP dev lo table local), and arp_ignore=1\n  \
             (kube-proxy's strictARP) leaves ARP for them to ferrolb",
            ips.join(" and ")
        );
        wait_every(POLL, "a ServiceL2Status and three ServiceBGPStatuses", TIMEOUT, || {
            self.status_nodes("servicel2statuses", "web-l2").is_ok_and(|n| n.len() == 1)
                && self.status_nodes("servicebgpstatuses", "web-bgp").is_ok_and(|n| n.len() == 3)
        })?;
        println!("  $ kubectl get servicel2statuses,servicebgpstatuses -n {NAMESPACE}");
        print_indented(&self.kubectl(&["get", "servicel2statuses,servicebgpstatuses", "-n", NAMESPACE])?);
        Ok(())
    }

    /// Step 4: one node answers ARP for the L2 VIP, the one its status names; returns it.
    fn show_l2(&self) -> anyhow::Result<usize> {
        step(4, &format!("L2 mode: the client on the segment asks who has {L2_VIP}"));
        let leader = self.l2_leader(None)?;
        let owners = self.network.arp_owners(2)?;
        let leader_mac = self.network.owner(&self.network.macs[leader]);
        anyhow::ensure!(
            !owners.is_empty() && owners.iter().all(|o| *o == leader_mac),
            "ARP replies from {}, but the ServiceL2Status names {}",
            owners.join(", "),
            node_name(leader)
        );
        println!(
            "  ARP replies: {} (only the leader answers: {}, as its ServiceL2Status says)",
            owners.join(", "),
            node_name(leader)
        );
        let page = self.network.fetch(&self.network.topology.client, L2_VIP)?;
        println!("  curl http://{L2_VIP}:{WEB}/ from the client → {page}");
        Ok(leader)
    }

    /// Step 5: FRR routes the BGP VIP to every node.
    fn show_bgp(&self) -> anyhow::Result<()> {
        step(5, &format!("BGP mode: FRR learns {BGP_VIP}/32 from every speaker and spreads traffic (ECMP)"));
        self.network.wait_sessions()?;
        println!("  FRR: sessions with node1, node2 and node3 Established");
        let gateways = self.network.wait_bgp_paths(3)?;
        println!("  router's kernel: {BGP_VIP} via {}", gateways.join(", "));
        println!("  20 requests from the remote client (203.0.113.2): {}", self.network.spread()?);
        Ok(())
    }

    /// Step 6: the L2 leader fails; the client's outage, and the new leader by its status.
    fn fail_over(&mut self, leader: usize) -> anyhow::Result<()> {
        step(
            6,
            &format!(
                "L2 failover: {} (the leader) loses its link and its speaker is killed",
                node_name(leader)
            ),
        );
        let outage = self.network.fail_over(leader, &mut self.speakers)?;
        println!(
            "  the client, sending a request every 10 ms, got no answer for {:.0} ms; then {} answered",
            outage.duration.as_secs_f64() * 1000.0,
            outage.after
        );
        let next = self.l2_leader(Some(leader))?;
        println!("  $ kubectl get servicel2statuses -n {NAMESPACE}");
        print_indented(&self.kubectl(&["get", "servicel2statuses", "-n", NAMESPACE])?);
        let stale = self.status_nodes("servicel2statuses", "web-l2")?.contains(&node_name(leader));
        println!(
            "  {} leads now, as its ServiceL2Status says{}",
            node_name(next),
            if stale {
                format!(
                    "; {}'s stays until its speaker is back (killed, it could not remove it)",
                    node_name(leader)
                )
            } else {
                String::new()
            }
        );
        println!("  ARP replies now: {}", self.network.arp_owners(1)?.join(", "));
        Ok(())
    }

    /// Does kube-proxy's part on every node for `vips` ([`ferrolb_lab::Node::take_vip_traffic`]).
    fn accept_vip_traffic(&self, vips: &[String]) -> anyhow::Result<()> {
        let vips = vips
            .iter()
            .map(|vip| vip.parse().with_context(|| format!("EXTERNAL-IP {vip}")))
            .collect::<anyhow::Result<Vec<IpAddr>>>()?;
        for node in &self.network.topology.nodes {
            node.take_vip_traffic(&vips)?;
        }
        Ok(())
    }

    /// The node that leads the L2 VIP by its ServiceL2Status, once there is
    /// exactly one other than `not` (a node known dead).
    fn l2_leader(&self, not: Option<usize>) -> anyhow::Result<usize> {
        let excluded = not.map(node_name);
        let mut leader = None;
        wait_every(POLL, "a ServiceL2Status naming the L2 leader", TIMEOUT, || {
            let named: Vec<String> = self
                .status_nodes("servicel2statuses", "web-l2")
                .unwrap_or_default()
                .into_iter()
                .filter(|n| Some(n) != excluded.as_ref())
                .collect();
            leader = match named.as_slice() {
                [one] => (0..self.network.topology.nodes.len()).find(|&i| node_name(i) == *one),
                _ => None,
            };
            leader.is_some()
        })?;
        leader.context("no leader")
    }

    /// The nodes that the status objects (`resource`) of Service `service` name, sorted.
    fn status_nodes(&self, resource: &str, service: &str) -> anyhow::Result<Vec<String>> {
        let selector = format!("{LABEL_SERVICE_NAME}={service}");
        let list: Value = serde_json::from_str(
            &self.kubectl(&["get", resource, "-n", NAMESPACE, "-l", &selector, "-o", "json"])?,
        )?;
        let mut nodes: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["status"]["node"].as_str().map(str::to_owned))
            .collect();
        nodes.sort();
        Ok(nodes)
    }

    /// `kubectl ARGS` as the admin: what it printed.
    fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        Ok(self.plane.kubectl(args)?)
    }

    /// The end of the controller's and every speaker's log, on standard error.
    fn print_logs(&self) {
        let speakers = self.network.topology.nodes.iter().map(|n| n.netns.dir().join("speaker.log"));
        for log in std::iter::once(self.controller.log().to_owned()).chain(speakers) {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "\nlast lines of {}:\n{}",
                log.display(),
                lines[lines.len().saturating_sub(10)..].join("\n")
            );
        }
    }
}

/// Starts etcd and kube-apiserver, applies ferrolb's bundle as a user
/// does, and waits until its CRDs are Established.
fn start_control_plane(tools: &GoTools) -> anyhow::Result<ControlPlane> {
    let started = Instant::now();
    let plane = ControlPlane::start(tools)?;
    println!(
        "  kube-apiserver {} at {}, etcd beside it: ready in {:.1} s (files in {})",
        tools.k8s_version,
        plane.server(),
        started.elapsed().as_secs_f64(),
        plane.dir().display()
    );
    println!(
        "  while it runs: {} --kubeconfig {} get svc -A",
        tools.k8s("kubectl").display(),
        plane.admin_kubeconfig().display()
    );
    check_interrupted()?;
    let applied = plane.apply(BUNDLE)?;
    let started = Instant::now();
    plane.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])?;
    println!(
        "  kubectl apply -f deploy/ferrolb.yaml ({} lines, built into this binary): {}",
        BUNDLE.lines().count(),
        count_kinds(&applied)
    );
    println!(
        "  every CRD Established in {:.1} s; the Deployment and the DaemonSet get no Pods (no scheduler,\n  \
         no kubelet here): their processes are started by hand below",
        started.elapsed().as_secs_f64()
    );
    Ok(plane)
}

/// `ferrolb controller`, a process of this host, as ServiceAccount
/// ferrolb-controller; the only replica, so it takes no Lease.
fn start_controller(plane: &ControlPlane, exe: &Path) -> anyhow::Result<HostProcess> {
    let kubeconfig = plane.service_account_kubeconfig(NAMESPACE, "ferrolb-controller")?;
    let log = plane.dir().join("controller.log");
    let mut c = Command::new(exe);
    c.args(["controller", "--no-leader-election"])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", "ferrolb-controller")
        .env("RUST_LOG", "info");
    let controller = HostProcess::spawn("ferrolb controller", c, &log)?;
    println!(
        "  ferrolb controller --no-leader-election (pid {}, ServiceAccount ferrolb-controller, log {})",
        controller.pid(),
        log.display()
    );
    Ok(controller)
}

/// `ferrolb speaker` for node `i`, in its namespace, as ServiceAccount
/// ferrolb-speaker and the process of a Pod that stands for the DaemonSet's;
/// its pid, and the relay it reaches the API server through.
fn start_speaker(
    plane: &ControlPlane,
    exe: &Path,
    network: &Network,
    i: usize,
) -> anyhow::Result<(u32, ApiRelay)> {
    let name = node_name(i);
    let netns = &network.topology.nodes[i].netns;
    let relay = ApiRelay::start(netns, plane.port())?;
    let pod = format!("ferrolb-speaker-{name}");
    let uid = StandInPod {
        namespace: NAMESPACE,
        name: &pod,
        service_account: "ferrolb-speaker",
        node: &name,
        image: IMAGE,
    }
    .create(plane)?;
    let kubeconfig = plane.service_account_kubeconfig(NAMESPACE, "ferrolb-speaker")?;
    // What the DaemonSet's Pod would get from the downward API and the Secret.
    let mut c = netns.command(&exe.to_string_lossy());
    c.args(["speaker", "--node", &name])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", &pod)
        .env("POD_UID", uid)
        .env("POD_NAMESPACE", NAMESPACE)
        .env("FERROLB_MEMBERLIST_SECRET", GOSSIP_SECRET)
        .env("RUST_LOG", "info");
    let log = netns.dir().join("speaker.log");
    let pid = netns.spawn(c, &log)?;
    println!("  {name}: ferrolb speaker --node {name} (pid {pid}, Pod {pod}, log {})", log.display());
    Ok((pid, relay))
}

/// An EndpointSlice per Service: the web servers on every node, as a user
/// writes them for a Service without a selector.
fn endpoint_slices(network: &Network) -> String {
    let endpoints: String = network
        .topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "- addresses: [\"{}\"]\n  nodeName: {}\n  conditions: {{ready: true}}\n",
                n.ipv4,
                node_name(i)
            )
        })
        .collect();
    ["web-l2", "web-bgp"]
        .iter()
        .map(|service| {
            format!(
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}\n  \
                 namespace: default\n  labels: {{kubernetes.io/service-name: {service}}}\naddressType: IPv4\n\
                 ports: [{{port: {WEB}, protocol: TCP}}]\nendpoints:\n{endpoints}"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The objects kubectl says it created or configured, as `kind/name`
/// (`ipaddresspool.metallb.io/lan created` is `ipaddresspool/lan`).
fn objects(printed: &str) -> Vec<String> {
    printed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|object| {
            let (kind, name) = object.split_once('/')?;
            Some(format!("{}/{name}", kind.split('.').next().unwrap_or(kind)))
        })
        .collect()
}

/// How many objects of each kind kubectl says it applied, in the order it
/// applied them: `19 objects: namespace ×1, customresourcedefinition ×8, ...`.
fn count_kinds(printed: &str) -> String {
    let objects = objects(printed);
    let mut order = Vec::new();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for object in &objects {
        let kind = object.split('/').next().unwrap_or(object);
        if !count.contains_key(kind) {
            order.push(kind);
        }
        *count.entry(kind).or_default() += 1;
    }
    let kinds: Vec<String> = order.iter().map(|k| format!("{k} ×{}", count[k])).collect();
    format!("{} objects: {}", objects.len(), kinds.join(", "))
}

/// Prints kubectl's table, indented as the rest of the story.
fn print_indented(table: &str) {
    for line in table.lines() {
        if line.is_empty() {
            println!();
        } else {
            println!("    {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLIED: &str = "namespace/metallb-system created
customresourcedefinition.apiextensions.k8s.io/bfdprofiles.metallb.io created
customresourcedefinition.apiextensions.k8s.io/bgppeers.metallb.io created
serviceaccount/ferrolb-controller created
clusterrole.rbac.authorization.k8s.io/ferrolb-controller created
deployment.apps/ferrolb-controller created
";

    #[test]
    fn objects_are_named_by_kind_without_their_group() {
        assert_eq!(
            objects("ipaddresspool.metallb.io/lan created\nbgppeer.metallb.io/router configured\n"),
            ["ipaddresspool/lan", "bgppeer/router"]
        );
        assert_eq!(objects("Warning: something\n"), Vec::<String>::new());
    }

    #[test]
    fn kinds_are_counted_in_the_order_applied() {
        assert_eq!(
            count_kinds(APPLIED),
            "6 objects: namespace ×1, customresourcedefinition ×2, serviceaccount ×1, clusterrole ×1, deployment ×1"
        );
    }

    #[test]
    fn the_bundle_holds_every_kind_the_demo_relies_on() {
        for kind in
            ["kind: ServiceAccount", "name: ferrolb-speaker", "name: ferrolb-controller", "kind: DaemonSet"]
        {
            assert!(BUNDLE.contains(kind), "{kind} missing from deploy/ferrolb.yaml");
        }
        assert!(BUNDLE.contains(&format!("image: {IMAGE}")), "the DaemonSet's image is {IMAGE}");
        assert!(
            BUNDLE.contains(&format!("name: {GOSSIP_SECRET_NAME}")),
            "the gossip Secret is {GOSSIP_SECRET_NAME}"
        );
    }
}
