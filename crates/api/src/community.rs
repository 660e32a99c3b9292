//! The aliases that `Community` resources give to BGP communities; the
//! values themselves are [`ferrolb_types::community`]'s.

use std::collections::BTreeMap;

use ferrolb_types::{BgpCommunity, CommunityError};

use crate::metallb;

/// The aliases that `Community` resources define, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommunityAliases {
    by_name: BTreeMap<String, BgpCommunity>,
}

impl CommunityAliases {
    /// The aliases of `resources` (for a snapshot:
    /// `snapshot.communities.iter().map(|c| &c.object)`). An alias whose value
    /// does not parse is left out and a repeated name keeps its first value;
    /// validation reports both.
    pub fn new<'a>(resources: impl IntoIterator<Item = &'a metallb::Community>) -> Self {
        let mut by_name = BTreeMap::new();
        let aliases = resources.into_iter().flat_map(|r| &r.spec.communities);
        for alias in aliases {
            if let Ok(value) = alias.value.parse::<BgpCommunity>() {
                by_name.entry(alias.name.clone()).or_insert(value);
            }
        }
        CommunityAliases { by_name }
    }

    /// The value of the alias `name`.
    pub fn get(&self, name: &str) -> Option<BgpCommunity> {
        self.by_name.get(name).copied()
    }

    /// A community as a `BGPAdvertisement` writes it: an alias name first, as
    /// MetalLB looks it up, else a literal value.
    pub fn resolve(&self, text: &str) -> Result<BgpCommunity, CommunityError> {
        match self.get(text) {
            Some(value) => Ok(value),
            None => text.parse(),
        }
    }

    /// Every alias with its value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, BgpCommunity)> {
        self.by_name.iter().map(|(name, value)| (name.as_str(), *value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metallb::{CommunityAlias, CommunitySpec};
    use ferrolb_types::Community;

    fn resource(aliases: &[(&str, &str)]) -> metallb::Community {
        let communities = aliases
            .iter()
            .map(|(name, value)| CommunityAlias { name: (*name).into(), value: (*value).into() })
            .collect();
        metallb::Community::new("aliases", CommunitySpec { communities })
    }

    #[test]
    fn aliases_resolve_before_literals_and_keep_the_first_definition() {
        let first = resource(&[("no-advertise", "65535:65282"), ("bad", "x:y")]);
        let second = resource(&[("no-advertise", "1:1"), ("big", "large:1:2:3")]);
        let aliases = CommunityAliases::new([&first, &second]);
        assert_eq!(aliases.resolve("no-advertise"), Ok(BgpCommunity::Standard(Community::new(65535, 65282))));
        assert_eq!(aliases.get("bad"), None);
        assert_eq!(aliases.resolve("64512:7"), Ok(BgpCommunity::Standard(Community::new(64512, 7))));
        assert!(aliases.resolve("missing").is_err_and(|e| e.is_format()));
        let names: Vec<&str> = aliases.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["big", "no-advertise"]);
    }
}
