// SPDX-License-Identifier: GPL-2.0

//! One in-place AEAD operation on a packet (`crypto_aead_encrypt()` /
//! `crypto_aead_decrypt()`), completed synchronously or later from the
//! crypto driver's context, as esp4/esp6 handle it: the job (the packet and
//! what references its SA) lives in a heap box that the completion
//! callback gets back, in the same allocation as the crypto request. The packet is worked on where it is, its linear
//! part and page fragments, so a trailer in a fragment of its own costs
//! no copy.

use super::{
    bindings,
    crypto::Aead,
    netdev::DevRef,
    rx_queue::{self, Queued, Steering},
    skb::Skb,
};
use core::{mem::MaybeUninit, ptr::NonNull};
use kernel::prelude::*;

/// What an AEAD operation works on and continues with.
pub(crate) trait AeadJob: Send + Sized + 'static {
    /// The keyed transform, which the job keeps alive until `complete`;
    /// `None` fails the operation (`EINVAL`).
    fn aead(&self) -> Option<&Aead>;
    /// The packet to work on, and the offset in it of the bytes to work
    /// on: associated data, then the text (and on decryption the ICV after
    /// it). The packet must be private ([`Skb::make_private`]) in at most
    /// [`MAX_FRAGS`] fragments; the job must not change it until
    /// `complete`.
    fn packet(&mut self) -> (&mut Skb, usize);
    /// Runs once, with the operation's result (`EBADMSG`: the ICV did not
    /// verify), in the submitter's context, the driver's (softirq), or,
    /// for a decryption handed to another CPU, its worker's (bottom halves
    /// off); with `ENOBUFS` if that CPU's queue had no room.
    fn complete(self, res: Result);
    /// For a decryption that may run on another CPU ([`rx_queue`]): a
    /// device of ours the job holds, for the packet to be on meanwhile.
    fn rx_dev(&self) -> Option<&DevRef> {
        None
    }
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

/// A submitted operation: the job, its scatterlist and IV, at the start of
/// one allocation whose end holds the crypto request and the transform's
/// context (as `esp_alloc_tmp()` lays out esp4's), so a packet costs one
/// allocation, freed with a plain `kfree()` as esp4 frees its own.
struct Op<J: AeadJob> {
    /// Set up by [`Skb::fill_sg`], which initialises what it uses.
    sg: [MaybeUninit<bindings::scatterlist>; MAX_FRAGS + 1],
    iv: [u8; MAX_IV],
    job: J,
}

