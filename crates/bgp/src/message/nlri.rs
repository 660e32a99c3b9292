//! Prefixes as they appear in withdrawn routes, NLRI and MP_(UN)REACH_NLRI (RFC 4271 §4.3).
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! The prefix holds just enough octets for `Length` bits. Bits past the
//! length are cleared on decode, so a decoded prefix is always canonical.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::wire::Reader;

/// Reads a sequence of IPv4 prefixes; `None` if any is too long or truncated.
pub(super) fn decode_v4(buf: &[u8]) -> Option<Vec<Ipv4Net>> {
    decode::<4>(buf)?
        .into_iter()
        .map(|(octets, len)| Some(Ipv4Net::new(Ipv4Addr::from(octets), len).ok()?.trunc()))
        .collect()
}

/// Reads a sequence of IPv6 prefixes; `None` if any is too long or truncated.
pub(super) fn decode_v6(buf: &[u8]) -> Option<Vec<Ipv6Net>> {
    decode::<16>(buf)?
        .into_iter()
        .map(|(octets, len)| Some(Ipv6Net::new(Ipv6Addr::from(octets), len).ok()?.trunc()))
        .collect()
}

fn decode<const N: usize>(buf: &[u8]) -> Option<Vec<([u8; N], u8)>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = r.u8()?;
        if usize::from(len) > N * 8 {
            return None;
        }
        let mut octets = [0; N];
        let bytes = r.take(usize::from(len).div_ceil(8))?;
        octets[..bytes.len()].copy_from_slice(bytes);
        out.push((octets, len));
    }
    Some(out)
}

/// Appends one IPv4 prefix.
pub(super) fn encode_v4(net: &Ipv4Net, out: &mut Vec<u8>) {
    encode(&net.network().octets(), net.prefix_len(), out);
}

/// Appends one IPv6 prefix.
pub(super) fn encode_v6(net: &Ipv6Net, out: &mut Vec<u8>) {
    encode(&net.network().octets(), net.prefix_len(), out);
}

fn encode(octets: &[u8], len: u8, out: &mut Vec<u8>) {
    out.push(len);
    out.extend_from_slice(&octets[..usize::from(len).div_ceil(8)]);
}
