//! `ferrolb controller` as ServiceAccount `ferrolb-controller` (deploy/rbac.yaml):
//! addresses for Services created with kubectl, one status write each, and
//! what a real API server does that the fake of `crates/k8s/tests` does not.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ferrolb_lab::k8s::ApiRelay;
use serde_json::Value;

use crate::metallb::FerrolbCrdsBack;
use crate::support::{Cleanup, Cluster, NAMESPACE, ingress, services, status_writes, wait_for};

/// IPv6 Services: no IPv4 documentation range holds a thousand addresses.
const IPV6: &str = "  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]\n";

/// A pool in ferrolb's namespace, removed when `cleanup` runs.
fn pool(cluster: &Cluster, cleanup: &mut Cleanup, name: &str, addresses: &str) {
    let yaml = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n\
         spec:\n  addresses: [{addresses}]\n  serviceAllocation:\n    namespaces: [{name}]\n"
    );
    cleanup.delete(&["-n", NAMESPACE, "ipaddresspool", name]);
    cluster.try_apply(&yaml).unwrap_or_else(|e| panic!("{e}"));
}

/// The Services of `namespace` with an address, and whether all addresses differ.
fn assigned(cluster: &Cluster, namespace: &str) -> (usize, bool) {
    let ingress = ingress(cluster, namespace);
    let ips: Vec<&String> = ingress.values().flatten().collect();
    let unique: HashSet<&&String> = ips.iter().collect();
    (ingress.values().filter(|ips| !ips.is_empty()).count(), unique.len() == ips.len())
}

/// A thousand Services created with kubectl all get an address in their
/// status, each with exactly one write; a controller started again over
/// the same cluster writes nothing.
pub fn assigns_a_thousand_services_with_one_write_each(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("thousand");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:1000::/116");
    let mut controller = cluster.controller("controller-thousand", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));

    let started = Instant::now();
    cluster.create(&services(&namespace, "web", 1000, IPV6));
    wait_for("1000 Services with an address", Duration::from_secs(180), || {
        assigned(cluster, &namespace).0 == 1000
    });
    println!("    1000 Services created and assigned in {:.1?}", started.elapsed());
    assert!(assigned(cluster, &namespace).1, "two Services share an address");
    // The writes of the last snapshot are all answered once every Service shows one.
    let writes = status_writes(&cluster.audit(), "ferrolb-controller", &namespace);
    assert_eq!(writes.len(), 1000, "Services written");
    let repeated: Vec<(&String, &usize)> = writes.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "Services written more than once: {repeated:?}");

    drop(controller);
    let before = ingress(cluster, &namespace);
    let seen = cluster.audit().len();
    let mut again = cluster.controller("controller-thousand-again", &["--no-leader-election"]);
    again.wait_for_log(&["allocated", "writes=0"], Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<_> = cluster.audit().split_off(seen);
    let writes = status_writes(&after, "ferrolb-controller", &namespace);
    assert!(writes.is_empty(), "a restarted controller wrote {} Services: {writes:?}", writes.len());
    assert_eq!(ingress(cluster, &namespace), before, "addresses moved");
}

/// The API server killed while the controller writes, and started again:
/// the watches list again and every Service gets an address, the ones it
/// had kept.
pub fn converges_when_the_api_server_restarts(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("restart");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:2000::/116");
    let mut controller = cluster.controller("controller-restart", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));

    cluster.create(&services(&namespace, "first", 300, IPV6));
    // Killed mid-run: some of the 300 are written, some not.
    wait_for("some Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 > 0
    });
    cluster.plane().kill_apiserver();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    cluster.plane().start_apiserver().unwrap_or_else(|e| panic!("{e}"));
    println!("    API server down for {:.1?}", down.elapsed());
    let kept: HashMap<String, Vec<String>> =
        ingress(cluster, &namespace).into_iter().filter(|(_, ips)| !ips.is_empty()).collect();
    cluster.create(&services(&namespace, "second", 100, IPV6));
    wait_for("400 Services with an address", Duration::from_secs(180), || {
        assigned(cluster, &namespace).0 == 400
    });
    assert!(assigned(cluster, &namespace).1, "two Services share an address");
    let now = ingress(cluster, &namespace);
    for (service, ips) in &kept {
        assert_eq!(&now[service], ips, "{service} moved");
    }
    assert!(controller.count_log(&["watch failed"]) > 0, "the watches never saw the API server go");
}

