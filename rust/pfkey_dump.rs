// SPDX-License-Identifier: GPL-2.0

//! SADB_DUMP and SADB_X_SPDDUMP streamed to the reader as it drains its
//! socket, so a dump of any size arrives whole (KAME truncates).
//!
//! As af_key: each message is held back until the next one exists, so the
//! last can carry `sadb_msg_seq` 0 (the others count 1, 2, ...); messages
//! are queued only while the receive buffer is below [`FILL_LIMIT`], and
//! `recvmsg` resumes the dump once it has drained to half that. The
//! position is the dump order of the last entry sent, so entries added or
//! removed meanwhile never repeat one. Messages are built under the key
//! mutex straight into socket buffers; copies to user space happen in
//! `recvmsg`, without it.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        errno::Errno,
        pfkey::{MsgHeader, MsgType},
        sad::{proto_to_satype, AddrFilter},
        spd::PolicyRecord,
    },
    kapi::{msg_skb::MsgSkb, sock::Sock},
    keydb::KeyState,
    pfkey_bcast::to_sender,
    pfkey_build::{message_skb, reply_header},
    pfkey_sock::PfKey,
    sad_table::{Order, SaEntry},
};
use kernel::sync::atomic::{Acquire, Release};

/// The receive buffer share (numerator, denominator) up to which dump
/// messages are queued: af_key's `pfkey_can_dump()`. Reading resumes the
/// dump only once the buffer has drained to half of it (af_key's
/// `pfkey_recvmsg()`: a third), so each resume fills a batch rather than
/// one message.
const FILL_LIMIT: (usize, usize) = (2, 3);

/// Whether a reader's `recvmsg` should resume the dump of `sk`: one is
/// running (read without the key mutex) and the buffer has drained to
/// half the fill limit.
pub(crate) fn wants_resume(sk: &Sock<'_, PfKey>) -> bool {
    sk.data().dumping.load(Acquire) && sk.rcvbuf_below(FILL_LIMIT.0, FILL_LIMIT.1 * 2)
}

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
    /// SAs of these addresses only (`SADB_X_EXT_FILTER`).
    filter: Option<AddrFilter>,
    /// The request's header (version, pid are echoed).
    req: MsgHeader,
    /// Dump order to continue from.
    from: u64,
    /// Messages built so far.
    count: u32,
    /// The last message built, not yet queued.
    pending: Option<MsgSkb>,
}

/// Starts a dump for `me`: EBUSY if one is running, ENOENT if there is
/// nothing to dump.
pub(crate) fn start(
    st: &mut KeyState,
    me: &Sock<'_, PfKey>,
    req: &MsgHeader,
    kind: DumpKind,
    proto: u8,
    filter: Option<AddrFilter>,
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
        filter,
        req: *req,
        from: 0,
        count: 0,
        pending: None,
    };
    // Set before anything is queued, so a reader that takes a message
    // of this dump sees it (the queue's lock orders the two).
    me.data().dumping.store(true, Release);
    let r = run(st, i, dump);
    if r.is_err() {
        me.data().dumping.store(false, Release);
    }
    r
}

/// Continues the dump of `me`, if it has one (after a `recvmsg`).
pub(crate) fn resume(st: &mut KeyState, me: &Sock<'_, PfKey>) {
    let Some(i) = st.socks.iter().position(|k| k.sk.is(me)) else {
        return;
    };
    match st.socks[i].dump.take() {
        Some(dump) => {
            // An error ends the dump; the reader has what was sent.
            if run(st, i, dump).is_err() {
                me.data().dumping.store(false, Release);
            }
        }
        None => me.data().dumping.store(false, Release),
    }
}

/// The message for one entry, built into a socket buffer.
fn build(d: &Dump, entry: Entry<'_>) -> Result<MsgSkb, Errno> {
    let seq = d.count.wrapping_add(1);
    match entry {
        Entry::Sa(entry) => {
            let hdr = MsgHeader {
                version: d.req.version,
                seq,
                ..reply_header(
                    &d.req,
                    MsgType::Dump as u8,
                    proto_to_satype(entry.rec.id.proto),
                )
            };
            // With the current lifetime as counted so far, as af_key.
            let counted = entry.counted();
            message_skb(&hdr, |e| entry.rec.encode_counted(e, true, &counted))
        }
        Entry::Spd(rec) => {
            let hdr = MsgHeader {
                version: d.req.version,
                seq,
                reserved: 1,
                ..reply_header(&d.req, MsgType::XSpdDump as u8, 0)
            };
            message_skb(&hdr, |e| rec.encode(e))
        }
    }
}

/// One entry a dump walks over.
enum Entry<'a> {
    Sa(&'a SaEntry),
    Spd(&'a PolicyRecord),
}

/// Streams as much of `d` to socket `i` as its receive buffer takes; puts
/// the dump back if it is not finished.
fn run(st: &mut KeyState, i: usize, mut d: Dump) -> Result<(), Errno> {
    let KeyState {
        socks, sad, spd, ..
    } = &mut *st;
    let socks = &*socks;
    let sk = socks[i].sk.get();
    let (kind, from, proto, filter) = (d.kind, d.from, d.proto, d.filter);
    let mut failed = None;
    let mut full = false;
    // Each entry's message is built, and the one before it queued, while
    // the buffer has room; the walk descends the tree once per batch.
    let mut step = |order: Order, entry: Entry<'_>| {
        if !sk.rcvbuf_below(FILL_LIMIT.0, FILL_LIMIT.1) {
            full = true;
            return false;
        }
        match build(&d, entry) {
            Ok(msg) => {
                if let Some(p) = d.pending.replace(msg) {
                    to_sender(socks, p, &sk);
                }
                d.count = d.count.wrapping_add(1);
                d.from = order.saturating_add(1);
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    };
    match kind {
        DumpKind::Sa => sad.walk_from(from, proto, |o, r| {
            // Skipped entries are not counted: seq numbers what is sent.
            !filter.as_ref().is_none_or(|f| f.matches(&r.rec)) || step(o, Entry::Sa(r))
        }),
        DumpKind::Spd => spd.walk_from(from, |o, r| step(o, Entry::Spd(r))),
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if full {
        st.socks[i].dump = Some(d);
        return Ok(());
    }
    let Some(mut last) = d.pending.take() else {
        return Err(Errno::ENOENT);
    };
    // The last message says so with seq 0.
    if let Some(seq) = last.bytes_mut().get_mut(8..12) {
        seq.copy_from_slice(&0u32.to_ne_bytes());
    }
    to_sender(socks, last, &sk);
    sk.data().dumping.store(false, Release);
    Ok(())
}
