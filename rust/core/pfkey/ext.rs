// SPDX-License-Identifier: GPL-2.0

//! PF_KEY extension headers (`struct sadb_ext` and what follows it): the
//! walk over a message's extensions, checked once before dispatch as
//! af_key's `parse_exthdrs()` does, into one slot per extension type.

use crate::kame_core::pfkey::{SADB_MSG_LEN, WORD};

/// `SADB_EXT_MAX`: the highest extension type Linux defines.
pub const EXT_MAX: u16 = 26;

/// Extension type numbers used by the checks below.
pub mod ty {
    /// `SADB_EXT_ADDRESS_SRC`
    pub const ADDRESS_SRC: u16 = 5;
    /// `SADB_EXT_ADDRESS_DST`
    pub const ADDRESS_DST: u16 = 6;
    /// `SADB_EXT_ADDRESS_PROXY`
    pub const ADDRESS_PROXY: u16 = 7;
    /// `SADB_EXT_KEY_AUTH`
    pub const KEY_AUTH: u16 = 8;
    /// `SADB_EXT_KEY_ENCRYPT`
    pub const KEY_ENCRYPT: u16 = 9;
    /// `SADB_X_EXT_NAT_T_OA`
    pub const X_NAT_T_OA: u16 = 23;
    /// `SADB_X_EXT_SEC_CTX`
    pub const X_SEC_CTX: u16 = 24;
}

/// The smallest length in bytes of each extension type, indexed by type
/// (the size of its fixed `struct sadb_*`); index 0 is `SADB_EXT_RESERVED`.
const MIN_LEN: [u8; EXT_MAX as usize + 1] = [
    0,  // reserved
    16, // sa
    32, // lifetime current
    32, // lifetime hard
    32, // lifetime soft
    8,  // address src
    8,  // address dst
    8,  // address proxy
    8,  // key auth
    8,  // key encrypt
    16, // identity src
    16, // identity dst
    16, // sensitivity
    8,  // proposal
    8,  // supported auth
    8,  // supported encrypt
    16, // spirange
    8,  // x kmprivate
    16, // x policy
    16, // x sa2
    8,  // x nat-t type
    8,  // x nat-t sport
    8,  // x nat-t dport
    8,  // x nat-t oa
    8,  // x sec ctx
    8,  // x kmaddress
    40, // x filter
];

/// `AF_INET`
const AF_INET: u16 = 2;
/// `AF_INET6`
const AF_INET6: u16 = 10;

/// Why a message's extensions were refused (all EINVAL, as af_key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtError {
    /// Fewer bytes left than an extension header.
    Truncated,
    /// `sadb_ext_len` zero, or past the end of the message.
    Length,
    /// `SADB_EXT_RESERVED` (0).
    Reserved,
    /// Shorter than its type's fixed part.
    TooShort(u16),
    /// The same type twice.
    Duplicate(u16),
    /// An address extension with a bad family, length or prefix length.
    Address(u16),
    /// A key extension whose bits do not fit its length.
    Key(u16),
    /// A security context whose length disagrees with the extension's.
    SecCtx,
}

/// The extensions of one message, one slot per type; each slot holds the
/// offset in the message of that type's extension (header included), 0 if
/// there is none (offset 0 is the base header). Offsets rather than slices
/// keep it at a quarter of the size: it is built for every message
/// written, and moving it was a tenth of a round trip's time under TCG.
///
/// # Invariants
///
/// Every nonzero slot is the offset of a whole extension inside `msg`
/// that passed its type's checks in [`Exts::parse`].
#[derive(Debug, Default)]
pub struct Exts<'a> {
    msg: &'a [u8],
    at: [u32; EXT_MAX as usize],
}

