// SPDX-License-Identifier: GPL-2.0

//! Per-socket policies: the `struct sadb_x_policy` buffer a privileged
//! process hands to `setsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY)`
//! (`ipsec_set_policy(3)`; IKE daemons such as racoon and openiked set
//! `bypass` on their own sockets). The checks and errnos are af_key's
//! `pfkey_compile_policy()`.

use crate::kame_core::{
    errno::Errno,
    pfkey::wire::{ext_type, ExtBody, Policy, POLICY_LEN},
    spd::{
        requests_of, Request, StoredPolicy, DIR_IN, DIR_OUT, MAX_DEPTH, POLICY_DISCARD,
        POLICY_IPSEC,
    },
};

/// `IPSEC_POLICY_ENTRUST`: defer to the system SPD (KAME).
pub const POLICY_ENTRUST: u16 = 3;
/// `IPSEC_POLICY_BYPASS`: no IPsec for this socket, whatever the SPD says.
pub const POLICY_BYPASS: u16 = 4;

/// Length of `struct sadb_x_sec_ctx`.
const SEC_CTX_LEN: usize = 8;
/// The largest security context af_key takes (`PAGE_SIZE` on x86).
const SEC_CTX_MAX: usize = 4096;
/// The longest policy [`SockPolicy::encode`] writes: the fixed part and a
/// full bundle of IPv6 tunnel requests (16 + 2 * 28 bytes, padded to 80).
pub const ENCODED_MAX: usize = POLICY_LEN + MAX_DEPTH * 80;

/// The direction of a per-socket policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockDir {
    /// `IPSEC_DIR_INBOUND`
    In,
    /// `IPSEC_DIR_OUTBOUND`
    Out,
}

impl SockDir {
    /// `IPSEC_DIR_*`.
    pub fn wire(self) -> u8 {
        match self {
            SockDir::In => DIR_IN,
            SockDir::Out => DIR_OUT,
        }
    }
}

/// What a per-socket policy does with the socket's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockAction {
    /// `none` and `bypass`: the traffic passes without IPsec, whatever the
    /// SPD says (KAME; the kernel lets only CAP_NET_ADMIN set either).
    Pass,
    /// `entrust`: the SPD decides, as for a socket without a policy.
    Entrust,
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
    /// `IPSEC_POLICY_*` as given, for reading it back.
    pub ty: u16,
    /// The bundle of an `ipsec` policy, outermost last.
    pub requests: [Option<Request>; MAX_DEPTH],
}

