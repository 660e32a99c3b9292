//! `ferrolb plan`'s table output, written straight from the allocation and
//! the plans: at 100k Services the node's part alone is three tables of
//! 100k rows, and going through the JSON report's strings first doubled the
//! time it took to print them.

use std::fmt::Write as _;

use ferrolb_announce::{BgpPlan, Election, Interfaces, L2Plan, L2Vip};

use super::{ALIVE_FROM_FILE, Decided, FirstVips, bfd, hold_time, keepalive_time};
use crate::output::Table;

/// The plan as `ferrolb plan` prints it without `-o`: the Services, then,
/// for `--node`, its BGP sessions and routes, its decisions and its L2
/// elections.
pub fn render(decided: &Decided) -> String {
    // Each table on its own thread: the two cores share four of them.
    let parts: Vec<String> = std::thread::scope(|scope| {
        let node = decided.bgp.as_ref().map(|bgp| {
            let l2 = &decided.l2;
            (
                scope.spawn(move || peers_table(bgp)),
                scope.spawn(move || decisions_table(bgp)),
                (!l2.vips.is_empty()).then(|| scope.spawn(move || l2_table(l2))),
            )
        });
        let mut parts = vec![services_table(decided)];
        if let Some((peers, decisions, l2)) = node {
            parts.push(super::joined(peers));
            parts.push(super::joined(decisions));
            parts.extend(l2.map(super::joined));
        }
        parts
    });
    let mut out = String::with_capacity(parts.iter().map(String::len).sum());
    for part in &parts {
        out.push_str(part);
    }
    out
}

/// The Services' table: pool, IPs, L2 leader, error, what is not acted on.
fn services_table(decided: &Decided) -> String {
    let (allocation, l2) = (&decided.allocation, &decided.l2);
    // The L2 column only when some Service is in L2 mode, so that a
    // BGP-only plan reads as before; likewise the fields not acted on.
    let with_l2 = !l2.vips.is_empty();
    let with_not_acted_on = !decided.not_acted_on.is_empty();
    let mut header = vec!["NAMESPACE", "NAME", "POOL", "IPS"];
    if with_l2 {
        header.push("L2 LEADER");
    }
    header.push("ERROR");
    if with_not_acted_on {
        header.push("NOT ACTED ON");
    }
    let mut table = Table::with_capacity(&header, allocation.services.len());
    let mut first_vips = FirstVips::new(l2);
    let mut key = String::new();
    for s in &allocation.services {
        table.cell(&s.namespace);
        table.cell(&s.name);
        table.cell(s.pool.as_deref().unwrap_or("-"));
        table.cell_with(|out| match s.ips.as_slice() {
            [] => out.push('-'),
            ips => write_list(out, ips, |out, ip| write!(out, "{ip}")),
        });
        if with_l2 {
            let leader = first_vips.of(&s.namespace, &s.name).map(|v| v.election.leader());
            table.cell(match leader {
                Some(Some(leader)) => &leader.node,
                Some(None) => "none",
                None => "-",
            });
        }
        table.cell_with(|out| {
            if let Some(e) = &s.error {
                let _ = write!(out, "{e}");
            }
        });
        if with_not_acted_on {
            key.clear();
            key.extend([s.namespace.as_str(), "/", s.name.as_str()]);
            let reasons = decided.not_acted_on.get(&key).map_or(&[][..], Vec::as_slice);
            table.cell(&reasons.join("; "));
        }
    }
    table.render()
}

