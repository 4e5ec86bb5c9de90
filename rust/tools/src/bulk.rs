// SPDX-License-Identifier: GPL-2.0

//! The bulk load of `pfkey-bench`: entry `i` of `n` distinct ESP SAs or
//! distinct policies, built by the same request builders as setkey's `add`
//! and `spdadd`, and what a dump must show of them.
//!
//! SA `i`: `add 192.0.2.1 <10.1.0.0 + i> esp <0x1000 + i> -E aes-cbc
//! <128 bits> -A hmac-sha256 <256 bits>`. Policy `i`: `spdadd
//! <10.128.0.0 + i>/32 198.51.100.1/32 any -P out ipsec
//! esp/transport//require`. Both families of addresses leave room for
//! [`MAX_N`] entries.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::{IpAddr, SockAddr};

use crate::ast::{satype, PolicySpec, SaCmd, SaOp, SaParams, Selector, SpdCmd, SpdOp};
use crate::request::{sa_messages, spd_messages, BuildError};

/// The largest count the address plans hold.
pub const MAX_N: u32 = 1 << 22;

/// The SPI of SA 0.
pub const SPI_BASE: u32 = 0x1000;

/// `SADB_X_EALG_AESCBC`, 128-bit key.
const ENC: (u8, usize) = (12, 16);
/// `SADB_X_AALG_SHA2_256HMAC`, 256-bit key.
const AUTH: (u8, usize) = (5, 32);

/// The policy every entry carries (libipsec's grammar).
pub const POLICY: &str = "out ipsec esp/transport//require";

/// The same with a `unique` request and no reqid: the kernel generates one.
pub const POLICY_UNIQUE: &str = "out ipsec esp/transport//unique";

fn v4(a: u32) -> SockAddr {
    SockAddr {
        addr: IpAddr::V4(a.to_be_bytes()),
        port: 0,
    }
}

/// The source of every SA.
pub fn sa_src() -> SockAddr {
    v4(0xc000_0201)
}

/// The destination of SA `i`.
pub fn sa_dst(i: u32) -> SockAddr {
    v4(0x0a01_0000 + i)
}

/// The SPI of SA `i`.
pub fn sa_spi(i: u32) -> u32 {
    SPI_BASE + i
}

/// The source selector of policy `i`.
pub fn spd_src(i: u32) -> SockAddr {
    v4(0x0a80_0000 + i)
}

/// The destination selector of every policy.
pub fn spd_dst() -> SockAddr {
    v4(0xc633_6401)
}

/// Puts `seq` into a built message's `sadb_msg_seq`.
fn with_seq(mut m: Vec<u8>, seq: u32) -> Vec<u8> {
    if let Some(b) = m.get_mut(8..12) {
        b.copy_from_slice(&seq.to_ne_bytes());
    }
    m
}

fn only(mut v: Vec<Vec<u8>>) -> Result<Vec<u8>, BuildError> {
    v.pop().ok_or(BuildError::FamilyMismatch)
}

/// Message `op` about SA `i` with parameters `p` (the SPI set here), with
/// `sadb_msg_seq` `i + 1`.
fn sa_message(op: SaOp, i: u32, p: SaParams, pid: u32) -> Result<Vec<u8>, BuildError> {
    let cmd = SaCmd {
        op,
        src: vec![sa_src()],
        dst: vec![sa_dst(i)],
        satype: satype::ESP,
        p: SaParams {
            spi: sa_spi(i),
            ..p
        },
    };
    Ok(with_seq(only(sa_messages(&cmd, pid)?)?, i.wrapping_add(1)))
}

/// SADB_ADD of SA `i`, with `sadb_msg_seq` `i + 1`.
pub fn sa_add(i: u32, pid: u32) -> Result<Vec<u8>, BuildError> {
    let key = |len: usize, salt: u8| (0..len).map(|b| b as u8 ^ salt).collect::<Vec<u8>>();
    let p = SaParams {
        enc: ENC.0,
        auth: AUTH.0,
        key_enc: Some(key(ENC.1, 0x5a)),
        key_auth: Some(key(AUTH.1, 0xa5)),
        ..Default::default()
    };
    sa_message(SaOp::Add, i, p, pid)
}

/// SADB_GET of SA `i`, with `sadb_msg_seq` `i + 1`: with nothing added,
/// the cheapest message a PF_KEY answers (a lookup that misses, then an
/// ESRCH reply to the sender), which is what `pfkey-bench round-trip`
/// times.
pub fn sa_get(i: u32, pid: u32) -> Result<Vec<u8>, BuildError> {
    sa_message(SaOp::Get, i, SaParams::default(), pid)
}

