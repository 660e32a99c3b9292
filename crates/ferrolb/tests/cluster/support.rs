//! What the tests share: the control plane, ferrolb's components as host
//! processes with the ServiceAccounts of `deploy/`, and objects made with kubectl.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrolb_lab::HostProcess;
use ferrolb_lab::k8s::audit::{AuditEvent, service_account_user};
use ferrolb_lab::k8s::{ControlPlane, GoTools};
use serde_json::Value;

/// ferrolb's namespace, as in `deploy/`.
pub const NAMESPACE: &str = "metallb-system";

/// The workspace's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The control plane of the run and what the tests made on it.
pub struct Cluster {
    plane: Mutex<ControlPlane>,
    /// The Go-built programs (MetalLB's among them).
    #[allow(dead_code)]
    pub tools: GoTools,
    deployed: OnceLock<String>,
    names: AtomicU32,
}

impl Cluster {
    /// The tests' view of `plane`.
    pub fn new(plane: ControlPlane, tools: GoTools) -> Cluster {
        Cluster { plane: Mutex::new(plane), tools, deployed: OnceLock::new(), names: AtomicU32::new(0) }
    }

    /// The control plane (a test that panicked while holding it leaves it usable).
    pub fn plane(&self) -> MutexGuard<'_, ControlPlane> {
        self.plane.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `kubectl ARGS` as the admin; panics with kubectl's error.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.plane().kubectl(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `kubectl ARGS -o json`, parsed.
    pub fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&args)).expect("kubectl prints JSON")
    }

    /// `kubectl apply -f` of `yaml`: what kubectl printed, or its error.
    pub fn try_apply(&self, yaml: &str) -> Result<String, String> {
        self.plane().apply(yaml).map_err(|e| e.to_string())
    }

    /// `kubectl create -f` of `yaml` (one request per object, no read first).
    pub fn create(&self, yaml: &str) -> String {
        let plane = self.plane();
        let file = plane.write_manifest(yaml).expect("manifest written");
        plane.kubectl(&["create", "-f", &file.to_string_lossy()]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `deploy/ferrolb.yaml` applied (once in the run) and its CRDs
    /// Established; what kubectl printed.
    pub fn deploy(&self) -> &str {
        self.deployed.get_or_init(|| {
            let path = deploy_dir().join("ferrolb.yaml");
            let printed = self.kubectl(&["apply", "-f", &path.to_string_lossy()]);
            self.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
            printed
        })
    }

    /// A new namespace named `prefix-N` (ferrolb deployed first: every
    /// test needs it).
    pub fn namespace(&self, prefix: &str) -> String {
        self.deploy();
        let name = format!("{prefix}-{}", self.names.fetch_add(1, Ordering::Relaxed));
        self.kubectl(&["create", "namespace", &name]);
        name
    }

    /// A kubeconfig with a new token of ServiceAccount `name` in ferrolb's
    /// namespace (one per process, so the audit log tells processes apart).
    pub fn service_account(&self, name: &str) -> PathBuf {
        self.deploy();
        self.plane().service_account_kubeconfig(NAMESPACE, name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every request answered so far.
    pub fn audit(&self) -> Vec<AuditEvent> {
        self.plane().audit().unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ferrolb controller` as ServiceAccount `ferrolb-controller`, with `args`,
    /// named `name` (its Lease identity); its credential id in the audit log
    /// is the component's.
    pub fn controller(&self, name: &str, args: &[&str]) -> Component {
        self.controller_with(&self.service_account("ferrolb-controller"), name, args)
    }

    /// [`Cluster::controller`] with `kubeconfig` (one of the ServiceAccount's,
    /// perhaps pointed elsewhere).
    pub fn controller_with(&self, kubeconfig: &Path, name: &str, args: &[&str]) -> Component {
        let credential = credential_of(kubeconfig);
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrolb"));
        c.arg("controller").args(args).env("KUBECONFIG", kubeconfig).env("POD_NAME", name);
        c.env("RUST_LOG", "info,ferrolb_k8s=debug");
        let log = self.plane().dir().join(format!("{name}.log"));
        let process = HostProcess::spawn(name, c, &log).unwrap_or_else(|e| panic!("{e}"));
        Component { process, credential }
    }
}

/// The credential id the audit log gives requests made with `kubeconfig`'s
/// token: `JTI=` and the token's `jti` claim.
pub fn credential_of(kubeconfig: &Path) -> String {
    let config: Value = serde_json::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    let token = config["users"][0]["user"]["token"].as_str().expect("a token kubeconfig");
    let claims = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON claims");
    format!("JTI={}", claims["jti"].as_str().expect("a jti claim"))
}

/// A ferrolb program running against the cluster; stopped when dropped.
pub struct Component {
    /// The process.
    pub process: HostProcess,
    /// Its token's credential id, as the audit log shows it.
    pub credential: String,
}

impl Component {
    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.process.log()).unwrap_or_default()
    }

    /// Waits until its log holds a line with every one of `words`; panics
    /// with the log after `timeout`, or at once if it exited.
    pub fn wait_for_log(&mut self, words: &[&str], timeout: Duration) {
        let log = self.process.log().to_owned();
        self.wait_for(&format!("a log line with {words:?}"), timeout, || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .any(|l| words.iter().all(|w| l.contains(w)))
        });
    }

    /// Polls `check` every 100 ms until it holds, as [`wait_for`]; panics
    /// with the end of this component's log after `timeout`, or at once if
    /// it exited.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !check() {
            if let Err(e) = self.process.ensure_running() {
                panic!("{e}");
            }
            if Instant::now() >= deadline {
                let log = self.log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last lines of {}:\n{tail}",
                    self.process.log().display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many of its log lines hold every one of `words`.
    pub fn count_log(&self, words: &[&str]) -> usize {
        self.log().lines().filter(|l| words.iter().all(|w| l.contains(w))).count()
    }
}

/// The documents of a YAML file, as JSON.
pub fn documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    crate::documents::parse_documents(&text)
}

/// Polls `check` every 100 ms until it holds; panics after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `count` LoadBalancer Services `NAME-0000`... in `namespace`, as one YAML stream;
/// `extra` is added to each spec (e.g. `ipFamilies: [IPv6]`).
pub fn services(namespace: &str, name: &str, count: usize, extra: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}-{i:04}\n  namespace: {namespace}\n\
                 spec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n    protocol: TCP\n{extra}---\n"
            )
        })
        .collect()
}

/// Per Service of `namespace` (by name), the addresses in its status.
pub fn ingress(cluster: &Cluster, namespace: &str) -> HashMap<String, Vec<String>> {
    let list = cluster.kubectl_json(&["get", "services", "-n", namespace]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let ips = s["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["ip"].as_str().map(str::to_owned))
                .collect();
            (s["metadata"]["name"].as_str().unwrap_or_default().to_owned(), ips)
        })
        .collect()
}

/// Status writes to Services of `namespace` by ServiceAccount `account` that the
/// API server accepted, per Service name.
pub fn status_writes(events: &[AuditEvent], account: &str, namespace: &str) -> HashMap<String, usize> {
    let user = service_account_user(NAMESPACE, account);
    let mut writes = HashMap::new();
    for event in events {
        let Some(object) = &event.object_ref else { continue };
        if event.user.username == user
            && event.is_write()
            && event.is_about("services/status")
            && object.namespace == namespace
            && (200..300).contains(&event.code())
        {
            *writes.entry(object.name.clone()).or_insert(0) += 1;
        }
    }
    writes
}

/// Deletes what a test made when it ends, also when it fails: each entry is
/// the arguments of one `kubectl delete`.
pub struct Cleanup<'a> {
    cluster: &'a Cluster,
    deletes: Vec<Vec<String>>,
}

impl<'a> Cleanup<'a> {
    /// Nothing to delete yet.
    pub fn new(cluster: &'a Cluster) -> Cleanup<'a> {
        Cleanup { cluster, deletes: Vec::new() }
    }

    /// `kubectl delete ARGS` when the test ends.
    pub fn delete(&mut self, args: &[&str]) {
        self.deletes.push(args.iter().map(|a| (*a).to_owned()).collect());
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for args in self.deletes.iter().rev() {
            let mut all = vec!["delete", "--ignore-not-found", "--wait=false"];
            all.extend(args.iter().map(String::as_str));
            if let Err(e) = self.cluster.plane().kubectl(&all) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// What `scripts/go-tools paths` prints for `name` (`FERROLB_HELM_BIN`, ...),
/// the environment variable of that name first.
pub fn go_tools_path(name: &str) -> Option<PathBuf> {
    if let Some(value) = std::env::var_os(name).filter(|v| !v.is_empty()) {
        return Some(value.into());
    }
    let out = Command::new("bash").arg(ferrolb_lab::k8s::GO_TOOLS).arg("paths").output().ok()?;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    printed
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Helm, built by `scripts/go-tools helm` (its directory: `FERROLB_HELM_BIN`).
/// When it is not built, `None` after a `SKIPPED` line naming `test`; where
/// the tests must run (`CI` or `FERROLB_GO_TOOLS_REQUIRED` set) a panic instead.
pub fn helm(test: &str) -> Option<PathBuf> {
    let helm = go_tools_path("FERROLB_HELM_BIN").map(|dir| dir.join("helm")).filter(|h| h.is_file());
    if helm.is_none() {
        let reason = "helm is not built (run scripts/go-tools helm)";
        if std::env::var_os("CI").is_some() || std::env::var_os("FERROLB_GO_TOOLS_REQUIRED").is_some() {
            panic!("{test}: {reason}");
        }
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    }
    helm
}
