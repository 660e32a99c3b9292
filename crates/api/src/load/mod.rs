//! Loading configuration: multi-document YAML (or JSON) from files,
//! directories and standard input into a [`Snapshot`].
//!
//! Every object keeps its file and line, and `metallb.io` objects the line of
//! each field. Problems never stop the load: each becomes a [`Diagnostic`] and
//! the loader moves on to the next document, so one run reports them all.

mod documents;
mod edit;
mod v1beta1_peer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::core::{EndpointSlice, Namespace, Node as K8sNode, Secret};
use crate::diagnostic::{Diagnostic, Location};
use crate::metallb::{
    self, BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement,
};
use crate::service::LbService;
use crate::snapshot::{FieldLines, Located, Snapshot};
use crate::yaml::{self, Node, Value, de};

pub use self::documents::ServiceDocuments;
use self::documents::{DocumentKey, DocumentRecord, Hashers, Recording, ReusableServices};
pub use self::edit::{AppliedEdit, ServicesEdit, edit_services};

/// Streams with fewer documents are read by one thread: threads cost more
/// than they save on small files.
const PARALLEL_DOCUMENTS: usize = 2048;
/// More threads than this bring little: the work is mostly memory allocation.
const MAX_WORKERS: usize = 4;

/// Loads YAML text named `file` (used in diagnostics).
pub fn load_str(file: &str, text: &str) -> (Snapshot, Vec<Diagnostic>) {
    let mut loader = Loader::default();
    loader.add_str(file, text);
    loader.finish()
}

/// Loads files, directories (their `*.yaml`, `*.yml` and `*.json` files, in
/// name order, not recursing, as `kubectl apply -f DIR`) and `-` (standard input).
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> (Snapshot, Vec<Diagnostic>) {
    let mut loader = Loader::default();
    for path in paths {
        loader.add_path(path.as_ref());
    }
    loader.finish()
}

/// Loads `paths` as [`load_paths`] does, sharing each Service whose
/// document is unchanged since `previous` (the snapshot of the last load and
/// its [`ServiceDocuments`]) instead of parsing it again: a one-line edit of
/// a file of 100,000 Services parses one document. The result is the same
/// as [`load_paths`]'s, with the documents of this load to pass to the next.
pub fn load_paths_reusing<P: AsRef<Path>>(
    paths: &[P],
    previous: Option<(&Snapshot, &ServiceDocuments)>,
) -> (Snapshot, Vec<Diagnostic>, ServiceDocuments) {
    let hashers = previous.map_or_else(Hashers::default, |(_, d)| d.hashers.clone());
    let reusable = previous.map(|(snapshot, documents)| (snapshot, documents.reusable()));
    let mut loader = Loader {
        previous: reusable.as_ref().map(|(snapshot, index)| (*snapshot, index)),
        recording: Some(Recording::new(hashers)),
        ..Loader::default()
    };
    for path in paths {
        loader.add_path(path.as_ref());
    }
    let recording = loader.recording.take().unwrap_or_else(|| Recording::new(Hashers::default()));
    let (snapshot, diagnostics) = loader.finish();
    let documents = recording.finish(&snapshot);
    (snapshot, diagnostics, documents)
}

/// Accumulates objects and problems from several sources.
#[derive(Default)]
pub struct Loader<'p> {
    snapshot: Snapshot,
    diagnostics: Vec<Diagnostic>,
    /// The last load, whose unchanged Services are shared.
    previous: Option<(&'p Snapshot, &'p ReusableServices)>,
    /// The documents of this load, when asked for.
    recording: Option<Recording>,
}

