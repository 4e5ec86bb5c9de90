// SPDX-License-Identifier: GPL-2.0

//! Packet selectors from hand-built IPv4 and IPv6 packets.

use super::*;
use std::vec::Vec;

const A4: [u8; 4] = [192, 0, 2, 1];
const B4: [u8; 4] = [198, 51, 100, 7];

fn a6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = last;
    a
}

/// An IPv4 packet: `opts` after the fixed header, then `payload`.
fn v4(proto: u8, frag_off: u16, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let ihl = (IPV4_HDR_LEN + opts.len()) / 4;
    let total = IPV4_HDR_LEN + opts.len() + payload.len();
    let mut p = Vec::new();
    p.push(0x40 | u8::try_from(ihl).unwrap());
    p.push(0xb8); // DSCP EF, Not-ECT
    p.extend_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34]);
    p.extend_from_slice(&frag_off.to_be_bytes());
    p.push(64);
    p.push(proto);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&A4);
    p.extend_from_slice(&B4);
    p.extend_from_slice(opts);
    p.extend_from_slice(payload);
    p
}

/// An IPv6 packet: first next header `nh`, then `rest` (extension headers
/// and upper layer).
fn v6(nh: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    // Version 6, traffic class 0xb9, flow label 0x12345.
    p.extend_from_slice(&[0x6b, 0x91, 0x23, 0x45]);
    p.extend_from_slice(&u16::try_from(rest.len()).unwrap().to_be_bytes());
    p.push(nh);
    p.push(64);
    p.extend_from_slice(&a6(1));
    p.extend_from_slice(&a6(2));
    p.extend_from_slice(rest);
    p
}

/// An extension header of `len8` 8-byte units (beyond the first).
fn ext(nh: u8, len8: u8) -> Vec<u8> {
    let mut e = std::vec![0u8; (usize::from(len8) + 1) * 8];
    e[0] = nh;
    e[1] = len8;
    // PadN over the rest, for realism.
    e[2] = 1;
    e[3] = u8::try_from(e.len() - 4).unwrap();
    e
}

fn frag6(nh: u8, off8: u16, more: bool) -> Vec<u8> {
    let mut e = std::vec![nh, 0];
    e.extend_from_slice(&((off8 << 3) | u16::from(more)).to_be_bytes());
    e.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    e
}

const PORTS: [u8; 8] = [0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 0]; // 1234 -> 80

#[test]
fn ipv4_tcp_udp_sctp_udplite_ports() {
    for proto in [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_UDPLITE] {
        let f = parse(&v4(proto, 0, &[], &PORTS)).unwrap();
        assert_eq!(f.family(), 2);
        assert_eq!(f.src, IpAddr::V4(A4));
        assert_eq!(f.dst, IpAddr::V4(B4));
        assert_eq!((f.proto, f.sport, f.dport), (proto, 1234, 80));
        assert_eq!(f.transport_offset, 20);
        assert_eq!(f.frag, Frag::None);
        assert_eq!(f.spi, None);
        assert_eq!(f.dsfield, 0xb8);
        assert!(!f.df);
    }
}

#[test]
fn ipv4_options_move_the_transport_header() {
    // Router alert (4 bytes) and NOP, EOL padding to 8.
    let opts = [0x94, 4, 0, 0, 1, 0, 0, 0];
    let f = parse(&v4(IPPROTO_UDP, 0x4000, &opts, &PORTS)).unwrap();
    assert_eq!(f.transport_offset, 28);
    assert_eq!((f.sport, f.dport), (1234, 80));
    assert!(f.df);
}

#[test]
fn icmp_type_and_code_in_ports() {
    // Echo request (8/0) and port unreachable (3/3).
    let f = parse(&v4(IPPROTO_ICMP, 0, &[], &[8, 0, 0, 0])).unwrap();
    assert_eq!((f.sport, f.dport), (8, 0));
    let f = parse(&v4(IPPROTO_ICMP, 0, &[], &[3, 3])).unwrap();
    assert_eq!((f.sport, f.dport), (3, 3));
    let f = parse(&v6(IPPROTO_ICMPV6, &[135, 0, 0, 0])).unwrap();
    assert_eq!((f.proto, f.sport, f.dport), (IPPROTO_ICMPV6, 135, 0));
    // A one-byte or empty ICMP header: type and code 0 (only "any").
    for body in [&[8u8][..], &[]] {
        let f = parse(&v4(IPPROTO_ICMP, 0, &[], body)).unwrap();
        assert_eq!((f.proto, f.sport, f.dport), (IPPROTO_ICMP, 0, 0));
    }
}

