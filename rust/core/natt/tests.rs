// SPDX-License-Identifier: GPL-2.0

//! NAT-T: the UDP header, checksums against values computed independently
//! (a Python one's-complement sum), the transport-mode fix-up after a NAT
//! and the removal of the UDP header.

use super::*;
use crate::kame_core::tunnel::{ipv4_checksum, ipv4_checksum_ok};

const SRC4: [u8; 4] = [192, 0, 2, 1];
const DST4: [u8; 4] = [198, 51, 100, 2];
const NAT4: [u8; 4] = [203, 0, 113, 9];

fn v6(last: u8, net: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[3] = net;
    a[15] = last;
    a
}

/// A TCP SYN 192.0.2.1:40000 -> 198.51.100.2:5001 carrying "hello".
fn tcp_segment() -> [u8; 25] {
    let mut t = [0u8; 25];
    t[..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&5001u16.to_be_bytes());
    t[4..8].copy_from_slice(&1u32.to_be_bytes());
    t[12] = 0x50;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t[20..].copy_from_slice(b"hello");
    t
}

fn ipv4_packet(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[0] = 0x45;
    let tot = (20 + payload.len()) as u16;
    p[2..4].copy_from_slice(&tot.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let sum = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[20..20 + payload.len()].copy_from_slice(payload);
    p
}

#[test]
fn known_checksums() {
    assert_eq!(
        l4_checksum(&SRC4, &DST4, IPPROTO_TCP, &tcp_segment()),
        0xd518
    );
    let mut udp = [0u8; 17];
    udp[..8].copy_from_slice(&udp_header(4500, 4500, 9).unwrap());
    for (i, b) in udp[8..].iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    assert_eq!(udp_checksum(&v6(1, 1), &v6(2, 2), &udp), 0xc988);
}

#[test]
fn udp_header_fields() {
    let h = udp_header(4500, 14500, 100).unwrap();
    assert_eq!(h, [0x11, 0x94, 0x38, 0xa4, 0, 108, 0, 0]);
    assert_eq!(
        udp_header(1, 2, 65535 - 8).map(|h| [h[4], h[5]]),
        Some([0xff, 0xff])
    );
    assert_eq!(udp_header(1, 2, 65535 - 7), None);
    assert_eq!(port_or_default(0), NATT_PORT);
    assert_eq!(port_or_default(14500), 14500);
}

#[test]
fn checksum_of_a_datagram_verifies() {
    // Filled in, the checksum makes the sum over pseudo-header and
    // datagram fold to zero (RFC 1071).
    let mut udp = [7u8; 31];
    udp[..8].copy_from_slice(&udp_header(1, 2, 23).unwrap());
    let c = udp_checksum(&SRC4, &DST4, &udp);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    assert_eq!(l4_checksum(&SRC4, &DST4, IPPROTO_UDP, &udp), 0);
}

#[test]
fn transport_fixup_after_snat() {
    // The sender computed the checksum for 192.0.2.1; the NAT made the
    // source 203.0.113.9.
    let mut seg = tcp_segment();
    seg[16..18].copy_from_slice(&0xd518u16.to_be_bytes());
    let mut p = ipv4_packet(NAT4, DST4, IPPROTO_TCP, &seg);
    let len = 20 + seg.len();
    assert_ne!(l4_checksum(&NAT4, &DST4, IPPROTO_TCP, &p[20..len]), 0);
    assert_eq!(
        fix_transport_checksum(&mut p[..len], false, 20, IPPROTO_TCP),
        Some(())
    );
    assert_eq!(l4_checksum(&NAT4, &DST4, IPPROTO_TCP, &p[20..len]), 0);
    // The IP header is not touched.
    assert!(ipv4_checksum_ok(&p[..20]));
}

#[test]
fn transport_fixup_udp_and_icmpv6() {
    // IPv4 UDP without a checksum keeps none.
    let mut dgram = [0u8; 12];
    dgram[..8].copy_from_slice(&udp_header(5, 6, 4).unwrap());
    dgram[8..].copy_from_slice(b"ping");
    let mut p = ipv4_packet(NAT4, DST4, IPPROTO_UDP, &dgram);
    assert_eq!(
        fix_transport_checksum(&mut p[..32], false, 20, IPPROTO_UDP),
        Some(())
    );
    assert_eq!(&p[26..28], &[0, 0]);
    // With one, it is recomputed.
    p[26] = 0x12;
    assert_eq!(
        fix_transport_checksum(&mut p[..32], false, 20, IPPROTO_UDP),
        Some(())
    );
    assert_eq!(l4_checksum(&NAT4, &DST4, IPPROTO_UDP, &p[20..32]), 0);
    // ICMPv6 covers the addresses too.
    let mut p6 = [0u8; 48];
    p6[0] = 0x60;
    p6[5] = 8;
    p6[6] = IPPROTO_ICMPV6;
    p6[8..24].copy_from_slice(&v6(9, 1));
    p6[24..40].copy_from_slice(&v6(2, 2));
    p6[40] = 128;
    p6[42] = 0xab;
    assert_eq!(
        fix_transport_checksum(&mut p6, true, 40, IPPROTO_ICMPV6),
        Some(())
    );
    assert_eq!(
        l4_checksum(&v6(9, 1), &v6(2, 2), IPPROTO_ICMPV6, &p6[40..]),
        0
    );
    // ICMPv4 and unknown protocols are left alone; short TCP is refused.
    let before = p;
    assert_eq!(fix_transport_checksum(&mut p[..32], false, 20, 1), Some(()));
    assert_eq!(p, before);
    assert_eq!(
        fix_transport_checksum(&mut p[..30], false, 20, IPPROTO_TCP),
        None
    );
}

#[test]
fn strip_udp_v4_and_v6() {
    // IP | UDP | ESP (SPI 0x100, seq 1, 4 more bytes).
    let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9, 9];
    let mut dgram = [0u8; 20];
    dgram[..8].copy_from_slice(&udp_header(4500, 4500, esp.len()).unwrap());
    dgram[8..].copy_from_slice(&esp);
    let mut p = ipv4_packet(NAT4, DST4, IPPROTO_UDP, &dgram);
    let len = 40;
    assert_eq!(strip_udp(&mut p[..len], false, 20), Some(()));
    let h = &p[8..len];
    assert_eq!(h[9], IPPROTO_ESP);
    assert_eq!(u16::from_be_bytes([h[2], h[3]]), 32);
    assert!(ipv4_checksum_ok(&h[..20]));
    assert_eq!(&h[12..16], &NAT4);
    assert_eq!(&h[20..], &esp);
    // An IHL that disagrees, or too short a packet: refused.
    let mut q = ipv4_packet(NAT4, DST4, IPPROTO_UDP, &dgram);
    assert_eq!(strip_udp(&mut q[..len], false, 24), None);
    assert_eq!(strip_udp(&mut q[..27], false, 20), None);

    let mut p6 = [0u8; 60];
    p6[0] = 0x60;
    p6[5] = 20;
    p6[6] = IPPROTO_UDP;
    p6[40..].copy_from_slice(&dgram);
    assert_eq!(strip_udp(&mut p6, true, 40), Some(()));
    assert_eq!(p6[8 + 6], IPPROTO_ESP);
    assert_eq!(u16::from_be_bytes([p6[8 + 4], p6[8 + 5]]), 12);
    assert_eq!(&p6[48..], &esp);
    // Extension headers in front of UDP are not handled.
    assert_eq!(strip_udp(&mut [0u8; 80], true, 48), None);
}
