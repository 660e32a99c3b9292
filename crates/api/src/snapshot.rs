//! The [`Snapshot`]: every object that matters, whatever its source (the
//! standalone file loader or the Kubernetes watchers), each with where it
//! came from.

use std::sync::Arc;

use crate::core::{EndpointSlice, Namespace, Node, Secret};
use crate::diagnostic::Location;
use crate::metallb::{BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement};
use crate::services::Services;

/// The lines of an object's fields, by path (`spec.addresses[0]`).
///
/// Kept for `metallb.io` objects so that every problem points at its line;
/// empty for objects that did not come from a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldLines {
    /// Sorted by path.
    lines: Vec<(Box<str>, u32)>,
}

impl FieldLines {
    /// Field lines from `(path, line)` pairs in any order.
    pub fn new(mut lines: Vec<(Box<str>, u32)>) -> Self {
        lines.sort_unstable();
        lines.dedup_by(|a, b| a.0 == b.0);
        FieldLines { lines }
    }

    /// Every line moved by `lines` (text was inserted or removed above).
    pub fn shift(&mut self, lines: i64) {
        for (_, line) in &mut self.lines {
            *line = shifted(*line, lines);
        }
    }

    /// Whether `path` itself was written (not only an ancestor).
    pub fn has(&self, path: &str) -> bool {
        self.lines.binary_search_by(|(p, _)| (**p).cmp(path)).is_ok()
    }

    /// Forgets `path` (a field a conversion leaves out).
    pub fn remove(&mut self, path: &str) {
        self.lines.retain(|(p, _)| &**p != path);
    }

    /// The line of `path`, or of its nearest ancestor that has one
    /// (`spec.addresses[3]` falls back to `spec.addresses`, then `spec`).
    pub fn line_of(&self, path: &str) -> Option<u32> {
        let mut path = path;
        loop {
            if let Ok(i) = self.lines.binary_search_by(|(p, _)| (**p).cmp(path)) {
                return Some(self.lines[i].1);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

/// An object with where it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    /// The object itself.
    pub object: T,
    /// The start of the object (its first line).
    pub location: Location,
    /// The lines of its fields.
    pub fields: FieldLines,
}

/// `line` moved by `lines`.
fn shifted(line: u32, lines: i64) -> u32 {
    u32::try_from(i64::from(line) + lines).unwrap_or(0)
}

impl<T> Located<T> {
    /// The object and its fields moved by `lines` in their file.
    pub fn shift_lines(&mut self, lines: i64) {
        self.location.line = shifted(self.location.line, lines);
        self.fields.shift(lines);
    }

    /// The same object at `location`: its document was read again where it
    /// now is, and the lines of its fields move with it.
    pub fn relocated(mut self, location: Location) -> Self {
        self.fields.shift(i64::from(location.line) - i64::from(self.location.line));
        self.location = location;
        self
    }

    /// An object with no source file (built in code or read from an API server).
    pub fn unsourced(object: T) -> Self {
        Located { object, location: Location::new("<api>", 0), fields: FieldLines::default() }
    }

    /// The same place holding `f(object)`, e.g. a converted version.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Located<U> {
        Located { object: f(self.object), location: self.location, fields: self.fields }
    }

    /// Where `path` is: its own line, an ancestor's, or the object's.
    pub fn location_of(&self, path: &str) -> Location {
        match self.fields.line_of(path) {
            Some(line) => Location { file: Arc::clone(&self.location.file), line },
            None => self.location.clone(),
        }
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.object
    }
}

/// Everything ferrolb plans from. `BGPPeer`s of `v1beta1` are already
/// converted to `v1beta2`.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `IPAddressPool`s.
    pub pools: Vec<Located<IPAddressPool>>,
    /// `L2Advertisement`s.
    pub l2_advertisements: Vec<Located<L2Advertisement>>,
    /// `BGPAdvertisement`s.
    pub bgp_advertisements: Vec<Located<BGPAdvertisement>>,
    /// `BGPPeer`s.
    pub bgp_peers: Vec<Located<BGPPeer>>,
    /// `BFDProfile`s.
    pub bfd_profiles: Vec<Located<BFDProfile>>,
    /// `Community` alias sets.
    pub communities: Vec<Located<Community>>,
    /// Services of every type, reduced to what ferrolb reads; those not of
    /// type LoadBalancer are ignored by IPAM.
    pub services: Services,
    /// Nodes (their labels and addresses).
    pub nodes: Vec<Located<Node>>,
    /// Namespaces (their labels, for namespace selectors).
    pub namespaces: Vec<Located<Namespace>>,
    /// EndpointSlices (which nodes have endpoints of a Service).
    pub endpoint_slices: Vec<Located<EndpointSlice>>,
    /// Secrets (BGP passwords).
    pub secrets: Vec<Located<Secret>>,
}

impl Snapshot {
    /// Whether the snapshot holds no object at all.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
            && self.l2_advertisements.is_empty()
            && self.bgp_advertisements.is_empty()
            && self.bgp_peers.is_empty()
            && self.bfd_profiles.is_empty()
            && self.communities.is_empty()
            && self.services.is_empty()
            && self.nodes.is_empty()
            && self.namespaces.is_empty()
            && self.endpoint_slices.is_empty()
            && self.secrets.is_empty()
    }

