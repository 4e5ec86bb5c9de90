// SPDX-License-Identifier: GPL-2.0

//! Why the data path drops a packet, as the kernel's drop reasons see it.
//!
//! Each [`DropReason`] frees through its own C function
//! (`helpers/drop.c`), which passes the closest core `enum
//! skb_drop_reason` to `kfree_skb_reason()` and is itself the location the
//! `skb:kfree_skb` tracepoint records: `perf`, `dropwatch` and tracefs show
//! the core reason and, as the location, `kame_drop_icv`,
//! `kame_drop_policy`... A module cannot register drop reasons of its own:
//! the subsystems are a fixed enum (`include/net/dropreason.h`).

use super::bindings;

/// A class of drop, with the core reason it is freed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// A policy refused the packet (`XFRM_POLICY`).
    Policy,
    /// A `require` request had no SA (`XFRM_POLICY`).
    NoSa,
    /// `net.inet.esp.enable`/`net.inet.ah.enable` is 0 (`XFRM_POLICY`).
    Disabled,
    /// Too big once protected (`PKT_TOO_BIG`).
    TooBig,
    /// Shorter than its SA's headers (`PKT_TOO_SMALL`).
    Short,
    /// The crypto layer failed: memory, a driver's error (`NOMEM`).
    Crypto,
    /// The queue of the CPU chosen to decrypt it was full
    /// (`CPU_BACKLOG`).
    QueueFull,
    /// The ICV did not verify (`NOT_SPECIFIED`: the core has none).
    Icv,
    /// Replayed or older than the window (`NOT_SPECIFIED`).
    Replay,
    /// A bad trailer, padding or inner header (`NOT_SPECIFIED`).
    BadEncoding,
    /// The SA cannot be used: no transform, or past a hard limit
    /// (`NOT_SPECIFIED`).
    Sa,
    /// The SA's sequence numbers ran out (`NOT_SPECIFIED`).
    Wrap,
    /// The namespace is going (`NOT_SPECIFIED`).
    Exiting,
    /// The packet could not be laid out or routed (`NOT_SPECIFIED`).
    Invalid,
}

/// Frees `skb` for `why`.
///
/// # Safety
///
/// `skb` is a valid skb the caller owns and passes on.
pub(super) unsafe fn free(skb: *mut bindings::sk_buff, why: DropReason) {
    let f = match why {
        DropReason::Policy => bindings::kame_drop_policy,
        DropReason::NoSa => bindings::kame_drop_nosa,
        DropReason::Disabled => bindings::kame_drop_disabled,
        DropReason::TooBig => bindings::kame_drop_toobig,
        DropReason::Short => bindings::kame_drop_short,
        DropReason::Crypto => bindings::kame_drop_crypto,
        DropReason::QueueFull => bindings::kame_drop_qfull,
        DropReason::Icv => bindings::kame_drop_icv,
        DropReason::Replay => bindings::kame_drop_replay,
        DropReason::BadEncoding => bindings::kame_drop_badenc,
        DropReason::Sa => bindings::kame_drop_sa,
        DropReason::Wrap => bindings::kame_drop_wrap,
        DropReason::Exiting => bindings::kame_drop_exiting,
        DropReason::Invalid => bindings::kame_drop_invalid,
    };
    // SAFETY: the caller passes ownership of a valid skb, which each of
    // these functions frees.
    unsafe { f(skb) };
}
