// SPDX-License-Identifier: GPL-2.0

//! Anti-replay windows and sequence counters: numbered tables, RFC 4303
//! Appendix A2 boundary cases, and a model check of the ring bitmap.

use super::*;
use std::collections::BTreeSet;

type W = Window4096;

const T32: u64 = 1 << 32;

fn window(size: u32, esn: bool, received: &[u64]) -> W {
    let mut w = W::new(size, esn).unwrap();
    for &s in received {
        w.update(s).unwrap();
    }
    w
}

#[test]
fn sizes() {
    assert_eq!(W::MAX, 4096);
    assert!(W::new(4096, false).is_ok());
    assert_eq!(W::new(4097, false), Err(WindowError::TooLarge));
    assert_eq!(Window::<1>::MAX, 64);
    assert_eq!(Window::<1>::new(65, true), Err(WindowError::TooLarge));
    assert_eq!(W::new(0, true), Err(WindowError::EsnWithoutWindow));
    let w = W::new(0, false).unwrap();
    assert_eq!((w.size(), w.esn(), w.top()), (0, false, 0));
}

#[test]
fn table_32bit() {
    // (case, window, received so far, incoming, expected check result).
    use ReplayError::*;
    type Case = (u32, u32, &'static [u64], u32, Result<u64, ReplayError>);
    let cases: [Case; 16] = [
        (1, 32, &[], 0, Err(Zero)),
        (2, 32, &[], 1, Ok(1)),
        (3, 32, &[1], 1, Err(Replayed)),
        (4, 32, &[1], 2, Ok(2)),
        (5, 32, &[1, 5], 3, Ok(3)),
        (6, 32, &[1, 5], 5, Err(Replayed)),
        // Window edges: top 100, window 32 covers 69..=100.
        (7, 32, &[100], 69, Ok(69)),
        (8, 32, &[100], 68, Err(TooOld)),
        (9, 32, &[100, 69], 69, Err(Replayed)),
        // Far-future jump.
        (10, 32, &[1, 2, 3], 1_000_000, Ok(1_000_000)),
        (11, 32, &[1_000_000], 3, Err(TooOld)),
        // Window 1: only new highest numbers.
        (12, 1, &[7], 7, Err(Replayed)),
        (13, 1, &[7], 6, Err(TooOld)),
        // No wrap without ESN: after 2^32 - 1 nothing new exists.
        (14, 32, &[T32 - 1], 1, Err(TooOld)),
        (15, 32, &[T32 - 1], u32::MAX - 31, Ok(T32 - 32)),
        (16, 32, &[T32 - 1], u32::MAX - 32, Err(TooOld)),
    ];
    for (n, size, received, seq, want) in cases {
        let w = window(size, false, received);
        assert_eq!(w.check(seq), want, "case {n}");
    }
}

#[test]
fn check_changes_nothing_update_rechecks() {
    let mut w = window(32, false, &[10]);
    let before = w.clone();
    assert_eq!(w.check(11), Ok(11));
    assert_eq!(w, before);
    // Two packets with 11 both pass the check; only one may be recorded.
    assert_eq!(w.update(11), Ok(()));
    assert_eq!(w.update(11), Err(ReplayError::Replayed));
    assert_eq!(w.update(0), Err(ReplayError::Zero));
    assert_eq!(w.top(), 11);
    // A late packet does not move the top.
    w.update(5).unwrap();
    assert_eq!(w.top(), 11);
    assert_eq!(w.check(5), Err(ReplayError::Replayed));
}

#[test]
fn window_zero_counts_but_never_refuses() {
    let mut w = window(0, false, &[5, 5, 3]);
    assert_eq!(w.top(), 5);
    assert_eq!(w.check(5), Ok(5));
    assert_eq!(w.check(1), Ok(1));
    assert_eq!(w.check(0), Err(ReplayError::Zero));
    w.update(1 << 20).unwrap();
    w.update(1 << 20).unwrap();
    assert_eq!(w.top(), 1 << 20);
}

#[test]
fn jump_beyond_the_bitmap_clears_it() {
    let mut w = window(4096, false, &[1, 2, 3, 4096]);
    w.update(10_000).unwrap();
    assert_eq!(w.check(10_000 - 4095), Ok(10_000 - 4095));
    assert_eq!(w.check(10_000 - 4096), Err(ReplayError::TooOld));
    assert_eq!(w.check(9_999), Ok(9_999));
    // A jump of exactly the bitmap's size.
    w.update(10_000 + 4096).unwrap();
    assert_eq!(w.check(10_001), Ok(10_001));
    assert_eq!(w.check(10_000), Err(ReplayError::TooOld));
}

#[test]
fn esn_inference_rfc4303_a2() {
    // (case, window, top, incoming low bits, inferred 64-bit number).
    let cases: [(u32, u32, u64, u32, u64); 14] = [
        // Case A (Tl >= W - 1): window inside subspace 5.
        (1, 64, 5 * T32 + 1000, 937, 5 * T32 + 937), // bottom of window
        (2, 64, 5 * T32 + 1000, 936, 6 * T32 + 936), // below: next subspace
        (3, 64, 5 * T32 + 1000, 2000, 5 * T32 + 2000), // ahead
        (
            4,
            64,
            5 * T32 + 1000,
            u32::MAX,
            5 * T32 + u64::from(u32::MAX),
        ),
        // Tl == W - 1 exactly: still case A, bottom is 0.
        (5, 64, 5 * T32 + 63, 0, 5 * T32),
        (6, 64, 5 * T32 + 63, 64, 5 * T32 + 64),
        // Case B (Tl < W - 1): window spans subspaces 4 and 5.
        (
            7,
            64,
            5 * T32 + 10,
            u32::MAX - 52,
            4 * T32 + u64::from(u32::MAX - 52),
        ),
        (8, 64, 5 * T32 + 10, u32::MAX, 4 * T32 + u64::from(u32::MAX)),
        (
            9,
            64,
            5 * T32 + 10,
            u32::MAX - 53,
            5 * T32 + u64::from(u32::MAX - 53),
        ),
        (10, 64, 5 * T32 + 10, 5, 5 * T32 + 5),
        (11, 64, 5 * T32 + 11, 11, 5 * T32 + 11),
        // Window 1: anything below the top is the next subspace.
        (12, 1, 5 * T32 + 10, 9, 6 * T32 + 9),
        // A fresh SA: no subspace below 0.
        (13, 64, 0, u32::MAX, u64::from(u32::MAX)),
        (14, 64, 0, 1, 1),
    ];
    for (n, size, top, lo, want) in cases {
        let mut w = W::new(size, true).unwrap();
        if top != 0 {
            w.update(top).unwrap();
        }
        assert_eq!(w.infer(lo), want, "case {n}");
    }
}

#[test]
fn esn_crosses_the_2_32_boundary() {
    let mut w = window(64, true, &[T32 - 2, T32 - 1]);
    // The next packet's low bits wrap to 0 and 3.
    assert_eq!(w.check(0), Ok(T32));
    assert_eq!(w.check(3), Ok(T32 + 3));
    w.update(T32 + 3).unwrap();
    // Late packets from the lower subspace are still in the window.
    assert_eq!(w.check(u32::MAX - 10), Ok(T32 - 11));
    w.update(T32 - 11).unwrap();
    assert_eq!(w.check(u32::MAX - 10), Err(ReplayError::Replayed));
    assert_eq!(w.check(u32::MAX), Err(ReplayError::Replayed));
    assert_eq!(w.check(0), Ok(T32));
    // Left of the window (top 2^32 + 3, window 64: bottom 2^32 - 60).
    assert_eq!(w.check(u32::MAX - 59), Ok(T32 - 60));
    assert_eq!(w.check(u32::MAX - 60), Ok(2 * T32 - 61));
    // Sequence number 0 of subspace 1 is a real number with ESN.
    w.update(T32).unwrap();
    assert_eq!(w.check(0), Err(ReplayError::Replayed));
}

#[test]
fn esn_top_subspace_does_not_wrap() {
    let w = window(64, true, &[u64::MAX - 1]);
    // Low bits below the window would be subspace 2^32: there is none.
    assert_eq!(w.infer(5), (u64::from(u32::MAX) << 32) + 5);
    assert_eq!(w.check(5), Err(ReplayError::TooOld));
    assert_eq!(w.check(u32::MAX), Ok(u64::MAX));
}

/// A tiny deterministic generator for the model check.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn ring_bitmap_matches_a_set_model() {
    for size in [1u32, 2, 31, 32, 63, 64, 65, 100, 1000, 4095, 4096] {
        let mut w = W::new(size, false).unwrap();
        let mut seen = BTreeSet::new();
        let mut top = 0u64;
        let mut rng = Lcg(u64::from(size));
        for _ in 0..20_000 {
            // Mostly near the top, some duplicates, some far jumps.
            let r = rng.next();
            let seq = match r % 16 {
                0 => top + 1 + r % 10_000,
                1..=3 => top.saturating_sub(r % (u64::from(size) + 5)),
                _ => top + 1 + r % 3,
            }
            .min(u64::from(u32::MAX));
            let model = if seq == 0 {
                Err(ReplayError::Zero)
            } else if seq > top {
                Ok(seq)
            } else if top - seq >= u64::from(size) {
                Err(ReplayError::TooOld)
            } else if seen.contains(&seq) {
                Err(ReplayError::Replayed)
            } else {
                Ok(seq)
            };
            // CAST: seq was capped at u32::MAX above.
            let got = w.check(seq as u32);
            assert_eq!(got, model, "size {size} seq {seq} top {top}");
            if got.is_ok() {
                w.update(seq).unwrap();
                seen.insert(seq);
                top = top.max(seq);
            }
        }
    }
}