#[test]
fn runt_upper_headers_have_ports_zero() {
    // A TCP or UDP header too short for its ports still has selectors: the
    // addresses and protocol, ports 0 (only "any" matches them).
    for len in [0, 1, 2, 3] {
        let f = parse(&v4(IPPROTO_TCP, 0, &[], &PORTS[..len])).unwrap();
        assert_eq!((f.proto, f.sport, f.dport), (IPPROTO_TCP, 0, 0), "{len}");
        let f = parse(&v6(IPPROTO_UDP, &PORTS[..len])).unwrap();
        assert_eq!((f.proto, f.sport, f.dport), (IPPROTO_UDP, 0, 0), "{len}");
    }
}

#[test]
fn esp_and_ah_spi() {
    let esp = [0x00, 0x00, 0x12, 0x34, 0, 0, 0, 1];
    let f = parse(&v4(IPPROTO_ESP, 0, &[], &esp)).unwrap();
    assert_eq!((f.proto, f.spi, f.sport), (IPPROTO_ESP, Some(0x1234), 0));
    let ah = [4, 4, 0, 0, 0xc0, 0xff, 0xee, 0x01, 0, 0, 0, 1];
    let f = parse(&v4(IPPROTO_AH, 0, &[], &ah)).unwrap();
    assert_eq!((f.proto, f.spi), (IPPROTO_AH, Some(0xc0ff_ee01)));
    let f = parse(&v6(IPPROTO_ESP, &esp)).unwrap();
    assert_eq!((f.proto, f.spi, f.transport_offset), (50, Some(0x1234), 40));
    // AH after a destination options header.
    let mut rest = ext(IPPROTO_AH, 0);
    rest.extend_from_slice(&ah);
    let f = parse(&v6(IPPROTO_DSTOPTS, &rest)).unwrap();
    assert_eq!(
        (f.proto, f.spi, f.transport_offset),
        (51, Some(0xc0ff_ee01), 48)
    );
    // Truncated SPIs.
    assert_eq!(
        parse(&v4(IPPROTO_ESP, 0, &[], &esp[..3])),
        Err(ParseError::Truncated)
    );
    assert_eq!(
        parse(&v4(IPPROTO_AH, 0, &[], &ah[..7])),
        Err(ParseError::Truncated)
    );
}

#[test]
fn esp_in_udp_stays_udp() {
    let mut udp = std::vec![0x11, 0x94, 0x11, 0x94, 0, 16, 0, 0];
    udp.extend_from_slice(&[0, 0, 0x12, 0x34, 0, 0, 0, 1]);
    let f = parse(&v4(IPPROTO_UDP, 0, &[], &udp)).unwrap();
    assert_eq!((f.proto, f.sport, f.dport, f.spi), (17, 4500, 4500, None));
}

#[test]
fn ipv4_fragments() {
    // First fragment: MF set, offset 0, ports present.
    let f = parse(&v4(IPPROTO_UDP, 0x2000, &[], &PORTS)).unwrap();
    assert_eq!((f.frag, f.sport, f.dport), (Frag::First, 1234, 80));
    // Later fragments, with and without MF: no ports, whatever the bytes.
    for off in [0x2001, 0x0001, 0x1fff, 0x3fff] {
        let f = parse(&v4(IPPROTO_UDP, off, &[], &PORTS)).unwrap();
        assert_eq!((f.frag, f.sport, f.dport), (Frag::Later, 0, 0), "{off:#x}");
        assert_eq!(f.transport_offset, 20);
        // Even an empty later fragment parses.
        let f = parse(&v4(IPPROTO_TCP, off, &[], &[])).unwrap();
        assert_eq!(f.frag, Frag::Later);
    }
    // A later ESP fragment has no SPI.
    let f = parse(&v4(IPPROTO_ESP, 0x0010, &[], &[1, 2, 3, 4])).unwrap();
    assert_eq!(f.spi, None);
}

