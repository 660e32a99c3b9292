//! The driver of whole-config validation: every snapshot validated on the
//! blocking pool, its problems logged when they change, the last good
//! configuration kept ([`crate::validation::LastGood`]), and the verdict
//! written to the component's `ConfigurationState` with Events.
//!
//! ```text
//!  Snapshot ──► Validation::judge ──► Verdict { run: what to plan from, errors }
//!                  (validate off the runtime's threads; log what is new)
//!  errors ──► ConfigurationReport::report ◄── ConfigurationReport::ignore (controller: the
//!               │                              metallb.io objects outside the namespace)
//!               ├─► GET, else POST  configurationstates/NAME (once: labels, owner)
//!               ├─► merge patch of its status, only when the status differs
//!               ├─► Events on it: Warning per new error, Normal when valid again
//!               └─► a Warning Event on each ignored object, once per object
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use ferrolb_api::metallb::{ConfigurationState, ConfigurationStateSpec, ConfigurationStateStatus};
use ferrolb_api::{Diagnostic, Snapshot};
use k8s_openapi::api::core::v1::ObjectReference;
/// The owner of an object, as the components name their pod.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};

use crate::events::Publisher;
use crate::misplaced::Misplaced;
use crate::validation::{Admitted, Component, LastGood, desired_status, errors, notices, status_patch};

/// What a snapshot gives after validation.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// What to plan from: the snapshot, or its cluster objects under the
    /// last good configuration; `None` before any configuration validated.
    pub run: Option<Admitted>,
    /// The errors of the snapshot's own configuration, described.
    pub errors: Vec<String>,
}

/// Validates snapshots, keeping the last good configuration.
#[derive(Debug, Default)]
pub struct Validation {
    last_good: LastGood,
    /// The problems logged last, so that each is logged once, when it comes.
    logged: BTreeSet<Diagnostic>,
}

impl Validation {
    /// Validates `snapshot` (off the runtime's threads: the rules compare
    /// every pool and peer with every other) and decides what runs.
    pub async fn judge(&mut self, snapshot: Arc<Snapshot>) -> Verdict {
        let input = Arc::clone(&snapshot);
        let Ok((config, diagnostics)) =
            // The watchers read the controller's namespace only.
            tokio::task::spawn_blocking(move || {
                ferrolb_api::validate::validated(&input, &ferrolb_api::validate::Options::any_namespace())
            })
            .await
        else {
            return Verdict::default(); // the runtime is shutting down
        };
        self.log(&diagnostics);
        Verdict { errors: errors(&diagnostics), run: self.last_good.admit(snapshot, config, &diagnostics) }
    }

    /// Logs each problem not logged before, and the return to a valid
    /// configuration.
    fn log(&mut self, diagnostics: &[Diagnostic]) {
        let had_errors = self.logged.iter().any(Diagnostic::is_error);
        let has_errors = diagnostics.iter().any(Diagnostic::is_error);
        for diagnostic in diagnostics.iter().filter(|d| !self.logged.contains(*d)) {
            let (object, field, message) = (&diagnostic.object, &diagnostic.field, &diagnostic.message);
            let location = &diagnostic.location;
            if diagnostic.is_error() {
                tracing::error!(
                    %location, %object, %field, %message,
                    kept = self.last_good.is_known(),
                    "invalid configuration, not applied: the last valid one stays in use"
                );
            } else {
                tracing::warn!(%location, %object, %field, %message, "configuration warning");
            }
        }
        if had_errors && !has_errors {
            tracing::info!("configuration valid again: applied");
        }
        self.logged = diagnostics.iter().cloned().collect();
    }
}

/// Why a `ConfigurationState` could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigurationStateError {
    /// The API server refused the request or could not be reached.
    #[error("ConfigurationState {namespace}/{name}: {source}")]
    Api {
        /// The object's namespace.
        namespace: String,
        /// The object's name.
        name: String,
        /// What the client said.
        source: kube::Error,
    },
}

/// The object as last read or written.
#[derive(Clone, Debug)]
struct Held {
    /// For the Events about it (with its uid).
    reference: ObjectReference,
    status: Option<ConfigurationStateStatus>,
}

/// Writes one component's `ConfigurationState` and the Events about it.
pub struct ConfigurationReport {
    client: Client,
    namespace: String,
    component: Component,
    /// The pod whose deletion deletes the object, as MetalLB sets it.
    owner: Option<OwnerReference>,
    publisher: Publisher,
    held: Option<Held>,
    /// The errors already published as Events.
    reported: BTreeSet<String>,
    /// The objects outside the namespace the next report lists.
    ignored: BTreeSet<Misplaced>,
    /// The namespaces being deleted, where no Event can be created.
    closing: BTreeSet<String>,
    /// The ignored objects whose Event is published. Kept when leadership
    /// comes back: an object gets one Event from this process, not one
    /// per term.
    ignored_published: BTreeSet<Misplaced>,
}

impl ConfigurationReport {
    /// Reports for `component` into `namespace`, owned by `owner` when
    /// given; Events go out as `publisher`.
    pub fn new(
        client: Client,
        namespace: &str,
        component: Component,
        owner: Option<OwnerReference>,
        publisher: Publisher,
    ) -> ConfigurationReport {
        ConfigurationReport {
            client,
            namespace: namespace.to_owned(),
            component,
            owner,
            publisher,
            held: None,
            reported: BTreeSet::new(),
            ignored: BTreeSet::new(),
            closing: BTreeSet::new(),
            ignored_published: BTreeSet::new(),
        }
    }

