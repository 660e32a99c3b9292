//! An in-process fake of the Kubernetes API server, enough for watchers: it
//! answers LIST with a `…List` (items without apiVersion and kind for the
//! built-in kinds, as the real server sends them; in pages when asked with
//! `limit`, continued with `continue`) and WATCH with a stream
//! of newline-delimited `{"type":…,"object":…}` events, and records every
//! request it saw. For the controller it also takes merge patches of a
//! Service's `status` subresource (applied, and sent to the watches as
//! MODIFIED) and Events (`POST`/`PATCH` of `events.k8s.io/v1`), and records
//! the body of every write; and serves `coordination.k8s.io/v1` Leases (GET,
//! POST, PUT with the resourceVersion checked) for leader election.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// A resource the fake serves.
struct Resource {
    kind: &'static str,
    /// `v1`, `metallb.io/v1beta1`...
    api_version: &'static str,
    plural: &'static str,
    namespaced: bool,
}

const RESOURCES: [Resource; 14] = [
    Resource { kind: "Service", api_version: "v1", plural: "services", namespaced: true },
    Resource { kind: "Node", api_version: "v1", plural: "nodes", namespaced: false },
    Resource { kind: "Namespace", api_version: "v1", plural: "namespaces", namespaced: false },
    Resource { kind: "Secret", api_version: "v1", plural: "secrets", namespaced: true },
    Resource {
        kind: "EndpointSlice",
        api_version: "discovery.k8s.io/v1",
        plural: "endpointslices",
        namespaced: true,
    },
    Resource {
        kind: "IPAddressPool",
        api_version: "metallb.io/v1beta1",
        plural: "ipaddresspools",
        namespaced: true,
    },
    Resource {
        kind: "L2Advertisement",
        api_version: "metallb.io/v1beta1",
        plural: "l2advertisements",
        namespaced: true,
    },
    Resource {
        kind: "BGPAdvertisement",
        api_version: "metallb.io/v1beta1",
        plural: "bgpadvertisements",
        namespaced: true,
    },
    Resource { kind: "BGPPeer", api_version: "metallb.io/v1beta2", plural: "bgppeers", namespaced: true },
    Resource {
        kind: "BFDProfile",
        api_version: "metallb.io/v1beta1",
        plural: "bfdprofiles",
        namespaced: true,
    },
    Resource {
        kind: "Community",
        api_version: "metallb.io/v1beta1",
        plural: "communities",
        namespaced: true,
    },
    Resource {
        kind: "ServiceL2Status",
        api_version: "metallb.io/v1beta1",
        plural: "servicel2statuses",
        namespaced: true,
    },
    Resource {
        kind: "ServiceBGPStatus",
        api_version: "metallb.io/v1beta1",
        plural: "servicebgpstatuses",
        namespaced: true,
    },
    Resource {
        kind: "ConfigurationState",
        api_version: "metallb.io/v1beta1",
        plural: "configurationstates",
        namespaced: true,
    },
];

/// The kinds a speaker (or, for its ConfigurationState, the controller)
/// creates, reads, patches the status of and deletes.
const SPEAKER_WRITTEN: [&str; 3] = ["servicel2statuses", "servicebgpstatuses", "configurationstates"];

impl Resource {
    /// `/api/v1` or `/apis/GROUP/VERSION`.
    fn prefix(&self) -> String {
        if self.api_version.contains('/') {
            format!("/apis/{}", self.api_version)
        } else {
            format!("/api/{}", self.api_version)
        }
    }

    fn builtin(&self) -> bool {
        !self.api_version.starts_with("metallb.io/")
    }
}

/// A collection a request names: a resource, in one namespace or in all.
struct Collection {
    resource: &'static Resource,
    namespace: Option<String>,
}

impl Collection {
    fn parse(path: &str) -> Option<Collection> {
        RESOURCES.iter().find_map(|resource| {
            let rest = path.strip_prefix(&resource.prefix())?;
            if rest == format!("/{}", resource.plural) {
                return Some(Collection { resource, namespace: None });
            }
            let rest = rest.strip_prefix("/namespaces/")?;
            let (namespace, plural) = rest.split_once('/')?;
            (resource.namespaced && plural == resource.plural)
                .then(|| Collection { resource, namespace: Some(namespace.to_owned()) })
        })
    }

