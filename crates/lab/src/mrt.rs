//! MRT files (RFC 6396, TABLE_DUMP_V2) holding many routes, for feeding GoBGP
//! (`gobgp mrt inject global FILE`) the same work ferrolb does in the BGP
//! benchmark: a loop of `gobgp global rib add` costs ~13 ms per route and
//! measures the CLI, not the speaker (LAB-NOTES). `mrt inject` loses the
//! tail of its input: follow the routes that count with filler.
//!
//! ```text
//!  MRT common header:  timestamp(4) type(2)=13 subtype(2) length(4)
//!  PEER_INDEX_TABLE:   collector id(4) view name len(2)=0 peer count(2)
//!                      peer: type(1)=AS4|v4 bgp id(4) address(4) asn(4)
//!  RIB_IPV4_UNICAST /  sequence(4) prefix len(1) prefix(ceil(len/8))
//!  RIB_IPV6_UNICAST:   entry count(2)=1
//!                      entry: peer index(2)=0 originated(4) attr len(2) attrs
//! ```

use std::net::{IpAddr, Ipv4Addr};

/// MRT type TABLE_DUMP_V2 (RFC 6396 §4.3).
const TABLE_DUMP_V2: u16 = 13;
const PEER_INDEX_TABLE: u16 = 1;
const RIB_IPV4_UNICAST: u16 = 2;
const RIB_IPV6_UNICAST: u16 = 4;

/// One route: a host prefix (/32 or /128) and its next hop, of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MrtRoute {
    /// The address announced, as a /32 or /128.
    pub prefix: IpAddr,
    /// The next hop (same family as the prefix).
    pub next_hop: IpAddr,
}

/// A TABLE_DUMP_V2 file: a peer table with one peer (`peer_asn`,
/// `peer_id`), then one RIB record per route, with ORIGIN IGP, an AS_PATH of
/// `peer_asn` and the next hop (NEXT_HOP for IPv4; for IPv6 an MP_REACH_NLRI
/// in its full form, AFI and SAFI included, which GoBGP wants).
pub fn table_dump(peer_asn: u32, peer_id: Ipv4Addr, routes: &[MrtRoute]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut peers = Vec::new();
    peers.extend_from_slice(&peer_id.octets()); // collector BGP ID
    peers.extend_from_slice(&0u16.to_be_bytes()); // view name length
    peers.extend_from_slice(&1u16.to_be_bytes()); // peer count
    peers.push(0b10); // peer type: 4-octet AS, IPv4 address
    peers.extend_from_slice(&peer_id.octets());
    peers.extend_from_slice(&peer_id.octets());
    peers.extend_from_slice(&peer_asn.to_be_bytes());
    record(&mut out, PEER_INDEX_TABLE, &peers);

    for (sequence, route) in routes.iter().enumerate() {
        let (subtype, prefix, length) = match route.prefix {
            IpAddr::V4(v4) => (RIB_IPV4_UNICAST, v4.octets().to_vec(), 32u8),
            IpAddr::V6(v6) => (RIB_IPV6_UNICAST, v6.octets().to_vec(), 128u8),
        };
        let attributes = attributes(peer_asn, route);
        let mut rib = Vec::with_capacity(prefix.len() + attributes.len() + 16);
        rib.extend_from_slice(&(sequence as u32).to_be_bytes());
        rib.push(length);
        rib.extend_from_slice(&prefix);
        rib.extend_from_slice(&1u16.to_be_bytes()); // entry count
        rib.extend_from_slice(&0u16.to_be_bytes()); // peer index
        rib.extend_from_slice(&0u32.to_be_bytes()); // originated time
        rib.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
        rib.extend_from_slice(&attributes);
        record(&mut out, subtype, &rib);
    }
    out
}

/// ORIGIN, AS_PATH and the next hop, as in an UPDATE with 4-octet ASNs.
fn attributes(peer_asn: u32, route: &MrtRoute) -> Vec<u8> {
    let mut out = vec![0x40, 1, 1, 0]; // ORIGIN: well-known transitive, IGP
    out.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH: one AS_SEQUENCE of one ASN
    out.extend_from_slice(&peer_asn.to_be_bytes());
    match route.next_hop {
        IpAddr::V4(nh) => {
            out.extend_from_slice(&[0x40, 3, 4]); // NEXT_HOP
            out.extend_from_slice(&nh.octets());
        }
        IpAddr::V6(nh) => {
            // MP_REACH_NLRI: optional; AFI 2, SAFI 1, next hop, reserved, and
            // the prefix again as NLRI.
            let IpAddr::V6(prefix) = route.prefix else { unreachable!("families match") };
            let mut value = vec![0, 2, 1, 16];
            value.extend_from_slice(&nh.octets());
            value.push(0);
            value.push(128);
            value.extend_from_slice(&prefix.octets());
            out.extend_from_slice(&[0x80, 14, value.len() as u8]);
            out.extend_from_slice(&value);
        }
    }
    out
}

fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
    out.extend_from_slice(&0u32.to_be_bytes()); // timestamp
    out.extend_from_slice(&TABLE_DUMP_V2.to_be_bytes());
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_route_is_a_peer_table_and_one_rib_record() {
        let route =
            MrtRoute { prefix: "203.0.113.10".parse().unwrap(), next_hop: "192.0.2.2".parse().unwrap() };
        let bytes = table_dump(64513, "192.0.2.2".parse().unwrap(), &[route]);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0, 0, 0, 0, 0, 13, 0, 1, 0, 0, 0, 21][..], // header: TABLE_DUMP_V2 / PEER_INDEX_TABLE, 21 bytes
            &[192, 0, 2, 2, 0, 0, 0, 1],                  // collector id, no view name, one peer
            &[2, 192, 0, 2, 2, 192, 0, 2, 2, 0, 0, 0xfc, 0x01], // AS4 IPv4 peer, id, address, AS 64513
            &[0, 0, 0, 0, 0, 13, 0, 2, 0, 0, 0, 39],      // header: RIB_IPV4_UNICAST, 39 bytes
            &[0, 0, 0, 0, 32, 203, 0, 113, 10, 0, 1],     // sequence 0, /32 prefix, one entry
            &[0, 0, 0, 0, 0, 0, 0, 20],                   // peer 0, time 0, 20 bytes of attributes
            &[0x40, 1, 1, 0],                             // ORIGIN IGP
            &[0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x01],        // AS_PATH 64513
            &[0x40, 3, 4, 192, 0, 2, 2],                  // NEXT_HOP
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn an_ipv6_route_carries_a_full_mp_reach() {
        let route =
            MrtRoute { prefix: "2001:db8::10".parse().unwrap(), next_hop: "2001:db8::2".parse().unwrap() };
        let bytes = table_dump(64513, "192.0.2.2".parse().unwrap(), &[route]);
        let rib = &bytes[12 + 21..];
        assert_eq!(&rib[4..8], &[0, 13, 0, 4], "RIB_IPV6_UNICAST");
        let attributes = &rib[12 + 4 + 1 + 16 + 2 + 8..];
        let mp_reach = &attributes[4 + 9..];
        assert_eq!(
            &mp_reach[..7],
            &[0x80, 14, 38, 0, 2, 1, 16],
            "MP_REACH_NLRI: AFI 2, SAFI 1, 16-byte next hop"
        );
        assert_eq!(mp_reach.len(), 3 + 38);
    }
}
