//! FRR's words (`frr.conf`, as vtysh writes it).

use std::fmt::Write as _;

use crate::{Router, afi_keyword, header, ip_keyword, millis, seconds, short};

/// FRR installs at most this many paths per prefix (Debian's build).
const MAXIMUM_PATHS: usize = 64;

pub(crate) fn render(router: &Router, suffix: &str, out: &mut String) {
    let w = out;
    w.push_str(&header(router, "!", "frr"));
    let families = router.families();
    let _ = writeln!(w, "!");
    for &family in &families {
        let (ip, list) = (ip_keyword(family), format!("{}{suffix}", short(family)));
        for (i, a) in router.accepted_of(family).enumerate() {
            let _ =
                write!(w, "{ip} prefix-list ferrolb-pools-{list} seq {} permit {}", (i + 1) * 5, a.within);
            if a.is_range() {
                let _ = write!(w, " ge {}", a.length);
            }
            w.push('\n');
        }
        let _ = writeln!(w, "!");
        let _ = writeln!(
            w,
            "route-map ferrolb-in-{list} permit 10\n match {ip} address prefix-list ferrolb-pools-{list}\nexit\n!"
        );
    }
    // Nothing goes to the nodes: they need no route, and none can loop back.
    let _ = writeln!(w, "route-map ferrolb-out{suffix} deny 10\nexit\n!");
    let _ = writeln!(w, "router bgp {}", router.asn);
    if let Some(id) = router.router_id() {
        let _ = writeln!(w, " bgp router-id {id}");
    }
    let _ = writeln!(w, " no bgp default ipv4-unicast");
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
            let _ = writeln!(w, " neighbor {a} password {password}");
        }
        if let Some(timers) = &n.timers {
            let (keepalive, hold) = seconds(timers);
            let _ = writeln!(w, " neighbor {a} timers {keepalive} {hold}");
        }
        if n.multihop && n.asn != router.asn {
            let _ = writeln!(w, " neighbor {a} ebgp-multihop");
        }
        if let Some(profile) = &n.bfd {
            let _ = writeln!(w, " neighbor {a} bfd profile ferrolb-{}", profile.name);
        }
        // IPv4 routes over an IPv6 session carry an IPv6 next hop (RFC 8950).
        if a.is_ipv6() && n.ipv4 {
            let _ = writeln!(w, " neighbor {a} capability extended-nexthop");
        }
    }
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