    fn holds(&self, object: &Value) -> bool {
        let (kind, namespace, _) = key(object);
        self.holds_key(&kind, &namespace)
    }

    fn holds_key(&self, kind: &str, namespace: &str) -> bool {
        kind == self.resource.kind && self.namespace.as_deref().is_none_or(|ns| namespace == ns)
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

#[derive(Default)]
struct State {
    /// By (kind, namespace, name).
    objects: BTreeMap<(String, String, String), Value>,
    resource_version: u64,
    /// Every event so far, replayed to a watch that starts from an older
    /// resourceVersion, as the API server does.
    /// (The kind and namespace of each event's object are kept, not the
    /// object: with ten thousand Services the fake stays small.)
    history: Vec<(u64, Bytes, String, String)>,
    /// Open watches: the collection and where its events go.
    watches: Vec<(Collection, mpsc::UnboundedSender<Bytes>)>,
    /// Every request, as `METHOD path?query`.
    requests: Vec<String>,
    /// Plurals whose LIST answers wait until released.
    held: BTreeMap<String, watch::Receiver<bool>>,
    releases: BTreeMap<String, watch::Sender<bool>>,
    /// Plurals whose next LIST fails with 500.
    failing: Vec<String>,
    /// Every PATCH and POST, in order.
    writes: Vec<Write>,
    /// How many of the next Service status patches fail with 500.
    failing_writes: usize,
    /// How many of the next Lease replacements find it written since it was read.
    lease_writes_behind: usize,
}

/// A write the fake received.
#[derive(Clone, Debug)]
pub struct Write {
    /// `PATCH`, `POST` or (of a speaker's status object) `DELETE`.
    pub method: String,
    /// The path, without query.
    pub path: String,
    /// The JSON body.
    pub body: Value,
}

impl State {
    fn bump(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn broadcast(&mut self, event: &str, object: &Value) {
        let line = Bytes::from(format!("{}\n", json!({"type": event, "object": object})));
        let (kind, namespace, _) = key(object);
        self.history.push((self.resource_version, line, kind, namespace));
        let line = &self.history.last().expect("just pushed").1;
        self.watches.retain(|(collection, tx)| !collection.holds(object) || tx.send(line.clone()).is_ok());
    }
}

/// The fake served over HTTP (see [`FakeApi::serve`]); dropping it stops
/// the server and closes its connections.
pub struct Serving(tokio::task::JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The fake API server; cheap to clone (all clones share one state).
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn key(object: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let meta = &object["metadata"];
    (text(&object["kind"]), text(&meta["namespace"]), text(&meta["name"]))
}

impl FakeApi {
    /// A kube client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let fake = fake.clone();
            async move { Ok::<_, Infallible>(fake.answer(request).await) }
        });
        kube::Client::new(service, "default")
    }

    /// Serves this fake over HTTP/1.1 on a port of 127.0.0.1, for a
    /// client in another process; the server stops when the returned
    /// task is dropped.
    pub async fn serve(&self) -> (std::net::SocketAddr, Serving) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let address = listener.local_addr().expect("bound");
        let fake = self.clone();
        let accepting = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let fake = fake.clone();
                let service =
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let fake = fake.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let request = http::Request::from_parts(parts, kube::client::Body::from(bytes));
                            Ok::<_, Infallible>(fake.answer(request).await)
                        }
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                connections.spawn(connection);
            }
        });
        (address, Serving(accepting))
    }

    /// Adds or replaces an object (a full one, with apiVersion and kind),
    /// sending ADDED or MODIFIED to the watches that see it.
    pub fn apply(&self, mut object: Value) {
        let mut state = self.state.lock().unwrap();
        object["metadata"]["resourceVersion"] = state.bump().into();
        let event = match state.objects.insert(key(&object), object.clone()) {
            Some(_) => "MODIFIED",
            None => "ADDED",
        };
        state.broadcast(event, &object);
    }

    /// Removes an object, sending DELETED (with its last state) to the
    /// watches that see it.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let mut state = self.state.lock().unwrap();
        let mut object =
            state.objects.remove(&(kind.into(), namespace.into(), name.into())).expect("deleted");
        object["metadata"]["resourceVersion"] = state.bump().into();
        state.broadcast("DELETED", &object);
    }

    /// Ends every open watch, as the API server does after `timeoutSeconds`.
    pub fn close_watches(&self) {
        self.state.lock().unwrap().watches.clear();
    }

    /// Makes LIST requests for `plural` wait until [`FakeApi::release`].
    pub fn hold(&self, plural: &str) {
        let (tx, rx) = watch::channel(false);
        let mut state = self.state.lock().unwrap();
        state.held.insert(plural.into(), rx);
        state.releases.insert(plural.into(), tx);
    }

    /// Answers the held LIST requests for `plural`.
    pub fn release(&self, plural: &str) {
        let mut state = self.state.lock().unwrap();
        state.held.remove(plural);
        if let Some(tx) = state.releases.remove(plural) {
            tx.send_replace(true);
        }
    }

    /// Makes the next LIST of `plural` fail with 500 Internal Server Error.
    pub fn fail_next_list(&self, plural: &str) {
        self.state.lock().unwrap().failing.push(plural.into());
    }

    /// Makes the next `n` Service status patches fail with 500.
    pub fn fail_next_writes(&self, n: usize) {
        self.state.lock().unwrap().failing_writes = n;
    }

    /// The next `n` Lease replacements find the Lease written since it was
    /// read (someone annotated it), so each is answered 409 Conflict.
    pub fn write_lease_behind_next_replacements(&self, n: usize) {
        self.state.lock().unwrap().lease_writes_behind = n;
    }

    /// Every PATCH and POST seen so far.
    pub fn writes(&self) -> Vec<Write> {
        self.state.lock().unwrap().writes.clone()
    }

    /// Every PATCH and POST seen so far, but those of ConfigurationStates
    /// (which a controller writes once at start).
    pub fn writes_except_configuration_states(&self) -> Vec<Write> {
        self.writes().into_iter().filter(|w| !w.path.contains("/configurationstates")).collect()
    }

    /// The writes of ConfigurationStates (POST and status PATCH) seen so far.
    pub fn configuration_state_writes(&self) -> Vec<Write> {
        self.writes().into_iter().filter(|w| w.path.contains("/configurationstates")).collect()
    }

    /// The Service status patches seen so far (failed ones too).
    pub fn status_patches(&self) -> Vec<Write> {
        let state = self.state.lock().unwrap();
        state
            .writes
            .iter()
            .filter(|w| w.path.starts_with("/api/v1/") && w.path.ends_with("/status"))
            .cloned()
            .collect()
    }

    /// How many Service status patches were seen so far, without copying them.
    pub fn status_patch_count(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.writes.iter().filter(|w| w.path.starts_with("/api/v1/") && w.path.ends_with("/status")).count()
    }

    /// The JSON the fake keeps (objects, the event history replayed to new
    /// watches, every write's body), in serialized bytes: a lower bound of
    /// its memory, for a load test to tell it from the client's.
    pub fn footprint(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.objects.values().map(|o| o.to_string().len()).sum::<usize>()
            + state.history.iter().map(|h| h.1.len()).sum::<usize>()
            + state.writes.iter().map(|w| w.body.to_string().len()).sum::<usize>()
    }

    /// The IPAddressPool status patches seen so far.
    pub fn pool_status_patches(&self) -> Vec<Write> {
        self.writes().into_iter().filter(|w| w.path.contains("/ipaddresspools/")).collect()
    }

    /// The Events published so far, as created or patched (a repeat of an
    /// Event is a PATCH of its series).
    pub fn events(&self) -> Vec<Value> {
        self.writes()
            .into_iter()
            .filter(|w| w.path.starts_with("/apis/events.k8s.io/v1/"))
            .map(|w| w.body)
            .collect()
    }

    /// The stored object of `kind` `namespace/name`.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(&(kind.into(), namespace.into(), name.into())).cloned()
    }

    /// Every request seen so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The paths (without query) of the requests seen so far, sorted, once each.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .requests()
            .iter()
            .map(|r| r.split_once(' ').unwrap().1.split('?').next().unwrap().to_owned())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    async fn answer(&self, request: http::Request<kube::client::Body>) -> http::Response<Body> {
        if request.uri().path().starts_with(LEASES) {
            return self.lease(request).await;
        }
        if let Some(target) = speaker_written(request.uri().path()) {
            return self.speaker_write(request, target).await;
        }
        if matches!(*request.method(), http::Method::PATCH | http::Method::POST) {
            return self.write(request).await;
        }
        let uri = request.uri().clone();
        let query = uri.query().unwrap_or("");
        let held = {
            let mut state = self.state.lock().unwrap();
            state.requests.push(format!("{} {uri}", request.method()));
            let Some(collection) = Collection::parse(uri.path()) else {
                return status(404, "NotFound", "the server could not find the requested resource");
            };
            if query.split('&').any(|p| p == "watch=true") {
                let since: u64 = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("resourceVersion="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let (tx, mut rx) = mpsc::unbounded_channel();
                for (_, line, _, _) in state
                    .history
                    .iter()
                    .filter(|(rv, _, kind, ns)| *rv > since && collection.holds_key(kind, ns))
                {
                    tx.send(line.clone()).unwrap();
                }
                // Bookmarks come at any time (asked for with
                // allowWatchBookmarks); one at the start shows they are ignored.
                let resource = collection.resource;
                let bookmark = json!({"type": "BOOKMARK", "object": {
                    "kind": resource.kind,
                    "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": state.resource_version.to_string()},
                }});
                tx.send(Bytes::from(format!("{bookmark}\n"))).unwrap();
                state.watches.push((collection, tx));
                let events = futures_util::stream::poll_fn(move |cx| {
                    rx.poll_recv(cx).map(|line| line.map(|l| Ok(Frame::data(l))))
                });
                return response(200, StreamBody::new(events).boxed_unsync());
            }
            let plural = collection.resource.plural;
            if let Some(i) = state.failing.iter().position(|p| p == plural) {
                state.failing.remove(i);
                return status(500, "InternalError", "an error on the server has prevented the request");
            }
            state.held.get(plural).cloned()
        };
        if let Some(mut released) = held {
            let _ = released.wait_for(|r| *r).await;
        }
        let state = self.state.lock().unwrap();
        let collection = Collection::parse(uri.path()).expect("parsed above");
        let resource = collection.resource;
        let page = Page::of(query);
        let mut matching = state.objects.values().filter(|o| collection.holds(o)).skip(page.start);
        let items: Vec<Value> = matching
            .by_ref()
            .take(page.limit)
            .map(|o| {
                let mut item = o.clone();
                if resource.builtin() {
                    let fields = item.as_object_mut().unwrap();
                    fields.remove("apiVersion");
                    fields.remove("kind");
                }
                item
            })
            .collect();
        let mut metadata = json!({"resourceVersion": state.resource_version.to_string()});
        if matching.next().is_some() {
            metadata["continue"] = (page.start + items.len()).to_string().into();
        }
        let list = json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": items,
        });
        response(200, Full::new(Bytes::from(list.to_string())).boxed_unsync())
    }
}

