// SPDX-License-Identifier: GPL-2.0

//! The ACQUIRE engine, under the key mutex: decides whether a packet's
//! request for an SA becomes an SADB_ACQUIRE (one per SA template while
//! its larval entry lives, as XFRM's ACQ states; [`AcqTable`]), sends it
//! to registered sockets in af_key's layout (`pfkey_send_acquire()`), and
//! expires larval entries with af_key's hard SADB_EXPIRE. GETSPI takes a
//! larval entry over ([`take_for_getspi`]); a daemon's SADB_ACQUIRE with an
//! errno marks it failed (`pfkey_acquire()`, in the handlers).

#![forbid(unsafe_code)]

use crate::{
    acquire_queue::AcquireRequest,
    kame_core::{
        acquire::{AcqTable, Acquire, Larval, Raised, Template},
        pfkey::{
            wire::{Address, IpAddr, SockAddr},
            MsgHeader, MsgType, PF_KEY_V2,
        },
        sad::{proto_to_satype, Expiry, SaRecord, SaState},
    },
    keydb::KeyState,
    pfkey_bcast::{broadcast, Target},
    pfkey_build::message,
};

/// Larval entries a namespace keeps at most: ACQUIREs for more distinct
/// SAs at once wait until some are answered or expire.
pub(crate) const ACQ_SLOTS: usize = 128;

/// The larval entries of a namespace.
pub(crate) type Acquires = AcqTable<ACQ_SLOTS>;

/// A packet needs the SA `req` describes, at `now`: sends an ACQUIRE
/// unless one is in flight for it, an SA (larval included, as XFRM's ACQ
/// state after GETSPI) exists meanwhile, or its policy is gone.
pub(crate) fn request(st: &mut KeyState, req: &AcquireRequest, now: u64) {
    let tmpl = Template {
        proto: req.proto,
        mode: req.mode,
        reqid: req.reqid,
        src: req.src.without_scope(),
        dst: req.dst.without_scope(),
    };
    if st.sad.covers(&tmpl) {
        return;
    }
    let priority = if req.socket {
        0
    } else {
        match st.spd.get_by_id(req.policy_id) {
            Some(p) => p.priority,
            None => return,
        }
    };
    if let Raised::Send(seq) = st.acq.raise(&tmpl, now) {
        let acq = Acquire {
            proto: tmpl.proto,
            src: tmpl.src,
            dst: tmpl.dst,
            policy_id: req.policy_id,
            priority,
        };
        let hdr = header(MsgType::Acquire, tmpl.proto, seq);
        let available =
            |a: &crate::kame_core::algs::AlgDesc| crate::crypto_probe::has(a.crypto_name);
        // Lost if memory is short, as af_key's; the entry still holds
        // ACQUIREs back for its lifetime, as XFRM's ACQ state does.
        if let Ok(msg) = message(&hdr, |e| acq.encode(e, &available)) {
            // af_key's BROADCAST_REGISTERED: sockets registered for any
            // SA type, and promiscuous ones.
            broadcast(&st.socks, &msg, Target::Registered, None);
        }
    }
}

fn header(ty: MsgType, proto: u8, seq: u32) -> MsgHeader {
    MsgHeader {
        version: PF_KEY_V2,
        msg_type: ty as u8,
        errno: 0,
        satype: proto_to_satype(proto),
        len: 0,
        reserved: 0,
        seq,
        pid: 0,
    }
}

/// The larval SA record of an entry, as GETSPI keeps it and EXPIRE
/// describes it: its template, the ACQUIRE's seq, added when it was.
pub(crate) fn larval_record(l: &Larval) -> SaRecord {
    let addr = |a: IpAddr| Address {
        proto: 0,
        prefixlen: a.bits(),
        sa: SockAddr { addr: a, port: 0 },
    };
    let t = &l.tmpl;
    SaRecord::larval(
        t.proto,
        &addr(t.src),
        &addr(t.dst),
        t.mode,
        t.reqid,
        l.seq,
        l.added,
    )
}

/// GETSPI: the larval entry its seq names for `dst`, else the one for
/// `tmpl` if the request gave mode and reqid (af_key's
/// `xfrm_find_acq_byseq()`, then `xfrm_find_acq()`), removed.
pub(crate) fn take_for_getspi(
    acq: &mut Acquires,
    seq: u32,
    dst: &IpAddr,
    tmpl: Option<&Template>,
) -> Option<Larval> {
    acq.take_by_seq(seq, dst)
        .or_else(|| tmpl.and_then(|t| acq.take_by_template(t)))
}

/// Expires the larval entries due at `now`, each with a hard SADB_EXPIRE
/// to registered sockets (XFRM deletes an expired ACQ state with
/// `km_state_expired(x, 1, 0)`).
pub(crate) fn expire(st: &mut KeyState, now: u64) {
    while let Some(l) = st.acq.expire(now) {
        let mut rec = larval_record(&l);
        rec.state = SaState::Dead;
        crate::sa_expiry::send_expire(st, &rec, Expiry::Hard);
    }
}
