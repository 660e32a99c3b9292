//! Which VIPs this node leads, per interface, and what it says about them: answers to
//! ARP requests and Neighbor Solicitations, and the announcements of a takeover.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::arp::{ArpRepr, Operation};
use crate::ethernet::MacAddr;
use crate::frame::{Frame, Payload};
use crate::ndp::{self, NdpMessage, NdpPacket, NeighborFlags};

/// One interface on which this node answers, with the VIPs it leads there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedInterface {
    /// The interface's MAC: every answer and announcement names it.
    pub mac: MacAddr,
    /// The VIPs this node is the L2 leader of on this interface.
    pub vips: BTreeSet<IpAddr>,
}

/// Everything this node answers for: interface name → its MAC and led VIPs. The responder is
/// told the whole of it each time and works out what changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Leadership {
    /// Interfaces by name.
    pub interfaces: BTreeMap<String, LedInterface>,
}

impl Leadership {
    /// No VIPs anywhere.
    pub fn new() -> Self {
        Leadership::default()
    }

    /// Serves `iface` (whose MAC is `mac`) even while it leads no VIP there, so that the
    /// driver has its sockets ready before a takeover; returns `self` for chaining.
    pub fn serve(mut self, iface: &str, mac: MacAddr) -> Self {
        self.interfaces.entry(iface.to_owned()).or_default().mac = mac;
        self
    }

    /// Adds `vip` as led on `iface` (whose MAC is `mac`); returns `self` for chaining.
    pub fn lead(mut self, iface: &str, mac: MacAddr, vip: IpAddr) -> Self {
        let led = self.interfaces.entry(iface.to_owned()).or_default();
        led.mac = mac;
        led.vips.insert(vip);
        self
    }

    /// Whether this node leads `vip` on `iface`.
    pub fn leads(&self, iface: &str, vip: IpAddr) -> bool {
        self.interfaces.get(iface).is_some_and(|i| i.vips.contains(&vip))
    }

    /// Every (interface, VIP) pair led, with the interface's MAC.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, MacAddr, IpAddr)> + '_ {
        self.interfaces
            .iter()
            .flat_map(|(name, led)| led.vips.iter().map(move |vip| (name.as_str(), led.mac, *vip)))
    }

    /// The answer to `request`, received on `iface`, if it asks for a VIP led there:
    /// - an ARP request for a led IPv4 VIP gets a reply from the interface's MAC (RFC 826);
    /// - an NS for a led IPv6 VIP, to the VIP or its solicited-node address, gets a solicited
    ///   NA with the Override flag and the target link-layer option (RFC 4861 §7.2.4), as
    ///   MetalLB sends; an NS from `::` (duplicate address detection) gets an NA to all
    ///   nodes with S clear, which makes the prober see the address is taken.
    ///
    /// The answer carries the request's VLAN tag. Nothing else is answered: replies,
    /// gratuitous ARP from others, frames addressed to another MAC, VIPs not led.
    pub fn answer(&self, iface: &str, request: &Frame) -> Option<Frame> {
        let led = self.interfaces.get(iface)?;
        if request.dst != led.mac && !request.dst.is_multicast() {
            return None;
        }
        if request.src == led.mac {
            // Our own announcement, seen again (a bridge or a hairpin).
            return None;
        }
        match &request.payload {
            Payload::Arp(arp) => {
                let wanted = IpAddr::V4(arp.target_ip);
                if arp.operation != Operation::Request || !led.vips.contains(&wanted) {
                    return None;
                }
                if arp.sender_ip == arp.target_ip {
                    // Someone else's gratuitous ARP for this VIP: an announcement, not a question.
                    return None;
                }
                let reply = ArpRepr {
                    operation: Operation::Reply,
                    sender_mac: led.mac,
                    sender_ip: arp.target_ip,
                    target_mac: arp.sender_mac,
                    target_ip: arp.sender_ip,
                };
                Some(Frame {
                    dst: arp.sender_mac,
                    src: led.mac,
                    vlan: request.vlan,
                    payload: Payload::Arp(reply),
                })
            }
            Payload::Ndp(ndp) => {
                let NdpMessage::NeighborSolicit { target, source_mac } = ndp.message else {
                    return None;
                };
                if !led.vips.contains(&IpAddr::V6(target)) {
                    return None;
                }
                if ndp.dst != target && ndp.dst != ndp::solicited_node(target) {
                    return None;
                }
                let dad = ndp.src.is_unspecified();
                let (dst_ip, dst_mac) = if dad {
                    (ndp::ALL_NODES, MacAddr::ipv6_multicast(ndp::ALL_NODES))
                } else {
                    // Without the option (a unicast NUD probe) the Ethernet source is the asker.
                    (ndp.src, source_mac.unwrap_or(request.src))
                };
                let advert = NdpPacket {
                    src: target,
                    dst: dst_ip,
                    message: NdpMessage::NeighborAdvert {
                        flags: NeighborFlags { router: false, solicited: !dad, overrides: true },
                        target,
                        target_mac: Some(led.mac),
                    },
                };
                Some(Frame { dst: dst_mac, src: led.mac, vlan: request.vlan, payload: Payload::Ndp(advert) })
            }
        }
    }
}

