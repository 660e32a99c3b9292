//! A configuration that may be put in force: it loads and validates without
//! errors, and names this node.

use std::path::Path;
use std::sync::Arc;

use ferrolb_api::load::ServiceDocuments;
use ferrolb_api::{Diagnostic, Location, Snapshot};

/// A valid configuration.
pub struct Config {
    /// Everything in the file.
    pub snapshot: Snapshot,
    /// Its `metallb.io` objects, typed ([`ferrolb_api::config::resolve`]).
    pub config: Arc<ferrolb_api::config::Config>,
    /// Where its Services were read, for the next load to copy those that
    /// did not change.
    pub documents: ServiceDocuments,
}

impl Config {
    /// Loads and validates `path`, copying the Services unchanged since
    /// `previous` (the configuration in force), for a MetalLB reading
    /// `options.namespace`; every error (warnings are
    /// logged, not fatal) when it cannot be put in force.
    pub fn load(
        path: &Path,
        node: &str,
        options: &ferrolb_api::validate::Options,
        previous: Option<(&Snapshot, &ServiceDocuments)>,
    ) -> Result<Config, Vec<Diagnostic>> {
        let (snapshot, diagnostics, documents) = ferrolb_api::load::load_paths_reusing(&[path], previous);
        let (config, diagnostics) = crate::cmd::validate::with_broken_rules(&snapshot, diagnostics, options);
        for d in diagnostics.iter().filter(|d| !d.is_error()) {
            tracing::warn!(problem = %d, "configuration warning");
        }
        let mut errors: Vec<Diagnostic> = diagnostics.into_iter().filter(Diagnostic::is_error).collect();
        let has_node = snapshot.nodes.iter().any(|n| n.metadata.name.as_deref() == Some(node));
        if !has_node {
            let file = path.display().to_string();
            errors.push(Diagnostic::error(
                Location::new(file, 0),
                format!("Node/{node}"),
                "",
                format!("no Node named {node:?} (expected a Node object for this host, as named by --node)"),
            ));
        }
        if errors.is_empty() {
            Ok(Config { snapshot, config: Arc::new(config), documents })
        } else {
            Err(errors)
        }
    }
}