impl Loader<'_> {
    /// Adds a file, a directory or `-`.
    pub fn add_path(&mut self, path: &Path) {
        if path == Path::new("-") {
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => self.add_str("-", &text),
                Err(e) => self.io_error(path, &e),
            }
        } else if path.is_dir() {
            match config_files_in(path) {
                Ok(files) => files.iter().for_each(|f| self.add_file(f)),
                Err(e) => self.io_error(path, &e),
            }
        } else {
            self.add_file(path);
        }
    }

    fn add_file(&mut self, path: &Path) {
        match std::fs::read_to_string(path) {
            Ok(text) => self.add_str(&path.display().to_string(), &text),
            Err(e) => self.io_error(path, &e),
        }
    }

    fn io_error(&mut self, path: &Path, e: &std::io::Error) {
        let file = path.display().to_string();
        self.diagnostics.push(Diagnostic::error(Location::new(file, 0), "", "", format!("cannot read: {e}")));
    }

    /// Adds every document of YAML `text`, read from `file`. A large stream
    /// is read by several threads, each on a run of documents; the result is
    /// the same as reading it in order.
    pub fn add_str(&mut self, file: &str, text: &str) {
        let file: Arc<str> = file.into();
        let documents = yaml::documents(text);
        let first_service = self.snapshot.services.len();
        if let Some(recording) = &mut self.recording {
            recording.start_file(&file, first_service, documents.is_some());
        }
        self.add_text(&file, text, documents);
        if let Some(recording) = &mut self.recording {
            recording.end_file(self.snapshot.services.len());
        }
    }

    fn add_text(&mut self, file: &Arc<str>, text: &str, documents: Option<Vec<yaml::Document<'_>>>) {
        let Some(documents) = documents else {
            let result = yaml::for_each_document(text, |doc| self.add_document(file, &doc));
            self.syntax_error(file, result);
            return;
        };
        let workers = std::thread::available_parallelism().map_or(1, usize::from).min(MAX_WORKERS);
        if workers < 2 || documents.len() < PARALLEL_DOCUMENTS {
            self.add_documents(file, &documents);
            return;
        }
        let (previous, recording) = (self.previous, self.recording.as_ref().map(Recording::emptied));
        let parts: Vec<Loader> = std::thread::scope(|scope| {
            let file = &file;
            let handles: Vec<_> = documents
                .chunks(documents.len().div_ceil(workers))
                .map(|run| {
                    let recording = recording.clone();
                    scope.spawn(move || {
                        let mut part = Loader { previous, recording, ..Loader::default() };
                        part.add_documents(file, run);
                        part
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a loader thread does not panic")).collect()
        });
        // Services are nearly all of a large file: the first run's list is
        // moved, not copied, and the others' joined to it.
        for (i, mut part) in parts.into_iter().enumerate() {
            if let (Some(mine), Some(theirs)) = (&mut self.recording, part.recording.take()) {
                mine.append_part(theirs, self.snapshot.services.len());
            }
            if i == 0 && self.snapshot.is_empty() {
                self.snapshot = part.snapshot;
            } else {
                self.snapshot.extend(part.snapshot);
            }
            self.diagnostics.extend(part.diagnostics);
        }
    }

    fn add_documents(&mut self, file: &Arc<str>, documents: &[yaml::Document<'_>]) {
        for document in documents {
            let key = self.recording.as_ref().map(|r| r.key(document.text));
            let services_before = self.snapshot.services.len();
            let service_line =
                key.and_then(|key| self.reuse(file, document, key)).or_else(|| self.add_one(file, document));
            if let (Some(key), Some(recording)) = (key, &mut self.recording) {
                recording.record(DocumentRecord::new(
                    key,
                    document.first_line,
                    services_before,
                    service_line,
                ));
            }
        }
    }

    /// Parses `document`; when it held exactly one Service and nothing else,
    /// without a problem, the Service's line counted from the document's first.
    pub(crate) fn add_one(&mut self, file: &Arc<str>, document: &yaml::Document<'_>) -> Option<u32> {
        let before = (object_count(&self.snapshot), self.snapshot.services.len(), self.diagnostics.len());
        let result = document.parse(&mut |doc| self.add_document(file, &doc));
        self.syntax_error(file, result);
        let one_service = object_count(&self.snapshot) == before.0 + 1
            && self.snapshot.services.len() == before.1 + 1
            && self.diagnostics.len() == before.2;
        let line = self.snapshot.services.last().map(|s| s.location.line)?;
        one_service.then(|| line.saturating_sub(document.first_line))
    }

    /// Shares the Service of `document` with the previous load if its text
    /// is unchanged; its line in the document if it did.
    fn reuse(&mut self, file: &Arc<str>, document: &yaml::Document<'_>, key: DocumentKey) -> Option<u32> {
        let (previous, reusable) = self.previous?;
        let origin = reusable.get(&key)?;
        let service = previous.services.get(origin.index)?;
        let location =
            Location { file: Arc::clone(file), line: document.first_line + origin.line_in_document };
        self.snapshot.services.push(service.clone().relocated(location));
        Some(origin.line_in_document)
    }

    fn syntax_error(&mut self, file: &Arc<str>, result: Result<(), yaml::SyntaxError>) {
        if let Err(e) = result {
            let at = Location { file: Arc::clone(file), line: e.line };
            self.diagnostics.push(Diagnostic::error(at, "", "", e.message));
        }
    }

    /// The snapshot and every problem found, in order of file and line.
    pub fn finish(mut self) -> (Snapshot, Vec<Diagnostic>) {
        self.diagnostics.sort();
        (self.snapshot, self.diagnostics)
    }

    fn add_document(&mut self, file: &Arc<str>, doc: &Node<'_>) {
        if doc.is_null() {
            return; // an empty document, e.g. after a trailing `---`
        }
        let at = |line| Location { file: Arc::clone(file), line };
        let (Some(api_version), Some(kind)) =
            (doc.get("apiVersion").and_then(Node::as_str), doc.get("kind").and_then(Node::as_str))
        else {
            let message = if matches!(doc.value, Value::Map(_)) {
                "not a Kubernetes object (expected apiVersion and kind)"
            } else {
                "not a Kubernetes object (expected a mapping with apiVersion and kind)"
            };
            self.diagnostics.push(Diagnostic::error(at(doc.line), "", "", message));
            return;
        };
        let s = &mut self.snapshot;
        let d = &mut self.diagnostics;
        match (api_version, kind) {
            ("v1", "List") => {
                if let Some(Node { value: Value::Seq(items), .. }) = doc.get("items") {
                    items.iter().for_each(|item| self.add_document(file, item));
                }
            }
            (metallb::V1BETA1, "IPAddressPool") => {
                add::<IPAddressPool>(s, d, file, doc, kind, IPADDRESSPOOL, |s| &mut s.pools)
            }
            (metallb::V1BETA1, "L2Advertisement") => {
                add::<L2Advertisement>(s, d, file, doc, kind, OPTIONAL_SPEC, |s| &mut s.l2_advertisements)
            }
            (metallb::V1BETA1, "BGPAdvertisement") => {
                add::<BGPAdvertisement>(s, d, file, doc, kind, OPTIONAL_SPEC, |s| &mut s.bgp_advertisements)
            }
            (metallb::V1BETA1, "BFDProfile") => {
                add::<BFDProfile>(s, d, file, doc, kind, OPTIONAL_SPEC, |s| &mut s.bfd_profiles)
            }
            (metallb::V1BETA1, "Community") => {
                add::<Community>(s, d, file, doc, kind, OPTIONAL_SPEC, |s| &mut s.communities)
            }
            (metallb::V1BETA2, "BGPPeer") => {
                add::<BGPPeer>(s, d, file, doc, kind, REQUIRED_SPEC, |s| &mut s.bgp_peers)
            }
            (metallb::V1BETA1, "BGPPeer") => {
                if let Some(old) = parse::<metallb::v1beta1::BGPPeer>(d, file, doc, kind, REQUIRED_SPEC) {
                    d.extend(v1beta1_peer::check(&old));
                    s.bgp_peers.push(v1beta1_peer::convert(old));
                }
            }
            ("v1", "Service") => {
                if let Some(service) = parse::<crate::service::ServiceDocument>(d, file, doc, kind, CORE) {
                    let mut service = service.map(LbService::from);
                    service.fields = not_acted_on_lines(doc);
                    s.services.push(service);
                }
            }
            ("v1", "Node") => add::<K8sNode>(s, d, file, doc, kind, CORE, |s| &mut s.nodes),
            ("v1", "Namespace") => add::<Namespace>(s, d, file, doc, kind, CORE, |s| &mut s.namespaces),
            ("v1", "Secret") => add::<Secret>(s, d, file, doc, kind, CORE, |s| &mut s.secrets),
            ("discovery.k8s.io/v1", "EndpointSlice") => {
                add::<EndpointSlice>(s, d, file, doc, kind, CORE, |s| &mut s.endpoint_slices)
            }
            (version, kind) => {
                let object = format!("{kind}/{}", name_of(doc));
                let message = match expected_version(kind) {
                    Some(expected) => {
                        format!("unsupported apiVersion {version:?} for {kind} (expected {expected})")
                    }
                    None => format!("ignored: ferrolb does not read {version} {kind}"),
                };
                let diagnostic = if expected_version(kind).is_some() {
                    Diagnostic::error(at(doc.line), object, "apiVersion", message)
                } else {
                    Diagnostic::warning(at(doc.line), object, "", message)
                };
                d.push(diagnostic);
            }
        }
    }
}

/// How many objects of any kind `snapshot` holds.
fn object_count(s: &Snapshot) -> usize {
    s.pools.len()
        + s.l2_advertisements.len()
        + s.bgp_advertisements.len()
        + s.bgp_peers.len()
        + s.bfd_profiles.len()
        + s.communities.len()
        + s.services.len()
        + s.nodes.len()
        + s.namespaces.len()
        + s.endpoint_slices.len()
        + s.secrets.len()
}

/// The apiVersion(s) ferrolb reads for a kind it knows.
fn expected_version(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "IPAddressPool" | "L2Advertisement" | "BGPAdvertisement" | "BFDProfile" | "Community" => {
            metallb::V1BETA1
        }
        "BGPPeer" => "metallb.io/v1beta2 or metallb.io/v1beta1",
        "Service" | "Node" | "Namespace" | "Secret" => "v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        _ => return None,
    })
}

/// How a kind's `spec` and `status` are read.
#[derive(Clone, Copy)]
struct Shape {
    spec: Spec,
    status: Status,
}

/// `IPAddressPool`: a spec, and a status the controller writes, which a
/// file exported from a cluster carries (filled, partly or empty) and the
/// API server drops on create: skipped.
const IPADDRESSPOOL: Shape = Shape { spec: Spec::Required, status: Status::Skipped };
/// `BGPPeer`: a spec that cannot be left out.
const REQUIRED_SPEC: Shape = Shape { spec: Spec::Required, status: Status::Skipped };
/// Advertisements, `BFDProfile`, `Community`: every spec field is optional.
const OPTIONAL_SPEC: Shape = Shape { spec: Spec::Optional, status: Status::Skipped };
/// Kubernetes' own kinds.
const CORE: Shape = Shape { spec: Spec::Core, status: Status::Read };

/// Whether the kind's type reads `status`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Read it (IPAddressPool counts, a Node's addresses, a Service's ingress IPs).
    Read,
    /// The type has none, but `kubectl get -o yaml` prints an empty one: skip it.
    Skipped,
}

/// How an object's `spec` is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// A `metallb.io` kind that cannot do without a spec.
    Required,
    /// A `metallb.io` kind whose spec fields are all optional: `spec` may be left out.
    Optional,
    /// A core Kubernetes kind: only the object's own line is kept.
    Core,
}

