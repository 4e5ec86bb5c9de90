// SPDX-License-Identifier: GPL-2.0

//! Algorithm names as setkey spells them, their SADB ids (Linux's
//! `include/uapi/linux/pfkeyv2.h`) and the key lengths checked before a
//! message is sent.
//!
//! Key ranges are the `sadb_alg_minbits`/`maxbits` Linux reports in its
//! SADB_REGISTER reply (`net/xfrm/xfrm_algo.c`), which is what ipsec-tools'
//! `ipsec_check_keylen()` compares against, except for the AEAD and CTR
//! modes, whose keys carry a 32-bit salt or nonce on top of the AES key.

#![forbid(unsafe_code)]

/// One algorithm the parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alg {
    /// The name in setkey's grammar.
    pub name: &'static str,
    /// The SADB id.
    pub id: u8,
    /// Smallest key, bits.
    pub min_bits: u16,
    /// Largest key, bits.
    pub max_bits: u16,
    /// True if the grammar takes no key after the name (`null`).
    pub no_key: bool,
}

const fn alg(name: &'static str, id: u8, min_bits: u16, max_bits: u16) -> Alg {
    Alg {
        name,
        id,
        min_bits,
        max_bits,
        no_key: false,
    }
}

const fn nokey(name: &'static str, id: u8) -> Alg {
    Alg {
        name,
        id,
        min_bits: 0,
        max_bits: 0,
        no_key: true,
    }
}

/// `SADB_X_AALG_MD5`: ipsec-tools' private id for keyed-md5 on Linux.
pub const AALG_KEYED_MD5: u8 = 249;
/// `SADB_X_AALG_SHA`: ipsec-tools' private id for keyed-sha1 on Linux.
pub const AALG_KEYED_SHA: u8 = 250;

/// Encryption algorithms (`-E`).
///
/// TODO[T]: chacha20-poly1305 has no id in Linux's pfkeyv2.h; add it here
/// once the kernel side fixes a number.
pub const ENC: &[Alg] = &[
    alg("des-cbc", 2, 64, 64),
    alg("3des-cbc", 3, 192, 192),
    nokey("null", 11),
    alg("blowfish-cbc", 7, 40, 448),
    alg("cast128-cbc", 6, 40, 128),
    alg("aes-cbc", 12, 128, 256),
    alg("rijndael-cbc", 12, 128, 256),
    alg("twofish-cbc", 253, 128, 256),
    alg("aes-ctr", 13, 160, 288),
    alg("camellia-cbc", 22, 128, 256),
    alg("aes-gcm-8", 18, 160, 288),
    alg("aes-gcm-12", 19, 160, 288),
    alg("aes-gcm-16", 20, 160, 288),
    alg("null_aes_gmac", 23, 160, 288),
];

/// Authentication algorithms (`-A`).
pub const AUTH: &[Alg] = &[
    alg("hmac-md5", 2, 128, 128),
    alg("hmac-sha1", 3, 160, 160),
    alg("keyed-md5", AALG_KEYED_MD5, 128, 128),
    alg("keyed-sha1", AALG_KEYED_SHA, 160, 160),
    alg("hmac-sha2-256", 5, 256, 256),
    alg("hmac-sha256", 5, 256, 256),
    alg("hmac-sha2-384", 6, 384, 384),
    alg("hmac-sha384", 6, 384, 384),
    alg("hmac-sha2-512", 7, 512, 512),
    alg("hmac-sha512", 7, 512, 512),
    alg("hmac-ripemd160", 8, 160, 160),
    alg("aes-xcbc-mac", 9, 128, 128),
    nokey("null", 251),
];

/// Compression algorithms (`-C`).
pub const COMP: &[Alg] = &[nokey("oui", 1), nokey("deflate", 2), nokey("lzs", 3)];

/// Looks `name` up in `table`.
pub fn by_name(table: &'static [Alg], name: &str) -> Option<&'static Alg> {
    table.iter().find(|a| a.name == name)
}

/// Why a key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLenError {
    /// The algorithm.
    pub alg: &'static Alg,
    /// The key given, in bits.
    pub bits: usize,
}

impl Alg {
    /// Checks a key of `bytes` bytes against the algorithm's range.
    pub fn check_key(&'static self, bytes: usize) -> Result<(), KeyLenError> {
        let bits = bytes * 8;
        if bits < usize::from(self.min_bits) || bits > usize::from(self.max_bits) {
            return Err(KeyLenError { alg: self, bits });
        }
        Ok(())
    }
}

