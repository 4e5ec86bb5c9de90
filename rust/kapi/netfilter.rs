// SPDX-License-Identifier: GPL-2.0

//! Netfilter hooks registered per network namespace
//! (`nf_register_net_hooks()`).

use super::{bindings, net::Net};
use core::{ffi::c_void, marker::PhantomData};
use kernel::{ffi::c_uint, prelude::*};

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
}

impl Point {
    fn to_raw(self) -> c_uint {
        match self {
            Point::LocalIn => bindings::nf_inet_hooks_NF_INET_LOCAL_IN,
            Point::Forward => bindings::nf_inet_hooks_NF_INET_FORWARD,
            Point::LocalOut => bindings::nf_inet_hooks_NF_INET_LOCAL_OUT,
        }
    }
}

/// What a hook decides for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `NF_ACCEPT`: the packet continues unchanged.
    Accept,
}

/// A packet-path hook of the glue.
pub(crate) trait PacketHook: 'static {
    /// Decides the fate of one packet.
    fn hook() -> Verdict;
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
/// the namespace's pernet `exit`).
pub(crate) struct NfHooks<H: PacketHook> {
    net: *mut bindings::net,
    ops: KVec<bindings::nf_hook_ops>,
    _hook: PhantomData<H>,
}

// SAFETY: the pointers are only used to unregister, which any thread may do.
unsafe impl<H: PacketHook> Send for NfHooks<H> {}
// SAFETY: no method takes `&self`.
unsafe impl<H: PacketHook> Sync for NfHooks<H> {}

impl<H: PacketHook> NfHooks<H> {
    /// Registers `H` at every hook in `specs` in `net`.
    pub(crate) fn register(net: &Net, specs: &[HookSpec]) -> Result<Self> {
        let mut ops = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for spec in specs {
            ops.push_within_capacity(bindings::nf_hook_ops {
                hook: Some(hook_trampoline::<H>),
                pf: spec.family.to_raw(),
                hooknum: spec.point.to_raw(),
                priority: spec.priority,
                // SAFETY: all-zero is a valid `nf_hook_ops` for the other
                // fields: no device, no private data.
                ..unsafe { core::mem::zeroed() }
            })
            .map_err(|_| ENOMEM)?;
        }
        let count = u32::try_from(ops.len())?;
        // SAFETY: `net` is live and `ops` holds `count` initialised entries
        // that stay in place until `drop` unregisters them.
        kernel::error::to_result(unsafe {
            bindings::nf_register_net_hooks(net.as_ptr(), ops.as_ptr(), count)
        })?;
        // INVARIANT: registered just above.
        Ok(Self {
            net: net.as_ptr(),
            ops,
            _hook: PhantomData,
        })
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
/// Called by netfilter for a hook registered by [`NfHooks<H>`].
unsafe extern "C" fn hook_trampoline<H: PacketHook>(
    _priv: *mut c_void,
    _skb: *mut bindings::sk_buff,
    _state: *const bindings::nf_hook_state,
) -> c_uint {
    match H::hook() {
        Verdict::Accept => bindings::KAME_NF_ACCEPT,
    }
}
