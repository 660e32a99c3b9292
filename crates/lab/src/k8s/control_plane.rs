//! A real control plane on loopback, as controller-runtime's envtest starts
//! one: etcd and kube-apiserver as processes of the test, with a CA of their
//! own, Node and RBAC authorization, service-account tokens and an audit
//! log. No scheduler, no kubelet, no controller-manager: what those would
//! make (ServiceAccounts' `default`, EndpointSlices, Pods) a test makes by hand.
//!
//! ```text
//!   ControlPlane::start
//!     ├─ Pki::create ──► ca.crt, apiserver.{crt,key}, admin.{crt,key}, service-account.key
//!     ├─ etcd            http://127.0.0.1:C (no fsync: a test's data)
//!     ├─ kube-apiserver  https://127.0.0.1:S ──► audit.log (JSON lines)
//!     └─ admin.kubeconfig; later one kubeconfig per ServiceAccount token
//!   drop: SIGTERM both (SIGKILL after 3 s), remove the directory
//! ```

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use super::audit::{self, AuditEvent};
use super::kubeconfig::{self, Credentials};
use super::pki::Pki;
use super::tools::GoTools;
use crate::cmd;
use crate::daemon::ScratchDir;
use crate::error::{Error, Result};
use crate::host_process::HostProcess;
use crate::netns::STOP_GRACE;
use crate::wait::wait_until;

