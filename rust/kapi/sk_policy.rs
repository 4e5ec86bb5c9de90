// SPDX-License-Identifier: GPL-2.0

//! Per-socket policies where the kernel keeps them: in the `struct
//! xfrm_policy` that `sk->sk_policy[dir]` points to (see [`super::xfrm_km`]).
//!
//! The policy we compile carries a tag, the number of our own record of it
//! (helpers/sk_policy.c says where it sits): the kernel copies it to an
//! accepted TCP socket with the rest of its listener's policy and frees it
//! with the socket, so we never track sockets. The tag also holds a cookie
//! drawn when the module loads: a policy compiled by an earlier load of the
//! module reads as [`SkPolicy::Stale`], not as one of this load's records.
//! This module reads tags from a packet's socket, and from the socket a
//! received TCP or UDP packet is for (the kernel's own lookups).

use super::{bindings, netdev::DevRef, netfilter::HookState, skb::Skb, xfrm_km::PolicyDir};
use kernel::sync::atomic::{Atomic, Relaxed};

/// This module load's cookie (0 until [`init_cookie`]).
static COOKIE: Atomic<u32> = Atomic::new(0);

/// Draws this load's cookie; called once, before the key manager that
/// writes tags is registered.
pub(crate) fn init_cookie() {
    // SAFETY: no preconditions.
    let c = unsafe { bindings::get_random_u32() };
    COOKIE.store(c, Relaxed);
}

/// What a socket's policy in one direction is to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SkPolicy {
    /// None, or one we did not compile (xfrm_user's `IP_XFRM_POLICY`):
    /// the kernel's IPsec core applies those itself.
    None,
    /// One of ours: record `id`; `index` is the kernel's policy index.
    Ours { id: u32, index: u32 },
    /// Compiled by an earlier load of this module.
    Stale { index: u32 },
}

fn dir_of(dir: PolicyDir) -> i32 {
    match dir {
        PolicyDir::In => bindings::KAME_XFRM_POLICY_IN,
        PolicyDir::Out => bindings::KAME_XFRM_POLICY_OUT,
    }
}

fn decode(ret: i32, id: u32, index: u32) -> SkPolicy {
    match ret as u32 {
        bindings::KAME_SKPOL_OURS => SkPolicy::Ours { id, index },
        bindings::KAME_SKPOL_STALE => SkPolicy::Stale { index },
        _ => SkPolicy::None,
    }
}

/// Writes the tag of record `id` into `xp`.
///
/// # Safety
///
/// `xp` is a policy just allocated and not yet shared.
pub(super) unsafe fn set_tag(xp: *mut bindings::xfrm_policy, id: u32) {
    // SAFETY: the caller passes an unshared, live policy.
    unsafe { bindings::kame_xfrm_policy_set_tag(xp, COOKIE.load(Relaxed), id) };
}

/// Reads the tag of the policy in `dir` of `sk`.
///
/// # Safety
///
/// `sk` is a live full socket.
pub(super) unsafe fn of_sock(sk: *const bindings::sock, dir: PolicyDir) -> SkPolicy {
    let (mut id, mut index) = (0, 0);
    // SAFETY: the caller passes a live full socket; the helper reads its
    // policy under the RCU read lock.
    let ret = unsafe {
        bindings::kame_sk_policy_tag(sk, dir_of(dir), COOKIE.load(Relaxed), &mut id, &mut index)
    };
    decode(ret, id, index)
}

/// The policy in `dir` of the socket `skb` was sent from (a listener for
/// its SYN-ACKs); `None` for forwarded packets and for packets of no full
/// socket (TIME_WAIT).
pub(crate) fn of_skb(skb: &Skb, dir: PolicyDir) -> SkPolicy {
    let (mut id, mut index) = (0, 0);
    // SAFETY: `skb` is live and ours for the call; the helper takes its
    // socket's policy under the RCU read lock.
    let ret = unsafe {
        bindings::kame_skb_sk_policy_tag(
            skb.as_ptr(),
            dir_of(dir),
            COOKIE.load(Relaxed),
            &mut id,
            &mut index,
        )
    };
    decode(ret, id, index)
}

/// Who a received packet is for: the protocol, and the addresses (4 or
/// 16 bytes) and ports of the packet as it arrived.
pub(crate) struct Receiver<'a> {
    pub(crate) proto: u8,
    pub(crate) src: &'a [u8],
    pub(crate) sport: u16,
    pub(crate) dst: &'a [u8],
    pub(crate) dport: u16,
}

/// The inbound policy of the local TCP or UDP socket `r` is for, arriving
/// on the device of `st`.
pub(crate) fn of_receiver_at(st: &HookState, r: &Receiver<'_>) -> SkPolicy {
    // SAFETY: the hook's input device is live while the hook runs.
    unsafe { of_receiver(st.in_dev(), r) }
}

/// The same for a packet about to arrive on `dev`.
pub(crate) fn of_receiver_on(dev: &DevRef, r: &Receiver<'_>) -> SkPolicy {
    // SAFETY: we hold a reference on `dev`.
    unsafe { of_receiver(dev.as_ptr(), r) }
}

/// The inbound policy of the local TCP or UDP socket `r` is for, as the
/// kernel's own lookup finds it (established or connected first, then
/// listening or bound) in the namespace of `dev`; `None` for other
/// protocols and when no socket takes the packet.
///
/// # Safety
///
/// `dev` is a live device, or null (then `None`).
unsafe fn of_receiver(dev: *const bindings::net_device, r: &Receiver<'_>) -> SkPolicy {
    let v6 = match (r.src.len(), r.dst.len()) {
        _ if dev.is_null() => return SkPolicy::None,
        (4, 4) => false,
        (16, 16) => true,
        _ => return SkPolicy::None,
    };
    let (mut id, mut index) = (0, 0);
    // SAFETY: the addresses are 4 or 16 readable bytes each, as the family
    // says; the caller passes a live device. The helper looks the socket
    // up under the RCU read lock and drops any reference it took.
    let ret = unsafe {
        bindings::kame_sk_lookup_policy_tag(
            dev,
            v6,
            r.proto,
            r.src.as_ptr(),
            r.sport.to_be(),
            r.dst.as_ptr(),
            r.dport.to_be(),
            bindings::KAME_XFRM_POLICY_IN,
            COOKIE.load(Relaxed),
            &mut id,
            &mut index,
        )
    };
    decode(ret, id, index)
}
