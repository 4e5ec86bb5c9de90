// SPDX-License-Identifier: GPL-2.0

//! Commands into PF_KEY messages, extension by extension in the order
//! ipsec-tools' `setkeymsg_*()` writes them, so the kernel sees the same
//! bytes as from setkey.

#![forbid(unsafe_code)]

use kame_core::pfkey::wire::{
    ext_type, Address, ByteSink, Encoder, Key, Lifetime, NatTPort, NatTType, NoMemory, Policy,
    PolicyWithRequests, Sa, Sa2, SockAddr,
};
use kame_core::pfkey::{MsgHeader, MsgType, PF_KEY_V2, SADB_MSG_LEN, WORD};

use crate::addr::full_prefix;
use crate::ast::{satype, PolicySpec, SaCmd, SaOp, SpdCmd, SpdOp, UDP_ENCAP_ESPINUDP};
use crate::ipsec::{dir, level};
use crate::parser::ULPROTO_ANY;

/// The NAT-T port setkey uses when an `esp-udp` address has none.
const DEFAULT_NATT_PORT: u16 = 4500;

/// A growable message buffer for the core's [`Encoder`].
#[derive(Debug, Default)]
pub struct MsgBuf(pub Vec<u8>);

impl ByteSink for MsgBuf {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        self.0.try_reserve(bytes.len()).map_err(|_| NoMemory)?;
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
        self.0.try_reserve(n).map_err(|_| NoMemory)?;
        let at = self.0.len();
        self.0.resize(at + n, 0);
        Ok(&mut self.0[at..])
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.0.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    fn written(&self) -> usize {
        self.0.len()
    }
}

/// Why no message could be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Longer than an extension or message can be.
    TooLong,
    /// No source/destination pair of one family.
    FamilyMismatch,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BuildError::TooLong => "message too long",
            BuildError::FamilyMismatch => "no source and destination of the same address family",
        })
    }
}

impl From<NoMemory> for BuildError {
    fn from(_: NoMemory) -> BuildError {
        BuildError::TooLong
    }
}

/// A request header as setkey's `setkeymsg0()`: sequence 0, our pid.
pub fn header(msg_type: MsgType, satype: u8, pid: u32) -> MsgHeader {
    MsgHeader {
        version: PF_KEY_V2,
        msg_type: msg_type as u8,
        satype,
        pid,
        ..Default::default()
    }
}

/// A message that is only a header (`flush`, `dump`, `spdflush`, ...).
pub fn short(msg_type: MsgType, satype: u8, pid: u32) -> Vec<u8> {
    let h = MsgHeader {
        len: (SADB_MSG_LEN / WORD) as u16,
        ..header(msg_type, satype, pid)
    };
    h.encode().to_vec()
}

/// `SADB_GETSPI` from `src` to `dst` for `satype`, in the kernel's
/// default range (no `SPIRANGE`).
pub fn getspi(src: SockAddr, dst: SockAddr, satype: u8, pid: u32) -> Result<Vec<u8>, BuildError> {
    let mut buf = MsgBuf::default();
    let mut e = Encoder::new(&mut buf, &header(MsgType::GetSpi, satype, pid))?;
    let prefix = full_prefix(src.addr.family());
    e.ext(ext_type::ADDRESS_SRC, &address(ULPROTO_ANY, prefix, src))?;
    e.ext(ext_type::ADDRESS_DST, &address(ULPROTO_ANY, prefix, dst))?;
    e.finish()?;
    Ok(buf.0)
}

/// `SADB_X_SPDGET` of policy `id` in direction `dir` (af_key looks it up
/// by both).
pub fn spdget(dir: u8, id: u32, pid: u32) -> Result<Vec<u8>, BuildError> {
    let mut buf = MsgBuf::default();
    let mut e = Encoder::new(&mut buf, &header(MsgType::XSpdGet, 0, pid))?;
    let body = PolicyWithRequests {
        policy: Policy {
            ty: crate::ipsec::ptype::IPSEC,
            dir,
            id,
            priority: 0,
        },
        requests: &[],
    };
    e.ext(ext_type::X_POLICY, &body)?;
    e.finish()?;
    Ok(buf.0)
}

