//! Kubeconfig files: one cluster, one user, one context. Written as JSON,
//! which kubectl, client-go and kube-rs all read as YAML.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};

/// How a kubeconfig's user proves who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// A client certificate and its key (the admin).
    ClientCertificate {
        /// The certificate's PEM file.
        cert: PathBuf,
        /// The key's PEM file.
        key: PathBuf,
    },
    /// A bearer token (a ServiceAccount's).
    Token(String),
}

/// Writes a kubeconfig for `user` at `path`: the cluster at `server`,
/// trusted through the CA in `ca`.
pub fn write(path: &Path, server: &str, ca: &Path, user: &str, credentials: &Credentials) -> Result<PathBuf> {
    let user_entry = match credentials {
        Credentials::ClientCertificate { cert, key } => {
            json!({"client-certificate": cert, "client-key": key})
        }
        Credentials::Token(token) => json!({"token": token}),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": user, "context": {"cluster": "lab", "user": user}}],
        "current-context": user,
    });
    let text = serde_json::to_string_pretty(&config).map_err(|e| Error::Invalid {
        what: format!("kubeconfig {}", path.display()),
        reason: e.to_string(),
    })?;
    std::fs::write(path, text).map_err(|e| Error::io("write", path, e))?;
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_user_is_the_current_context() {
        let path = std::env::temp_dir().join(format!("flb-kubeconfig-test-{}", std::process::id()));
        let token = Credentials::Token("abc".into());
        write(&path, "https://127.0.0.1:6443", Path::new("/ca.crt"), "speaker", &token).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(config["current-context"], "speaker");
        assert_eq!(config["users"][0]["user"]["token"], "abc");
        assert_eq!(config["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(config["clusters"][0]["cluster"]["certificate-authority"], "/ca.crt");
    }
}
