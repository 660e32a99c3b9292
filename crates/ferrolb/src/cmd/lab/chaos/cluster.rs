//! The chaos lab's cluster file: pools for L2 (IPv4 and IPv6 on the
//! segment) and BGP (IPv4, announced to the router), the nodes, the gossip
//! secret, and Services that the fault loop adds, removes and moves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Rng;

/// Where a Service takes its address from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// `lan-v4`: 198.51.100.100-199, answered by ARP.
    L2V4,
    /// `lan-v6`: on the segment's /64, answered by NDP.
    L2V6,
    /// `routed`: 192.0.2.0/24, announced to the router by every node.
    Bgp,
}

impl Kind {
    fn pool(self) -> &'static str {
        match self {
            Kind::L2V4 => "lan-v4",
            Kind::L2V6 => "lan-v6",
            Kind::Bgp => "routed",
        }
    }

    /// How many addresses its pool has.
    fn capacity(self) -> usize {
        match self {
            Kind::L2V4 => 100,
            Kind::L2V6 => 65_536,
            Kind::Bgp => 256,
        }
    }
}

/// The cluster file as the fault loop edits it.
#[derive(Clone, Debug)]
pub(super) struct Cluster {
    /// The nodes' IPv4 addresses, node1 first.
    nodes: Vec<String>,
    /// Every Service by name, with where its address comes from.
    pub(super) services: BTreeMap<String, Kind>,
    next: usize,
}

/// The BGP hold time of the nodes' sessions: a killed node's routes leave
/// the router after it (no BFD in this lab).
pub(super) const HOLD_TIME_SECS: u64 = 3;

impl Cluster {
    /// `services` Services: a quarter in BGP, a quarter in L2 over IPv4
    /// (as many as the pools hold), the rest in L2 over IPv6.
    pub(super) fn new(nodes: Vec<String>, services: usize) -> Cluster {
        let mut cluster = Cluster { nodes, services: BTreeMap::new(), next: 0 };
        let bgp = (services / 4).min(Kind::Bgp.capacity() - 6);
        let v4 = (services / 4).min(Kind::L2V4.capacity());
        for i in 0..services {
            let kind = if i < bgp {
                Kind::Bgp
            } else if i < bgp + v4 {
                Kind::L2V4
            } else {
                Kind::L2V6
            };
            cluster.add(kind);
        }
        cluster
    }

    fn count(&self, kind: Kind) -> usize {
        self.services.values().filter(|k| **k == kind).count()
    }

    fn add(&mut self, kind: Kind) -> String {
        let name = format!("svc-{}", self.next);
        self.next += 1;
        self.services.insert(name.clone(), kind);
        name
    }

    /// Adds `n` Services, each in a pool with room; their names.
    pub(super) fn add_some(&mut self, n: usize, rng: &mut Rng) -> Vec<String> {
        (0..n)
            .map(|_| {
                let kinds: Vec<Kind> = [Kind::L2V4, Kind::L2V6, Kind::Bgp]
                    .into_iter()
                    .filter(|k| self.count(*k) < k.capacity() - 6)
                    .collect();
                let kind = kinds[rng.below(kinds.len())];
                self.add(kind)
            })
            .collect()
    }

    /// Removes `n` Services at random; their names.
    pub(super) fn remove_some(&mut self, n: usize, rng: &mut Rng) -> Vec<String> {
        (0..n.min(self.services.len()))
            .filter_map(|_| {
                let name = self.services.keys().nth(rng.below(self.services.len()))?.clone();
                self.services.remove(&name);
                Some(name)
            })
            .collect()
    }

    /// Moves one Service to another pool (its address changes); its name.
    pub(super) fn move_one(&mut self, rng: &mut Rng) -> Option<String> {
        let name = self.services.keys().nth(rng.below(self.services.len().max(1)))?.clone();
        let from = self.services[&name];
        let to = [Kind::L2V4, Kind::L2V6, Kind::Bgp]
            .into_iter()
            .find(|k| *k != from && self.count(*k) < k.capacity() - 6)?;
        self.services.insert(name.clone(), to);
        Some(name)
    }

    /// The Services of `kind`.
    pub(super) fn of(&self, kind: Kind) -> impl Iterator<Item = &str> {
        self.services.iter().filter(move |(_, k)| **k == kind).map(|(n, _)| n.as_str())
    }

    /// The file every node reads.
    pub(super) fn render(&self) -> String {
        let mut out = format!(
            "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan-v4}}
spec: {{addresses: [198.51.100.100-198.51.100.199], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan-v6}}
spec: {{addresses: ['2001:db8:100::1:0/112'], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: routed}}
spec: {{addresses: [192.0.2.0/24], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan}}
spec: {{ipAddressPools: [lan-v4, lan-v6]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: routed}}
spec: {{ipAddressPools: [routed]}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec: {{myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1, holdTime: {HOLD_TIME_SECS}s}}
"
        );
        out.push_str(ferrolb_lab::GOSSIP_SECRET_DOCUMENT);
        for (i, address) in self.nodes.iter().enumerate() {
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}}}\nstatus: {{addresses: [{{type: InternalIP, address: {address}}}]}}\n",
                i + 1
            );
        }
        for (name, kind) in &self.services {
            let family = if *kind == Kind::L2V6 { ", ipFamilies: [IPv6]" } else { "" };
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, annotations: {{metallb.io/address-pool: {}}}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]{family}}}\n",
                kind.pool()
            );
        }
        out
    }

    /// A file that does not validate: the peer's AS is not a number.
    pub(super) fn render_invalid(&self) -> String {
        self.render().replace("peerASN: 64513", "peerASN: banana")
    }
}