/// The node's sessions and the routes sent over each.
fn peers_table(bgp: &BgpPlan) -> String {
    let mut out = format!("\nBGP from node {}:\n", bgp.node);
    let rows = bgp.peers.iter().map(|p| p.routes.len().max(1)).sum();
    let mut table =
        Table::with_capacity(&["PEER", "SESSION", "PREFIX", "LOCALPREF", "COMMUNITIES", "SERVICES"], rows);
    for p in &bgp.peers {
        let session = if p.has_session() {
            match bfd(p) {
                Some(bfd) => {
                    format!("up (hold {}, keepalive {}, bfd {bfd})", hold_time(p), keepalive_time(p))
                }
                None => format!("up (hold {}, keepalive {})", hold_time(p), keepalive_time(p)),
            }
        } else {
            format!("none: {}", p.session)
        };
        if p.routes.is_empty() {
            for cell in [p.peer.as_str(), &session, "-", "-", "-", "-"] {
                table.cell(cell);
            }
        }
        for r in &p.routes {
            table.cell(&p.peer);
            table.cell(&session);
            table.cell_with(|out| {
                let _ = write!(out, "{}", r.prefix);
            });
            table.cell_with(|out| match r.local_pref {
                Some(l) => {
                    let _ = write!(out, "{l}");
                }
                None => out.push('-'),
            });
            table.cell_with(|out| match r.communities.as_slice() {
                [] => out.push('-'),
                communities => write_list(out, communities, |out, c| write!(out, "{c}")),
            });
            table.cell_with(|out| write_list(out, &r.services, |out, s| out.write_str(s)));
        }
    }
    out.push_str(&table.render());
    out
}

/// Every decision about a VIP and a peer, with its reason.
fn decisions_table(bgp: &BgpPlan) -> String {
    let mut table = Table::with_capacity(&["SERVICE", "IP", "PEER", "ANNOUNCED", "WHY"], bgp.decisions.len());
    for d in &bgp.decisions {
        table.cell(&d.service);
        table.cell_with(|out| {
            let _ = write!(out, "{}", d.ip);
        });
        table.cell(d.peer.as_deref().unwrap_or("(all)"));
        table.cell(if d.announced() { "yes" } else { "no" });
        table.cell_with(|out| {
            let _ = write!(out, "{}", d.reason);
        });
    }
    let mut out = String::from("\n");
    out.push_str(&table.render());
    out
}

/// Every VIP's election and the node's part in it.
fn l2_table(l2: &L2Plan) -> String {
    let mut out = format!("\nL2 from node {} (alive: {ALIVE_FROM_FILE}):\n", l2.node);
    let mut table = Table::with_capacity(
        &["SERVICE", "IP", "LEADER", "CANDIDATES", "LEADS", "INTERFACES", "WHY"],
        l2.vips.len(),
    );
    let mut vacancy = String::new();
    for v in &l2.vips {
        let leader = v.election.leader();
        table.cell(&v.service);
        table.cell_with(|out| {
            let _ = write!(out, "{}", v.ip);
        });
        table.cell(leader.map_or("none", |l| &l.node));
        table.cell_with(|out| candidates(out, v));
        table.cell(if v.leads() { "yes" } else { "no" });
        table.cell_with(|out| match leader.map(|l| &l.interfaces) {
            None => out.push('-'),
            Some(Interfaces::All) => out.push_str("all"),
            Some(Interfaces::Only(names)) => write_list(out, names, |out, n| out.write_str(n)),
        });
        table.cell_with(|out| {
            let start = out.len();
            let _ = write!(out, "{}", v.reason);
            // Why no node leads, when that is not already this node's reason.
            if let Election::NoLeader(reason) = &v.election {
                vacancy.clear();
                let _ = write!(vacancy, "{reason}");
                if vacancy != out[start..] {
                    let _ = write!(out, "; no leader: {vacancy}");
                }
            }
        });
    }
    out.push_str(&table.render());
    out
}

/// The candidates in election order, with their scores when not 0.
fn candidates(out: &mut String, vip: &L2Vip) {
    if vip.candidates.is_empty() {
        out.push('-');
    }
    write_list(out, &vip.candidates, |out, c| {
        out.write_str(&c.node)?;
        if c.score != 0 { write!(out, "({})", c.score) } else { Ok(()) }
    });
}

/// Writes `items` separated by commas.
fn write_list<T>(out: &mut String, items: &[T], mut write: impl FnMut(&mut String, &T) -> std::fmt::Result) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing into a String cannot fail.
        let _ = write(out, item);
    }
}
