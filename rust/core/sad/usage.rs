// SPDX-License-Identifier: GPL-2.0

//! Lifetimes by use: what the data path counts on an SA (packets, bytes,
//! first use) and when that ends it, as XFRM's `xfrm_state_check_expire()`
//! decides for af_key's SAs.
//!
//! Before each packet an SA protects or accepts, its counts so far are held
//! against its limits (0 is none): at or past a hard limit the packet is
//! dropped and the SA goes; at or past a soft one the SA becomes dying and
//! the packet passes. So a hard allocations limit of N lets N packets
//! through, and the packet that carries the byte count past a limit still
//! passes: the next one finds it crossed. af_key stores
//! `sadb_lifetime_allocations` as XFRM's packet limit, counted over the
//! packets the SA protected or accepted.

use super::{Expiry, SaRecord};
use crate::kame_core::pfkey::wire::Lifetime;

/// What the data path counted on an SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Packets protected or accepted.
    pub packets: u64,
    /// Their payload bytes: what follows the IP header in transport mode,
    /// the inner packet in tunnel mode (XFRM's `skb->len` at its counting
    /// points, both directions).
    pub bytes: u64,
    /// When the SA was first used (seconds since the epoch), 0 if never.
    pub first_use: u64,
}

/// Whether `count` is at or past `limit` (0: no limit).
fn reached(count: u64, limit: u64) -> bool {
    limit != 0 && count >= limit
}

/// Whether an outbound SA whose last sequence number sent was `last` has
/// none left to send: without ESN the 32-bit counter must not wrap (RFC
/// 4303 section 3.3.3, RFC 4302 section 2.5), with ESN the 64-bit one.
pub fn seq_exhausted(last: u64, esn: bool) -> bool {
    if esn {
        last == u64::MAX
    } else {
        last >= u64::from(u32::MAX)
    }
}

impl SaRecord {
    /// The limit the counts `u` have reached, checked before a packet uses
    /// the SA: hard (drop the packet, remove the SA) wins over soft (the SA
    /// becomes dying).
    pub fn usage_limit(&self, u: &Usage) -> Option<Expiry> {
        let crossed = |l: &Lifetime| {
            reached(u.packets, u64::from(l.allocations)) || reached(u.bytes, l.bytes)
        };
        if crossed(&self.hard) {
            Some(Expiry::Hard)
        } else if crossed(&self.soft) {
            Some(Expiry::Soft)
        } else {
            None
        }
    }

    /// Whether a use-time limit needs the first use recorded to start.
    pub fn has_usetime_limit(&self) -> bool {
        self.hard.usetime != 0 || self.soft.usetime != 0
    }

    /// The current lifetime as af_key reports it: allocations and bytes
    /// from the data path's counts, the first use once there is one.
    pub fn apply_usage(&mut self, u: &Usage) {
        self.current = self.current_with(u);
    }