/// The names `-D` prints for encryption ids: setkey 0.8.2's table on
/// Linux, plus the AEAD ids it predates.
const DUMP_ENC: &[(u8, &str)] = &[
    (0, "none"),
    (2, "des-cbc"),
    (3, "3des-cbc"),
    (11, "null"),
    (6, "cast128-cbc"),
    (7, "blowfish-cbc"),
    (12, "aes-cbc"),
    (253, "twofish-cbc"),
    (13, "aes-ctr"),
    (22, "camellia-cbc"),
    (18, "aes-gcm-8"),
    (19, "aes-gcm-12"),
    (20, "aes-gcm-16"),
    (23, "null_aes_gmac"),
];

/// The names `-D` prints for authentication ids (setkey 0.8.2 on Linux).
const DUMP_AUTH: &[(u8, &str)] = &[
    (0, "none"),
    (2, "hmac-md5"),
    (3, "hmac-sha1"),
    (AALG_KEYED_MD5, "md5"),
    (AALG_KEYED_SHA, "sha"),
    (251, "null"),
    (5, "hmac-sha256"),
    (6, "hmac-sha384"),
    (7, "hmac-sha512"),
    (8, "hmac-ripemd160"),
    (9, "aes-xcbc-mac"),
];

/// The names `-D` prints for compression ids.
const DUMP_COMP: &[(u8, &str)] = &[(0, "none"), (1, "oui"), (2, "deflate"), (3, "lzs")];

fn lookup(table: &[(u8, &'static str)], id: u8) -> Option<&'static str> {
    table.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// The dump name of encryption id `id`.
pub fn enc_name(id: u8) -> Option<&'static str> {
    lookup(DUMP_ENC, id)
}

/// The dump name of authentication id `id`.
pub fn auth_name(id: u8) -> Option<&'static str> {
    lookup(DUMP_AUTH, id)
}

/// The dump name of compression id `id`.
pub fn comp_name(id: u8) -> Option<&'static str> {
    lookup(DUMP_COMP, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_linux_pfkeyv2_h() {
        let e = |n| by_name(ENC, n).map(|a| a.id);
        let a = |n| by_name(AUTH, n).map(|a| a.id);
        assert_eq!(e("des-cbc"), Some(2));
        assert_eq!(e("3des-cbc"), Some(3));
        assert_eq!(e("null"), Some(11));
        assert_eq!(e("rijndael-cbc"), e("aes-cbc"));
        assert_eq!(e("twofish-cbc"), Some(253));
        assert_eq!(e("aes-gcm-16"), Some(20));
        assert_eq!(e("null_aes_gmac"), Some(23));
        assert_eq!(a("hmac-sha256"), Some(5));
        assert_eq!(a("hmac-sha2-512"), Some(7));
        assert_eq!(a("aes-xcbc-mac"), Some(9));
        assert_eq!(a("null"), Some(251));
        assert_eq!(e("chacha20-poly1305"), None);
    }

    #[test]
    fn key_lengths_are_checked_in_bits() {
        let aes = by_name(ENC, "aes-cbc").unwrap();
        assert!(aes.check_key(16).is_ok());
        assert!(aes.check_key(32).is_ok());
        assert_eq!(aes.check_key(8).unwrap_err().bits, 64);
        assert!(aes.check_key(33).is_err());
        assert!(by_name(ENC, "3des-cbc").unwrap().check_key(24).is_ok());
        assert!(by_name(ENC, "3des-cbc").unwrap().check_key(16).is_err());
        assert!(by_name(AUTH, "hmac-sha256").unwrap().check_key(32).is_ok());
        assert!(by_name(AUTH, "hmac-sha256").unwrap().check_key(20).is_err());
        assert!(by_name(ENC, "aes-gcm-16").unwrap().check_key(36).is_ok());
    }

    #[test]
    fn dump_names_follow_setkey() {
        assert_eq!(auth_name(5), Some("hmac-sha256"));
        assert_eq!(auth_name(AALG_KEYED_MD5), Some("md5"));
        assert_eq!(enc_name(12), Some("aes-cbc"));
        assert_eq!(enc_name(99), None);
        assert_eq!(comp_name(2), Some("deflate"));
    }
}
