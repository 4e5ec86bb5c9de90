// SPDX-License-Identifier: GPL-2.0

//! Seeded 32-bit hashes of lookup keys for the packet path's hash tables:
//! murmur3's mixing of the key 32 bits at a time, then its final mix so
//! that the low bits (the bucket index) depend on every input bit. The seed
//! is random per table. A word at a time rather than FNV-1a's byte at a
//! time: an SPD host key is 5 steps rather than 16 (11 rather than 40 for
//! IPv6), and every packet hashes one or two keys.

use crate::kame_core::pfkey::wire::IpAddr;

/// A hash being built.
#[derive(Clone, Copy)]
pub struct Hasher(u32);

impl Hasher {
    /// Starts a hash with `seed`.
    pub fn new(seed: u32) -> Hasher {
        Hasher(0x811c_9dc5 ^ seed)
    }

    /// Adds a 32-bit value (murmur3's block step).
    pub fn u32(self, v: u32) -> Hasher {
        let k = v
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        Hasher(
            (self.0 ^ k)
                .rotate_left(13)
                .wrapping_mul(5)
                .wrapping_add(0xe654_6b64),
        )
    }

    /// Adds an address (its family too: 0.0.0.1 and ::1 differ).
    pub fn addr(self, a: &IpAddr) -> Hasher {
        let h = self.u32(a.family().into());
        match a {
            IpAddr::V4(o) => h.u32(u32::from_ne_bytes(*o)),
            IpAddr::V6(o, _) => (0..4).fold(h, |h, i| {
                let w = [o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]];
                h.u32(u32::from_ne_bytes(w))
            }),
        }
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

    #[test]
    fn consecutive_hosts_spread_over_buckets() {
        // As SPDADD's benchmark keys its policies: 4096 consecutive IPv4
        // sources (and as many IPv6), one destination, over 1024 buckets.
        for v6 in [false, true] {
            let mut chains = [0u32; 1024];
            let dst = IpAddr::V4([192, 0, 2, 1]);
            for n in 0..4096u32 {
                let b = n.to_be_bytes();
                let src = if v6 {
                    let mut o = [0u8; 16];
                    o[0] = 0x20;
                    o[1] = 0x01;
                    o[12..].copy_from_slice(&b);
                    IpAddr::V6(o, 0)
                } else {
                    IpAddr::V4([10, b[1], b[2], b[3]])
                };
                let h = Hasher::new(99).u32(2).addr(&src).addr(&dst).finish();
                chains[(h & 1023) as usize] += 1;
            }
            // Four a bucket on average; a uniform hash keeps the longest
            // chain near 12.
            assert!(chains.iter().all(|&c| c <= 16), "{:?}", chains.iter().max());
            assert!(chains.iter().filter(|&&c| c == 0).count() < 60);
        }
    }
}
