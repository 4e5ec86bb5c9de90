// SPDX-License-Identifier: GPL-2.0

//! `SADB_X_EXT_FILTER` on SADB_DUMP: only SAs whose source and
//! destination fall in the given prefixes, and of the given family if it is
//! `AF_INET` or `AF_INET6` (any other value: both). af_key's
//! `pfkey_dump()` and XFRM's `__xfrm_state_filter_match()`: addresses are
//! compared as 16-byte `xfrm_address_t`s, an IPv4 one zero past its
//! fourth byte, so a prefix longer than 32 on IPv4 compares those zeros.

use super::SaRecord;
use crate::kame_core::{errno::Errno, pfkey::wire::IpAddr};

/// Length of `struct sadb_x_filter`, header included.
const FILTER_LEN: usize = 40;
/// The longest prefix af_key accepts: the bits of an `xfrm_address_t`.
const MAX_PREFIX: u8 = 128;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A decoded `struct sadb_x_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrFilter {
    src: [u8; 16],
    dst: [u8; 16],
    family: u16,
    src_prefix: u8,
    dst_prefix: u8,
}

impl AddrFilter {
    /// Decodes the extension `ext` (header included, length already
    /// checked by the extension walk); EINVAL for a prefix above 128 bits.
    pub fn decode(ext: &[u8]) -> Result<Self, Errno> {
        let b = ext.get(..FILTER_LEN).ok_or(Errno::EINVAL)?;
        let mut src = [0; 16];
        let mut dst = [0; 16];
        src.copy_from_slice(&b[4..20]);
        dst.copy_from_slice(&b[20..36]);
        let f = AddrFilter {
            src,
            dst,
            family: u16::from_ne_bytes([b[36], b[37]]),
            src_prefix: b[38],
            dst_prefix: b[39],
        };
        if f.src_prefix > MAX_PREFIX || f.dst_prefix > MAX_PREFIX {
            return Err(Errno::EINVAL);
        }
        Ok(f)
    }

    /// Whether SA `rec` is listed.
    pub fn matches(&self, rec: &SaRecord) -> bool {
        if (self.family == AF_INET || self.family == AF_INET6) && rec.src.family() != self.family {
            return false;
        }
        prefix_match(&as_xfrm(&rec.src), &self.src, self.src_prefix)
            && prefix_match(&as_xfrm(&rec.id.dst), &self.dst, self.dst_prefix)
    }
}

/// `addr` as an `xfrm_address_t`: IPv4 in the first four bytes.
fn as_xfrm(addr: &IpAddr) -> [u8; 16] {
    let mut out = [0; 16];
    let o = addr.octets();
    out[..o.len()].copy_from_slice(o);
    out
}

/// Whether the first `bits` bits of `a` and `b` agree.
fn prefix_match(a: &[u8; 16], b: &[u8; 16], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[whole] ^ b[whole]) & mask == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kame_core::{
        pfkey::wire::{Address, SockAddr},
        sad::MODE_TRANSPORT,
    };

    fn ext(src: [u8; 16], dst: [u8; 16], family: u16, sp: u8, dp: u8) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[0..2].copy_from_slice(&5u16.to_ne_bytes());
        b[2..4].copy_from_slice(&26u16.to_ne_bytes());
        b[4..20].copy_from_slice(&src);
        b[20..36].copy_from_slice(&dst);
        b[36..38].copy_from_slice(&family.to_ne_bytes());
        b[38] = sp;
        b[39] = dp;
        b
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        as_xfrm(&IpAddr::V4(a))
    }

    fn sa(src: IpAddr, dst: IpAddr) -> SaRecord {
        let a = |addr| Address {
            proto: 255,
            prefixlen: 0,
            sa: SockAddr { addr, port: 0 },
        };
        SaRecord::larval(50, &a(src), &a(dst), MODE_TRANSPORT, 0, 0, 0)
    }

    #[test]
    fn prefixes_and_family() {
        let a = sa(IpAddr::V4([10, 0, 0, 1]), IpAddr::V4([10, 0, 2, 2]));
        let b = sa(IpAddr::V4([10, 0, 0, 1]), IpAddr::V4([10, 0, 3, 2]));
        let six = sa(IpAddr::V6([0; 16], 0), IpAddr::V6([0; 16], 0));
        // 10.0.2.2 followed by bits an IPv4 SA does not have.
        let mut junk = [0xff; 16];
        junk[..4].copy_from_slice(&[10, 0, 2, 2]);
        // (src, dst, family, splen, dplen, a, b, six)
        let table = [
            (
                v4([10, 0, 0, 0]),
                v4([10, 0, 2, 0]),
                AF_INET,
                8,
                24,
                true,
                false,
                false,
            ),
            (
                v4([10, 0, 0, 0]),
                v4([10, 0, 2, 0]),
                AF_INET,
                8,
                23,
                true,
                true,
                false,
            ),
            (
                v4([11, 0, 0, 0]),
                v4([10, 0, 2, 0]),
                AF_INET,
                8,
                24,
                false,
                false,
                false,
            ),
            // Any other family: both; prefix 0 matches every address.
            ([0; 16], [0; 16], 0, 0, 0, true, true, true),
            ([0; 16], [0; 16], AF_INET6, 0, 0, false, false, true),
            // Bits past an IPv4 address are zero in the SA.
            (
                v4([10, 0, 0, 1]),
                v4([10, 0, 2, 2]),
                AF_INET,
                128,
                128,
                true,
                false,
                false,
            ),
            (v4([10, 0, 0, 1]), junk, AF_INET, 32, 32, true, false, false),
            (
                v4([10, 0, 0, 1]),
                junk,
                AF_INET,
                32,
                33,
                false,
                false,
                false,
            ),
        ];
        for (i, &(s, d, fam, sp, dp, ma, mb, m6)) in table.iter().enumerate() {
            let f = AddrFilter::decode(&ext(s, d, fam, sp, dp)).unwrap();
            assert_eq!(
                (f.matches(&a), f.matches(&b), f.matches(&six)),
                (ma, mb, m6),
                "row {i}"
            );
        }
    }

    #[test]
    fn prefix_over_128_is_einval() {
        assert_eq!(
            AddrFilter::decode(&ext([0; 16], [0; 16], 2, 129, 0)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            AddrFilter::decode(&ext([0; 16], [0; 16], 2, 0, 129)),
            Err(Errno::EINVAL)
        );
        assert!(AddrFilter::decode(&ext([0; 16], [0; 16], 2, 128, 128)).is_ok());
    }
}
