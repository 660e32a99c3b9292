//! Datagram authentication with a shared secret (HMAC-SHA256).
//!
//! ```text
//!  0        1                               33
//! +--------+-------------------------------+------------------------+
//! | kind   | tag (kind 2 only, 32 octets)  | message                 |
//! +--------+-------------------------------+------------------------+
//!  kind 1: unauthenticated, no tag         kind 2: HMAC-SHA256(secret, kind || message)
//! ```
//!
//! The message starts with its own kind (see `membership.rs`): 0 a foca message
//! (postcard), 1 a heartbeat ping, 2 its answer.
//!
//! A member with a secret accepts only kind 2 with a valid tag; a member without one accepts
//! only kind 1, so a group where some members have the secret and others do not stays split
//! instead of silently running half authenticated. The tag proves the sender knows the secret;
//! it does not hide the content nor stop a replay (SWIM incarnations make old messages stale).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const KIND_PLAIN: u8 = 1;
const KIND_HMAC_SHA256: u8 = 2;
const TAG_LEN: usize = 32;

/// Octets an [`Seal`] adds to each datagram at most.
pub(crate) const OVERHEAD: usize = 1 + TAG_LEN;

/// Why a datagram was refused before foca saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Empty, or shorter than its kind requires.
    Truncated,
    /// A kind this member does not accept (unknown, or plain vs tagged mismatch).
    WrongKind,
    /// The tag does not match: another secret, or altered in transit.
    BadTag,
}

/// Seals outgoing datagrams and opens incoming ones.
#[derive(Clone)]
pub(crate) struct Seal {
    mac: Option<HmacSha256>,
}

impl Seal {
    /// With `None`, datagrams go unauthenticated.
    pub(crate) fn new(secret: Option<&[u8]>) -> Self {
        // HMAC accepts keys of any length (long ones are hashed first), so the secret is
        // used as is.
        let mac = secret.map(|s| HmacSha256::new_from_slice(s).expect("HMAC takes keys of any length"));
        Self { mac }
    }

    /// Whether datagrams carry a tag.
    pub(crate) fn is_authenticated(&self) -> bool {
        self.mac.is_some()
    }

    /// The datagram carrying `message`.
    pub(crate) fn seal(&self, message: &[u8]) -> Vec<u8> {
        match &self.mac {
            None => {
                let mut out = Vec::with_capacity(1 + message.len());
                out.push(KIND_PLAIN);
                out.extend_from_slice(message);
                out
            }
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(&[KIND_HMAC_SHA256]);
                mac.update(message);
                let tag = mac.finalize().into_bytes();
                let mut out = Vec::with_capacity(OVERHEAD + message.len());
                out.push(KIND_HMAC_SHA256);
                out.extend_from_slice(&tag);
                out.extend_from_slice(message);
                out
            }
        }
    }

    /// The message inside `datagram`, if this member accepts it.
    pub(crate) fn open<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], Refused> {
        let (&kind, rest) = datagram.split_first().ok_or(Refused::Truncated)?;
        match (&self.mac, kind) {
            (None, KIND_PLAIN) => Ok(rest),
            (Some(mac), KIND_HMAC_SHA256) => {
                if rest.len() < TAG_LEN {
                    return Err(Refused::Truncated);
                }
                let (tag, message) = rest.split_at(TAG_LEN);
                let mut mac = mac.clone();
                mac.update(&[KIND_HMAC_SHA256]);
                mac.update(message);
                // verify_slice compares in constant time.
                mac.verify_slice(tag).map_err(|_| Refused::BadTag)?;
                Ok(message)
            }
            _ => Err(Refused::WrongKind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_datagram_opens_only_with_the_same_secret() {
        let alice = Seal::new(Some(b"s3cret"));
        let datagram = alice.seal(b"hello");
        assert_eq!(datagram.len(), OVERHEAD + 5);
        assert_eq!(alice.open(&datagram), Ok(&b"hello"[..]));
        assert_eq!(Seal::new(Some(b"other")).open(&datagram), Err(Refused::BadTag));
        assert_eq!(Seal::new(None).open(&datagram), Err(Refused::WrongKind));
    }

    #[test]
    fn altered_or_short_datagrams_are_refused() {
        let seal = Seal::new(Some(b"s3cret"));
        let mut datagram = seal.seal(b"hello");
        *datagram.last_mut().unwrap() ^= 1;
        assert_eq!(seal.open(&datagram), Err(Refused::BadTag));
        assert_eq!(seal.open(&[]), Err(Refused::Truncated));
        assert_eq!(seal.open(&[KIND_HMAC_SHA256, 0, 0]), Err(Refused::Truncated));
        assert_eq!(seal.open(&seal_plain(b"hello")), Err(Refused::WrongKind));
    }

    fn seal_plain(message: &[u8]) -> Vec<u8> {
        Seal::new(None).seal(message)
    }
}
