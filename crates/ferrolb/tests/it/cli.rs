//! `ferrolb validate`, `plan` and `crds` on the project's examples, the
//! README's sample output and MetalLB's configs from the article.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ferrolb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolb")).args(args).current_dir(repo()).output().expect("ferrolb runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn example_cluster_is_valid() {
    let out = ferrolb(&["validate", "examples/cluster.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn readme_shows_what_validate_prints() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let shown: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("$ ferrolb validate examples/invalid/mistakes.yaml"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = ferrolb(&["validate", "examples/invalid/mistakes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), shown);
}

#[test]
fn plan_json_lists_every_load_balancer_service() {
    let out = ferrolb(&["plan", "examples/cluster.yaml", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = plan["services"].as_array().unwrap();
    let names: Vec<&str> = services.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "dns-tcp", "dns-udp", "portal", "typo", "web", "app"]);
    let typo = &services[4];
    assert_eq!(typo["ips"], serde_json::json!([]));
    assert_eq!(typo["pool"], serde_json::Value::Null);
    assert_eq!(typo["error"], "unknown pool \"pubilc\" (did you mean \"public\"?)");
    assert_eq!(services[1]["ips"], services[2]["ips"], "dns-tcp and dns-udp share an IP");
    assert_eq!(services[3]["ips"].as_array().unwrap().len(), 2, "portal is dual-stack");
}

#[test]
fn plan_refuses_an_invalid_config() {
    let out = ferrolb(&["plan", "examples/invalid/mistakes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not planned: the configuration is invalid"));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn plan_reads_metallb_objects_only_in_metallbs_namespace() {
    // The cluster's objects are in metallb-system: planned as they are,
    // refused for a MetalLB installed in another namespace.
    let planned = ferrolb_reading(&["plan", "-"], L2_CLUSTER);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let elsewhere = ferrolb_reading(&["plan", "--namespace", "lb", "-"], L2_CLUSTER);
    assert_eq!(elsewhere.status.code(), Some(1));
    let errors = text(&elsewhere.stderr);
    assert!(errors.contains("IPAddressPool/lan") && errors.contains("\"lb\""), "{errors}");
}

#[test]
fn crds_are_nine_yaml_documents_of_metallb_io() {
    let out = ferrolb(&["crds"]);
    assert!(out.status.success());
    let yaml = text(&out.stdout);
    let (documents, error) = ferrolb_api::yaml::parse_documents(&yaml);
    assert_eq!(error, None);
    let names: Vec<&str> = documents
        .iter()
        .map(|d| d.get("metadata").and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap())
        .collect();
    assert_eq!(names.len(), 9);
    assert!(names.iter().all(|n| n.ends_with(".metallb.io")), "{names:?}");
}

/// The two MetalLB configs of the article ferrolb starts from, byte for byte
/// (`examples/metallb-l2.yaml`, `examples/metallb-bgp.yaml`).
#[test]
fn metallb_examples_validate_and_plan_cleanly() {
    for name in ["metallb-l2.yaml", "metallb-bgp.yaml"] {
        let file = format!("examples/{name}");
        assert!(repo().join(&file).is_file(), "{file} is missing");
        for args in [vec!["validate", &file], vec!["plan", &file, "-o", "json"]] {
            let out = ferrolb(&args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            assert_eq!(text(&out.stderr), "", "{args:?} prints no warning");
        }
    }
}

#[test]
fn plan_for_a_node_shows_its_bgp_routes_and_why() {
    let out = ferrolb(&["plan", "examples/cluster.yaml", "--node", "node1", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let node = &plan["node"];
    assert_eq!(node["name"], "node1");
    let router = &node["peers"][0];
    assert_eq!((router["peer"].as_str(), router["session"].as_bool()), (Some("router"), Some(true)));
    let prefixes: Vec<&str> =
        router["routes"].as_array().unwrap().iter().map(|r| r["prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, ["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32", "203.0.113.130/32"]);
    assert_eq!(router["routes"][0]["communities"], serde_json::json!(["64512:100"]));
    let team_a = node["decisions"].as_array().unwrap().iter().find(|d| d["service"] == "team-a/app").unwrap();
    assert_eq!(team_a["announced"], false);
    assert_eq!(team_a["reason"], "no BGPAdvertisement selects pool team-a");
}

/// Runs ferrolb with `input` on its standard input.
#[test]
fn plan_table_for_a_node_shows_its_sessions_routes_and_decisions() {
    // The table is written from the plan, apart from the JSON report: both must say the same.
    let out = ferrolb(&["plan", "examples/cluster.yaml", "--node", "node1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let bgp: String = stdout
        .lines()
        .skip_while(|l| !l.starts_with("BGP from"))
        .take_while(|l| !l.starts_with("L2 from"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        bgp,
        "\
BGP from node node1:
PEER    SESSION                     PREFIX            LOCALPREF  COMMUNITIES  SERVICES
router  up (hold 9s, keepalive 3s)  203.0.113.10/32   -          64512:100    default/dns-tcp,default/dns-udp
router  up (hold 9s, keepalive 3s)  203.0.113.11/32   -          64512:100    default/portal
router  up (hold 9s, keepalive 3s)  203.0.113.12/32   -          64512:100    default/web
router  up (hold 9s, keepalive 3s)  203.0.113.130/32  -          64512:100    default/api

SERVICE          IP              PEER    ANNOUNCED  WHY
default/api      203.0.113.130   router  yes        announced as 203.0.113.130/32
default/dns-tcp  203.0.113.10    router  yes        announced as 203.0.113.10/32
default/dns-udp  203.0.113.10    router  yes        announced as 203.0.113.10/32
default/portal   203.0.113.11    router  yes        announced as 203.0.113.11/32
default/portal   2001:db8:100::  router  no         the session does not carry IPv6 routes (set dualStackAddressFamily, or peer over IPv6)
default/web      203.0.113.12    router  yes        announced as 203.0.113.12/32
team-a/app       198.51.100.1    (all)   no         no BGPAdvertisement selects pool team-a

"
    );
}

fn ferrolb_reading(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferrolb runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Three nodes on one LAN, an L2Advertisement that prefers rack r2 and
/// answers on eth0, and three Services: `web` (Cluster), `db` (Local, with
/// endpoints on node1 and node3) and `cache` (Local, no endpoints).
/// sha256("nodeN#192.0.2.10") orders node2, node1, node3.
const L2_CLUSTER: &str = "\
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: r1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: r2}}
---
apiVersion: v1
kind: Node
metadata: {name: node3, labels: {rack: r2}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.8/30]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec:
  interfaces: [eth0]
  preferredNodeSelectors:
  - {weight: 10, preference: {matchLabels: {rack: r2}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}], loadBalancerIP: 192.0.2.10}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 5432}], externalTrafficPolicy: Local, loadBalancerIP: 192.0.2.11}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.1], nodeName: node1}
- {addresses: [10.0.0.3], nodeName: node3}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 6379}], externalTrafficPolicy: Local, loadBalancerIP: 192.0.2.9}
";

#[test]
fn plan_for_a_node_shows_its_l2_elections_and_why() {
    let out = ferrolb_reading(&["plan", "-", "--node", "node1"], L2_CLUSTER);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let l2: String =
        stdout.lines().skip_while(|l| !l.starts_with("L2 from")).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        l2,
        "\
L2 from node node1 (alive: every Node of the configuration, as plan runs no gossip):
SERVICE        IP          LEADER  CANDIDATES                 LEADS  INTERFACES  WHY
default/cache  192.0.2.9   none    -                          no     -           no ready endpoint on any node
default/db     192.0.2.11  node3   node3(10),node1            no     eth0        not elected: the leader is node3
default/web    192.0.2.10  node2   node2(10),node3(10),node1  no     eth0        not elected: the leader is node2
"
    );
}

