//! MetalLB's own controller (built by `scripts/go-tools metallb`) as a
//! process of the test, on the same control plane as ferrolb's, so that the
//! two are compared in one run.
//!
//! What it takes outside a cluster (MetalLB v0.16.1, kube-apiserver 1.37):
//! - `--pod-name` must name a Pod of `--namespace` that exists: the
//!   controller reads it at startup to own its ConfigurationState, and exits
//!   when it is missing (`internal/k8s/k8s.go` `New`). No kubelet runs
//!   here, so a placeholder Pod stands for it; the Pod's ServiceAccount must
//!   exist first, since no controller-manager creates `default` and the
//!   API server refuses a Pod whose account is missing (even with
//!   `automountServiceAccountToken: false`).
//! - `--webhook-mode=disabled`: no webhook server, hence no certificates.
//! - Its metrics (`--port`, HTTPS, default 9120) and health probes
//!   (`--health-probe-port`, default 17472) on free ports: MetalLB's speaker
//!   has the same defaults, and both bind every address.
//! - `KUBECONFIG` is read by controller-runtime; the admin's is used, since
//!   what is compared is MetalLB's allocation, not its RBAC.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::control_plane::{ControlPlane, free_port};
use super::tools::GoTools;
use crate::cmd;
use crate::error::Result;
use crate::host_process::HostProcess;
use crate::netns::Netns;
use crate::wait::wait_until;

/// MetalLB's controller, running; stopped, and its Pod and ServiceAccount
/// deleted, when dropped.
#[derive(Debug)]
pub struct MetalLbController {
    process: HostProcess,
    stand_ins: StandIns,
}

impl MetalLbController {
    /// Starts MetalLB's controller as `name` (its placeholder Pod and that
    /// Pod's ServiceAccount, both created in `namespace`, where it reads the
    /// `metallb.io` objects), with `args` added to its command line (such as
    /// `--lb-class=...`). Its log is `name.log` in the control plane's directory.
    pub fn start(
        plane: &ControlPlane,
        tools: &GoTools,
        namespace: &str,
        name: &str,
        args: &[&str],
    ) -> Result<MetalLbController> {
        plane.apply(&placeholder(namespace, name, &tools.metallb_run_version))?;
        let mut c = Command::new(tools.metallb("controller"));
        c.arg(format!("--namespace={namespace}"))
            .arg(format!("--pod-name={name}"))
            .arg("--webhook-mode=disabled")
            .arg(format!("--port={}", free_port()?))
            .arg(format!("--health-probe-port={}", free_port()?))
            .args(args)
            .env("KUBECONFIG", plane.admin_kubeconfig());
        let process = HostProcess::spawn(name, c, &plane.dir().join(format!("{name}.log")))?;
        let objects = [format!("pod/{name}"), format!("serviceaccount/{name}")];
        Ok(MetalLbController { process, stand_ins: StandIns::new(plane, tools, namespace, &objects) })
    }

