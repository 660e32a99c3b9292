//! Whole-config validation in a cluster: which configuration a component
//! runs with, and what it reports in its `ConfigurationState`, as MetalLB
//! 0.15 (`internal/k8s/controllers/configuration_state_controller.go`).
//!
//! No I/O, no clock, no globals: the driver in [`crate::configuration_state`]
//! writes the object and its Events; the controller and the speaker feed
//! each snapshot through [`LastGood`].
//!
//! A snapshot whose configuration has errors is not applied: the last good
//! configuration (the `metallb.io` objects and Secrets) keeps running, with
//! the Services, Nodes, Namespaces and EndpointSlices of the new snapshot,
//! so that a Service created meanwhile still gets its address and no
//! Service loses or changes one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrolb_api::config::Config;
use ferrolb_api::metallb::{ConfigurationResult, ConfigurationStateStatus};
use ferrolb_api::{Diagnostic, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::events::Notice;
use crate::misplaced;
use crate::state::LOCATION_PREFIX;

/// The label saying which component wrote a `ConfigurationState`.
pub const LABEL_COMPONENT_TYPE: &str = "metallb.io/component-type";
/// The label naming a speaker's node on its `ConfigurationState`.
pub const LABEL_NODE_NAME: &str = "metallb.io/node-name";

/// The condition's reason when the configuration is in use.
pub const REASON_VALID: &str = "Reconciled";
/// The condition's reason, and the Warning Event's, when it is not.
pub const REASON_INVALID: &str = "ConfigurationError";
/// The Normal Event's reason when a configuration is valid again.
pub const REASON_VALID_AGAIN: &str = "ConfigurationValid";

/// The component that validates and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Component {
    /// The controller (one object for all replicas; the leader writes it).
    Controller,
    /// The speaker of one node.
    Speaker {
        /// The node.
        node: String,
    },
}

impl Component {
    /// The name of its `ConfigurationState`: `controller`, `speaker-NODE`.
    pub fn state_name(&self) -> String {
        match self {
            Component::Controller => "controller".to_owned(),
            Component::Speaker { node } => format!("speaker-{node}"),
        }
    }

    /// The labels of its `ConfigurationState`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        match self {
            Component::Controller => {
                labels.insert(LABEL_COMPONENT_TYPE.to_owned(), "controller".to_owned());
            }
            Component::Speaker { node } => {
                labels.insert(LABEL_COMPONENT_TYPE.to_owned(), "speaker".to_owned());
                labels.insert(LABEL_NODE_NAME.to_owned(), node.clone());
            }
        }
        labels
    }

    /// The condition type it reports under: MetalLB's controller reports
    /// from its pool reconciler, the speaker from its config reconciler.
    pub fn condition_type(&self) -> &'static str {
        match self {
            Component::Controller => "poolReconcilerValid",
            Component::Speaker { .. } => "configReconcilerValid",
        }
    }
}

/// One problem as a line of the `errorSummary` and of an Event: `Kind/name:
/// field: message`, the location left out when it only repeats the object
/// (every object read from an API server is at `kube:Kind/ns/name:0`).
pub fn describe(diagnostic: &Diagnostic) -> String {
    if diagnostic.location.file.starts_with(LOCATION_PREFIX) && !diagnostic.object.is_empty() {
        let mut line = format!("{}: ", diagnostic.object);
        if !diagnostic.field.is_empty() {
            line.push_str(&diagnostic.field);
            line.push_str(": ");
        }
        line.push_str(&diagnostic.message);
        line
    } else {
        diagnostic.to_string()
    }
}

/// The errors among `diagnostics`, described, in their order.
pub fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().filter(|d| d.is_error()).map(describe).collect()
}

/// The configuration parts of a snapshot (what validation judges), and
/// the configuration resolved from them.
#[derive(Clone, Debug, Default)]
struct Configuration {
    snapshot: Snapshot,
    config: Arc<Config>,
}

