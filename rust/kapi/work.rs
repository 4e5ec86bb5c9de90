// SPDX-License-Identifier: GPL-2.0

//! Delayed work on the system's unbound workqueue: a timer whose handler
//! runs in process context, so it may take mutexes and allocate with
//! `GFP_KERNEL` (the SA lifetime timer takes the key mutex).
//!
//! The owner embeds a [`DelayedWork`] and names its offset through
//! [`HasDelayedWork`]; dropping the field cancels the work and waits for a
//! running handler, so the handler never outlives its owner. An owner with
//! several work items tells them apart by a const `ID`.

use super::bindings;
use core::marker::PhantomData;
use kernel::{prelude::*, types::Opaque};

/// Whether a CPU besides this one is online: work handed to the unbound
/// queue to run beside its asker only pays off then.
pub(crate) fn other_cpu_online() -> bool {
    // SAFETY: reads the online CPU count; no precondition.
    unsafe { bindings::kame_other_cpu_online() }
}

/// A type that embeds a [`DelayedWork<Self, ID>`] and handles it.
///
/// # Safety
///
/// `OFFSET` is the byte offset of a `DelayedWork<Self, ID>` field of
/// `Self`, declared before every field [`HasDelayedWork::run`] uses (fields
/// drop in declaration order, and the work's drop waits for `run` to
/// return).
pub(crate) unsafe trait HasDelayedWork<const ID: u64 = 0>: Sync + Sized {
    /// `core::mem::offset_of!(Self, <the field>)`.
    const OFFSET: usize;

    /// The work: runs in process context, at most once at a time.
    fn run(&self);
}

/// A `struct delayed_work` whose handler is `T`'s `run` for `ID`.
///
/// # Invariants
///
/// `dw` was initialised with [`Self::trampoline`] as its function, and lives
/// inside a `T` at `T`'s `OFFSET` for `ID` (see [`HasDelayedWork`]).
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct DelayedWork<T: HasDelayedWork<ID>, const ID: u64 = 0> {
    #[pin]
    dw: Opaque<bindings::delayed_work>,
    _owner: PhantomData<T>,
}

// SAFETY: the work item is only touched through the workqueue API, which
// serialises itself; `T: Sync` covers `run` on another thread.
unsafe impl<T: HasDelayedWork<ID>, const ID: u64> Send for DelayedWork<T, ID> {}
// SAFETY: as for `Send`: `&self` methods only call the workqueue API.
unsafe impl<T: HasDelayedWork<ID>, const ID: u64> Sync for DelayedWork<T, ID> {}

impl<T: HasDelayedWork<ID>, const ID: u64> DelayedWork<T, ID> {
    /// An idle work item, to embed in a `T` (see [`HasDelayedWork`]).
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(DelayedWork {
            dw <- Opaque::ffi_init(|p: *mut bindings::delayed_work| {
                // SAFETY: `p` is valid for writes and pinned; the helper
                // initialises the whole struct.
                unsafe { bindings::kame_init_delayed_work(p, Some(Self::trampoline)) }
            }),
            _owner: PhantomData,
        })
    }

    /// Runs the handler `ms` milliseconds from now; a pending run is moved
    /// to that time (`mod_delayed_work()`).
    pub(crate) fn schedule_ms(&self, ms: u32) {
        // SAFETY: `dw` is initialised (type invariant) and pinned.
        unsafe { bindings::kame_mod_delayed_work_ms(self.dw.get(), ms) }
    }

    /// # Safety
    ///
    /// Called by the workqueue with the `work` member of a `delayed_work`
    /// this type initialised.
    unsafe extern "C" fn trampoline(work: *mut bindings::work_struct) {
        // `work` is the first member of `struct delayed_work`, which is the
        // first field of this `repr(C)` struct, which lives at `T`'s
        // `OFFSET` for `ID`.
        const { assert!(core::mem::offset_of!(bindings::delayed_work, work) == 0) };
        let owner = work
            .cast::<u8>()
            .wrapping_sub(<T as HasDelayedWork<ID>>::OFFSET)
            .cast::<T>();
        // SAFETY: by the invariants, `owner` points to the live `T` that
        // embeds this work: its drop cancels the work and waits for this
        // call before anything `run` uses goes.
        unsafe { HasDelayedWork::<ID>::run(&*owner) }
    }
}

#[pinned_drop]
impl<T: HasDelayedWork<ID>, const ID: u64> PinnedDrop for DelayedWork<T, ID> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `dw` is initialised; cancelling waits for a running
        // handler and copes with one that re-arms itself.
        unsafe { bindings::cancel_delayed_work_sync(self.dw.get()) };
    }
}