    /// Waits until it has gone once through every Service after reading
    /// the configuration: before that, it drops the changes it is told of
    /// (`ServiceReconciler.initialLoadPerformed`), and the first pass
    /// handles the Services that already hold addresses first.
    pub fn wait_synced(&mut self, timeout: Duration) -> Result<()> {
        let log = self.process.log().to_owned();
        wait_until("MetalLB's controller to go through the Services once", timeout, || {
            self.process.ensure_running()?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(text
                .lines()
                .any(|l| l.contains("ServiceReconciler - reprocessAll") && l.contains("end reconcile")))
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Fails (with its log's tail) if it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        self.process.ensure_running()
    }

    /// Stops it (SIGTERM, then SIGKILL after `grace`), as a deleted Deployment's Pod is.
    pub fn stop(&mut self, grace: Duration) {
        self.process.stop(grace);
    }
}

impl Drop for MetalLbController {
    fn drop(&mut self) {
        self.process.stop(crate::netns::STOP_GRACE);
        self.stand_ins.delete();
    }
}

/// The objects that stand for what a cluster would give a MetalLB process
/// (its Pod, its ServiceAccount), deleted with kubectl as the admin once
/// it has stopped: no garbage collector runs here.
#[derive(Debug)]
struct StandIns {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    namespace: String,
    /// `kind/name` each.
    objects: Vec<String>,
}

impl StandIns {
    fn new(plane: &ControlPlane, tools: &GoTools, namespace: &str, objects: &[String]) -> StandIns {
        StandIns {
            kubectl: tools.k8s("kubectl"),
            kubeconfig: plane.admin_kubeconfig().to_owned(),
            namespace: namespace.to_owned(),
            objects: objects.to_vec(),
        }
    }

    fn delete(&self) {
        let mut c = Command::new(&self.kubectl);
        c.arg("--kubeconfig").arg(&self.kubeconfig);
        c.args(["delete", "--ignore-not-found", "--wait=false", "-n", &self.namespace]).args(&self.objects);
        if let Err(e) = cmd::run(&mut c, cmd::DEFAULT_TIMEOUT) {
            eprintln!("MetalLB's {}: {e}", self.objects.join(", "));
        }
    }
}

/// What a [`MetalLbSpeaker`] is started as.
#[derive(Clone, Debug)]
pub struct MetalLbSpeakerSpec<'a> {
    /// Where its Pod is and where it reads the `metallb.io` objects.
    pub namespace: &'a str,
    /// Its Pod's name.
    pub pod: &'a str,
    /// Its Node's name (the Node must exist).
    pub node: &'a str,
    /// Its node's address: its Pod's (the speaker runs on the host's
    /// network), which memberlist binds and the other speakers join.
    pub ip: IpAddr,
    /// The speakers that form one memberlist: each finds the others by
    /// the Pods labelled `ferrolb.io/memberlist=GROUP`.
    pub group: &'a str,
    /// Added to its command line (such as `--lb-class=...`).
    pub args: &'a [&'a str],
}

/// MetalLB's speaker (native BGP, memberlist on, as MetalLB's manifests
/// run it) as the process of a node namespace of the lab, reaching the API
/// server through an [`super::ApiRelay`] of that namespace. Stopped, and
/// its Pod deleted, when dropped.
///
/// What it takes outside a cluster, beyond the controller's needs:
/// - `METALLB_BGP_TYPE=native` (without it, v0.16 wants frr-k8s).
/// - Its memberlist finds the other speakers by listing the Pods that
///   carry `--ml-labels` and joining their `status.podIP` (once at start,
///   then every minute): the stand-in Pods get that address, as a kubelet
///   would write it, before any speaker starts ([`MetalLbSpeaker::prepare`]).
/// - Without memberlist it would take every Node for alive: a dead node
///   would keep its VIPs until its Node went NotReady.
#[derive(Debug)]
pub struct MetalLbSpeaker<'n> {
    netns: &'n Netns,
    pid: u32,
    log: PathBuf,
    stand_ins: StandIns,
}

impl<'n> MetalLbSpeaker<'n> {
    /// Creates the speaker's ServiceAccount and stand-in Pod, with the
    /// address a kubelet would give it: do it for every speaker of a
    /// group before starting any.
    pub fn prepare(plane: &ControlPlane, tools: &GoTools, spec: &MetalLbSpeakerSpec<'_>) -> Result<()> {
        plane.apply(&speaker_pod(spec, &tools.metallb_run_version))?;
        let status = json!({"status": {
            "phase": "Running",
            "hostIP": spec.ip.to_string(),
            "podIP": spec.ip.to_string(),
            "podIPs": [{"ip": spec.ip.to_string()}],
        }})
        .to_string();
        plane.kubectl(&[
            "patch",
            "pod",
            spec.pod,
            "-n",
            spec.namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])?;
        Ok(())
    }

