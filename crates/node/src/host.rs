//! Making this host accept traffic for the VIPs it announces, without
//! kube-proxy: each VIP gets a `local` route on `lo` in the kernel's `local`
//! table (as `ip route add local VIP dev lo table local`), so the host takes
//! packets for it and a server listening on any address answers them.
//!
//! Why routes rather than addresses: a route carries a protocol number, so
//! ferrolb finds its own again (after a restart too) and never touches a
//! route someone else added; and it needs no interface of its own (the
//! `dummy` driver is not in every kernel).
//!
//! The VIPs are covered by the fewest prefixes that hold exactly them
//! (consecutive VIPs, as pools hand them out, share one): 100,000 VIPs from
//! one range are a handful of routes, set in milliseconds instead of seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures_util::TryStreamExt;
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::NodeError;

/// The protocol number that marks ferrolb's routes (`ip route show proto 248`).
pub const PROTOCOL: u8 = 248;
/// The kernel's `local` table.
const LOCAL_TABLE: u32 = 255;

/// Local routes logged one by one at info level in one change; beyond,
/// one summary line (a takeover of many scattered VIPs is thousands).
const PREFIXES_LOGGED_ONE_BY_ONE: usize = 16;

/// The interface local routes point at.
pub const INTERFACE: &str = "lo";

/// How long the host keeps accepting a VIP after it stopped announcing it
/// (unless it stops for good): a runner-up that hands a VIP back to its
/// leader stops answering ARP at once, but the clients keep sending to it
/// until the leader's gratuitous ARP reaches them, which a leader that has
/// just restarted sends only once its gossip has started (measured: 100 ms,
/// up to the 1 s join wait; the rest is margin for a loaded host).
/// Accepting a VIP no one sends here costs nothing.
pub const LINGER: Duration = Duration::from_secs(5);

/// The VIPs this host accepts traffic for.
pub struct HostVips {
    handle: Handle,
    loopback: u32,
    held: Held,
}

/// ferrolb's local routes, each with the time it is to go, if it is leaving.
#[derive(Debug, Default)]
struct Held(BTreeMap<IpNet, Option<Instant>>);

/// What the kernel is to be told, in this order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Steps {
    add: Vec<IpNet>,
    remove: Vec<IpNet>,
}

impl Held {
    /// Routes `wanted`: adds what is missing; what is held and not wanted
    /// leaves at `leave_at`, or now with `None`. A leaving route wanted again stays.
    fn converge(&mut self, wanted: &BTreeSet<IpNet>, leave_at: Option<Instant>) -> Steps {
        let mut steps = Steps::default();
        for prefix in wanted {
            match self.0.get_mut(prefix) {
                Some(leaving) => *leaving = None,
                None => {
                    steps.add.push(*prefix);
                    self.0.insert(*prefix, None);
                }
            }
        }
        self.0.retain(|prefix, leaving| {
            if wanted.contains(prefix) {
                return true;
            }
            match (leave_at, *leaving) {
                (Some(at), None) => {
                    *leaving = Some(at);
                    true
                }
                (Some(_), Some(_)) => true,
                (None, _) => {
                    steps.remove.push(*prefix);
                    false
                }
            }
        });
        steps
    }

    /// The routes whose time to leave has come, taken out.
    fn due(&mut self, now: Instant) -> Vec<IpNet> {
        let due: Vec<IpNet> =
            self.0.iter().filter(|(_, at)| at.is_some_and(|at| at <= now)).map(|(p, _)| *p).collect();
        for prefix in &due {
            self.0.remove(prefix);
        }
        due
    }

    /// When the next route leaves.
    fn next_leaving(&self) -> Option<Instant> {
        self.0.values().flatten().min().copied()
    }

    /// The held prefix that covers `vip`, kept if it was leaving.
    fn keep_covering(&mut self, vip: IpAddr) -> bool {
        let host = IpNet::from(vip);
        (0..=host.prefix_len()).filter_map(|len| IpNet::new(vip, len).ok()).any(|p| {
            match self.0.get_mut(&p.trunc()) {
                Some(leaving) => {
                    *leaving = None;
                    true
                }
                None => false,
            }
        })
    }
}

