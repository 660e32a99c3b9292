//! BIRD 2's words (`bird.conf`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ferrolb_types::IpFamily;

use crate::{Router, afi_keyword, header, millis, seconds, short};

/// What one BIRD holds once, whatever the routers: the router ID (when one
/// router has an IPv4 address), the device protocol, and the kernel
/// protocols that install the nodes' equal paths as one multipath route
/// (BIRD keeps the best path per prefix; `merge paths` merges the equal
/// ones). A config that has its own kernel protocols adds `merge paths on`
/// to them instead.
pub(crate) fn render_common(routers: &[Router], w: &mut String) {
    let _ = writeln!(w, "# ferrolb router-config --for bird: held once, whatever the routers below.");
    let ids: BTreeSet<_> = routers.iter().filter_map(Router::router_id).collect();
    if let [id] = ids.iter().collect::<Vec<_>>().as_slice() {
        let _ = writeln!(w, "router id {id};");
    }
    let _ = writeln!(w, "protocol device {{ }}");
    let families: BTreeSet<IpFamily> = routers.iter().flat_map(Router::families).collect();
    for family in families {
        let _ = writeln!(
            w,
            "protocol kernel ferrolb_kernel_{} {{ {} {{ export all; }}; merge paths on; }}",
            short(family),
            afi_keyword(family)
        );
    }
    render_bfd(routers, w);
    w.push('\n');
}

pub(crate) fn render(router: &Router, suffix: &str, out: &mut String) {
    let w = out;
    w.push_str(&header(router, "#", "bird"));
    let suffix = symbol(suffix);
    let families = router.families();
    for &family in &families {
        let name = format!("{}{suffix}", short(family));
        let set: Vec<String> = router
            .accepted_of(family)
            .map(|a| format!("{}{{{},{}}}", a.within, a.length, a.length))
            .collect();
        let _ = writeln!(w, "define ferrolb_pools_{name} = [ {} ];", set.join(", "));
        let _ =
            writeln!(w, "filter ferrolb_in_{name} {{ if net ~ ferrolb_pools_{name} then accept; reject; }}");
    }
    let mut names = BTreeSet::new();
    for n in &router.neighbors {
        let name = unique(&mut names, &format!("ferrolb_{}{suffix}", symbol(&n.node)));
        let _ = writeln!(w, "\nprotocol bgp {name} {{");
        let _ = writeln!(w, "  description \"{} (BGPPeer {})\";", n.node, n.peer);
        let _ = writeln!(w, "  local {} as {};", router.address, router.asn);
        let _ = writeln!(w, "  neighbor {} as {};", n.address, n.asn);
        if let Some(password) = &n.password {
            let _ = writeln!(w, "  password \"{}\";", password.replace('\\', "\\\\").replace('"', "\\\""));
        }
        if let Some(timers) = &n.timers {
            let (keepalive, hold) = seconds(timers);
            let _ = writeln!(w, "  hold time {hold};\n  keepalive time {keepalive};");
        }
        if n.multihop && n.asn != router.asn {
            let _ = writeln!(w, "  multihop;");
        }
        if n.bfd.is_some() {
            let _ = writeln!(w, "  bfd on;");
        }
        if router.graceful_restart {
            let _ = writeln!(w, "  graceful restart on;");
        }
        for &family in families.iter().filter(|&&f| n.carries(f)) {
            let name = format!("{}{suffix}", short(family));
            // IPv4 routes over an IPv6 session carry an IPv6 next hop (RFC 8950).
            let extended =
                if family == IpFamily::V4 && n.address.is_ipv6() { " extended next hop on;" } else { "" };
            let _ = writeln!(
                w,
                "  {} {{ import filter ferrolb_in_{name}; export none;{extended} }};",
                afi_keyword(family)
            );
        }
        let _ = writeln!(w, "}}");
    }
}

/// `protocol bfd`: BIRD 2 sets timers per interface, not per session; the
/// first profile's (by name) go to every interface, and a comment says so
/// when the BGPPeers name several.
fn render_bfd(routers: &[Router], w: &mut String) {
    let mut profiles: Vec<&ferrolb_api::config::BfdProfile> =
        routers.iter().flat_map(Router::bfd_profiles).collect();
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    profiles.dedup_by(|a, b| a.name == b.name);
    let Some(p) = profiles.first() else { return };
    if profiles.len() > 1 {
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        let _ = writeln!(
            w,
            "# BFD profiles {}: BIRD sets one set of timers here, {}'s",
            names.join(", "),
            p.name
        );
    }
    let timers = format!(
        "{{ min rx interval {} ms; min tx interval {} ms; multiplier {}; }};",
        millis(p.receive_interval),
        millis(p.transmit_interval),
        p.detect_multiplier
    );
    let _ = writeln!(w, "protocol bfd ferrolb_bfd {{\n  interface \"*\" {timers}");
    let multihop = routers.iter().flat_map(|r| &r.neighbors).any(|n| n.multihop && n.bfd.is_some());
    if multihop {
        let _ = writeln!(w, "  multihop {timers}");
    }
    let _ = writeln!(w, "}}");
}

/// `text` as a BIRD symbol's part: letters, digits and `_`.
fn symbol(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// `name`, or `name_2`, `name_3`... when taken (two node names that differ
/// only in punctuation).
fn unique(taken: &mut BTreeSet<String>, name: &str) -> String {
    let mut candidate = name.to_owned();
    let mut n = 1;
    while !taken.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{name}_{n}");
    }
    candidate
}