/// Two controllers with leader election: one writes, the other waits;
/// killed, the leader is replaced within the Lease's duration, and the
/// two never write at the same time.
pub fn one_of_two_leads_and_the_other_takes_over(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("lease");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    cleanup.delete(&["-n", NAMESPACE, "lease", "ferrolb-controller"]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:3000::/116");
    let mut first = cluster.controller("controller-one", &[]);
    first.wait_for_log(&["leading"], Duration::from_secs(30));
    let mut second = cluster.controller("controller-two", &[]);
    cluster.create(&services(&namespace, "before", 20, IPV6));
    wait_for("20 Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 20
    });
    assert_eq!(second.count_log(&["leading"]), 0, "two leaders");

    first.process.kill();
    let killed = Instant::now();
    cluster.create(&services(&namespace, "after", 20, IPV6));
    second.wait_for_log(&["leading"], Duration::from_secs(60));
    let takeover = killed.elapsed();
    println!("    the second controller leads {takeover:.1?} after the first was killed (Lease: 15 s)");
    wait_for("40 Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 40
    });

    // By credential: each controller's own token. Every write of the second
    // comes after the last of the first.
    let events = cluster.audit();
    let writes_by = |credential: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| {
                e.is_write() && e.user.credential() == Some(credential) && (200..300).contains(&e.code())
            })
            .map(|e| e.stage_timestamp.clone())
            .collect()
    };
    let (one, two) = (writes_by(&first.credential), writes_by(&second.credential));
    assert!(!one.is_empty() && !two.is_empty(), "both wrote: {} and {}", one.len(), two.len());
    let last_of_first = one.iter().max().unwrap();
    let first_of_second = two.iter().min().unwrap();
    assert!(
        last_of_first < first_of_second,
        "the second wrote at {first_of_second}, before the first's last write at {last_of_first}"
    );
}

/// A watch that resumes from a compacted revision is answered 410 Gone: the
/// watchers list again, and no Service is written a second time.
pub fn a_compacted_watch_lists_again_without_a_second_write(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("compacted");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:4000::/116");
    let mut controller = cluster.controller("controller-compacted", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    cluster.create(&services(&namespace, "before", 50, IPV6));
    wait_for("50 Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 50
    });

    // Revisions the watchers have not seen, then compacted away; the API
    // server restarted, so every watch must resume from its last revision.
    cluster.create(&services(&namespace, "churn", 20, "  type: ClusterIP\n"));
    cluster.kubectl(&[
        "delete",
        "services",
        "-n",
        &namespace,
        "-l",
        "!nothing",
        "--field-selector",
        "spec.type=ClusterIP",
    ]);
    let revision = cluster.plane().compact().unwrap_or_else(|e| panic!("{e}"));
    let seen = cluster.audit().len();
    cluster.plane().kill_apiserver();
    cluster.plane().start_apiserver().unwrap_or_else(|e| panic!("{e}"));
    println!("    etcd compacted at revision {revision}, API server restarted");
    controller.wait_for_log(&["too old resource version"], Duration::from_secs(60));

    cluster.create(&services(&namespace, "after", 1, IPV6));
    wait_for("51 Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 51
    });
    let after: Vec<_> = cluster.audit().split_off(seen);
    let listed = after.iter().any(|e| {
        e.verb == "list"
            && e.is_about("services")
            && e.user.credential() == Some(controller.credential.as_str())
    });
    assert!(listed, "the controller did not list the Services again");
    let writes = status_writes(&after, "ferrolb-controller", &namespace);
    assert_eq!(
        writes.keys().collect::<Vec<_>>(),
        ["after-0000"],
        "only the new Service is written: {writes:?}"
    );
}

