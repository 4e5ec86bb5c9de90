// SPDX-License-Identifier: GPL-2.0

//! Tunnel outer-header rules: RFC 6040's tables, KAME's modes, DF, checksum.

use super::*;
use std::vec::Vec;

const CODEPOINTS: [u8; 4] = [ECN_NOT_ECT, ECN_ECT0, ECN_ECT1, ECN_CE];

#[test]
fn sysctl_values() {
    assert_eq!(EcnMode::from_sysctl(1), EcnMode::Allowed);
    assert_eq!(EcnMode::from_sysctl(0), EcnMode::Forbidden);
    assert_eq!(EcnMode::from_sysctl(-1), EcnMode::NoCare);
    assert_eq!(EcnMode::from_sysctl(7), EcnMode::NoCare);
    assert_eq!(DfBit::from_sysctl(0), DfBit::Clear);
    assert_eq!(DfBit::from_sysctl(1), DfBit::Set);
    assert_eq!(DfBit::from_sysctl(2), DfBit::Copy);
    assert_eq!(DfBit::from_sysctl(-3), DfBit::Copy);
}

#[test]
fn encapsulation_rfc6040_4_1() {
    // DSCP AF41 (0x88) with each ECN codepoint.
    for ecn in CODEPOINTS {
        let inner = 0x88 | ecn;
        // Normal mode copies the whole field, CE included.
        assert_eq!(encap_dsfield(inner, EcnMode::Allowed), inner);
        // Compatibility mode (KAME forbidden): outer Not-ECT, DSCP kept.
        assert_eq!(encap_dsfield(inner, EcnMode::Forbidden), 0x88);
        // No care: the byte as it is.
        assert_eq!(encap_dsfield(inner, EcnMode::NoCare), inner);
    }
}

#[test]
fn decapsulation_rfc6040_figure_4() {
    // Rows: arriving inner; columns: arriving outer Not-ECT, ECT(0),
    // ECT(1), CE. None is "drop".
    let n = Some(ECN_NOT_ECT);
    let e0 = Some(ECN_ECT0);
    let e1 = Some(ECN_ECT1);
    let ce = Some(ECN_CE);
    let table = [
        (ECN_NOT_ECT, [n, n, n, None]),
        (ECN_ECT0, [e0, e0, e1, ce]),
        (ECN_ECT1, [e1, e1, e1, ce]),
        (ECN_CE, [ce, ce, ce, ce]),
    ];
    let outers = [ECN_NOT_ECT, ECN_ECT0, ECN_ECT1, ECN_CE];
    for (inner, row) in table {
        for (outer, want) in outers.iter().zip(row) {
            let got = decap_dsfield(0x28 | outer, 0xb8 | inner, EcnMode::Allowed, false);
            let want = match want {
                Some(ecn) => Decap::Deliver(0xb8 | ecn),
                None => Decap::Drop,
            };
            assert_eq!(got, want, "inner {inner} outer {outer}");
        }
    }
}

#[test]
fn decapsulation_kame_forbidden_and_nocare_leave_the_inner_byte() {
    for mode in [EcnMode::Forbidden, EcnMode::NoCare] {
        for outer in CODEPOINTS {
            for inner in CODEPOINTS {
                assert_eq!(
                    decap_dsfield(outer, 0x48 | inner, mode, false),
                    Decap::Deliver(0x48 | inner),
                    "{mode:?} {outer} {inner}"
                );
            }
        }
    }
}

#[test]
fn decapsulation_dscp_copy() {
    // Inner DSCP kept by default, the outer's on request; ECN unaffected.
    assert_eq!(
        decap_dsfield(0xb8 | ECN_CE, 0x20 | ECN_ECT0, EcnMode::Allowed, false),
        Decap::Deliver(0x20 | ECN_CE)
    );
    assert_eq!(
        decap_dsfield(0xb8 | ECN_CE, 0x20 | ECN_ECT0, EcnMode::Allowed, true),
        Decap::Deliver(0xb8 | ECN_CE)
    );
    assert_eq!(
        decap_dsfield(0xb8, 0x20 | ECN_ECT1, EcnMode::Forbidden, true),
        Decap::Deliver(0xb8 | ECN_ECT1)
    );
}