/// How many GETSPIs have destinations of their own (172.16.0.0/12).
pub const GETSPI_MAX_N: u32 = 1 << 20;

/// The destination of GETSPI `i` (172.16.0.0/12: none of the SAs').
pub fn getspi_dst(i: u32) -> SockAddr {
    v4(0xac10_0000 + i % GETSPI_MAX_N)
}

/// SADB_GETSPI `i`: from the SAs' source to [`getspi_dst`], ESP, the
/// kernel's default range (a random SPI), with `sadb_msg_seq` `i + 1`.
pub fn sa_getspi(i: u32, pid: u32) -> Result<Vec<u8>, BuildError> {
    let m = crate::request::getspi(sa_src(), getspi_dst(i), satype::ESP, pid)?;
    Ok(with_seq(m, i.wrapping_add(1)))
}

/// SADB_X_SPDADD of policy `i`, with `sadb_msg_seq` `i + 1`.
pub fn spd_add(i: u32, policy: &PolicySpec, pid: u32) -> Result<Vec<u8>, BuildError> {
    let sel = |addr| Selector {
        addr,
        prefix: Some(32),
    };
    let cmd = SpdCmd {
        op: SpdOp::Add,
        src: sel(spd_src(i)),
        dst: sel(spd_dst()),
        upper: crate::parser::ULPROTO_ANY,
        policy: policy.clone(),
    };
    Ok(with_seq(
        only(spd_messages(&cmd, pid, false)?)?,
        i.wrapping_add(1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kame_core::pfkey::ext::Exts;
    use kame_core::pfkey::wire::{ext_type, Address, Sa};
    use kame_core::pfkey::MsgHeader;

    #[test]
    fn sa_messages_are_distinct_esp_adds_with_keys() {
        let m = sa_add(7, 42).unwrap();
        let h = MsgHeader::decode(&m).unwrap();
        assert_eq!((h.msg_type, h.satype, h.seq, h.pid), (3, 3, 8, 42));
        let x = Exts::parse(&m).unwrap();
        let sa = Sa::decode(x.get(ext_type::SA).unwrap());
        assert_eq!((sa.spi, sa.auth, sa.encrypt), (0x1007, 5, 12));
        let dst = Address::decode(x.get(ext_type::ADDRESS_DST).unwrap()).unwrap();
        assert_eq!(dst.sa.addr, IpAddr::V4([10, 1, 0, 7]));
        assert!(x.get(ext_type::KEY_AUTH).is_some() && x.get(ext_type::KEY_ENCRYPT).is_some());
    }

    #[test]
    fn get_messages_name_the_sa_and_carry_no_key() {
        let m = sa_get(7, 42).unwrap();
        let h = MsgHeader::decode(&m).unwrap();
        assert_eq!((h.msg_type, h.satype, h.seq), (5, 3, 8));
        let x = Exts::parse(&m).unwrap();
        assert_eq!(Sa::decode(x.get(ext_type::SA).unwrap()).spi, 0x1007);
        assert!(x.get(ext_type::KEY_AUTH).is_none() && x.get(ext_type::KEY_ENCRYPT).is_none());
    }

    #[test]
    fn getspi_messages_name_a_destination_of_their_own_and_no_spi() {
        let m = sa_getspi(7, 42).unwrap();
        let h = MsgHeader::decode(&m).unwrap();
        assert_eq!((h.msg_type, h.satype, h.seq, h.pid), (1, 3, 8, 42));
        assert_eq!(usize::from(h.len) * 8, m.len());
        let x = Exts::parse(&m).unwrap();
        let dst = Address::decode(x.get(ext_type::ADDRESS_DST).unwrap()).unwrap();
        assert_eq!(dst.sa.addr, IpAddr::V4([172, 16, 0, 7]));
        assert!(x.get(ext_type::SA).is_none() && x.get(ext_type::SPIRANGE).is_none());
    }

    #[test]
    fn policy_messages_differ_in_their_source_only() {
        let p = crate::policy::parse(POLICY).unwrap();
        let (a, b) = (
            spd_add(0, &p, 1).unwrap(),
            spd_add(MAX_N - 1, &p, 1).unwrap(),
        );
        assert_eq!(a.len(), b.len());
        let src = |m: &[u8]| {
            let x = Exts::parse(m).unwrap();
            Address::decode(x.get(ext_type::ADDRESS_SRC).unwrap()).unwrap()
        };
        assert_eq!(src(&a).sa.addr, IpAddr::V4([10, 128, 0, 0]));
        assert_eq!(src(&b).sa.addr, IpAddr::V4([10, 191, 255, 255]));
        assert_eq!(src(&b).prefixlen, 32);
    }
}
