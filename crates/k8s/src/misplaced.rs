//! `metallb.io` objects outside MetalLB's namespace, in a cluster. MetalLB's
//! controller lists its own namespace only, so such an object is never part
//! of its configuration, and its webhooks refuse to create one there (but a
//! `BGPPeer` that sets the deprecated `disableMP`). ferrolb ignores it as
//! MetalLB does, and says so instead of saying nothing: a Warning Event on
//! the object, once, and a condition of the controller's
//! `ConfigurationState` naming it for as long as it exists. It never enters
//! the [`Snapshot`](ferrolb_api::Snapshot), so it changes no allocation and
//! does not make the configuration invalid.
//!
//! No I/O, no clock, no globals: the driver in [`crate::watchers`] finds the
//! objects (their metadata only), [`crate::configuration_state`] writes what
//! is said here.

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_api::core::Namespace;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::events::Notice;

/// The reason of the Event on an ignored object, and of the condition that
/// lists them.
pub const REASON_IGNORED: &str = "IgnoredOutsideNamespace";

/// The type of the `ConfigurationState` condition that lists the ignored
/// objects; present only while there is one.
pub const CONDITION_TYPE: &str = "namespaceValid";

/// An object of a `metallb.io` configuration kind outside MetalLB's namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Misplaced {
    /// Its namespace.
    pub namespace: String,
    /// Its kind (`IPAddressPool`).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid: an object deleted and created again is another object, with
    /// an Event of its own.
    pub uid: String,
    /// The version it was read at (`metallb.io/v1beta1`), for the Event's reference.
    pub api_version: String,
}

impl Misplaced {
    /// The object of `kind` at `api_version` described by `meta`, when it
    /// is outside `namespace` (and has a namespace: every `metallb.io` kind
    /// is namespaced).
    pub fn outside(kind: &str, api_version: &str, meta: &ObjectMeta, namespace: &str) -> Option<Misplaced> {
        let its = meta.namespace.as_deref().filter(|its| !its.is_empty() && *its != namespace)?;
        Some(Misplaced {
            namespace: its.to_owned(),
            kind: kind.to_owned(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            api_version: api_version.to_owned(),
        })
    }

    /// The reference an Event about it carries, so that `kubectl describe`
    /// shows the Event with the object.
    pub fn reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some(self.api_version.clone()),
            kind: Some(self.kind.clone()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: Some(self.uid.clone()).filter(|uid| !uid.is_empty()),
            ..ObjectReference::default()
        }
    }

    /// Its line in the `ConfigurationState` condition.
    pub fn line(&self, namespace: &str) -> String {
        format!(
            "{}/{} in namespace {:?}: ignored, MetalLB reads metallb.io objects only in {namespace:?}",
            self.kind, self.name, self.namespace
        )
    }

    /// The Warning Event on the object.
    pub fn notice(&self, namespace: &str) -> Notice {
        // Every configuration kind's webhook checks the namespace on create;
        // the BGPPeer one admits a disableMP peer before it looks.
        let unless = match self.kind.as_str() {
            "BGPPeer" => " unless it set the deprecated spec.disableMP",
            _ => "",
        };
        Notice {
            warning: true,
            reason: REASON_IGNORED,
            action: "Validate",
            note: format!(
                "ignored: MetalLB reads metallb.io objects only in namespace {namespace:?}, so this {} in {:?} \
                 is not part of the configuration, and MetalLB's webhook would refuse to create it there{unless} \
                 (expected it in {namespace:?})",
                self.kind, self.namespace
            ),
        }
    }
}

/// Whether `namespace` is being deleted: the API server refuses any new
/// object there, an Event included, and its objects are about to go.
pub fn closing(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// The misplaced objects found so far, by kind; a kind not listed yet (or
/// whose list is refused) is absent, as if it had none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    by_kind: BTreeMap<String, BTreeSet<Misplaced>>,
}

impl Found {
    /// Replaces what is known of `kind` with `objects`; whether it changed.
    pub fn set(&mut self, kind: &str, objects: BTreeSet<Misplaced>) -> bool {
        if self.by_kind.get(kind) == Some(&objects) {
            return false;
        }
        self.by_kind.insert(kind.to_owned(), objects);
        true
    }

