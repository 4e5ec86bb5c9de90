// SPDX-License-Identifier: GPL-2.0

//! Per-CPU `u64` counters (`alloc_percpu`, `this_cpu_add`): each CPU adds
//! to its own copy without a lock or a shared cache line; a reader folds
//! the copies of every possible CPU.

use super::bindings;
use core::{ffi::c_void, ptr::NonNull};
use kernel::prelude::*;

/// `N` counters, one copy of each per possible CPU.
///
/// Counters wrap modulo 2^64, so adding the two's complement of a value
/// subtracts it. On 64-bit machines (the only ones this module builds for)
/// a reader sees each copy whole.
///
/// # Invariants
///
/// `ptr` is a per-CPU area of `N` `u64`s from `kame_percpu_u64_alloc()`,
/// freed only by `drop`.
pub(crate) struct PerCpuCounters<const N: usize> {
    ptr: NonNull<c_void>,
}

// SAFETY: the area is only touched through `this_cpu_add()` (atomic with
// respect to the local CPU, whatever the context) and `READ_ONCE()` of the
// copies; it may be freed from any context, softirq included.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as for `Send`: concurrent adds and folds are what the per-CPU
// operations are for.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// `N` counters at zero (`alloc_percpu` zeroes the area). Process
    /// context.
    pub(crate) fn new() -> Result<Self> {
        let n = u32::try_from(N).map_err(|_| EINVAL)?;
        // SAFETY: a plain allocation call; a null return is handled below.
        let p = unsafe { bindings::kame_percpu_u64_alloc(n) };
        // INVARIANT: freshly allocated with room for `N` counters.
        NonNull::new(p).map(|ptr| Self { ptr }).ok_or(ENOMEM)
    }

    /// Adds `n` (modulo 2^64) to counter `i` on this CPU; an `i` out of
    /// range is ignored. Any context.
    pub(crate) fn add(&self, i: usize, n: u64) {
        let Ok(i) = u32::try_from(i) else { return };
        if i as usize >= N {
            return;
        }
        // SAFETY: by the type invariant the area is live and holds `N`
        // counters, and `i < N`.
        unsafe { bindings::kame_percpu_u64_add(self.ptr.as_ptr(), i, n) };
    }

    /// Counter `i` summed over every possible CPU (0 for an `i` out of
    /// range). Any context; adds running meanwhile may or may not be seen.
    pub(crate) fn sum(&self, i: usize) -> u64 {
        match u32::try_from(i) {
            // SAFETY: by the type invariant the area is live and holds `N`
            // counters, and `i < N`.
            Ok(i) if (i as usize) < N => unsafe {
                bindings::kame_percpu_u64_sum(self.ptr.as_ptr(), i)
            },
            _ => 0,
        }
    }

    /// Sets counter `i` back to zero by adding its negated sum on this CPU,
    /// so that adds on other CPUs meanwhile are kept, not lost to a store.
    /// Two resets of one counter at once would each subtract the other's
    /// share: the caller serialises them. Any context.
    pub(crate) fn zero(&self, i: usize) {
        self.add(i, self.sum(i).wrapping_neg());
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the area is ours and freed once;
        // `free_percpu()` may be called from atomic context.
        unsafe { bindings::kame_percpu_free(self.ptr.as_ptr()) };
    }
}
