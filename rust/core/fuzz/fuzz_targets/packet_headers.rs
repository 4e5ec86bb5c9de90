// SPDX-License-Identifier: GPL-2.0

//! Fuzz target: the data path's pure parsers over arbitrary bytes.
//!
//! - `flow::parse` never panics, and what it accepts is consistent: the
//!   upper-layer offset lies within the data, an SPI only for ESP and AH,
//!   no ports for later fragments;
//! - `ah::massage_ipv4`/`massage_ipv6` never panic, and massaging twice
//!   gives what massaging once gave (the second pass finds nothing
//!   mutable left, and a rearranged routing header nothing left to visit);
//! - `esp::parse_trailer` accounts for every byte it is given;
//! - a replay window fed the input's numbers agrees with a set model, and
//!   a number `check` accepts is one `update` accepts.
//!
//! Run: `FUZZ_TARGET=packet_headers make fuzz`, or `cargo fuzz run
//! packet_headers` in rust/core.

#![no_main]
#![forbid(unsafe_code)]

use kame_core::{
    ah::{self, Ipv4Massage},
    esp::{self, PadCheck},
    flow::{self, Frag},
    replay::Window,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

fn check_flow(data: &[u8]) {
    if let Ok(f) = flow::parse(data) {
        assert!(f.transport_offset <= data.len());
        if f.spi.is_some() {
            assert!(matches!(f.proto, flow::IPPROTO_ESP | flow::IPPROTO_AH));
        }
        if f.frag == Frag::Later {
            assert_eq!((f.sport, f.dport, f.spi), (0, 0, None));
        }
    }
}

fn check_ah(data: &[u8], outbound: bool) {
    let m = Ipv4Massage {
        cleartos: data.len() % 2 == 0,
        offsetmask: 0x4000,
    };
    let mut once = data.to_vec();
    if let Ok(n) = ah::massage_ipv4(&mut once, m, outbound) {
        assert!(n <= data.len());
        let mut twice = once.clone();
        assert_eq!(ah::massage_ipv4(&mut twice, m, outbound), Ok(n));
        assert_eq!(once, twice);
    }
    let mut once = data.to_vec();
    if let Ok(n) = ah::massage_ipv6(&mut once, outbound) {
        assert!(n <= data.len());
        let mut twice = once.clone();
        assert_eq!(ah::massage_ipv6(&mut twice, outbound), Ok(n));
        assert_eq!(once, twice);
    }
    let _ = ah::AhHeader::parse(data);
}

fn check_esp(data: &[u8]) {
    for check in [PadCheck::Sequential, PadCheck::Any] {
        if let Ok(t) = esp::parse_trailer(data, check) {
            let pad = usize::from(data[data.len() - 2]);
            assert_eq!(t.payload_len + pad + esp::ESP_TRAILER_LEN, data.len());
        }
    }
}

fn check_replay(data: &[u8]) {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let size = u32::from(size % 129);
    let mut w = Window::<2>::new(size, false).unwrap();
    let mut seen = BTreeSet::new();
    let mut top = 0u64;
    for c in rest.chunks_exact(4) {
        let seq = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let s = u64::from(seq);
        let model =
            s != 0 && (size == 0 || s > top || (top - s < u64::from(size) && !seen.contains(&s)));
        let got = w.check(seq);
        assert_eq!(got.is_ok(), model, "size {size} seq {s} top {top}");
        if got.is_ok() {
            w.update(s).unwrap();
            seen.insert(s);
            top = top.max(s);
        }
    }
    // ESN: whatever check accepts, update accepts.
    if size > 0 {
        let mut w = Window::<2>::new(size, true).unwrap();
        for c in rest.chunks_exact(4) {
            let seq = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            if let Ok(s) = w.check(seq) {
                w.update(s).unwrap();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_flow(data);
    check_ah(data, true);
    check_ah(data, false);
    check_esp(data);
    check_replay(data);
});
