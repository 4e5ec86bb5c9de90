// SPDX-License-Identifier: GPL-2.0

//! Bottom halves held off on this CPU (`local_bh_disable()`) while a
//! guard lives. Packets sent meanwhile wait in the receiver's backlog and
//! are received together when the guard goes, as the segments of a GSO
//! packet are when `dev_hard_start_xmit()` sends its list: a batch, which
//! GRO can merge, instead of one receive pass per packet.

use super::bindings;
use core::marker::PhantomData;

/// Bottom halves are off until this is dropped.
///
/// # Invariants
///
/// Made by [`BhOff::new`], which disabled bottom halves once; dropped on
/// the same CPU and task (it is neither `Send` nor `Sync`).
pub(crate) struct BhOff(PhantomData<*mut ()>);

impl BhOff {
    /// Turns bottom halves off on this CPU.
    pub(crate) fn new() -> Self {
        // SAFETY: nests with any caller's own disabling; undone exactly
        // once, by `Drop`, in the same context (the guard cannot move to
        // another task).
        unsafe { bindings::kame_local_bh_disable() };
        BhOff(PhantomData)
    }
}

impl Drop for BhOff {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `new` disabled bottom halves in
        // this context; this is its one matching enable (which runs the
        // softirqs raised meanwhile).
        unsafe { bindings::kame_local_bh_enable() };
    }
}
