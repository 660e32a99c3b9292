//! `ferrolb validate FILE...`: load, check every rule, print every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use ferrolb_api::config::Config;
use ferrolb_api::validate::Options;
use ferrolb_api::{Diagnostic, Snapshot};

/// MetalLB's namespace, for every command that loads a configuration.
#[derive(clap::Args, Clone, Debug)]
pub struct NamespaceArg {
    /// MetalLB's namespace: a metallb.io object elsewhere is an error (MetalLB would refuse or ignore it).
    #[arg(long, default_value = ferrolb_api::validate::DEFAULT_NAMESPACE)]
    pub namespace: String,
}

impl NamespaceArg {
    /// The validation options it gives.
    pub fn options(&self) -> Options {
        Options { namespace: self.namespace.clone() }
    }
}

/// Loads and validates `files` for a MetalLB reading `namespace`; exit 0
/// when valid (warnings allowed), 1 otherwise.
pub fn run(files: &[PathBuf], namespace: &NamespaceArg) -> anyhow::Result<ExitCode> {
    let (snapshot, _, diagnostics) = load_and_validate(files, &namespace.options());
    report(&diagnostics);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        eprintln!("invalid: {errors} error(s), {warnings} warning(s)");
        return Ok(ExitCode::FAILURE);
    }
    println!("valid: {} ({warnings} warning(s))", summary(&snapshot));
    Ok(ExitCode::SUCCESS)
}

/// The files' objects, their configuration, and every problem of them for
/// a MetalLB reading `options.namespace`: loading problems and broken
/// rules, sorted.
pub fn load_and_validate(files: &[PathBuf], options: &Options) -> (Snapshot, Config, Vec<Diagnostic>) {
    let (snapshot, diagnostics) = ferrolb_api::load::load_paths(files);
    let (config, diagnostics) = with_broken_rules(&snapshot, diagnostics, options);
    (snapshot, config, diagnostics)
}

/// The configuration of `snapshot` for a MetalLB reading
/// `options.namespace`, with its loading problems and the rules it
/// breaks, sorted, once each.
pub fn with_broken_rules(
    snapshot: &Snapshot,
    mut diagnostics: Vec<Diagnostic>,
    options: &Options,
) -> (Config, Vec<Diagnostic>) {
    let (config, broken) = ferrolb_api::validate::validated(snapshot, options);
    diagnostics.extend(broken);
    diagnostics.sort();
    diagnostics.dedup();
    (config, diagnostics)
}

/// Prints diagnostics to standard error, one per line.
pub fn report(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}

/// `3 IPAddressPool, 1 L2Advertisement, 2 Service`: what the files hold.
fn summary(s: &Snapshot) -> String {
    let counts = [
        (s.pools.len(), "IPAddressPool"),
        (s.l2_advertisements.len(), "L2Advertisement"),
        (s.bgp_advertisements.len(), "BGPAdvertisement"),
        (s.bgp_peers.len(), "BGPPeer"),
        (s.bfd_profiles.len(), "BFDProfile"),
        (s.communities.len(), "Community"),
        (s.services.len(), "Service"),
        (s.nodes.len(), "Node"),
        (s.namespaces.len(), "Namespace"),
        (s.endpoint_slices.len(), "EndpointSlice"),
        (s.secrets.len(), "Secret"),
    ];
    let parts: Vec<String> =
        counts.iter().filter(|(n, _)| *n > 0).map(|(n, kind)| format!("{n} {kind}")).collect();
    if parts.is_empty() { "no objects".into() } else { parts.join(", ") }
}