/// The page a LIST asks for: `limit` items from the `continue` token on,
/// the token being (in this fake) the index of the next item. A paged
/// list is not consistent across pages here; the tests change nothing
/// while a list is under way.
struct Page {
    start: usize,
    limit: usize,
}

impl Page {
    fn of(query: &str) -> Page {
        let param = |name: &str| {
            query.split('&').find_map(|p| p.strip_prefix(name)).and_then(|v| v.parse::<usize>().ok())
        };
        // A limit of 0 is no limit, as for the API server.
        let limit = param("limit=").filter(|&l| l > 0).unwrap_or(usize::MAX);
        Page { start: param("continue=").unwrap_or(0), limit }
    }
}

impl FakeApi {
    /// Answers a PATCH or POST: an Event is recorded and echoed; a merge
    /// patch of `/api/v1/namespaces/NS/services/NAME/status` is applied to
    /// the stored Service (its `metadata` and `status` only, as the status
    /// subresource does), one of
    /// `/apis/metallb.io/v1beta1/namespaces/NS/ipaddresspools/NAME/status`
    /// to the pool's `status`, and the result sent to the watches.
    async fn write(&self, request: http::Request<kube::client::Body>) -> http::Response<Body> {
        let (parts, body) = json_request(request).await;
        let path = parts.uri.path().to_owned();
        let mut state = self.state.lock().unwrap();
        state.requests.push(format!("{} {}", parts.method, parts.uri));
        state.writes.push(Write { method: parts.method.to_string(), path: path.clone(), body: body.clone() });
        if path.starts_with("/apis/events.k8s.io/v1/namespaces/") {
            let mut event = body;
            event["metadata"]["resourceVersion"] = state.bump().into();
            let code = if parts.method == http::Method::POST { 201 } else { 200 };
            return response(code, Full::new(Bytes::from(event.to_string())).boxed_unsync());
        }
        let service = path
            .strip_prefix("/api/v1/namespaces/")
            .and_then(|rest| rest.strip_suffix("/status"))
            .and_then(|rest| rest.split_once("/services/"))
            .map(|target| ("Service", target));
        let pool = path
            .strip_prefix("/apis/metallb.io/v1beta1/namespaces/")
            .and_then(|rest| rest.strip_suffix("/status"))
            .and_then(|rest| rest.split_once("/ipaddresspools/"))
            .map(|target| ("IPAddressPool", target));
        let (Some((kind, (namespace, name))), &http::Method::PATCH) = (service.or(pool), &parts.method)
        else {
            return status(
                405,
                "MethodNotAllowed",
                "the fake takes only Service and IPAddressPool status patches and Events",
            );
        };
        if kind == "Service" && state.failing_writes > 0 {
            state.failing_writes -= 1;
            return status(500, "InternalError", "an error on the server has prevented the request");
        }
        let key = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        let Some(mut object) = state.objects.get(&key).cloned() else {
            return status(404, "NotFound", &format!("{kind} {name:?} not found"));
        };
        // The status subresource of a custom resource takes the status
        // alone; a Service's takes its metadata too.
        let fields: &[&str] = if kind == "Service" { &["metadata", "status"] } else { &["status"] };
        for &field in fields {
            if let Some(patch) = body.get(field) {
                merge(&mut object[field], patch);
            }
        }
        object["metadata"]["resourceVersion"] = state.bump().into();
        state.objects.insert(key, object.clone());
        state.broadcast("MODIFIED", &object);
        response(200, Full::new(Bytes::from(object.to_string())).boxed_unsync())
    }
}

