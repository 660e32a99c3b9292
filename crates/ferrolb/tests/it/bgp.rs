//! `ferrolb run` as a BGP speaker against a real FRR router.
//!
//! ```text
//!   ┌─ router ─────────────────┐        ┌─ node ─────────────────────┐
//!   │ FRR (zebra + bgpd)       │  veth  │ ferrolb run --node node1   │
//!   │ 192.0.2.1  AS 64513      ├────────┤ 192.0.2.11  AS 64512       │
//!   │ kernel: 203.0.113.x/32   │  eth0  │ announces the Service VIPs │
//!   └──────────────────────────┘        └────────────────────────────┘
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_lab::{Frr, FrrConfig, Netns, veth};

use crate::support::{Ferrolb, has_route, lab_ready, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);

fn cluster(services: &[&str]) -> String {
    let mut out = String::from(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips}
spec:
  addresses: [203.0.113.10-203.0.113.20]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, holdTime: 9s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: up}
spec:
  communities: [\"64512:100\", \"large:64512:1:2\"]
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 192.0.2.11}]
",
    );
    for name in services {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n"
        ));
    }
    out
}

#[test]
fn frr_learns_the_vips_with_their_communities_and_forgets_them() {
    if !lab_ready(&["ip", "vtysh"]) {
        return;
    }
    let router = Netns::new("router").unwrap();
    let node = Netns::new("node").unwrap();
    veth(&router, "eth0", &node, "eth0").unwrap();
    router.add_addr("eth0", "192.0.2.1/24").unwrap();
    node.add_addr("eth0", "192.0.2.11/24").unwrap();
    let neighbor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    let frr = Frr::start(
        &router,
        &FrrConfig::new(64513, Ipv4Addr::new(192, 0, 2, 1)).neighbor(neighbor, 64512, false),
    )
    .unwrap();

    let ferrolb = Ferrolb::start(&node, "node1", &cluster(&["api", "web"]));
    frr.wait_established(neighbor, TIMEOUT).unwrap();
    wait_for("both VIPs in the router's kernel", TIMEOUT, || {
        has_route(&router, "203.0.113.10") && has_route(&router, "203.0.113.11")
    });
    let rib = frr.bgp_ipv4_unicast().unwrap();
    let path = &rib["routes"]["203.0.113.10/32"][0];
    assert_eq!(path["path"], "64512", "{path}");
    let detail = frr.vtysh_json("show bgp ipv4 unicast 203.0.113.10/32 json").unwrap();
    let text = detail.to_string();
    assert!(text.contains("64512:100") && text.contains("64512:1:2"), "{text}");

    // A Service removed from the file is withdrawn.
    ferrolb.rewrite(&cluster(&["web"]));
    wait_for("the removed Service's VIP withdrawn", TIMEOUT, || !has_route(&router, "203.0.113.10"));
    assert!(has_route(&router, "203.0.113.11"));

    // SIGTERM closes the session at once: the router forgets the node.
    let log = ferrolb.stop();
    wait_for("the session down after SIGTERM", TIMEOUT, || {
        frr.neighbor_state(neighbor).unwrap().as_deref() != Some("Established")
    });
    wait_for("every route withdrawn after SIGTERM", TIMEOUT, || !has_route(&router, "203.0.113.11"));
    assert!(log.contains("NOTIFICATION sent"), "{log}");
}
