//! Anyone who can reach UDP 7946 sends any datagrams they like to a gossip member. The
//! input is a few messages (what follows the seal: a foca message, a heartbeat ping or
//! its answer), split at `--8<--`. Each goes, in turn:
//!
//! - as it is, to a member with a secret: it must be refused (nobody forges the tag) and
//!   counted as exactly one refusal in `stats()`, with no effect on the member;
//! - sealed without a tag to a member without a secret, and sealed with a correct tag to
//!   a member with one: both decode it past the seal, neither may panic, each counts at
//!   most one refusal, and both do the same thing (same outputs but for the seals, same
//!   counters): authentication changes who is heard, not what is understood.
//!
//! The seal is computed here as `crates/membership/src/auth.rs` documents it (kind 2,
//! HMAC-SHA256 over the kind and the message); each datagram the member sends is checked
//! to carry such a seal.
#![no_main]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrolb_membership::{MemberId, Membership, Output, Stats, Timing};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const SEPARATOR: &[u8] = b"--8<--";
const SECRET: &[u8] = b"fuzz-secret";
const KIND_PLAIN: u8 = 1;
const KIND_HMAC_SHA256: u8 = 2;
const TAG_LEN: usize = 32;
/// More messages add little but time.
const MAX_MESSAGES: usize = 16;

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut plain = member(None, start);
    let mut sealed = member(Some(SECRET), start);
    assert_eq!(drain(&mut plain, KIND_PLAIN), drain(&mut sealed, KIND_HMAC_SHA256));
    for (i, message) in split(data).take(MAX_MESSAGES).enumerate() {
        let now = start + Duration::from_millis(10) * (i as u32 + 1);
        // Watch every member heard of, so that heartbeat answers have someone to match.
        let others: BTreeSet<String> =
            plain.alive().iter().filter(|n| *n != plain.id().name()).cloned().collect();
        plain.watch(now, &others);
        sealed.watch(now, &others);
        assert_eq!(drain(&mut plain, KIND_PLAIN), drain(&mut sealed, KIND_HMAC_SHA256));

        let before = sealed.stats();
        sealed.handle_datagram(now, message);
        let after = sealed.stats();
        assert_eq!(refusals(after) - refusals(before), 1, "a datagram without a valid tag is refused once");
        let truncated = message.is_empty() || (message[0] == KIND_HMAC_SHA256 && message.len() < 1 + TAG_LEN);
        if truncated {
            assert_eq!(after.malformed, before.malformed + 1, "a short datagram is malformed");
        } else {
            assert_eq!(after.unauthenticated, before.unauthenticated + 1, "a bad tag is unauthenticated");
        }
        assert_eq!(drain(&mut sealed, KIND_HMAC_SHA256), [], "a refused datagram has no effect");

        let (plain_before, sealed_before) = (plain.stats(), sealed.stats());
        plain.handle_datagram(now, &seal_plain(message));
        sealed.handle_datagram(now, &seal_hmac(message));
        assert!(refusals(plain.stats()) - refusals(plain_before) <= 1, "one datagram, one refusal at most");
        assert_eq!(delta(plain_before, plain.stats()), delta(sealed_before, sealed.stats()));
        assert_eq!(drain(&mut plain, KIND_PLAIN), drain(&mut sealed, KIND_HMAC_SHA256));
        assert_eq!(plain.alive(), sealed.alive());
    }
});

/// node2, whose seeds are node1 and node3 (the identities the seed corpus was made with).
fn member(secret: Option<&[u8]>, now: Instant) -> Membership {
    let addr = |n: u8| SocketAddr::from(([10, 0, 0, n], 7946));
    let id = MemberId::new("node2", addr(2), 2);
    Membership::new(id, [addr(1), addr(3)], secret, Timing::lan(), 1, now)
}

fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                rest = Some(&current[at + SEPARATOR.len()..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn refusals(stats: Stats) -> u64 {
    stats.unauthenticated + stats.malformed + stats.protocol_errors
}

fn delta(before: Stats, after: Stats) -> [u64; 3] {
    [
        after.unauthenticated - before.unauthenticated,
        after.malformed - before.malformed,
        after.protocol_errors - before.protocol_errors,
    ]
}

fn tag(message: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("HMAC takes keys of any length");
    mac.update(&[KIND_HMAC_SHA256]);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn seal_plain(message: &[u8]) -> Vec<u8> {
    [&[KIND_PLAIN][..], message].concat()
}

fn seal_hmac(message: &[u8]) -> Vec<u8> {
    [&[KIND_HMAC_SHA256][..], &tag(message), message].concat()
}

/// The member's outputs with each datagram's seal checked and taken off.
fn drain(member: &mut Membership, kind: u8) -> Vec<Output> {
    std::iter::from_fn(|| member.poll())
        .map(|output| match output {
            Output::Send { to, datagram } => {
                let message = match kind {
                    KIND_PLAIN => datagram.strip_prefix(&[KIND_PLAIN]).expect("plain seal"),
                    _ => {
                        let sealed = datagram.strip_prefix(&[KIND_HMAC_SHA256]).expect("tagged seal");
                        let (sent_tag, message) = sealed.split_at(TAG_LEN);
                        assert_eq!(sent_tag, tag(message), "the member seals with the secret");
                        message
                    }
                };
                Output::Send { to, datagram: message.to_vec() }
            }
            other => other,
        })
        .collect()
}