/// A request on a speaker's status object: (kind, namespace, name or "",
/// whether on the status subresource); `None` for any other path, and for
/// a LIST or WATCH (which [`FakeApi::answer`] serves as for any kind).
fn speaker_written(path: &str) -> Option<(&'static str, String, String, bool)> {
    let rest = path.strip_prefix("/apis/metallb.io/v1beta1/namespaces/")?;
    let (namespace, rest) = rest.split_once('/')?;
    let plural = SPEAKER_WRITTEN.iter().find(|p| rest.starts_with(*p))?;
    let resource = RESOURCES.iter().find(|r| r.plural == *plural)?;
    let rest = rest[plural.len()..].trim_start_matches('/');
    let (name, status) = match rest.strip_suffix("/status") {
        Some(name) => (name, true),
        None => (rest, false),
    };
    Some((resource.kind, namespace.to_owned(), name.to_owned(), status))
}

impl FakeApi {
    /// Answers a request on a ServiceL2Status, ServiceBGPStatus or
    /// ConfigurationState: POST creates (its name, else one from
    /// `generateName`; 409 when taken; the status dropped, as with a status
    /// subresource), PATCH of `/status` merges the status, PATCH of the
    /// object its metadata, DELETE removes,
    /// GET reads one; GET of the collection lists (its label selector
    /// applied).
    async fn speaker_write(
        &self,
        request: http::Request<kube::client::Body>,
        (kind, namespace, name, on_status): (&'static str, String, String, bool),
    ) -> http::Response<Body> {
        let (parts, body) = json_request(request).await;
        let mut state = self.state.lock().unwrap();
        state.requests.push(format!("{} {}", parts.method, parts.uri));
        let ok =
            |code, object: &Value| response(code, Full::new(Bytes::from(object.to_string())).boxed_unsync());
        let stored = (kind.to_owned(), namespace.clone(), name.clone());
        match (&parts.method, name.is_empty(), on_status) {
            (&http::Method::GET, true, false) => {
                let selector =
                    parts.uri.query().unwrap_or("").split('&').find_map(|p| p.strip_prefix("labelSelector="));
                let selector = selector.map(|s| s.replace("%2F", "/").replace("%3D", "="));
                let items: Vec<Value> = state
                    .objects
                    .values()
                    .filter(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace.as_str())
                    .filter(|o| {
                        selector.as_deref().is_none_or(|s| {
                            s.split(',').all(|term| {
                                let (k, v) = term.split_once('=').unwrap_or((term, ""));
                                o["metadata"]["labels"][k] == v
                            })
                        })
                    })
                    .cloned()
                    .collect();
                let list = json!({
                    "kind": format!("{kind}List"),
                    "apiVersion": "metallb.io/v1beta1",
                    "metadata": {"resourceVersion": state.resource_version.to_string()},
                    "items": items,
                });
                ok(200, &list)
            }
            (&http::Method::GET, false, false) => match state.objects.get(&stored) {
                Some(object) => ok(200, object),
                None => status(404, "NotFound", &format!("{kind} {name:?} not found")),
            },
            (&http::Method::POST, true, false) => {
                state.writes.push(Write {
                    method: "POST".into(),
                    path: parts.uri.path().into(),
                    body: body.clone(),
                });
                let mut object = body;
                if object["metadata"]["name"].as_str().is_none_or(str::is_empty) {
                    let n = state.objects.len();
                    let prefix = object["metadata"]["generateName"].as_str().unwrap_or("").to_owned();
                    object["metadata"]["name"] = format!("{prefix}{n:05}").into();
                }
                object["metadata"]["namespace"] = namespace.into();
                if state.objects.contains_key(&key(&object)) {
                    return status(409, "AlreadyExists", &format!("{kind} already exists"));
                }
                object["metadata"]["uid"] =
                    format!("uid-{}", object["metadata"]["name"].as_str().unwrap()).into();
                object.as_object_mut().unwrap().remove("status");
                object["metadata"]["resourceVersion"] = state.bump().into();
                state.objects.insert(key(&object), object.clone());
                ok(201, &object)
            }
            (&http::Method::PATCH, false, status_subresource) => {
                state.writes.push(Write {
                    method: "PATCH".into(),
                    path: parts.uri.path().into(),
                    body: body.clone(),
                });
                let Some(mut object) = state.objects.get(&stored).cloned() else {
                    return status(404, "NotFound", &format!("{kind} {name:?} not found"));
                };
                // The status subresource changes only the status; the main
                // resource of a custom resource with one, only its metadata.
                let field = if status_subresource { "status" } else { "metadata" };
                if let Some(patch) = body.get(field) {
                    merge(&mut object[field], patch);
                }
                object["metadata"]["resourceVersion"] = state.bump().into();
                state.objects.insert(stored, object.clone());
                ok(200, &object)
            }
            (&http::Method::DELETE, false, false) => {
                state.writes.push(Write { method: "DELETE".into(), path: parts.uri.path().into(), body });
                match state.objects.remove(&stored) {
                    Some(object) => ok(200, &object),
                    None => status(404, "NotFound", &format!("{kind} {name:?} not found")),
                }
            }
            _ => status(405, "MethodNotAllowed", "the fake does not serve this request"),
        }
    }

    /// The stored objects of `kind`, by name.
    pub fn all(&self, kind: &str) -> Vec<Value> {
        self.state.lock().unwrap().objects.values().filter(|o| o["kind"] == kind).cloned().collect()
    }
}

/// Where the Leases are.
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/";

impl FakeApi {
    /// Answers a Lease request: GET one, POST (create, 409 when it exists),
    /// PUT (replace, 409 when the resourceVersion is not the stored one).
    async fn lease(&self, request: http::Request<kube::client::Body>) -> http::Response<Body> {
        let (parts, body) = json_request(request).await;
        let path = parts.uri.path().to_owned();
        let mut state = self.state.lock().unwrap();
        state.requests.push(format!("{} {}", parts.method, parts.uri));
        let Some((namespace, rest)) = path.strip_prefix(LEASES).and_then(|r| r.split_once("/leases")) else {
            return status(404, "NotFound", "the server could not find the requested resource");
        };
        let name = rest.trim_start_matches('/');
        let ok =
            |code, object: &Value| response(code, Full::new(Bytes::from(object.to_string())).boxed_unsync());
        if parts.method == http::Method::GET {
            let key = ("Lease".to_owned(), namespace.to_owned(), name.to_owned());
            return match state.objects.get(&key) {
                Some(lease) => ok(200, lease),
                None => status(404, "NotFound", &format!("leases.coordination.k8s.io \"{name}\" not found")),
            };
        }
        state.writes.push(Write { method: parts.method.to_string(), path: path.clone(), body: body.clone() });
        let mut lease = body;
        lease["apiVersion"] = "coordination.k8s.io/v1".into();
        lease["kind"] = "Lease".into();
        let key = key(&lease);
        if parts.method == http::Method::PUT && state.lease_writes_behind > 0 {
            state.lease_writes_behind -= 1;
            let version = state.bump();
            if let Some(stored) = state.objects.get_mut(&key) {
                stored["metadata"]["annotations"] = serde_json::json!({"written-behind": version.clone()});
                stored["metadata"]["resourceVersion"] = version.into();
            }
        }
        let stored = state.objects.get(&key).map(|l| l["metadata"]["resourceVersion"].clone());
        match (&parts.method, stored) {
            (&http::Method::POST, Some(_)) => {
                return status(409, "AlreadyExists", "leases.coordination.k8s.io already exists");
            }
            (&http::Method::PUT, None) => return status(404, "NotFound", "lease not found"),
            (&http::Method::PUT, Some(rv)) if rv != lease["metadata"]["resourceVersion"] => {
                return status(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version and try again",
                );
            }
            _ => {}
        }
        lease["metadata"]["resourceVersion"] = state.bump().into();
        state.objects.insert(key, lease.clone());
        ok(if parts.method == http::Method::POST { 201 } else { 200 }, &lease)
    }
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes,
/// anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn response(code: u16, body: Body) -> http::Response<Body> {
    http::Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

/// A `metav1.Status` failure, as the API server answers errors.
fn status(code: u16, reason: &str, message: &str) -> http::Response<Body> {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    response(code, Full::new(Bytes::from(body.to_string())).boxed_unsync())
}

/// The objects of a small cluster, in the JSON the API server sends.
pub mod objects {
    use serde_json::{Value, json};