    /// Whether `other` holds the same objects as `self` but for its Services,
    /// wherever they were read (a Service inserted above an object moves it
    /// down the file, which changes nothing). The objects are compared in
    /// order: the same objects listed in another order count as a change.
    pub fn same_except_services(&self, other: &Snapshot) -> bool {
        fn same<T: PartialEq>(a: &[Located<T>], b: &[Located<T>]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.object == y.object)
        }
        same(&self.pools, &other.pools)
            && same(&self.l2_advertisements, &other.l2_advertisements)
            && same(&self.bgp_advertisements, &other.bgp_advertisements)
            && same(&self.bgp_peers, &other.bgp_peers)
            && same(&self.bfd_profiles, &other.bfd_profiles)
            && same(&self.communities, &other.communities)
            && same(&self.nodes, &other.nodes)
            && same(&self.namespaces, &other.namespaces)
            && same(&self.endpoint_slices, &other.endpoint_slices)
            && same(&self.secrets, &other.secrets)
    }

    /// Appends every object of `other`, keeping order: `self`'s first.
    pub fn extend(&mut self, other: Snapshot) {
        let Snapshot {
            pools,
            l2_advertisements,
            bgp_advertisements,
            bgp_peers,
            bfd_profiles,
            communities,
            services,
            nodes,
            namespaces,
            endpoint_slices,
            secrets,
        } = other;
        self.pools.extend(pools);
        self.l2_advertisements.extend(l2_advertisements);
        self.bgp_advertisements.extend(bgp_advertisements);
        self.bgp_peers.extend(bgp_peers);
        self.bfd_profiles.extend(bfd_profiles);
        self.communities.extend(communities);
        self.services.append(services);
        self.nodes.extend(nodes);
        self.namespaces.extend(namespaces);
        self.endpoint_slices.extend(endpoint_slices);
        self.secrets.extend(secrets);
    }
}

/// `Kind/name` of an object, as diagnostics name it.
pub fn object_ref(kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!("{kind}/{}", meta.name.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_differing_in_services_or_lines_only_are_the_same_but_for_services() {
        use crate::service::LbService;
        let load = |text: &str| crate::load::load_str("t.yaml", text).0;
        let pool = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [192.0.2.0/28]}\n";
        let before = load(pool);
        let mut after = load(&format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: x}}\n---\n{pool}"));
        assert!(!after.same_except_services(&before));
        after.namespaces.clear();
        after.services.push(Located::unsourced(LbService::default()));
        assert_ne!(after.pools[0].location, before.pools[0].location);
        assert!(after.same_except_services(&before));
        let other = load(&pool.replace("/28", "/29"));
        assert!(!other.same_except_services(&before));
    }

    #[test]
    fn line_of_falls_back_to_the_nearest_ancestor() {
        let lines = FieldLines::new(vec![
            ("spec".into(), 5),
            ("spec.addresses".into(), 6),
            ("spec.addresses[0]".into(), 7),
        ]);
        assert_eq!(lines.line_of("spec.addresses[0]"), Some(7));
        assert_eq!(lines.line_of("spec.addresses[3]"), Some(6));
        assert_eq!(lines.line_of("spec.serviceAllocation.priority"), Some(5));
        assert_eq!(lines.line_of("metadata.name"), None);
    }
}
