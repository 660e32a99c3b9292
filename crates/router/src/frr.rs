//! FRR's words (`frr.conf`, as vtysh writes it).

use std::fmt::Write as _;

use crate::ios::{Words, bgp_head, prefix_list};
use crate::{Router, afi_keyword, header, ip_keyword, millis, short};

/// FRR installs at most this many paths per prefix (Debian's build).
const MAXIMUM_PATHS: usize = 64;

pub(crate) fn render(router: &Router, suffix: &str, out: &mut String) {
    let w = out;
    w.push_str(&header(router, "!", "frr"));
    let families = router.families();
    let _ = writeln!(w, "!");
    for &family in &families {
        let (ip, list) = (ip_keyword(family), format!("{}{suffix}", short(family)));
        prefix_list(router, family, &format!("ferrolb-pools-{list}"), w);
        let _ = writeln!(w, "!");
        let _ = writeln!(
            w,
            "route-map ferrolb-in-{list} permit 10\n match {ip} address prefix-list ferrolb-pools-{list}\nexit\n!"
        );
    }
    // Nothing goes to the nodes: they need no route, and none can loop back.
    let _ = writeln!(w, "route-map ferrolb-out{suffix} deny 10\nexit\n!");
    let words = Words { global: "", password: "", multihop: "", extended_nexthop: true };
    bgp_head(router, &words, |n| n.bfd.as_ref().map(|p| format!("bfd profile ferrolb-{}", p.name)), w);
    for &family in &families {
        let list = format!("{}{suffix}", short(family));
        let _ = writeln!(w, " !\n address-family {} unicast", afi_keyword(family));
        for n in router.neighbors_of(family) {
            let a = n.address;
            let _ = writeln!(w, "  neighbor {a} activate");
            let _ = writeln!(w, "  neighbor {a} route-map ferrolb-in-{list} in");
            let _ = writeln!(w, "  neighbor {a} route-map ferrolb-out{suffix} out");
        }
        let paths = router.maximum_paths(family).min(MAXIMUM_PATHS);
        let kind = if router.internal() { "ibgp " } else { "" };
        let _ = writeln!(w, "  maximum-paths {kind}{paths}\n exit-address-family");
    }
    let _ = writeln!(w, "exit\n!");
    // Last: bgpd reads the whole file and has no `bfd` node; it takes the
    // stanza's `exit` lines for leaving configuration mode.
    let profiles = router.bfd_profiles();
    if !profiles.is_empty() {
        let _ = writeln!(w, "bfd");
        for p in profiles {
            let _ = writeln!(w, " profile ferrolb-{}", p.name);
            let _ = writeln!(w, "  detect-multiplier {}", p.detect_multiplier);
            let _ = writeln!(w, "  receive-interval {}", millis(p.receive_interval));
            let _ = writeln!(w, "  transmit-interval {}", millis(p.transmit_interval));
            if p.passive {
                // ferrolb waits for the router's packets: the router must send.
                let _ = writeln!(w, "  ! the nodes are passive (passiveMode): this end must not be");
            }
            let _ = writeln!(w, " exit");
        }
        let _ = writeln!(w, "exit\n!");
    }
}