    /// A Service of type LoadBalancer.
    pub fn service(namespace: &str, name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
                "annotations": {"metallb.io/address-pool": "a"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1"}]},
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 31080}],
                "selector": {"app": name},
                "externalTrafficPolicy": "Cluster",
                "sessionAffinity": "None"
            },
            "status": {"loadBalancer": {}}
        })
    }

    /// The EndpointSlice of `service`, with one endpoint on node1.
    pub fn endpoint_slice(namespace: &str, service: &str) -> Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": format!("{service}-x7k2p"), "namespace": namespace,
                "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.5"], "nodeName": "node1",
                "conditions": {"ready": true, "serving": true, "terminating": false}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        })
    }

    /// A Node with an InternalIP.
    pub fn node(name: &str, address: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "rack": "r1"},
                "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}]},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name}]}
        })
    }

    /// A Namespace.
    pub fn namespace(name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}
        })
    }

    /// A basic-auth Secret holding a BGP password.
    pub fn secret(namespace: &str, name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "c2VjcmV0"}
        })
    }

    /// An IPAddressPool.
    pub fn pool(namespace: &str, name: &str, addresses: &[&str]) -> Value {
        json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"addresses": addresses, "autoAssign": true},
            "status": {"assignedIPv4": 0, "assignedIPv6": 0, "availableIPv4": 16, "availableIPv6": 0}
        })
    }

    /// An L2Advertisement of every pool.
    pub fn l2_advertisement(namespace: &str, name: &str) -> Value {
        json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ipAddressPools": ["a"]}
        })
    }

    /// A BGPPeer (v1beta2) with a password Secret.
    pub fn bgp_peer(namespace: &str, name: &str) -> Value {
        json!({
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1",
                "passwordSecret": {"name": "peer-password", "namespace": namespace}}
        })
    }
}

/// A request's parts and its JSON body (`null` when it has none or it is not JSON).
async fn json_request(request: http::Request<kube::client::Body>) -> (http::request::Parts, Value) {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    (parts, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
