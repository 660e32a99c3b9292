//! The state file `ferrolb run` keeps its assignments in (`STATE_DIR/NODE.assignments.json`)
//! may be damaged: a write cut short, a disk error, an edit gone wrong. Reading any bytes
//! must give assignments or a decode error, never a panic; what reads must write and read
//! back to itself, with the same digest. And the allocator must not trust what it reads:
//! with the assignments as the previous run's, against a fixed configuration, every
//! address it hands out lies in the pool it names and no two Services hold the same one
//! (the configuration allows no sharing).
#![no_main]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::LazyLock;

use ferrolb_api::Snapshot;
use ferrolb_api::config::Config;
use ferrolb_api::validate::{Options, validated};
use ferrolb_ipam::state_file::{decode, digest, encode};
use libfuzzer_sys::fuzz_target;

/// Two pools, one per family, and Services that want one or two addresses, one of them a
/// given one: what the seeds' assignments refer to (and may contradict).
const CONFIG: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: v4, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: v6, namespace: metallb-system}
spec: {addresses: ['2001:db8::/124']}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {type: LoadBalancer, ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv4, IPv6], ports: [{port: 443}]}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec: {type: LoadBalancer, loadBalancerIP: 192.0.2.5, ports: [{port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: other}
spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 5432}]}
";

static CLUSTER: LazyLock<(Snapshot, Config)> = LazyLock::new(|| {
    let (snapshot, problems) = ferrolb_api::load::load_str("state_file.yaml", CONFIG);
    assert!(problems.is_empty(), "{problems:?}");
    let (config, problems) = validated(&snapshot, &Options::default());
    assert!(!problems.iter().any(|p| p.is_error()), "{problems:?}");
    (snapshot, config)
});

fuzz_target!(|data: &[u8]| {
    let Ok(previous) = decode(data) else { return };
    let mut bytes = Vec::new();
    encode(&mut bytes, &previous).expect("writing to memory");
    let again = decode(&bytes).expect("what is written reads back");
    assert_eq!(again, previous, "written: {}", String::from_utf8_lossy(&bytes));
    assert_eq!(digest(again.entries()), digest(previous.entries()));

    let (snapshot, config) = &*CLUSTER;
    let allocation = ferrolb_ipam::allocate(config, snapshot, &previous, &Default::default());
    let mut held = BTreeSet::new();
    for service in &allocation.services {
        for ip in &service.ips {
            let pool = service.pool.as_deref().expect("addresses come from a pool");
            assert!(
                in_pool(config, pool, *ip),
                "{}/{}: {ip} is not in pool {pool}",
                service.namespace,
                service.name
            );
            assert!(held.insert(*ip), "{ip} is held twice: {allocation:?}");
        }
    }
});

fn in_pool(config: &Config, pool: &str, ip: IpAddr) -> bool {
    config.pools.iter().filter(|p| p.name == pool).flat_map(|p| &p.ranges).any(|r| r.range.contains(ip))
}