impl Configuration {
    fn of(snapshot: &Snapshot, config: Arc<Config>) -> Configuration {
        Configuration {
            config,
            snapshot: Snapshot {
                pools: snapshot.pools.clone(),
                l2_advertisements: snapshot.l2_advertisements.clone(),
                bgp_advertisements: snapshot.bgp_advertisements.clone(),
                bgp_peers: snapshot.bgp_peers.clone(),
                bfd_profiles: snapshot.bfd_profiles.clone(),
                communities: snapshot.communities.clone(),
                secrets: snapshot.secrets.clone(),
                ..Snapshot::default()
            },
        }
    }

    /// `snapshot` with this configuration in place of its own.
    fn under(&self, snapshot: &Snapshot) -> Snapshot {
        let config = &self.snapshot;
        Snapshot {
            pools: config.pools.clone(),
            l2_advertisements: config.l2_advertisements.clone(),
            bgp_advertisements: config.bgp_advertisements.clone(),
            bgp_peers: config.bgp_peers.clone(),
            bfd_profiles: config.bfd_profiles.clone(),
            communities: config.communities.clone(),
            secrets: config.secrets.clone(),
            services: snapshot.services.clone(),
            nodes: snapshot.nodes.clone(),
            namespaces: snapshot.namespaces.clone(),
            endpoint_slices: snapshot.endpoint_slices.clone(),
        }
    }
}

/// What a component plans from: the cluster's objects, and the
/// configuration that governs them.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// Services, Nodes, Namespaces, EndpointSlices (and the configuration's
    /// objects, for their names and lines).
    pub snapshot: Arc<Snapshot>,
    /// The typed configuration ([`ferrolb_api::config::resolve`]).
    pub config: Arc<Config>,
}

/// The last configuration that validated, and what to run with next.
#[derive(Clone, Debug, Default)]
pub struct LastGood {
    configuration: Option<Configuration>,
}

impl LastGood {
    /// What to run with after `snapshot`, whose `diagnostics` are given:
    /// the snapshot itself when it has no error (it becomes the last good
    /// one); else its cluster objects under the last good configuration;
    /// `None` when no configuration has validated yet (nothing is run, so
    /// that nothing is cleared or withdrawn for an error).
    pub fn admit(
        &mut self,
        snapshot: Arc<Snapshot>,
        config: Config,
        diagnostics: &[Diagnostic],
    ) -> Option<Admitted> {
        if !diagnostics.iter().any(Diagnostic::is_error) {
            let config = Arc::new(config);
            self.configuration = Some(Configuration::of(&snapshot, Arc::clone(&config)));
            return Some(Admitted { snapshot, config });
        }
        let configuration = self.configuration.as_ref()?;
        let config = Arc::clone(&configuration.config);
        Some(Admitted { snapshot: Arc::new(configuration.under(&snapshot)), config })
    }

    /// Whether some configuration has validated.
    pub fn is_known(&self) -> bool {
        self.configuration.is_some()
    }
}

/// The `ConfigurationState` status for `errors` (none: valid): one
/// condition of `component`'s type, `result` and `errorSummary` derived
/// from it as MetalLB derives them. While objects are `ignored` (their
/// lines, see [`crate::misplaced`]), a second condition lists them; its
/// reason is not MetalLB's `ConfigurationError`, so, as MetalLB reads
/// conditions, it leaves `result` and `errorSummary` alone. A condition's
/// transition time is the one of `previous` while its status stays, else
/// `now`, so that the same verdict gives the same status and needs no write.
pub fn desired_status(
    component: &Component,
    errors: &[String],
    ignored: &[String],
    previous: Option<&ConfigurationStateStatus>,
    now: Time,
) -> ConfigurationStateStatus {
    let valid = errors.is_empty();
    let message = if valid { String::new() } else { format!("configuration error: {}", errors.join("\n")) };
    let mut conditions = vec![condition(
        component.condition_type(),
        valid,
        if valid { REASON_VALID } else { REASON_INVALID },
        within_condition_bound(&message, "the whole list is in errorSummary and in the Events"),
        previous,
        &now,
    )];
    if !ignored.is_empty() {
        conditions.push(condition(
            misplaced::CONDITION_TYPE,
            false,
            misplaced::REASON_IGNORED,
            within_condition_bound(&ignored.join("\n"), "each object has an Event of its own"),
            previous,
            &now,
        ));
    }
    ConfigurationStateStatus {
        result: Some(if valid { ConfigurationResult::Valid } else { ConfigurationResult::Invalid }),
        conditions,
        error_summary: message,
    }
}

