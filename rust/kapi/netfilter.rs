// SPDX-License-Identifier: GPL-2.0

//! Netfilter hooks registered per network namespace
//! (`nf_register_net_hooks()`).

use super::{
    bindings,
    drop::DropReason,
    net::Net,
    netdev::NetDev,
    skb::Skb, //
};
use core::{ffi::c_void, marker::PhantomData};
use kernel::{error::code::EPERM, ffi::c_uint, prelude::*};

/// The protocol family a hook sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `NFPROTO_IPV4`
    Ipv4,
    /// `NFPROTO_IPV6`
    Ipv6,
}

impl Family {
    fn to_raw(self) -> u8 {
        match self {
            Family::Ipv4 => bindings::NFPROTO_IPV4 as u8,
            Family::Ipv6 => bindings::NFPROTO_IPV6 as u8,
        }
    }
}

/// Where in the IP stack a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Point {
    /// `NF_INET_LOCAL_IN`: packets for this host.
    LocalIn,
    /// `NF_INET_FORWARD`: packets routed through this host.
    Forward,
    /// `NF_INET_LOCAL_OUT`: packets this host sends.
    LocalOut,
    /// `NF_INET_POST_ROUTING`: every packet leaving, sent or forwarded.
    PostRouting,
}

impl Point {
    fn to_raw(self) -> c_uint {
        match self {
            Point::LocalIn => bindings::nf_inet_hooks_NF_INET_LOCAL_IN,
            Point::Forward => bindings::nf_inet_hooks_NF_INET_FORWARD,
            Point::LocalOut => bindings::nf_inet_hooks_NF_INET_LOCAL_OUT,
            Point::PostRouting => bindings::nf_inet_hooks_NF_INET_POST_ROUTING,
        }
    }
}

/// What a hook decides for a packet.
pub(crate) enum Verdict {
    /// `NF_ACCEPT`: the packet (the same one, maybe changed) continues.
    Accept(Skb),
    /// The packet is dropped, freed with the drop reason it was marked
    /// with, or [`DropReason::Policy`] (`NF_DROP_REASON()`); a local
    /// sender's output call fails with EPERM, as after `NF_DROP`.
    Drop(Skb),
    /// As `Drop`, and a local sender's output call fails with `err`
    /// (`NF_DROP_ERR(err)`).
    DropWith(Skb, Error),
    /// `NF_STOLEN`: the hook took the packet (sent, queued or freed it).
    Stolen,
}

/// Where and how a packet met a hook.
pub(crate) struct HookState {
    /// The hook point.
    pub(crate) point: Point,
    /// IPv6 rather than IPv4.
    pub(crate) v6: bool,
    in_dev: *const bindings::net_device,
}

impl HookState {
    /// Whether the packet was received on `dev`.
    pub(crate) fn came_in_on(&self, dev: &NetDev) -> bool {
        dev.is(self.in_dev)
    }

    /// The device the packet was received on (null on output).
    pub(super) fn in_dev(&self) -> *const bindings::net_device {
        self.in_dev
    }
}

/// A packet-path hook of the glue, with its per-namespace context.
pub(crate) trait PacketHook: 'static {
    /// What the hook reads in its namespace.
    type Ctx: Send + Sync;
    /// Decides the fate of one packet.
    fn hook(ctx: &Self::Ctx, state: &HookState, skb: Skb) -> Verdict;
}

/// One hook to register: family, point and netfilter priority.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HookSpec {
    /// The protocol family.
    pub(crate) family: Family,
    /// The hook point.
    pub(crate) point: Point,
    /// The netfilter priority (lower runs first).
    pub(crate) priority: i32,
}

/// Hooks registered in one namespace; unregistered when dropped.
///
/// # Invariants
///
/// `ops` is registered in `net` with `nf_register_net_hooks()`, never
/// resized, until `drop`; `net` outlives the registration (it is dropped from
/// the namespace's pernet `exit`). Each op's `priv` points at `ctx`'s
/// contents, which are dropped only after the hooks are unregistered.
pub(crate) struct NfHooks<H: PacketHook> {
    net: *mut bindings::net,
    ops: KVec<bindings::nf_hook_ops>,
    ctx: KBox<H::Ctx>,
    _hook: PhantomData<H>,
}

// SAFETY: the pointers are only used to unregister, which any thread may do.
unsafe impl<H: PacketHook> Send for NfHooks<H> {}
// SAFETY: the only `&self` method hands out `&H::Ctx`, which is `Sync`.
unsafe impl<H: PacketHook> Sync for NfHooks<H> {}

