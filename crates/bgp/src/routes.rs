//! From the routes a speaker wants a peer to have to the UPDATE messages
//! that say so: the changes of an [`AdjRibOut`](crate::rib_out::AdjRibOut)
//! become withdrawals and announcements, prefixes sharing attributes packed
//! into as few messages as fit in 4096 bytes (RFC 4271 §4.3).

use std::net::Ipv6Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::message::{
    AsPath, Community, Ipv6NextHop, LargeCommunity, MAX_MESSAGE_LEN, Message, MpNextHop, MpReach, MpUnreach,
    Origin, PathAttributes, Update,
};
use crate::rib_out::Changes;
use crate::types::Asn;

/// What a speaker attaches to one route, beyond ORIGIN, AS_PATH and NEXT_HOP,
/// which are the same for every route of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteAttributes {
    /// LOCAL_PREF; sent to iBGP peers only (100 when unset, as RFC 4271 §5.1.5 expects one).
    pub local_pref: Option<u32>,
    /// COMMUNITIES (RFC 1997), sorted.
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY (RFC 8092), sorted.
    pub large_communities: Vec<LargeCommunity>,
}

/// What is fixed for every UPDATE of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRoutes {
    /// Our AS: the AS_PATH toward an eBGP peer.
    pub local_as: Asn,
    /// The peer is in our AS: empty AS_PATH, LOCAL_PREF sent.
    pub ibgp: bool,
    /// Next hop of IPv4 routes: an IPv4 address goes in NEXT_HOP; an IPv6
    /// one (RFC 8950, when the peer accepts it) puts the routes in
    /// MP_REACH_NLRI. None: IPv4 routes are not sent.
    pub next_hop_v4: Option<MpNextHop>,
    /// Next hop of IPv6 routes (MP_REACH_NLRI); none: IPv6 routes are not sent.
    pub next_hop_v6: Option<Ipv6Addr>,
}

/// Bytes of a /32 in NLRI, and of a /128 in MP_REACH_NLRI.
const V4_PREFIX_LEN: usize = 5;
const V6_PREFIX_LEN: usize = 17;

impl SessionRoutes {
    /// The UPDATEs that carry `changes` to the peer. Prefixes of a family the
    /// session has no next hop for are left out.
    pub fn updates(&self, changes: &Changes<IpNet, RouteAttributes>) -> Vec<Message> {
        let mut out = Vec::new();
        let (v4, v6) = split(changes.withdrawn.iter().copied());
        for chunk in v4.chunks(room(0, V4_PREFIX_LEN)) {
            out.push(Message::Update(Update { withdrawn: chunk.to_vec(), ..Update::default() }));
        }
        for chunk in v6.chunks(room(8, V6_PREFIX_LEN)) {
            let attributes = PathAttributes {
                mp_unreach: Some(MpUnreach::Ipv6Unicast(chunk.to_vec())),
                ..Default::default()
            };
            out.push(Message::Update(Update { attributes, ..Update::default() }));
        }
        for (attributes, prefixes) in &changes.announced {
            let (v4, v6) = split(prefixes.iter().copied());
            let common = self.attributes(attributes);
            let fixed = attributes_len(attributes);
            match self.next_hop_v4 {
                Some(MpNextHop::V4(next_hop)) => {
                    for chunk in v4.chunks(room(fixed + 7, V4_PREFIX_LEN)) {
                        let attributes = PathAttributes { next_hop: Some(next_hop), ..common.clone() };
                        out.push(Message::Update(Update {
                            attributes,
                            nlri: chunk.to_vec(),
                            ..Update::default()
                        }));
                    }
                }
                Some(next_hop @ MpNextHop::V6(_)) => {
                    for chunk in v4.chunks(room(fixed + 25, V4_PREFIX_LEN)) {
                        let reach = MpReach::Ipv4Unicast { next_hop, nlri: chunk.to_vec() };
                        let attributes = PathAttributes { mp_reach: Some(reach), ..common.clone() };
                        out.push(Message::Update(Update { attributes, ..Update::default() }));
                    }
                }
                None => {}
            }
            if let Some(global) = self.next_hop_v6 {
                for chunk in v6.chunks(room(fixed + 25, V6_PREFIX_LEN)) {
                    let next_hop = Ipv6NextHop { global, link_local: None };
                    let reach = MpReach::Ipv6Unicast { next_hop, nlri: chunk.to_vec() };
                    let attributes = PathAttributes { mp_reach: Some(reach), ..common.clone() };
                    out.push(Message::Update(Update { attributes, ..Update::default() }));
                }
            }
        }
        out
    }

