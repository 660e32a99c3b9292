//! BGP identifiers.

use std::fmt;
use std::net::Ipv4Addr;

/// A BGP identifier: a non-zero IPv4 address (RFC 4271 §4.2, RFC 6286).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterId(Ipv4Addr);

impl RouterId {
    /// A router ID, or `None` for 0.0.0.0.
    pub fn new(id: Ipv4Addr) -> Option<RouterId> {
        if id.is_unspecified() { None } else { Some(RouterId(id)) }
    }

    /// The identifier as an address.
    pub const fn addr(self) -> Ipv4Addr {
        self.0
    }

    /// The identifier as the 32-bit number compared in collision detection (RFC 4271 §6.8).
    pub fn to_u32(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn router_id_zero_cannot_exist() {
        assert_eq!(RouterId::new(Ipv4Addr::UNSPECIFIED), None);
        assert_eq!(RouterId::new(Ipv4Addr::new(192, 0, 2, 1)).unwrap().to_string(), "192.0.2.1");
    }

    proptest! {
        #[test]
        fn a_router_id_gives_back_its_u32_and_prints_as_its_address(n in 1..=u32::MAX) {
            let id = RouterId::new(Ipv4Addr::from(n)).unwrap();
            prop_assert_eq!(id.to_u32(), n);
            prop_assert_eq!(id.to_string().parse::<Ipv4Addr>(), Ok(id.addr()));
        }
    }
}
