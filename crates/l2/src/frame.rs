//! A whole frame as the responder sees it: Ethernet (maybe tagged) carrying ARP, or IPv6
//! carrying an NS or NA.

use crate::Error;
use crate::arp::{ArpPacket, ArpRepr};
use crate::ethernet::{EtherType, EthernetFrame, EthernetRepr, MIN_FRAME_LEN, MacAddr, VlanTag};
use crate::ndp::{Ipv6Packet, NdpPacket};

/// What an L2 frame carries, for the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// ARP for Ethernet and IPv4.
    Arp(ArpRepr),
    /// An IPv6 Neighbor Solicitation or Advertisement.
    Ndp(NdpPacket),
}

impl Payload {
    fn ethertype(&self) -> EtherType {
        match self {
            Payload::Arp(_) => EtherType::Arp,
            Payload::Ndp(_) => EtherType::Ipv6,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Payload::Arp(a) => a.buffer_len(),
            Payload::Ndp(n) => n.buffer_len(),
        }
    }
}

/// An Ethernet frame carrying ARP or NDP, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// The 802.1Q tag, if any.
    pub vlan: Option<VlanTag>,
    /// ARP or NDP.
    pub payload: Payload,
}

impl Frame {
    /// Reads a frame; anything but ARP over IPv4 or an NS/NA is [`Error::Unsupported`], and
    /// nothing in `bytes` can make this panic.
    pub fn parse(bytes: &[u8]) -> Result<Frame, Error> {
        let eth = EthernetFrame::new_checked(bytes)?;
        let header = EthernetRepr::parse(&eth);
        let payload = match header.ethertype {
            EtherType::Arp => Payload::Arp(ArpRepr::parse(&ArpPacket::new_checked(eth.payload())?)?),
            EtherType::Ipv6 => Payload::Ndp(NdpPacket::parse(&Ipv6Packet::new_checked(eth.payload())?)?),
            other => return Err(Error::Unsupported { what: "EtherType", value: u16::from(other) }),
        };
        Ok(Frame { dst: header.dst, src: header.src, vlan: header.vlan, payload })
    }

    fn header(&self) -> EthernetRepr {
        EthernetRepr { dst: self.dst, src: self.src, vlan: self.vlan, ethertype: self.payload.ethertype() }
    }

    /// The frame's length on the wire: padded to the Ethernet minimum of 60 bytes, since a
    /// raw socket sends exactly what it is given and not every driver pads.
    pub fn buffer_len(&self) -> usize {
        (self.header().buffer_len() + self.payload.buffer_len()).max(MIN_FRAME_LEN)
    }

    /// Writes the frame into the start of `buf`, which must hold [`Self::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let buf = &mut buf[..self.buffer_len()];
        buf.fill(0);
        let header = self.header();
        header.emit(buf);
        let rest = &mut buf[header.buffer_len()..];
        match &self.payload {
            Payload::Arp(a) => a.emit(rest),
            Payload::Ndp(n) => n.emit(rest),
        }
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0; self.buffer_len()];
        self.emit(&mut b);
        b
    }
}