#[test]
fn counter_32bit() {
    let mut c = Counter::new(false);
    assert_eq!((c.last(), c.limit()), (0, u64::from(u32::MAX)));
    assert_eq!(c.advance(), Ok(1));
    assert_eq!(c.advance(), Ok(2));
    let mut c = Counter::starting_after(u64::from(u32::MAX) - 1, false);
    assert!(!c.exhausted());
    assert_eq!(c.advance(), Ok(u64::from(u32::MAX)));
    assert!(c.exhausted());
    assert_eq!(c.advance(), Err(Exhausted));
    assert_eq!(c.advance(), Err(Exhausted));
    assert_eq!(c.last(), u64::from(u32::MAX));
}

#[test]
fn counter_esn() {
    let mut c = Counter::starting_after(u64::from(u32::MAX), true);
    let s = c.advance().unwrap();
    assert_eq!(s, T32);
    assert_eq!((seq_hi(s), seq_lo(s)), (1, 0));
    let mut c = Counter::starting_after(u64::MAX - 1, true);
    assert_eq!(c.advance(), Ok(u64::MAX));
    assert_eq!(c.advance(), Err(Exhausted));
    assert_eq!(seq_hi(0x1234_5678_9abc_def0), 0x1234_5678);
    assert_eq!(seq_lo(0x1234_5678_9abc_def0), 0x9abc_def0);
}

#[test]
fn esn_sender_crossing_2_32_from_a_fresh_window() {
    // An XFRM sender started at 0xfffffff8 (ip xfrm state ... replay-oseq).
    let mut w = Window::<4>::new(32, true).unwrap();
    for lo in 0xffff_fff9u32..=0xffff_ffff {
        let s = w.check(lo).unwrap();
        assert_eq!(s, u64::from(lo));
        w.update(s).unwrap();
    }
    for lo in 0u32..8 {
        let s = w.check(lo).unwrap();
        assert_eq!(s, (1u64 << 32) | u64::from(lo));
        w.update(s).unwrap();
    }
}
