//! A fast hasher for the allocator's own maps.
//!
//! The keys are addresses that lie in a pool and small interned values (ports,
//! port sets, names) from the cluster's own objects; with 100k Services
//! SipHash's protection against chosen keys costs more than the rest of
//! the lookup. The mixing is FxHash's (rustc's): fold each word in, rotate,
//! multiply by an odd constant.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// FxHash-style word hasher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher(u64);

const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }

    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_u128(&mut self, n: u128) {
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn sequential_addresses_spread_over_buckets() {
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut buckets = [0u32; 64];
        for n in 0u128..6400 {
            buckets[(build.hash_one(n) >> 58) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| (50..=150).contains(&b)), "{buckets:?}");
    }

    #[test]
    fn byte_strings_of_any_length_hash() {
        let build = BuildHasherDefault::<FastHasher>::default();
        assert_ne!(build.hash_one("TCP"), build.hash_one("UDP"));
        assert_ne!(build.hash_one("0123456789"), build.hash_one("0123456788"));
    }
}