/// Submits one operation: `assoclen` bytes of associated data at the start
/// of the job's region, `cryptlen` bytes of text after them (the ICV
/// included on decryption), `iv` for the IV generator or the cipher (its
/// first `crypto_aead_ivsize()` bytes are read: callers refuse SAs whose
/// IV is longer). The job's `complete` runs exactly once, now or later.
/// A decryption with `steer` (its SA's, which the caller keeps alive: the
/// job's own reference may go with the job on another CPU before this
/// returns) and the job's [`AeadJob::rx_dev`] may run on another CPU.
/// Inlined, so the job is written straight into its box rather than
/// built on the stack and copied there (a 160- to 200-byte `memcpy` per
/// packet).
#[inline(always)]
pub(crate) fn submit<J: AeadJob>(
    dir: Direction,
    job: J,
    assoclen: usize,
    cryptlen: usize,
    iv: &[u8; MAX_IV],
    steer: Option<&Steering>,
) {
    let (Ok(alen), Ok(clen)) = (u32::try_from(assoclen), u32::try_from(cryptlen)) else {
        return job.complete(Err(EINVAL));
    };
    let Some(aead) = job.aead() else {
        return job.complete(Err(EINVAL));
    };
    let icv = if dir == Direction::Encrypt {
        aead.authsize() as usize
    } else {
        0
    };
    let tfm = aead.as_ptr();
    let mut req = core::ptr::null_mut();
    // SAFETY: `tfm` is a live transform (the job owns it); GFP_ATOMIC as
    // packets run in softirq; `req` is a place for the request's address.
    let mem = unsafe {
        bindings::kame_aead_op_alloc(tfm, size_of::<Op<J>>(), &mut req, bindings::KAME_GFP_ATOMIC)
    };
    let Some(mem) = NonNull::new(mem.cast::<Op<J>>()) else {
        return job.complete(Err(ENOMEM));
    };
    // kmalloc()'s alignment (8 bytes at least) suits every job we have:
    // checked, not assumed.
    let (Some(req), true) = (NonNull::new(req), mem.as_ptr().is_aligned()) else {
        // SAFETY: the allocation is ours and holds nothing yet.
        unsafe { bindings::kame_aead_op_free(mem.as_ptr().cast()) };
        return job.complete(Err(ENOMEM));
    };
    // Field by field, in place: no copy of the whole op through the
    // stack. The scatterlist is left uninitialised for `fill_sg`, which
    // initialises the entries it uses (zeroing all of it here as well
    // was a `memset` call per packet).
    let op = mem.as_ptr();
    // SAFETY: `mem` has room for an `Op<J>` before the request (`head`),
    // aligned (checked above), uninitialised and ours alone.
    unsafe {
        core::ptr::addr_of_mut!((*op).iv).write(*iv);
        core::ptr::addr_of_mut!((*op).job).write(job);
    }
    // SAFETY: initialised above; nobody else sees it before submission.
    let Op { job, sg, .. } = unsafe { &mut *op };
    let (skb, off) = job.packet();
    if let Err(e) = skb.fill_sg(sg, off, assoclen + cryptlen + icv) {
        // SAFETY: the request was never submitted.
        return unsafe { finish::<J>(op, e.to_errno()) };
    }
    let skb = skb.as_ptr();
    // The scatterlist is initialised up to the entry `fill_sg` marked last.
    // SAFETY: `op` is ours until the completion takes it back; its
    // scatterlist covers the job's packet, kept in place by the job; the
    // request, scatterlist and IV share the op's allocation.
    unsafe {
        bindings::kame_aead_request_set(
            req.as_ptr(),
            (*op).sg.as_mut_ptr().cast(),
            alen,
            clen,
            (*op).iv.as_mut_ptr(),
            Some(done::<J>),
            op.cast(),
        )
    };
    if let (Direction::Decrypt, Some(st), Some(dev)) = (dir, steer, job.rx_dev()) {
        let dev = dev.as_ptr();
        // SAFETY: the request is complete and ours; `done` frees it; `skb`
        // is the job's packet and `dev` a device it holds. Once queued,
        // neither the op nor the job is touched here again.
        match unsafe { rx_queue::hand_off(st, req.as_ptr(), skb, dev) } {
            Queued::Yes => return,
            // SAFETY: never submitted: the op is ours.
            Queued::Full => return unsafe { finish::<J>(op, ENOBUFS.to_errno()) },
            Queued::No => {}
        }
    }
    // SAFETY: as above; the request goes to the driver.
    let rc = unsafe {
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
/// `op` was initialised by `submit` and the driver is done with it.
unsafe fn finish<J: AeadJob>(op: *mut Op<J>, rc: i32) {
    // Up to 128 bytes the compiler reads the job out with word moves;
    // beyond, it calls `memcpy`, which this kernel runs as `rep movsb`
    // (a byte per step under QEMU's TCG, and not cheap on hardware for
    // a copy this short).
    const { assert!(size_of::<J>() <= 128) };
    // SAFETY: by the caller's guarantee the op is initialised and ours
    // again; its job is read out once (only the job: the scatterlist and
    // IV are not copied), and its memory freed next.
    let job = unsafe { core::ptr::addr_of!((*op).job).read() };
    // SAFETY: `op` is the start of `kame_aead_op_alloc()`'s allocation,
    // whose job was moved out above (the rest needs no drop).
    unsafe { bindings::kame_aead_op_free(op.cast()) };
    job.complete(super::to_result(rc));
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