#[test]
fn plan_without_a_node_shows_each_l2_leader() {
    let out = ferrolb_reading(&["plan", "-"], L2_CLUSTER);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\
NAMESPACE  NAME   POOL  IPS         L2 LEADER  ERROR
default    cache  lan   192.0.2.9   none
default    db     lan   192.0.2.11  node3
default    web    lan   192.0.2.10  node2
"
    );
}

#[test]
fn plan_json_and_yaml_carry_the_l2_decisions_of_the_node() {
    let out = ferrolb_reading(&["plan", "-", "--node", "node2", "-o", "json"], L2_CLUSTER);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let l2 = &plan["node"]["l2"];
    assert_eq!(l2["alive"], serde_json::json!(["node1", "node2", "node3"]));
    let vips = l2["vips"].as_array().unwrap();
    let vip = |service: &str| vips.iter().find(|v| v["service"] == service).unwrap();
    let web = vip("default/web");
    assert_eq!(web["ip"], "192.0.2.10");
    assert_eq!(web["leader"], "node2");
    assert_eq!(web["leads"], true);
    assert_eq!(web["reason"], "elected: first of 3 candidates");
    assert_eq!(
        (web["allInterfaces"].as_bool(), &web["interfaces"]),
        (Some(false), &serde_json::json!(["eth0"]))
    );
    assert_eq!(
        web["candidates"],
        serde_json::json!([
            {"node": "node2", "score": 10}, {"node": "node3", "score": 10}, {"node": "node1", "score": 0}
        ])
    );
    let db = vip("default/db");
    assert_eq!((&db["leader"], &db["leads"]), (&serde_json::json!("node3"), &serde_json::json!(false)));
    assert_eq!(db["reason"], "no ready endpoint on this node (externalTrafficPolicy: Local)");
    let cache = vip("default/cache");
    assert_eq!(cache["leader"], serde_json::Value::Null);
    assert_eq!(cache["noLeader"], "no ready endpoint on any node");
    let services = plan["services"].as_array().unwrap();
    let leaders: Vec<&str> = services.iter().map(|s| s["l2Leader"].as_str().unwrap()).collect();
    assert_eq!(leaders, ["none", "node3", "node2"]);

    let out = ferrolb_reading(&["plan", "-", "--node", "node2", "-o", "yaml"], L2_CLUSTER);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    let (documents, error) = ferrolb_api::yaml::parse_documents(&yaml);
    assert_eq!(error, None);
    let l2 = documents[0].get("node").and_then(|n| n.get("l2")).expect("node.l2 in the YAML");
    let Some(ferrolb_api::yaml::Value::Seq(vips)) = l2.get("vips").map(|v| &v.value) else {
        panic!("node.l2.vips is a sequence: {l2:?}")
    };
    let web = vips.iter().find(|v| v.get("service").and_then(|s| s.as_str()) == Some("default/web")).unwrap();
    assert_eq!(web.get("leader").and_then(|l| l.as_str()), Some("node2"));
    assert_eq!(web.get("leads").and_then(|l| l.as_str()), Some("true"));
}

