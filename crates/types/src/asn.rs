//! Autonomous system numbers.

use std::fmt;

/// An autonomous system number, 2- or 4-octet (RFC 6793); never 0 (RFC 7607).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(u32);

impl Asn {
    /// AS_TRANS, the 2-octet stand-in for a 4-octet ASN (RFC 6793 §9).
    pub const TRANS: Asn = Asn(23456);

    /// An ASN, or `None` for the reserved AS 0 (RFC 7607).
    pub const fn new(asn: u32) -> Option<Asn> {
        if asn == 0 { None } else { Some(Asn(asn)) }
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether it fits the 2-octet fields of RFC 4271.
    pub const fn is_two_octet(self) -> bool {
        self.0 <= 0xffff
    }

    /// The value for a 2-octet field: itself, or AS_TRANS (RFC 6793 §4.2.2).
    pub const fn two_octet(self) -> u16 {
        if self.0 <= 0xffff { self.0 as u16 } else { Asn::TRANS.0 as u16 }
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AS{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn asn_zero_cannot_exist() {
        assert_eq!(Asn::new(0), None);
        assert_eq!(Asn::new(4_200_000_000).unwrap().two_octet(), 23456);
        assert_eq!(Asn::new(64512).unwrap().two_octet(), 64512);
        assert_eq!(Asn::new(64512).unwrap().to_string(), "AS64512");
    }

    proptest! {
        #[test]
        fn every_non_zero_u32_is_an_asn_that_gives_it_back(n in 1..=u32::MAX) {
            let asn = Asn::new(n).unwrap();
            prop_assert_eq!(asn.get(), n);
            prop_assert_eq!(asn.is_two_octet(), n <= 0xffff);
            prop_assert_eq!(u32::from(asn.two_octet()), if n <= 0xffff { n } else { 23456 });
        }
    }
}
