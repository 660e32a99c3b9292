//! The API server's audit log (JSON lines, one event per request at the
//! `ResponseComplete` stage): who did what to which object, and what the
//! server answered. Tests read it to count writes and find refusals.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The audit policy of a test control plane: every request at `Metadata`
/// level, once it is answered (no bodies), but the API server's own
/// loopback requests and the health probes.
pub const POLICY: &str = r#"{
  "apiVersion": "audit.k8s.io/v1",
  "kind": "Policy",
  "omitStages": ["RequestReceived", "ResponseStarted"],
  "rules": [
    {"level": "None", "users": ["system:apiserver"]},
    {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*"]},
    {"level": "Metadata"}
  ]
}"#;

/// One answered request.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditEvent {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...
    pub verb: String,
    /// The path and query asked for.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// Who asked.
    pub user: User,
    /// The object or collection asked about; `None` for non-resource URLs.
    pub object_ref: Option<ObjectRef>,
    /// What the server answered.
    pub response_status: Option<ResponseStatus>,
    /// When the answer was complete (RFC 3339 with microseconds).
    pub stage_timestamp: String,
    /// The client's User-Agent.
    pub user_agent: String,
}

/// The user of a request.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct User {
    /// `system:serviceaccount:NAMESPACE:NAME` for a ServiceAccount.
    pub username: String,
    /// What the authenticator adds, such as the token's id.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// The id of the credential used (`JTI=...` for a service-account
    /// token): two processes with tokens of one account differ here.
    pub fn credential(&self) -> Option<&str> {
        self.extra.get("authentication.kubernetes.io/credential-id")?.first().map(String::as_str)
    }
}

/// What a request was about.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectRef {
    /// The resource (plural), e.g. `services`.
    pub resource: String,
    /// The subresource, e.g. `status`; empty for the main resource.
    pub subresource: String,
    /// The namespace; empty when cluster-scoped or across namespaces.
    pub namespace: String,
    /// The object's name; empty for a collection.
    pub name: String,
    /// The API group; empty for the core group.
    pub api_group: String,
}

/// The status of an answer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ResponseStatus {
    /// The HTTP status code.
    pub code: u16,
    /// Why, for a refusal.
    pub message: String,
}

impl AuditEvent {
    /// The HTTP status of the answer (0 when none was recorded).
    pub fn code(&self) -> u16 {
        self.response_status.as_ref().map_or(0, |s| s.code)
    }

    /// Whether the request changes something (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        matches!(self.verb.as_str(), "create" | "update" | "patch" | "delete" | "deletecollection")
    }

    /// Whether it was about `resource` (`services`, or `services/status`).
    pub fn is_about(&self, resource: &str) -> bool {
        let Some(object) = &self.object_ref else { return false };
        match resource.split_once('/') {
            Some((resource, sub)) => object.resource == resource && object.subresource == sub,
            None => object.resource == resource && object.subresource.is_empty(),
        }
    }

    /// When the answer was complete.
    pub fn at(&self) -> Option<Timestamp> {
        self.stage_timestamp.parse().ok()
    }

    /// `namespace/name` of the object (or just `name`).
    pub fn object(&self) -> String {
        match &self.object_ref {
            Some(o) if o.namespace.is_empty() => o.name.clone(),
            Some(o) => format!("{}/{}", o.namespace, o.name),
            None => self.request_uri.clone(),
        }
    }
}

/// The user name a ServiceAccount's requests carry.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// An audit log read as it grows: each [`AuditTail::read_new`] gives the
/// events written since the one before.
#[derive(Debug)]
pub struct AuditTail {
    log: std::path::PathBuf,
    offset: u64,
}

impl AuditTail {
    /// Reads `log` from its current end: only events written from now on.
    pub fn from_end(log: &Path) -> AuditTail {
        let offset = std::fs::metadata(log).map_or(0, |m| m.len());
        AuditTail { log: log.to_owned(), offset }
    }

