// SPDX-License-Identifier: GPL-2.0

//! AH ICV input preparation and header layout.

use super::*;
use crate::kame_core::flow::IPPROTO_FRAGMENT;
use std::vec::Vec;

/// An IPv4 header: TOS 0xb8, flags and offset `off`, TTL 64, proto AH,
/// checksum 0xbeef, 10.0.0.1 -> 10.0.0.2, then `opts`.
fn v4(off: u16, opts: &[u8]) -> Vec<u8> {
    let ihl = u8::try_from((20 + opts.len()) / 4).unwrap();
    let mut h = std::vec![0x40 | ihl, 0xb8, 0x00, 0x54, 0xab, 0xcd];
    h.extend_from_slice(&off.to_be_bytes());
    h.extend_from_slice(&[64, 51, 0xbe, 0xef, 10, 0, 0, 1, 10, 0, 0, 2]);
    h.extend_from_slice(opts);
    h
}

#[test]
fn ipv4_rfc_fields() {
    let mut h = v4(0x6005, &[]);
    assert_eq!(massage_ipv4(&mut h, Ipv4Massage::RFC, true), Ok(20));
    let want = [
        0x45, 0, 0x00, 0x54, 0xab, 0xcd, 0, 0, 0, 51, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    assert_eq!(h, want);
}

#[test]
fn ipv4_cleartos_and_offsetmask() {
    // (case, cleartos, offsetmask, TOS after, ip_off after) with ip_off
    // DF | MF | offset 5 = 0x6005.
    let cases = [
        (1, true, 0x0000, 0x00, 0x0000),
        (2, false, 0x0000, 0xb8, 0x0000),
        (3, true, 0x4000, 0x00, 0x4000),
        (4, true, 0xffff, 0x00, 0x6005),
        (5, false, 0x1fff, 0xb8, 0x0005),
    ];
    for (n, cleartos, offsetmask, tos, off) in cases {
        let mut h = v4(0x6005, &[]);
        let m = Ipv4Massage {
            cleartos,
            offsetmask,
        };
        massage_ipv4(&mut h, m, false).unwrap();
        assert_eq!(h[1], tos, "case {n}");
        assert_eq!(u16::from_be_bytes([h[6], h[7]]), off, "case {n}");
        assert_eq!((h[8], h[10], h[11]), (0, 0, 0), "case {n}");
    }
    assert_eq!(Ipv4Massage::from_sysctls(1, 0), Ipv4Massage::RFC);
    assert_eq!(
        Ipv4Massage::from_sysctls(0, 0x4000),
        Ipv4Massage {
            cleartos: false,
            offsetmask: 0x4000
        }
    );
}

#[test]
fn ipv4_options_by_class() {
    // NOP; Router Alert (immutable); Timestamp (mutable, 8); Security
    // (immutable, 3... padded to 4 with NOP); LSRR with two addresses
    // (mutable but predictable, 11); EOL and padding.
    let opts = [
        1, // NOP
        0x94, 4, 0, 0, // Router Alert
        0x44, 8, 5, 0, 1, 2, 3, 4, // Timestamp
        0x82, 3, 9, // Security (short, but well-formed)
        0x83, 11, 4, 192, 0, 2, 9, 192, 0, 2, 77, // LSRR
        0, 0x55, 0x66, 0x77, 0x88, // EOL, then bytes left alone
    ];
    assert_eq!(opts.len(), 32);
    let mut out = v4(0, &opts);
    massage_ipv4(&mut out, Ipv4Massage::RFC, true).unwrap();
    let mut want = opts;
    want[5..13].fill(0);
    want[16..27].fill(0);
    assert_eq!(&out[20..], &want);
    // Output: the final destination (last LSRR address) in the header.
    assert_eq!(&out[16..20], &[192, 0, 2, 77]);
    // Input: destination kept.
    let mut inp = v4(0, &opts);
    massage_ipv4(&mut inp, Ipv4Massage::RFC, false).unwrap();
    assert_eq!(&inp[16..20], &[10, 0, 0, 2]);
    assert_eq!(&inp[20..], &want);
}

#[test]
fn ipv4_bad_options_and_headers() {
    // Option length 1, overrunning length, type without length, LSRR
    // without an address.
    for opts in [
        [0x44, 1, 0, 0],
        [0x44, 5, 0, 0],
        [1, 1, 1, 0x44],
        [0x83, 3, 4, 0],
    ] {
        let mut h = v4(0, &opts);
        assert_eq!(
            massage_ipv4(&mut h, Ipv4Massage::RFC, true),
            Err(AhError::BadOption),
            "{opts:?}"
        );
    }
    assert_eq!(
        massage_ipv4(&mut [], Ipv4Massage::RFC, true),
        Err(AhError::Truncated)
    );
    let mut h = v4(0, &[]);
    h[0] = 0x65;
    assert_eq!(
        massage_ipv4(&mut h, Ipv4Massage::RFC, true),
        Err(AhError::Version)
    );
    h[0] = 0x44;
    assert_eq!(
        massage_ipv4(&mut h, Ipv4Massage::RFC, true),
        Err(AhError::Version)
    );
    h[0] = 0x46;
    assert_eq!(
        massage_ipv4(&mut h, Ipv4Massage::RFC, true),
        Err(AhError::Truncated)
    );
}

fn a6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[15] = last;
    a
}