/// How long a cold kube-apiserver may take to be ready (its post-start
/// hooks create the bootstrap RBAC and priority objects; seconds on 2 cores).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The issuer (and audience) of service-account tokens, as a real cluster's.
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The ClusterIP ranges. ClusterIPs are never routed here (no kube-proxy,
/// nothing sends to them), so they need not be documentation addresses;
/// they must hold 10,000 Services, which no IPv4 documentation range does.
const SERVICE_RANGES: &str = "10.96.0.0/16,2001:db8:ffff::/108";

/// etcd and kube-apiserver for one test run; everything stops and is removed when dropped.
#[derive(Debug)]
pub struct ControlPlane {
    tools: GoTools,
    apiserver: Option<HostProcess>,
    etcd: HostProcess,
    etcd_port: u16,
    port: u16,
    pki: Pki,
    admin: PathBuf,
    /// When kube-apiserver was started, and when it was ready, each time:
    /// between the two it may refuse requests while its caches fill.
    starts: Vec<(Timestamp, Timestamp)>,
    /// Numbers the files written for kubectl (manifests, kubeconfigs).
    files: AtomicU32,
    dir: ScratchDir,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver on free loopback ports, and waits until the API server is ready.
    pub fn start(tools: &GoTools) -> Result<ControlPlane> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = ScratchDir::at(std::env::temp_dir().join(format!("flb-k8s-{}-{n}", std::process::id())))?;
        let pki = Pki::create(dir.path())?;
        let (etcd_port, peer_port, port) = (free_port()?, free_port()?, free_port()?);
        let etcd = start_etcd(tools, dir.path(), etcd_port, peer_port)?;
        let admin = kubeconfig::write(
            &dir.path().join("admin.kubeconfig"),
            &format!("https://127.0.0.1:{port}"),
            &pki.ca,
            "admin",
            &Credentials::ClientCertificate { cert: pki.admin_cert.clone(), key: pki.admin_key.clone() },
        )?;
        dir.write("audit-policy.json", audit::POLICY)?;
        let mut plane = ControlPlane {
            tools: tools.clone(),
            apiserver: None,
            etcd,
            etcd_port,
            port,
            pki,
            admin,
            starts: Vec::new(),
            files: AtomicU32::new(0),
            dir,
        };
        plane.start_apiserver()?;
        Ok(plane)
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The API server's loopback port (what [`super::ApiRelay`] relays).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of its files (certificates, kubeconfigs, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate clients trust.
    pub fn ca(&self) -> &Path {
        &self.pki.ca
    }

    /// A kubeconfig of the cluster admin (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin
    }

    /// The audit log.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    /// Every request answered so far, in order.
    pub fn audit(&self) -> Result<Vec<AuditEvent>> {
        audit::read(&self.audit_log())
    }

    /// The API server's log.
    pub fn apiserver_log(&self) -> PathBuf {
        self.dir.path().join("kube-apiserver.log")
    }

    /// `kubectl` as the admin, ready for its arguments.
    pub fn kubectl_command(&self) -> Command {
        self.kubectl_as(&self.admin)
    }

    /// `kubectl` with `kubeconfig`, ready for its arguments.
    pub fn kubectl_as(&self, kubeconfig: &Path) -> Command {
        let mut c = Command::new(self.tools.k8s("kubectl"));
        c.arg("--kubeconfig").arg(kubeconfig);
        c
    }

    /// Runs `kubectl ARGS` as the admin; its standard output, or an error with its standard error.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.kubectl_within(args, Duration::from_secs(60))
    }

    /// [`ControlPlane::kubectl`] given `timeout` (creating thousands of objects takes minutes).
    pub fn kubectl_within(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let mut c = self.kubectl_command();
        c.args(args);
        cmd::run(&mut c, timeout)
    }

    /// `kubectl apply -f` of `yaml` as the admin; what kubectl printed, or
    /// its error (the API server's refusal names the object and the field).
    pub fn apply(&self, yaml: &str) -> Result<String> {
        let file = self.write_manifest(yaml)?;
        self.kubectl(&["apply", "-f", &file.to_string_lossy()])
    }

    /// Writes `yaml` to a new file of the control plane's directory, to hand to kubectl.
    pub fn write_manifest(&self, yaml: &str) -> Result<PathBuf> {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        self.dir.write(&format!("manifest-{n}.yaml"), yaml)
    }

    /// A kubeconfig that authenticates as ServiceAccount `namespace/name`
    /// with a new token from the TokenRequest API (the account must exist):
    /// each has its own credential id in the audit log.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let token = self.kubectl(&["create", "token", name, "-n", namespace, "--duration", "24h"])?;
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        kubeconfig::write(
            &self.dir.path().join(format!("{namespace}.{name}.{n}.kubeconfig")),
            &self.server(),
            &self.pki.ca,
            name,
            &Credentials::Token(token.trim().to_owned()),
        )
    }

    /// Kills kube-apiserver at once (its clients see connections reset).
    pub fn kill_apiserver(&mut self) {
        if let Some(mut apiserver) = self.apiserver.take() {
            apiserver.kill();
        }
    }

    /// Starts kube-apiserver (again) on the same port, over the same etcd, and waits until it is ready.
    pub fn start_apiserver(&mut self) -> Result<()> {
        self.kill_apiserver();
        let started = Timestamp::now();
        let mut c = Command::new(self.tools.k8s("kube-apiserver"));
        c.args(apiserver_args(self.dir.path(), &self.pki, self.etcd_port, self.port));
        let mut apiserver = HostProcess::spawn("kube-apiserver", c, &self.apiserver_log())?;
        wait_until("kube-apiserver to be ready", READY_TIMEOUT, || {
            self.etcd.ensure_running()?;
            apiserver.ensure_running()?;
            Ok(self.kubectl(&["get", "--raw", "/readyz"]).is_ok_and(|out| out.trim() == "ok"))
        })?;
        self.apiserver = Some(apiserver);
        self.starts.push((started, Timestamp::now()));
        Ok(())
    }

    /// Whether kube-apiserver was starting at `at` (started, not yet ready):
    /// a real API server serves before its authorizer's caches are filled,
    /// and refuses what RBAC would allow a moment later.
    pub fn was_starting(&self, at: Timestamp) -> bool {
        self.starts.iter().any(|(started, ready)| *started <= at && at <= *ready)
    }

    /// Compacts etcd up to its current revision, as the API server does
    /// every five minutes: a watch that resumes from an older
    /// resourceVersion is then answered 410 Gone. Returns the revision.
    pub fn compact(&self) -> Result<u64> {
        let base = format!("http://127.0.0.1:{}/v3/kv", self.etcd_port);
        // Any range read reports the store's revision in its header.
        let read = self.etcd_call(&format!("{base}/range"), r#"{"key":"AA==","limit":1}"#)?;
        let revision =
            read["header"]["revision"].as_str().and_then(|r| r.parse::<u64>().ok()).ok_or_else(|| {
                Error::Parse {
                    command: format!("POST {base}/range"),
                    reason: format!("no revision in {read}"),
                }
            })?;
        self.etcd_call(
            &format!("{base}/compaction"),
            &format!(r#"{{"revision":"{revision}","physical":true}}"#),
        )?;
        Ok(revision)
    }

    /// POSTs `body` to etcd's JSON gateway.
    fn etcd_call(&self, url: &str, body: &str) -> Result<serde_json::Value> {
        let mut c = Command::new("curl");
        c.args(["--silent", "--show-error", "--fail", "-X", "POST", url, "-d", body]);
        let out = cmd::run(&mut c, cmd::DEFAULT_TIMEOUT)?;
        serde_json::from_str(&out)
            .map_err(|e| Error::Parse { command: cmd::describe(&c), reason: e.to_string() })
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // The API server first: it would only log etcd's absence.
        if let Some(mut apiserver) = self.apiserver.take() {
            apiserver.stop(STOP_GRACE);
        }
        self.etcd.stop(STOP_GRACE);
    }
}

fn start_etcd(tools: &GoTools, dir: &Path, port: u16, peer_port: u16) -> Result<HostProcess> {
    let client = format!("http://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let mut c = Command::new(tools.k8s("etcd"));
    c.arg("--name=lab")
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls={client}"))
        .arg(format!("--advertise-client-urls={client}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=lab={peer}"))
        // A test's data need not survive a power cut; fsync would make every write wait for the disk.
        .arg("--unsafe-no-fsync")
        .arg("--log-level=warn");
    let mut etcd = HostProcess::spawn("etcd", c, &dir.join("etcd.log"))?;
    wait_until("etcd to accept connections", Duration::from_secs(30), || {
        etcd.ensure_running()?;
        Ok(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok())
    })?;
    Ok(etcd)
}

/// The command line of kube-apiserver: loopback only, the lab's own CA,
/// Node and RBAC authorization (as a production cluster), every request audited.
fn apiserver_args(dir: &Path, pki: &Pki, etcd_port: u16, port: u16) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--cert-dir={}", path(&dir.join("certs"))),
        format!("--tls-cert-file={}", path(&pki.serving_cert)),
        format!("--tls-private-key-file={}", path(&pki.serving_key)),
        format!("--client-ca-file={}", path(&pki.ca)),
        format!("--service-account-issuer={ISSUER}"),
        format!("--service-account-key-file={}", path(&pki.service_account_public_key)),
        format!("--service-account-signing-key-file={}", path(&pki.service_account_key)),
        "--authorization-mode=Node,RBAC".into(),
        format!("--audit-policy-file={}", path(&dir.join("audit-policy.json"))),
        format!("--audit-log-path={}", path(&dir.join("audit.log"))),
        // Every event written before the request is answered, so a test reads its own.
        "--audit-log-mode=blocking".into(),
        // One file for the whole run, never rotated: 0 (the default) means
        // 100 MB to the rotating logger, which a bench of 10,000 Services
        // passes, and a reader of audit.log then misses what went before.
        "--audit-log-maxsize=1048576".into(),
        format!("--service-cluster-ip-range={SERVICE_RANGES}"),
        // The speaker's DaemonSet asks for host networking and privileges.
        "--allow-privileged=true".into(),
        // No kubelet serves the `kubernetes` Service's endpoints.
        "--endpoint-reconciler-type=none".into(),
        // One client at a time per test: fairness queues only cost CPU here.
        "--enable-priority-and-fairness=false".into(),
    ]
}

/// A loopback port free now (the kernel's choice).
pub(super) fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| Error::io("bind", "127.0.0.1:0", e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::io("read address of", "127.0.0.1:0", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_server_is_audited_and_authorizes_as_a_real_cluster() {
        let dir = Path::new("/d");
        let pki = Pki {
            ca: dir.join("ca.crt"),
            serving_cert: dir.join("s.crt"),
            serving_key: dir.join("s.key"),
            admin_cert: dir.join("a.crt"),
            admin_key: dir.join("a.key"),
            service_account_key: dir.join("sa.key"),
            service_account_public_key: dir.join("sa.pub"),
        };
        let args = apiserver_args(dir, &pki, 2379, 6443);
        for expected in [
            "--authorization-mode=Node,RBAC",
            "--bind-address=127.0.0.1",
            "--secure-port=6443",
            "--etcd-servers=http://127.0.0.1:2379",
            "--audit-log-path=/d/audit.log",
            "--audit-log-maxsize=1048576",
            "--service-account-signing-key-file=/d/sa.key",
            "--service-account-key-file=/d/sa.pub",
            "--client-ca-file=/d/ca.crt",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} missing from {args:?}");
        }
    }
}
