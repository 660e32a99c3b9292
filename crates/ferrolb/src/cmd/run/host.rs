//! Making this host accept traffic for the VIPs it announces, without
//! kube-proxy: each VIP gets a `local` route on `lo` in the kernel's `local`
//! table (as `ip route add local VIP dev lo table local`), so the host takes
//! packets for it and a server listening on any address answers them.
//!
//! Why routes rather than addresses: a route carries a protocol number, so
//! ferrolb finds its own again (after a restart too) and never touches a
//! route someone else added; and it needs no interface of its own (the
//! `dummy` driver is not in every kernel).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures_util::TryStreamExt;
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
    held: BTreeMap<IpAddr, RouteMessage>,
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
        let mut host = HostVips { handle, loopback, held: BTreeMap::new() };
        host.held = host.our_routes().await?;
        Ok(host)
    }

    /// Accepts traffic for exactly `desired`: adds what is missing, removes the rest.
    pub async fn converge(&mut self, desired: &BTreeSet<IpAddr>) -> anyhow::Result<()> {
        let stale: Vec<IpAddr> = self.held.keys().filter(|ip| !desired.contains(ip)).copied().collect();
        for ip in stale {
            if let Some(route) = self.held.remove(&ip) {
                self.handle.route().del(route).execute().await?;
                info!(vip = %ip, "this host no longer accepts the VIP");
            }
        }
        for ip in desired {
            if self.held.contains_key(ip) {
                continue;
            }
            let route = self.local_route(*ip)?;
            self.handle.route().add(route.clone()).replace().execute().await?;
            self.held.insert(*ip, route);
            info!(vip = %ip, "this host accepts the VIP");
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

    fn local_route(&self, ip: IpAddr) -> anyhow::Result<RouteMessage> {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        Ok(RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(ip, prefix)?
            .output_interface(self.loopback)
            .table_id(LOCAL_TABLE)
            .kind(RouteType::Local)
            .scope(RouteScope::Host)
            .protocol(RouteProtocol::Other(PROTOCOL))
            .build())
    }

    /// ferrolb's routes in the local table, by destination.
    async fn our_routes(&self) -> anyhow::Result<BTreeMap<IpAddr, RouteMessage>> {
        let mut ours = BTreeMap::new();
        for family in [
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().table_id(LOCAL_TABLE).build(),
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().table_id(LOCAL_TABLE).build(),
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
                if let Some(ip) = destination {
                    ours.insert(ip, route);
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
