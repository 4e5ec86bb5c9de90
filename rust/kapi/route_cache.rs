// SPDX-License-Identifier: GPL-2.0

//! A tunnel-mode SA's route to its far end, kept between packets: the
//! kernel's per-CPU `struct dst_cache` (as vxlan and WireGuard keep theirs),
//! which [`Skb::route`](super::skb::Skb::route) reads before it asks the
//! FIB and fills after. A route the FIB has since changed is dropped by the
//! cache's own check, and a cached route holds no device: routes being
//! torn down move to the blackhole device.

use super::bindings;
use core::ptr::NonNull;
use kernel::prelude::*;

/// One SA's route cache.
///
/// # Invariants
///
/// `ptr` came from `kame_dst_cache_new()` and is freed once, by `Drop`.
pub(crate) struct RouteCache {
    ptr: NonNull<bindings::dst_cache>,
}

// SAFETY: the cache is per CPU, each CPU's slot under its own local lock
// (the helpers take it with bottom halves off): any CPU may use it, and
// it may be freed from any once no packet refers to it.
unsafe impl Send for RouteCache {}
// SAFETY: as above: concurrent use from several CPUs is what it is for.
unsafe impl Sync for RouteCache {}

impl RouteCache {
    /// An empty cache (a per-CPU allocation: process context).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions; sleeps (GFP_KERNEL), as SA adds may.
        let ptr = NonNull::new(unsafe { bindings::kame_dst_cache_new() }).ok_or(ENOMEM)?;
        // INVARIANT: made by `kame_dst_cache_new()`.
        Ok(RouteCache { ptr })
    }

    /// The raw cache, for [`Skb::route`](super::skb::Skb::route).
    pub(super) fn as_ptr(&self) -> *mut bindings::dst_cache {
        self.ptr.as_ptr()
    }
}

impl Drop for RouteCache {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the cache is ours and freed only
        // here; no packet uses it any more (they hold the SA it is in).
        unsafe { bindings::kame_dst_cache_free(self.ptr.as_ptr()) };
    }
}