/// IPv6 header: TC 0xb9, flow 0x12345, hop limit 64, next header `nh`.
fn v6(nh: u8, dst: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = std::vec![0x6b, 0x91, 0x23, 0x45, 0, 99, nh, 64];
    p.extend_from_slice(&a6(1));
    p.extend_from_slice(&a6(dst));
    p.extend_from_slice(rest);
    p
}

const AH_BYTES: [u8; 12] = [6, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

#[test]
fn ipv6_fixed_header() {
    let mut p = v6(IPPROTO_AH, 2, &AH_BYTES);
    assert_eq!(massage_ipv6(&mut p, true), Ok(40));
    assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 99, 51, 0]);
    assert_eq!(&p[8..40], &v6(51, 2, &[])[8..40]);
    assert_eq!(&p[40..], &AH_BYTES);
}

#[test]
fn ipv6_options_mutable_bit() {
    // Hop-by-hop (16 bytes): Pad1, Quick-Start 0x26 (mutable, 6 data
    // bytes), Router Alert 0x05 (immutable), Pad1.
    let hbh = [
        IPPROTO_DSTOPTS,
        1, // next: dstopts, 16 bytes
        0, // Pad1
        0x26,
        6,
        1,
        2,
        3,
        4,
        5,
        6, // Quick-Start
        0x05,
        2,
        0,
        0, // Router Alert
        0, // Pad1
    ];
    // Destination options (8 bytes): an unknown mutable option 0x3e.
    let dst = [IPPROTO_AH, 0, 0x3e, 4, 9, 9, 9, 9];
    let mut rest = hbh.to_vec();
    rest.extend_from_slice(&dst);
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_HOPOPTS, 2, &rest);
    assert_eq!(massage_ipv6(&mut p, false), Ok(64));
    let mut want_hbh = hbh;
    want_hbh[5..11].fill(0);
    assert_eq!(&p[40..56], &want_hbh[..]);
    assert_eq!(&p[56..64], &[IPPROTO_AH, 0, 0x3e, 4, 0, 0, 0, 0]);
    // An option overrunning its header.
    let bad = [IPPROTO_AH, 0, 0x3e, 5, 9, 9, 9, 9];
    let mut rest = bad.to_vec();
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_DSTOPTS, 2, &rest);
    assert_eq!(massage_ipv6(&mut p, false), Err(AhError::BadOption));
}

