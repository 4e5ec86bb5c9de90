// SPDX-License-Identifier: GPL-2.0

//! ESP layout: geometry per algorithm, padding, trailer, PMTU, AAD.

use super::*;

const AES_CBC: u8 = 12;
const GCM16: u8 = 20;
const GCM8: u8 = 18;
const DES3: u8 = 3;
const CTR: u8 = 13;
const SHA1: u8 = 3;
const SHA256: u8 = 5;
const SHA512: u8 = 7;
const XCBC: u8 = 9;

fn g(ealg: u8, aalg: u8) -> Geometry {
    geometry(ealg, aalg).unwrap()
}

#[test]
fn geometries() {
    // (case, enc, auth, iv, align, block, icv).
    let cases = [
        (1, AES_CBC, SHA256, 16, 16, 16, 16),
        (2, AES_CBC, SHA1, 16, 16, 16, 12),
        (3, AES_CBC, SHA512, 16, 16, 16, 32),
        (4, GCM16, 0, 8, 4, 1, 16),
        (5, GCM16, AALG_NULL, 8, 4, 1, 16),
        (6, GCM8, 0, 8, 4, 1, 8),
        (7, DES3, SHA1, 8, 8, 8, 12),
        (8, algs::EALG_NULL, SHA1, 0, 4, 1, 12),
        (9, algs::EALG_NULL, AALG_NULL, 0, 4, 1, 0),
        (10, CTR, XCBC, 8, 4, 1, 12),
        (11, algs::EALG_CHACHA20_POLY1305, 0, 8, 4, 1, 16),
        (12, 23, 0, 8, 4, 1, 16), // null-aes-gmac
    ];
    for (n, e, a, iv_len, align, block, icv_len) in cases {
        assert_eq!(
            geometry(e, a),
            Some(Geometry {
                iv_len,
                align,
                block,
                icv_len
            }),
            "case {n}"
        );
    }
    assert_eq!(geometry(1, SHA1), None);
    assert_eq!(geometry(AES_CBC, 4), None);
    // Every encryption algorithm PF_KEY accepts has a geometry.
    for e in algs::ENC.iter() {
        assert!(geometry(e.id, SHA1).is_some(), "{}", e.setkey_name);
    }
}

#[test]
fn padding_lengths() {
    let gcm = g(GCM16, 0);
    let cbc = g(AES_CBC, SHA1);
    // (geometry, payload, pad).
    let cases = [
        (gcm, 0, 2),
        (gcm, 1, 1),
        (gcm, 2, 0),
        (gcm, 3, 3),
        (gcm, 1400, 2),
        (cbc, 0, 14),
        (cbc, 14, 0),
        (cbc, 15, 15),
        (cbc, 1438, 0),
        (cbc, 1439, 15),
    ];
    for (geo, payload, pad) in cases {
        assert_eq!(geo.pad_len(payload), pad, "{geo:?} {payload}");
    }
    for geo in [gcm, cbc, g(DES3, SHA1), g(algs::EALG_NULL, SHA1)] {
        for p in 0..300 {
            let e = geo.encrypted_len(p);
            assert_eq!(e % geo.align, 0);
            assert!(geo.pad_len(p) < geo.align);
            assert_eq!(geo.esp_len(p), 8 + geo.iv_len + e + geo.icv_len);
        }
    }
    assert_eq!(cbc.header_len(), 24);
    assert_eq!(cbc.max_tail_len(), 15 + 2 + 12);
}

#[test]
fn tail_round_trip() {
    for pad in 0..=255usize {
        let mut tail = std::vec![0xaa; pad + 2];
        write_tail(&mut tail, 6).unwrap();
        assert_eq!(usize::from(tail[pad]), pad);
        assert_eq!(tail[pad + 1], 6);
        let mut plain = std::vec![0x42; 10];
        plain.extend_from_slice(&tail);
        let t = parse_trailer(&plain, PadCheck::Sequential).unwrap();
        assert_eq!((t.payload_len, t.next_header), (10, 6));
    }
    assert_eq!(write_tail(&mut [0; 1], 6), None);
    assert_eq!(write_tail(&mut [0; 258], 6), None);
    let mut p = [0; 5];
    fill_padding(&mut p);
    assert_eq!(p, [1, 2, 3, 4, 5]);
}