#[test]
fn plan_of_a_bgp_only_config_has_no_l2_part() {
    let out = ferrolb(&["plan", "examples/cluster.yaml", "--node", "node1", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let with_l2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(with_l2["node"]["l2"].is_object(), "cluster.yaml has an L2Advertisement");

    let bgp_only: String = L2_CLUSTER.replace("kind: L2Advertisement", "kind: BGPAdvertisement");
    let bgp_only = bgp_only
        .replace("  interfaces: [eth0]\n  preferredNodeSelectors:\n  - {weight: 10, preference: {matchLabels: {rack: r2}}}\n", "  {}\n");
    let out = ferrolb_reading(&["plan", "-", "--node", "node1", "-o", "json"], &bgp_only);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["node"].get("l2"), None);
    assert!(plan["services"].as_array().unwrap().iter().all(|s| s.get("l2Leader").is_none()));
    let out = ferrolb_reading(&["plan", "-", "--node", "node1"], &bgp_only);
    let table = text(&out.stdout);
    assert!(table.starts_with("NAMESPACE  NAME   POOL  IPS         ERROR\n"), "{table}");
    assert!(!table.contains("L2"), "{table}");
}

#[test]
fn speaker_help_names_its_flags() {
    let out = ferrolb(&["speaker", "--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for flag in [
        "--node",
        "--namespace",
        "--lb-class",
        "--gossip-port",
        "--gossip-secret-file",
        "--gratuitous-arp-interval",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("[default: 7946]"), "{help}");
}

#[test]
fn speaker_needs_its_node() {
    let out = ferrolb(&["speaker"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--node"), "{}", text(&out.stderr));
}

/// [`L2_CLUSTER`] with loadBalancerSourceRanges on `web`, and the line they are on.
fn with_source_ranges() -> (String, usize) {
    let input = L2_CLUSTER.replace(
        "spec: {type: LoadBalancer, ports: [{port: 80}], loadBalancerIP: 192.0.2.10}\n",
        "spec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n  loadBalancerIP: 192.0.2.10\n  \
         loadBalancerSourceRanges:\n  - 198.51.100.0/24\n",
    );
    let line = input.lines().position(|l| l.contains("loadBalancerSourceRanges")).expect("written") + 1;
    (input, line)
}

#[test]
fn source_ranges_from_a_file_are_a_warning_of_validate_and_a_reason_of_plan() {
    let (input, line) = with_source_ranges();
    let warning = format!(
        "-:{line}: warning: Service/web: spec.loadBalancerSourceRanges: accepted but not acted on: without \
         kube-proxy nothing filters clients by source range, so every client reaches the VIP (expected a \
         firewall on the hosts that allows these ranges only, or no loadBalancerSourceRanges)\n"
    );
    let out = ferrolb_reading(&["validate", "-"], &input);
    assert_eq!(out.status.code(), Some(0), "a warning, not an error: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), warning);
    assert!(text(&out.stdout).contains("(1 warning(s))"), "{}", text(&out.stdout));

    let out = ferrolb_reading(&["plan", "-"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), warning, "plan says it as validate does");
    let reason = "spec.loadBalancerSourceRanges: accepted but not acted on: without kube-proxy nothing filters \
                  clients by source range, so every client reaches the VIP";
    assert_eq!(
        text(&out.stdout),
        format!(
            "\
NAMESPACE  NAME   POOL  IPS         L2 LEADER  ERROR  NOT ACTED ON
default    cache  lan   192.0.2.9   none
default    db     lan   192.0.2.11  node3
default    web    lan   192.0.2.10  node2             {reason}
"
        )
    );
    let out = ferrolb_reading(&["plan", "-", "-o", "json"], &input);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = plan["services"].as_array().unwrap();
    let web = services.iter().find(|s| s["name"] == "web").unwrap();
    assert_eq!(web["notActedOn"], serde_json::json!([reason]));
    let others = services.iter().filter(|s| s["name"] != "web");
    assert!(others.into_iter().all(|s| s.get("notActedOn").is_none()), "{services:?}");
}
