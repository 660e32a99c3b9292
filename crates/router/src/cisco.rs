//! Cisco IOS's and IOS XE's words.

use std::fmt::Write as _;

use ferrolb_types::IpFamily;

use crate::ios::{Words, bgp_head, prefix_list};
use crate::{Router, afi_keyword, header, millis, short};

/// IOS installs at most this many BGP paths per prefix (most platforms).
const MAXIMUM_PATHS: usize = 32;

pub(crate) fn render(router: &Router, suffix: &str, out: &mut String) {
    let w = out;
    w.push_str(&header(router, "!", "cisco-ios"));
    let families = router.families();
    let _ = writeln!(w, "!");
    for &family in &families {
        prefix_list(router, family, &list_name(family, suffix), w);
        let _ = writeln!(w, "!");
    }
    let _ = writeln!(w, "route-map FERROLB-OUT{suffix} deny 10\n!");
    for p in router.bfd_profiles() {
        let _ = writeln!(w, "bfd-template single-hop FERROLB-{}", p.name.to_uppercase());
        let _ = writeln!(
            w,
            " interval min-tx {} min-rx {} multiplier {}",
            millis(p.transmit_interval),
            millis(p.receive_interval),
            p.detect_multiplier
        );
        let _ = writeln!(
            w,
            "! and on each interface facing the nodes: bfd template FERROLB-{}\n!",
            p.name.to_uppercase()
        );
    }
    let words = Words {
        global: " bgp log-neighbor-changes\n",
        password: "0 ",
        multihop: " 255",
        extended_nexthop: false,
    };
    bgp_head(router, &words, |n| n.bfd.as_ref().map(|_| "fall-over bfd".to_owned()), w);
    for &family in &families {
        let _ = writeln!(w, " !\n address-family {} unicast", afi_keyword(family));
        let paths = router.maximum_paths(family).min(MAXIMUM_PATHS);
        let kind = if router.internal() { "ibgp " } else { "" };
        let _ = writeln!(w, "  maximum-paths {kind}{paths}");
        for n in router.neighbors_of(family) {
            let a = n.address;
            let _ = writeln!(w, "  neighbor {a} activate");
            let _ = writeln!(w, "  neighbor {a} prefix-list {} in", list_name(family, suffix));
            let _ = writeln!(w, "  neighbor {a} route-map FERROLB-OUT{suffix} out");
        }
        let _ = writeln!(w, " exit-address-family");
    }
    let _ = writeln!(w, "!");
}

fn list_name(family: IpFamily, suffix: &str) -> String {
    format!("FERROLB-POOLS-{}{suffix}", short(family).to_uppercase())
}
