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

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::control_plane::{ControlPlane, free_port};
use super::tools::GoTools;
use crate::cmd;
use crate::error::Result;
use crate::host_process::HostProcess;
use crate::wait::wait_until;

/// MetalLB's controller, running; stopped, and its Pod and ServiceAccount
/// deleted, when dropped.
#[derive(Debug)]
pub struct MetalLbController {
    process: HostProcess,
    name: String,
    namespace: String,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
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
        Ok(MetalLbController {
            process,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            kubectl: tools.k8s("kubectl"),
            kubeconfig: plane.admin_kubeconfig().to_owned(),
        })
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
        let mut c = Command::new(&self.kubectl);
        c.arg("--kubeconfig").arg(&self.kubeconfig).args([
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-n",
            &self.namespace,
            &format!("pod/{}", self.name),
            &format!("serviceaccount/{}", self.name),
        ]);
        if let Err(e) = cmd::run(&mut c, cmd::DEFAULT_TIMEOUT) {
            eprintln!("MetalLB controller {}: {e}", self.name);
        }
    }
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
    fn the_pod_runs_as_its_own_service_account_made_before_it() {
        let yaml = placeholder("metallb-system", "metallb-a", "v0.16.1");
        let account = yaml.find("kind: ServiceAccount").unwrap();
        let pod = yaml.find("kind: Pod").unwrap();
        assert!(account < pod, "the account must exist when the Pod is admitted:\n{yaml}");
        assert!(yaml.contains("serviceAccountName: metallb-a"), "{yaml}");
        assert!(yaml.contains("metadata: {name: metallb-a, namespace: metallb-system, labels:"), "{yaml}");
    }
}
