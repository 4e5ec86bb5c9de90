// SPDX-License-Identifier: GPL-2.0

//! The algorithms an SA may use: PF_KEY ids (Linux's `pfkeyv2.h`), key
//! sizes, and the kernel crypto API names the data path allocates.
//!
//! Ids and key ranges follow `net/xfrm/xfrm_algo.c`, with two additions af_key
//! lacks: the AEADs (AES-GCM, AES-CCM, AES-GMAC) are accepted by SADB_ADD and
//! listed by SADB_REGISTER, and ChaCha20-Poly1305 gets id
//! [`EALG_CHACHA20_POLY1305`] (Linux has none; FreeBSD's 15 is AES-CCM-12
//! here). AEAD key sizes include the 32-bit salt, as setkey writes them.

use core::ffi::CStr;

/// `SADB_X_AALG_NULL`: no authentication (KAME's number).
pub const AALG_NULL: u8 = 251;
/// `SADB_EALG_NULL`.
pub const EALG_NULL: u8 = 11;
/// ChaCha20-Poly1305 (RFC 7634): our id, from the range Linux leaves free.
pub const EALG_CHACHA20_POLY1305: u8 = 250;

/// What an encryption algorithm is to the data path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncKind {
    /// A block or stream cipher, paired with a separate authenticator.
    Cipher,
    /// An AEAD: it authenticates too, and no auth algorithm may be given.
    Aead,
}

/// One algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlgDesc {
    /// PF_KEY id.
    pub id: u8,
    /// setkey's name for it.
    pub setkey_name: &'static str,
    /// Kernel crypto API name.
    pub crypto_name: &'static CStr,
    /// Smallest key, bits.
    pub min_bits: u16,
    /// Largest key, bits.
    pub max_bits: u16,
    /// Key sizes between the bounds must be a multiple of this many bits.
    pub step_bits: u16,
    /// IV length in bytes (encryption) as SADB_REGISTER reports it.
    pub ivlen: u8,
    /// ICV length in bits: RFC 4868's half-hash length for SHA-2 (af_key
    /// truncates HMAC-SHA-256 to 96 bits, which no RFC peer accepts).
    pub icv_bits: u16,
    /// For encryption algorithms: cipher or AEAD.
    pub kind: EncKind,
    /// Whether af_key lists it in SADB_REGISTER (for the differential
    /// tests; ours lists all).
    pub in_af_key: bool,
}

const fn auth(
    id: u8,
    setkey_name: &'static str,
    crypto_name: &'static CStr,
    bits: u16,
    icv_bits: u16,
) -> AlgDesc {
    AlgDesc {
        id,
        setkey_name,
        crypto_name,
        min_bits: bits,
        max_bits: bits,
        step_bits: 8,
        ivlen: 0,
        icv_bits,
        kind: EncKind::Cipher,
        in_af_key: true,
    }
}

#[expect(clippy::too_many_arguments, reason = "one table row")]
const fn enc(
    id: u8,
    setkey_name: &'static str,
    crypto_name: &'static CStr,
    min_bits: u16,
    max_bits: u16,
    step_bits: u16,
    ivlen: u8,
    kind: EncKind,
    icv_bits: u16,
    in_af_key: bool,
) -> AlgDesc {
    AlgDesc {
        id,
        setkey_name,
        crypto_name,
        min_bits,
        max_bits,
        step_bits,
        ivlen,
        icv_bits,
        kind,
        in_af_key,
    }
}

/// Authentication algorithms, in af_key's SADB_REGISTER order.
pub const AUTH: [AlgDesc; 8] = [
    auth(AALG_NULL, "null", c"digest_null", 0, 0),
    auth(2, "hmac-md5", c"hmac(md5)", 128, 96),
    auth(3, "hmac-sha1", c"hmac(sha1)", 160, 96),
    auth(5, "hmac-sha256", c"hmac(sha256)", 256, 128),
    auth(6, "hmac-sha384", c"hmac(sha384)", 384, 192),
    auth(7, "hmac-sha512", c"hmac(sha512)", 512, 256),
    auth(9, "aes-xcbc-mac", c"xcbc(aes)", 128, 96),
    auth(10, "hmac-sm3", c"hmac(sm3)", 256, 256),
];

use EncKind::{Aead, Cipher};