#[test]
fn round_trip_preserves_ecn_through_a_clean_tunnel() {
    // What goes in comes out when nobody marks the outer header.
    for mode in [EcnMode::Allowed, EcnMode::Forbidden, EcnMode::NoCare] {
        for ecn in CODEPOINTS {
            let inner = 0x10 | ecn;
            let outer = encap_dsfield(inner, mode);
            assert_eq!(
                decap_dsfield(outer, inner, mode, false),
                Decap::Deliver(inner)
            );
        }
    }
    // A router marks CE on an ECT tunnel: the mark reaches the inner header.
    let outer = encap_dsfield(ECN_ECT0, EcnMode::Allowed) | ECN_CE;
    assert_eq!(
        decap_dsfield(outer, ECN_ECT0, EcnMode::Allowed, false),
        Decap::Deliver(ECN_CE)
    );
}

#[test]
fn df_bit() {
    // (dfbit, inner DF: Some for IPv4, None for IPv6, outer DF).
    let cases = [
        (DfBit::Clear, Some(false), false),
        (DfBit::Clear, Some(true), false),
        (DfBit::Clear, None, false),
        (DfBit::Set, Some(false), true),
        (DfBit::Set, Some(true), true),
        (DfBit::Set, None, true),
        (DfBit::Copy, Some(false), false),
        (DfBit::Copy, Some(true), true),
        (DfBit::Copy, None, true),
    ];
    for (dfbit, inner, want) in cases {
        assert_eq!(dfbit.outer_df(inner), want, "{dfbit:?} {inner:?}");
    }
}

#[test]
fn checksum_rfc1071_and_a_real_header() {
    // RFC 1071 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert_eq!(
        ipv4_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        !0xddf2
    );
    // 192.168.0.1 -> 192.168.0.199, UDP, DF, checksum b861.
    let hdr = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(ipv4_checksum(&hdr), 0xb861);
    assert!(ipv4_checksum_ok(&hdr));
    let mut bad = hdr;
    bad[8] = 0x3f;
    assert!(!ipv4_checksum_ok(&bad));
    assert!(!ipv4_checksum_ok(&hdr[..11]));
    // Odd length and carries do not panic.
    let _ = ipv4_checksum(&[0xff; 61]);
    assert_eq!(ipv4_checksum(&[]), 0xffff);
}

#[test]
fn outer_headers() {
    let h = Outer4 {
        dsfield: 0x00,
        total_len: 0x73,
        id: 0,
        df: true,
        ttl: 64,
        proto: 17,
        src: [192, 168, 0, 1],
        dst: [192, 168, 0, 199],
    }
    .to_bytes();
    assert_eq!(&h[10..12], &[0xb8, 0x61]);
    assert_eq!(&h[6..8], &[0x40, 0x00]);
    assert!(ipv4_checksum_ok(&h));
    let h6 = Outer6 {
        dsfield: 0xb9,
        flow_label: 0xff1_2345,
        payload_len: 100,
        next_header: 50,
        hop_limit: DEFAULT_TTL,
        src: [1; 16],
        dst: [2; 16],
    }
    .to_bytes();
    assert_eq!(&h6[..8], &[0x6b, 0x91, 0x23, 0x45, 0, 100, 50, 64]);
    assert_eq!(&h6[8..24], &[1; 16]);
    assert_eq!(&h6[24..], &[2; 16]);
}

/// RFC 1071's sum 16 bits at a time, the checksum field skipped: what
/// [`ipv4_checksum`] sums a word at a time must agree with it.
fn checksum_by_halves(hdr: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, pair) in hdr.chunks(2).enumerate() {
        if i != 5 {
            sum += u32::from(u16::from_be_bytes([
                pair[0],
                pair.get(1).copied().unwrap_or(0),
            ]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn checksum_by_words_agrees_with_rfc_1071_by_halves() {
    // Every length up to a header with the most options, bytes from a
    // simple generator, plus all-zero and all-ones headers.
    let mut x: u32 = 0x1234_5678;
    for len in 0..=64 {
        for round in 0..64 {
            let hdr: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    match round {
                        0 => 0,
                        1 => 0xff,
                        _ => x as u8,
                    }
                })
                .collect();
            assert_eq!(ipv4_checksum(&hdr), checksum_by_halves(&hdr), "{hdr:02x?}");
        }
    }
}
