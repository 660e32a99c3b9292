//! BGP communities: standard (RFC 1997, written `AA:NN`) and large (RFC 8092,
//! written `large:A:B:C`), one type each for the configuration and the wire.
//!
//! Parsing follows MetalLB: two colon-separated parts make a standard
//! community, four parts starting with `large` a large one; any other shape is
//! not a value at all and may be the name of an alias (which `ferrolb-api`
//! resolves from `Community` resources).

use std::fmt;
use std::str::FromStr;

/// The first part of a large community as written (`large:A:B:C`).
const LARGE_MARKER: &str = "large";

/// A standard community (RFC 1997): two 16-bit halves, written `AA:NN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(u32);

impl Community {
    /// NO_EXPORT: not outside the confederation (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    /// NO_ADVERTISE: to no peer at all (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    /// NO_EXPORT_SUBCONFED: not to external peers (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xffff_ff03);

    /// The community `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The community carried on the wire as `bits`.
    pub const fn from_u32(bits: u32) -> Self {
        Community(bits)
    }

    /// The 32-bit value carried in the COMMUNITIES attribute.
    pub const fn to_u32(self) -> u32 {
        self.0
    }

    /// The high half, by convention the AS number that defines the community.
    pub const fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low half, the value inside that AS.
    pub const fn value(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.asn(), self.value())
    }
}

impl FromStr for Community {
    type Err = CommunityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match BgpCommunity::from_str(text)? {
            BgpCommunity::Standard(community) => Ok(community),
            BgpCommunity::Large(_) => Err(CommunityError::Format(text.to_owned())),
        }
    }
}

/// A large community (RFC 8092): three 32-bit numbers, written `large:A:B:C`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    /// The global administrator, by convention the AS number.
    pub global_admin: u32,
    /// The first local data part.
    pub local_data_1: u32,
    /// The second local data part.
    pub local_data_2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{LARGE_MARKER}:{}:{}:{}", self.global_admin, self.local_data_1, self.local_data_2)
    }
}

impl FromStr for LargeCommunity {
    type Err = CommunityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match BgpCommunity::from_str(text)? {
            BgpCommunity::Large(community) => Ok(community),
            BgpCommunity::Standard(_) => Err(CommunityError::Format(text.to_owned())),
        }
    }
}

/// A community of either kind, as `BGPAdvertisement.spec.communities` holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BgpCommunity {
    /// `AA:NN`.
    Standard(Community),
    /// `large:A:B:C`.
    Large(LargeCommunity),
}

impl fmt::Display for BgpCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BgpCommunity::Standard(community) => community.fmt(f),
            BgpCommunity::Large(community) => community.fmt(f),
        }
    }
}

impl FromStr for BgpCommunity {
    type Err = CommunityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [asn, value] => parse_standard(text, asn, value),
            [marker, a, b, c] => parse_large(text, marker, [a, b, c]),
            _ => Err(CommunityError::Format(text.to_owned())),
        }
    }
}

fn parse_standard(text: &str, asn: &str, value: &str) -> Result<BgpCommunity, CommunityError> {
    let part = |p: &str| {
        decimal::<u16>(p)
            .ok_or_else(|| CommunityError::StandardPart { text: text.to_owned(), part: p.to_owned() })
    };
    Ok(BgpCommunity::Standard(Community::new(part(asn)?, part(value)?)))
}

fn parse_large(text: &str, marker: &str, parts: [&str; 3]) -> Result<BgpCommunity, CommunityError> {
    if marker != LARGE_MARKER {
        return Err(CommunityError::LargeMarker { text: text.to_owned(), marker: marker.to_owned() });
    }
    let part = |p: &str| {
        decimal::<u32>(p)
            .ok_or_else(|| CommunityError::LargePart { text: text.to_owned(), part: p.to_owned() })
    };
    let [a, b, c] = parts;
    Ok(BgpCommunity::Large(LargeCommunity {
        global_admin: part(a)?,
        local_data_1: part(b)?,
        local_data_2: part(c)?,
    }))
}

/// Plain decimal digits only: no sign, no spaces, no underscores (as Go's
/// `strconv.ParseUint(s, 10, n)`, which MetalLB uses).
fn decimal<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Why a community does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    /// Neither two nor four colon-separated parts: not a value at all, but
    /// perhaps the name of an alias.
    #[error("invalid community {0:?} (expected AA:NN or large:A:B:C)")]
    Format(String),
    /// A part of a standard community is not a number from 0 to 65535.
    #[error(
        "invalid community {text:?}: {part:?} is not a number from 0 to 65535 \
         (expected AA:NN with both parts from 0 to 65535)"
    )]
    StandardPart {
        /// The community as written.
        text: String,
        /// The offending part.
        part: String,
    },
    /// Four parts, but the first is not `large`.
    #[error("invalid community {text:?}: four parts start with {marker:?} (expected large:A:B:C)")]
    LargeMarker {
        /// The community as written.
        text: String,
        /// The first part as written.
        marker: String,
    },
    /// A part of a large community is not a number from 0 to 4294967295.
    #[error(
        "invalid large community {text:?}: {part:?} is not a number from 0 to 4294967295 \
         (expected large:A:B:C with each part from 0 to 4294967295)"
    )]
    LargePart {
        /// The community as written.
        text: String,
        /// The offending part.
        part: String,
    },
}