/// A status write the API server refuses for what it holds (422, here by a
/// ValidatingAdmissionPolicy) is one Event and one log line, not a loop;
/// the other Services are written.
pub fn a_refused_status_write_is_one_event_not_a_loop(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("refused");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:5000::/116");
    let policy = format!("refuse-status-{namespace}");
    cleanup.delete(&["validatingadmissionpolicy,validatingadmissionpolicybinding", &policy]);
    cluster
        .try_apply(&format!(
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {policy}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {{apiGroups: [\"\"], apiVersions: [v1], operations: [UPDATE], resources: [services/status]}}
  validations:
  - expression: \"object.metadata.name != 'refused'\"
    message: the test refuses this Service's status
    reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {policy}}}
spec:
  policyName: {policy}
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {namespace}}}}}
"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    // The API server loads a policy a moment after it is created: until a
    // write of this Service's status is refused, the controller waits. The
    // probe is a server-side dry run: admitted or not, it stores nothing.
    cluster.create(&services(&namespace, "refused", 1, IPV6).replace("refused-0000", "refused"));
    let probe = r#"{"status":{"loadBalancer":{"ingress":[{"ip":"2001:db8:5000::ff"}]}}}"#;
    wait_for("the policy in force", Duration::from_secs(30), || {
        let patch = [
            "patch",
            "service",
            "refused",
            "-n",
            &namespace,
            "--subresource=status",
            "--type=merge",
            "--dry-run=server",
            "-p",
            probe,
        ];
        cluster
            .plane()
            .kubectl(&patch)
            .is_err_and(|e| e.to_string().contains("the test refuses this Service's status"))
    });
    let mut controller = cluster.controller("controller-refused", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    cluster.create(&services(&namespace, "fine", 3, IPV6));
    controller.wait_for("the three other Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 3
    });
    controller.wait_for_log(&["status write refused"], Duration::from_secs(30));
    // Three retry periods (5 s each) later, still one attempt.
    std::thread::sleep(Duration::from_secs(16));
    let attempts = cluster
        .audit()
        .iter()
        .filter(|e| e.is_about("services/status") && e.object() == format!("{namespace}/refused"))
        .filter(|e| e.user.credential() == Some(controller.credential.as_str()))
        .map(|e| e.code())
        .collect::<Vec<_>>();
    assert_eq!(attempts, [422], "the refused write was sent again");
    assert_eq!(controller.count_log(&["status write refused"]), 1, "logged more than once");
    let events = cluster.kubectl_json(&[
        "get",
        "events.events.k8s.io",
        "-n",
        &namespace,
        "--field-selector",
        "regarding.name=refused",
    ]);
    let refused: Vec<&Value> =
        events["items"].as_array().into_iter().flatten().filter(|e| e["reason"] == "StatusRefused").collect();
    assert_eq!(refused.len(), 1, "one StatusRefused Event: {events}");
    assert!(
        refused[0]["note"].as_str().is_some_and(|n| n.contains("the test refuses this Service's status")),
        "{}",
        refused[0]
    );
}

