// SPDX-License-Identifier: GPL-2.0

//! One in-place AEAD operation on a packet (`crypto_aead_encrypt()` /
//! `crypto_aead_decrypt()`), completed synchronously or later from the
//! crypto driver's context, as esp4/esp6 handle it: the job (the packet and
//! what references its SA) lives in a heap box that the completion
//! callback gets back. The packet is worked on where it is, its linear
//! part and page fragments, so a trailer in a fragment of its own costs
//! no copy.

use super::{bindings, crypto::Aead, skb::Skb};
use core::ptr::NonNull;
use kernel::prelude::*;

/// What an AEAD operation works on and continues with.
pub(crate) trait AeadJob: Send + Sized + 'static {
    /// The keyed transform; the job keeps it alive until `complete`.
    fn aead(&self) -> &Aead;
    /// The packet to work on, and the offset in it of the bytes to work
    /// on: associated data, then the text (and on decryption the ICV after
    /// it). The packet must be private ([`Skb::make_private`]) in at most
    /// [`MAX_FRAGS`] fragments; the job must not change it until
    /// `complete`.
    fn packet(&mut self) -> (&mut Skb, usize);
    /// Runs once, with the operation's result (`EBADMSG`: the ICV did not
    /// verify), in the submitter's context or the driver's (softirq).
    fn complete(self, res: Result);
}

/// Encrypt or decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `crypto_aead_encrypt()`: the ICV is written after the text.
    Encrypt,
    /// `crypto_aead_decrypt()`: the ICV after the text is checked.
    Decrypt,
}

/// The largest IV any of our transforms takes, with room to spare.
pub(crate) const MAX_IV: usize = 16;

/// The most page fragments a packet may have besides its linear part:
/// one for the trailer [`Skb::put_tail`] adds, and a few for packets
/// other senders built.
pub(crate) const MAX_FRAGS: usize = 3;

/// A submitted operation: the request, its scatterlist and IV, and the
/// job.
struct Op<J: AeadJob> {
    req: NonNull<bindings::aead_request>,
    sg: [bindings::scatterlist; MAX_FRAGS + 1],
    iv: [u8; MAX_IV],
    job: J,
}

/// Submits one operation: `assoclen` bytes of associated data at the start
/// of the job's region, `cryptlen` bytes of text after them (the ICV
/// included on decryption), `iv` for the IV generator or the cipher. The
/// job's `complete` runs exactly once, now or later.
pub(crate) fn submit<J: AeadJob>(
    dir: Direction,
    job: J,
    assoclen: usize,
    cryptlen: usize,
    iv: &[u8],
) {
    let (Ok(alen), Ok(clen)) = (u32::try_from(assoclen), u32::try_from(cryptlen)) else {
        return job.complete(Err(EINVAL));
    };
    let icv = if dir == Direction::Encrypt {
        job.aead().authsize() as usize
    } else {
        0
    };
    if iv.len() > MAX_IV {
        return job.complete(Err(EINVAL));
    }
    // The box first, so that running out of memory still completes the
    // job (and counts the drop) instead of losing it.
    let Ok(slot) = KBox::<Op<J>>::new_uninit(GFP_ATOMIC) else {
        return job.complete(Err(ENOMEM));
    };
    let tfm = job.aead().as_ptr();
    // SAFETY: `tfm` is a live transform (the job owns it); GFP_ATOMIC as
    // packets run in softirq.
    let Some(req) =
        NonNull::new(unsafe { bindings::kame_aead_request_alloc(tfm, bindings::KAME_GFP_ATOMIC) })
    else {
        return job.complete(Err(ENOMEM));
    };
    let mut ivbuf = [0u8; MAX_IV];
    ivbuf[..iv.len()].copy_from_slice(iv);
    let mut op = slot.write(Op {
        req,
        // SAFETY: all-zero is a valid scatterlist before `fill_sg` sets it.
        sg: unsafe { core::mem::zeroed() },
        iv: ivbuf,
        job,
    });
    let Op { job, sg, .. } = &mut *op;
    let (skb, off) = job.packet();
    if let Err(e) = skb.fill_sg(sg, off, assoclen + cryptlen + icv) {
        // SAFETY: the request was never submitted.
        return unsafe { finish::<J>(KBox::into_raw(op), e.to_errno()) };
    }
    let op = KBox::into_raw(op);
    // SAFETY: `op` is a live box we own until the completion takes it back;
    // its scatterlist covers bytes of the job's packet, which the job keeps
    // in place; the request, scatterlist and IV live in the box as long.
    let rc = unsafe {
        bindings::kame_aead_request_set(
            req.as_ptr(),
            (*op).sg.as_mut_ptr(),
            alen,
            clen,
            (*op).iv.as_mut_ptr(),
            Some(done::<J>),
            op.cast(),
        );
        match dir {
            Direction::Encrypt => bindings::crypto_aead_encrypt(req.as_ptr()),
            Direction::Decrypt => bindings::crypto_aead_decrypt(req.as_ptr()),
        }
    };
    if rc == EINPROGRESS.to_errno() {
        return;
    }
    // Finished within the call (or refused: `-EBUSY` without a backlog).
    // SAFETY: the driver will not call back: the op is ours again.
    unsafe { finish::<J>(op, rc) };
}

/// # Safety
///
/// `op` came from `submit` and the driver is done with it.
unsafe fn finish<J: AeadJob>(op: *mut Op<J>, rc: i32) {
    // SAFETY: by the caller's guarantee the box is ours again.
    let op = unsafe { KBox::from_raw(op) };
    // SAFETY: the request is no longer in use.
    unsafe { bindings::kame_aead_request_free(op.req.as_ptr()) };
    let res = kernel::error::to_result(rc);
    let Op { job, .. } = KBox::into_inner(op);
    job.complete(res);
}

/// # Safety
///
/// The crypto driver's completion for a request `submit` made, `data`
/// being its op.
unsafe extern "C" fn done<J: AeadJob>(data: *mut core::ffi::c_void, err: i32) {
    // A backlogged request reports that it started: not the end yet.
    if err == EINPROGRESS.to_errno() {
        return;
    }
    // SAFETY: the driver completed the request: the op is ours again.
    unsafe { finish::<J>(data.cast(), err) };
}
