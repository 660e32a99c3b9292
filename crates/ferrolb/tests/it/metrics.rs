//! `/metrics` of `ferrolb run` as an operator's monitoring sees it: MetalLB's
//! names for a BGP session with FRR, the VIP announced, the pool's counts
//! and a refused edit, read straight and through a real Prometheus that
//! scrapes it (Debian's `prometheus`, in the node's namespace).
//!
//! ```text
//!   ┌─ router ───────────────┐  veth  ┌─ node1 ─────────────────────────────┐
//!   │ FRR 192.0.2.1 AS 64513 ├────────┤ ferrolb 192.0.2.11, :7472/metrics   │
//!   └────────────────────────┘        │ prometheus 127.0.0.1:9090 scrapes it│
//!                                     └─────────────────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_lab::Netns;
use ferrolb_lab::prometheus::{self, Prometheus};

use crate::support::{Ferrolb, bgp_cluster, established, frr_with_node1, lab_ready, pair, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const PEER: &str = "192.0.2.1:179";

/// One node, one peer, a pool of two addresses and `services` Services (web0, web1...).
fn cluster(services: usize) -> String {
    let names: Vec<String> = (0..services).map(|i| format!("web{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    bgp_cluster("203.0.113.10-203.0.113.11", &names)
}

/// `GET /metrics` from inside the node's namespace.
pub(crate) fn scrape(node: &Netns) -> String {
    let out = node.command("curl").args(["-sf", "--max-time", "5", "http://127.0.0.1:7472/metrics"]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Whether the scraped `text` has the sample line `sample`.
pub(crate) fn has(text: &str, sample: &str) -> bool {
    text.lines().any(|l| l == sample)
}

#[test]
fn run_serves_metallbs_metrics_of_what_it_does() {
    if !lab_ready(&["ip", "vtysh", "curl"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let frr = frr_with_node1(&router);
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(1));
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    let up = format!("metallb_bgp_session_up{{peer=\"{PEER}\"}} 1");
    wait_for("the session up in the metrics", TIMEOUT, || has(&scrape(&node), &up));
    wait_for("the prefix advertised in the metrics", TIMEOUT, || {
        has(&scrape(&node), &format!("metallb_bgp_announced_prefixes_total{{peer=\"{PEER}\"}} 1"))
    });
    let text = scrape(&node);
    for sample in [
        "metallb_speaker_announced{ip=\"203.0.113.10\",node=\"node1\",protocol=\"bgp\",service=\"default/web0\"} 1",
        "metallb_allocator_addresses_total{pool=\"vips\"} 2",
        "metallb_allocator_addresses_in_use_total{pool=\"vips\"} 1",
        "metallb_k8s_client_config_loaded_bool 1",
        "metallb_k8s_client_config_stale_bool 0",
        "ferrolb_config_generation 1",
        &format!("metallb_bgp_opens_sent{{peer=\"{PEER}\"}} 1"),
        &format!("metallb_bgp_opens_received{{peer=\"{PEER}\"}} 1"),
        "ferrolb_config_last_reload_successful 1",
    ] {
        assert!(has(&text, sample), "{sample} missing in\n{text}\n{}", ferrolb.log());
    }
    // ferrolb's own: when the configuration was taken, and how long each kind of plan took.
    let value =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok());
    assert!(
        value("ferrolb_config_last_reload_success_timestamp_seconds").is_some_and(|t| t > 1.7e9),
        "{text}"
    );
    for kind in ["allocation", "bgp", "l2"] {
        let count = value(&format!("ferrolb_plan_duration_seconds_count{{kind=\"{kind}\"}}"));
        assert!(count.is_some_and(|n| n >= 1.0), "no {kind} plan counted:\n{text}");
    }
    // The exposition format passes Prometheus' own check but for its naming
    // lint on MetalLB's names (gauges ending in `_total`, counters without
    // it), kept so that MetalLB's dashboards work; ferrolb's own names pass.
    if let Err(e) = prometheus::check_metrics(&text) {
        let complaints = e.to_string();
        let naming = [
            "counter metrics should have \"_total\" suffix",
            "non-counter metrics should not have \"_total\" suffix",
        ];
        for line in complaints.lines().filter(|l| l.contains(" metrics ")) {
            let name =
                line.split(['`', ':']).next_back().unwrap_or(line).split_whitespace().next().unwrap_or("");
            let metallbs_name = name.starts_with("metallb_") && naming.iter().any(|n| line.ends_with(n));
            assert!(metallbs_name, "promtool: {line}\n{complaints}");
        }
    }

    // The pool filled: two Services more than it holds.
    ferrolb.rewrite(&cluster(3));
    wait_for("the pool full in the metrics", TIMEOUT, || {
        has(&scrape(&node), "metallb_allocator_addresses_in_use_total{pool=\"vips\"} 2")
    });
    // An edit that does not validate: the last good configuration runs, and is stale.
    ferrolb.rewrite(&cluster(3).replace("peerASN: 64513", "peerASN: banana"));
    wait_for("the configuration stale in the metrics", TIMEOUT, || {
        has(&scrape(&node), "metallb_k8s_client_config_stale_bool 1")
    });
    assert!(has(&scrape(&node), "ferrolb_config_last_reload_successful 0"), "{}", scrape(&node));
    assert!(has(&scrape(&node), "metallb_k8s_client_update_errors_total 1"), "{}", scrape(&node));
    // The router shuts the session: down in the metrics.
    frr.shutdown_neighbor(NODE_IP).unwrap();
    let down = format!("metallb_bgp_session_up{{peer=\"{PEER}\"}} 0");
    wait_for("the session down in the metrics", TIMEOUT, || has(&scrape(&node), &down));
}

/// A real Prometheus scrapes `ferrolb run` and answers queries about it after known events.
#[test]
fn prometheus_sees_the_session_and_the_pool_as_they_change() {
    if !lab_ready(&["ip", "vtysh", "curl", prometheus::PROMETHEUS]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let frr = frr_with_node1(&router);
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(1));
    let prometheus = Prometheus::start(&node, &["127.0.0.1:7472"], &[]).unwrap();
    let value = |expr: &str| prometheus.query(expr).ok().and_then(|s| s.first().map(|(_, v)| *v));
    let session = format!("metallb_bgp_session_up{{peer=\"{PEER}\"}}");
    wait_for("Prometheus to see the session up", TIMEOUT, || value(&session) == Some(1.0));
    wait_for("Prometheus to see one address in use", TIMEOUT, || {
        value("metallb_allocator_addresses_in_use_total{pool=\"vips\"}") == Some(1.0)
    });
    ferrolb.rewrite(&cluster(2));
    wait_for("Prometheus to see the pool full", TIMEOUT, || {
        value(
            "metallb_allocator_addresses_in_use_total{pool=\"vips\"} == metallb_allocator_addresses_total{pool=\"vips\"}",
        ) == Some(2.0)
    });
    frr.shutdown_neighbor(NODE_IP).unwrap();
    wait_for("Prometheus to see the session down", TIMEOUT, || value(&session) == Some(0.0));
    // Counters only grow: the UPDATEs sent before the session went down are still counted.
    let updates = value(&format!("metallb_bgp_updates_total{{peer=\"{PEER}\"}}"));
    assert!(updates.is_some_and(|u| u >= 2.0), "{updates:?} ({})", prometheus.dir().display());
    drop(ferrolb);
}

/// `--log-format json`: one JSON object a line, a decision's fields as keys.
#[test]
fn json_logs_carry_each_decisions_fields() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let frr = frr_with_node1(&router);
    let ferrolb = Ferrolb::start_with(&node, "node1", &cluster(1), &["--log-format", "json"]);
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    wait_for("the route sent", TIMEOUT, || ferrolb.log().contains("sending routes"));
    let log = ferrolb.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let established = lines.iter().find(|l| l["message"] == "session established").expect(&log);
    assert_eq!(established["peer"], "router", "{established}");
    assert_eq!(established["level"], "INFO", "{established}");
    let assigned = lines.iter().find(|l| l["message"] == "IPs assigned").expect(&log);
    assert_eq!(assigned["service"], "default/web0", "{assigned}");
    assert_eq!(assigned["ips"], "203.0.113.10", "{assigned}");
}

/// Taking over many L2 VIPs at once logs one info line, not one per VIP
/// (each VIP's line is at debug level) nor one per repeat of the
/// gratuitous ARPs (the repeats are routine: at debug level too).
#[test]
fn announcing_many_vips_logs_one_line_per_takeover_not_per_vip_or_repeat() {
    if !lab_ready(&["ip", "curl"]) {
        return;
    }
    let (_router, node) = pair(&["192.0.2.11/24"]);
    let mut cluster = String::from(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan}
spec: {addresses: [192.0.2.100-192.0.2.199]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}]
",
    );
    cluster.push_str(ferrolb_lab::GOSSIP_SECRET_DOCUMENT);
    for i in 0..40 {
        cluster.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: web{i}, namespace: default}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
        ));
    }
    let ferrolb = Ferrolb::start(&node, "node1", &cluster);
    // Five gratuitous ARPs per VIP (AnnounceConfig's default), all 40 VIPs together.
    wait_for("five gratuitous ARPs for each VIP", TIMEOUT, || {
        let metrics = scrape(&node);
        (100..140).all(|i| has(&metrics, &format!("metallb_layer2_gratuitous_sent{{ip=\"192.0.2.{i}\"}} 5")))
    });
    let log = ferrolb.log();
    assert_eq!(log.matches("announcing (each VIP at debug level)").count(), 1, "{log}");
    let per_vip = log
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains("announcing") && l.contains("vip="))
        .count();
    assert_eq!(per_vip, 0, "{log}");
    assert!(log.contains("vips=40"), "{log}");
}