/// A Lease renewal answered 409 Conflict (the Lease annotated between the
/// controller's read and its write, which a slow link to the API server
/// makes likely) is read again and renewed on what the API server holds
/// now: the controller keeps leading and keeps assigning.
pub fn a_conflicting_lease_write_is_read_again_and_the_lead_kept(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("conflict");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    cleanup.delete(&["-n", NAMESPACE, "lease", "ferrolb-controller"]);
    cluster
        .plane()
        .kubectl(&["delete", "--ignore-not-found", "-n", NAMESPACE, "lease", "ferrolb-controller"])
        .ok();
    pool(cluster, &mut cleanup, &namespace, "2001:db8:6000::/116");
    let port = cluster.plane().port();
    let (_relay, slow_port) =
        ApiRelay::with_latency(port, Duration::from_millis(400)).unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = cluster.service_account("ferrolb-controller");
    let slow = kubeconfig.with_extension("slow");
    let text = std::fs::read_to_string(&kubeconfig).expect("the kubeconfig");
    let pointed = text.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{slow_port}"));
    assert_ne!(pointed, text, "the kubeconfig names no 127.0.0.1:{port}");
    std::fs::write(&slow, pointed).expect("the slow kubeconfig written");
    let mut controller = cluster.controller_with(&slow, "controller-conflict", &[]);
    controller.wait_for_log(&["leading=true"], Duration::from_secs(60));

    // Annotated again and again until one renewal is refused.
    let credential = controller.credential.clone();
    let lease_updates = |code: u16| -> Vec<String> {
        cluster
            .audit()
            .iter()
            .filter(|e| e.is_about("leases") && e.verb == "update" && e.code() == code)
            .filter(|e| e.user.credential() == Some(credential.as_str()))
            .map(|e| e.stage_timestamp.clone())
            .collect()
    };
    let mut annotations = 0;
    wait_for("a lease renewal answered 409", Duration::from_secs(120), || {
        annotations += 1;
        let stamp = format!("ferrolb.io/test-stamp={annotations}");
        cluster.kubectl(&["annotate", "--overwrite", "-n", NAMESPACE, "lease", "ferrolb-controller", &stamp]);
        !lease_updates(409).is_empty()
    });
    println!("    a renewal refused 409 after {annotations} annotations");
    controller.wait_for_log(&["lease written since read"], Duration::from_secs(10));

    // Renewed since, never stopped leading, still assigning.
    let conflict = lease_updates(409).into_iter().max().expect("a conflict");
    wait_for("a renewal after the conflict", Duration::from_secs(30), || {
        lease_updates(200).iter().any(|at| *at > conflict)
    });
    cluster.create(&services(&namespace, "after", 3, IPV6));
    controller.wait_for("three Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 3
    });
    assert_eq!(controller.count_log(&["leading=false"]), 0, "the controller stopped leading on a conflict");
    let lease = cluster.kubectl_json(&["get", "-n", NAMESPACE, "lease", "ferrolb-controller"]);
    assert_eq!(lease["spec"]["holderIdentity"], "controller-conflict", "{lease}");
    assert_eq!(lease["spec"]["leaseTransitions"], 0, "a renewal, not a takeover: {lease}");
}

/// A configuration whose objects the API server accepts one by one but
/// which is invalid as a whole (two pools that overlap) is reported in the
/// controller's ConfigurationState and as a Warning Event, once; the last
/// valid configuration keeps running (addresses kept, a new Service served
/// from it); removing the culprit makes it valid again.
pub fn an_invalid_configuration_is_reported_and_the_last_good_one_kept(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("lastgood");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:7000::/120");
    let mut controller = cluster.controller("controller-lastgood", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    cluster.create(&services(&namespace, "before", 2, IPV6));
    controller.wait_for("two Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 2
    });
    let before = ingress(cluster, &namespace);

    let overlap = format!("{namespace}-overlap");
    pool(cluster, &mut cleanup, &overlap, "2001:db8:7000::80/121");
    let state = || {
        cluster.kubectl_json(&["get", "configurationstates", "-n", NAMESPACE, "controller"])["status"].clone()
    };
    controller.wait_for("the configuration reported invalid", Duration::from_secs(30), || {
        state()["result"] == "Invalid"
    });
    let reported = state().to_string();
    assert!(
        reported.contains(&overlap) && reported.contains("overlap"),
        "the verdict names the pools: {reported}"
    );
    let logged = controller.count_log(&["invalid configuration, not applied"]);
    assert!(logged > 0, "the error was not logged");
    cluster.create(&services(&namespace, "during", 1, IPV6));
    controller.wait_for(
        "a new Service served by the last valid configuration",
        Duration::from_secs(60),
        || assigned(cluster, &namespace).0 == 3,
    );
    let during = ingress(cluster, &namespace);
    for (service, ips) in &before {
        assert_eq!(&during[service], ips, "{service} moved while the configuration was invalid");
    }
    let warnings = |reason: &str| {
        let events = cluster.kubectl_json(&["get", "events.events.k8s.io", "-n", NAMESPACE]);
        events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason && e["note"].as_str().is_some_and(|n| n.contains(&overlap)))
            .count()
    };
    assert_eq!(warnings("ConfigurationError"), 1, "one Warning Event for the error");

    cluster.kubectl(&["delete", "-n", NAMESPACE, "ipaddresspool", &overlap]);
    controller
        .wait_for("the configuration valid again", Duration::from_secs(30), || state()["result"] == "Valid");
    assert_eq!(warnings("ConfigurationError"), 1, "the error was published again");
    let again = controller.count_log(&["invalid configuration, not applied"]);
    assert_eq!(again, logged, "the error was logged again at the next snapshots");
}

