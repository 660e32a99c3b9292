//! The secret of the speakers' gossip (L2 mode), as MetalLB keeps it: the
//! Secret `memberlist` of its namespace, key `secretkey` (its controller
//! creates it; its speakers mount it). A file for `ferrolb run` may carry
//! the same object, the same on every node.

use k8s_openapi::api::core::v1::Secret;

use crate::findings::Findings;
use crate::snapshot::{Located, Snapshot, object_ref};

/// The name of MetalLB's memberlist Secret (its `--ml-secret-name` default).
pub const SECRET_NAME: &str = "memberlist";
/// The key of the secret in it (MetalLB's `MLSecretKeyName`).
pub const SECRET_KEY: &str = "secretkey";

/// The gossip's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct GossipSecret(pub Vec<u8>);

impl std::fmt::Debug for GossipSecret {
    // A secret is never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GossipSecret({} octets)", self.0.len())
    }
}

/// The secret of the Secret `memberlist` in `namespace`, if there is one.
/// One without a usable `secretkey` is a warning, not an error: MetalLB's
/// controller does not judge it (its speakers fail to start), and a node
/// left without a secret refuses L2 mode anyway unless told otherwise.
pub(super) fn resolve(snapshot: &Snapshot, namespace: &str, findings: &mut Findings) -> Option<GossipSecret> {
    let secret = snapshot.secrets.iter().find(|s| {
        s.metadata.name.as_deref() == Some(SECRET_NAME)
            && super::is_in(s.metadata.namespace.as_deref(), namespace)
    })?;
    match secret_key(secret) {
        Ok(key) => Some(GossipSecret(key)),
        Err(message) => {
            findings.warning(secret, "data.secretkey", message);
            None
        }
    }
}

/// `data.secretkey` (or `stringData.secretkey`), trailing whitespace cut as
/// a secret file's is.
fn secret_key(secret: &Located<Secret>) -> Result<Vec<u8>, String> {
    let from_data = secret.data.as_ref().and_then(|d| d.get(SECRET_KEY)).map(|b| b.0.clone());
    let from_string =
        || secret.string_data.as_ref().and_then(|d| d.get(SECRET_KEY)).map(|s| s.clone().into_bytes());
    let mut key = from_data.or_else(from_string).ok_or_else(|| {
        format!(
            "{} has no {SECRET_KEY} key (expected the gossip's shared secret under data.{SECRET_KEY})",
            object_ref("Secret", &secret.metadata)
        )
    })?;
    key.truncate(key.trim_ascii_end().len());
    if key.is_empty() {
        return Err(format!(
            "{} has an empty {SECRET_KEY} (expected the gossip's shared secret)",
            object_ref("Secret", &secret.metadata)
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;

    fn gossip_of(yaml: &str) -> (Option<GossipSecret>, Vec<String>) {
        let (snapshot, diagnostics) = crate::load::load_str("cluster.yaml", yaml);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let (config, problems) = crate::config::resolve(&snapshot, &Options::default());
        (config.gossip_secret, problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn metallbs_memberlist_secret_in_its_namespace_is_the_gossip_secret() {
        let data = "apiVersion: v1\nkind: Secret\nmetadata: {name: memberlist, namespace: metallb-system}\ndata: {secretkey: czNjcmV0Cg==}\n";
        assert_eq!(gossip_of(data), (Some(GossipSecret(b"s3cret".to_vec())), vec![]));
        let string =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: memberlist}\nstringData: {secretkey: s3cret}\n";
        assert_eq!(gossip_of(string).0, Some(GossipSecret(b"s3cret".to_vec())));
        // Another namespace, or another name: not MetalLB's.
        assert_eq!(gossip_of(&data.replace("metallb-system", "default")), (None, vec![]));
        assert_eq!(gossip_of(&data.replace("name: memberlist", "name: other")), (None, vec![]));
    }

    #[test]
    fn a_memberlist_secret_without_its_key_is_a_warning_and_no_secret() {
        let (secret, problems) = gossip_of(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: memberlist}\nstringData: {password: x}\n",
        );
        assert_eq!(secret, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("Secret/memberlist") && problems[0].contains("no secretkey key"),
            "{problems:?}"
        );
        let (_, problems) = gossip_of(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: memberlist}\nstringData: {secretkey: ' '}\n",
        );
        assert!(problems[0].contains("empty secretkey"), "{problems:?}");
    }

    #[test]
    fn the_secret_never_shows_in_a_debug_print() {
        assert_eq!(format!("{:?}", GossipSecret(b"s3cret".to_vec())), "GossipSecret(6 octets)");
    }
}
