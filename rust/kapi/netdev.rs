// SPDX-License-Identifier: GPL-2.0

//! The devices of a namespace: decapsulated packets re-enter the stack on
//! one (`ipsec0`, or `enc0` when it is up), so every later hook knows them
//! for what they are; `enc0` also sees outbound cleartext.

use super::{bindings, net::Net, skb::Skb};
use core::{ffi::CStr, ptr::NonNull};
use kernel::prelude::*;
use kernel::str::CStrExt;

/// A registered link-layer-less device in one namespace.
///
/// # Invariants
///
/// `ptr` came from `kame_netdev_create()` and is destroyed only by `drop`.
pub(crate) struct NetDev {
    ptr: NonNull<bindings::net_device>,
}

// SAFETY: the device pointer is used from any context (packets) and freed
// once from `drop`; the kernel synchronises its own state.
unsafe impl Send for NetDev {}
// SAFETY: `&self` only compares or passes the pointer to the stack.
unsafe impl Sync for NetDev {}

impl NetDev {
    /// Creates device `name` in `net`, brought up if `up` (else it waits
    /// for the administrator).
    pub(crate) fn create(net: &Net, name: &CStr, up: bool) -> Result<NetDev> {
        // SAFETY: `net` is live and `name` a NUL-terminated string; the
        // helper takes the RTNL itself.
        let p = unsafe { bindings::kame_netdev_create(net.as_ptr(), name.as_char_ptr(), up) };
        let p = kernel::error::from_err_ptr(p)?;
        // INVARIANT: created just above.
        NonNull::new(p).map(|ptr| NetDev { ptr }).ok_or(ENOMEM)
    }

    /// A counted reference, for a packet that will re-enter on the device
    /// later (after asynchronous crypto).
    pub(crate) fn hold(&self) -> DevRef {
        // SAFETY: the device is registered or being torn down, not freed
        // (type invariant); its unregistration waits for this reference.
        unsafe { bindings::kame_dev_hold(self.ptr.as_ptr()) };
        // INVARIANT: the reference was taken just above.
        DevRef { ptr: self.ptr }
    }

    /// Whether the device is up.
    pub(crate) fn running(&self) -> bool {
        // SAFETY: the device is registered or being torn down, not freed
        // (type invariant); its state bits are read atomically.
        unsafe { bindings::kame_dev_running(self.ptr.as_ptr()) }
    }

    /// Passes an outbound packet through the device as if sent on it: its
    /// egress hook (nftables `netdev` family), then its taps. `None` if
    /// the hook dropped or kept the packet.
    pub(crate) fn show_outbound(&self, skb: Skb) -> Option<Skb> {
        let why = skb.drop_reason();
        let p = skb.into_raw();
        // SAFETY: `p` is a valid skb we own, handed over; the device is
        // registered or being torn down, not freed (type invariant).
        let p = unsafe { bindings::kame_enc_output(p, self.ptr.as_ptr()) };
        // SAFETY: a non-null result is the same skb, given back to us.
        let mut skb = unsafe { Skb::from_raw(p) }?;
        if let Some(why) = why {
            skb.mark_drop(why);
        }
        Some(skb)
    }

    /// Whether `dev` (from a hook's state) is this device.
    pub(crate) fn is(&self, dev: *const bindings::net_device) -> bool {
        core::ptr::eq(self.ptr.as_ptr(), dev)
    }
}

impl Drop for NetDev {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the device is ours to destroy, once.
        unsafe { bindings::kame_netdev_destroy(self.ptr.as_ptr()) };
    }
}

/// A counted reference on a device (`netdev_hold()`), droppable in any
/// context.
///
/// # Invariants
///
/// `ptr` is a device on which this value holds one reference.
pub(crate) struct DevRef {
    ptr: NonNull<bindings::net_device>,
}

// SAFETY: a device reference may be used and dropped from any context.
unsafe impl Send for DevRef {}
// SAFETY: `&self` only passes the pointer to the stack.
unsafe impl Sync for DevRef {}

impl DevRef {
    /// Whether a packet for `addr` (4 or 16 bytes, as `v6` says) is
    /// delivered to this host in the device's namespace: one of its
    /// addresses, a broadcast or a multicast address. False for an address
    /// of the wrong length.
    pub(crate) fn delivers_locally(&self, v6: bool, addr: &[u8]) -> bool {
        if addr.len() != if v6 { 16 } else { 4 } {
            return false;
        }
        // SAFETY: we hold a reference on the device (type invariant), so
        // its namespace is live; `addr` holds the bytes the family needs,
        // checked above, and is only read.
        unsafe { bindings::kame_dev_delivers_locally(self.ptr.as_ptr(), v6, addr.as_ptr().cast()) }
    }

    /// The raw device, for calls into C.
    pub(crate) fn as_ptr(&self) -> *mut bindings::net_device {
        self.ptr.as_ptr()
    }
}

impl Drop for DevRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold a reference to give back.
        unsafe { bindings::kame_dev_put(self.ptr.as_ptr()) };
    }
}
