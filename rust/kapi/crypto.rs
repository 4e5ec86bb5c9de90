// SPDX-License-Identifier: GPL-2.0

//! Kernel crypto API transforms, owned: an AEAD (`crypto_alloc_aead()`) for
//! ESP and a keyed hash (`crypto_alloc_ahash()`) for AH, each freed, and its
//! key wiped, when dropped (`crypto_free_aead()`/`crypto_free_ahash()` zero
//! the transform's memory).
//!
//! Allocation and keying may sleep (the crypto manager may instantiate a
//! template or load a module): process context only, as the PF_KEY handlers
//! run. The geometry getters may be called from any context, and so may a
//! transform's drop: where it may not sleep (a packet's completion, a
//! softirq, a lock held) the free is handed to [`ModuleCrypto`]'s work item,
//! since a driver's exit may sleep.

use super::bindings;
use core::{ffi::CStr, ptr::NonNull};
use kernel::{error::from_err_ptr, prelude::*, str::CStrExt};

/// Which implementations an allocation accepts.
///
/// The asynchronous ones (hardware engines, `cryptd`-backed SIMD) complete
/// a request later, from their own context, after the call returned
/// `-EINPROGRESS` (or `-EBUSY` when backlogged); the synchronous ones finish
/// within the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Any implementation (type 0, mask 0), as esp4/esp6/ah4/ah6 allocate:
    /// the fastest wins, and its user must handle asynchronous completion.
    MayBeAsync,
    /// Synchronous implementations only (mask `CRYPTO_ALG_ASYNC`).
    #[expect(dead_code, reason = "no user yet: the SA transforms take any")]
    Sync,
}

impl Completion {
    /// `(type, mask)` for `crypto_alloc_*()`.
    fn type_mask(self) -> (u32, u32) {
        match self {
            Completion::MayBeAsync => (0, 0),
            Completion::Sync => (0, bindings::KAME_CRYPTO_ALG_ASYNC),
        }
    }
}

/// The length of `key` as the crypto API takes it; EINVAL past `u32`.
fn key_len(key: &[u8]) -> Result<u32> {
    u32::try_from(key.len()).map_err(|_| EINVAL)
}

/// An AEAD transform (`struct crypto_aead`).
///
/// # Invariants
///
/// `tfm` came from `crypto_alloc_aead()`, is owned by this value and is
/// freed only by `drop`.
pub(crate) struct Aead {
    tfm: NonNull<bindings::crypto_aead>,
}

// SAFETY: a transform is not tied to the task that allocated it; it may be
// used and freed from any task.
unsafe impl Send for Aead {}

// SAFETY: through a shared reference only the transform's fixed geometry is
// read (and, for the data path, requests are issued, which the crypto API
// allows concurrently on one transform); keying takes `&mut self`.
unsafe impl Sync for Aead {}

impl Aead {
    /// Allocates the AEAD algorithm `name` (for instance
    /// `seqiv(rfc4106(gcm(aes)))`). ENOENT if the kernel has no such
    /// algorithm and cannot load or build one.
    pub(crate) fn new(name: &CStr, completion: Completion) -> Result<Aead> {
        let (ty, mask) = completion.type_mask();
        // SAFETY: `name` is NUL-terminated and valid for the call, which
        // copies what it needs; we run in process context, where it may
        // sleep.
        let tfm = unsafe { bindings::crypto_alloc_aead(name.as_char_ptr(), ty, mask) };
        let tfm = from_err_ptr(tfm)?;
        let tfm = NonNull::new(tfm).ok_or(ENOMEM)?;
        // INVARIANT: `tfm` is the transform just allocated, owned by nobody
        // else.
        Ok(Aead { tfm })
    }

    /// Sets the key (`crypto_aead_setkey()`): EINVAL if the algorithm
    /// refuses it, and then the transform has no key.
    pub(crate) fn set_key(&mut self, key: &[u8]) -> Result {
        let len = key_len(key)?;
        // SAFETY: `self.tfm` is a live transform (type invariant) that no one
        // else uses while we hold `&mut self`; `key` is valid for `len`
        // bytes, which the call copies.
        super::to_result(unsafe {
            bindings::crypto_aead_setkey(self.tfm.as_ptr(), key.as_ptr(), len)
        })
    }

    /// Sets the ICV length in bytes (`crypto_aead_setauthsize()`): EINVAL if
    /// the algorithm cannot produce it.
    pub(crate) fn set_authsize(&mut self, bytes: u32) -> Result {
        // SAFETY: as in `set_key`, `self.tfm` is live and ours alone.
        super::to_result(unsafe { bindings::crypto_aead_setauthsize(self.tfm.as_ptr(), bytes) })
    }

    /// The IV length in bytes (`crypto_aead_ivsize()`).
    pub(crate) fn ivsize(&self) -> u32 {
        // SAFETY: `self.tfm` is live (type invariant); the call reads its
        // algorithm's fixed geometry.
        unsafe { bindings::kame_crypto_aead_ivsize(self.tfm.as_ptr()) }
    }

    /// The raw transform, for requests (`aead_op`).
    pub(super) fn as_ptr(&self) -> *mut bindings::crypto_aead {
        self.tfm.as_ptr()
    }

    /// The ICV length in bytes (`crypto_aead_authsize()`).
    pub(crate) fn authsize(&self) -> u32 {
        // SAFETY: as in `ivsize`; the ICV length changes only through
        // `set_authsize`, which takes `&mut self`.
        unsafe { bindings::kame_crypto_aead_authsize(self.tfm.as_ptr()) }
    }

