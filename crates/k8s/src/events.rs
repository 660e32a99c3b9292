//! Events (`events.k8s.io/v1`), each created once and forgotten.
//!
//! kube's `Recorder` keeps every Event it published, to patch a series
//! when the same one comes again; with ten thousand Services that cache
//! alone held tens of MiB. ferrolb only publishes an Event when something
//! changed (a write done, a new warning), so a repeat is rare and needs no
//! series: each Event is one POST and nothing is kept.

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// The longest note the API server takes (`events.k8s.io/v1`: 1 kB).
pub const NOTE_LIMIT: usize = 1024;

/// What an Event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The reason, one word (`IPAllocated`).
    pub reason: &'static str,
    /// What ferrolb was doing (`Allocate`, `Announce`, `Validate`).
    pub action: &'static str,
    /// The message.
    pub note: String,
}

/// Publishes Events as one component.
pub struct Publisher {
    client: Client,
    /// The reporting controller (`ferrolb-controller`).
    controller: String,
    /// The reporting instance (the pod or node name).
    instance: String,
    /// The last timestamp used in a name, so that two Events about one
    /// object in the same nanosecond still get two names.
    last_nanos: AtomicU64,
}

impl Publisher {
    /// Publishes as `controller`, instance `instance` (the controller's
    /// name when `None`).
    pub fn new(client: Client, controller: &str, instance: Option<&str>) -> Publisher {
        Publisher {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or(controller).to_owned(),
            last_nanos: AtomicU64::new(0),
        }
    }

    /// Creates one Event about `regarding` (in its namespace, `default`
    /// for a cluster-scoped object).
    pub async fn publish(&self, notice: &Notice, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let event = self.event(notice, regarding, now);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        api.create(&PostParams::default(), &event).await.map(drop)
    }

    fn event(&self, notice: &Notice, regarding: &ObjectReference, now: Timestamp) -> Event {
        // Nanoseconds since 1970 fit a u64 until 2554.
        let nanos = self.unique_nanos(u64::try_from(now.as_nanosecond()).unwrap_or(0));
        let name = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{nanos:x}")),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(notice.action.to_owned()),
            reason: Some(notice.reason.to_owned()),
            note: Some(truncated(&notice.note, NOTE_LIMIT)),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(if notice.warning { "Warning" } else { "Normal" }.to_owned()),
            ..Event::default()
        }
    }

    /// `nanos`, or one more than the last one used when the clock did not
    /// move on.
    fn unique_nanos(&self, nanos: u64) -> u64 {
        let previous = self
            .last_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(nanos.max(last + 1)))
            .unwrap_or_else(|last| last);
        nanos.max(previous + 1)
    }
}

/// `text` cut to at most `limit` bytes at a character boundary, with `…`
/// at the end when cut.
pub fn truncated(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let ellipsis = '…';
    let mut end = limit - ellipsis.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_note_is_cut_to_the_limit_on_a_character_boundary() {
        let note = "é".repeat(600);
        let cut = truncated(&note, NOTE_LIMIT);
        assert!(cut.len() <= NOTE_LIMIT, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(truncated("short", NOTE_LIMIT), "short");
    }
}
