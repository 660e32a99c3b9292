//! IPv6 Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3, §4.4) in their
//! IPv6 header, with the ICMPv6 checksum (RFC 4443 §2.3).
//!
//! ```text
//! IPv6 header (RFC 8200 §3), 40 bytes:
//!  0       4               6       7       8                       24                      40
//! +-------+---------------+-------+-------+-----------------------+-----------------------+
//! |6|TC|FL| payload length| next  | hop   | source address        | destination address   |
//! +-------+---------------+-------+-------+-----------------------+-----------------------+
//!                           58 = ICMPv6, 255 = hop limit of every ND message (§7.1.1)
//!
//! ICMPv6 NS (type 135) / NA (type 136):
//!  0      1      2          4                8                       24
//! +------+------+----------+----------------+-----------------------+----------------------
//! | type | code | checksum | reserved/flags | target address        | options…
//! +------+------+----------+----------------+-----------------------+----------------------
//!                            NA flags: R (0x80) S (0x40) O (0x20) in the first byte
//!
//! Link-layer address option (§4.6.1): | type 1 or 2 | length 1 (×8 bytes) | MAC (6) |
//! ```

use std::net::Ipv6Addr;

use crate::Error;
use crate::ethernet::MacAddr;

/// Byte offsets of the IPv6 header fields.
mod ip_field {
    use std::ops::Range;
    pub const VERSION: usize = 0;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Byte offsets of the ICMPv6 NS/NA fields.
mod icmp_field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const FLAGS: usize = 4;
    pub const RESERVED: Range<usize> = 4..8;
    pub const TARGET: Range<usize> = 8..24;
    pub const OPTIONS: usize = 24;
}

/// Length of the IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of an NS or NA without options (RFC 4861 §7.1.1: "ICMP length is 24 or more").
pub const NDP_MIN_LEN: usize = 24;
/// Length of a link-layer address option for Ethernet.
pub const LLADDR_OPTION_LEN: usize = 8;
/// The hop limit of every ND message; a router would have decremented it (RFC 4861 §7.1.1).
pub const HOP_LIMIT: u8 = 255;
/// IPv6 next header value of ICMPv6.
const NEXT_HEADER_ICMPV6: u8 = 58;
const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
const TYPE_NEIGHBOR_ADVERT: u8 = 136;
const OPTION_SOURCE_LLADDR: u8 = 1;
const OPTION_TARGET_LLADDR: u8 = 2;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// `ff02::1`, all nodes on the link: where an unsolicited NA goes (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `addr`: `ff02::1:ff` and its last 24 bits
/// (RFC 4291 §2.7.1), where a Neighbor Solicitation for it is sent.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]])
}

fn read_u16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

fn read_ipv6(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[..16]);
    Ipv6Addr::from(o)
}

/// A checked view of an IPv6 packet in a byte buffer.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` after checking the version and that the payload it declares is there
    /// (bytes after it, such as Ethernet padding, are ignored).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < IPV6_HEADER_LEN {
            return Err(Error::Truncated { what: "IPv6 header", needed: IPV6_HEADER_LEN, got: b.len() });
        }
        if b[ip_field::VERSION] >> 4 != 6 {
            return Err(Error::Malformed("IPv6 version is not 6"));
        }
        let needed = IPV6_HEADER_LEN + usize::from(read_u16(b, ip_field::PAYLOAD_LEN));
        if b.len() < needed {
            return Err(Error::Truncated { what: "IPv6 payload", needed, got: b.len() });
        }
        Ok(Ipv6Packet { buffer })
    }

    /// The next header (protocol of the payload).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[ip_field::NEXT_HEADER]
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[ip_field::HOP_LIMIT]
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        read_ipv6(&self.buffer.as_ref()[ip_field::SRC])
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        read_ipv6(&self.buffer.as_ref()[ip_field::DST])
    }

    /// The payload, as long as the header says.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[IPV6_HEADER_LEN..IPV6_HEADER_LEN + usize::from(read_u16(b, ip_field::PAYLOAD_LEN))]
    }
}

