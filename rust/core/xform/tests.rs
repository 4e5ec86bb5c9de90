// SPDX-License-Identifier: GPL-2.0

//! Transform names, keys and ICV lengths, against XFRM's
//! (`net/xfrm/xfrm_algo.c`, `esp_init_authenc()`, `ah_init_state()`).

use super::*;
use crate::kame_core::{
    algs::{AUTH, EALG_CHACHA20_POLY1305, EALG_NULL, ENC},
    pfkey::wire::{Address, IpAddr, Key, SockAddr},
    sad::{KeyBytes, SaRecord, IPPROTO_AH, IPPROTO_ESP},
};
use std::vec::Vec;

fn addr(last: u8) -> Address {
    Address {
        proto: 255,
        prefixlen: 32,
        sa: SockAddr {
            addr: IpAddr::V4([10, 0, 0, last]),
            port: 0,
        },
    }
}

fn keybytes(bits: u16, fill: u8) -> Option<KeyBytes> {
    if bits == 0 {
        return None;
    }
    let buf: Vec<u8> = (0..usize::from(bits).div_ceil(8))
        .map(|i| fill.wrapping_add(i as u8))
        .collect();
    Some(KeyBytes::new(&Key { bits, key: &buf }).unwrap())
}

/// An SA of `proto` with (auth id, key bits) and (enc id, key bits); auth
/// key bytes count up from 0x10, encryption key bytes from 0x80.
fn sa(proto: u8, auth: (u8, u16), enc: (u8, u16)) -> SaRecord {
    let mut r = SaRecord::larval(proto, &addr(1), &addr(2), 1, 0, 0, 0);
    r.id.spi = 0x1000;
    r.auth = auth.0;
    r.encrypt = enc.0;
    r.auth_key = keybytes(auth.1, 0x10);
    r.enc_key = keybytes(enc.1, 0x80);
    r
}

fn esp_of(auth: (u8, u16), enc: (u8, u16), esn: Esn) -> EspXform {
    esp(&sa(IPPROTO_ESP, auth, enc), esn).unwrap()
}

fn name(x: &EspXform) -> &str {
    core::str::from_utf8(x.name.as_bytes()).unwrap()
}