/// A condition of `type_`, `True` when it `holds`, its transition time kept
/// from `previous` while its status stays.
fn condition(
    type_: &str,
    holds: bool,
    reason: &str,
    message: String,
    previous: Option<&ConfigurationStateStatus>,
    now: &Time,
) -> Condition {
    let status = if holds { "True" } else { "False" };
    let last_transition_time = previous
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time,
        observed_generation: None,
    }
}

/// The most characters a condition's `message` may have (`metav1.Condition`'s
/// bound, in the CRD): the API server refuses a longer one.
pub const CONDITION_MESSAGE_MAX: usize = 32768;

/// `message`, cut to [`CONDITION_MESSAGE_MAX`] characters at a line end
/// when longer, saying so and where the rest is (`whole`).
fn within_condition_bound(message: &str, whole: &str) -> String {
    if message.chars().count() <= CONDITION_MESSAGE_MAX {
        return message.to_owned();
    }
    let cut = format!("\n... (cut: {whole})");
    let room = CONDITION_MESSAGE_MAX - cut.chars().count();
    let end = message.char_indices().nth(room).map_or(message.len(), |(i, _)| i);
    let kept = &message[..end];
    let kept = kept.rfind('\n').map_or(kept, |line_end| &kept[..line_end]);
    format!("{kept}{cut}")
}

/// The merge patch of the `status` subresource that makes it `status`:
/// an empty `errorSummary` is written as `null`, so that a merge removes
/// the one an invalid configuration left.
pub fn status_patch(status: &ConfigurationStateStatus) -> Value {
    let summary = match status.error_summary.is_empty() {
        true => Value::Null,
        false => Value::from(status.error_summary.clone()),
    };
    json!({"status": {
        "result": status.result,
        "errorSummary": summary,
        "conditions": status.conditions,
    }})
}