    fn attributes(&self, route: &RouteAttributes) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(if self.ibgp { AsPath::default() } else { AsPath::sequence([self.local_as]) }),
            local_pref: self.ibgp.then(|| route.local_pref.unwrap_or(100)),
            communities: route.communities.clone(),
            large_communities: route.large_communities.clone(),
            ..PathAttributes::default()
        }
    }
}

/// IPv4 and IPv6 prefixes apart, in order.
fn split(prefixes: impl Iterator<Item = IpNet>) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for prefix in prefixes {
        match prefix {
            IpNet::V4(p) => v4.push(p),
            IpNet::V6(p) => v6.push(p),
        }
    }
    (v4, v6)
}

/// Bytes the attributes of `route` take at most, beyond NEXT_HOP/MP_REACH.
fn attributes_len(route: &RouteAttributes) -> usize {
    // ORIGIN 4, AS_PATH 3 + 2 + 4, LOCAL_PREF 7, then the communities with an
    // extended-length header each.
    4 + 9 + 7 + 4 + 4 * route.communities.len() + 4 + 12 * route.large_communities.len()
}

/// How many prefixes of `each` bytes fit beside `attributes` bytes of attributes.
fn room(attributes: usize, each: usize) -> usize {
    // Header 19, withdrawn length 2, attributes length 2.
    let free = MAX_MESSAGE_LEN.saturating_sub(19 + 2 + 2 + attributes);
    (free / each).max(1)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::message::{DecodeContext, EncodeContext};

    fn session(ibgp: bool) -> SessionRoutes {
        SessionRoutes {
            local_as: Asn::new(64512).unwrap(),
            ibgp,
            next_hop_v4: Some(MpNextHop::V4(Ipv4Addr::new(192, 0, 2, 11))),
            next_hop_v6: Some("2001:db8::11".parse().unwrap()),
        }
    }

    fn announce(attributes: RouteAttributes, prefixes: &[&str]) -> Changes<IpNet, RouteAttributes> {
        Changes {
            withdrawn: vec![],
            announced: vec![(attributes, prefixes.iter().map(|p| p.parse().unwrap()).collect())],
        }
    }

    fn round_trip(message: &Message) -> Message {
        let ctx = EncodeContext { four_octet_as: true };
        let bytes = message.to_bytes(&ctx);
        assert!(bytes.len() <= MAX_MESSAGE_LEN, "{} bytes", bytes.len());
        let decode = DecodeContext { four_octet_as: true, ..DecodeContext::default() };
        Message::decode(&bytes, &decode).unwrap()
    }

    #[test]
    fn ebgp_routes_carry_our_as_and_no_local_pref() {
        let attributes = RouteAttributes {
            local_pref: Some(200),
            communities: vec![Community::from_u32(64512 << 16 | 100)],
            ..Default::default()
        };
        let messages = session(false).updates(&announce(attributes, &["203.0.113.10/32"]));
        let [Message::Update(update)] = messages.as_slice() else { panic!("{messages:?}") };
        assert_eq!(update.nlri, ["203.0.113.10/32".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(update.attributes.as_path, Some(AsPath::sequence([Asn::new(64512).unwrap()])));
        assert_eq!(update.attributes.next_hop, Some(Ipv4Addr::new(192, 0, 2, 11)));
        assert_eq!(update.attributes.local_pref, None);
        assert_eq!(update.attributes.communities, [Community::from_u32(64512 << 16 | 100)]);
        assert_eq!(&round_trip(&messages[0]), &messages[0]);
    }

    #[test]
    fn ibgp_routes_carry_local_pref_and_an_empty_as_path() {
        let messages = session(true).updates(&announce(RouteAttributes::default(), &["203.0.113.10/32"]));
        let [Message::Update(update)] = messages.as_slice() else { panic!("{messages:?}") };
        assert_eq!(update.attributes.local_pref, Some(100));
        assert_eq!(update.attributes.as_path, Some(AsPath::default()));
    }

    #[test]
    fn ipv6_routes_go_in_mp_reach_and_withdrawals_in_mp_unreach() {
        let mut changes = announce(RouteAttributes::default(), &["2001:db8:1::10/128"]);
        changes.withdrawn = vec!["2001:db8:1::9/128".parse().unwrap(), "203.0.113.9/32".parse().unwrap()];
        let messages = session(false).updates(&changes);
        assert_eq!(messages.len(), 3);
        for message in &messages {
            assert_eq!(&round_trip(message), message);
        }
        let Message::Update(reach) = &messages[2] else { panic!() };
        let Some(MpReach::Ipv6Unicast { next_hop, nlri }) = &reach.attributes.mp_reach else {
            panic!("{reach:?}")
        };
        assert_eq!((next_hop.global, nlri.len()), ("2001:db8::11".parse().unwrap(), 1));
    }

    #[test]
    fn many_prefixes_are_packed_into_few_messages_that_fit() {
        let prefixes: Vec<String> = (0..2000u32)
            .map(|i| format!("{}/32", Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i)))
            .collect();
        let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let messages = session(false).updates(&announce(RouteAttributes::default(), &refs));
        assert_eq!(messages.len(), 3, "about 800 /32s fit in one UPDATE");
        let total: usize = messages
            .iter()
            .map(|m| match round_trip(m) {
                Message::Update(u) => u.nlri.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(total, 2000);
    }

    #[test]
    fn ipv4_routes_with_an_ipv6_next_hop_go_in_mp_reach() {
        let global: Ipv6Addr = "2001:db8::11".parse().unwrap();
        let routes = SessionRoutes {
            next_hop_v4: Some(MpNextHop::V6(Ipv6NextHop { global, link_local: None })),
            ..session(false)
        };
        let mut changes = announce(RouteAttributes::default(), &["203.0.113.10/32"]);
        changes.withdrawn = vec!["203.0.113.9/32".parse().unwrap()];
        let messages = routes.updates(&changes);
        let [Message::Update(withdraw), Message::Update(reach)] = messages.as_slice() else {
            panic!("{messages:?}")
        };
        assert_eq!(withdraw.withdrawn, ["203.0.113.9/32".parse::<Ipv4Net>().unwrap()]);
        assert!(reach.nlri.is_empty() && reach.attributes.next_hop.is_none(), "{reach:?}");
        let Some(MpReach::Ipv4Unicast { next_hop: MpNextHop::V6(next_hop), nlri }) =
            &reach.attributes.mp_reach
        else {
            panic!("{reach:?}")
        };
        assert_eq!((next_hop.global, nlri.len()), (global, 1));
        let ctx = DecodeContext {
            four_octet_as: true,
            families: vec![crate::types::AfiSafi::IPV4_UNICAST],
            ..DecodeContext::default()
        };
        let bytes = messages[1].to_bytes(&EncodeContext { four_octet_as: true });
        assert_eq!(Message::decode(&bytes, &ctx).unwrap(), messages[1]);
    }

    #[test]
    fn a_family_without_next_hop_is_not_sent() {
        let routes = SessionRoutes { next_hop_v6: None, ..session(false) };
        let messages = routes.updates(&announce(RouteAttributes::default(), &["2001:db8:1::10/128"]));
        assert!(messages.is_empty());
    }
}