/// The ICMPv6 checksum of `message` (its checksum field included as it stands) under the
/// pseudo-header of `src` and `dst` (RFC 4443 §2.3, RFC 8200 §8.1): zero when a received
/// checksum is right; the value to store when the field was zero.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let word = u16::from_be_bytes([chunk[0], chunk.get(1).copied().unwrap_or(0)]);
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // A message comes from an IPv6 payload length, so it fits in 16 bits.
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    !(sum as u16)
}

/// A checked view of an ICMPv6 Neighbor Solicitation or Advertisement in a byte buffer.
#[derive(Debug, Clone)]
pub struct NdpMessageView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdpMessageView<T> {
    /// Wraps `buffer` after checking that it is an NS or NA of at least 24 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < 4 {
            return Err(Error::Truncated { what: "ICMPv6 header", needed: 4, got: b.len() });
        }
        if !matches!(b[icmp_field::TYPE], TYPE_NEIGHBOR_SOLICIT | TYPE_NEIGHBOR_ADVERT) {
            return Err(Error::Unsupported { what: "ICMPv6 type", value: u16::from(b[icmp_field::TYPE]) });
        }
        if b.len() < NDP_MIN_LEN {
            return Err(Error::Truncated { what: "NS/NA", needed: NDP_MIN_LEN, got: b.len() });
        }
        Ok(NdpMessageView { buffer })
    }

    /// The ICMPv6 type: 135 (NS) or 136 (NA).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[icmp_field::TYPE]
    }

    /// The ICMPv6 code (0 for ND).
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[icmp_field::CODE]
    }

    /// The checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), icmp_field::CHECKSUM)
    }

    /// The NA flags byte (R, S, O in the top bits); reserved in an NS.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[icmp_field::FLAGS]
    }

    /// The target address.
    pub fn target(&self) -> Ipv6Addr {
        read_ipv6(&self.buffer.as_ref()[icmp_field::TARGET])
    }

    /// The options area.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[icmp_field::OPTIONS..]
    }
}

/// The flags of a Neighbor Advertisement (RFC 4861 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeighborFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in answer to a Neighbor Solicitation.
    pub solicited: bool,
    /// O: the receiver should replace a cached link-layer address with this one.
    pub overrides: bool,
}

impl NeighborFlags {
    fn from_byte(b: u8) -> Self {
        NeighborFlags {
            router: b & FLAG_ROUTER != 0,
            solicited: b & FLAG_SOLICITED != 0,
            overrides: b & FLAG_OVERRIDE != 0,
        }
    }

    fn to_byte(self) -> u8 {
        (if self.router { FLAG_ROUTER } else { 0 })
            | (if self.solicited { FLAG_SOLICITED } else { 0 })
            | (if self.overrides { FLAG_OVERRIDE } else { 0 })
    }
}

/// A Neighbor Discovery message, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpMessage {
    /// Who has `target`? (RFC 4861 §4.3)
    NeighborSolicit {
        /// The address asked about.
        target: Ipv6Addr,
        /// The asker's MAC (Source Link-Layer Address option), absent from DAD probes.
        source_mac: Option<MacAddr>,
    },
    /// `target` is at `target_mac`. (RFC 4861 §4.4)
    NeighborAdvert {
        /// R, S and O.
        flags: NeighborFlags,
        /// The address advertised.
        target: Ipv6Addr,
        /// The advertiser's MAC (Target Link-Layer Address option).
        target_mac: Option<MacAddr>,
    },
}

impl NdpMessage {
    /// The target address.
    pub fn target(&self) -> Ipv6Addr {
        match *self {
            NdpMessage::NeighborSolicit { target, .. } | NdpMessage::NeighborAdvert { target, .. } => target,
        }
    }
}

/// An NS or NA with the IPv6 addresses it travels between: what the ICMPv6 checksum covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdpPacket {
    /// IPv6 source address (`::` for a DAD probe).
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// The message.
    pub message: NdpMessage,
}