/// The Events of a new verdict: a Warning per error not reported before
/// (`reported`), and a Normal one when the configuration is valid again.
pub fn notices(reported: &BTreeSet<String>, errors: &[String]) -> Vec<Notice> {
    if errors.is_empty() {
        return match reported.is_empty() {
            true => Vec::new(),
            false => vec![Notice {
                warning: false,
                reason: REASON_VALID_AGAIN,
                action: "Validate",
                note: "the configuration is valid and in use".to_owned(),
            }],
        };
    }
    errors
        .iter()
        .filter(|e| !reported.contains(*e))
        .map(|error| Notice {
            warning: true,
            reason: REASON_INVALID,
            action: "Validate",
            note: format!("{error} (not applied: the last valid configuration, if any, stays in use)"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use ferrolb_api::{Located, Location};
    use k8s_openapi::jiff::Timestamp;

    fn resolved(snapshot: &Snapshot) -> Config {
        ferrolb_api::config::resolve(snapshot, &ferrolb_api::config::Options::any_namespace()).0
    }

    fn time(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn pool(name: &str) -> Located<ferrolb_api::metallb::IPAddressPool> {
        Located::unsourced(
            serde_json::from_value(json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": name, "namespace": "metallb-system"},
                "spec": {"addresses": ["192.0.2.0/28"]},
            }))
            .unwrap(),
        )
    }

    fn error() -> Diagnostic {
        Diagnostic::error(
            Location::new("kube:IPAddressPool/metallb-system/b", 0),
            "IPAddressPool/b",
            "spec.addresses[0]",
            "\"nonsense\" is not an address range (expected a CIDR or FROM-TO)",
        )
    }

    #[test]
    fn a_problem_reads_without_the_location_that_repeats_the_object() {
        assert_eq!(
            describe(&error()),
            "IPAddressPool/b: spec.addresses[0]: \"nonsense\" is not an address range (expected a CIDR or FROM-TO)"
        );
        let from_file = Diagnostic::error(Location::new("cluster.yaml", 3), "IPAddressPool/b", "", "bad");
        assert_eq!(describe(&from_file), "cluster.yaml:3: IPAddressPool/b: bad");
    }

    #[test]
    fn an_invalid_snapshot_runs_its_services_under_the_last_good_configuration() {
        let mut gate = LastGood::default();
        let good = Arc::new(Snapshot { pools: vec![pool("a")], ..Snapshot::default() });
        assert!(gate.admit(Arc::clone(&good), resolved(&good), &[]).is_some());

        let mut bad = Snapshot { pools: vec![pool("a"), pool("b")], ..Snapshot::default() };
        bad.services.push(Located::unsourced(
            ferrolb_api::service::LbServiceFields { name: "new".into(), ..Default::default() }.into(),
        ));
        let bad_config = resolved(&bad);
        let run = gate.admit(Arc::new(bad), bad_config, &[error()]).expect("the last good one");
        let names = |s: &Snapshot| s.pools.iter().map(|p| p.metadata.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&run.snapshot), names(&good), "the last good pools");
        let config_names: Vec<&str> = run.config.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(config_names, ["a"], "the last good configuration");
        assert_eq!(run.snapshot.services.len(), 1, "the new snapshot's Services");
    }

    #[test]
    fn nothing_runs_before_a_configuration_validates() {
        let mut gate = LastGood::default();
        assert!(gate.admit(Arc::new(Snapshot::default()), Config::default(), &[error()]).is_none());
        assert!(!gate.is_known());
        let warning = Diagnostic::warning(Location::new("kube:X/y", 0), "X/y", "", "w");
        let admitted = gate.admit(Arc::new(Snapshot::default()), Config::default(), &[warning]);
        assert!(admitted.is_some(), "warnings do not block");
    }

    #[test]
    fn the_status_says_invalid_with_every_error_and_valid_again_when_fixed() {
        let speaker = Component::Speaker { node: "node1".into() };
        let errors = vec!["IPAddressPool/b: one".to_owned(), "BGPPeer/p: two".to_owned()];
        let invalid = desired_status(&speaker, &errors, &[], None, time(10));
        assert_eq!(invalid.result, Some(ConfigurationResult::Invalid));
        assert_eq!(invalid.error_summary, "configuration error: IPAddressPool/b: one\nBGPPeer/p: two");
        assert_eq!(invalid.conditions[0].type_, "configReconcilerValid");
        assert_eq!(invalid.conditions[0].status, "False");
        assert_eq!(invalid.conditions[0].reason, "ConfigurationError");

        let again = desired_status(&speaker, &errors, &[], Some(&invalid), time(20));
        assert_eq!(again, invalid, "the same verdict later is the same status: no write");

        let valid = desired_status(&speaker, &[], &[], Some(&invalid), time(30));
        assert_eq!(valid.result, Some(ConfigurationResult::Valid));
        assert_eq!(valid.conditions[0].last_transition_time, time(30));
        assert_eq!(
            status_patch(&valid)["status"]["errorSummary"],
            Value::Null,
            "the summary of the errors is removed"
        );
    }

    #[test]
    fn ignored_objects_are_a_condition_of_their_own_that_leaves_the_result_valid() {
        let lines = vec!["IPAddressPool/stray in namespace \"default\": ignored".to_owned()];
        let ignoring = desired_status(&Component::Controller, &[], &lines, None, time(10));
        assert_eq!(ignoring.result, Some(ConfigurationResult::Valid), "MetalLB ignores them too");
        assert_eq!(ignoring.error_summary, "", "the summary holds configuration errors only");
        assert_eq!(ignoring.conditions[0].type_, "poolReconcilerValid");
        assert_eq!(ignoring.conditions[0].status, "True");
        let ignored = &ignoring.conditions[1];
        assert_eq!((ignored.type_.as_str(), ignored.status.as_str()), ("namespaceValid", "False"));
        assert_eq!(ignored.reason, "IgnoredOutsideNamespace");
        assert_eq!(ignored.message, lines[0]);
        assert_eq!(ignored.last_transition_time, time(10));

        let later = desired_status(&Component::Controller, &[], &lines, Some(&ignoring), time(20));
        assert_eq!(later, ignoring, "the same objects later: no write");
        let with_error =
            desired_status(&Component::Controller, &["x".to_owned()], &lines, Some(&ignoring), time(30));
        assert_eq!(with_error.result, Some(ConfigurationResult::Invalid));
        assert_eq!(with_error.conditions[1].last_transition_time, time(10), "its own transition time");
        let gone = desired_status(&Component::Controller, &[], &[], Some(&ignoring), time(40));
        assert_eq!(gone.conditions.len(), 1, "deleted or moved: the condition goes");
        assert_eq!(
            status_patch(&gone)["status"]["conditions"].as_array().map(Vec::len),
            Some(1),
            "the patch lists the conditions whole, so a merge removes the other"
        );
    }

    #[test]
    fn a_condition_message_stays_within_the_crd_bound_and_the_summary_keeps_everything() {
        let speaker = Component::Speaker { node: "node1".into() };
        // Three-byte characters: the bound counts characters, not bytes.
        let errors: Vec<String> = (0..2000).map(|i| format!("BGPPeer/p{i}: ≠ invalid holdTime")).collect();
        let status = desired_status(&speaker, &errors, &[], None, time(10));
        let message = &status.conditions[0].message;
        assert!(message.chars().count() <= CONDITION_MESSAGE_MAX, "{} characters", message.chars().count());
        assert!(message.ends_with("(cut: the whole list is in errorSummary and in the Events)"));
        assert!(message.contains("BGPPeer/p0: ") && !message.contains("BGPPeer/p1999: "));
        assert!(status.error_summary.ends_with("BGPPeer/p1999: ≠ invalid holdTime"));
        let short = desired_status(&speaker, &errors[..2], &[], None, time(10));
        assert_eq!(short.conditions[0].message, short.error_summary, "a short list is not cut");
    }

    #[test]
    fn each_error_is_an_event_once_and_the_fix_one_more() {
        let errors = vec!["a".to_owned(), "b".to_owned()];
        let first = notices(&BTreeSet::new(), &errors);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|n| n.warning && n.reason == "ConfigurationError"));
        let reported: BTreeSet<String> = errors.iter().cloned().collect();
        assert!(notices(&reported, &errors).is_empty());
        let fixed = notices(&reported, &[]);
        assert_eq!(fixed.len(), 1);
        assert!(!fixed[0].warning);
        assert!(notices(&BTreeSet::new(), &[]).is_empty(), "valid from the start: nothing to say");
    }

    #[test]
    fn the_objects_are_named_and_labelled_as_metallb_names_them() {
        assert_eq!(Component::Controller.state_name(), "controller");
        let speaker = Component::Speaker { node: "node1".into() };
        assert_eq!(speaker.state_name(), "speaker-node1");
        assert_eq!(speaker.labels()["metallb.io/node-name"], "node1");
        assert_eq!(Component::Controller.labels()["metallb.io/component-type"], "controller");
    }
}