impl HostVips {
    /// Opens a netlink connection (on the current tokio runtime) and adopts
    /// the routes a previous run left behind.
    pub async fn open() -> Result<HostVips, NodeError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        let mut links = handle.link().get().match_name(INTERFACE.to_owned()).execute();
        let loopback = links.try_next().await?.ok_or(NodeError::NoLoopback(INTERFACE))?.header.index;
        let mut host = HostVips { handle, loopback, held: Held::default() };
        host.held = Held(host.our_routes().await?.into_iter().map(|p| (p, None)).collect());
        Ok(host)
    }

    /// Accepts traffic for exactly `desired`: adds the prefixes that are
    /// missing first, so a VIP that stays is accepted throughout; the rest
    /// leave [`LINGER`] later ([`HostVips::release_due`]).
    pub async fn converge(&mut self, desired: &BTreeSet<IpAddr>) -> Result<(), NodeError> {
        let steps = self.held.converge(&cover(desired), Some(Instant::now() + LINGER));
        self.perform(steps).await
    }

    /// When [`HostVips::release_due`] has something to release.
    pub fn next_release(&self) -> Option<Instant> {
        self.held.next_leaving()
    }

    /// Stops accepting the VIPs whose [`LINGER`] is over.
    pub async fn release_due(&mut self) -> Result<(), NodeError> {
        let remove = self.held.due(Instant::now());
        self.perform(Steps { add: Vec::new(), remove }).await
    }

    async fn perform(&mut self, steps: Steps) -> Result<(), NodeError> {
        // One line per prefix while few change; a takeover of thousands of
        // scattered VIPs says so in one line (each prefix at debug level).
        let one_by_one = steps.add.len() + steps.remove.len() <= PREFIXES_LOGGED_ONE_BY_ONE;
        if !one_by_one {
            info!(
                accepted = steps.add.len(),
                no_longer = steps.remove.len(),
                "this host's local routes for VIPs changed (each prefix at debug level)"
            );
        }
        for prefix in steps.add {
            self.handle.route().add(self.local_route(prefix)).replace().execute().await?;
            if one_by_one {
                info!(vips = %prefix, "this host accepts the VIPs");
            } else {
                debug!(vips = %prefix, "this host accepts the VIPs");
            }
        }
        for prefix in steps.remove {
            self.handle.route().del(self.local_route(prefix)).execute().await?;
            if one_by_one {
                info!(vips = %prefix, "this host no longer accepts the VIPs");
            } else {
                debug!(vips = %prefix, "this host no longer accepts the VIPs");
            }
        }
        Ok(())
    }

    /// Accepts traffic for `vips` too, each that no prefix held covers with a
    /// prefix of its own; the next [`HostVips::converge`] merges them. (An
    /// edit that adds one VIP to 100,000 costs one route, not a new cover.)
    pub async fn accept(&mut self, vips: &[IpAddr]) -> Result<(), NodeError> {
        for &vip in vips {
            if !self.held.keep_covering(vip) {
                let host = IpNet::from(vip);
                self.handle.route().add(self.local_route(host)).replace().execute().await?;
                info!(vips = %host, "this host accepts the VIPs");
                self.held.0.insert(host, None);
            }
        }
        Ok(())
    }

    /// Stops accepting every VIP, at once.
    pub async fn clear(&mut self) -> Result<(), NodeError> {
        let count = self.held.0.len();
        let steps = self.held.converge(&BTreeSet::new(), None);
        self.perform(steps).await?;
        if count > 0 {
            info!(vips = count, "this host no longer accepts any VIP");
        }
        Ok(())
    }

    fn local_route(&self, prefix: IpNet) -> RouteMessage {
        RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(prefix.addr(), prefix.prefix_len())
            .expect("an IpNet's length fits its family")
            .output_interface(self.loopback)
            .table_id(LOCAL_TABLE)
            .kind(RouteType::Local)
            .scope(RouteScope::Host)
            .protocol(RouteProtocol::Other(PROTOCOL))
            .build()
    }

    /// ferrolb's routes in the local table.
    async fn our_routes(&self) -> Result<BTreeSet<IpNet>, NodeError> {
        let mut ours = BTreeSet::new();
        for family in [
            RouteMessageBuilder::<Ipv4Addr>::new().table_id(LOCAL_TABLE).build(),
            RouteMessageBuilder::<Ipv6Addr>::new().table_id(LOCAL_TABLE).build(),
        ] {
            let mut routes = self.handle.route().get(family).execute();
            while let Some(route) = routes.try_next().await? {
                if route.header.protocol != RouteProtocol::Other(PROTOCOL) {
                    continue;
                }
                let destination = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(d) => ip_of(d),
                    _ => None,
                });
                if let Some(prefix) =
                    destination.and_then(|ip| IpNet::new(ip, route.header.destination_prefix_length).ok())
                {
                    ours.insert(prefix);
                }
            }
        }
        Ok(ours)
    }
}