fn add<T: DeserializeOwned>(
    snapshot: &mut Snapshot,
    diagnostics: &mut Vec<Diagnostic>,
    file: &Arc<str>,
    doc: &Node<'_>,
    kind: &str,
    shape: Shape,
    list: impl FnOnce(&mut Snapshot) -> &mut Vec<Located<T>>,
) {
    if let Some(object) = parse(diagnostics, file, doc, kind, shape) {
        list(snapshot).push(object);
    }
}

/// Deserializes one object, turning each problem into a diagnostic. Unknown
/// fields are errors but do not prevent the object from being used by
/// `plan`; a field of the wrong type does.
fn parse<T: DeserializeOwned>(
    diagnostics: &mut Vec<Diagnostic>,
    file: &Arc<str>,
    doc: &Node<'_>,
    kind: &str,
    Shape { spec, status }: Shape,
) -> Option<Located<T>> {
    // Only formatted when there is a problem to report: most objects have none.
    let object = || format!("{kind}/{}", name_of(doc));
    let at = |line| Location { file: Arc::clone(file), line };
    let filled;
    let doc = if spec == Spec::Optional && doc.get("spec").is_none() {
        filled = with_empty_spec(doc);
        &filled
    } else {
        doc
    };
    if name_of(doc).is_empty() {
        let line = doc.get("metadata").map_or(doc.line, |m| m.line);
        diagnostics.push(Diagnostic::error(
            at(line),
            object(),
            "metadata.name",
            "missing (expected the object's name)",
        ));
    }
    let root_fields: &'static [&'static str] = match status {
        Status::Read => &["apiVersion", "kind"],
        Status::Skipped => &["apiVersion", "kind", "status"],
    };
    let (value, unknown) = match de::from_node::<T>(doc, root_fields) {
        Ok(parsed) => parsed,
        Err(e) => {
            // A missing field is reported at the key of the mapping that
            // lacks it (`spec:`), or at the object when that is the root.
            let line = if e.message.starts_with("missing field") {
                if e.path.is_empty() { Some(doc.line) } else { field_lines(doc).line_of(&e.path) }
            } else {
                e.line
            };
            diagnostics.push(Diagnostic::error(at(line.unwrap_or(doc.line)), object(), e.path, e.message));
            return None;
        }
    };
    for field in unknown {
        diagnostics.push(Diagnostic::error(at(field.line), object(), &field.path, field.message()));
    }
    let fields = if spec == Spec::Core { FieldLines::default() } else { field_lines(doc) };
    Some(Located { object: value, location: at(doc.line), fields })
}

