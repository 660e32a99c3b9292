//! Ethernet II frames with an optional IEEE 802.1Q tag.
//!
//! ```text
//!  0                   6                  12        14        16        18
//! +-------------------+-------------------+---------+---------+---------+-----------
//! | destination MAC   | source MAC        | 0x8100  | TCI     | type    | payload…    (tagged)
//! +-------------------+-------------------+---------+---------+---------+-----------
//! | destination MAC   | source MAC        | type    | payload…                        (untagged)
//! +-------------------+-------------------+---------+---------------------------------
//! TCI: priority (3 bits) | drop eligible (1 bit) | VLAN id (12 bits)
//! ```

use std::fmt;

use crate::Error;

/// Byte offsets of the header fields.
mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged header.
pub const HEADER_LEN: usize = 14;
/// Length of a header with one 802.1Q tag.
pub const TAGGED_HEADER_LEN: usize = 18;
/// The shortest frame Ethernet carries, without the FCS (IEEE 802.3 §3.2.8); shorter
/// frames are padded with zeroes.
pub const MIN_FRAME_LEN: usize = 60;
/// The Tag Protocol Identifier of an 802.1Q tag.
const TPID_8021Q: u16 = 0x8100;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`, the "unknown" target of an ARP request.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Whether the group bit is set (multicast or broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The multicast MAC an IPv6 multicast address maps to: `33:33` and its last 32 bits
    /// (RFC 2464 §7).
    pub fn ipv6_multicast(addr: std::net::Ipv6Addr) -> MacAddr {
        let o = addr.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    fn from_slice(bytes: &[u8]) -> MacAddr {
        let mut mac = [0; 6];
        mac.copy_from_slice(bytes);
        MacAddr(mac)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// A MAC address written as six hex pairs separated by colons.
impl std::str::FromStr for MacAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut mac = [0u8; 6];
        let mut parts = s.trim().split(':');
        for byte in &mut mac {
            let part = parts.next().ok_or(Error::Malformed("MAC address"))?;
            if part.len() != 2 {
                return Err(Error::Malformed("MAC address"));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| Error::Malformed("MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(Error::Malformed("MAC address"));
        }
        Ok(MacAddr(mac))
    }
}

/// The protocol of an Ethernet payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherType {
    /// IPv4, 0x0800.
    Ipv4,
    /// ARP, 0x0806.
    Arp,
    /// IPv6, 0x86DD.
    Ipv6,
    /// Anything else, kept as read.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86DD => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86DD,
            EtherType::Unknown(v) => v,
        }
    }
}

/// The Tag Control Information of an 802.1Q tag, kept whole so that an answer carries the
/// request's tag unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag(pub u16);

impl VlanTag {
    /// A tag for VLAN `id` (its low 12 bits) with priority 0.
    pub fn new(id: u16) -> VlanTag {
        VlanTag(id & 0x0fff)
    }

    /// The VLAN identifier (12 bits).
    pub fn id(&self) -> u16 {
        self.0 & 0x0fff
    }

    /// The priority code point (3 bits).
    pub fn priority(&self) -> u8 {
        (self.0 >> 13) as u8
    }
}

/// A checked view of an Ethernet frame in a byte buffer.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

fn read_u16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` after checking that it holds the whole header (tag included).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let frame = EthernetFrame { buffer };
        let len = frame.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated { what: "Ethernet header", needed: HEADER_LEN, got: len });
        }
        if frame.header_len() > len {
            return Err(Error::Truncated { what: "802.1Q tag", needed: TAGGED_HEADER_LEN, got: len });
        }
        Ok(frame)
    }

    fn tagged(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE) == TPID_8021Q
    }

    /// The header length: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.tagged() { TAGGED_HEADER_LEN } else { HEADER_LEN }
    }

    /// The destination address.
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::DST])
    }

    /// The source address.
    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SRC])
    }

    /// The 802.1Q tag, if there is one.
    pub fn vlan_tag(&self) -> Option<VlanTag> {
        self.tagged().then(|| VlanTag(read_u16(self.buffer.as_ref(), field::TCI)))
    }

    /// The payload's protocol (the one after the tag, if tagged).
    pub fn ethertype(&self) -> EtherType {
        let r = if self.tagged() { field::INNER_ETHERTYPE } else { field::ETHERTYPE };
        read_u16(self.buffer.as_ref(), r).into()
    }

    /// Everything after the header, padding included.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// The header of an Ethernet frame as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// The 802.1Q tag, if any.
    pub vlan: Option<VlanTag>,
    /// The payload's protocol.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr {
            dst: frame.dst_addr(),
            src: frame.src_addr(),
            vlan: frame.vlan_tag(),
            ethertype: frame.ethertype(),
        }
    }

    /// The header's length on the wire.
    pub fn buffer_len(&self) -> usize {
        if self.vlan.is_some() { TAGGED_HEADER_LEN } else { HEADER_LEN }
    }

    /// Writes the header into the start of `buf`, which must hold [`Self::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::DST].copy_from_slice(&self.dst.0);
        buf[field::SRC].copy_from_slice(&self.src.0);
        let ethertype = u16::from(self.ethertype).to_be_bytes();
        match self.vlan {
            Some(tag) => {
                buf[field::ETHERTYPE].copy_from_slice(&TPID_8021Q.to_be_bytes());
                buf[field::TCI].copy_from_slice(&tag.0.to_be_bytes());
                buf[field::INNER_ETHERTYPE].copy_from_slice(&ethertype);
            }
            None => buf[field::ETHERTYPE].copy_from_slice(&ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_shorter_than_a_header_is_truncated() {
        assert!(matches!(EthernetFrame::new_checked(&[0u8; 13][..]), Err(Error::Truncated { .. })));
    }

    #[test]
    fn a_tag_without_room_for_the_inner_type_is_truncated() {
        let mut b = [0u8; 16];
        b[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(matches!(EthernetFrame::new_checked(&b[..]), Err(Error::Truncated { .. })));
    }

    #[test]
    fn the_vlan_id_is_the_low_twelve_bits_of_the_tag() {
        let tag = VlanTag(0xa064);
        assert_eq!((tag.id(), tag.priority()), (100, 5));
        assert_eq!(VlanTag::new(0xf064).id(), 100);
    }

    #[test]
    fn mac_addresses_print_and_parse_as_colon_separated_hex() {
        let mac: MacAddr = "02:00:5e:10:00:01".parse().unwrap();
        assert_eq!(mac, MacAddr([2, 0, 0x5e, 0x10, 0, 1]));
        assert_eq!(mac.to_string(), "02:00:5e:10:00:01");
        assert!("02:00:5e:10:00".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:00:01:02".parse::<MacAddr>().is_err());
    }
}
