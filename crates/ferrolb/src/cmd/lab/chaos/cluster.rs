//! The chaos lab's cluster file: the shapes a user has — L2 over IPv4 and
//! IPv6, L2 restricted to some nodes, Services sharing one requested IP, BGP
//! from every node and BGP from some nodes — the nodes with their labels, the
//! gossip secret, and Services that the fault loop adds, removes and moves.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::Rng;

/// Where a Service takes its address from, and so who announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// `lan-v4`: 198.51.100.100-199, answered by ARP from any node.
    L2V4,
    /// `lan-v6`: on the segment's /64, answered by NDP from any node.
    L2V6,
    /// `lan-pinned`: 198.51.100.200-229, answered only by the nodes
    /// labelled for it (node1 and node2: an L2Advertisement's nodeSelectors).
    L2Pinned,
    /// `lan-shared`: two Services (ports 80 and 443) requesting one address
    /// of 198.51.100.230-253 with one `allow-shared-ip` key, answered by ARP.
    Shared,
    /// `routed`: 192.0.2.0/24, announced to the router by every node.
    Bgp,
    /// `routed-pinned`: 203.0.113.0/24, announced only by the nodes labelled
    /// for it (all but node1: a BGPAdvertisement's nodeSelectors).
    BgpPinned,
}

/// The first address of `lan-shared`: slot `n` shares 198.51.100.(230 + n).
const SHARED_FIRST: u8 = 230;
const SHARED_SLOTS: u8 = 24;

/// The node label that L2Pinned's advertisement selects, and BgpPinned's.
const L2_LABEL: &str = "lab.ferrolb.io/l2-pinned";
const BGP_LABEL: &str = "lab.ferrolb.io/bgp-pinned";

impl Kind {
    /// Every kind, in the order of the file.
    pub(super) const ALL: [Kind; 6] =
        [Kind::L2V4, Kind::L2V6, Kind::L2Pinned, Kind::Shared, Kind::Bgp, Kind::BgpPinned];