#[test]
fn ipv6_basic_and_dsfield() {
    let f = parse(&v6(IPPROTO_TCP, &PORTS)).unwrap();
    assert_eq!(f.family(), 10);
    assert_eq!(f.src, IpAddr::V6(a6(1), 0));
    assert_eq!(f.dst, IpAddr::V6(a6(2), 0));
    assert_eq!((f.proto, f.sport, f.dport), (6, 1234, 80));
    assert_eq!(f.dsfield, 0xb9);
    assert_eq!(f.transport_offset, 40);
}

#[test]
fn ipv6_extension_chain() {
    // Hop-by-hop (8), routing (24), destination options (16), UDP.
    let mut rest = ext(IPPROTO_ROUTING, 0);
    rest.extend(ext(IPPROTO_DSTOPTS, 2));
    rest.extend(ext(IPPROTO_UDP, 1));
    rest.extend_from_slice(&PORTS);
    let f = parse(&v6(IPPROTO_HOPOPTS, &rest)).unwrap();
    assert_eq!((f.proto, f.sport, f.dport), (17, 1234, 80));
    assert_eq!(f.transport_offset, 40 + 8 + 24 + 16);
    assert_eq!(f.frag, Frag::None);
}

#[test]
fn ipv6_fragments() {
    // First fragment: ports read past the fragment header.
    let mut rest = frag6(IPPROTO_TCP, 0, true);
    rest.extend_from_slice(&PORTS);
    let f = parse(&v6(IPPROTO_FRAGMENT, &rest)).unwrap();
    assert_eq!((f.frag, f.proto, f.sport), (Frag::First, 6, 1234));
    assert_eq!(f.transport_offset, 48);
    // Later fragment, after a hop-by-hop header: no ports.
    let mut rest = ext(IPPROTO_FRAGMENT, 0);
    rest.extend(frag6(IPPROTO_TCP, 185, false));
    rest.extend_from_slice(&PORTS);
    let f = parse(&v6(IPPROTO_HOPOPTS, &rest)).unwrap();
    assert_eq!((f.frag, f.proto, f.sport, f.dport), (Frag::Later, 6, 0, 0));
    assert_eq!(f.transport_offset, 56);
    // Atomic fragment: a whole datagram.
    let mut rest = frag6(IPPROTO_UDP, 0, false);
    rest.extend_from_slice(&PORTS);
    let f = parse(&v6(IPPROTO_FRAGMENT, &rest)).unwrap();
    assert_eq!((f.frag, f.sport), (Frag::None, 1234));
    // Truncated fragment header.
    let rest = frag6(IPPROTO_UDP, 3, false);
    assert_eq!(
        parse(&v6(IPPROTO_FRAGMENT, &rest[..6])),
        Err(ParseError::Truncated)
    );
}

#[test]
fn ipv6_mobility_header_type() {
    // Binding update: payload proto, hdr len, MH type 5.
    let f = parse(&v6(IPPROTO_MH, &[59, 1, 5, 0])).unwrap();
    assert_eq!((f.proto, f.sport, f.dport), (IPPROTO_MH, 5, 0));
}

#[test]
fn unknown_and_no_next_header() {
    let f = parse(&v6(IPPROTO_NONE, &[])).unwrap();
    assert_eq!(
        (f.proto, f.sport, f.dport, f.transport_offset),
        (59, 0, 0, 40)
    );
    let f = parse(&v4(47, 0, &[], &[])).unwrap();
    assert_eq!((f.proto, f.sport), (47, 0));
    // Tunnel-mode inner headers are upper layers too.
    let f = parse(&v4(IPPROTO_IPV6, 0, &[], &[0x60])).unwrap();
    assert_eq!(f.proto, IPPROTO_IPV6);
}