fn field_lines(doc: &Node<'_>) -> FieldLines {
    let mut lines = Vec::new();
    doc.walk(&mut String::new(), &mut |path, line| lines.push((Box::from(path), line)));
    FieldLines::new(lines)
}

/// The lines of a Service's fields that ferrolb reads past
/// ([`NOT_ACTED_ON`](crate::service::NOT_ACTED_ON)), those written with a
/// value: validation warns at them. Nothing else of a Service keeps a line
/// (a file may hold 100k Services).
fn not_acted_on_lines(doc: &Node<'_>) -> FieldLines {
    let lines: Vec<(Box<str>, u32)> = crate::service::NOT_ACTED_ON
        .iter()
        .filter_map(|n| written_at(doc, n.keys).map(|line| (Box::from(n.field), line)))
        .collect();
    FieldLines::new(lines)
}

/// The line of the key at the end of `keys` (`spec`, `loadBalancerSourceRanges`)
/// in `doc`, when its value is not empty (an empty list or string, or
/// `null`, asks for nothing).
fn written_at(doc: &Node<'_>, keys: &[&str]) -> Option<u32> {
    let (mut node, mut line) = (doc, doc.line);
    for &key in keys {
        let Value::Map(entries) = &node.value else { return None };
        let (k, value) = entries.iter().find(|(k, _)| k.as_str() == Some(key))?;
        (node, line) = (value, k.line);
    }
    let empty = match &node.value {
        Value::Seq(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        Value::Scalar { text, .. } => node.is_null() || text.is_empty(),
    };
    (!empty).then_some(line)
}

fn with_empty_spec<'a>(doc: &Node<'a>) -> Node<'a> {
    let mut doc = doc.clone();
    if let Value::Map(entries) = &mut doc.value {
        let line = doc.line;
        let scalar =
            |text: &'static str| Node { line, value: Value::Scalar { text: text.into(), plain: false } };
        entries.push((scalar("spec"), Node { line, value: Value::Map(Vec::new()) }));
    }
    doc
}