#[test]
fn trailer_errors() {
    assert_eq!(
        parse_trailer(&[4], PadCheck::Sequential),
        Err(EspError::Truncated)
    );
    // Pad length 3 with only 2 bytes before the trailer.
    assert_eq!(
        parse_trailer(&[1, 2, 3, 4], PadCheck::Any),
        Err(EspError::BadPadLength)
    );
    // All padding, no payload: allowed.
    let t = parse_trailer(&[1, 2, 2, 4], PadCheck::Sequential).unwrap();
    assert_eq!(t.payload_len, 0);
    // Wrong padding bytes: refused only where the SA uses 1, 2, 3, ...
    let plain = [9, 9, 1, 7, 3, 3, 17];
    assert_eq!(
        parse_trailer(&plain, PadCheck::Sequential),
        Err(EspError::BadPadding)
    );
    assert_eq!(
        parse_trailer(&plain, PadCheck::Any),
        Ok(Trailer {
            payload_len: 2,
            next_header: 17
        })
    );
    // A TFC dummy packet.
    let t = parse_trailer(&[0, 0, 0, 0, 1, 2, 2, 59], PadCheck::Sequential).unwrap();
    assert_eq!(t.next_header, NEXT_HEADER_DUMMY);
    assert_eq!(PadCheck::from_sa_flags(0), PadCheck::Sequential);
    assert_eq!(PadCheck::from_sa_flags(0x0100), PadCheck::Any);
    assert_eq!(PadCheck::from_sa_flags(0x0200), PadCheck::Any);
    assert_eq!(PadCheck::from_sa_flags(0x0040), PadCheck::Sequential);
}

#[test]
fn ciphertext_lengths() {
    let cbc = g(AES_CBC, SHA256);
    assert_eq!(cbc.ciphertext_len(8 + 16 + 32 + 16), Ok(32));
    assert_eq!(
        cbc.ciphertext_len(8 + 16 + 31 + 16),
        Err(EspError::BadBlockLength)
    );
    assert_eq!(cbc.ciphertext_len(8 + 16 + 16), Err(EspError::Truncated));
    assert_eq!(cbc.ciphertext_len(0), Err(EspError::Truncated));
    let gcm = g(GCM16, 0);
    assert_eq!(gcm.ciphertext_len(8 + 8 + 3 + 16), Ok(3));
    assert_eq!(gcm.ciphertext_len(8 + 8 + 1 + 16), Err(EspError::Truncated));
}

#[test]
fn pmtu_known_values() {
    let t4 = Encap {
        mode: Mode::Tunnel,
        ip_hdr_len: 20,
        natt: false,
    };
    // AES-CBC + HMAC-SHA1-96 over a 1500 MTU: the well-known 1438.
    assert_eq!(t4.max_len(&g(AES_CBC, SHA1), 1500), Some(1438));
    // AES-GCM-16: 1500 - 20 - 8 - 8 - 16 = 1448, minus the trailer.
    assert_eq!(t4.max_len(&g(GCM16, 0), 1500), Some(1446));
    // NAT-T takes 8 more.
    let t4n = Encap { natt: true, ..t4 };
    assert_eq!(t4n.max_len(&g(GCM16, 0), 1500), Some(1438));
    // Transport over IPv6: the IP header counts on both sides.
    let tr6 = Encap {
        mode: Mode::Transport,
        ip_hdr_len: 40,
        natt: false,
    };
    assert_eq!(tr6.max_len(&g(GCM16, 0), 1500), Some(1426 + 40));
    // Nothing fits.
    assert_eq!(t4.max_len(&g(AES_CBC, SHA512), 60), None);
    assert_eq!(t4.max_len(&g(GCM16, 0), 0), None);
}