    /// The name of the object written.
    pub fn name(&self) -> String {
        self.component.state_name()
    }

    /// Forgets what was written, so that the next report reads the object
    /// again (another controller replica may have written it meanwhile).
    pub fn forget(&mut self) {
        self.held = None;
        self.reported.clear();
    }

    /// Sets the `metallb.io` objects outside the namespace that the next
    /// [`report`](Self::report) lists as ignored (none: the condition goes).
    /// Those in a `closing` namespace (being deleted) are listed but get no
    /// Event: the API server would refuse it, and they are about to go.
    pub fn ignore(&mut self, objects: BTreeSet<Misplaced>, closing: BTreeSet<String>) {
        self.ignored = objects;
        self.closing = closing;
    }

    /// Brings the object to the verdict `errors` (none: valid) and the
    /// ignored objects, creating it first if needed, and publishes the
    /// Events of what changed.
    pub async fn report(&mut self, errors: &[String]) -> Result<(), ConfigurationStateError> {
        // Twice at most: an object deleted since it was last read is
        // created again, once.
        for attempt in 0..2 {
            let held = match self.held.take() {
                Some(held) => held,
                None => self.find_or_create().await?,
            };
            let now = Time(Timestamp::now());
            let ignored: Vec<String> = self.ignored.iter().map(|m| m.line(&self.namespace)).collect();
            let desired = desired_status(&self.component, errors, &ignored, held.status.as_ref(), now);
            if held.status.as_ref() != Some(&desired) {
                let params = PatchParams::default();
                let patch = Patch::Merge(status_patch(&desired));
                match self.api().patch_status(&self.name(), &params, &patch).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 && attempt == 0 => continue,
                    Err(source) => {
                        // Read again next time if it was gone.
                        if !matches!(&source, kube::Error::Api(e) if e.code == 404) {
                            self.held = Some(held);
                        }
                        return Err(self.error(source));
                    }
                }
                tracing::info!(
                    configuration_state = %self.name(),
                    result = ?desired.result,
                    errors = errors.len(),
                    ignored = ignored.len(),
                    "configuration state written"
                );
            }
            self.publish(&held.reference, errors).await;
            self.held = Some(Held { status: Some(desired), ..held });
            break;
        }
        Ok(())
    }

    /// Publishes the Events of `errors` and of ignored objects not
    /// published yet, logging a failure: a lost Event is no reason to write
    /// the state again.
    async fn publish(&mut self, reference: &ObjectReference, errors: &[String]) {
        for notice in notices(&self.reported, errors) {
            if let Err(error) = self.publisher.publish(&notice, reference).await {
                tracing::warn!(configuration_state = %self.name(), reason = notice.reason, error = %error, "event not published");
            }
        }
        self.reported = errors.iter().cloned().collect();
        let new = self.ignored.difference(&self.ignored_published);
        for object in new.filter(|o| !self.closing.contains(&o.namespace)) {
            tracing::warn!(
                kind = %object.kind,
                namespace = %object.namespace,
                name = %object.name,
                expected = %self.namespace,
                "metallb.io object outside the namespace: ignored"
            );
            let notice = object.notice(&self.namespace);
            if let Err(error) = self.publisher.publish(&notice, &object.reference()).await {
                tracing::warn!(
                    kind = %object.kind,
                    namespace = %object.namespace,
                    name = %object.name,
                    error = %error,
                    "event not published"
                );
            }
        }
        // Forgotten once gone, so that the set stays as small as the cluster's.
        self.ignored_published = self.ignored.clone();
    }

    /// The object as it is, created (with labels and owner) if missing.
    async fn find_or_create(&self) -> Result<Held, ConfigurationStateError> {
        let api = self.api();
        let name = self.name();
        if let Some(found) = api.get_opt(&name).await.map_err(|e| self.error(e))? {
            return Ok(held(&found));
        }
        let object = ConfigurationState {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.component.labels()),
                owner_references: self.owner.clone().map(|owner| vec![owner]),
                ..ObjectMeta::default()
            },
            spec: ConfigurationStateSpec {},
            status: None,
        };
        match api.create(&PostParams::default(), &object).await {
            Ok(created) => {
                tracing::info!(configuration_state = %name, "configuration state created");
                Ok(held(&created))
            }
            // Created by another replica since the GET.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                api.get(&name).await.map(|found| held(&found)).map_err(|e| self.error(e))
            }
            Err(source) => Err(self.error(source)),
        }
    }

    fn api(&self) -> Api<ConfigurationState> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn error(&self, source: kube::Error) -> ConfigurationStateError {
        ConfigurationStateError::Api { namespace: self.namespace.clone(), name: self.name(), source }
    }
}

fn held(object: &ConfigurationState) -> Held {
    Held { reference: object.object_ref(&()), status: object.status.clone() }
}

/// The owner reference to a pod, from its name and uid (the downward API's
/// `metadata.name` and `metadata.uid`), as MetalLB owns its objects by the
/// pod that wrote them: deleting the pod deletes them.
pub fn pod_owner(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Pod".to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: None,
        block_owner_deletion: None,
    }
}