/// (case, (auth id, bits), (enc id, bits), name, ICV bytes, IV generator).
type EspCase = (u32, (u8, u16), (u8, u16), &'static str, u8, IvGen);

#[test]
fn esp_names_icvs_and_ivgens() {
    use IvGen::*;
    let cases: [EspCase; 14] = [
        (1, (0, 0), (20, 160), "seqiv(rfc4106(gcm(aes)))", 16, Seqiv),
        (2, (0, 0), (18, 288), "seqiv(rfc4106(gcm(aes)))", 8, Seqiv),
        (3, (0, 0), (19, 224), "seqiv(rfc4106(gcm(aes)))", 12, Seqiv),
        (
            4,
            (AALG_NULL, 0),
            (16, 152),
            "seqiv(rfc4309(ccm(aes)))",
            16,
            Seqiv,
        ),
        (5, (0, 0), (23, 160), "seqiv(rfc4543(gcm(aes)))", 16, Seqiv),
        (
            6,
            (0, 0),
            (EALG_CHACHA20_POLY1305, 288),
            "seqiv(rfc7539esp(chacha20,poly1305))",
            16,
            Seqiv,
        ),
        (
            7,
            (5, 256),
            (12, 128),
            "echainiv(authenc(hmac(sha256),cbc(aes)))",
            16,
            Echainiv,
        ),
        (
            8,
            (3, 160),
            (13, 160),
            "seqiv(authenc(hmac(sha1),rfc3686(ctr(aes))))",
            12,
            Seqiv,
        ),
        (
            9,
            (0, 0),
            (12, 256),
            "echainiv(authenc(digest_null,cbc(aes)))",
            0,
            Echainiv,
        ),
        (
            10,
            (AALG_NULL, 0),
            (12, 256),
            "echainiv(authenc(digest_null,cbc(aes)))",
            0,
            Echainiv,
        ),
        (
            11,
            (5, 256),
            (EALG_NULL, 0),
            "authenc(hmac(sha256),ecb(cipher_null))",
            16,
            None,
        ),
        (
            12,
            (7, 512),
            (3, 192),
            "echainiv(authenc(hmac(sha512),cbc(des3_ede)))",
            32,
            Echainiv,
        ),
        (
            13,
            (6, 384),
            (2, 64),
            "echainiv(authenc(hmac(sha384),cbc(des)))",
            24,
            Echainiv,
        ),
        (
            14,
            (9, 128),
            (12, 192),
            "echainiv(authenc(xcbc(aes),cbc(aes)))",
            12,
            Echainiv,
        ),
    ];
    for (n, auth, enc, want, icv, ivgen) in cases {
        let x = esp_of(auth, enc, Esn::Off);
        assert_eq!(name(&x), want, "case {n}");
        assert_eq!(x.icv_len, icv, "case {n}");
        assert_eq!(x.ivgen, ivgen, "case {n}");
        assert_eq!(x.aead, !want.contains("authenc"), "case {n}");
        assert_eq!(x.name.as_cstr().to_bytes(), want.as_bytes(), "case {n}");
    }
}

#[test]
fn parts_are_the_table_names() {
    let x = esp_of((5, 256), (12, 128), Esn::Off);
    assert_eq!(x.parts, [Some(c"cbc(aes)"), Some(c"hmac(sha256)")]);
    let x = esp_of((AALG_NULL, 0), (12, 128), Esn::Off);
    assert_eq!(x.parts, [Some(c"cbc(aes)"), None]);
    let x = esp_of((0, 0), (20, 160), Esn::Off);
    assert_eq!(x.parts, [Some(c"rfc4106(gcm(aes))"), None]);
}

#[test]
fn esn_makes_authencesn_and_leaves_aeads_alone() {
    let x = esp_of((5, 256), (12, 128), Esn::On);
    assert_eq!(name(&x), "echainiv(authencesn(hmac(sha256),cbc(aes)))");
    let x = esp_of((5, 256), (EALG_NULL, 0), Esn::On);
    assert_eq!(name(&x), "authencesn(hmac(sha256),ecb(cipher_null))");
    let x = esp_of((0, 0), (20, 288), Esn::On);
    assert_eq!(name(&x), "seqiv(rfc4106(gcm(aes)))");
}

#[test]
fn aead_key_is_the_pfkey_key_salt_included() {
    let x = esp_of((0, 0), (20, 160), Esn::Off);
    let want: Vec<u8> = (0x80..0x80 + 20).collect();
    assert_eq!(x.key.as_bytes(), &want[..]);
    let x = esp_of((0, 0), (EALG_CHACHA20_POLY1305, 288), Esn::Off);
    assert_eq!(x.key.as_bytes().len(), 36);
}

#[test]
fn authenc_key_blob_layout() {
    // struct rtattr { u16 rta_len = 8; u16 rta_type = 1 } (host order),
    // __be32 enckeylen, then the auth key, then the cipher key.
    let x = esp_of((5, 256), (12, 128), Esn::Off);
    let k = x.key.as_bytes();
    assert_eq!(k.len(), 8 + 32 + 16);
    assert_eq!(&k[0..2], &8u16.to_ne_bytes());
    assert_eq!(&k[2..4], &1u16.to_ne_bytes());
    assert_eq!(&k[4..8], &[0, 0, 0, 16]);
    assert_eq!(k[8], 0x10);
    assert_eq!(k[8 + 31], 0x10 + 31);
    assert_eq!(k[40], 0x80);
    assert_eq!(k[55], 0x80 + 15);

    // No authenticator: an empty auth key; the NULL cipher: an empty
    // cipher key.
    let x = esp_of((0, 0), (12, 256), Esn::Off);
    assert_eq!(x.key.as_bytes().len(), 8 + 32);
    assert_eq!(&x.key.as_bytes()[4..8], &[0, 0, 0, 32]);
    assert_eq!(x.key.as_bytes()[8], 0x80);
    let x = esp_of((3, 160), (EALG_NULL, 0), Esn::Off);
    assert_eq!(x.key.as_bytes().len(), 8 + 20);
    assert_eq!(&x.key.as_bytes()[4..8], &[0, 0, 0, 0]);

    // The longest keys fit.
    let k = authenc_key(&[1; MAX_KEY_BYTES], &[2; MAX_KEY_BYTES]).unwrap();
    assert_eq!(k.as_bytes().len(), MAX_XFORM_KEY);
    assert!(authenc_key(&[1; MAX_KEY_BYTES + 1], &[2; MAX_KEY_BYTES]).is_err());
}

#[test]
fn ah_names_keys_and_icvs() {
    // Numbered table: (case, auth, key bits, name, ICV bytes).
    let cases: [(u32, u8, u16, &str, u8); 7] = [
        (1, 2, 128, "hmac(md5)", 12),
        (2, 3, 160, "hmac(sha1)", 12),
        (3, 5, 256, "hmac(sha256)", 16),
        (4, 6, 384, "hmac(sha384)", 24),
        (5, 7, 512, "hmac(sha512)", 32),
        (6, 9, 128, "xcbc(aes)", 12),
        (7, 10, 256, "hmac(sm3)", 32),
    ];
    for (n, auth, bits, want, icv) in cases {
        let rec = sa(IPPROTO_AH, (auth, bits), (0, 0));
        let x = ah(&rec).unwrap();
        assert_eq!(x.name.to_bytes(), want.as_bytes(), "case {n}");
        assert_eq!(x.icv_len, icv, "case {n}");
        assert_eq!(x.key.len(), usize::from(bits / 8), "case {n}");
        assert_eq!(x.key[0], 0x10, "case {n}");
    }
}

#[test]
fn inconsistent_records_get_errnos() {
    // Numbered table: (case, proto, auth, enc, errno).
    let cases = [
        (1, IPPROTO_ESP, (0, 0), (17, 128), Errno::ENOSYS),
        (2, IPPROTO_ESP, (4, 128), (12, 128), Errno::ENOSYS),
        (3, IPPROTO_ESP, (0, 0), (0, 0), Errno::ENOSYS),
        (4, IPPROTO_ESP, (5, 256), (20, 160), Errno::EINVAL),
        (5, IPPROTO_AH, (0, 0), (0, 0), Errno::EINVAL),
        (6, IPPROTO_AH, (AALG_NULL, 0), (0, 0), Errno::EINVAL),
        (7, IPPROTO_AH, (4, 128), (0, 0), Errno::ENOSYS),
    ];
    for (n, proto, auth, enc, errno) in cases {
        let rec = sa(proto, auth, enc);
        let got = if proto == IPPROTO_AH {
            ah(&rec).err()
        } else {
            esp(&rec, Esn::Off).err()
        };
        assert_eq!(got, Some(errno), "case {n}");
    }
}

#[test]
fn every_table_pairing_names_fit() {
    // Every cipher with every authenticator (AEADs alone), longest keys,
    // ESN on: the names fit CRYPTO_MAX_ALG_NAME and nest correctly.
    for e in ENC.iter() {
        let auths: Vec<u8> = if e.kind == EncKind::Aead {
            [0].into()
        } else {
            AUTH.iter().map(|a| a.id).collect()
        };
        for a in auths {
            let bits = algs::auth_by_id(a).map_or(0, |d| d.max_bits);
            let x = esp_of((a, bits), (e.id, e.max_bits), Esn::On);
            let s = name(&x);
            assert!(s.len() < MAX_ALG_NAME, "{s}");
            assert_eq!(s.matches('(').count(), s.matches(')').count(), "{s}");
            assert!(s.contains(core::str::from_utf8(e.crypto_name.to_bytes()).unwrap()));
        }
    }
}

#[test]
fn names_too_long_are_enametoolong() {
    let mut n = AlgName::empty();
    n.push(&[b'a'; MAX_ALG_NAME - 1]).unwrap();
    assert_eq!(n.as_cstr().to_bytes().len(), MAX_ALG_NAME - 1);
    assert_eq!(n.push(b"b"), Err(Errno::ENAMETOOLONG));
    assert_eq!(AlgName::empty().push(b"a\0b"), Err(Errno::EINVAL));
}

#[test]
fn keying_without_the_name_is_the_same() {
    // What an add keys a spare transform with is what `esp` gives, for
    // every pairing, and the errors are the same.
    for e in ENC.iter() {
        for a in AUTH.iter().map(|a| a.id).chain([0]) {
            let bits = algs::auth_by_id(a).map_or(0, |d| d.max_bits);
            let rec = sa(IPPROTO_ESP, (a, bits), (e.id, e.max_bits));
            match (esp(&rec, Esn::Off), esp_keying(&rec)) {
                (Ok(x), Ok(k)) => {
                    assert_eq!(x.key.as_bytes(), k.key.as_bytes());
                    assert_eq!(x.icv_len, k.icv_len);
                }
                (Err(x), Err(k)) => assert_eq!(x, k),
                (x, k) => panic!("{x:?} against {k:?}"),
            }
        }
    }
}