impl<'a> Exts<'a> {
    /// Walks the extensions after the base header of `msg` (a message whose
    /// header already passed `check_header`). Types above `SADB_EXT_MAX` are
    /// skipped, as af_key skips them.
    pub fn parse(msg: &'a [u8]) -> Result<Exts<'a>, ExtError> {
        let mut exts = Exts {
            msg,
            at: [0; EXT_MAX as usize],
        };
        let mut rest = msg.get(SADB_MSG_LEN..).unwrap_or(&[]);
        while !rest.is_empty() {
            let offset = msg.len() - rest.len();
            let hdr = rest.get(..4).ok_or(ExtError::Truncated)?;
            let words = u16::from_ne_bytes([hdr[0], hdr[1]]);
            let ext_type = u16::from_ne_bytes([hdr[2], hdr[3]]);
            let len = usize::from(words) * WORD;
            if len == 0 || len > rest.len() {
                return Err(ExtError::Length);
            }
            if ext_type == 0 {
                return Err(ExtError::Reserved);
            }
            let (ext, tail) = rest.split_at(len);
            if let Some(&min) = MIN_LEN.get(usize::from(ext_type)) {
                if len < usize::from(min) {
                    return Err(ExtError::TooShort(ext_type));
                }
                check_body(ext_type, ext)?;
                let slot = &mut exts.at[usize::from(ext_type) - 1];
                if *slot != 0 {
                    return Err(ExtError::Duplicate(ext_type));
                }
                // INVARIANT: `ext` lies whole at `offset` (nonzero: past
                // the base header) and passed its type's checks above. A
                // message's length fits in 16 bits of words, so in u32.
                *slot = u32::try_from(offset).map_err(|_| ExtError::Length)?;
            }
            rest = tail;
        }
        Ok(exts)
    }

    /// The extension of type `ext_type`, header included, if present.
    pub fn get(&self, ext_type: u16) -> Option<&'a [u8]> {
        let i = usize::from(ext_type).checked_sub(1)?;
        let at = usize::try_from(*self.at.get(i)?).ok()?;
        if at == 0 {
            return None;
        }
        let words = usize::from(u16_at(self.msg, at));
        self.msg.get(at..at + words * WORD)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_ne_bytes([s[0], s[1]]))
}

/// Words needed for `bytes` bytes.
fn words(bytes: usize) -> usize {
    bytes.div_ceil(WORD)
}

