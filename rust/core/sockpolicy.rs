// SPDX-License-Identifier: GPL-2.0

//! Per-socket policies: the `struct sadb_x_policy` buffer a privileged
//! process hands to `setsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY)`
//! (`ipsec_set_policy(3)`; IKE daemons such as racoon and openiked set
//! `bypass` on their own sockets). The checks and errnos are af_key's
//! `pfkey_compile_policy()`.

use crate::kame_core::{
    errno::Errno,
    pfkey::wire::{Policy, POLICY_LEN},
    spd::{DIR_IN, DIR_OUT, POLICY_DISCARD, POLICY_IPSEC},
};

/// `IPSEC_POLICY_ENTRUST`: defer to the system SPD (KAME).
pub const POLICY_ENTRUST: u16 = 3;
/// `IPSEC_POLICY_BYPASS`: no IPsec for this socket, whatever the SPD says.
pub const POLICY_BYPASS: u16 = 4;

/// Length of `struct sadb_x_sec_ctx`.
const SEC_CTX_LEN: usize = 8;
/// The largest security context af_key takes (`PAGE_SIZE` on x86).
const SEC_CTX_MAX: usize = 4096;

/// The direction of a per-socket policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockDir {
    /// `IPSEC_DIR_INBOUND`
    In,
    /// `IPSEC_DIR_OUTBOUND`
    Out,
}

/// What a per-socket policy does with the socket's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockAction {
    /// `none`, `entrust` and `bypass`: the traffic passes without IPsec.
    /// af_key compiles all three to an allowing policy without templates
    /// (KAME would let `entrust` fall back to the system SPD).
    Pass,
    /// `discard`: the traffic is dropped.
    Discard,
    /// `ipsec`: the traffic needs the requests that follow the header.
    Ipsec,
}

/// A checked per-socket policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockPolicy {
    /// Which of the socket's two policies it sets.
    pub dir: SockDir,
    /// What it does.
    pub action: SockAction,
}

impl SockPolicy {
    /// Checks a `setsockopt()` buffer as af_key does: EINVAL when shorter
    /// than `sadb_x_policy`, when its length field overruns the buffer, for a
    /// type beyond `bypass`, for a direction other than in or out, and when
    /// a trailing `sadb_x_sec_ctx` is malformed. The requests of an `ipsec`
    /// policy are not looked at here.
    pub fn parse(buf: &[u8]) -> Result<SockPolicy, Errno> {
        if buf.len() < POLICY_LEN {
            return Err(Errno::EINVAL);
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]])) * 8;
        if len > buf.len() {
            return Err(Errno::EINVAL);
        }
        let pol = Policy::decode(buf);
        let action = match pol.ty {
            POLICY_DISCARD => SockAction::Discard,
            POLICY_IPSEC => SockAction::Ipsec,
            t if t <= POLICY_BYPASS => SockAction::Pass,
            _ => return Err(Errno::EINVAL),
        };
        let dir = match pol.dir {
            DIR_IN => SockDir::In,
            DIR_OUT => SockDir::Out,
            _ => return Err(Errno::EINVAL),
        };
        check_sec_ctx(&buf[len..])?;
        Ok(SockPolicy { dir, action })
    }
}

/// af_key reads a security context after the policy when there is room for
/// one; it must fit and say its own length right (`verify_sec_ctx_len()`).
fn check_sec_ctx(rest: &[u8]) -> Result<(), Errno> {
    if rest.len() < SEC_CTX_LEN {
        return Ok(());
    }
    let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
    let ctx_len = usize::from(u16::from_ne_bytes([rest[6], rest[7]]));
    if len * 8 > rest.len() || ctx_len > SEC_CTX_MAX || len != (SEC_CTX_LEN + ctx_len).div_ceil(8) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A policy header: length in 8-byte units, type, direction.
    fn pol(len: u16, ty: u16, dir: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&18u16.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&[dir, 0]);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn openiked_bypass_both_ways() {
        // openiked's socket_bypass(): len 2, exttype SENSITIVITY (12, not
        // looked at), type BYPASS, in then out.
        let mut b = pol(2, POLICY_BYPASS, 1);
        b[2] = 12;
        let p = SockPolicy::parse(&b).unwrap();
        assert_eq!(p.dir, SockDir::In);
        assert_eq!(p.action, SockAction::Pass);
        let p = SockPolicy::parse(&pol(2, POLICY_BYPASS, 2)).unwrap();
        assert_eq!(p.dir, SockDir::Out);
    }

    #[test]
    fn types_map_as_af_key() {
        let a = |ty| SockPolicy::parse(&pol(2, ty, 2)).map(|p| p.action);
        assert_eq!(a(0), Ok(SockAction::Discard));
        assert_eq!(a(1), Ok(SockAction::Pass));
        assert_eq!(a(2), Ok(SockAction::Ipsec));
        assert_eq!(a(3), Ok(SockAction::Pass));
        assert_eq!(a(4), Ok(SockAction::Pass));
        assert_eq!(a(5), Err(Errno::EINVAL));
    }

    #[test]
    fn bad_buffers_are_einval() {
        assert_eq!(SockPolicy::parse(&[0; 15]), Err(Errno::EINVAL));
        // Length field beyond the buffer.
        assert_eq!(SockPolicy::parse(&pol(3, 4, 1)), Err(Errno::EINVAL));
        // Directions: any (0) and fwd (3) are not socket directions.
        assert_eq!(SockPolicy::parse(&pol(2, 4, 0)), Err(Errno::EINVAL));
        assert_eq!(SockPolicy::parse(&pol(2, 4, 3)), Err(Errno::EINVAL));
        // A zero length field: af_key then reads the policy header itself
        // as the security context, whose length does not add up.
        assert_eq!(SockPolicy::parse(&pol(0, 4, 1)), Err(Errno::EINVAL));
    }

    #[test]
    fn trailing_sec_ctx_is_checked() {
        // Fewer than 8 trailing bytes: ignored.
        let mut b = pol(2, 4, 1);
        b.extend_from_slice(&[0xff; 7]);
        assert!(SockPolicy::parse(&b).is_ok());
        // A context of 3 bytes: 8 + 3 rounds up to 2 units.
        let mut b = pol(2, 4, 1);
        b.extend_from_slice(&2u16.to_ne_bytes());
        b.extend_from_slice(&24u16.to_ne_bytes());
        b.extend_from_slice(&[1, 1, 3, 0]);
        b.extend_from_slice(&[b'a', b'b', b'c', 0, 0, 0, 0, 0]);
        assert!(SockPolicy::parse(&b).is_ok());
        // Its length field wrong, then overrunning.
        let mut bad = b.clone();
        bad[16] = 3;
        assert_eq!(SockPolicy::parse(&bad), Err(Errno::EINVAL));
        bad.extend_from_slice(&[0; 8]);
        assert_eq!(SockPolicy::parse(&bad), Err(Errno::EINVAL));
    }
}
