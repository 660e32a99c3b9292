//! A Pod that stands for a process the lab runs itself. No kubelet runs
//! here, but a component reads its own Pod's name and uid (`POD_NAME`,
//! `POD_UID`, from the downward API in a cluster) to own the objects that
//! live and die with it; the API server only accepts owners that exist.

use serde_json::json;

use super::control_plane::ControlPlane;
use crate::error::{Error, Result};

/// A Pod bound to a Node and run as a ServiceAccount, as a DaemonSet's Pod is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInPod<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its name (what `POD_NAME` says).
    pub name: &'a str,
    /// The ServiceAccount it runs as (which must exist: the API server refuses the Pod otherwise).
    pub service_account: &'a str,
    /// The Node it is bound to (`spec.nodeName`, which the scheduler would fill in).
    pub node: &'a str,
    /// The image its one container would run.
    pub image: &'a str,
}

impl StandInPod<'_> {
    /// Its manifest (JSON, which kubectl reads as YAML).
    pub fn manifest(&self) -> String {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "nodeName": self.node,
                "serviceAccountName": self.service_account,
                "containers": [{"name": "main", "image": self.image}],
            },
        })
        .to_string()
    }

    /// Creates it with kubectl as the admin; returns its uid (what `POD_UID` says).
    pub fn create(&self, plane: &ControlPlane) -> Result<String> {
        let file = plane.write_manifest(&self.manifest())?;
        let uid =
            plane.kubectl(&["create", "-f", &file.to_string_lossy(), "-o", "jsonpath={.metadata.uid}"])?;
        let uid = uid.trim();
        if uid.is_empty() {
            return Err(Error::Parse {
                command: format!("kubectl create pod {}/{}", self.namespace, self.name),
                reason: "no uid printed".into(),
            });
        }
        Ok(uid.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_is_bound_to_its_node_and_runs_as_its_account() {
        let pod = StandInPod {
            namespace: "metallb-system",
            name: "ferrolb-speaker-node1",
            service_account: "ferrolb-speaker",
            node: "node1",
            image: "ghcr.io/ferrolb/ferrolb:latest",
        };
        let manifest: serde_json::Value = serde_json::from_str(&pod.manifest()).unwrap();
        assert_eq!(manifest["metadata"]["name"], "ferrolb-speaker-node1");
        assert_eq!(manifest["metadata"]["namespace"], "metallb-system");
        assert_eq!(manifest["spec"]["nodeName"], "node1");
        assert_eq!(manifest["spec"]["serviceAccountName"], "ferrolb-speaker");
        assert_eq!(manifest["spec"]["containers"][0]["image"], "ghcr.io/ferrolb/ferrolb:latest");
    }
}