#[test]
fn malformed_headers() {
    assert_eq!(parse(&[]), Err(ParseError::Truncated));
    assert_eq!(parse(&[0x50; 40]), Err(ParseError::Version));
    assert_eq!(parse(&[0x45; 19]), Err(ParseError::Truncated));
    assert_eq!(parse(&v6(6, &PORTS)[..39]), Err(ParseError::Truncated));
    // IHL 4.
    let mut p = v4(IPPROTO_UDP, 0, &[], &PORTS);
    p[0] = 0x44;
    assert_eq!(parse(&p), Err(ParseError::HeaderLength));
    // IHL 15: longer than the total length, then than the data.
    p[0] = 0x4f;
    assert_eq!(parse(&p), Err(ParseError::HeaderLength));
    p[2..4].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(parse(&p), Err(ParseError::Truncated));
    // Total length shorter than the header.
    let mut p = v4(IPPROTO_UDP, 0, &[], &PORTS);
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(parse(&p), Err(ParseError::HeaderLength));
    // Total length cuts the ports off, though the bytes are there: the
    // ports are unknown (0).
    p[2..4].copy_from_slice(&22u16.to_be_bytes());
    assert_eq!(parse(&p).map(|f| (f.sport, f.dport)), Ok((0, 0)));
    // An IPv6 extension header longer than the payload.
    let mut rest = ext(IPPROTO_UDP, 3);
    rest.truncate(16);
    assert_eq!(
        parse(&v6(IPPROTO_DSTOPTS, &rest)),
        Err(ParseError::Truncated)
    );
    // Payload length shorter than the headers present.
    let mut rest = ext(IPPROTO_UDP, 0);
    rest.extend_from_slice(&PORTS);
    let mut p = v6(IPPROTO_HOPOPTS, &rest);
    p[4..6].copy_from_slice(&6u16.to_be_bytes());
    assert_eq!(parse(&p), Err(ParseError::Truncated));
    // Long enough for the extension header but not the ports: ports 0.
    p[4..6].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(parse(&p).map(|f| (f.proto, f.dport)), Ok((IPPROTO_UDP, 0)));
}

#[test]
fn declared_length_longer_than_data_is_fine() {
    // The caller may pass the linear part only: the headers are enough.
    let mut p = v4(IPPROTO_TCP, 0, &[], &PORTS);
    p[2..4].copy_from_slice(&1500u16.to_be_bytes());
    assert_eq!(parse(&p).unwrap().dport, 80);
    let mut p = v6(IPPROTO_TCP, &PORTS);
    p[4..6].copy_from_slice(&1460u16.to_be_bytes());
    assert_eq!(parse(&p).unwrap().dport, 80);
    // Jumbogram: payload length 0, the data decides.
    p[4..6].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(parse(&p).unwrap().dport, 80);
    // IPv4 BIG TCP: total length 0, the data decides.
    let mut p = v4(IPPROTO_TCP, 0, &[], &PORTS);
    p[2..4].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(parse(&p).unwrap().dport, 80);
    assert_eq!(parse(&p[..22]).map(|f| f.dport), Ok(0));
    assert_eq!(parse(&p[..19]), Err(ParseError::Truncated));
}

#[test]
fn every_prefix_and_every_byte_flip_is_safe() {
    // No input panics: all prefixes and single-byte corruptions of a few
    // packets with every header kind.
    let mut rest = ext(IPPROTO_ROUTING, 0);
    rest.extend(ext(IPPROTO_FRAGMENT, 1));
    rest.extend(frag6(IPPROTO_AH, 0, true));
    rest.extend_from_slice(&[6, 4, 0, 0, 1, 2, 3, 4, 0, 0, 0, 9]);
    let samples = [
        v4(IPPROTO_TCP, 0, &[0x94, 4, 0, 0], &PORTS),
        v4(IPPROTO_AH, 0x2000, &[], &[6, 4, 0, 0, 1, 2, 3, 4]),
        v6(IPPROTO_HOPOPTS, &rest),
    ];
    for s in &samples {
        for n in 0..=s.len() {
            let _ = parse(&s[..n]);
        }
        for i in 0..s.len() {
            for v in [0u8, 1, 0x3f, 0x80, 0xff] {
                let mut c = s.clone();
                c[i] = v;
                let _ = parse(&c);
            }
        }
    }
}

#[test]
fn only_esp_and_ah_are_ipsec() {
    let ipsec: Vec<u8> = (0..=255u8).filter(|&p| is_ipsec(p)).collect();
    assert_eq!(ipsec, [IPPROTO_ESP, IPPROTO_AH]);
}
