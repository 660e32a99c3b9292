//! A short run of `ferrolb lab chaos` (its own doc says what it checks):
//! the invariants must hold through a seeded series of faults. The timings it
//! prints are for reading; only the invariants are asserted (its exit code).

use std::process::Command;

use crate::support::lab_ready;

#[test]
fn the_invariants_hold_through_a_short_chaos_run() {
    if !lab_ready(&["ip", "/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh", "python3", "nsenter"]) {
        return;
    }
    // Between them, the first eight faults of seeds 5 and 237 are every kind
    // (a unit test of the fault module keeps it so): a short SIGSTOP,
    // truncated state files, a Service moved, SIGKILL, files that do not
    // validate (5); an unwritable state directory, a long SIGSTOP, Services
    // removed, a link down, every node under a 100m CPU limit, FRR restarted,
    // Services added (237).
    for seed in ["5", "237"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
            .args(["lab", "chaos", "--services", "150", "--faults", "8", "--seed", seed])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        eprintln!("{said}");
        assert!(out.status.success(), "seed {seed}:\n{said}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(said.contains("every invariant held through 8 faults"), "{said}");
    }
}