impl NdpPacket {
    /// Reads an NS or NA from an IPv6 packet, checking what RFC 4861 §7.1.1 and §7.1.2 ask of
    /// a receiver: hop limit 255, a source that is not multicast, a good checksum, code 0, a
    /// unicast target, options of non-zero length; an NS from `::` goes to a solicited-node address and has no source MAC, an NA
    /// to a multicast address is not solicited. Unknown options are skipped (§4.6).
    pub fn parse<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> Result<NdpPacket, Error> {
        if ip.next_header() != NEXT_HEADER_ICMPV6 {
            // Extension headers are not followed: ND messages carry none in practice, and
            // answering them is not worth a parser of every header.
            return Err(Error::Unsupported { what: "IPv6 next header", value: u16::from(ip.next_header()) });
        }
        let view = NdpMessageView::new_checked(ip.payload())?;
        if ip.hop_limit() != HOP_LIMIT {
            return Err(Error::HopLimit(ip.hop_limit()));
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if src.is_multicast() {
            // RFC 4291 §2.7: a multicast address is never a source. Answering one
            // would send a solicited advertisement to a group (found by fuzzing).
            return Err(Error::Malformed("ND message from a multicast source address"));
        }
        let computed = icmpv6_checksum(src, dst, ip.payload());
        if computed != 0 {
            let mut zeroed = ip.payload().to_vec();
            zeroed[icmp_field::CHECKSUM].fill(0);
            return Err(Error::Checksum {
                found: view.checksum(),
                expected: icmpv6_checksum(src, dst, &zeroed),
            });
        }
        if view.code() != 0 {
            return Err(Error::Malformed("ICMPv6 code of an ND message is not 0"));
        }
        let target = view.target();
        if target.is_multicast() {
            return Err(Error::Malformed("ND target is a multicast address"));
        }
        let mut source_mac = None;
        let mut target_mac = None;
        let mut options = view.options();
        while !options.is_empty() {
            if options.len() < 2 {
                return Err(Error::Truncated { what: "ND option", needed: 2, got: options.len() });
            }
            let len = usize::from(options[1]) * 8;
            if len == 0 {
                return Err(Error::Malformed("ND option of length zero"));
            }
            if options.len() < len {
                return Err(Error::Truncated { what: "ND option", needed: len, got: options.len() });
            }
            let slot = match options[0] {
                OPTION_SOURCE_LLADDR => Some(&mut source_mac),
                OPTION_TARGET_LLADDR => Some(&mut target_mac),
                _ => None,
            };
            if let Some(slot) = slot {
                // On Ethernet the option is 8 bytes (RFC 2464 §6); a longer one is not ours.
                if len != LLADDR_OPTION_LEN {
                    return Err(Error::Malformed("link-layer address option is not 8 bytes"));
                }
                let mut mac = [0; 6];
                mac.copy_from_slice(&options[2..8]);
                *slot = Some(MacAddr(mac));
            }
            options = &options[len..];
        }
        let message = match view.msg_type() {
            TYPE_NEIGHBOR_SOLICIT => {
                if src.is_unspecified() {
                    if dst != solicited_node(target) {
                        return Err(Error::Malformed("DAD probe not sent to a solicited-node address"));
                    }
                    if source_mac.is_some() {
                        return Err(Error::Malformed("DAD probe with a source link-layer address"));
                    }
                }
                NdpMessage::NeighborSolicit { target, source_mac }
            }
            _ => {
                let flags = NeighborFlags::from_byte(view.flags());
                if dst.is_multicast() && flags.solicited {
                    return Err(Error::Malformed("solicited NA sent to a multicast address"));
                }
                NdpMessage::NeighborAdvert { flags, target, target_mac }
            }
        };
        Ok(NdpPacket { src, dst, message })
    }

    fn icmp_len(&self) -> usize {
        let option = match self.message {
            NdpMessage::NeighborSolicit { source_mac: mac, .. }
            | NdpMessage::NeighborAdvert { target_mac: mac, .. } => mac.is_some(),
        };
        NDP_MIN_LEN + if option { LLADDR_OPTION_LEN } else { 0 }
    }

    /// The packet's length on the wire, IPv6 header included.
    pub fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN + self.icmp_len()
    }