    /// Every misplaced object of every kind, in order.
    pub fn all(&self) -> BTreeSet<Misplaced> {
        self.by_kind.values().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: namespace.map(Into::into),
            uid: Some(format!("uid-{name}")),
            ..ObjectMeta::default()
        }
    }

    fn pool(namespace: &str, name: &str) -> Misplaced {
        Misplaced::outside(
            "IPAddressPool",
            "metallb.io/v1beta1",
            &meta(Some(namespace), name),
            "metallb-system",
        )
        .expect("misplaced")
    }

    #[test]
    fn only_an_object_in_another_namespace_is_misplaced() {
        let outside =
            |ns| Misplaced::outside("IPAddressPool", "metallb.io/v1beta1", &meta(ns, "a"), "metallb-system");
        assert_eq!(outside(Some("metallb-system")), None);
        assert_eq!(outside(None), None, "no namespace: not a namespaced object as the API server serves it");
        let stray = outside(Some("default")).expect("misplaced");
        assert_eq!((stray.namespace.as_str(), stray.name.as_str()), ("default", "a"));
        let reference = stray.reference();
        assert_eq!(reference.kind.as_deref(), Some("IPAddressPool"));
        assert_eq!(reference.api_version.as_deref(), Some("metallb.io/v1beta1"));
        assert_eq!(reference.namespace.as_deref(), Some("default"), "the Event goes to its namespace");
        assert_eq!(reference.uid.as_deref(), Some("uid-a"));
    }

    #[test]
    fn the_event_says_what_metallb_reads_and_what_its_webhook_refuses() {
        let notice = pool("default", "stray").notice("metallb-system");
        assert!(notice.warning);
        assert_eq!(notice.reason, "IgnoredOutsideNamespace");
        assert_eq!(
            notice.note,
            "ignored: MetalLB reads metallb.io objects only in namespace \"metallb-system\", so this \
             IPAddressPool in \"default\" is not part of the configuration, and MetalLB's webhook would refuse \
             to create it there (expected it in \"metallb-system\")"
        );
        let peer =
            Misplaced::outside("BGPPeer", "metallb.io/v1beta2", &meta(Some("x"), "p"), "metallb-system");
        let note = peer.expect("misplaced").notice("metallb-system").note;
        assert!(
            note.contains("refuse to create it there unless it set the deprecated spec.disableMP"),
            "{note}"
        );
        assert_eq!(
            pool("default", "stray").line("metallb-system"),
            "IPAddressPool/stray in namespace \"default\": ignored, MetalLB reads metallb.io objects only in \
             \"metallb-system\""
        );
    }

    #[test]
    fn a_namespace_being_deleted_is_closing() {
        let namespace = |phase: &str| -> Namespace {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}, "status": {"phase": phase}}))
                .unwrap()
        };
        assert!(!closing(&namespace("Active")));
        assert!(closing(&namespace("Terminating")));
        let mut deleted = namespace("Active");
        let now = k8s_openapi::jiff::Timestamp::from_second(1).unwrap();
        deleted.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
        assert!(closing(&deleted), "deleted, its phase not written yet");
    }

    #[test]
    fn found_objects_are_replaced_per_kind_and_a_same_list_is_no_change() {
        let mut found = Found::default();
        assert!(found.all().is_empty());
        assert!(found.set("IPAddressPool", BTreeSet::from([pool("default", "a")])));
        assert!(!found.set("IPAddressPool", BTreeSet::from([pool("default", "a")])), "the same list");
        let peer =
            Misplaced::outside("BGPPeer", "metallb.io/v1beta2", &meta(Some("x"), "p"), "metallb-system");
        assert!(found.set("BGPPeer", peer.into_iter().collect()));
        assert_eq!(found.all().len(), 2);
        assert!(found.set("IPAddressPool", BTreeSet::new()), "deleted");
        assert_eq!(found.all().iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["BGPPeer"]);
    }
}
