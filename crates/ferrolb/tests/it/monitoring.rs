//! deploy/monitoring against a real Prometheus scraping `ferrolb run`: the
//! rules pass `promtool check rules` and the PrometheusRule holds the same;
//! every panel of the Grafana dashboard returns data; each alert fires when
//! its condition is made (with `for: 0s`, so that the test need not wait a
//! minute per alert).
//!
//! ```text
//!   ┌─ router ─────────────────────┐  veth  ┌─ node1 ─────────────────────────────────┐
//!   │ FRR 192.0.2.1 AS 64513, bfdd ├────────┤ ferrolb: BGP (BFD 300 ms) + L2 on eth0  │
//!   └──────────────────────────────┘        │ prometheus 127.0.0.1:9090, the rules    │
//!                                           └─────────────────────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ferrolb_lab::prometheus::{self, Prometheus};
use ferrolb_lab::{Frr, FrrBfdPeer, FrrConfig};

use crate::support::{Ferrolb, established, lab_ready, pair, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);
const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const ROUTER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn monitoring(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/monitoring").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One node: a BGP pool of two addresses to the router (with BFD) and an L2
/// pool of two on eth0 (its advertisement selecting nodes `l2_nodes`
/// matches), and `bgp_services` Services in the BGP pool.
fn cluster(bgp_services: usize, l2_nodes: &str) -> String {
    let mut out = format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: routed}}
spec: {{addresses: [203.0.113.10-203.0.113.11]}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan}}
spec: {{addresses: [192.0.2.200-192.0.2.201]}}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{name: fast}}
spec: {{}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec: {{myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s, bfdProfile: fast}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: routed}}
spec: {{ipAddressPools: [routed]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan}}
spec: {{ipAddressPools: [lan], nodeSelectors: [{{matchLabels: {{role: {l2_nodes}}}}}]}}
---
apiVersion: v1
kind: Node
metadata: {{name: node1, labels: {{role: edge}}}}
status:
  addresses: [{{type: InternalIP, address: 192.0.2.11}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default, annotations: {{metallb.io/address-pool: lan}}}}
spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}
"
    );
    out.push_str(ferrolb_lab::GOSSIP_SECRET_DOCUMENT);
    for i in 0..bgp_services {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: api{i}, namespace: default, annotations: {{metallb.io/address-pool: routed}}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
        ));
    }
    out
}

#[test]
fn the_rules_check_and_the_prometheus_rule_holds_the_same() {
    if !lab_ready(&[prometheus::PROMTOOL]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ferrolb-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("ferrolb-rules.yaml");
    std::fs::write(&rules, monitoring("ferrolb-rules.yaml")).unwrap();
    let out = std::process::Command::new(prometheus::PROMTOOL)
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let plain: serde_json::Value = serde_saphyr::from_str(&monitoring("ferrolb-rules.yaml")).unwrap();
    let operator: serde_json::Value = serde_saphyr::from_str(&monitoring("prometheusrule.yaml")).unwrap();
    assert_eq!(operator["kind"], "PrometheusRule");
    assert_eq!(
        operator["spec"]["groups"], plain["groups"],
        "prometheusrule.yaml and ferrolb-rules.yaml differ"
    );
}

#[test]
fn every_panel_returns_data_and_every_alert_fires_on_its_condition() {
    if !lab_ready(&["ip", "vtysh", "curl", prometheus::PROMETHEUS]) {
        return;
    }
    let (router, node) = pair(&["192.0.2.11/24"]);
    let bfd = FrrBfdPeer::single_hop(NODE_IP, ROUTER_IP, "eth0");
    let mut config = FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(NODE_IP, 64512, false);
    config.extra = "router bgp 64513\n neighbor 192.0.2.11 bfd\n!\n".to_owned();
    let frr = Frr::start(&router, &config.bfd_peer(bfd.clone())).unwrap();
    let ferrolb = Ferrolb::start(&node, "node1", &cluster(1, "edge"));
    wait_for("the session Established", TIMEOUT, || established(&frr, NODE_IP));
    // The alerts fire as soon as their condition holds: the test shows the conditions, not the waits.
    let rules = monitoring("ferrolb-rules.yaml").replace("for: 1m", "for: 0s");
    let prometheus = Prometheus::start(&node, &["127.0.0.1:7472"], &[("rules.yaml", &rules)]).unwrap();

    let dashboard: serde_json::Value = serde_json::from_str(&monitoring("ferrolb-dashboard.json")).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    for expr in &exprs {
        wait_for(&format!("data for the panel `{expr}`"), TIMEOUT, || {
            prometheus.query(expr).is_ok_and(|series| !series.is_empty())
        });
    }
    // The BFD session's Control packets, both ways (FRR's counters, in MetalLB's FRR mode).
    for counter in ["metallb_bfd_control_packet_input", "metallb_bfd_control_packet_output"] {
        wait_for(&format!("{counter} counting"), TIMEOUT, || {
            prometheus.query(&format!("{counter}{{peer=\"192.0.2.1\"}} > 0")).is_ok_and(|s| !s.is_empty())
        });
    }
    let firing = |alert: &str| {
        prometheus.alerts().unwrap_or_default().iter().any(|(name, state)| name == alert && state == "firing")
    };
    for alert in [
        "FerrolbStaleConfig",
        "FerrolbAddressPoolExhausted",
        "FerrolbBGPSessionDown",
        "FerrolbBFDSessionDown",
        "FerrolbNoL2Leader",
    ] {
        assert!(!firing(alert), "{alert} fires while all is well");
    }
    // Its condition cannot be made with `run`, which needs a valid configuration to start:
    // the expression must still be one Prometheus evaluates.
    assert!(prometheus.query("metallb_k8s_client_config_loaded_bool == 0").is_ok());

    ferrolb.rewrite(&cluster(2, "edge"));
    wait_for("FerrolbAddressPoolExhausted", TIMEOUT, || firing("FerrolbAddressPoolExhausted"));
    wait_for("FerrolbAddressPoolUsage85Percent", TIMEOUT, || firing("FerrolbAddressPoolUsage85Percent"));
    ferrolb.rewrite(&cluster(2, "nowhere"));
    wait_for("FerrolbNoL2Leader", TIMEOUT, || firing("FerrolbNoL2Leader"));
    ferrolb.rewrite(&cluster(2, "nowhere").replace("peerASN: 64513", "peerASN: banana"));
    wait_for("FerrolbStaleConfig", TIMEOUT, || firing("FerrolbStaleConfig"));
    frr.configure_bfd_peer(&bfd, &["shutdown"]).unwrap();
    wait_for("FerrolbBFDSessionDown", TIMEOUT, || firing("FerrolbBFDSessionDown"));
    frr.shutdown_neighbor(NODE_IP).unwrap();
    wait_for("FerrolbBGPSessionDown", TIMEOUT, || firing("FerrolbBGPSessionDown"));
    drop(ferrolb);
}