/// The announcement that `mac` now has `vip`: for IPv4 a gratuitous ARP, for IPv6 an
/// unsolicited Neighbor Advertisement.
pub fn announcement(mac: MacAddr, vip: IpAddr) -> Frame {
    match vip {
        IpAddr::V4(v4) => gratuitous_arp(mac, v4),
        IpAddr::V6(v6) => unsolicited_na(mac, v6),
    }
}

/// A gratuitous ARP: a broadcast *request* with sender IP = target IP = `vip` and a zero
/// target MAC (RFC 5227 §3). The request form, because Linux clients with `arp_accept=0`
/// updated an existing entry from it but not from the reply form (LAB-NOTES).
pub fn gratuitous_arp(mac: MacAddr, vip: Ipv4Addr) -> Frame {
    Frame {
        dst: MacAddr::BROADCAST,
        src: mac,
        vlan: None,
        payload: Payload::Arp(ArpRepr {
            operation: Operation::Request,
            sender_mac: mac,
            sender_ip: vip,
            target_mac: MacAddr::ZERO,
            target_ip: vip,
        }),
    }
}

/// An unsolicited Neighbor Advertisement to all nodes with Override set and Solicited clear
/// (RFC 4861 §7.2.6), so that caches replace the old MAC with `mac`.
pub fn unsolicited_na(mac: MacAddr, vip: Ipv6Addr) -> Frame {
    Frame {
        dst: MacAddr::ipv6_multicast(ndp::ALL_NODES),
        src: mac,
        vlan: None,
        payload: Payload::Ndp(NdpPacket {
            src: vip,
            dst: ndp::ALL_NODES,
            message: NdpMessage::NeighborAdvert {
                flags: NeighborFlags { router: false, solicited: false, overrides: true },
                target: vip,
                target_mac: Some(mac),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::VlanTag;
    use crate::golden::{CLIENT_MAC, CLIENT4, CLIENT6, NODE_MAC, VIP4, VIP6, arp_request, neighbor_solicit};

    fn leading_both() -> Leadership {
        Leadership::new().lead("eth0", NODE_MAC, VIP4.into()).lead("eth0", NODE_MAC, VIP6.into())
    }

    fn arp_of(frame: &Frame) -> ArpRepr {
        match frame.payload {
            Payload::Arp(a) => a,
            Payload::Ndp(_) => panic!("not ARP"),
        }
    }

    fn ndp_of(frame: &Frame) -> NdpPacket {
        match frame.payload {
            Payload::Ndp(n) => n,
            Payload::Arp(_) => panic!("not NDP"),
        }
    }

    #[test]
    fn an_arp_request_for_a_led_vip_gets_a_reply_from_the_interface_mac() {
        let reply = leading_both().answer("eth0", &arp_request()).unwrap();
        let arp = arp_of(&reply);
        assert_eq!((reply.src, reply.dst), (NODE_MAC, CLIENT_MAC));
        assert_eq!(arp.operation, Operation::Reply);
        assert_eq!((arp.sender_mac, arp.sender_ip), (NODE_MAC, VIP4));
        assert_eq!((arp.target_mac, arp.target_ip), (CLIENT_MAC, CLIENT4));
    }

    #[test]
    fn a_served_interface_without_vips_answers_nothing() {
        let idle = Leadership::new().serve("eth0", NODE_MAC);
        assert!(idle.interfaces.contains_key("eth0"));
        assert_eq!(idle.answer("eth0", &arp_request()), None);
        assert_eq!(idle.answer("eth0", &neighbor_solicit()), None);
    }

    #[test]
    fn an_arp_request_for_a_vip_not_led_gets_nothing() {
        let other = Leadership::new().lead("eth0", NODE_MAC, "192.0.2.11".parse().unwrap());
        assert_eq!(other.answer("eth0", &arp_request()), None);
    }

    #[test]
    fn a_vip_led_on_another_interface_is_not_answered_here() {
        assert_eq!(leading_both().answer("eth1", &arp_request()), None);
    }

    #[test]
    fn an_arp_reply_gets_nothing() {
        let mut f = arp_request();
        if let Payload::Arp(a) = &mut f.payload {
            a.operation = Operation::Reply;
        }
        assert_eq!(leading_both().answer("eth0", &f), None);
    }

    #[test]
    fn someone_elses_gratuitous_arp_for_our_vip_gets_nothing() {
        let garp = gratuitous_arp(CLIENT_MAC, VIP4);
        assert_eq!(leading_both().answer("eth0", &garp), None);
    }

    #[test]
    fn a_request_sent_to_another_mac_gets_nothing() {
        let mut f = arp_request();
        f.dst = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
        assert_eq!(leading_both().answer("eth0", &f), None);
    }

    #[test]
    fn a_request_unicast_to_the_interface_mac_is_answered() {
        let mut f = arp_request();
        f.dst = NODE_MAC;
        assert!(leading_both().answer("eth0", &f).is_some());
    }

    #[test]
    fn an_answer_carries_the_vlan_tag_of_the_request() {
        let mut f = neighbor_solicit();
        f.vlan = Some(VlanTag(0x2123));
        assert_eq!(leading_both().answer("eth0", &f).unwrap().vlan, Some(VlanTag(0x2123)));
    }

    #[test]
    fn a_solicitation_to_the_solicited_node_address_gets_a_solicited_advertisement_with_override() {
        let na = leading_both().answer("eth0", &neighbor_solicit()).unwrap();
        let ndp = ndp_of(&na);
        assert_eq!((na.src, na.dst), (NODE_MAC, CLIENT_MAC));
        assert_eq!((ndp.src, ndp.dst), (VIP6, CLIENT6));
        assert_eq!(
            ndp.message,
            NdpMessage::NeighborAdvert {
                flags: NeighborFlags { router: false, solicited: true, overrides: true },
                target: VIP6,
                target_mac: Some(NODE_MAC),
            }
        );
    }

    #[test]
    fn a_unicast_solicitation_without_source_option_is_answered_to_the_ethernet_source() {
        let mut f = neighbor_solicit();
        f.dst = NODE_MAC;
        if let Payload::Ndp(n) = &mut f.payload {
            n.dst = VIP6;
            n.message = NdpMessage::NeighborSolicit { target: VIP6, source_mac: None };
        }
        let na = leading_both().answer("eth0", &f).unwrap();
        assert_eq!(na.dst, CLIENT_MAC);
    }

    #[test]
    fn a_solicitation_to_an_unrelated_address_gets_nothing() {
        let mut f = neighbor_solicit();
        if let Payload::Ndp(n) = &mut f.payload {
            n.dst = ndp::solicited_node("2001:db8::99".parse().unwrap());
        }
        assert_eq!(leading_both().answer("eth0", &f), None);
    }

    #[test]
    fn a_duplicate_address_probe_for_a_led_vip_gets_an_advertisement_to_all_nodes() {
        let mut f = neighbor_solicit();
        if let Payload::Ndp(n) = &mut f.payload {
            n.src = Ipv6Addr::UNSPECIFIED;
            n.message = NdpMessage::NeighborSolicit { target: VIP6, source_mac: None };
        }
        let na = leading_both().answer("eth0", &f).unwrap();
        let ndp = ndp_of(&na);
        assert_eq!(ndp.dst, ndp::ALL_NODES);
        assert!(
            matches!(ndp.message, NdpMessage::NeighborAdvert { flags, .. } if !flags.solicited && flags.overrides)
        );
    }

    #[test]
    fn a_solicitation_for_a_vip_not_led_gets_nothing() {
        let v4_only = Leadership::new().lead("eth0", NODE_MAC, VIP4.into());
        assert_eq!(v4_only.answer("eth0", &neighbor_solicit()), None);
    }

    #[test]
    fn an_advertisement_gets_nothing() {
        assert_eq!(leading_both().answer("eth0", &unsolicited_na(CLIENT_MAC, VIP6)), None);
    }

    #[test]
    fn our_own_announcement_seen_again_gets_nothing() {
        assert_eq!(leading_both().answer("eth0", &gratuitous_arp(NODE_MAC, VIP4)), None);
    }

    #[test]
    fn a_gratuitous_arp_is_a_broadcast_request_from_the_vip_to_the_vip() {
        let garp = gratuitous_arp(NODE_MAC, VIP4);
        let arp = arp_of(&garp);
        assert_eq!(garp.dst, MacAddr::BROADCAST);
        assert_eq!(arp.operation, Operation::Request);
        assert_eq!(
            (arp.sender_mac, arp.sender_ip, arp.target_mac, arp.target_ip),
            (NODE_MAC, VIP4, MacAddr::ZERO, VIP4)
        );
    }

    #[test]
    fn an_unsolicited_advertisement_goes_to_all_nodes_with_override_and_without_solicited() {
        let na = unsolicited_na(NODE_MAC, VIP6);
        let ndp = ndp_of(&na);
        assert_eq!((na.dst, ndp.dst), (MacAddr([0x33, 0x33, 0, 0, 0, 1]), ndp::ALL_NODES));
        assert_eq!(
            ndp.message,
            NdpMessage::NeighborAdvert {
                flags: NeighborFlags { router: false, solicited: false, overrides: true },
                target: VIP6,
                target_mac: Some(NODE_MAC),
            }
        );
    }
}
