//! Which Services IPAM looks at, and in what order it lists them.

use ferrolb_api::service::LbService;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::fixtures::*;
use crate::{Assignments, Options, allocate};

#[test]
fn only_load_balancer_services_are_listed() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![
            lb_service("ns", "cluster-ip").type_("ClusterIP"),
            lb_service("ns", "node-port").type_("NodePort"),
            lb_service("ns", "lb"),
        ],
    );
    let names: Vec<_> = run(&snap).services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["lb"]);
}

#[test]
fn services_of_a_class_are_ignored_when_no_class_is_served() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("ns", "classless"), lb_service("ns", "other").class("example.com/other")],
    );
    let names: Vec<_> = run(&snap).services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["classless"]);
}

#[test]
fn with_a_class_only_services_of_that_class_are_handled() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![
            lb_service("ns", "classless"),
            lb_service("ns", "mine").class("ferrolb.io/lb"),
            lb_service("ns", "other").class("example.com/other"),
        ],
    );
    let options = Options { lb_class: Some("ferrolb.io/lb".into()) };
    let result = allocate(&config(&snap), &snap, &Assignments::new(), &options);
    let names: Vec<_> = result.services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["mine"]);
    assert_eq!(ips_of(&result, "ns", "mine"), ["192.0.2.0"]);
}

#[test]
fn outcomes_are_sorted_by_namespace_then_name() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("b", "a"), lb_service("a", "z"), lb_service("a", "b")],
    );
    let keys: Vec<_> = run(&snap).services.iter().map(|s| format!("{}/{}", s.namespace, s.name)).collect();
    assert_eq!(keys, ["a/b", "a/z", "b/a"]);
}

#[test]
fn new_services_are_allocated_in_namespace_then_name_order() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("b", "a"), lb_service("a", "z"), lb_service("a", "b")],
    );
    let result = run(&snap);
    assert_eq!(ips_of(&result, "a", "b"), ["192.0.2.0"]);
    assert_eq!(ips_of(&result, "a", "z"), ["192.0.2.1"]);
    assert_eq!(ips_of(&result, "b", "a"), ["192.0.2.2"]);
}

#[test]
fn service_without_namespace_is_in_default() {
    let mut snap = snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("x", "web")]);
    snap.services[0].object.namespace = "".into();
    assert_eq!(ips_of(&run(&snap), "default", "web"), ["192.0.2.0"]);
}

#[test]
fn duplicate_service_counts_once() {
    let snap = snapshot(
        vec![pool("p", &["192.0.2.0/28"])],
        vec![lb_service("ns", "web").tcp(80), lb_service("ns", "web").tcp(443)],
    );
    let result = run(&snap);
    assert_eq!(result.services.len(), 1);
    assert_eq!(ips_of(&result, "ns", "web"), ["192.0.2.0"]);
}

#[test]
fn service_without_spec_is_ignored() {
    let mut snap = snapshot(vec![pool("p", &["192.0.2.0/28"])], vec![lb_service("ns", "web")]);
    snap.services[0].object = LbService::from(Service {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            ..ObjectMeta::default()
        },
        ..Service::default()
    });
    assert!(run(&snap).services.is_empty());
}
