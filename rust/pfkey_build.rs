// SPDX-License-Identifier: GPL-2.0

//! Building PF_KEY messages into kernel buffers with the core's encoder.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        errno::Errno,
        pfkey::{
            wire::{measure, ByteSink, Describe, Encoder, NoMemory, SliceSink},
            MsgHeader, PF_KEY_V2,
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
    encode(&mut buf, hdr, body).map_err(|_| Errno::ENOBUFS)?;
    Ok(buf.0)
}

/// A message built straight into a socket buffer of its size (for
/// replies, where the copy into one was a tenth of the time): sized first
/// ([`measure`]), then built by [`append_sized`].
pub(crate) fn sized_message_skb(hdr: &MsgHeader, body: &impl Describe) -> Result<MsgSkb, Errno> {
    let total = measure(hdr, body).map_err(|_| Errno::ENOBUFS)?;
    let size = u32::try_from(total).map_err(|_| Errno::ENOBUFS)?;
    let mut skb = MsgSkb::new(size, Gfp::Kernel).map_err(|_| Errno::ENOBUFS)?;
    append_measured(&mut skb, hdr, total, body)?;
    Ok(skb)
}

/// Appends a message to a batch, its body sized first: its room is
/// taken and zeroed for the whole message at once and the encoder writes
/// into it as a slice, with no growth check and zeroing per extension
/// (`wire::SliceSink`). A message not of the size measured is not
/// appended (ENOBUFS).
pub(crate) fn append_sized(
    skb: &mut MsgSkb,
    hdr: &MsgHeader,
    body: &impl Describe,
) -> Result<(), Errno> {
    let total = measure(hdr, body).map_err(|_| Errno::ENOBUFS)?;
    append_measured(skb, hdr, total, body)
}

/// As [`append_sized`], `body` measured already at `total` bytes with
/// its header.
fn append_measured(
    skb: &mut MsgSkb,
    hdr: &MsgHeader,
    total: usize,
    body: &impl Describe,
) -> Result<(), Errno> {
    let room = skb.put_zeroed(total).map_err(|_| Errno::ENOBUFS)?;
    let mut sink = SliceSink::new(room);
    if encode(&mut sink, hdr, |e| body.describe(e)).is_ok() && sink.is_full() {
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
