// SPDX-License-Identifier: GPL-2.0

//! One keyed digest over a packet (`crypto_ahash_digest()`), completed
//! synchronously or later from the driver's context, as ah4/ah6 handle it:
//! the job lives in a heap box the completion callback gets back.

use super::{bindings, crypto::Ahash};
use core::ptr::NonNull;
use kernel::prelude::*;

/// The largest digest of our hashes (SHA-512).
pub(crate) const MAX_DIGEST: usize = 64;

/// What a digest covers and continues with.
pub(crate) trait AhashJob: Send + Sized + 'static {
    /// The keyed transform (the job keeps it alive until `complete`);
    /// `None` fails the job with EINVAL.
    fn hash(&self) -> Option<&Ahash>;
    /// The bytes to digest; kept in place until `complete`.
    fn region(&mut self) -> &mut [u8];
    /// Runs once with the result and the digest (valid on success), in
    /// the submitter's context or the driver's (softirq).
    fn complete(self, res: Result<&[u8]>);
}

struct Op<J: AhashJob> {
    req: NonNull<bindings::ahash_request>,
    sg: bindings::scatterlist,
    digest: [u8; MAX_DIGEST],
    job: J,
}

/// Digests the job's whole region; the job's `complete` runs exactly once,
/// now or later.
pub(crate) fn submit<J: AhashJob>(mut job: J) {
    let region = job.region();
    let (buf, len) = (region.as_mut_ptr(), region.len());
    let Ok(n) = u32::try_from(len) else {
        return job.complete(Err(EINVAL));
    };
    let Some(tfm) = job
        .hash()
        .filter(|h| h.digestsize() as usize <= MAX_DIGEST)
        .map(Ahash::as_ptr)
    else {
        return job.complete(Err(EINVAL));
    };
    // The box first, so that running out of memory still completes the
    // job (and counts the drop) instead of losing it.
    let Ok(slot) = KBox::<Op<J>>::new_uninit(GFP_ATOMIC) else {
        return job.complete(Err(ENOMEM));
    };
    // SAFETY: `tfm` is live (the job owns it); GFP_ATOMIC as packets run
    // in softirq.
    let Some(req) =
        NonNull::new(unsafe { bindings::kame_ahash_request_alloc(tfm, bindings::KAME_GFP_ATOMIC) })
    else {
        return job.complete(Err(ENOMEM));
    };
    let op = slot.write(Op {
        req,
        // SAFETY: all-zero is a valid scatterlist before `sg_init_one`.
        sg: unsafe { core::mem::zeroed() },
        digest: [0; MAX_DIGEST],
        job,
    });
    let op = KBox::into_raw(op);
    // SAFETY: `op` is a live box we own until the completion takes it back;
    // `buf..buf+len` is the job's region, kept in place by the job; the
    // request, scatterlist and digest buffer live in the box as long.
    let rc = unsafe {
        bindings::sg_init_one(&mut (*op).sg, buf.cast(), n);
        bindings::kame_ahash_request_set(
            req.as_ptr(),
            &mut (*op).sg,
            n,
            (*op).digest.as_mut_ptr(),
            Some(done::<J>),
            op.cast(),
        );
        bindings::crypto_ahash_digest(req.as_ptr())
    };
    if rc == EINPROGRESS.to_errno() {
        return;
    }
    // SAFETY: finished within the call: the op is ours again.
    unsafe { finish::<J>(op, rc) };
}

/// # Safety
///
/// `op` came from `submit` and the driver is done with it.
unsafe fn finish<J: AhashJob>(op: *mut Op<J>, rc: i32) {
    // SAFETY: by the caller's guarantee the box is ours again.
    let op = unsafe { KBox::from_raw(op) };
    // SAFETY: the request is no longer in use.
    unsafe { bindings::kame_ahash_request_free(op.req.as_ptr()) };
    let Op { job, digest, .. } = KBox::into_inner(op);
    let len = job
        .hash()
        .map_or(0, |h| h.digestsize() as usize)
        .min(MAX_DIGEST);
    let res = super::to_result(rc).map(|()| &digest[..len]);
    job.complete(res);
}

/// # Safety
///
/// The crypto driver's completion for a request `submit` made, `data`
/// being its op.
unsafe extern "C" fn done<J: AhashJob>(data: *mut core::ffi::c_void, err: i32) {
    if err == EINPROGRESS.to_errno() {
        return;
    }
    // SAFETY: the driver completed the request: the op is ours again.
    unsafe { finish::<J>(data.cast(), err) };
}
