//! What the audit log of the whole run says about `deploy/rbac.yaml`: no
//! request of ferrolb's components was refused, and every rule granted was
//! used by the account it was granted to.

use serde_json::Value;

use ferrolb_lab::k8s::audit::{AuditEvent, service_account_user};

use crate::support::{Cluster, NAMESPACE, deploy_dir};

/// One permission: a verb on a resource (`services/status`) of an API group,
/// limited to some names or not.
#[derive(Debug)]
struct Permission {
    account: String,
    group: String,
    resource: String,
    verb: String,
    names: Vec<String>,
    /// Where it is granted: `ClusterRole/NAME` or `Role/NAME`.
    granted_by: String,
}

impl Permission {
    fn used_by(&self, event: &AuditEvent) -> bool {
        let Some(object) = &event.object_ref else { return false };
        event.user.username == service_account_user(NAMESPACE, &self.account)
            && event.verb == self.verb
            && object.api_group == self.group
            && event.is_about(&self.resource)
            && (self.names.is_empty() || self.names.contains(&object.name))
    }
}

/// Every permission `deploy/rbac.yaml` grants to a ServiceAccount, through its bindings.
fn permissions() -> Vec<Permission> {
    let text = std::fs::read_to_string(deploy_dir().join("rbac.yaml")).expect("deploy/rbac.yaml");
    let (documents, error) = ferrolb_api::yaml::parse_documents(&text);
    assert_eq!(error, None);
    let objects: Vec<Value> = documents
        .iter()
        .map(|d| ferrolb_api::yaml::de::from_node::<Value>(d, &[]).expect("YAML").0)
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
    };
    let mut permissions = Vec::new();
    for binding in objects.iter().filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
        let role_name = &binding["roleRef"]["name"];
        let role = objects
            .iter()
            .find(|o| o["kind"] == role_kind && o["metadata"]["name"] == *role_name)
            .unwrap_or_else(|| panic!("no {role_kind} {role_name}"));
        for subject in binding["subjects"].as_array().into_iter().flatten() {
            let account = subject["name"].as_str().unwrap_or_default();
            for rule in role["rules"].as_array().into_iter().flatten() {
                for group in strings(&rule["apiGroups"]) {
                    for resource in strings(&rule["resources"]) {
                        for verb in strings(&rule["verbs"]) {
                            permissions.push(Permission {
                                account: account.to_owned(),
                                group: group.clone(),
                                resource: resource.clone(),
                                verb,
                                names: strings(&rule["resourceNames"]),
                                granted_by: format!("{role_kind}/{}", role_name.as_str().unwrap_or_default()),
                            });
                        }
                    }
                }
            }
        }
    }
    permissions
}

/// Checked on the audit log of every test before it: each component that
/// ran was never refused (but while the API server was starting, when it
/// refuses what its RBAC caches do not hold yet), and used every permission
/// of its account.
pub fn no_request_was_refused_and_every_rule_was_used(cluster: &Cluster) {
    let events = cluster.audit();
    let permissions = permissions();
    let mut accounts: Vec<&str> = permissions.iter().map(|p| p.account.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let mut checked = 0;
    let mut problems = Vec::new();
    for account in accounts {
        let user = service_account_user(NAMESPACE, account);
        let made: Vec<&AuditEvent> = events.iter().filter(|e| e.user.username == user).collect();
        if made.is_empty() {
            // Only the accounts whose components ran in this run (the speaker's
            // run in namespaces, as root) can be judged.
            println!("    {account}: no request in this run, not checked");
            continue;
        }
        checked += 1;
        let plane = cluster.plane();
        let refused: Vec<String> = made
            .iter()
            .filter(|e| e.code() == 401 || e.code() == 403)
            .filter(|e| !e.at().is_some_and(|at| plane.was_starting(at)))
            .map(|e| format!("{} {} ({})", e.verb, e.request_uri, e.code()))
            .collect();
        drop(plane);
        if !refused.is_empty() {
            problems.push(format!("{account} was refused:\n  {}", refused.join("\n  ")));
        }
        let unused: Vec<String> = permissions
            .iter()
            .filter(|p| p.account == account && !made.iter().any(|e| p.used_by(e)))
            .map(|p| {
                format!("{} {}/{} {:?} (granted by {})", p.verb, p.group, p.resource, p.names, p.granted_by)
            })
            .collect();
        if !unused.is_empty() {
            problems.push(format!("{account} never used:\n  {}", unused.join("\n  ")));
        }
        println!("    {account}: {} requests", made.len());
    }
    assert!(checked > 0, "no component of ferrolb made a request in this run");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