    /// The current lifetime [`SaRecord::apply_usage`] would leave.
    pub fn current_with(&self, u: &Usage) -> Lifetime {
        let mut cur = self.current;
        cur.allocations = u32::try_from(u.packets).unwrap_or(u32::MAX);
        cur.bytes = u.bytes;
        if cur.usetime == 0 {
            cur.usetime = u.first_use;
        }
        cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kame_core::{
        pfkey::wire::{Address, IpAddr, Lifetime, SockAddr},
        sad::{SaState, IPPROTO_ESP, MODE_TRANSPORT},
    };

    fn rec(soft: (u32, u64), hard: (u32, u64)) -> SaRecord {
        let a = |last| Address {
            proto: 0,
            prefixlen: 32,
            sa: SockAddr {
                addr: IpAddr::V4([10, 0, 0, last]),
                port: 0,
            },
        };
        let mut r = SaRecord::larval(IPPROTO_ESP, &a(1), &a(2), MODE_TRANSPORT, 0, 0, 100);
        r.state = SaState::Mature;
        r.soft = Lifetime {
            allocations: soft.0,
            bytes: soft.1,
            ..Lifetime::default()
        };
        r.hard = Lifetime {
            allocations: hard.0,
            bytes: hard.1,
            ..Lifetime::default()
        };
        r
    }

    fn used(packets: u64, bytes: u64) -> Usage {
        Usage {
            packets,
            bytes,
            first_use: 0,
        }
    }

    /// Numbered cases: (soft, hard) limits as (allocations, bytes), the
    /// counts before a packet, what is crossed.
    #[test]
    fn limits_table() {
        type Case = ((u32, u64), (u32, u64), (u64, u64), Option<Expiry>);
        let cases: [Case; 12] = [
            // 0: no limits at all.
            ((0, 0), (0, 0), (u64::MAX, u64::MAX), None),
            // 1-3: hard allocations 5: packets 1..=5 pass, the 6th not.
            ((0, 0), (5, 0), (0, 0), None),
            ((0, 0), (5, 0), (4, 0), None),
            ((0, 0), (5, 0), (5, 0), Some(Expiry::Hard)),
            // 4-5: soft allocations 3 before hard 5.
            ((3, 0), (5, 0), (2, 0), None),
            ((3, 0), (5, 0), (3, 0), Some(Expiry::Soft)),
            // 6: both reached: hard wins.
            ((3, 0), (5, 0), (7, 0), Some(Expiry::Hard)),
            // 7-9: bytes: the packet that carried the count past the
            // limit passed; the next one finds it.
            ((0, 1000), (0, 2000), (0, 999), None),
            ((0, 1000), (0, 2000), (0, 1500), Some(Expiry::Soft)),
            ((0, 1000), (0, 2000), (0, 2000), Some(Expiry::Hard)),
            // 10: one limit of either kind is enough.
            ((0, 0), (9, 100), (1, 100), Some(Expiry::Hard)),
            // 11: a soft limit past the hard one never matters.
            ((10, 0), (5, 0), (5, 0), Some(Expiry::Hard)),
        ];
        for (i, (soft, hard, (p, b), want)) in cases.iter().enumerate() {
            assert_eq!(
                rec(*soft, *hard).usage_limit(&used(*p, *b)),
                *want,
                "case {i}"
            );
        }
    }

    #[test]
    fn report_overlays_counts() {
        let mut r = rec((0, 0), (0, 0));
        r.apply_usage(&Usage {
            packets: 7,
            bytes: 700,
            first_use: 150,
        });
        assert_eq!(
            (r.current.allocations, r.current.bytes, r.current.usetime),
            (7, 700, 150)
        );
        assert_eq!(r.current.addtime, 100);
        // A first use the record has already keeps.
        r.apply_usage(&Usage {
            packets: u64::from(u32::MAX) + 5,
            bytes: 1,
            first_use: 200,
        });
        assert_eq!((r.current.allocations, r.current.usetime), (u32::MAX, 150));
    }

    #[test]
    fn usetime_limits() {
        let mut r = rec((0, 0), (0, 0));
        assert!(!r.has_usetime_limit());
        r.soft.usetime = 10;
        assert!(r.has_usetime_limit());
        r.soft.usetime = 0;
        r.hard.usetime = 10;
        assert!(r.has_usetime_limit());
    }

    #[test]
    fn sequence_numbers_run_out() {
        assert!(!seq_exhausted(0, false));
        assert!(!seq_exhausted(u64::from(u32::MAX) - 1, false));
        // 2^32 - 1 was sent: the next would wrap to 0.
        assert!(seq_exhausted(u64::from(u32::MAX), false));
        assert!(seq_exhausted(u64::from(u32::MAX) + 3, false));
        assert!(!seq_exhausted(u64::from(u32::MAX), true));
        assert!(seq_exhausted(u64::MAX, true));
    }
}
