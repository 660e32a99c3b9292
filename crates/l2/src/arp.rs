//! ARP over Ethernet and IPv4 (RFC 826).
//!
//! ```text
//!  0       2       4   5   6       8               14      18              24      28
//! +-------+-------+---+---+-------+---------------+-------+---------------+-------+
//! | HTYPE | PTYPE |HLN|PLN| OPER  | sender MAC    | s. IP | target MAC    | t. IP |
//! +-------+-------+---+---+-------+---------------+-------+---------------+-------+
//!   1       0x0800  6   4   1 = request, 2 = reply
//! ```

use std::net::Ipv4Addr;

use crate::Error;
use crate::ethernet::MacAddr;

/// Byte offsets of the fields (for Ethernet and IPv4 addresses).
mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of the fixed part, before the addresses.
const FIXED_LEN: usize = 8;
/// Length of an ARP packet for Ethernet and IPv4.
pub const PACKET_LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// An ARP operation (RFC 826 `ar$op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// 1: who has the target address?
    Request,
    /// 2: the sender has the address.
    Reply,
    /// Any other opcode (RARP, InARP...), kept as read.
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(v) => v,
        }
    }
}

/// A checked view of an ARP packet in a byte buffer.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn read_u16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` after checking that it holds the fixed part and the four addresses of
    /// the lengths it declares.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(Error::Truncated { what: "ARP packet", needed: FIXED_LEN, got: b.len() });
        }
        let needed = FIXED_LEN + 2 * (usize::from(b[field::HLEN]) + usize::from(b[field::PLEN]));
        if b.len() < needed {
            return Err(Error::Truncated { what: "ARP packet", needed, got: b.len() });
        }
        Ok(ArpPacket { buffer })
    }

    /// Hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        read_u16(self.buffer.as_ref(), field::OPER).into()
    }

    /// Whether this is ARP for Ethernet and IPv4, the only kind whose addresses the
    /// accessors below may read.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == PTYPE_IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    fn mac(&self, r: std::ops::Range<usize>) -> MacAddr {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[r]);
        MacAddr(m)
    }

    fn ip(&self, r: std::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
}

/// An ARP packet for Ethernet and IPv4, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// The operation.
    pub operation: Operation,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in a request, RFC 5227 §2.1.1).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an ARP packet; only Ethernet hardware and IPv4 addresses are supported.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr, Error> {
        if packet.hardware_type() != HTYPE_ETHERNET || packet.hardware_len() != 6 {
            return Err(Error::Unsupported { what: "ARP hardware type", value: packet.hardware_type() });
        }
        if packet.protocol_type() != PTYPE_IPV4 || packet.protocol_len() != 4 {
            return Err(Error::Unsupported { what: "ARP protocol type", value: packet.protocol_type() });
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_mac: packet.mac(field::SHA),
            sender_ip: packet.ip(field::SPA),
            target_mac: packet.mac(field::THA),
            target_ip: packet.ip(field::TPA),
        })
    }

    /// The packet's length on the wire.
    pub fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the start of `buf`, which must hold [`Self::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        buf[field::PTYPE].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
        buf[field::OPER].copy_from_slice(&u16::from(self.operation).to_be_bytes());
        buf[field::SHA].copy_from_slice(&self.sender_mac.0);
        buf[field::SPA].copy_from_slice(&self.sender_ip.octets());
        buf[field::THA].copy_from_slice(&self.target_mac.0);
        buf[field::TPA].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_shorter_than_its_declared_addresses_is_truncated() {
        let mut b = [0u8; 27];
        b[4] = 6;
        b[5] = 4;
        assert!(matches!(ArpPacket::new_checked(&b[..]), Err(Error::Truncated { needed: 28, .. })));
    }

    #[test]
    fn arp_for_another_protocol_is_unsupported() {
        // Hardware type 6 (IEEE 802), 16-byte protocol addresses: checked, but not ours.
        let mut b = [0u8; 8 + 2 * (6 + 16)];
        b[0..2].copy_from_slice(&6u16.to_be_bytes());
        b[2..4].copy_from_slice(&0x86ddu16.to_be_bytes());
        b[4] = 6;
        b[5] = 16;
        let packet = ArpPacket::new_checked(&b[..]).unwrap();
        assert!(!packet.is_ethernet_ipv4());
        assert!(matches!(ArpRepr::parse(&packet), Err(Error::Unsupported { .. })));
    }

    #[test]
    fn unknown_opcodes_are_kept() {
        assert_eq!(Operation::from(8), Operation::Unknown(8)); // InARP request, RFC 2390
        assert_eq!(u16::from(Operation::Unknown(8)), 8);
    }
}
