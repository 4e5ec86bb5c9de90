// SPDX-License-Identifier: GPL-2.0

//! SADB_DUMP and SADB_X_SPDDUMP streamed to the reader as it drains its
//! socket, so a dump of any size arrives whole (KAME truncates).
//!
//! As af_key: each message is held back until the next one exists, so the
//! last can carry `sadb_msg_seq` 0 (the others count 1, 2, ...); messages
//! are built only while the receive buffer is below [`FILL_LIMIT`], and
//! once `recvmsg` has drained it to half that, the socket's deferred work
//! resumes the dump: on an unbound worker, so on another CPU while the
//! reader reads what is queued (with one CPU online, `recvmsg` resumes it
//! itself, as af_key). The position is the dump
//! order of the last entry sent, so entries added or removed meanwhile
//! never repeat one. Messages are built under the key mutex straight into
//! socket buffers, dozens to a buffer (a batch, read one message per
//! `recvmsg`: `kapi/msg_skb.rs`); copies to user space happen in
//! `recvmsg`, without it.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        errno::Errno,
        pfkey::{MsgHeader, MsgType},
        sad::{proto_to_satype, AddrFilter, SaMessage},
        spd::PolicyRecord,
    },
    kapi::{
        msg_skb::MsgSkb,
        sock::{Gfp, Sock},
    },
    keydb::KeyState,
    pfkey_bcast::to_sender,
    pfkey_build::{append_sized, reply_header},
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
    /// The batch being filled, not yet queued: its last message (at
    /// `last`) may be the dump's last.
    pending: Option<MsgSkb>,
    /// Where the last message of `pending` starts.
    last: usize,
}

/// Room left in a batch below which it is closed: what nearly every
/// message takes (an IPv6 SA with both keys is about 400 bytes).
const MSG_ROOM: usize = 512;

/// The batch sizes, by the slab they come from (1 to 8 KiB: larger ones
/// would come from the page allocator), less the `skb_shared_info` that
/// shares the allocation: the largest one the receive buffer has room
/// for is taken, so a batch never holds more than the reader's buffer
/// would.
const BATCH_SLABS: [usize; 4] = [8192, 4096, 2048, 1024];
const SHINFO_ROOM: usize = 384;

/// A new batch for a receive buffer with `room` bytes left.
fn new_batch(room: usize) -> Result<MsgSkb, Errno> {
    let slab = BATCH_SLABS
        .into_iter()
        .find(|&s| s <= room)
        .unwrap_or(BATCH_SLABS[BATCH_SLABS.len() - 1]);
    // CAST: at most 8 KiB.
    MsgSkb::new_batch((slab - SHINFO_ROOM) as u32, Gfp::Kernel).map_err(|_| Errno::ENOBUFS)
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
        last: 0,
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

/// Continues the dump of `me`, if it has one (the socket's deferred work
/// asked for by a `recvmsg`, or that `recvmsg` with one CPU online).
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

/// Appends the message for one entry, numbered `seq`, to batch `b`.
fn build(req: &MsgHeader, seq: u32, b: &mut MsgSkb, entry: Entry<'_>) -> Result<(), Errno> {
    match entry {
        Entry::Sa(entry) => {
            let hdr = MsgHeader {
                version: req.version,
                seq,
                ..reply_header(
                    req,
                    MsgType::Dump as u8,
                    proto_to_satype(entry.rec.id.proto),
                )
            };
            // With the current lifetime as counted so far, as af_key.
            let counted = entry.counted();
            let msg = SaMessage {
                rec: &entry.rec,
                with_keys: true,
                counted: &counted,
            };
            append_sized(b, &hdr, &msg)
        }
        Entry::Spd(rec) => {
            let hdr = MsgHeader {
                version: req.version,
                seq,
                reserved: 1,
                ..reply_header(req, MsgType::XSpdDump as u8, 0)
            };
            append_sized(b, &hdr, rec)
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
    // Each entry's message is built while the buffer has room; a full
    // batch is queued once the next message exists. The walk descends the
    // tree once per run.
    let mut step = |order: Order, entry: Entry<'_>| {
        let room = sk.rcvbuf_room(FILL_LIMIT.0, FILL_LIMIT.1);
        if room == 0 {
            full = true;
            return false;
        }
        let (closed, batch) = match d.pending.take() {
            Some(b) if b.room() >= MSG_ROOM => (None, Ok(b)),
            // The one closed is queued next: the new one is sized for
            // what is left after it.
            b => {
                let queued = b.as_ref().map_or(0, |b| b.len() + b.room() + SHINFO_ROOM);
                (b, new_batch(room.saturating_sub(queued)))
            }
        };
        let r = batch.and_then(|mut b| {
            let at = b.len();
            build(&d.req, d.count.wrapping_add(1), &mut b, entry).map(|()| (b, at))
        });
        match r {
            Ok((b, at)) => {
                if let Some(c) = closed {
                    to_sender(socks, c, &sk);
                }
                d.pending = Some(b);
                d.last = at;
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
    if let Some(seq) = last.bytes_mut().get_mut(d.last + 8..d.last + 12) {
        seq.copy_from_slice(&0u32.to_ne_bytes());
    }
    to_sender(socks, last, &sk);
    sk.data().dumping.store(false, Release);
    Ok(())
}