    /// Writes the IPv6 header (hop limit 255, traffic class and flow label 0) and the message
    /// with its checksum into the start of `buf`, which must hold [`Self::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let icmp_len = self.icmp_len();
        let ip = &mut buf[..IPV6_HEADER_LEN + icmp_len];
        ip[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        // At most 32 bytes, see icmp_len.
        ip[ip_field::PAYLOAD_LEN].copy_from_slice(&(icmp_len as u16).to_be_bytes());
        ip[ip_field::NEXT_HEADER] = NEXT_HEADER_ICMPV6;
        ip[ip_field::HOP_LIMIT] = HOP_LIMIT;
        ip[ip_field::SRC].copy_from_slice(&self.src.octets());
        ip[ip_field::DST].copy_from_slice(&self.dst.octets());
        let icmp = &mut ip[IPV6_HEADER_LEN..];
        icmp.fill(0);
        let (msg_type, flags, target, option) = match self.message {
            NdpMessage::NeighborSolicit { target, source_mac } => {
                (TYPE_NEIGHBOR_SOLICIT, 0, target, source_mac.map(|m| (OPTION_SOURCE_LLADDR, m)))
            }
            NdpMessage::NeighborAdvert { flags, target, target_mac } => {
                (TYPE_NEIGHBOR_ADVERT, flags.to_byte(), target, target_mac.map(|m| (OPTION_TARGET_LLADDR, m)))
            }
        };
        icmp[icmp_field::TYPE] = msg_type;
        icmp[icmp_field::RESERVED.start] = flags;
        icmp[icmp_field::TARGET].copy_from_slice(&target.octets());
        if let Some((kind, mac)) = option {
            let o = &mut icmp[icmp_field::OPTIONS..icmp_field::OPTIONS + LLADDR_OPTION_LEN];
            o[0] = kind;
            o[1] = 1;
            o[2..8].copy_from_slice(&mac.0);
        }
        let checksum = icmpv6_checksum(self.src, self.dst, icmp);
        icmp[icmp_field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> NdpPacket {
        NdpPacket {
            src: "2001:db8::2".parse().unwrap(),
            dst: solicited_node("2001:db8::10".parse().unwrap()),
            message: NdpMessage::NeighborSolicit {
                target: "2001:db8::10".parse().unwrap(),
                source_mac: Some(MacAddr([2, 0, 0, 0, 0, 2])),
            },
        }
    }

    fn emitted(p: &NdpPacket) -> Vec<u8> {
        let mut b = vec![0; p.buffer_len()];
        p.emit(&mut b);
        b
    }

    fn parse(b: &[u8]) -> Result<NdpPacket, Error> {
        NdpPacket::parse(&Ipv6Packet::new_checked(b)?)
    }

    #[test]
    fn the_solicited_node_address_keeps_the_last_24_bits() {
        let a: Ipv6Addr = "2001:db8::abcd:1234".parse().unwrap();
        assert_eq!(solicited_node(a), "ff02::1:ffcd:1234".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn a_solicitation_from_a_multicast_address_is_refused() {
        let from_group = NdpPacket { src: "ffff:ff00::".parse().unwrap(), ..ns() };
        assert_eq!(
            parse(&emitted(&from_group)),
            Err(Error::Malformed("ND message from a multicast source address"))
        );
    }

    #[test]
    fn a_message_with_a_wrong_checksum_is_refused() {
        let mut b = emitted(&ns());
        b[43] ^= 1;
        assert!(matches!(parse(&b), Err(Error::Checksum { .. })));
    }

    #[test]
    fn a_message_that_crossed_a_router_is_refused() {
        // RFC 4861 §7.1.1: a hop limit below 255 means it did not come from the link.
        let mut b = emitted(&ns());
        b[7] = 254;
        assert_eq!(parse(&b), Err(Error::HopLimit(254)));
    }

    #[test]
    fn an_option_of_length_zero_is_refused() {
        let mut b = emitted(&ns());
        b[40 + 25] = 0;
        // Fix the checksum so that only the option is wrong.
        b[42..44].fill(0);
        let sum = icmpv6_checksum(ns().src, ns().dst, &b[40..]);
        b[42..44].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(parse(&b), Err(Error::Malformed("ND option of length zero")));
    }

    #[test]
    fn other_icmpv6_messages_are_unsupported() {
        let mut b = emitted(&ns());
        b[40] = 128; // echo request
        assert!(matches!(parse(&b), Err(Error::Unsupported { what: "ICMPv6 type", value: 128 })));
    }

    #[test]
    fn a_payload_shorter_than_declared_is_truncated() {
        let b = emitted(&ns());
        assert!(matches!(parse(&b[..b.len() - 1]), Err(Error::Truncated { .. })));
    }
}