/// `SADB_X_PROMISC` as `setkey -x` sends it (satype 1: turn it on).
pub fn promisc(pid: u32) -> Vec<u8> {
    short(MsgType::XPromisc, 1, pid)
}

fn address(proto: u8, prefixlen: u8, sa: SockAddr) -> Address {
    Address {
        proto,
        prefixlen,
        sa,
    }
}

/// The source/destination pairs of one family, in setkey's order.
fn pairs(src: &[SockAddr], dst: &[SockAddr]) -> Vec<(SockAddr, SockAddr)> {
    let mut out = Vec::new();
    for s in src {
        for d in dst {
            if s.addr.family() == d.addr.family() {
                out.push((*s, *d));
            }
        }
    }
    out
}

fn sa_exts(cmd: &SaCmd) -> (Sa, Sa2) {
    let p = &cmd.p;
    let sa = Sa {
        spi: p.spi,
        replay: p.replay,
        state: 0,
        auth: p.auth,
        encrypt: p.enc,
        flags: p.flags,
    };
    let sa2 = Sa2 {
        mode: p.mode,
        sequence: 0,
        reqid: p.reqid,
    };
    (sa, sa2)
}

fn lifetime(bytes: u64, addtime: u64) -> Lifetime {
    Lifetime {
        allocations: 0,
        bytes,
        addtime,
        usetime: 0,
    }
}

fn key_bits(key: &[u8]) -> Result<Key<'_>, BuildError> {
    let bits = u16::try_from(key.len() * 8).map_err(|_| BuildError::TooLong)?;
    Ok(Key { bits, key })
}

/// One message of `add`, `get` or `delete` for one address pair.
fn sa_message(cmd: &SaCmd, s: SockAddr, d: SockAddr, pid: u32) -> Result<Vec<u8>, BuildError> {
    let p = &cmd.p;
    let msg_type = match cmd.op {
        SaOp::Add => MsgType::Add,
        SaOp::Get => MsgType::Get,
        SaOp::Delete => MsgType::Delete,
    };
    let mut buf = MsgBuf::default();
    let mut e = Encoder::new(&mut buf, &header(msg_type, cmd.satype, pid))?;
    let (sa, sa2) = sa_exts(cmd);
    if cmd.op == SaOp::Add {
        if let Some(k) = p
            .key_enc
            .as_deref()
            .filter(|_| cmd.satype != satype::IPCOMP)
        {
            e.ext(ext_type::KEY_ENCRYPT, &key_bits(k)?)?;
        }
        if let Some(k) = p.key_auth.as_deref() {
            e.ext(ext_type::KEY_AUTH, &key_bits(k)?)?;
        }
        if p.lt_hard != 0 || p.lb_hard != 0 {
            e.ext(ext_type::LIFETIME_HARD, &lifetime(p.lb_hard, p.lt_hard))?;
        }
        if p.lt_soft != 0 || p.lb_soft != 0 {
            e.ext(ext_type::LIFETIME_SOFT, &lifetime(p.lb_soft, p.lt_soft))?;
        }
    }
    e.ext(ext_type::SA, &sa)?;
    e.ext(ext_type::X_SA2, &sa2)?;
    let natt = p.natt.as_ref().filter(|_| cmd.op == SaOp::Add);
    if let Some(n) = natt {
        e.ext(ext_type::X_NAT_T_TYPE, &NatTType(UDP_ENCAP_ESPINUDP))?;
        if let Some(oa) = n.oa {
            let plen = full_prefix(oa.addr.family());
            e.ext(ext_type::X_NAT_T_OA, &address(ULPROTO_ANY, plen, oa))?;
        }
    }
    let plen = full_prefix(s.addr.family());
    e.ext(ext_type::ADDRESS_SRC, &address(ULPROTO_ANY, plen, s))?;
    e.ext(ext_type::ADDRESS_DST, &address(ULPROTO_ANY, plen, d))?;
    if natt.is_some() {
        let port = |a: SockAddr| {
            if a.port == 0 {
                DEFAULT_NATT_PORT
            } else {
                a.port
            }
        };
        e.ext(ext_type::X_NAT_T_SPORT, &NatTPort(port(s)))?;
        e.ext(ext_type::X_NAT_T_DPORT, &NatTPort(port(d)))?;
    }
    e.finish()?;
    Ok(buf.0)
}