    fn pool(self) -> &'static str {
        match self {
            Kind::L2V4 => "lan-v4",
            Kind::L2V6 => "lan-v6",
            Kind::L2Pinned => "lan-pinned",
            Kind::Shared => "lan-shared",
            Kind::Bgp => "routed",
            Kind::BgpPinned => "routed-pinned",
        }
    }

    /// How many Services its pool holds.
    fn capacity(self) -> usize {
        match self {
            Kind::L2V4 => 100,
            Kind::L2V6 => 65_536,
            Kind::L2Pinned => 30,
            Kind::Shared => 2 * usize::from(SHARED_SLOTS),
            Kind::Bgp | Kind::BgpPinned => 256,
        }
    }

    /// Whether the router learns it by BGP (else the client by ARP or NDP).
    pub(super) fn is_bgp(self) -> bool {
        matches!(self, Kind::Bgp | Kind::BgpPinned)
    }

    /// The nodes (from 0) that may announce it, of `nodes`.
    pub(super) fn eligible(self, nodes: usize) -> std::ops::Range<usize> {
        match self {
            Kind::L2Pinned => 0..2,
            Kind::BgpPinned => 1..nodes,
            _ => 0..nodes,
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
    /// The Services of kind [`Kind::Shared`], with their slot (two per
    /// slot) and their port (the twins' differ).
    shared: BTreeMap<String, (u8, u16)>,
    next: usize,
}

/// The BGP hold time of the nodes' sessions: a killed node's routes leave
/// the router after it (no BFD in this lab).
pub(super) const HOLD_TIME_SECS: u64 = 3;

impl Cluster {
    /// `services` Services: a fifth in BGP (a quarter of those from some
    /// nodes only), a tenth in L2 over IPv4, a fiftieth restricted to some
    /// nodes, a fiftieth sharing addresses in pairs, the rest in L2 over IPv6
    /// (each as many as its pool holds).
    pub(super) fn new(nodes: Vec<String>, services: usize) -> Cluster {
        let mut cluster = Cluster { nodes, services: BTreeMap::new(), shared: BTreeMap::new(), next: 0 };
        let share = |part: usize, kind: Kind| (services / part).min(kind.capacity() - 6);
        let counts = [
            (Kind::Bgp, share(5, Kind::Bgp) - share(20, Kind::BgpPinned)),
            (Kind::BgpPinned, share(20, Kind::BgpPinned)),
            (Kind::L2V4, share(10, Kind::L2V4)),
            (Kind::L2Pinned, share(50, Kind::L2Pinned)),
            (Kind::Shared, share(50, Kind::Shared) / 2),
        ];
        for (kind, n) in counts {
            for _ in 0..n {
                cluster.add(kind);
            }
        }
        while cluster.services.len() < services {
            cluster.add(Kind::L2V6);
        }
        cluster
    }

    fn count(&self, kind: Kind) -> usize {
        self.services.values().filter(|k| **k == kind).count()
    }

    fn has_room(&self, kind: Kind) -> bool {
        match kind {
            Kind::Shared => self.free_slot().is_some(),
            _ => self.count(kind) < kind.capacity() - 6,
        }
    }

    fn free_slot(&self) -> Option<u8> {
        (0..SHARED_SLOTS).find(|slot| !self.shared.values().any(|(s, _)| s == slot))
    }

    /// Adds a Service of `kind`, or two on a free slot for [`Kind::Shared`]
    /// (none when every slot is taken); their names.
    fn add(&mut self, kind: Kind) -> Vec<String> {
        let twins = match (kind, self.free_slot()) {
            (Kind::Shared, Some(slot)) => vec![Some((slot, 80)), Some((slot, 443))],
            (Kind::Shared, None) => vec![],
            _ => vec![None],
        };
        twins
            .into_iter()
            .map(|shared| {
                let name = format!("svc-{}", self.next);
                self.next += 1;
                self.services.insert(name.clone(), kind);
                if let Some(shared) = shared {
                    self.shared.insert(name.clone(), shared);
                }
                name
            })
            .collect()
    }

    /// Adds `n` Services (or pairs), each in a pool with room; their names.
    pub(super) fn add_some(&mut self, n: usize, rng: &mut Rng) -> Vec<String> {
        let mut added = Vec::new();
        for _ in 0..n {
            let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| self.has_room(*k)).collect();
            let kind = kinds[rng.below(kinds.len())];
            added.extend(self.add(kind));
        }
        added
    }

    /// Removes `n` Services at random (one of a pair may stay, alone on its address); their names.
    pub(super) fn remove_some(&mut self, n: usize, rng: &mut Rng) -> Vec<String> {
        (0..n.min(self.services.len()))
            .filter_map(|_| {
                let name = self.services.keys().nth(rng.below(self.services.len()))?.clone();
                self.services.remove(&name);
                self.shared.remove(&name);
                Some(name)
            })
            .collect()
    }

    /// Moves one Service that requests no address to another pool (its
    /// address changes, and maybe who announces it); its name.
    pub(super) fn move_one(&mut self, rng: &mut Rng) -> Option<String> {
        let movable: Vec<&String> = self.services.keys().filter(|n| !self.shared.contains_key(*n)).collect();
        let name = movable.get(rng.below(movable.len()))?.to_string();
        let from = self.services[&name];
        let to = Kind::ALL.into_iter().find(|k| *k != from && *k != Kind::Shared && self.has_room(*k))?;
        self.services.insert(name.clone(), to);
        Some(name)
    }

    /// The Services of `kind`.
    pub(super) fn of(&self, kind: Kind) -> impl Iterator<Item = &str> {
        self.services.iter().filter(move |(_, k)| **k == kind).map(|(n, _)| n.as_str())
    }

    /// The address a Service requests (with its twin), if it shares one.
    pub(super) fn requested(&self, name: &str) -> Option<IpAddr> {
        let (slot, _) = self.shared.get(name)?;
        Some(Ipv4Addr::new(198, 51, 100, SHARED_FIRST + slot).into())
    }

    /// The file every node reads.
    pub(super) fn render(&self) -> String {
        let nodes = self.nodes.len();
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
metadata: {{name: lan-pinned}}
spec: {{addresses: [198.51.100.200-198.51.100.229], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan-shared}}
spec: {{addresses: [198.51.100.{SHARED_FIRST}-198.51.100.{}], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: routed}}
spec: {{addresses: [192.0.2.0/24], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: routed-pinned}}
spec: {{addresses: [203.0.113.0/24], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan}}
spec: {{ipAddressPools: [lan-v4, lan-v6, lan-shared]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan-pinned}}
spec: {{ipAddressPools: [lan-pinned], nodeSelectors: [{{matchLabels: {{{L2_LABEL}: 'true'}}}}]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: routed}}
spec: {{ipAddressPools: [routed]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: routed-pinned}}
spec: {{ipAddressPools: [routed-pinned], nodeSelectors: [{{matchLabels: {{{BGP_LABEL}: 'true'}}}}]}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec: {{myASN: 64512, peerASN: 64513, peerAddress: 198.51.100.1, holdTime: {HOLD_TIME_SECS}s}}
",
            SHARED_FIRST + SHARED_SLOTS - 1
        );
        out.push_str(ferrolb_lab::GOSSIP_SECRET_DOCUMENT);
        for (i, address) in self.nodes.iter().enumerate() {
            let labels: Vec<String> = [L2_LABEL, BGP_LABEL]
                .into_iter()
                .zip([Kind::L2Pinned, Kind::BgpPinned])
                .filter(|(_, kind)| kind.eligible(nodes).contains(&i))
                .map(|(label, _)| label)
                .map(|label| format!("{label}: 'true'"))
                .collect();
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node{}, labels: {{{}}}}}\nstatus: {{addresses: [{{type: InternalIP, address: {address}}}]}}\n",
                i + 1,
                labels.join(", ")
            );
        }
        for (name, kind) in &self.services {
            let family = if *kind == Kind::L2V6 { ", ipFamilies: [IPv6]" } else { "" };
            let (sharing, port) = match (self.shared.get(name), self.requested(name)) {
                (Some((slot, port)), Some(ip)) => (
                    format!(", metallb.io/allow-shared-ip: share-{slot}, metallb.io/loadBalancerIPs: {ip}"),
                    *port,
                ),
                _ => (String::new(), 80),
            };
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, annotations: {{metallb.io/address-pool: {}{sharing}}}}}\nspec: {{type: LoadBalancer, ports: [{{port: {port}}}]{family}}}\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(services: usize) -> Cluster {
        Cluster::new((1..=3).map(|i| format!("198.51.100.1{i}")).collect(), services)
    }

    /// The lab's file is what `validate` accepts, with every shape in it.
    #[test]
    fn the_file_validates_with_every_shape() {
        let cluster = cluster(1000);
        for kind in Kind::ALL {
            assert!(cluster.of(kind).count() > 0, "{kind:?}");
        }
        let (snapshot, loaded) = ferrolb_api::load::load_str("chaos.yaml", &cluster.render());
        let (_, broken) =
            ferrolb_api::validate::validated(&snapshot, &ferrolb_api::config::Options::default());
        let errors: Vec<String> =
            loaded.iter().chain(&broken).filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        assert_eq!(errors, Vec::<String>::new());
    }

    /// Twins are added together on one address, with different ports.
    #[test]
    fn shared_services_come_in_pairs_on_one_address() {
        let mut cluster = cluster(0);
        let twins = cluster.add(Kind::Shared);
        assert_eq!(twins.len(), 2);
        assert_eq!(cluster.requested(&twins[0]), cluster.requested(&twins[1]));
        let text = cluster.render();
        assert!(text.contains(&format!("{}, namespace: default, annotations: {{metallb.io/address-pool: lan-shared, metallb.io/allow-shared-ip: share-0, metallb.io/loadBalancerIPs: 198.51.100.230}}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]", twins[0])), "{text}");
        assert!(text.contains("ports: [{port: 443}]"), "{text}");
        // The slot is free again once neither twin holds it.
        cluster.services.clear();
        cluster.shared.clear();
        assert_eq!(cluster.free_slot(), Some(0));
    }
}
