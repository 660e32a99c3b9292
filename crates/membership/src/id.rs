//! Who a member is: node name, gossip address and generation.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One life of a speaker in the gossip group: its node name, the address it gossips on and a
/// generation that grows each time it starts (or rejoins after being declared down).
///
/// SWIM never resurrects an identity that was declared down or left, so a restarted speaker
/// must come back as a new identity; the generation makes it one, and since foca keys members
/// by [`MemberId::addr`], the newer generation replaces the dead one instead of living beside it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberId {
    name: String,
    addr: SocketAddr,
    generation: u64,
}

impl MemberId {
    /// An identity for node `name` gossiping on `addr`; `generation` must grow across restarts
    /// (the driver uses the start time in milliseconds since the Unix epoch; 0 counts as 1).
    pub fn new(name: impl Into<String>, addr: SocketAddr, generation: u64) -> Self {
        // Generation 0 is reserved for seeds whose name we do not know yet.
        Self { name: name.into(), addr, generation: generation.max(1) }
    }

    /// A seed known only by address: any real identity at that address wins over it.
    pub(crate) fn seed(addr: SocketAddr) -> Self {
        Self { name: String::new(), addr, generation: 0 }
    }

    /// The node name (the `Node` object's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UDP address this member gossips on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Which life of the node this is; larger is newer.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.addr, self.generation)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl foca::Identity for MemberId {
    type Addr = SocketAddr;

    // Declared down while still running (a pause, a partition): come back as the next
    // generation at once rather than staying out of the group.
    fn renew(&self) -> Option<Self> {
        Some(Self { generation: self.generation.wrapping_add(1).max(1), ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // Newest life wins; the name only breaks ties so every member picks the same one.
        (self.generation, &self.name) > (adversary.generation, &adversary.name)
    }
}

#[cfg(test)]
mod tests {
    use foca::Identity;

    use super::*;

    #[test]
    fn restarted_member_wins_over_its_former_self_and_over_a_seed() {
        let addr: SocketAddr = "198.51.100.1:7946".parse().unwrap();
        let old = MemberId::new("node1", addr, 5);
        let new = MemberId::new("node1", addr, 6);
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
        assert!(old.win_addr_conflict(&MemberId::seed(addr)));
        assert_eq!(old.renew().unwrap().generation(), 6);
    }
}
