//! Counts of the allocator's inner steps, for the tests that guard against
//! quadratic work: they compare the steps of runs over n and 10 n Services,
//! which a clock cannot do on a busy machine. Outside `cargo test` a step
//! counts nothing and costs nothing.

/// An inner step that a regression could repeat for every Service.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// An address a pool range's free-address cursor looks at
    /// ([`Range::first_free`](crate::pool::Range::first_free)).
    FreeProbe,
    /// An address of a sharing group looked at for a Service that may join
    /// it ([`Usage::shared_candidate`](crate::sharing::Usage::shared_candidate)).
    SharedCandidate,
}

/// One more `step` on this thread (the passes that take these steps run on
/// the caller's thread).
#[inline(always)]
pub(crate) fn count(step: Step) {
    #[cfg(test)]
    counting::STEPS.with(|steps| {
        let mut all = steps.get();
        match step {
            Step::FreeProbe => all.free_probes += 1,
            Step::SharedCandidate => all.shared_candidates += 1,
        }
        steps.set(all);
    });
    #[cfg(not(test))]
    let _ = step;
}

#[cfg(test)]
pub(crate) use counting::{Steps, counted};

#[cfg(test)]
mod counting {
    use std::cell::Cell;

    /// The steps taken, by kind.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct Steps {
        /// [`Step::FreeProbe`](super::Step::FreeProbe)s.
        pub free_probes: u64,
        /// [`Step::SharedCandidate`](super::Step::SharedCandidate)s.
        pub shared_candidates: u64,
    }

    thread_local! {
        pub(super) static STEPS: Cell<Steps> = Cell::new(Steps::default());
    }

    /// `f()`, and the steps it took on this thread.
    pub(crate) fn counted<R>(f: impl FnOnce() -> R) -> (R, Steps) {
        let before = STEPS.with(Cell::get);
        let result = f();
        let after = STEPS.with(Cell::get);
        let steps = Steps {
            free_probes: after.free_probes - before.free_probes,
            shared_candidates: after.shared_candidates - before.shared_candidates,
        };
        (result, steps)
    }
}
