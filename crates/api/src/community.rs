//! The aliases that `Community` resources give to BGP communities; the
//! values themselves are [`ferrolb_types::community`]'s.

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_types::{BgpCommunity, CommunityError};

use crate::metallb;

/// The aliases that `Community` resources define, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommunityAliases {
    by_name: BTreeMap<String, BgpCommunity>,
    /// Every alias name, whatever its value.
    named: BTreeSet<String>,
}

impl CommunityAliases {
    /// The aliases of `resources` (for a snapshot:
    /// `snapshot.communities.iter().map(|c| &c.object)`). An alias whose value
    /// does not parse is left out and a repeated name keeps its first value;
    /// validation reports both.
    pub fn new<'a>(resources: impl IntoIterator<Item = &'a metallb::Community>) -> Self {
        let mut by_name = BTreeMap::new();
        let mut named = BTreeSet::new();
        let aliases = resources.into_iter().flat_map(|r| &r.spec.communities);
        for alias in aliases {
            named.insert(alias.name.clone());
            if let Ok(value) = alias.value.parse::<BgpCommunity>() {
                by_name.entry(alias.name.clone()).or_insert(value);
            }
        }
        CommunityAliases { by_name, named }
    }

    /// What is wrong with a community as a `BGPAdvertisement` writes it, if
    /// anything: an alias is looked up first (an alias whose value does
    /// not parse is its `Community`'s error, not the advertisement's); a
    /// literal must parse; a word with no colon names an alias no
    /// `Community` defines, for which MetalLB's controller refuses the whole
    /// configuration (its webhook lets such words through), while a colon
    /// means a value was meant and it is malformed.
    pub fn problem(&self, text: &str) -> Option<String> {
        if self.named.contains(text) {
            return None;
        }
        let error = text.parse::<BgpCommunity>().err()?;
        if error.is_format() && !text.contains(':') {
            return Some(format!(
                "community alias {text:?} is not defined: MetalLB's controller refuses the whole configuration \
                 until a Community defines it (expected AA:NN, large:A:B:C or the name of an alias of a Community \
                 resource)"
            ));
        }
        Some(error.to_string())
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
