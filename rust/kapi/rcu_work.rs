// SPDX-License-Identifier: GPL-2.0

//! Dropping a value after an RCU grace period without waiting for one:
//! the value goes to the module's reclaim queue (`queue_rcu_work()`), whose
//! worker drops it in process context once the readers that may still see
//! it are done. Process context matters: what the SAD unlinks ends in
//! crypto transforms and routes, not to be freed from a softirq as
//! `call_rcu()` callbacks are.
//!
//! [`ReclaimQueue`] owns the queue: the module creates it before anything
//! can retire a value, and its drop, after every namespace is gone, waits
//! for the grace periods pending and the drops they queued.

use super::bindings;
use kernel::{prelude::*, sync::rcu, types::Opaque};

/// The module's reclaim queue; dropping it drains it.
pub(crate) struct ReclaimQueue(());

impl ReclaimQueue {
    /// Creates the queue (one per module).
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: no precondition; a second call is not made (one module
        // instance, one `ReclaimQueue`).
        super::to_result(unsafe { bindings::kame_reclaim_wq_create() })?;
        Ok(ReclaimQueue(()))
    }
}

impl Drop for ReclaimQueue {
    fn drop(&mut self) {
        // SAFETY: the queue exists (created by `create`); values retired
        // from now on are dropped synchronously (`drop_after_grace_period`
        // finds no queue).
        unsafe { bindings::kame_reclaim_wq_destroy() };
    }
}

/// A value waiting for its grace period, with the work that drops it.
#[repr(C)]
struct Deferred<T> {
    /// First: the worker gets a pointer to its `work`, the first member.
    rw: Opaque<bindings::rcu_work>,
    value: T,
}

/// Drops `value` after an RCU grace period, in process context, without
/// waiting for it; waits instead if memory or the queue is lacking.
pub(crate) fn drop_after_grace_period<T: Send + 'static>(value: T) {
    let Ok(slot) = KBox::<Deferred<T>>::new_uninit(GFP_KERNEL) else {
        rcu::synchronize_rcu();
        return drop(value);
    };
    let boxed = KBox::write(
        slot,
        Deferred {
            rw: Opaque::uninit(),
            value,
        },
    );
    let p = KBox::into_raw(boxed);
    // SAFETY: `p` is a live, unaliased allocation; `rw` is initialised by
    // the helper before it is queued, and stays put until `run` frees it.
    let queued = unsafe {
        let rw = Opaque::cast_into(core::ptr::addr_of!((*p).rw));
        bindings::kame_queue_rcu_work(rw, Some(run::<T>))
    };
    if !queued {
        // SAFETY: not queued: `p` is still only ours, from `into_raw`.
        let boxed = unsafe { KBox::from_raw(p) };
        rcu::synchronize_rcu();
        drop(boxed);
    }
}

/// # Safety
///
/// Called by the workqueue with the `work` of a `Deferred<T>` that
/// [`drop_after_grace_period`] queued, once, after its grace period.
unsafe extern "C" fn run<T: Send>(work: *mut bindings::work_struct) {
    const { assert!(core::mem::offset_of!(bindings::rcu_work, work) == 0) };
    // SAFETY: `work` is the first member of `rcu_work`, the first field of
    // the `repr(C)` `Deferred<T>` leaked by `into_raw`; the work runs once,
    // so this is the only owner.
    drop(unsafe { KBox::from_raw(work.cast::<Deferred<T>>()) });
}

/// A point in RCU's grace-period sequence, to wait later only for what a
/// grace period since then has not already covered.
pub(crate) struct GraceMark(kernel::ffi::c_ulong);

impl GraceMark {
    /// Now: a grace period from here on covers the readers running now.
    pub(crate) fn now() -> Self {
        // SAFETY: no precondition; it only reads RCU's sequence.
        GraceMark(unsafe { bindings::get_state_synchronize_rcu() })
    }

    /// Whether a whole grace period has passed since the mark was taken.
    pub(crate) fn passed(&self) -> bool {
        // SAFETY: the state came from `get_state_synchronize_rcu()`; this
        // only reads RCU's sequence.
        unsafe { bindings::poll_state_synchronize_rcu(self.0) }
    }

    /// Waits until a whole grace period has passed since the mark was
    /// taken; returns at once if one has (the usual case).
    pub(crate) fn wait(self) {
        // SAFETY: the state came from `get_state_synchronize_rcu()`; this
        // may sleep, as the callers (process context) may.
        unsafe { bindings::cond_synchronize_rcu(self.0) };
    }
}