    /// Starts it in `netns` (its Pod [prepared](MetalLbSpeaker::prepare));
    /// its log is `speaker-POD.log` in the namespace's directory.
    pub fn start(
        plane: &ControlPlane,
        tools: &GoTools,
        netns: &'n Netns,
        spec: &MetalLbSpeakerSpec<'_>,
    ) -> Result<MetalLbSpeaker<'n>> {
        let secret = netns.dir().join(format!("memberlist-{}", spec.group));
        std::fs::create_dir_all(&secret).map_err(|e| crate::Error::io("create", secret.clone(), e))?;
        let key = secret.join("secretkey");
        std::fs::write(&key, format!("ferrolb-lab-{}", spec.group))
            .map_err(|e| crate::Error::io("write", key.clone(), e))?;
        let mut c = netns.command(&tools.metallb("speaker").to_string_lossy());
        c.arg(format!("--namespace={}", spec.namespace))
            .arg(format!("--node-name={}", spec.node))
            .arg(format!("--pod-name={}", spec.pod))
            .arg(format!("--ml-bindaddr={}", spec.ip))
            .arg(format!("--ml-labels={GROUP_LABEL}={}", spec.group))
            .arg(format!("--ml-secret-key-path={}", secret.display()))
            .arg(format!("--port={}", free_port()?))
            .arg(format!("--health-probe-port={}", free_port()?))
            .args(spec.args)
            .env("METALLB_BGP_TYPE", "native")
            .env("KUBECONFIG", plane.admin_kubeconfig());
        let log = netns.dir().join(format!("speaker-{}.log", spec.pod));
        let pid = netns.spawn(c, &log)?;
        let stand_ins = StandIns::new(plane, tools, spec.namespace, &[format!("pod/{}", spec.pod)]);
        Ok(MetalLbSpeaker { netns, pid, log, stand_ins })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its log.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    /// Its exit status, if it has exited.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.netns.exit_status(self.pid)
    }

    /// SIGKILLs it: a node that dies says nothing.
    pub fn kill(&self) {
        self.netns.kill(self.pid);
    }
}

impl Drop for MetalLbSpeaker<'_> {
    fn drop(&mut self) {
        self.netns.stop(self.pid, crate::netns::STOP_GRACE);
        self.stand_ins.delete();
    }
}

/// The label that groups the Pods of the speakers of one memberlist.
const GROUP_LABEL: &str = "ferrolb.io/memberlist";

/// The ServiceAccount (shared by the speakers) and the Pod that stand for a speaker's own.
fn speaker_pod(spec: &MetalLbSpeakerSpec<'_>, version: &str) -> String {
    let account = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "metallb-speaker", "namespace": spec.namespace},
    });
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.pod,
            "namespace": spec.namespace,
            "labels": {"app": "metallb", "component": "speaker", GROUP_LABEL: spec.group},
        },
        "spec": {
            "nodeName": spec.node,
            "hostNetwork": true,
            "serviceAccountName": "metallb-speaker",
            "containers": [{"name": "speaker", "image": format!("quay.io/metallb/speaker:{version}")}],
        },
    });
    format!("{account}\n---\n{pod}\n")
}

/// The ServiceAccount and the Pod that stand for the controller's own.
fn placeholder(namespace: &str, name: &str, version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: {namespace}}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}, labels: {{app: metallb, component: controller}}}}\n\
         spec:\n  serviceAccountName: {name}\n  containers: [{{name: controller, image: \"quay.io/metallb/controller:{version}\"}}]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_speaker_pod_is_on_its_node_in_its_group_after_its_account() {
        let spec = MetalLbSpeakerSpec {
            namespace: "metallb-system",
            pod: "speaker-a",
            node: "node1",
            ip: "198.51.100.11".parse().unwrap(),
            group: "bench-1",
            args: &[],
        };
        let yaml = speaker_pod(&spec, "v0.16.1");
        let (account, pod) = yaml.split_once("\n---\n").unwrap();
        let account: serde_json::Value = serde_json::from_str(account).unwrap();
        let pod: serde_json::Value = serde_json::from_str(pod.trim()).unwrap();
        assert_eq!(account["kind"], "ServiceAccount");
        assert_eq!(pod["spec"]["serviceAccountName"], account["metadata"]["name"]);
        assert_eq!(pod["spec"]["nodeName"], "node1");
        assert_eq!(pod["metadata"]["labels"][GROUP_LABEL], "bench-1");
    }

    #[test]
    fn the_pod_runs_as_its_own_service_account_made_before_it() {
        let yaml = placeholder("metallb-system", "metallb-a", "v0.16.1");
        let account = yaml.find("kind: ServiceAccount").unwrap();
        let pod = yaml.find("kind: Pod").unwrap();
        assert!(account < pod, "the account must exist when the Pod is admitted:\n{yaml}");
        assert!(yaml.contains("serviceAccountName: metallb-a"), "{yaml}");
        assert!(yaml.contains("metadata: {name: metallb-a, namespace: metallb-system, labels:"), "{yaml}");
    }
}