/// The per-type checks af_key makes (`verify_address_len()`,
/// `verify_key_len()`, `verify_sec_ctx_len()`).
fn check_body(ext_type: u16, ext: &[u8]) -> Result<(), ExtError> {
    let ext_words = ext.len() / WORD;
    match ext_type {
        ty::ADDRESS_SRC | ty::ADDRESS_DST | ty::ADDRESS_PROXY | ty::X_NAT_T_OA => {
            // struct sadb_address (8 bytes), then a sockaddr.
            let prefixlen = ext.get(5).copied().unwrap_or(0);
            let family = u16_at(ext, 8);
            let (want, max_prefix) = match family {
                AF_INET if ext.len() >= 10 => (words(8 + 16), 32),
                AF_INET6 if ext.len() >= 10 => (words(8 + 28), 128),
                _ => return Err(ExtError::Address(ext_type)),
            };
            if ext_words != want || prefixlen > max_prefix {
                return Err(ExtError::Address(ext_type));
            }
        }
        ty::KEY_AUTH | ty::KEY_ENCRYPT => {
            let bits = usize::from(u16_at(ext, 4));
            if words(8 + bits.div_ceil(8)) > ext_words {
                return Err(ExtError::Key(ext_type));
            }
        }
        ty::X_SEC_CTX => {
            let ctx_len = usize::from(u16_at(ext, 6));
            if words(8 + ctx_len) != ext_words {
                return Err(ExtError::SecCtx);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn ext(ext_type: u16, body: &[u8]) -> Vec<u8> {
        let len = 4 + body.len();
        assert_eq!(len % 8, 0);
        let mut v = Vec::new();
        v.extend_from_slice(&((len / 8) as u16).to_ne_bytes());
        v.extend_from_slice(&ext_type.to_ne_bytes());
        v.extend_from_slice(body);
        v
    }

    fn msg(exts: &[Vec<u8>]) -> Vec<u8> {
        let mut v = std::vec![0u8; SADB_MSG_LEN];
        for e in exts {
            v.extend_from_slice(e);
        }
        v
    }

    fn addr4(prefix: u8) -> Vec<u8> {
        // proto, prefixlen, reserved, then sockaddr_in (family 2).
        let mut body = std::vec![0u8, prefix, 0, 0];
        body.extend_from_slice(&AF_INET.to_ne_bytes());
        body.resize(4 + 16, 0);
        body
    }

    fn addr6(prefix: u8) -> Vec<u8> {
        let mut body = std::vec![0u8, prefix, 0, 0];
        body.extend_from_slice(&AF_INET6.to_ne_bytes());
        body.resize(4 + 28 + 4, 0); // padded to whole words
        body
    }

    fn key(bits: u16, key_bytes: usize) -> Vec<u8> {
        let mut body = Vec::from(bits.to_ne_bytes());
        body.extend_from_slice(&[0, 0]);
        body.resize(4 + key_bytes, 0);
        body
    }

    #[test]
    fn a_bare_header_has_no_extensions() {
        let m = msg(&[]);
        let e = Exts::parse(&m).unwrap();
        assert!((1..=EXT_MAX).all(|t| e.get(t).is_none()));
        assert_eq!(e.get(0), None);
        assert_eq!(e.get(EXT_MAX + 1), None);
    }

    #[test]
    fn extensions_land_in_their_slots() {
        let sa = ext(1, &[0u8; 12]);
        let src = ext(ty::ADDRESS_SRC, &addr4(32));
        let dst = ext(ty::ADDRESS_DST, &addr6(128));
        let m = msg(&[sa.clone(), src.clone(), dst.clone()]);
        let e = Exts::parse(&m).unwrap();
        assert_eq!(e.get(1), Some(&sa[..]));
        assert_eq!(e.get(ty::ADDRESS_SRC), Some(&src[..]));
        assert_eq!(e.get(ty::ADDRESS_DST), Some(&dst[..]));
        assert_eq!(e.get(2), None);
    }

    #[test]
    fn malformed_extensions_are_refused() {
        // Numbered table: (case, extensions, expected error).
        let mut short = ext(1, &[0u8; 12]);
        short.truncate(3);
        let mut overlong = ext(1, &[0u8; 12]);
        overlong[0] = 9;
        let cases: [(u32, Vec<u8>, ExtError); 12] = [
            (1, short, ExtError::Truncated),
            (2, overlong, ExtError::Length),
            (3, std::vec![0u8; 8], ExtError::Length),
            (4, ext(0, &[0u8; 4]), ExtError::Reserved),
            (5, ext(2, &[0u8; 12]), ExtError::TooShort(2)),
            (
                6,
                [ext(1, &[0u8; 12]), ext(1, &[0u8; 12])].concat(),
                ExtError::Duplicate(1),
            ),
            (
                7,
                ext(ty::ADDRESS_SRC, &addr4(33)),
                ExtError::Address(ty::ADDRESS_SRC),
            ),
            (
                8,
                ext(ty::ADDRESS_DST, &addr6(129)),
                ExtError::Address(ty::ADDRESS_DST),
            ),
            (
                9,
                ext(ty::ADDRESS_SRC, &[0u8; 20]),
                ExtError::Address(ty::ADDRESS_SRC),
            ),
            (
                10,
                ext(ty::KEY_AUTH, &key(160, 16)),
                ExtError::Key(ty::KEY_AUTH),
            ),
            (11, ext(ty::X_SEC_CTX, &[0, 0, 9, 0]), ExtError::SecCtx),
            (
                12,
                ext(ty::ADDRESS_PROXY, &addr6(64)[..20]),
                ExtError::Address(ty::ADDRESS_PROXY),
            ),
        ];
        for (n, bytes, want) in cases {
            assert_eq!(
                Exts::parse(&msg(&[bytes])).map(|_| ()),
                Err(want),
                "case {n}"
            );
        }
    }

    #[test]
    fn keys_and_unknown_types_that_pass() {
        // 160 bits padded to 24 bytes (4 words with the header) fit; types
        // above SADB_EXT_MAX are skipped.
        let m = msg(&[
            ext(ty::KEY_AUTH, &key(160, 24)),
            ext(EXT_MAX + 5, &[0u8; 4]),
        ]);
        let e = Exts::parse(&m).unwrap();
        assert!(e.get(ty::KEY_AUTH).is_some());
        let m = msg(&[ext(ty::X_SEC_CTX, &[0, 0, 4, 0, 1, 2, 3, 4, 0, 0, 0, 0])]);
        assert!(Exts::parse(&m).is_ok());
    }
}