fn ip_of(address: &rtnetlink::packet_route::route::RouteAddress) -> Option<IpAddr> {
    use rtnetlink::packet_route::route::RouteAddress;
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The fewest prefixes that hold exactly `vips`: each run of consecutive
/// addresses split into the largest aligned blocks.
fn cover(vips: &BTreeSet<IpAddr>) -> BTreeSet<IpNet> {
    let mut out = BTreeSet::new();
    let mut v4: Option<(Ipv4Addr, Ipv4Addr)> = None;
    let mut v6: Option<(Ipv6Addr, Ipv6Addr)> = None;
    for ip in vips {
        match *ip {
            IpAddr::V4(a) => match &mut v4 {
                Some((_, end)) if u32::from(*end).checked_add(1) == Some(u32::from(a)) => *end = a,
                run => {
                    if let Some((start, end)) = run.replace((a, a)) {
                        out.extend(Ipv4Subnets::new(start, end, 0).map(IpNet::V4));
                    }
                }
            },
            IpAddr::V6(a) => match &mut v6 {
                Some((_, end)) if u128::from(*end).checked_add(1) == Some(u128::from(a)) => *end = a,
                run => {
                    if let Some((start, end)) = run.replace((a, a)) {
                        out.extend(Ipv6Subnets::new(start, end, 0).map(IpNet::V6));
                    }
                }
            },
        }
    }
    out.extend(v4.into_iter().flat_map(|(s, e)| Ipv4Subnets::new(s, e, 0).map(IpNet::V4)));
    out.extend(v6.into_iter().flat_map(|(s, e)| Ipv6Subnets::new(s, e, 0).map(IpNet::V6)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
        ips.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    fn prefixes(cover: &BTreeSet<IpNet>) -> Vec<String> {
        cover.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn consecutive_vips_share_the_largest_aligned_prefixes() {
        let vips =
            set(&["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.20", "2001:db8::1", "2001:db8::2"]);
        assert_eq!(
            prefixes(&cover(&vips)),
            ["192.0.2.10/31", "192.0.2.12/32", "192.0.2.20/32", "2001:db8::1/128", "2001:db8::2/128"]
        );
        let block: BTreeSet<IpAddr> =
            (0..=255u8).map(|i| IpAddr::V4(Ipv4Addr::new(198, 51, 100, i))).collect();
        assert_eq!(prefixes(&cover(&block)), ["198.51.100.0/24"]);
    }

    fn nets(prefixes: &[&str]) -> BTreeSet<IpNet> {
        prefixes.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn a_route_no_longer_wanted_leaves_at_its_time_unless_wanted_again() {
        let start = Instant::now();
        let later = start + LINGER;
        let mut held = Held::default();
        let steps = held.converge(&nets(&["192.0.2.10/31"]), Some(later));
        assert_eq!(steps, Steps { add: nets(&["192.0.2.10/31"]).into_iter().collect(), remove: vec![] });
        // Handed over: the /31 stays until `later`; the new /32 comes at once.
        let steps = held.converge(&nets(&["192.0.2.10/32"]), Some(later));
        assert_eq!(steps, Steps { add: nets(&["192.0.2.10/32"]).into_iter().collect(), remove: vec![] });
        assert_eq!(held.next_leaving(), Some(later));
        assert_eq!(held.due(start), vec![]);
        assert_eq!(held.due(later), nets(&["192.0.2.10/31"]).into_iter().collect::<Vec<_>>());
        assert_eq!(held.next_leaving(), None);
        // Leaving, then wanted again before its time: it stays, with nothing to do.
        held.converge(&BTreeSet::new(), Some(later));
        assert_eq!(held.converge(&nets(&["192.0.2.10/32"]), Some(later)), Steps::default());
        assert_eq!(held.next_leaving(), None);
        // A VIP accepted one by one keeps the leaving prefix that covers it.
        held.converge(&BTreeSet::new(), Some(later));
        assert!(held.keep_covering("192.0.2.10".parse().unwrap()));
        assert!(!held.keep_covering("192.0.2.11".parse().unwrap()));
        assert_eq!(held.next_leaving(), None);
        // Stopping for good removes everything at once, leaving or not.
        held.converge(&nets(&["198.51.100.0/24"]), Some(later));
        held.converge(&nets(&["198.51.100.0/24"]), Some(later));
        let steps = held.converge(&BTreeSet::new(), None);
        assert_eq!(steps.remove, nets(&["192.0.2.10/32", "198.51.100.0/24"]).into_iter().collect::<Vec<_>>());
        assert!(held.0.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn the_cover_holds_exactly_the_vips(offsets in proptest::collection::btree_set(0u32..512, 0..200)) {
            let base = u32::from(Ipv4Addr::new(198, 51, 100, 0));
            let vips: BTreeSet<IpAddr> = offsets.iter().map(|o| IpAddr::V4(Ipv4Addr::from(base + o))).collect();
            let cover = cover(&vips);
            for o in 0..1024u32 {
                let ip = IpAddr::V4(Ipv4Addr::from(base + o));
                proptest::prop_assert_eq!(cover.iter().any(|p| p.contains(&ip)), vips.contains(&ip), "{}", ip);
            }
            // No two prefixes overlap, and no two could merge into one.
            let v: Vec<&IpNet> = cover.iter().collect();
            for pair in v.windows(2) {
                proptest::prop_assert!(!pair[0].contains(pair[1]));
                let mergeable = pair[0].prefix_len() == pair[1].prefix_len() && pair[0].supernet() == pair[1].supernet();
                proptest::prop_assert!(!mergeable, "{} and {} should be one prefix", pair[0], pair[1]);
            }
        }
    }
}
