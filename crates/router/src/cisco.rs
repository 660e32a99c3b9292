//! Cisco IOS's and IOS XE's words.

use std::fmt::Write as _;

use ferrolb_types::IpFamily;

use crate::{Router, afi_keyword, header, ip_keyword, millis, seconds, short};

/// IOS installs at most this many BGP paths per prefix (most platforms).
const MAXIMUM_PATHS: usize = 32;

pub(crate) fn render(router: &Router, suffix: &str, out: &mut String) {
    let w = out;
    w.push_str(&header(router, "!", "cisco-ios"));
    let families = router.families();
    let _ = writeln!(w, "!");
    for &family in &families {
        let (ip, list) = (ip_keyword(family), list_name(family, suffix));
        for (i, a) in router.accepted_of(family).enumerate() {
            let _ = write!(w, "{ip} prefix-list {list} seq {} permit {}", (i + 1) * 5, a.within);
            if a.is_range() {
                let _ = write!(w, " ge {}", a.length);
            }
            w.push('\n');
        }
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
    let _ = writeln!(w, "router bgp {}", router.asn);
    if let Some(id) = router.router_id() {
        let _ = writeln!(w, " bgp router-id {id}");
    }
    let _ = writeln!(w, " bgp log-neighbor-changes\n no bgp default ipv4-unicast");
    if router.mixed_asns() {
        let _ = writeln!(w, " bgp bestpath as-path multipath-relax");
    }
    if router.graceful_restart {
        let _ = writeln!(w, " bgp graceful-restart");
    }
    for n in &router.neighbors {
        let a = n.address;
        let _ = writeln!(w, " neighbor {a} remote-as {}", n.asn);
        let _ = writeln!(w, " neighbor {a} description {} (BGPPeer {})", n.node, n.peer);
        if let Some(password) = &n.password {
            let _ = writeln!(w, " neighbor {a} password 0 {password}");
        }
        if let Some(timers) = &n.timers {
            let (keepalive, hold) = seconds(timers);
            let _ = writeln!(w, " neighbor {a} timers {keepalive} {hold}");
        }
        if n.multihop && n.asn != router.asn {
            let _ = writeln!(w, " neighbor {a} ebgp-multihop 255");
        }
        if n.bfd.is_some() {
            let _ = writeln!(w, " neighbor {a} fall-over bfd");
        }
    }
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
