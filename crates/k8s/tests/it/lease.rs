//! Leader election against the fake API server: only the replica holding
//! the Lease writes.

use std::time::Duration;

use ferrolb_k8s::{ControllerOptions, Election, LeaseOptions};
use serde_json::{Value, json};

use crate::controller::{NS, Running, cluster, ingress};
use crate::fake::{FakeApi, objects};

/// The Lease as another replica holds it, renewed at second `renewed`.
fn held_by(holder: &str, renewed: u32) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "ferrolb-controller", "namespace": NS},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": format!("2026-01-01T00:{:02}:{:02}.000000Z", renewed / 60, renewed % 60),
            "leaseTransitions": 0
        }
    })
}

fn lease(fake: &FakeApi) -> Value {
    fake.get("Lease", NS, "ferrolb-controller").expect("the lease")
}

#[tokio::test(start_paused = true)]
async fn a_lease_held_by_another_replica_keeps_this_one_passive_until_it_expires() {
    let fake = cluster();
    fake.apply(objects::service("default", "web"));
    fake.apply(held_by("other", 0));
    let election = Election::start(fake.client(), LeaseOptions::new(NS, "me"));
    let options = ControllerOptions {
        debounce: Duration::from_millis(200),
        leading: Some(election.leading()),
        ..ControllerOptions::default()
    };
    let mut controller = Running::spawn(fake.client(), options);

    // The other replica renews every 2 s for a minute.
    for i in 1..=30 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        fake.apply(held_by("other", 2 * i));
        assert!(!*election.leading().borrow(), "passive while the other renews (at {}s)", 2 * i);
    }
    assert!(fake.status_patches().is_empty(), "a passive replica writes nothing");
    controller.assert_running();
    assert_eq!(lease(&fake)["spec"]["holderIdentity"], "other");

    // It stops renewing: after the Lease's 15 s this replica takes over.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(*election.leading().borrow());
    let lease = lease(&fake);
    assert_eq!(lease["spec"]["holderIdentity"], "me");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert_eq!(fake.status_patches().len(), 1, "the new leader allocates");
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);
}

#[tokio::test(start_paused = true)]
async fn two_replicas_never_lead_at_once_and_a_release_hands_over_at_once() {
    let fake = cluster();
    let one = Election::start(fake.client(), LeaseOptions::new(NS, "one"));
    let two = Election::start(fake.client(), LeaseOptions::new(NS, "two"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..60 {
        let (a, b) = (*one.leading().borrow(), *two.leading().borrow());
        assert!(a ^ b, "exactly one leads: one={a} two={b}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (leader, follower) = if *one.leading().borrow() { (one, two) } else { (two, one) };
    let follower_name = if lease(&fake)["spec"]["holderIdentity"] == "one" { "two" } else { "one" };
    leader.release().await;
    assert!(lease(&fake)["spec"].get("holderIdentity").is_none_or(Value::is_null), "{}", lease(&fake));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(*follower.leading().borrow(), "the other takes over within one retry, not after 15 s");
    assert_eq!(lease(&fake)["spec"]["holderIdentity"], follower_name);
}

#[tokio::test(start_paused = true)]
async fn a_replica_whose_lease_is_taken_stops_writing() {
    let fake = cluster();
    let election = Election::start(fake.client(), LeaseOptions::new(NS, "me"));
    let options = ControllerOptions {
        debounce: Duration::from_millis(200),
        leading: Some(election.leading()),
        ..ControllerOptions::default()
    };
    let mut controller = Running::spawn(fake.client(), options);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(*election.leading().borrow());

    // Another replica holds it now (say this one was partitioned away).
    let mut taken = held_by("other", 100);
    taken["metadata"]["resourceVersion"] = lease(&fake)["metadata"]["resourceVersion"].clone();
    fake.apply(taken);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!*election.leading().borrow(), "the next renewal sees the other holder");

    // Less than the Lease's 15 s after the take, or this replica would
    // rightly take over the unrenewed Lease.
    fake.apply(objects::service("default", "web"));
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(fake.status_patches().is_empty(), "a replica that lost the Lease writes nothing");
    assert_eq!(lease(&fake)["spec"]["holderIdentity"], "other");

    // Not because it stopped: it is running, and once the Lease goes
    // unrenewed for its 15 s it leads and writes.
    controller.assert_running();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(*election.leading().borrow(), "leads once the other's Lease expired");
    assert_eq!(fake.status_patches().len(), 1, "the new leader allocates");
    assert_eq!(ingress(&fake, "web"), ["192.0.2.0"]);
}

#[tokio::test(start_paused = true)]
async fn a_renewal_answered_409_reads_the_lease_again_and_keeps_leading() {
    let fake = cluster();
    let election = Election::start(fake.client(), LeaseOptions::new(NS, "me"));
    let mut leading = election.leading();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(*leading.borrow_and_update());

    // Annotated by someone between this replica's read and its write.
    fake.write_lease_behind_next_replacements(1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!leading.has_changed().unwrap(), "leadership flapped on a conflict");
    assert!(*leading.borrow());
    let spec = &lease(&fake)["spec"];
    assert_eq!(spec["holderIdentity"], "me");
    assert_eq!(spec["leaseTransitions"], 0, "a renewal, not a takeover");

    // Written behind every time: after the deadline, no longer leading.
    fake.write_lease_behind_next_replacements(usize::MAX);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(!*leading.borrow(), "a replica that cannot renew stops leading at the deadline");
}
