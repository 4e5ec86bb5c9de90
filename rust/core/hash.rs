// SPDX-License-Identifier: GPL-2.0

//! Seeded 32-bit hashes of lookup keys for the packet path's hash tables:
//! FNV-1a over the key's bytes, then a final mix so that the low bits (the
//! bucket index) depend on every input bit. The seed is random per table.

use crate::kame_core::pfkey::wire::IpAddr;

/// A hash being built.
#[derive(Clone, Copy)]
pub struct Hasher(u32);

impl Hasher {
    /// Starts a hash with `seed`.
    pub fn new(seed: u32) -> Hasher {
        Hasher(0x811c_9dc5 ^ seed)
    }

    /// Adds bytes.
    pub fn bytes(mut self, b: &[u8]) -> Hasher {
        for &x in b {
            self.0 = (self.0 ^ u32::from(x)).wrapping_mul(0x0100_0193);
        }
        self
    }

    /// Adds an address (its family too: 0.0.0.1 and ::1 differ).
    pub fn addr(self, a: &IpAddr) -> Hasher {
        self.bytes(&a.family().to_ne_bytes()).bytes(a.octets())
    }

    /// Adds a 32-bit value.
    pub fn u32(self, v: u32) -> Hasher {
        self.bytes(&v.to_ne_bytes())
    }

    /// The hash.
    pub fn finish(self) -> u32 {
        // murmur3's finaliser.
        let mut h = self.0;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_addresses_and_families_change_the_hash() {
        let v4 = IpAddr::V4([10, 0, 0, 1]);
        let h = |seed, a: &IpAddr| Hasher::new(seed).addr(a).finish();
        assert_eq!(h(1, &v4), h(1, &v4));
        assert_ne!(h(1, &v4), h(2, &v4));
        assert_ne!(h(1, &v4), h(1, &IpAddr::V4([10, 0, 0, 2])));
        let mut six = [0u8; 16];
        six[..4].copy_from_slice(&[10, 0, 0, 1]);
        assert_ne!(h(1, &v4), h(1, &IpAddr::V6(six, 0)));
        // Consecutive SPIs spread over the low bits (the bucket index).
        let mut seen = [false; 64];
        for spi in 0x1000..0x1040u32 {
            seen[(Hasher::new(7).u32(spi).finish() & 63) as usize] = true;
        }
        assert!(seen.iter().filter(|&&s| s).count() > 32);
    }
}
