//! The Kubernetes mode against a real API server: one control plane
//! (etcd and kube-apiserver built by `scripts/go-tools k8s`) shared by every
//! test of the run, each test in namespaces and objects of its own, the
//! components running as host processes with the ServiceAccounts and RBAC of
//! `deploy/`.
//!
//! Its own test binary with its own `main` (no libtest): libtest has no
//! teardown after the last test, and the control plane must be stopped and
//! removed at the end of the run, also when a test fails. Arguments:
//! filters, as libtest's (the tests whose name contains any of them).

mod controller;
mod conversion;
mod deploy;
#[path = "../common/documents.rs"]
mod documents;
mod helm;
mod metallb;
mod metallb_speaker;
mod rbac;
mod rules;
mod speaker;
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::Instant;

use ferrolb_lab::k8s::{ControlPlane, GoTools, go_tools_ready};
use support::Cluster;

/// A test: a name and what it runs against the shared cluster.
type Test = (&'static str, fn(&Cluster));

/// The tests, named `module::function`.
macro_rules! tests {
    ($($module:ident :: $test:ident),* $(,)?) => {
        &[$((concat!(stringify!($module), "::", stringify!($test)), $module::$test as fn(&Cluster))),*]
    };
}

/// In the order they run: `deploy` first (the others need ferrolb's CRDs
/// and RBAC), `rbac` last (it reads the audit log of everything before).
const TESTS: &[Test] = tests![
    deploy::ferrolb_yaml_applies_and_every_crd_is_established,
    deploy::metallb_configurations_apply_unchanged,
    helm::chart_lints_strict,
    helm::default_values_render_deploy_ferrolb_yaml,
    helm::other_values_render_what_they_say,
    helm::values_ferrolb_cannot_honour_fail_rendering,
    helm::rendered_manifests_apply_to_the_api_server,
    rules::every_metallb_schema_rule_is_refused_naming_the_field,
    rules::every_cel_rule_is_refused_naming_the_field,
    conversion::bgppeer_versions_convert_as_metallbs_webhook,
    controller::assigns_a_thousand_services_with_one_write_each,
    controller::converges_when_the_api_server_restarts,
    controller::one_of_two_leads_and_the_other_takes_over,
    controller::a_compacted_watch_lists_again_without_a_second_write,
    controller::a_refused_status_write_is_one_event_not_a_loop,
    controller::a_conflicting_lease_write_is_read_again_and_the_lead_kept,
    controller::an_invalid_configuration_is_reported_and_the_last_good_one_kept,
    controller::a_pool_status_the_crd_would_prune_is_one_event_not_a_loop,
    controller::a_pool_outside_the_namespace_is_ignored_with_an_event_and_a_reason,
    speaker::three_speakers_announce_by_bgp_and_l2,
    metallb::same_services_get_the_same_verdicts_as_metallb,
    metallb::migration_from_metallb_keeps_every_address,
    metallb_speaker::status_objects_and_events_are_metallbs,
    rbac::no_request_was_refused_and_every_rule_was_used,
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; {} filtered out\n", TESTS.len());
        return ExitCode::SUCCESS;
    }
    let Some(tools) = go_tools_ready(GoTools::missing_control_plane) else {
        return ExitCode::SUCCESS;
    };
    let started = Instant::now();
    let plane = match ControlPlane::start(&tools) {
        Ok(plane) => plane,
        Err(e) => {
            eprintln!("cannot start the control plane: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("control plane at {} in {:.1?} ({})", plane.server(), started.elapsed(), plane.dir().display());
    let cluster = Cluster::new(plane, tools);
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let began = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&cluster)));
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!("test {name} ... {verdict} ({:.1?})", began.elapsed());
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    let passed = chosen.len() - failed.len();
    let filtered = TESTS.len() - chosen.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed; {filtered} filtered out\n");
    } else {
        println!("\nfailures:\n    {}\n", failed.join("\n    "));
        println!("test result: FAILED. {passed} passed; {} failed; {filtered} filtered out\n", failed.len());
    }
    drop(cluster);
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(101) }
}
