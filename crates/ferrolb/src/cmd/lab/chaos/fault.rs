//! The faults of the chaos loop, drawn from a seeded generator: the same
//! seed gives the same faults in the same order.

use std::time::Duration;

use super::Rng;

/// One fault, and its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// SIGKILL, then a restart after `down`.
    Kill { node: usize, down: Duration },
    /// SIGSTOP for `paused` (a throttled or swapped process), then SIGCONT.
    Stop { node: usize, paused: Duration },
    /// Every node under a CPU limit of `millicores` (100m: a namespace's
    /// LimitRange default; CFS throttling stalls a process that used its
    /// share for the rest of a 100 ms period) for `lasting`.
    CpuLimit { millicores: u64, lasting: Duration },
    /// The node's link to the segment down for `down`, then up.
    LinkFlap { node: usize, down: Duration },
    /// FRR stopped and started again.
    RouterRestart,
    /// Services added to the file.
    AddServices(usize),
    /// Services removed from the file.
    RemoveServices(usize),
    /// A Service moved to another pool (its address changes).
    MoveService,
    /// A file that does not validate, for `lasting`, then the good one again.
    InvalidEdit { lasting: Duration },
    /// The node's state file truncated while it is down, then a restart.
    TruncatedState { node: usize },
    /// The node's state directory read-only for `lasting` while Services
    /// are added (a full or failing disk), then writable, then a restart.
    UnwritableState { node: usize, lasting: Duration },
}

impl Fault {
    /// The next fault for a lab of `nodes` nodes.
    pub(super) fn draw(rng: &mut Rng, nodes: usize) -> Fault {
        let node = rng.below(nodes);
        let ms = |rng: &mut Rng, low: u64, high: u64| {
            Duration::from_millis(low + rng.below((high - low) as usize) as u64)
        };
        match rng.below(12) {
            0 => Fault::Kill { node, down: ms(rng, 500, 3000) },
            // Short enough for the gossip to keep it (a runner-up takes over
            // and hands back), and long enough for its verdict.
            1 => Fault::Stop { node, paused: ms(rng, 200, 400) },
            2 => Fault::Stop { node, paused: ms(rng, 1500, 4000) },
            3 => Fault::LinkFlap { node, down: ms(rng, 500, 3000) },
            4 => Fault::RouterRestart,
            5 => Fault::AddServices(1 + rng.below(10)),
            6 => Fault::RemoveServices(1 + rng.below(10)),
            7 => Fault::MoveService,
            8 => Fault::InvalidEdit { lasting: ms(rng, 1000, 3000) },
            9 => Fault::CpuLimit { millicores: [100, 50, 20][rng.below(3)], lasting: ms(rng, 5000, 15_000) },
            10 => Fault::UnwritableState { node, lasting: ms(rng, 1000, 3000) },
            _ => Fault::TruncatedState { node },
        }
    }

    /// What it is, for the fault log.
    pub(super) fn describe(&self) -> String {
        match self {
            Fault::Kill { node, down } => {
                format!("SIGKILL node{}, restart after {} ms", node + 1, down.as_millis())
            }
            Fault::Stop { node, paused } => format!("SIGSTOP node{} for {} ms", node + 1, paused.as_millis()),
            Fault::CpuLimit { millicores, lasting } => {
                format!("every node under {millicores}m CPU for {} ms", lasting.as_millis())
            }
            Fault::LinkFlap { node, down } => {
                format!("link of node{} down for {} ms", node + 1, down.as_millis())
            }
            Fault::RouterRestart => "FRR restarted".to_owned(),
            Fault::AddServices(n) => format!("{n} Services added"),
            Fault::RemoveServices(n) => format!("{n} Services removed"),
            Fault::MoveService => "a Service moved to another pool".to_owned(),
            Fault::InvalidEdit { lasting } => {
                format!("a file that does not validate for {} ms", lasting.as_millis())
            }
            Fault::TruncatedState { node } => format!("state file of node{} truncated, restart", node + 1),
            Fault::UnwritableState { node, lasting } => {
                format!("state of node{} unwritable for {} ms, restart", node + 1, lasting.as_millis())
            }
        }
    }

    /// The node whose process this fault kills or pauses, if any.
    pub(super) fn node(&self) -> Option<usize> {
        match self {
            Fault::Kill { node, .. }
            | Fault::Stop { node, .. }
            | Fault::LinkFlap { node, .. }
            | Fault::TruncatedState { node }
            | Fault::UnwritableState { node, .. } => Some(*node),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind of a fault, a short SIGSTOP apart from a long one.
    fn kind(fault: &Fault) -> String {
        match fault {
            Fault::Stop { paused, .. } if *paused < Duration::from_secs(1) => "short stop".to_owned(),
            other => format!("{:?}", std::mem::discriminant(other)),
        }
    }

    /// The CI run (tests/it/chaos.rs) relies on it: between them, the first
    /// eight faults of its two seeds are every kind of fault.
    #[test]
    fn the_ci_seeds_draw_every_kind_of_fault() {
        let draws = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| kind(&Fault::draw(&mut rng, 3))).collect::<Vec<_>>()
        };
        let seen: std::collections::BTreeSet<String> = [5, 237].into_iter().flat_map(draws).collect();
        let every: std::collections::BTreeSet<String> = {
            let mut rng = Rng::new(1);
            (0..10_000).map(|_| kind(&Fault::draw(&mut rng, 3))).collect()
        };
        assert_eq!(every.len(), 12);
        assert_eq!(seen, every);
    }
}