/// A type-`kind` routing header with `addrs` and `left` segments left.
fn rthdr(kind: u8, left: u8, addrs: &[u8]) -> Vec<u8> {
    let n = u8::try_from(addrs.len()).unwrap();
    let mut r = std::vec![IPPROTO_AH, 2 * n, kind, left, 0, 0, 0, 0];
    for &a in addrs {
        r.extend_from_slice(&a6(a));
    }
    r
}

#[test]
fn ipv6_routing_type0_rearranged_on_output() {
    // Sender: destination is the first hop 10, then 11, 12, final 13.
    let mut rest = rthdr(0, 3, &[11, 12, 13]);
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_ROUTING, 10, &rest);
    assert_eq!(massage_ipv6(&mut p, true), Ok(96));
    // As the final destination receives it: dst 13, addresses 10, 11, 12,
    // segments left 0.
    let mut want = rthdr(0, 0, &[10, 11, 12]);
    want.extend_from_slice(&AH_BYTES);
    assert_eq!(&p[24..40], &a6(13));
    assert_eq!(&p[40..], &want[..]);
    // Partway (one hop done: dst 11, left 2, first slot already 10).
    let mut rest = rthdr(0, 2, &[10, 12, 13]);
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_ROUTING, 11, &rest);
    massage_ipv6(&mut p, true).unwrap();
    assert_eq!(&p[24..40], &a6(13));
    assert_eq!(&p[40..96], &rthdr(0, 0, &[10, 11, 12])[..]);
    // Input: as received, untouched.
    let mut rest = rthdr(0, 0, &[10, 11, 12]);
    rest.extend_from_slice(&AH_BYTES);
    let p0 = v6(IPPROTO_ROUTING, 13, &rest);
    let mut p = p0.clone();
    massage_ipv6(&mut p, false).unwrap();
    assert_eq!(&p[8..], &p0[8..]);
}

#[test]
fn ipv6_routing_type2_and_others() {
    // Mobile IPv6 type 2: care-of address 20 in dst, home address 21.
    let mut rest = rthdr(2, 1, &[21]);
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_ROUTING, 20, &rest);
    massage_ipv6(&mut p, true).unwrap();
    assert_eq!(&p[24..40], &a6(21));
    assert_eq!(&p[40..64], &rthdr(2, 0, &[20])[..]);
    // Segment routing (type 4) is covered as sent.
    let mut rest = rthdr(4, 1, &[30]);
    rest.extend_from_slice(&AH_BYTES);
    let p0 = v6(IPPROTO_ROUTING, 31, &rest);
    let mut p = p0.clone();
    massage_ipv6(&mut p, true).unwrap();
    assert_eq!(&p[8..], &p0[8..]);
    // More segments left than addresses.
    let mut rest = rthdr(0, 3, &[1, 2]);
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_ROUTING, 31, &rest);
    assert_eq!(massage_ipv6(&mut p, true), Err(AhError::BadExtHeader));
    // Odd header length.
    let mut rest = std::vec![IPPROTO_AH, 1, 0, 1, 0, 0, 0, 0];
    rest.extend_from_slice(&[0; 8]);
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_ROUTING, 31, &rest);
    assert_eq!(massage_ipv6(&mut p, true), Err(AhError::BadExtHeader));
}

#[test]
fn ipv6_bad_chains() {
    // A fragment header before AH.
    let mut rest = std::vec![IPPROTO_AH, 0, 0, 1, 0, 0, 0, 1];
    rest.extend_from_slice(&AH_BYTES);
    let mut p = v6(IPPROTO_FRAGMENT, 2, &rest);
    assert_eq!(massage_ipv6(&mut p, false), Err(AhError::BadExtHeader));
    // No AH at all.
    let mut p = v6(6, 2, &[0; 20]);
    assert_eq!(massage_ipv6(&mut p, false), Err(AhError::BadExtHeader));
    // Truncated header and extension header.
    assert_eq!(
        massage_ipv6(&mut [0x60; 39], false),
        Err(AhError::Truncated)
    );
    let mut p = v6(IPPROTO_HOPOPTS, 2, &[IPPROTO_AH, 1, 0, 0]);
    assert_eq!(massage_ipv6(&mut p, false), Err(AhError::Truncated));
    let mut p = v6(IPPROTO_HOPOPTS, 2, &[]);
    assert_eq!(massage_ipv6(&mut p, false), Err(AhError::Truncated));
    let mut p = v6(IPPROTO_AH, 2, &[]);
    p[0] = 0x45;
    assert_eq!(massage_ipv6(&mut p, false), Err(AhError::Version));
}