#[test]
fn pmtu_is_the_largest_that_fits() {
    let geos = [
        g(AES_CBC, SHA1),
        g(AES_CBC, SHA512),
        g(GCM16, 0),
        g(DES3, SHA256),
        g(algs::EALG_NULL, SHA1),
        g(algs::EALG_NULL, AALG_NULL),
    ];
    for geo in &geos {
        for mode in [Mode::Transport, Mode::Tunnel] {
            for ip_hdr_len in [20, 40, 60] {
                for natt in [false, true] {
                    let e = Encap {
                        mode,
                        ip_hdr_len,
                        natt,
                    };
                    for mtu in 40..1600 {
                        match e.max_len(geo, mtu) {
                            Some(l) => {
                                assert!(e.wire_len(geo, l) <= mtu, "{e:?} {geo:?} {mtu}");
                                assert!(e.wire_len(geo, l + 1) > mtu, "{e:?} {geo:?} {mtu}");
                            }
                            None => {
                                let min = match mode {
                                    Mode::Tunnel => 0,
                                    Mode::Transport => ip_hdr_len,
                                };
                                assert!(e.wire_len(geo, min) > mtu, "{e:?} {geo:?} {mtu}");
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn aad_layouts() {
    let mut out = [0u8; 12];
    assert_eq!(aad(0x0102_0304, 0x0000_0005, false, &mut out), 8);
    assert_eq!(&out[..8], &[1, 2, 3, 4, 0, 0, 0, 5]);
    // RFC 4106 5: with ESN the AAD is SPI then the 64-bit number, high half
    // first.
    assert_eq!(aad(0x0102_0304, 0x0000_0007_0000_0005, true, &mut out), 12);
    assert_eq!(out, [1, 2, 3, 4, 0, 0, 0, 7, 0, 0, 0, 5]);
    // Without ESN only the low half is there.
    assert_eq!(aad(9, 0x0000_0007_0000_0005, false, &mut out), 8);
    assert_eq!(&out[4..8], &[0, 0, 0, 5]);
}

#[test]
fn esp_header_and_natt() {
    let h = EspHeader {
        spi: 0xdead_beef,
        seq: 1,
    };
    let b = h.to_bytes();
    assert_eq!(b, [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]);
    assert_eq!(EspHeader::parse(&b), Ok(h));
    assert_eq!(EspHeader::parse(&b[..7]), Err(EspError::Truncated));
    assert_eq!(natt_classify(&[0xff]), NattPayload::Keepalive);
    assert_eq!(natt_classify(&[0, 0, 0, 0, 1, 2, 3]), NattPayload::Ike);
    // As `__xfrm4_udp_encap_rcv()`: ESP only with more than its header.
    assert_eq!(natt_classify(&b), NattPayload::Other);
    let mut nine = [0u8; 9];
    nine[..8].copy_from_slice(&b);
    assert_eq!(natt_classify(&nine), NattPayload::Esp);
    assert_eq!(natt_classify(&b[..5]), NattPayload::Other);
    assert_eq!(natt_classify(&[]), NattPayload::Other);
}

#[test]
fn esn_aad_open_and_close() {
    // 4 bytes of IP header, then SPI 0x11223344, seq_lo 0x55667788, IV.
    let orig: [u8; 14] = [
        0xa, 0xb, 0xc, 0xd, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xee, 0xff,
    ];
    let mut b = orig;
    let saved = esn_aad_open(&mut b, 4, 0x0102_0304).unwrap();
    assert_eq!(saved, [0xa, 0xb, 0xc, 0xd]);
    // SPI, high half, low half: RFC 4303 2.2.1's AAD with ESN.
    assert_eq!(
        &b[..12],
        &[0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 0x55, 0x66, 0x77, 0x88]
    );
    esn_aad_close(&mut b, 4, saved);
    assert_eq!(b, orig);
    assert_eq!(esn_aad_open(&mut [0u8; 10], 3, 1), None);
}