impl<H: PacketHook> NfHooks<H> {
    /// Registers `H` at every hook in `specs` in `net`, each call given
    /// `ctx`, which the registration keeps.
    pub(crate) fn register(net: &Net, specs: &[HookSpec], ctx: KBox<H::Ctx>) -> Result<Self> {
        let ctx_ptr: *const H::Ctx = &*ctx;
        let mut ops = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for spec in specs {
            ops.push_within_capacity(bindings::nf_hook_ops {
                hook: Some(hook_trampoline::<H>),
                pf: spec.family.to_raw(),
                hooknum: spec.point.to_raw(),
                priority: spec.priority,
                priv_: ctx_ptr.cast_mut().cast(),
                // SAFETY: all-zero is a valid `nf_hook_ops` for the other
                // fields: no device.
                ..unsafe { core::mem::zeroed() }
            })
            .map_err(|_| ENOMEM)?;
        }
        let count = u32::try_from(ops.len())?;
        // SAFETY: `net` is live and `ops` holds `count` initialised entries
        // that stay in place until `drop` unregisters them; their `priv`
        // points into `ctx`, a box kept unmoved for as long.
        super::to_result(unsafe {
            bindings::nf_register_net_hooks(net.as_ptr(), ops.as_ptr(), count)
        })?;
        // INVARIANT: registered just above.
        Ok(Self {
            net: net.as_ptr(),
            ops,
            ctx,
            _hook: PhantomData,
        })
    }

    /// The context the hooks are given.
    pub(crate) fn ctx(&self) -> &H::Ctx {
        &self.ctx
    }
}

impl<H: PacketHook> Drop for NfHooks<H> {
    fn drop(&mut self) {
        // The length fitted in `u32` at registration and never changed.
        let count = self.ops.len() as u32;
        // SAFETY: by the type invariant the hooks are registered in the live
        // `net`; this waits until no packet is inside them.
        unsafe { bindings::nf_unregister_net_hooks(self.net, self.ops.as_ptr(), count) };
    }
}

/// # Safety
///
/// Called by netfilter for a hook registered by [`NfHooks<H>`], with that
/// registration's `priv`, an skb it passes to the hook and the hook's state.
unsafe extern "C" fn hook_trampoline<H: PacketHook>(
    ctx: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> c_uint {
    // SAFETY: netfilter passes a valid state for the call.
    let st = unsafe { &*state };
    let point = match c_uint::from(st.hook) {
        bindings::nf_inet_hooks_NF_INET_LOCAL_IN => Point::LocalIn,
        bindings::nf_inet_hooks_NF_INET_FORWARD => Point::Forward,
        bindings::nf_inet_hooks_NF_INET_LOCAL_OUT => Point::LocalOut,
        _ => Point::PostRouting,
    };
    let hs = HookState {
        point,
        v6: st.pf == bindings::NFPROTO_IPV6 as u8,
        in_dev: st.in_,
    };
    // SAFETY: the hook is handed the skb; it must return it (accept, drop)
    // or keep it (stolen), which `Verdict` makes it say.
    let Some(owned) = (unsafe { Skb::from_raw(skb) }) else {
        return bindings::KAME_NF_ACCEPT;
    };
    // SAFETY: `priv` is the registration's `ctx`, valid while registered.
    let ctx = unsafe { &*ctx.cast::<H::Ctx>() };
    match H::hook(ctx, &hs, owned) {
        Verdict::Accept(s) => {
            // Netfilter goes on with the pointer it passed: the hook must
            // not have swapped packets.
            let back = s.into_raw();
            debug_assert!(core::ptr::eq(back, skb));
            bindings::KAME_NF_ACCEPT
        }
        Verdict::Drop(s) => drop_reason(s, EPERM),
        Verdict::DropWith(s, e) => drop_reason(s, e),
        Verdict::Stolen => bindings::KAME_NF_STOLEN,
    }
}

/// `NF_DROP_REASON()`: frees `s` with its reason (a hook's drop is a
/// policy's unless marked otherwise) and tells netfilter it is gone, with
/// `err` for a local sender.
fn drop_reason(mut s: Skb, err: Error) -> c_uint {
    if s.drop_reason().is_none() {
        s.mark_drop(DropReason::Policy);
    }
    drop(s);
    // An errno is below 4096: it fits above the verdict's bits.
    (err.to_errno().unsigned_abs() << bindings::KAME_NF_VERDICT_QBITS) | bindings::KAME_NF_STOLEN
}