/// The messages of `add`, `get` or `delete`: one per address pair.
pub fn sa_messages(cmd: &SaCmd, pid: u32) -> Result<Vec<Vec<u8>>, BuildError> {
    let pairs = pairs(&cmd.src, &cmd.dst);
    if pairs.is_empty() {
        return Err(BuildError::FamilyMismatch);
    }
    pairs
        .into_iter()
        .map(|(s, d)| sa_message(cmd, s, d, pid))
        .collect()
}

fn spd_message(cmd: &SpdCmd, policy: &PolicySpec, pid: u32) -> Result<Vec<u8>, BuildError> {
    let msg_type = match cmd.op {
        SpdOp::Add => MsgType::XSpdAdd,
        SpdOp::Update => MsgType::XSpdUpdate,
        SpdOp::Delete => MsgType::XSpdDelete,
    };
    let mut buf = MsgBuf::default();
    let mut e = Encoder::new(&mut buf, &header(msg_type, satype::UNSPEC, pid))?;
    let body = PolicyWithRequests {
        policy: kame_core::pfkey::wire::Policy {
            ty: policy.ty,
            dir: policy.dir,
            id: 0,
            priority: policy.priority,
        },
        requests: &policy.requests,
    };
    e.ext(ext_type::X_POLICY, &body)?;
    for (t, sel) in [
        (ext_type::ADDRESS_SRC, cmd.src),
        (ext_type::ADDRESS_DST, cmd.dst),
    ] {
        let plen = sel
            .prefix
            .unwrap_or_else(|| full_prefix(sel.addr.addr.family()));
        e.ext(t, &address(cmd.upper, plen, sel.addr))?;
    }
    e.finish()?;
    Ok(buf.0)
}

/// The messages of `spdadd`, `spdupdate` or `spddelete`.
///
/// With `rfc_fwd` (setkey's default on Linux, `-r`; `-k` turns it off) an
/// inbound policy is sent a second time as a forward policy, its first
/// `unique` request downgraded to `require` without a reqid.
pub fn spd_messages(cmd: &SpdCmd, pid: u32, rfc_fwd: bool) -> Result<Vec<Vec<u8>>, BuildError> {
    let mut out = vec![spd_message(cmd, &cmd.policy, pid)?];
    if rfc_fwd && cmd.policy.dir == dir::IN {
        let mut fwd = cmd.policy.clone();
        fwd.dir = dir::FWD;
        if let Some(first) = fwd.requests.first_mut() {
            if first.level == level::UNIQUE {
                first.level = level::REQUIRE;
                first.reqid = 0;
            }
        }
        out.push(spd_message(cmd, &fwd, pid)?);
    }
    Ok(out)
}

/// One `delete` for an SPI found by `deleteall`'s dump.
pub fn delete_spi(
    src: SockAddr,
    dst: SockAddr,
    satype: u8,
    spi: u32,
    pid: u32,
) -> Result<Vec<u8>, BuildError> {
    let cmd = SaCmd {
        op: SaOp::Delete,
        src: vec![src],
        dst: vec![dst],
        satype,
        p: crate::ast::SaParams {
            spi,
            ..Default::default()
        },
    };
    sa_message(&cmd, src, dst, pid)
}
