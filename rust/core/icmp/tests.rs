// SPDX-License-Identifier: GPL-2.0

//! Which ICMP messages are errors, and the flow an error quotes, from
//! hand-built packets.

use super::*;
use crate::kame_core::flow::{IPPROTO_TCP, IPPROTO_UDP};
use std::{vec, vec::Vec};

const A4: [u8; 4] = [192, 0, 2, 1];
const B4: [u8; 4] = [198, 51, 100, 2];
const R4: [u8; 4] = [192, 0, 2, 254];

fn a6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[15] = last;
    a
}

fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn v6(src: [u8; 16], dst: [u8; 16], proto: u8, payload: &[u8]) -> Vec<u8> {
    let plen = u16::try_from(payload.len()).unwrap();
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&plen.to_be_bytes());
    p.extend_from_slice(&[proto, 64]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

/// An ICMP message of `ty`/`code` quoting `quoted`.
fn icmp(ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0, 0, 0, 0x05, 0xdc];
    m.extend_from_slice(quoted);
    m
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&[0, 8, 0, 0]);
    u
}

fn parse(p: &[u8]) -> Flow {
    flow::parse(p).unwrap()
}

#[test]
fn error_types_by_family() {
    // (IPv6, type, is an error)
    let cases: [(bool, u8, bool); 14] = [
        (false, 3, true),
        (false, 11, true),
        (false, 12, true),
        (false, 0, false),
        (false, 5, false), // redirect
        (false, 8, false),
        (false, 4, false), // source quench (RFC 6633)
        (true, 1, true),
        (true, 2, true),
        (true, 3, true),
        (true, 4, true),
        (true, 128, false),
        (true, 135, false),
        (true, 137, false), // redirect
    ];
    for (i, (is6, ty, want)) in cases.into_iter().enumerate() {
        let body = icmp(ty, 0, &[]);
        let p = if is6 {
            v6(a6(2), a6(1), IPPROTO_ICMPV6, &body)
        } else {
            v4(B4, A4, IPPROTO_ICMP, &body)
        };
        assert_eq!(is_error(&parse(&p)), want, "case {i}");
    }
}

#[test]
fn icmp_type_numbers_of_the_other_family_do_not_count() {
    // ICMPv6 carried over IPv4 (protocol 58) and ICMP over IPv6 are not
    // errors the stack hands to a transport.
    let body = icmp(3, 3, &[]);
    assert!(!is_error(&parse(&v4(B4, A4, IPPROTO_ICMPV6, &body))));
    assert!(!is_error(&parse(&v6(a6(2), a6(1), IPPROTO_ICMP, &body))));
    assert!(!is_error(&parse(&v4(B4, A4, IPPROTO_UDP, &udp(3, 3)))));
}

#[test]
fn later_fragment_is_not_an_error() {
    let mut p = v4(B4, A4, IPPROTO_ICMP, &icmp(3, 3, &[]));
    p[6] = 0x00;
    p[7] = 0x10; // offset 128 bytes
    let f = parse(&p);
    assert_eq!(f.frag, Frag::Later);
    assert!(!is_error(&f));
}

#[test]
fn v4_port_unreachable_is_about_the_reversed_udp_flow() {
    let sent = v4(A4, B4, IPPROTO_UDP, &udp(40000, 4600));
    let p = v4(B4, A4, IPPROTO_ICMP, &icmp(3, 3, &sent));
    let f = parse(&p);
    assert!(is_error(&f));
    assert_eq!(quoted_offset(&f), 28);
    let q = about(&f, &p[quoted_offset(&f)..]).unwrap();
    assert_eq!(q.src, IpAddr::V4(B4));
    assert_eq!(q.dst, IpAddr::V4(A4));
    assert_eq!((q.proto, q.sport, q.dport), (IPPROTO_UDP, 4600, 40000));
}

#[test]
fn quoted_packet_may_be_cut_after_eight_bytes() {
    // RFC 792 quotes the header and 64 bits; the total length in the
    // quoted header still says the whole datagram.
    let mut sent = v4(A4, B4, IPPROTO_TCP, &[0x9c, 0x40, 0x00, 0x16, 1, 2, 3, 4]);
    sent[2..4].copy_from_slice(&1500u16.to_be_bytes());
    let p = v4(R4, A4, IPPROTO_ICMP, &icmp(3, 4, &sent));
    let f = parse(&p);
    let q = about(&f, &p[quoted_offset(&f)..]).unwrap();
    assert_eq!((q.proto, q.sport, q.dport), (IPPROTO_TCP, 22, 40000));
    assert_eq!(q.src, IpAddr::V4(B4));
}

#[test]
fn quoted_esp_keeps_its_spi_and_quoted_icmp_its_type() {
    let esp = v4(A4, B4, 50, &[0xe5, 0, 0, 0x10, 0, 0, 0, 1]);
    let p = v4(R4, A4, IPPROTO_ICMP, &icmp(3, 4, &esp));
    let f = parse(&p);
    let q = about(&f, &p[quoted_offset(&f)..]).unwrap();
    assert_eq!((q.proto, q.spi), (50, Some(0xe500_0010)));
    let echo = v4(A4, B4, IPPROTO_ICMP, &icmp(8, 0, &[]));
    let p = v4(R4, A4, IPPROTO_ICMP, &icmp(11, 0, &echo));
    let f = parse(&p);
    let q = about(&f, &p[quoted_offset(&f)..]).unwrap();
    assert_eq!((q.proto, q.sport, q.dport), (IPPROTO_ICMP, 8, 0));
}

#[test]
fn v6_too_big_is_about_the_reversed_flow() {
    let sent = v6(a6(1), a6(2), IPPROTO_UDP, &udp(40000, 4600));
    let p = v6(a6(0xfe), a6(1), IPPROTO_ICMPV6, &icmp(2, 0, &sent));
    let f = parse(&p);
    assert!(is_error(&f));
    assert_eq!(quoted_offset(&f), 48);
    let q = about(&f, &p[quoted_offset(&f)..]).unwrap();
    assert_eq!(q.src, IpAddr::V6(a6(2), 0));
    assert_eq!(q.dst, IpAddr::V6(a6(1), 0));
    assert_eq!((q.proto, q.sport, q.dport), (IPPROTO_UDP, 4600, 40000));
}

#[test]
fn unreadable_or_foreign_quotes_are_about_nothing() {
    let v4_in_v6 = v4(A4, B4, IPPROTO_UDP, &udp(1, 2));
    let p = v6(a6(2), a6(1), IPPROTO_ICMPV6, &icmp(1, 4, &v4_in_v6));
    let f = parse(&p);
    assert_eq!(about(&f, &p[quoted_offset(&f)..]), None);
    let p = v4(B4, A4, IPPROTO_ICMP, &icmp(3, 3, &[0x45, 0, 0]));
    let f = parse(&p);
    assert_eq!(about(&f, &p[quoted_offset(&f)..]), None);
    assert_eq!(about(&f, &[]), None);
    assert_eq!(about(&f, &[0x75; 40]), None);
}