impl CommunityError {
    /// Whether the text has the shape of no community at all, so that it may
    /// name an alias that a `Community` resource defines (MetalLB treats such
    /// a reference as pending rather than invalid).
    pub fn is_format(&self) -> bool {
        matches!(self, CommunityError::Format(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<BgpCommunity, CommunityError> {
        text.parse()
    }

    #[test]
    fn standard_community_parses_into_its_halves() {
        let parsed = parse("65000:100");
        assert_eq!(parsed, Ok(BgpCommunity::Standard(Community::new(65000, 100))));
        let community = Community::new(65000, 100);
        assert_eq!(community.to_u32(), (65000 << 16) | 100);
        assert_eq!((community.asn(), community.value()), (65000, 100));
        assert_eq!(Community::from_u32(community.to_u32()), community);
    }

    #[test]
    fn large_community_parses_into_its_three_parts() {
        let expected = LargeCommunity { global_admin: 4_200_000_000, local_data_1: 1, local_data_2: 2 };
        assert_eq!(parse("large:4200000000:1:2"), Ok(BgpCommunity::Large(expected)));
        assert_eq!(expected.to_string(), "large:4200000000:1:2");
    }

    #[test]
    fn standard_part_above_16_bits_is_rejected() {
        assert_eq!(
            parse("65536:1").map_err(|e| e.to_string()),
            Err("invalid community \"65536:1\": \"65536\" is not a number from 0 to 65535 \
                 (expected AA:NN with both parts from 0 to 65535)"
                .to_owned())
        );
    }

    #[test]
    fn signs_spaces_and_empty_parts_are_rejected() {
        for text in ["+1:2", "1: 2", ":2", "1:", "-1:2", "1_0:2", "large:+1:2:3"] {
            let err = parse(text).expect_err(text);
            assert!(!err.is_format(), "{text}: {err}");
        }
    }

    #[test]
    fn large_part_above_32_bits_is_rejected() {
        assert_eq!(
            parse("large:4294967296:0:0").map_err(|e| e.to_string()),
            Err("invalid large community \"large:4294967296:0:0\": \"4294967296\" is not a \
                 number from 0 to 4294967295 (expected large:A:B:C with each part from 0 to \
                 4294967295)"
                .to_owned())
        );
    }

    #[test]
    fn four_parts_without_the_large_marker_are_rejected() {
        assert_eq!(
            parse("big:1:2:3").map_err(|e| e.to_string()),
            Err("invalid community \"big:1:2:3\": four parts start with \"big\" (expected large:A:B:C)"
                .to_owned())
        );
    }

    #[test]
    fn other_shapes_are_format_errors_that_may_be_aliases() {
        for text in ["no-export", "1:2:3", "", "large:1:2:3:4"] {
            let err = parse(text).expect_err(text);
            assert!(err.is_format(), "{text}: {err}");
        }
        assert_eq!(
            parse("no-export").map_err(|e| e.to_string()),
            Err("invalid community \"no-export\" (expected AA:NN or large:A:B:C)".to_owned())
        );
    }

    #[test]
    fn well_known_communities_display_as_their_halves() {
        assert_eq!(Community::new(64512, 100).to_string(), "64512:100");
        assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
        assert_eq!(Community::NO_ADVERTISE, Community::new(65535, 65282));
        assert_eq!(Community::NO_EXPORT_SUBCONFED.to_u32(), 0xffff_ff03);
    }

    #[test]
    fn kind_specific_parsers_reject_the_other_kind() {
        assert!("large:1:2:3".parse::<Community>().is_err());
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert_eq!("1:2".parse::<Community>(), Ok(Community::new(1, 2)));
    }

    fn any_community() -> impl Strategy<Value = BgpCommunity> {
        prop_oneof![
            (any::<u16>(), any::<u16>()).prop_map(|(a, v)| BgpCommunity::Standard(Community::new(a, v))),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, a, b)| {
                BgpCommunity::Large(LargeCommunity { global_admin: g, local_data_1: a, local_data_2: b })
            }),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_gives_the_same_community(community in any_community()) {
            prop_assert_eq!(community.to_string().parse::<BgpCommunity>(), Ok(community));
        }

        #[test]
        fn a_community_gives_back_its_u32_and_its_halves(bits: u32) {
            let community = Community::from_u32(bits);
            prop_assert_eq!(community.to_u32(), bits);
            prop_assert_eq!(Community::new(community.asn(), community.value()), community);
            prop_assert_eq!(community.to_string().parse::<Community>(), Ok(community));
        }

        #[test]
        fn a_large_community_reparses_from_its_text(g: u32, a: u32, b: u32) {
            let large = LargeCommunity { global_admin: g, local_data_1: a, local_data_2: b };
            prop_assert_eq!(large.to_string().parse::<LargeCommunity>(), Ok(large));
        }

        #[test]
        fn accepted_text_reparses_to_the_same_community(text in "[0-9a-z:+-]{0,24}") {
            if let Ok(community) = text.parse::<BgpCommunity>() {
                let again = community.to_string().parse::<BgpCommunity>();
                prop_assert_eq!(again, Ok(community));
            }
        }
    }
}