    /// The block size in bytes (`crypto_aead_blocksize()`), 1 for stream
    /// modes: what ESP pads the plaintext to (with at least 4).
    pub(crate) fn blocksize(&self) -> u32 {
        // SAFETY: as in `ivsize`.
        unsafe { bindings::kame_crypto_aead_blocksize(self.tfm.as_ptr()) }
    }
}

impl Drop for Aead {
    fn drop(&mut self) {
        // SAFETY: `self.tfm` came from `crypto_alloc_aead()` and is freed
        // only here (type invariant); nothing can use it after `drop`.
        unsafe { bindings::kame_crypto_free_aead(self.tfm.as_ptr()) }
    }
}

/// A keyed hash transform (`struct crypto_ahash`).
///
/// # Invariants
///
/// `tfm` came from `crypto_alloc_ahash()`, is owned by this value and is
/// freed only by `drop`.
pub(crate) struct Ahash {
    tfm: NonNull<bindings::crypto_ahash>,
}

// SAFETY: as for `Aead`, a transform may be used and freed from any task.
unsafe impl Send for Ahash {}

// SAFETY: as for `Aead`: shared references read fixed geometry (and issue
// requests); keying takes `&mut self`.
unsafe impl Sync for Ahash {}

impl Ahash {
    /// Allocates the hash algorithm `name` (for instance `hmac(sha256)`).
    /// ENOENT if the kernel has no such algorithm and cannot load or build
    /// one.
    pub(crate) fn new(name: &CStr, completion: Completion) -> Result<Ahash> {
        let (ty, mask) = completion.type_mask();
        // SAFETY: as in `Aead::new`.
        let tfm = unsafe { bindings::crypto_alloc_ahash(name.as_char_ptr(), ty, mask) };
        let tfm = from_err_ptr(tfm)?;
        let tfm = NonNull::new(tfm).ok_or(ENOMEM)?;
        // INVARIANT: `tfm` is the transform just allocated, owned by nobody
        // else.
        Ok(Ahash { tfm })
    }

    /// Sets the key (`crypto_ahash_setkey()`): EINVAL if the algorithm
    /// refuses it.
    pub(crate) fn set_key(&mut self, key: &[u8]) -> Result {
        let len = key_len(key)?;
        // SAFETY: `self.tfm` is live and ours alone while we hold
        // `&mut self`; `key` is valid for `len` bytes, which the call copies.
        super::to_result(unsafe {
            bindings::crypto_ahash_setkey(self.tfm.as_ptr(), key.as_ptr(), len)
        })
    }

    /// The raw transform, for requests (`ahash_op`).
    pub(super) fn as_ptr(&self) -> *mut bindings::crypto_ahash {
        self.tfm.as_ptr()
    }

    /// The digest length in bytes (`crypto_ahash_digestsize()`).
    pub(crate) fn digestsize(&self) -> u32 {
        // SAFETY: `self.tfm` is live (type invariant); the call reads its
        // algorithm's fixed geometry.
        unsafe { bindings::kame_crypto_ahash_digestsize(self.tfm.as_ptr()) }
    }
}

impl Drop for Ahash {
    fn drop(&mut self) {
        // SAFETY: `self.tfm` came from `crypto_alloc_ahash()` and is freed
        // only here (type invariant); nothing can use it after `drop`.
        unsafe { bindings::kame_crypto_free_ahash(self.tfm.as_ptr()) }
    }
}

/// The module's side of the crypto API: a notifier that counts the
/// algorithms made usable ([`algs_loaded`]), and the work queue that frees
/// transforms dropped where sleeping is not allowed. One per module,
/// dropped last, once no packet's completion can run: from then on, and
/// before it exists, such a transform is freed on the spot.
pub(crate) struct ModuleCrypto(());

impl ModuleCrypto {
    /// Creates the queue and registers the notifier.
    pub(crate) fn register() -> Result<ModuleCrypto> {
        // SAFETY: no precondition; one module instance, one `ModuleCrypto`.
        super::to_result(unsafe { bindings::kame_tfm_free_wq_create() })?;
        // SAFETY: registers the helper's static notifier block, once.
        if let Err(e) = super::to_result(unsafe { bindings::kame_crypto_watch_algs() }) {
            // SAFETY: created above; nothing has freed through it yet.
            unsafe { bindings::kame_tfm_free_wq_destroy() };
            return Err(e);
        }
        Ok(ModuleCrypto(()))
    }
}

impl Drop for ModuleCrypto {
    fn drop(&mut self) {
        // SAFETY: `register` registered the block; unregistering waits for
        // a notification in progress.
        unsafe { bindings::kame_crypto_unwatch_algs() };
        // SAFETY: `register` made the queue; frees asked for once it is gone
        // are made on the spot, and the module's teardown has waited for
        // every completion that could ask.
        unsafe { bindings::kame_tfm_free_wq_destroy() };
    }
}

/// How many algorithms the crypto API has made usable since the module
/// loaded. A transform allocated when this was lower may have a driver
/// that an allocation now would not pick: a higher-priority one (a
/// `cryptd` or `pcrypt` instance, a hardware engine) arrived since. Read it
/// before allocating.
pub(crate) fn algs_loaded() -> u32 {
    // SAFETY: an atomic read; no precondition.
    unsafe { bindings::kame_crypto_algs_loaded_count() }
}
