// SPDX-License-Identifier: GPL-2.0

//! Network namespaces (`struct net`), borrowed from the kernel.

use super::bindings;
use kernel::types::Opaque;

/// A network namespace.
///
/// # Invariants
///
/// A `&Net` refers to a live `struct net` for the whole lifetime of the
/// reference.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// Borrows the namespace behind `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` points to a `struct net` that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper of `struct net`, and the
        // caller guarantees the namespace lives for `'a`.
        unsafe { &*ptr.cast::<Net>() }
    }

    /// The raw `struct net` pointer, for calls into C.
    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// Whether the current task holds CAP_NET_ADMIN in the user namespace
    /// that owns this network namespace (as af_key and net sysctls check).
    pub(crate) fn current_is_net_admin(&self) -> bool {
        // SAFETY: by the type invariant the namespace is live, so its
        // `user_ns` is a valid user namespace; `ns_capable` only reads it and
        // the current task's credentials.
        unsafe {
            bindings::ns_capable(
                bindings::kame_net_user_ns(self.as_ptr()),
                bindings::KAME_CAP_NET_ADMIN,
            )
        }
    }
}

/// Whether a networking message may be logged now (`net_ratelimit()`: the
/// kernel's shared limit for packet-triggered messages). Any context.
pub(crate) fn net_ratelimit() -> bool {
    // SAFETY: `net_ratelimit` only consults its own rate-limit state.
    unsafe { bindings::net_ratelimit() != 0 }
}
