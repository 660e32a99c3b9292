//! Leader election between controller replicas with a
//! `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` does it:
//! the holder renews the Lease every [`LeaseOptions::retry`]; another
//! replica takes it over once it has seen the same record unchanged for
//! the Lease's duration, by its own clock (clocks of two nodes are never
//! compared); a holder that could not renew within
//! [`LeaseOptions::renew_deadline`] stops leading before anyone may take
//! over. Writes carry the resourceVersion read, so of two replicas racing
//! for the Lease one wins and the other gets a conflict.
//!
//! ```text
//!   every `retry`:  GET lease ──► Observer::step (pure) ──► Create / Renew / TakeOver ──► POST / PUT
//!                                                       └─► Follow
//!                   result ──► watch::Sender<bool> "leading" ──► Controller
//! ```

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The Lease of the controller replicas, in ferrolb's namespace.
pub const LEASE_NAME: &str = "ferrolb-controller";

/// How a replica takes part in the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseOptions {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub holder: String,
    /// How long a Lease not renewed stays valid (client-go's default, 15 s).
    pub duration: Duration,
    /// How long the holder keeps leading without a successful renewal
    /// (10 s): shorter than `duration`, so it stops before another starts.
    pub renew_deadline: Duration,
    /// How often the Lease is read and renewed (2 s).
    pub retry: Duration,
}