/// `curl` of `url` from inside `node`, with `args` (TLS options); the body, or `None` on failure.
fn curl(node: &Netns, url: &str, args: &[&str]) -> Option<String> {
    let out = node
        .command("curl")
        .args(["-sf", "--max-time", "5", "--resolve", "localhost:9120:127.0.0.1"])
        .args(args)
        .arg(url)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A self-signed certificate for `localhost` written as `tls.crt` and
/// `tls.key` in `dir` (as a Secret's), and as `NAME.pem` to trust it by.
fn certificate(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    // Beside, then renamed over: as a Secret volume's files change at once.
    for (ext, text) in [("crt", made.cert.pem()), ("key", made.signing_key.serialize_pem())] {
        std::fs::write(dir.join(format!("{name}.{ext}.new")), text).unwrap();
    }
    for ext in ["key", "crt"] {
        std::fs::rename(dir.join(format!("{name}.{ext}.new")), dir.join(format!("tls.{ext}"))).unwrap();
    }
    let ca = dir.join(format!("{name}.pem"));
    std::fs::copy(dir.join("tls.crt"), &ca).unwrap();
    ca
}

/// HTTPS `/metrics` as in a cluster (port 9120): with a Secret's certificate,
/// followed when it is renewed, else self-signed; plain HTTP gets nothing there.
#[test]
fn https_metrics_use_the_secrets_certificate_follow_its_renewal_or_sign_their_own() {
    if !lab_ready(&["ip", "vtysh", "curl"]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let frr = frr_with_node1(&router);
    let dir = node.dir().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let first = certificate(&dir, "first");
    let key = dir.join("tls.key");
    let https = ["--secure-metrics-address", "127.0.0.1:9120"];
    let files = ["--metrics-cert-dir", dir.to_str().unwrap()];
    let ferrolb = Ferrolb::start_with(&node, "node1", &cluster(1), &[&https[..], &files[..]].concat());
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    let url = "https://localhost:9120/metrics";
    let up = format!("metallb_bgp_session_up{{peer=\"{PEER}\"}} 1");
    let trusted = |ca: &std::path::Path| curl(&node, url, &["--cacert", ca.to_str().unwrap()]);
    wait_for("the session up in the HTTPS metrics", TIMEOUT, || {
        trusted(&first).is_some_and(|t| has(&t, &up))
    });
    assert_eq!(curl(&node, "http://localhost:9120/metrics", &[]), None, "plain HTTP answered on 9120");

    // The Secret renewed: the new certificate is served, the old one no longer.
    let second = certificate(&dir, "second");
    wait_for("the renewed certificate served", TIMEOUT, || trusted(&second).is_some());
    assert_eq!(trusted(&first), None, "{}", ferrolb.log());
    // A renewal that cannot be used: the last good certificate stays.
    std::fs::write(&key, "not a key").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(trusted(&second).is_some_and(|t| has(&t, &up)), "{}", ferrolb.log());
    assert!(ferrolb.log().contains("the changed certificate cannot be used"), "{}", ferrolb.log());
    ferrolb.stop();

    // No certificate given: a self-signed one (scraped without verification, as MetalLB's ServiceMonitor does).
    let ferrolb = Ferrolb::start_with(&node, "node1", &cluster(1), &https);
    wait_for("self-signed HTTPS metrics", TIMEOUT, || {
        curl(&node, url, &["--insecure"]).is_some_and(|t| t.contains("metallb_bgp_session_up"))
    });
    assert_eq!(trusted(&second), None, "{}", ferrolb.log());
}