/// Encryption algorithms, af_key's first in its SADB_REGISTER order.
pub const ENC: [AlgDesc; 19] = [
    enc(
        EALG_NULL,
        "null",
        c"ecb(cipher_null)",
        0,
        0,
        8,
        0,
        Cipher,
        0,
        true,
    ),
    enc(2, "des-cbc", c"cbc(des)", 64, 64, 8, 8, Cipher, 0, true),
    enc(
        3,
        "3des-cbc",
        c"cbc(des3_ede)",
        192,
        192,
        8,
        8,
        Cipher,
        0,
        true,
    ),
    enc(
        6,
        "cast128-cbc",
        c"cbc(cast5)",
        40,
        128,
        8,
        8,
        Cipher,
        0,
        true,
    ),
    enc(
        7,
        "blowfish-cbc",
        c"cbc(blowfish)",
        40,
        448,
        8,
        8,
        Cipher,
        0,
        true,
    ),
    enc(12, "aes-cbc", c"cbc(aes)", 128, 256, 64, 8, Cipher, 0, true),
    enc(
        252,
        "serpent-cbc",
        c"cbc(serpent)",
        128,
        256,
        64,
        8,
        Cipher,
        0,
        true,
    ),
    enc(
        22,
        "camellia-cbc",
        c"cbc(camellia)",
        128,
        256,
        64,
        8,
        Cipher,
        0,
        true,
    ),
    enc(
        253,
        "twofish-cbc",
        c"cbc(twofish)",
        128,
        256,
        64,
        8,
        Cipher,
        0,
        true,
    ),
    enc(
        13,
        "aes-ctr",
        c"rfc3686(ctr(aes))",
        160,
        288,
        64,
        8,
        Cipher,
        0,
        true,
    ),
    enc(
        24,
        "sm4-cbc",
        c"cbc(sm4)",
        128,
        256,
        128,
        16,
        Cipher,
        0,
        true,
    ),
    enc(
        18,
        "aes-gcm-8",
        c"rfc4106(gcm(aes))",
        160,
        288,
        64,
        8,
        Aead,
        64,
        false,
    ),
    enc(
        19,
        "aes-gcm-12",
        c"rfc4106(gcm(aes))",
        160,
        288,
        64,
        8,
        Aead,
        96,
        false,
    ),
    enc(
        20,
        "aes-gcm-16",
        c"rfc4106(gcm(aes))",
        160,
        288,
        64,
        8,
        Aead,
        128,
        false,
    ),
    enc(
        14,
        "aes-ccm-8",
        c"rfc4309(ccm(aes))",
        152,
        280,
        64,
        8,
        Aead,
        64,
        false,
    ),
    enc(
        15,
        "aes-ccm-12",
        c"rfc4309(ccm(aes))",
        152,
        280,
        64,
        8,
        Aead,
        96,
        false,
    ),
    enc(
        16,
        "aes-ccm-16",
        c"rfc4309(ccm(aes))",
        152,
        280,
        64,
        8,
        Aead,
        128,
        false,
    ),
    enc(
        23,
        "null-aes-gmac",
        c"rfc4543(gcm(aes))",
        160,
        288,
        64,
        8,
        Aead,
        128,
        false,
    ),
    enc(
        EALG_CHACHA20_POLY1305,
        "chacha20-poly1305",
        c"rfc7539esp(chacha20,poly1305)",
        288,
        288,
        8,
        8,
        Aead,
        128,
        false,
    ),
];

/// The authentication algorithm with PF_KEY id `id`.
pub fn auth_by_id(id: u8) -> Option<&'static AlgDesc> {
    AUTH.iter().find(|a| a.id == id)
}

/// The encryption algorithm with PF_KEY id `id`.
pub fn enc_by_id(id: u8) -> Option<&'static AlgDesc> {
    ENC.iter().find(|a| a.id == id)
}

impl AlgDesc {
    /// Whether a key of `bits` bits fits the algorithm.
    pub fn key_fits(&self, bits: u16) -> bool {
        bits >= self.min_bits
            && bits <= self.max_bits
            && (bits - self.min_bits).is_multiple_of(self.step_bits.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_found() {
        for (i, a) in AUTH.iter().enumerate() {
            assert!(AUTH[i + 1..].iter().all(|b| b.id != a.id));
            assert_eq!(auth_by_id(a.id), Some(a));
        }
        for (i, a) in ENC.iter().enumerate() {
            assert!(ENC[i + 1..].iter().all(|b| b.id != a.id));
            assert_eq!(enc_by_id(a.id), Some(a));
        }
        assert_eq!(auth_by_id(4), None);
        assert_eq!(enc_by_id(1), None);
    }

    #[test]
    fn key_sizes() {
        // Numbered table: (case, alg, bits, fits).
        let aes = enc_by_id(12).unwrap();
        let gcm = enc_by_id(20).unwrap();
        let sha256 = auth_by_id(5).unwrap();
        let null = enc_by_id(EALG_NULL).unwrap();
        let cases = [
            (1, aes, 128, true),
            (2, aes, 192, true),
            (3, aes, 256, true),
            (4, aes, 160, false),
            (5, aes, 512, false),
            (6, gcm, 160, true),
            (7, gcm, 224, true),
            (8, gcm, 288, true),
            (9, gcm, 128, false),
            (10, sha256, 256, true),
            (11, sha256, 160, false),
            (12, null, 0, true),
            (13, null, 8, false),
        ];
        for (n, alg, bits, fits) in cases {
            assert_eq!(alg.key_fits(bits), fits, "case {n}");
        }
    }

    #[test]
    fn sha2_icvs_have_rfc4868_lengths() {
        assert_eq!(auth_by_id(5).unwrap().icv_bits, 128);
        assert_eq!(auth_by_id(6).unwrap().icv_bits, 192);
        assert_eq!(auth_by_id(7).unwrap().icv_bits, 256);
    }
}