/// Under an IPAddressPool CRD older than ferrolb's (its status without
/// `assignedIPv6`, which the API server would prune without a word), the
/// pool's status write is refused instead (strict field validation): a
/// Warning Event on the pool and a log line per refused status, and no
/// second attempt while the counts stay the same.
pub fn a_pool_status_the_crd_would_prune_is_one_event_not_a_loop(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("pruned");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    let _back = FerrolbCrdsBack(cluster);
    let crd = ferrolb_api::crds::all().into_iter().find(|c| c.spec.names.kind == "IPAddressPool");
    let mut crd = serde_json::to_value(crd.expect("the IPAddressPool CRD")).expect("a CRD serializes");
    for version in crd["spec"]["versions"].as_array_mut().into_iter().flatten() {
        let status = &mut version["schema"]["openAPIV3Schema"]["properties"]["status"];
        status["properties"].as_object_mut().expect("status properties").remove("assignedIPv6");
        if let Some(required) = status["required"].as_array_mut() {
            required.retain(|r| r != "assignedIPv6");
        }
    }
    cluster.try_apply(&crd.to_string()).unwrap_or_else(|e| panic!("{e}"));
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ipaddresspools.metallb.io",
    ]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:8000::/120");
    let mut controller = cluster.controller("controller-pruned", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    cluster.create(&services(&namespace, "web", 2, IPV6));
    controller.wait_for("two Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 2
    });
    controller.wait_for_log(&["pool status write refused"], Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let attempts = || -> Vec<u16> {
        cluster
            .audit()
            .iter()
            .filter(|e| {
                e.is_about("ipaddresspools/status") && e.object() == format!("{NAMESPACE}/{namespace}")
            })
            .filter(|e| e.user.credential() == Some(controller.credential.as_str()))
            .map(|e| e.code())
            .collect()
    };
    let refused = attempts();
    assert!(!refused.is_empty() && refused.iter().all(|c| (400..500).contains(c)), "{refused:?}");

    // Snapshots with the same counts (a Service annotated), past the retry period.
    for stamp in 0..3 {
        let stamp = format!("ferrolb.io/test-stamp={stamp}");
        cluster.kubectl(&["annotate", "--overwrite", "service", "-n", &namespace, "web-0000", &stamp]);
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(attempts(), refused, "the refused pool status was sent again");
    assert_eq!(
        controller.count_log(&["pool status write refused"]),
        refused.len(),
        "one log line per refusal"
    );
    let events = cluster.kubectl_json(&[
        "get",
        "events.events.k8s.io",
        "-n",
        NAMESPACE,
        "--field-selector",
        &format!("regarding.name={namespace}"),
    ]);
    let warnings: Vec<&Value> =
        events["items"].as_array().into_iter().flatten().filter(|e| e["reason"] == "StatusRefused").collect();
    assert_eq!(warnings.len(), refused.len(), "one Event per refusal: {events}");
    assert!(warnings[0]["note"].as_str().is_some_and(|n| n.contains("assignedIPv6")), "{}", warnings[0]);
}

/// An IPAddressPool outside metallb-system, as ferrolb (which has no
/// webhook) lets one be created: MetalLB would ignore it, and so does the
/// controller, saying so: one Warning Event on the pool, a condition of its
/// ConfigurationState while the pool exists, the result Valid (its range
/// overlaps the real pool's, which would be a configuration error were it
/// read) and no Service moved or served from it.
pub fn a_pool_outside_the_namespace_is_ignored_with_an_event_and_a_reason(cluster: &Cluster) {
    let mut cleanup = Cleanup::new(cluster);
    let namespace = cluster.namespace("misplaced");
    cleanup.delete(&["services", "--all", "-n", &namespace]);
    pool(cluster, &mut cleanup, &namespace, "2001:db8:9000::/120");
    let mut controller = cluster.controller("controller-misplaced", &["--no-leader-election"]);
    controller.wait_for_log(&["leading"], Duration::from_secs(30));
    cluster.create(&services(&namespace, "before", 2, IPV6));
    controller.wait_for("two Services with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 2
    });
    let before = ingress(cluster, &namespace);

    cleanup.delete(&["-n", &namespace, "ipaddresspool", "stray"]);
    cluster
        .try_apply(&format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: stray\n  namespace: {namespace}\n\
             spec:\n  addresses: [2001:db8:9000::/120, 2001:db8:9100::/120]\n  serviceAllocation:\n    \
             priority: 1\n    namespaces: [{namespace}]\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let state = || {
        cluster.kubectl_json(&["get", "configurationstates", "-n", NAMESPACE, "controller"])["status"].clone()
    };
    // Other tests leave objects in namespaces of their own (deleted, but
    // Terminating for good: this control plane runs no namespace
    // controller), which the condition lists too: this pool's line is looked for.
    let line = format!(
        "IPAddressPool/stray in namespace \"{namespace}\": ignored, MetalLB reads metallb.io objects only in \
         \"{NAMESPACE}\""
    );
    let ignored = || {
        let conditions = state()["conditions"].as_array().cloned().unwrap_or_default();
        conditions.into_iter().find(|c| c["reason"] == "IgnoredOutsideNamespace")
    };
    let listed =
        || ignored().is_some_and(|c| c["message"].as_str().is_some_and(|m| m.lines().any(|l| l == line)));
    controller.wait_for("the pool reported ignored", Duration::from_secs(30), listed);
    let condition = ignored().unwrap();
    assert_eq!(condition["type"], "namespaceValid", "{condition}");
    assert_eq!(condition["status"], "False", "{condition}");
    let status = state();
    assert_eq!(status["result"], "Valid", "ignored, not an error: {status}");
    assert!(status.get("errorSummary").is_none(), "{status}");

    let events = || {
        let list = cluster.kubectl_json(&[
            "get",
            "events.events.k8s.io",
            "-n",
            &namespace,
            "--field-selector",
            "regarding.name=stray",
        ]);
        list["items"].as_array().cloned().unwrap_or_default()
    };
    controller.wait_for("the Event on the pool", Duration::from_secs(30), || !events().is_empty());
    let event = &events()[0];
    assert_eq!(event["type"], "Warning", "{event}");
    assert_eq!(event["reason"], "IgnoredOutsideNamespace", "{event}");
    assert_eq!(event["regarding"]["kind"], "IPAddressPool", "{event}");
    let uid =
        cluster.kubectl_json(&["get", "-n", &namespace, "ipaddresspool", "stray"])["metadata"]["uid"].clone();
    assert_eq!(event["regarding"]["uid"], uid, "kubectl describe shows it with the pool: {event}");
    let note = event["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!("only in namespace \"{NAMESPACE}\"")) && note.contains("webhook would refuse"),
        "{note}"
    );

    // Served as before: a new Service gets an address of the real pool, not
    // of the stray one that asks for priority; nobody moved.
    cluster.create(&services(&namespace, "after", 1, IPV6));
    controller.wait_for("the new Service with an address", Duration::from_secs(60), || {
        assigned(cluster, &namespace).0 == 3
    });
    let now = ingress(cluster, &namespace);
    for (service, ips) in &before {
        assert_eq!(&now[service], ips, "{service} moved");
    }
    let new = &now["after-0000"];
    assert!(
        new.iter().all(|ip| ip.starts_with("2001:db8:9000::")),
        "served from the real pool only: {new:?}"
    );
    // Snapshots again (a Service annotated), and time for a resync: still one Event.
    cluster.kubectl(&[
        "annotate",
        "--overwrite",
        "service",
        "-n",
        &namespace,
        "before-0000",
        "ferrolb.io/test-stamp=1",
    ]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(events().len(), 1, "one Event per object: {:?}", events());

    cluster.kubectl(&["delete", "-n", &namespace, "ipaddresspool", "stray"]);
    controller.wait_for("the reason gone with the pool", Duration::from_secs(30), || !listed());
    assert_eq!(state()["result"], "Valid");
    let stray_writes: Vec<String> = cluster
        .audit()
        .iter()
        .filter(|e| e.user.credential() == Some(controller.credential.as_str()) && e.is_write())
        .filter(|e| e.object() == format!("{namespace}/stray"))
        .map(|e| format!("{} {}", e.verb, e.request_uri))
        .collect();
    assert!(stray_writes.is_empty(), "the controller wrote the ignored pool: {stray_writes:?}");
}