impl LeaseOptions {
    /// The defaults of client-go, for `holder` in `namespace`.
    pub fn new(namespace: impl Into<String>, holder: impl Into<String>) -> LeaseOptions {
        LeaseOptions {
            name: LEASE_NAME.into(),
            namespace: namespace.into(),
            holder: holder.into(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// What a replica does after reading the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// There is no Lease: create one held by this replica.
    Create,
    /// This replica holds it: renew it.
    Renew,
    /// No one holds it, or its holder let it expire: take it over.
    TakeOver,
    /// Another replica holds it: stay passive.
    Follow {
        /// The holder.
        holder: String,
    },
}

/// The part of a Lease that changes when its holder renews it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    transitions: Option<i32>,
}

/// What a replica has seen of the Lease: its last record and when that
/// record last changed, by this replica's clock. Pure: the clock is passed in.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    seen: Option<(Record, Instant)>,
}

impl Observer {
    /// What to do about `lease` (`None`: there is none) at `now`, as
    /// `holder`; `duration` when the Lease does not say its own.
    pub fn step(
        &mut self,
        now: Instant,
        lease: Option<&LeaseSpec>,
        holder: &str,
        duration: Duration,
    ) -> Step {
        let Some(spec) = lease else {
            self.seen = None;
            return Step::Create;
        };
        let record = Record {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.clone(),
            transitions: spec.lease_transitions,
        };
        let since = match &self.seen {
            Some((seen, at)) if *seen == record => *at,
            _ => now,
        };
        self.seen = Some((record.clone(), since));
        match record.holder {
            None => Step::TakeOver,
            Some(h) if h == holder => Step::Renew,
            Some(h) => {
                let valid = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map_or(duration, Duration::from_secs);
                if now >= since + valid { Step::TakeOver } else { Step::Follow { holder: h } }
            }
        }
    }
}

/// The Lease spec held by `holder` from now: a renewal keeps the
/// acquisition; a takeover counts one more transition.
pub fn held_spec(
    previous: Option<&LeaseSpec>,
    step: &Step,
    holder: &str,
    duration: Duration,
    now: Timestamp,
) -> LeaseSpec {
    let now = MicroTime(now);
    let previous = previous.cloned().unwrap_or_default();
    let (acquire_time, transitions) = match step {
        Step::Renew => (previous.acquire_time.or(Some(now.clone())), previous.lease_transitions.unwrap_or(0)),
        Step::TakeOver => (Some(now.clone()), previous.lease_transitions.unwrap_or(0) + 1),
        Step::Create | Step::Follow { .. } => (Some(now.clone()), 0),
    };
    LeaseSpec {
        holder_identity: Some(holder.to_owned()),
        lease_duration_seconds: Some(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time,
        renew_time: Some(now),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// This replica's part in the election, running as a task; dropping it
/// stops the task (the Lease then expires, or see [`Election::release`]).
#[derive(Debug)]
pub struct Election {
    leading: watch::Receiver<bool>,
    task: JoinHandle<()>,
    api: Api<Lease>,
    options: LeaseOptions,
}

impl Drop for Election {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Election {
    /// Starts taking part in the election. Must be called inside a tokio runtime.
    pub fn start(client: Client, options: LeaseOptions) -> Election {
        let api: Api<Lease> = Api::namespaced(client, &options.namespace);
        let (tx, leading) = watch::channel(false);
        let task = tokio::spawn(campaign(api.clone(), options.clone(), tx));
        Election { leading, task, api, options }
    }

    /// Whether this replica leads, changing over time.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Stops taking part and, if this replica holds the Lease, gives it up
    /// at once, so that another replica takes over without waiting for
    /// it to expire (client-go's `ReleaseOnCancel`).
    pub async fn release(self) {
        self.task.abort();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.options.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(&self.options.holder) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self.api.replace(&self.options.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.options.name, "lease released"),
            Err(error) => tracing::warn!(lease = %self.options.name, error = %error, "lease not released"),
        }
    }
}

/// Reads and writes the Lease every `retry`, telling `leading` the outcome.
async fn campaign(api: Api<Lease>, options: LeaseOptions, leading: watch::Sender<bool>) {
    let mut observer = Observer::default();
    let mut renewed: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let outcome = attempt(&api, &options, &mut observer, now).await;
        let leads = match outcome {
            Ok(true) => {
                renewed = Some(now);
                true
            }
            Ok(false) => {
                renewed = None;
                false
            }
            Err(error) => {
                tracing::warn!(lease = %options.name, error = %error, "lease not read or written");
                // Still leading until the deadline: one lost request is no
                // reason to stop, and no one may take over before it passes.
                renewed.is_some_and(|at| now < at + options.renew_deadline)
            }
        };
        leading.send_if_modified(|was| {
            let changed = *was != leads;
            if changed {
                tracing::info!(lease = %options.name, holder = %options.holder, leading = leads, "leadership changed");
            }
            *was = leads;
            changed
        });
        tokio::time::sleep(options.retry).await;
    }
}

/// One round: whether this replica holds the Lease afterwards.
///
/// A conflict on a renewal means the Lease was written since it was read:
/// a label or an annotation, or a replica that took it over. The Lease is
/// read again and the round decided on what is there now, once; a second
/// conflict is an error like any other, which keeps this replica leading
/// until the renew deadline, as client-go does. A conflict on a creation or
/// a takeover means another replica was first.
async fn attempt(
    api: &Api<Lease>,
    options: &LeaseOptions,
    observer: &mut Observer,
    now: Instant,
) -> Result<bool, kube::Error> {
    let mut read_again = true;
    loop {
        let (step, result) = write_step(api, options, observer, now).await?;
        match result {
            Ok(holds) => return Ok(holds),
            Err(kube::Error::Api(e)) if e.code == 409 && step != Step::Renew => return Ok(false),
            Err(kube::Error::Api(e)) if e.code == 409 && read_again => {
                tracing::info!(lease = %options.name, error = %e.message, "lease written since read; reading it again");
                read_again = false;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Reads the Lease and takes the step it calls for: the step, and whether
/// this replica holds the Lease after it (or why its write failed).
async fn write_step(
    api: &Api<Lease>,
    options: &LeaseOptions,
    observer: &mut Observer,
    now: Instant,
) -> Result<(Step, Result<bool, kube::Error>), kube::Error> {
    let current = api.get_opt(&options.name).await?;
    let spec = current.as_ref().and_then(|l| l.spec.as_ref());
    let step = observer.step(now, spec, &options.holder, options.duration);
    if let Step::Follow { .. } = step {
        return Ok((step, Ok(false)));
    }
    let spec = held_spec(spec, &step, &options.holder, options.duration, Timestamp::now());
    let result = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(options.name.clone()),
                    namespace: Some(options.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await
        }
        Some(mut lease) => {
            // The resourceVersion read stays: a replica that raced us
            // and wrote first makes this a conflict.
            lease.spec = Some(spec);
            api.replace(&options.name, &PostParams::default(), &lease).await
        }
    };
    if result.is_ok() && step != Step::Renew {
        tracing::info!(lease = %options.name, holder = %options.holder, "lease acquired");
    }
    Ok((step, result.map(|_| true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    fn held_by(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn no_lease_is_created_and_our_own_is_renewed() {
        let mut observer = Observer::default();
        let now = Instant::now();
        assert_eq!(observer.step(now, None, "me", D), Step::Create);
        assert_eq!(observer.step(now, Some(&held_by("me", 1)), "me", D), Step::Renew);
    }

    #[test]
    fn a_lease_renewed_by_another_is_followed_however_old_its_clock_says_it_is() {
        let mut observer = Observer::default();
        let start = Instant::now();
        for i in 0..20 {
            // Renewed every 2 s; the holder's clock is far behind ours.
            let now = start + Duration::from_secs(2 * i);
            let step = observer.step(now, Some(&held_by("other", i as i64)), "me", D);
            assert_eq!(step, Step::Follow { holder: "other".into() });
        }
    }

    #[test]
    fn a_lease_unchanged_for_its_duration_is_taken_over() {
        let mut observer = Observer::default();
        let start = Instant::now();
        let lease = held_by("other", 1);
        assert!(matches!(observer.step(start, Some(&lease), "me", D), Step::Follow { .. }));
        let almost = start + Duration::from_secs(14);
        assert!(matches!(observer.step(almost, Some(&lease), "me", D), Step::Follow { .. }));
        assert_eq!(observer.step(start + D, Some(&lease), "me", D), Step::TakeOver);
        let spec = held_spec(Some(&lease), &Step::TakeOver, "me", D, Timestamp::from_second(100).unwrap());
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(spec.lease_transitions, Some(1));
    }

    #[test]
    fn a_released_lease_is_taken_over_at_once() {
        let mut observer = Observer::default();
        let mut lease = held_by("other", 1);
        lease.holder_identity = None;
        assert_eq!(observer.step(Instant::now(), Some(&lease), "me", D), Step::TakeOver);
    }
}
