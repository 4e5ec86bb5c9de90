// SPDX-License-Identifier: GPL-2.0

//! SADB_DUMP and SADB_X_SPDDUMP streamed to the reader as it drains its
//! socket, so a dump of any size arrives whole (KAME truncates).
//!
//! As af_key: each message is held back until the next one exists, so the
//! last can carry `sadb_msg_seq` 0 (the others count 1, 2, ...); messages
//! are queued only while the receive buffer is below [`FILL_LIMIT`], and
//! `recvmsg` resumes the dump. The position is the dump order of the last
//! entry sent, so entries added or removed meanwhile never repeat one.
//! Messages are built under the key mutex into kernel memory; copies to
//! user space happen in `recvmsg`, without it.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        errno::Errno,
        pfkey::{MsgHeader, MsgType},
        sad::proto_to_satype,
    },
    kapi::sock::Sock,
    keydb::KeyState,
    pfkey_bcast::{broadcast, Target},
    pfkey_build::{message, reply_header},
    pfkey_sock::PfKey,
};
use kernel::prelude::*;

/// The receive buffer share (numerator, denominator) up to which dump
/// messages are queued: af_key's `pfkey_can_dump()`.
const FILL_LIMIT: (usize, usize) = (2, 3);

/// What a dump walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DumpKind {
    /// The SAD (SADB_DUMP).
    Sa,
    /// The SPD (SADB_X_SPDDUMP).
    Spd,
}

/// A dump in progress on one socket.
pub(crate) struct Dump {
    kind: DumpKind,
    /// SAs of this protocol only (`PROTO_ANY`: all).
    proto: u8,
    /// The request's header (version, pid are echoed).
    req: MsgHeader,
    /// Dump order to continue from.
    from: u64,
    /// Messages built so far.
    count: u32,
    /// The last message built, not yet queued.
    pending: Option<KVec<u8>>,
}

/// Starts a dump for `me`: EBUSY if one is running, ENOENT if there is
/// nothing to dump.
pub(crate) fn start(
    st: &mut KeyState,
    me: &Sock<'_, PfKey>,
    req: &MsgHeader,
    kind: DumpKind,
    proto: u8,
) -> Result<(), Errno> {
    let i = st
        .socks
        .iter()
        .position(|k| k.sk.is(me))
        .ok_or(Errno::EINVAL)?;
    if st.socks[i].dump.is_some() {
        return Err(Errno::EBUSY);
    }
    let dump = Dump {
        kind,
        proto,
        req: *req,
        from: 0,
        count: 0,
        pending: None,
    };
    run(st, i, dump)
}

/// Continues the dump of `me`, if it has one (after a `recvmsg`).
pub(crate) fn resume(st: &mut KeyState, me: &Sock<'_, PfKey>) {
    let Some(i) = st.socks.iter().position(|k| k.sk.is(me)) else {
        return;
    };
    if let Some(dump) = st.socks[i].dump.take() {
        // An error ends the dump; the reader has what was sent.
        let _ = run(st, i, dump);
    }
}

/// The next entry's message and position, if any.
fn next(st: &KeyState, d: &Dump) -> Result<Option<(u64, KVec<u8>)>, Errno> {
    let seq = d.count.wrapping_add(1);
    match d.kind {
        DumpKind::Sa => {
            let Some((order, rec)) = st.sad.next_from(d.from, d.proto) else {
                return Ok(None);
            };
            let hdr = MsgHeader {
                version: d.req.version,
                seq,
                ..reply_header(&d.req, MsgType::Dump as u8, proto_to_satype(rec.id.proto))
            };
            Ok(Some((order, message(&hdr, |e| rec.encode(e, true))?)))
        }
        DumpKind::Spd => {
            let Some((order, rec)) = st.spd.next_from(d.from) else {
                return Ok(None);
            };
            let hdr = MsgHeader {
                version: d.req.version,
                seq,
                reserved: 1,
                ..reply_header(&d.req, MsgType::XSpdDump as u8, 0)
            };
            Ok(Some((order, message(&hdr, |e| rec.encode(e))?)))
        }
    }
}

/// Streams as much of `d` to socket `i` as its receive buffer takes; puts
/// the dump back if it is not finished.
fn run(st: &mut KeyState, i: usize, mut d: Dump) -> Result<(), Errno> {
    loop {
        let sk = st.socks[i].sk.get();
        if !sk.rcvbuf_below(FILL_LIMIT.0, FILL_LIMIT.1) {
            st.socks[i].dump = Some(d);
            return Ok(());
        }
        match next(st, &d)? {
            Some((order, msg)) => {
                if let Some(p) = d.pending.replace(msg) {
                    broadcast(&st.socks, &p, Target::One, Some(&sk));
                }
                d.count = d.count.wrapping_add(1);
                d.from = order.saturating_add(1);
            }
            None => {
                let Some(mut last) = d.pending.take() else {
                    return Err(Errno::ENOENT);
                };
                // The last message says so with seq 0.
                if let Some(seq) = last.get_mut(8..12) {
                    seq.copy_from_slice(&0u32.to_ne_bytes());
                }
                broadcast(&st.socks, &last, Target::One, Some(&sk));
                return Ok(());
            }
        }
    }
}
