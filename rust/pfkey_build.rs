// SPDX-License-Identifier: GPL-2.0

//! Building PF_KEY messages into kernel buffers with the core's encoder.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        errno::Errno,
        pfkey::{
            wire::{ByteSink, Encoder, NoMemory, SliceSink},
            MsgHeader, PF_KEY_V2, SADB_MSG_LEN,
        },
    },
    kapi::{msg_skb::MsgSkb, sock::Gfp},
};
use kernel::prelude::*;

/// A growing kernel buffer the encoder writes into.
pub(crate) struct KBuf(KVec<u8>);

impl ByteSink for KBuf {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        self.0
            .extend_from_slice(bytes, GFP_KERNEL)
            .map_err(|_| NoMemory)
    }

    fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
        let at = self.0.len();
        self.0.extend_with(n, 0, GFP_KERNEL).map_err(|_| NoMemory)?;
        self.0.get_mut(at..).ok_or(NoMemory)
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

/// Room first taken for a message: an IPv4 SA with both keys and a proxy
/// address is 280 bytes, an IPv6 one about 400, so one allocation holds
/// nearly every message (growing from 256 reallocated most SA replies).
const FIRST_ALLOC: usize = 512;

/// Builds a message: header `hdr` (its length is computed), then whatever
/// `body` appends. ENOBUFS when memory runs out, as af_key.
pub(crate) fn message(
    hdr: &MsgHeader,
    body: impl FnOnce(&mut Encoder<'_, KBuf>) -> Result<(), NoMemory>,
) -> Result<KVec<u8>, Errno> {
    let mut buf = KBuf(KVec::with_capacity(FIRST_ALLOC, GFP_KERNEL).map_err(|_| Errno::ENOBUFS)?);
    let mut e = Encoder::new(&mut buf, hdr).map_err(|_| Errno::ENOBUFS)?;
    body(&mut e).map_err(|_| Errno::ENOBUFS)?;
    e.finish().map_err(|_| Errno::ENOBUFS)?;
    Ok(buf.0)
}

impl ByteSink for MsgSkb {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NoMemory> {
        MsgSkb::put(self, bytes).map_err(|_| NoMemory)
    }

    fn put_zeroed(&mut self, n: usize) -> Result<&mut [u8], NoMemory> {
        MsgSkb::put_zeroed(self, n).map_err(|_| NoMemory)
    }

    fn patch(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.bytes_mut().get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    fn written(&self) -> usize {
        self.len()
    }
}

/// As [`message`], built straight into a socket buffer (for replies, where
/// the copy into one was a tenth of the time).
pub(crate) fn message_skb(
    hdr: &MsgHeader,
    body: impl FnOnce(&mut Encoder<'_, MsgSkb>) -> Result<(), NoMemory>,
) -> Result<MsgSkb, Errno> {
    // CAST: a small constant.
    let mut skb = MsgSkb::new(FIRST_ALLOC as u32, Gfp::Kernel).map_err(|_| Errno::ENOBUFS)?;
    append_message(&mut skb, hdr, body)?;
    Ok(skb)
}

/// As [`message_skb`], appended to a batch.
pub(crate) fn append_message(
    skb: &mut MsgSkb,
    hdr: &MsgHeader,
    body: impl FnOnce(&mut Encoder<'_, MsgSkb>) -> Result<(), NoMemory>,
) -> Result<(), Errno> {
    encode(skb, hdr, body)
        .map(|_| ())
        .map_err(|_| Errno::ENOBUFS)
}

/// As [`message_skb`], for a message whose extensions' length `len` is
/// known before they are built (a policy's): its room is taken and
/// zeroed at once, in a buffer of its size.
pub(crate) fn sized_message_skb(
    hdr: &MsgHeader,
    len: usize,
    body: impl FnOnce(&mut Encoder<'_, SliceSink<'_>>) -> Result<(), NoMemory>,
) -> Result<MsgSkb, Errno> {
    let size = u32::try_from(SADB_MSG_LEN + len).map_err(|_| Errno::ENOBUFS)?;
    let mut skb = MsgSkb::new(size, Gfp::Kernel).map_err(|_| Errno::ENOBUFS)?;
    append_sized(&mut skb, hdr, len, body)?;
    Ok(skb)
}

/// As [`append_message`], for extensions `len` bytes long, written into
/// room taken and zeroed for the whole message at once: no growth check
/// and zeroing per extension (`wire::SliceSink`). A message not exactly
/// that long is not appended (ENOBUFS).
pub(crate) fn append_sized(
    skb: &mut MsgSkb,
    hdr: &MsgHeader,
    len: usize,
    body: impl FnOnce(&mut Encoder<'_, SliceSink<'_>>) -> Result<(), NoMemory>,
) -> Result<(), Errno> {
    let total = SADB_MSG_LEN + len;
    let room = skb.put_zeroed_message(total).map_err(|_| Errno::ENOBUFS)?;
    let mut sink = SliceSink::new(room);
    if encode(&mut sink, hdr, body).is_ok() && sink.is_full() {
        return Ok(());
    }
    skb.give_back(total);
    Err(Errno::ENOBUFS)
}

/// Writes the message of header `hdr` and extensions `body` into `sink`;
/// its length.
fn encode<S: ByteSink>(
    sink: &mut S,
    hdr: &MsgHeader,
    body: impl FnOnce(&mut Encoder<'_, S>) -> Result<(), NoMemory>,
) -> Result<usize, NoMemory> {
    let mut e = Encoder::new(sink, hdr)?;
    body(&mut e)?;
    e.finish()
}

/// A reply header: the request's, with `msg_type`, `satype` and no errno.
pub(crate) fn reply_header(req: &MsgHeader, msg_type: u8, satype: u8) -> MsgHeader {
    MsgHeader {
        version: PF_KEY_V2,
        msg_type,
        errno: 0,
        satype,
        len: 0,
        reserved: 0,
        seq: req.seq,
        pid: req.pid,
    }
}