fn name_of<'n>(doc: &'n Node<'_>) -> &'n str {
    doc.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("")
}

fn config_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_config = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"));
        if is_config && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(diagnostics: &[Diagnostic]) -> Vec<String> {
        diagnostics.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pools_keep_the_line_of_each_address() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: a\nspec:\n  addresses:\n  - 192.0.2.0/28\n  - 192.0.2.64/28\n",
        );
        assert_eq!(messages(&diagnostics), Vec::<String>::new());
        let pool = &snapshot.pools[0];
        assert_eq!(pool.location.to_string(), "c.yaml:1");
        assert_eq!(pool.location_of("spec.addresses[1]").to_string(), "c.yaml:8");
        assert_eq!(pool.spec.addresses, ["192.0.2.0/28", "192.0.2.64/28"]);
    }

    #[test]
    fn unknown_fields_name_the_closest_known_one() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: a\n  lables: {}\nspec:\n  addresses: [192.0.2.0/28]\n  avoidBuggyIps: true\n",
        );
        assert_eq!(
            messages(&diagnostics),
            [
                "c.yaml:5: IPAddressPool/a: metadata.lables: unknown field \"lables\" (did you mean \"labels\"?)",
                "c.yaml:8: IPAddressPool/a: spec.avoidBuggyIps: unknown field \"avoidBuggyIps\" (did you mean \"avoidBuggyIPs\"?)",
            ]
        );
        assert_eq!(snapshot.pools.len(), 1, "an unknown field does not drop the object");
    }

    #[test]
    fn type_errors_drop_the_object_and_say_where() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: r\nspec:\n  myASN: 64512\n  peerASN: big\n  peerAddress: 192.0.2.1\n",
        );
        assert_eq!(
            messages(&diagnostics),
            ["c.yaml:7: BGPPeer/r: spec.peerASN: invalid type: string \"big\", expected u32"]
        );
        assert!(snapshot.bgp_peers.is_empty());
    }

    #[test]
    fn v1beta1_peers_convert_to_v1beta2() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata:\n  name: r\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 192.0.2.1\n  holdTime: 30s\n  nodeSelectors:\n  - matchLabels: {rack: r1}\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let peer = &snapshot.bgp_peers[0];
        assert_eq!((peer.spec.my_asn, peer.spec.peer_asn), (64512, 64513));
        assert_eq!(
            peer.spec.hold_time.map(std::time::Duration::from),
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(peer.spec.node_selectors[0].match_labels.as_ref().unwrap()["rack"], "r1");
        assert_eq!(peer.location_of("spec.holdTime").line, 9);
    }

    #[test]
    fn advertisements_without_spec_advertise_everything() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: all\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(snapshot.l2_advertisements[0].spec, Default::default());
    }

    #[test]
    fn status_is_read_where_the_kind_has_one_and_skipped_where_not() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus:\n  addresses: [{type: InternalIP, address: 198.51.100.11}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\nstatus:\n  loadBalancer: {ingress: [{ip: 192.0.2.7}]}\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l}\nstatus: {}\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let node_status = snapshot.nodes[0].status.as_ref().expect("a Node's status is read");
        assert_eq!(node_status.addresses.as_ref().unwrap()[0].address, "198.51.100.11");
        assert_eq!(&*snapshot.services[0].ingress_ips, [Box::from("192.0.2.7")]);
    }

    #[test]
    fn services_nodes_and_lists_load() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: web, namespace: default}\n  spec:\n    type: LoadBalancer\n    ports: [{port: 80, protocol: TCP}]\n---\napiVersion: v1\nkind: Node\nmetadata: {name: node1}\nstatus:\n  addresses: [{type: InternalIP, address: 198.51.100.11}]\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(snapshot.services[0].location.line, 4);
        assert_eq!(snapshot.nodes[0].location.line, 11);
    }

    #[test]
    fn every_problem_of_every_document_is_reported() {
        let (_, diagnostics) = load_str(
            "c.yaml",
            "kind: IPAddressPool\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: metallb.io/v1beta2\nkind: IPAddressPool\nmetadata: {name: p}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n---\n- just a list\n",
        );
        assert_eq!(
            messages(&diagnostics),
            [
                "c.yaml:1: not a Kubernetes object (expected apiVersion and kind)",
                "c.yaml:3: warning: Deployment/d: ignored: ferrolb does not read apps/v1 Deployment",
                "c.yaml:7: IPAddressPool/p: apiVersion: unsupported apiVersion \"metallb.io/v1beta2\" for IPAddressPool (expected metallb.io/v1beta1)",
                "c.yaml:13: Service/: metadata.name: missing (expected the object's name)",
                "c.yaml:15: not a Kubernetes object (expected a mapping with apiVersion and kind)",
            ]
        );
    }

    #[test]
    fn syntax_errors_keep_what_came_before() {
        let (snapshot, diagnostics) = load_str(
            "c.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [\n",
        );
        assert_eq!(snapshot.namespaces.len(), 1);
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].to_string().starts_with("c.yaml:7: invalid YAML:"), "{}", diagnostics[0]);
    }

    #[test]
    fn reading_in_parallel_gives_what_reading_in_order_gives() {
        let mut text = String::new();
        for i in 0..PARALLEL_DOCUMENTS * 2 {
            let extra = if i % 500 == 7 { "  bogus: 1\n" } else { "" };
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{i}\n{extra}"
            ));
        }
        let (parallel, parallel_diagnostics) = load_str("c.yaml", &text);
        let mut in_order = Loader::default();
        in_order.add_documents(&Arc::from("c.yaml"), &yaml::documents(&text).unwrap());
        let (in_order, in_order_diagnostics) = in_order.finish();
        assert_eq!(parallel.namespaces, in_order.namespaces);
        assert_eq!(parallel_diagnostics, in_order_diagnostics);
        assert_eq!(parallel_diagnostics.len(), (0..PARALLEL_DOCUMENTS * 2).filter(|i| i % 500 == 7).count());
        assert_eq!(parallel_diagnostics[0].location.line, 7 * 5 + 6, "after 7 documents of 5 lines");
    }

    fn service_document(name: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n"
        )
    }

    /// Loads `text` from a file, reusing `previous`.
    fn load_reusing(
        dir: &Path,
        text: &str,
        previous: Option<(&Snapshot, &ServiceDocuments)>,
    ) -> (Snapshot, Vec<Diagnostic>, ServiceDocuments) {
        let file = dir.join("c.yaml");
        std::fs::write(&file, text).unwrap();
        load_paths_reusing(&[&file], previous)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferrolb-load-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reloading_reuses_unchanged_services_and_gives_what_a_fresh_load_gives() {
        let dir = temp_dir("reuse");
        // Small (read in order) and large (read by several threads) streams.
        for count in [5, 3000] {
            // Some with a field whose line is kept, which must move with its document.
            let services: Vec<String> = (0..count)
                .map(|i| match i % 2 {
                    1 => {
                        service_document(&format!("s{i}")) + "  loadBalancerSourceRanges: [198.51.100.0/24]\n"
                    }
                    _ => service_document(&format!("s{i}")),
                })
                .collect();
            let (first, diagnostics, documents) = load_reusing(&dir, &services.concat(), None);
            assert!(diagnostics.is_empty(), "{diagnostics:?}");
            assert_eq!(documents.len(), count);

            // A document inserted near the top moves every line below it; one
            // removed; one edited; a pool added.
            let mut edited = services.clone();
            edited.insert(1, "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec:\n  addresses: [192.0.2.0/24]\n".into());
            edited.remove(3);
            edited[4] = edited[4].replace("LoadBalancer", "ClusterIP");
            let text = edited.concat();
            let (reloaded, diagnostics, documents) = load_reusing(&dir, &text, Some((&first, &documents)));
            let (fresh, fresh_diagnostics) = load_str(&dir.join("c.yaml").display().to_string(), &text);
            assert_eq!(diagnostics, fresh_diagnostics);
            assert_eq!(reloaded.services, fresh.services, "same Services, lines included");
            assert_eq!(reloaded.pools.len(), 1);
            assert_eq!(documents.len(), count - 1);

            // And once more from the reloaded one: indices stay right, and
            // the Services are shared, not parsed (a mark left on one stays).
            let mut marked = reloaded.clone();
            marked.services[count / 2].object.load_balancer_ip = Some("copied".into());
            let (again, _, _) = load_reusing(&dir, &text, Some((&marked, &documents)));
            assert_eq!(again.services, marked.services);
            let shared = again.services.iter().zip(&marked.services).filter(|(a, b)| a.is_shared_with(b));
            assert_eq!(shared.count(), again.services.len());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn documents_with_problems_are_parsed_again_every_time() {
        let dir = temp_dir("problems");
        let text =
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: LoadBalancer, typo: 1}\n";
        let (first, diagnostics, documents) = load_reusing(&dir, text, None);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(documents.is_empty());
        let (_, again, _) = load_reusing(&dir, text, Some((&first, &documents)));
        assert_eq!(again, diagnostics, "the problem is reported again");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for text in ["a: ".to_owned() + &"[".repeat(100_000), "- ".repeat(100_000) + "x\n"] {
            let (snapshot, diagnostics) = load_str("c.yaml", &text);
            assert!(snapshot.is_empty());
            assert_eq!(diagnostics.len(), 1);
            assert!(
                diagnostics[0].is_error() && diagnostics[0].message.starts_with("invalid YAML"),
                "{}",
                diagnostics[0]
            );
        }
    }

    #[test]
    fn unreadable_files_are_diagnostics() {
        let (_, diagnostics) = load_paths(&["/nonexistent/ferrolb.yaml"]);
        assert!(diagnostics[0].to_string().starts_with("/nonexistent/ferrolb.yaml:0: cannot read:"));
    }
}