#[test]
fn header_lengths() {
    // (ICV bytes, 4-byte aligned length, 8-byte aligned length).
    let cases = [
        (0, 12, 16),
        (12, 24, 24), // HMAC-MD5-96, HMAC-SHA1-96, AES-XCBC-MAC-96
        (16, 28, 32), // HMAC-SHA-256-128
        (24, 36, 40), // HMAC-SHA-384-192
        (32, 44, 48), // HMAC-SHA-512-256
    ];
    for (icv, four, eight) in cases {
        assert_eq!(header_len(icv, Align::Four), four);
        assert_eq!(header_len(icv, Align::Eight), eight);
        for (align, len) in [(Align::Four, four), (Align::Eight, eight)] {
            let h = AhHeader::new(6, icv, align, 0x100, 1).unwrap();
            assert_eq!(h.total_len(), len);
            assert_eq!(h.icv_room(), len - 12);
            assert_eq!(usize::from(h.payload_len), len / 4 - 2);
        }
    }
    assert_eq!(Align::rfc(false), Align::Four);
    assert_eq!(Align::rfc(true), Align::Eight);
    // RFC 4302 2.2: a 96-bit ICV gives payload length 4.
    assert_eq!(
        AhHeader::new(6, 12, Align::Four, 1, 1).unwrap().payload_len,
        4
    );
    assert_eq!(AhHeader::new(6, 2000, Align::Four, 1, 1), None);
}

#[test]
fn header_bytes_round_trip() {
    let h = AhHeader::new(17, 16, Align::Eight, 0x1234_5678, 0x9abc_def0).unwrap();
    let b = h.to_bytes();
    assert_eq!(
        b,
        [17, 6, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]
    );
    assert_eq!(AhHeader::parse(&b), Ok(h));
    // Reserved bits are not refused.
    let mut r = b;
    r[2] = 0xff;
    assert_eq!(AhHeader::parse(&r).unwrap().spi, 0x1234_5678);
    let mut z = b;
    z[1] = 0;
    assert_eq!(AhHeader::parse(&z), Err(AhError::BadLength));
    z[1] = 1;
    assert_eq!(AhHeader::parse(&z).unwrap().icv_room(), 0);
    assert_eq!(AhHeader::parse(&b[..11]), Err(AhError::Truncated));
}

#[test]
fn corrupt_headers_never_panic() {
    let mut rest = std::vec![IPPROTO_ROUTING, 0, 0x26, 2, 1, 2, 1, 0];
    rest.extend(rthdr(0, 2, &[3, 4]));
    rest.extend_from_slice(&AH_BYTES);
    let s6 = v6(IPPROTO_HOPOPTS, 2, &rest);
    let s4 = v4(0, &[0x83, 7, 4, 1, 2, 3, 4, 0]);
    for s in [&s6, &s4] {
        for n in 0..=s.len() {
            let mut c = s[..n].to_vec();
            let _ = massage_ipv6(&mut c, true);
            let mut c = s[..n].to_vec();
            let _ = massage_ipv4(&mut c, Ipv4Massage::RFC, true);
        }
        for i in 0..s.len() {
            for v in [0u8, 1, 2, 0x20, 0x7f, 0xff] {
                let mut c = s.clone();
                c[i] = v;
                let _ = massage_ipv6(&mut c.clone(), true);
                let _ = massage_ipv4(&mut c, Ipv4Massage::RFC, true);
            }
        }
    }
}