impl SockPolicy {
    /// Checks a `setsockopt()` buffer as af_key does: EINVAL when shorter
    /// than `sadb_x_policy`, when its length field overruns the buffer, for a
    /// type beyond `bypass`, for a direction other than in or out, for a bad
    /// request (af_key's `parse_ipsecrequests()`: ELOOP for too many), and
    /// when a trailing `sadb_x_sec_ctx` is malformed.
    ///
    /// A `unique` request without a manual reqid (af_key would generate
    /// one) keeps reqid 0: it is met by any SA, as `require`.
    pub fn parse(buf: &[u8]) -> Result<SockPolicy, Errno> {
        if buf.len() < POLICY_LEN {
            return Err(Errno::EINVAL);
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]])) * 8;
        if len > buf.len() {
            return Err(Errno::EINVAL);
        }
        let pol = Policy::decode(buf);
        if pol.ty > POLICY_BYPASS {
            return Err(Errno::EINVAL);
        }
        let dir = match pol.dir {
            DIR_IN => SockDir::In,
            DIR_OUT => SockDir::Out,
            _ => return Err(Errno::EINVAL),
        };
        let requests = if pol.ty == POLICY_IPSEC {
            let slot = buf.get(..len.max(POLICY_LEN)).ok_or(Errno::EINVAL)?;
            requests_of(Policy::requests(slot), &mut || Some(0))?
        } else {
            [None; MAX_DEPTH]
        };
        check_sec_ctx(&buf[len..])?;
        Ok(SockPolicy {
            dir,
            ty: pol.ty,
            requests,
        })
    }

    /// What the policy does. An `ipsec` policy without requests is `none`,
    /// as af_key reads it back.
    pub fn action(&self) -> SockAction {
        match self.ty {
            POLICY_DISCARD => SockAction::Discard,
            POLICY_IPSEC if self.requests[0].is_some() => SockAction::Ipsec,
            POLICY_ENTRUST => SockAction::Entrust,
            _ => SockAction::Pass,
        }
    }

    /// The policy a socket has when none was set: `entrust` (KAME).
    pub fn entrust(dir: SockDir) -> SockPolicy {
        SockPolicy {
            dir,
            ty: POLICY_ENTRUST,
            requests: [None; MAX_DEPTH],
        }
    }

    /// Writes the policy into `out` as a `sadb_x_policy` extension with its
    /// requests (what `getsockopt()` returns, `ipsec_dump_policy(3)` reads),
    /// policy id `id`. Returns the length, or `Err(needed)` when `out` is
    /// too short.
    pub fn encode(&self, id: u32, out: &mut [u8]) -> Result<usize, usize> {
        let body = StoredPolicy::new(
            Policy {
                ty: self.ty,
                dir: self.dir.wire(),
                id,
                priority: 0,
            },
            &self.requests,
        );
        let len = (4 + body.body_len()).div_ceil(8) * 8;
        let out = out.get_mut(..len).ok_or(len)?;
        out.fill(0);
        let units = u16::try_from(len / 8).map_err(|_| len)?;
        out[0..2].copy_from_slice(&units.to_ne_bytes());
        out[2..4].copy_from_slice(&ext_type::X_POLICY.to_ne_bytes());
        body.write_body(&mut out[4..4 + body.body_len()]);
        Ok(len)
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
        assert_eq!(p.action(), SockAction::Pass);
        let p = SockPolicy::parse(&pol(2, POLICY_BYPASS, 2)).unwrap();
        assert_eq!(p.dir, SockDir::Out);
    }

    #[test]
    fn types_map_as_af_key() {
        let a = |ty| SockPolicy::parse(&pol(2, ty, 2)).map(|p| p.action());
        assert_eq!(a(0), Ok(SockAction::Discard));
        assert_eq!(a(1), Ok(SockAction::Pass));
        // `ipsec` without requests reads back as `none`.
        assert_eq!(a(2), Ok(SockAction::Pass));
        assert_eq!(a(3), Ok(SockAction::Entrust));
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

    /// An `ipsec` policy header followed by `reqs`.
    fn ipsec(dir: u8, reqs: &[Vec<u8>]) -> Vec<u8> {
        let n: usize = reqs.iter().map(Vec::len).sum();
        let mut b = pol(u16::try_from((16 + n) / 8).unwrap(), POLICY_IPSEC, dir);
        for r in reqs {
            b.extend_from_slice(r);
        }
        b
    }

    /// A transport-mode request.
    fn req(proto: u16, level: u8, reqid: u32) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&16u16.to_ne_bytes());
        r.extend_from_slice(&proto.to_ne_bytes());
        r.extend_from_slice(&[1, level, 0, 0]);
        r.extend_from_slice(&reqid.to_ne_bytes());
        r.extend_from_slice(&[0; 4]);
        r
    }

    #[test]
    fn ipsec_requests_parse_and_read_back() {
        // out ipsec esp/transport//require ah/transport//unique:7
        let b = ipsec(2, &[req(50, 2, 0), req(51, 3, 7)]);
        let p = SockPolicy::parse(&b).unwrap();
        assert_eq!(p.action(), SockAction::Ipsec);
        assert_eq!(p.dir, SockDir::Out);
        let r0 = p.requests[0].unwrap();
        assert_eq!((r0.proto, r0.mode, r0.level, r0.reqid), (50, 1, 2, 0));
        let r1 = p.requests[1].unwrap();
        assert_eq!((r1.proto, r1.level, r1.reqid), (51, 3, 7));
        assert!(p.requests[2].is_none());
        // Read back: the same bytes (exttype 18 and the id filled in).
        let mut out = [0u8; ENCODED_MAX];
        let n = p.encode(0, &mut out).unwrap();
        let mut want = b.clone();
        want[2..4].copy_from_slice(&18u16.to_ne_bytes());
        assert_eq!(&out[..n], &want[..]);
        // Too short a buffer says how much is needed.
        assert_eq!(p.encode(0, &mut out[..40]), Err(48));
    }

    #[test]
    fn unique_without_reqid_keeps_zero() {
        let p = SockPolicy::parse(&ipsec(1, &[req(50, 3, 0)])).unwrap();
        assert_eq!(p.requests[0].unwrap().reqid, 0);
    }

    #[test]
    fn bad_requests_are_refused_as_af_key() {
        // Unknown protocol, mode any, tunnel without endpoints.
        assert_eq!(
            SockPolicy::parse(&ipsec(2, &[req(6, 2, 0)])),
            Err(Errno::EINVAL)
        );
        let mut r = req(50, 2, 0);
        r[4] = 0;
        assert_eq!(SockPolicy::parse(&ipsec(2, &[r])), Err(Errno::EINVAL));
        let mut r = req(50, 2, 0);
        r[4] = 2;
        assert_eq!(SockPolicy::parse(&ipsec(2, &[r])), Err(Errno::EINVAL));
        // More than a bundle holds.
        let seven: Vec<Vec<u8>> = (0..7).map(|_| req(50, 2, 0)).collect();
        assert_eq!(SockPolicy::parse(&ipsec(2, &seven)), Err(Errno(40)));
    }

    #[test]
    fn entrust_reads_back() {
        let mut out = [0u8; ENCODED_MAX];
        let n = SockPolicy::entrust(SockDir::In)
            .encode(9, &mut out)
            .unwrap();
        let mut want = pol(2, POLICY_ENTRUST, 1);
        want[2] = 18;
        want[8..12].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(&out[..n], &want[..]);
    }
}
