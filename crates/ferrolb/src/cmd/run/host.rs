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

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};
use tracing::info;

/// The protocol number that marks ferrolb's routes (`ip route show proto 248`).
pub const PROTOCOL: u8 = 248;
/// The kernel's `local` table.
const LOCAL_TABLE: u32 = 255;
/// The interface local routes point at.
pub const INTERFACE: &str = "lo";

/// The VIPs this host accepts traffic for.
pub struct HostVips {
    handle: Handle,
    loopback: u32,
    held: BTreeSet<IpNet>,
}

impl HostVips {
    /// Opens a netlink connection (on the current tokio runtime) and adopts
    /// the routes a previous run left behind.
    pub async fn open() -> anyhow::Result<HostVips> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        let mut links = handle.link().get().match_name(INTERFACE.to_owned()).execute();
        let loopback =
            links.try_next().await?.ok_or_else(|| anyhow::anyhow!("no {INTERFACE} interface"))?.header.index;
        let mut host = HostVips { handle, loopback, held: BTreeSet::new() };
        host.held = host.our_routes().await?;
        Ok(host)
    }

    /// Accepts traffic for exactly `desired`: adds the prefixes that are
    /// missing first, then removes the rest, so a VIP that stays is accepted
    /// throughout.
    pub async fn converge(&mut self, desired: &BTreeSet<IpAddr>) -> anyhow::Result<()> {
        let wanted = cover(desired);
        for prefix in wanted.difference(&self.held) {
            self.handle.route().add(self.local_route(*prefix)).replace().execute().await?;
            info!(vips = %prefix, "this host accepts the VIPs");
        }
        for prefix in self.held.difference(&wanted) {
            self.handle.route().del(self.local_route(*prefix)).execute().await?;
            info!(vips = %prefix, "this host no longer accepts the VIPs");
        }
        self.held = wanted;
        Ok(())
    }

    /// Accepts traffic for `vips` too, each that no prefix held covers with a
    /// prefix of its own; the next [`HostVips::converge`] merges them. (An
    /// edit that adds one VIP to 100,000 costs one route, not a new cover.)
    pub async fn accept(&mut self, vips: &[IpAddr]) -> anyhow::Result<()> {
        for &vip in vips {
            let host = IpNet::from(vip);
            let covered = (0..=host.prefix_len())
                .any(|len| IpNet::new(vip, len).is_ok_and(|p| self.held.contains(&p.trunc())));
            if !covered {
                self.handle.route().add(self.local_route(host)).replace().execute().await?;
                info!(vips = %host, "this host accepts the VIPs");
                self.held.insert(host);
            }
        }
        Ok(())
    }

    /// Stops accepting every VIP.
    pub async fn clear(&mut self) -> anyhow::Result<()> {
        let count = self.held.len();
        self.converge(&BTreeSet::new()).await?;
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
    async fn our_routes(&self) -> anyhow::Result<BTreeSet<IpNet>> {
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