    /// The complete events written since the last call.
    pub fn read_new(&mut self) -> Result<Vec<AuditEvent>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.log).map_err(|e| Error::io("open", &self.log, e))?;
        file.seek(SeekFrom::Start(self.offset)).map_err(|e| Error::io("seek", &self.log, e))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| Error::io("read", &self.log, e))?;
        // Up to the last complete line: the rest is read next time.
        let complete = text.rfind('\n').map_or(0, |end| end + 1);
        self.offset += complete as u64;
        parse(&text[..complete])
            .map_err(|reason| Error::Parse { command: format!("audit log {}", self.log.display()), reason })
    }
}

/// Every event in `log` (an audit log file), in the order written.
pub fn read(log: &Path) -> Result<Vec<AuditEvent>> {
    let text = std::fs::read_to_string(log).map_err(|e| Error::io("read", log, e))?;
    parse(&text).map_err(|reason| Error::Parse { command: format!("audit log {}", log.display()), reason })
}

/// The events of an audit log's text; a last line still being written is left out.
fn parse(text: &str) -> std::result::Result<Vec<AuditEvent>, String> {
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped as kube-apiserver 1.37 writes them (fields ferrolb does not read left out).
    const LOG: &str = concat!(
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/t1/services/web/status","verb":"patch","user":{"username":"system:serviceaccount:metallb-system:ferrolb-controller","groups":["system:serviceaccounts"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=7f"]}},"userAgent":"kube-rs","objectRef":{"resource":"services","namespace":"t1","name":"web","apiVersion":"v1","subresource":"status"},"responseStatus":{"metadata":{},"code":200},"stageTimestamp":"2026-12-07T00:00:00.000001Z"}"#,
        "\n",
        r#"{"kind":"Event","verb":"list","requestURI":"/api/v1/secrets","user":{"username":"system:serviceaccount:metallb-system:ferrolb-controller"},"objectRef":{"resource":"secrets","apiVersion":"v1"},"responseStatus":{"code":403,"message":"forbidden"}}"#,
        "\n",
        r#"{"kind":"Event","verb":"get","requestURI":"/version""#,
    );

    #[test]
    fn events_say_who_did_what_to_which_object() {
        let events = parse(LOG).unwrap();
        assert_eq!(events.len(), 2, "the unfinished last line is left out");
        let patch = &events[0];
        assert!(patch.is_write() && patch.is_about("services/status") && !patch.is_about("services"));
        assert_eq!(patch.object(), "t1/web");
        assert_eq!(patch.user.username, service_account_user("metallb-system", "ferrolb-controller"));
        assert_eq!((patch.code(), events[1].code()), (200, 403));
        assert_eq!(patch.at(), Some("2026-12-07T00:00:00.000001Z".parse().unwrap()));
        assert_eq!(events[1].at(), None);
        assert_eq!((patch.user.credential(), events[1].user.credential()), (Some("JTI=7f"), None));
        assert!(!events[1].is_write() && events[1].is_about("secrets"));
    }

    #[test]
    fn a_tail_gives_each_complete_event_once() {
        let log = std::env::temp_dir().join(format!("flb-audit-tail-{}", std::process::id()));
        std::fs::write(&log, "{\"verb\":\"get\"}\n").unwrap();
        let mut tail = AuditTail::from_end(&log);
        assert!(tail.read_new().unwrap().is_empty(), "what was there before is not read");
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut file, b"{\"verb\":\"patch\"}\n{\"verb\":\"li").unwrap();
        assert_eq!(tail.read_new().unwrap().iter().map(|e| e.verb.as_str()).collect::<Vec<_>>(), ["patch"]);
        std::io::Write::write_all(&mut file, b"st\"}\n").unwrap();
        assert_eq!(tail.read_new().unwrap().iter().map(|e| e.verb.as_str()).collect::<Vec<_>>(), ["list"]);
        std::fs::remove_file(&log).unwrap();
    }

    #[test]
    fn a_broken_line_is_an_error_with_its_number() {
        assert_eq!(parse("{}\n{\n").unwrap_err().split(':').next(), Some("line 2"));
    }
}
