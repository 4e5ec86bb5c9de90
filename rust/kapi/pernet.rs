// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state (`pernet_operations` with `.id`/`.size`).
//!
//! The kernel allocates room for one `T` in every namespace; [`PernetState::init`]
//! builds it when a namespace appears (or at registration, for those that
//! exist) and `Drop` tears it down when the namespace goes (or at
//! unregistration).

use super::{bindings, net::Net};
use core::{cell::UnsafeCell, marker::PhantomData, mem::size_of};
use kernel::{error::from_result, ffi::c_uint, prelude::*};

/// Where the kernel stores the id of a pernet subsystem: a `static` of the
/// glue, one per [`PernetState`] type.
pub(crate) struct NetId(UnsafeCell<c_uint>);

// SAFETY: the kernel writes the id once inside `register_pernet_device()`,
// before any `init` callback runs; afterwards it is only read.
unsafe impl Sync for NetId {}

impl NetId {
    /// An id slot for a subsystem not yet registered.
    pub(crate) const fn new() -> Self {
        NetId(UnsafeCell::new(0))
    }

    fn get(&self) -> c_uint {
        // SAFETY: see the `Sync` impl: no write races with this read.
        unsafe { *self.0.get() }
    }
}

/// State a subsystem keeps in every network namespace.
pub(crate) trait PernetState: Sized + Send + Sync + 'static {
    /// The slot that holds this subsystem's id.
    fn net_id() -> &'static NetId;

    /// Builds the state of a namespace that is being set up.
    fn init(net: &Net) -> Result<Self>;

    /// The namespace starts to go (`pre_exit`): it is still whole, and
    /// `Drop` follows after an RCU grace period and the teardown of its
    /// devices.
    fn pre_exit(&self) {}
}

/// A registered pernet subsystem; unregisters (dropping every namespace's
/// state) when dropped.
///
/// It is registered as a *device* subsystem (`register_pernet_device()`),
/// as tunnel drivers are: its `init` runs after the namespace's loopback
/// device exists (the state creates a device of its own, which must not
/// take loopback's ifindex 1) and its `exit` before the namespace's
/// devices are torn down.
///
/// TODO[A]: a `state(net)` accessor for the PF_KEY handlers, proven by a
/// socket or hook of the namespace.
///
/// # Invariants
///
/// `ops` was registered with `register_pernet_device()` and stays
/// registered until `drop`.
pub(crate) struct PernetRegistration<T: PernetState> {
    ops: KBox<bindings::pernet_operations>,
    _state: PhantomData<T>,
}

// SAFETY: the registration only holds the ops the kernel reads; unregistering
// from any thread is fine.
unsafe impl<T: PernetState> Send for PernetRegistration<T> {}
// SAFETY: no method takes `&self`.
unsafe impl<T: PernetState> Sync for PernetRegistration<T> {}

impl<T: PernetState> PernetRegistration<T> {
    /// Registers the subsystem; builds `T` in every existing namespace.
    pub(crate) fn register() -> Result<Self> {
        let mut ops = KBox::new(
            bindings::pernet_operations {
                init: Some(init_trampoline::<T>),
                pre_exit: Some(pre_exit_trampoline::<T>),
                exit: Some(exit_trampoline::<T>),
                id: T::net_id().0.get(),
                size: size_of::<T>(),
                // SAFETY: all-zero is a valid `pernet_operations`: empty
                // list head and null optional callbacks.
                ..unsafe { core::mem::zeroed() }
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is fully initialised and boxed, so its address stays
        // valid until `drop` unregisters it.
        super::to_result(unsafe { bindings::register_pernet_device(&mut *ops) })?;
        // INVARIANT: registered just above.
        Ok(Self {
            ops,
            _state: PhantomData,
        })
    }
}

impl<T: PernetState> Drop for PernetRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `ops` is registered.
        unsafe { bindings::unregister_pernet_device(&mut *self.ops) };
    }
}

/// The state of type `T` of namespace `net`.
///
/// # Safety
///
/// `T` is registered (a [`PernetRegistration<T>`] exists) and `net` is live
/// for `'a`, so its state was initialised and is not yet dropped.
pub(crate) unsafe fn state<'a, T: PernetState>(net: &'a Net) -> &'a T {
    // SAFETY: by the caller's guarantee `init_trampoline` wrote a `T` into
    // the namespace's generic slot, and `exit_trampoline` has not run.
    unsafe { &*bindings::kame_net_generic(net.as_ptr(), T::net_id().get()).cast::<T>() }
}

/// # Safety
///
/// Called by the kernel for a namespace being set up, with `T`'s slot
/// allocated (zeroed) and not yet holding a `T`.
unsafe extern "C" fn init_trampoline<T: PernetState>(
    net: *mut bindings::net,
) -> kernel::ffi::c_int {
    from_result(|| {
        // SAFETY: the kernel passes a live namespace for the call.
        let netref = unsafe { Net::from_raw(net) };
        let state = T::init(netref)?;
        // SAFETY: the slot is `size_of::<T>()` bytes of generic storage the
        // kernel allocated for this id, suitably aligned by `kzalloc`, and
        // holds no `T` yet.
        unsafe {
            bindings::kame_net_generic(net, T::net_id().get())
                .cast::<T>()
                .write(state)
        };
        Ok(0)
    })
}

/// # Safety
///
/// Called by the kernel for a namespace starting to go whose `init`
/// succeeded, before its `exit`.
unsafe extern "C" fn pre_exit_trampoline<T: PernetState>(net: *mut bindings::net) {
    // SAFETY: `init_trampoline` wrote a `T` in this slot, which only
    // `exit_trampoline`, called later, drops.
    let state = unsafe { &*bindings::kame_net_generic(net, T::net_id().get()).cast::<T>() };
    state.pre_exit();
}

/// # Safety
///
/// Called by the kernel for a namespace going away whose `init` succeeded.
unsafe extern "C" fn exit_trampoline<T: PernetState>(net: *mut bindings::net) {
    // SAFETY: `init_trampoline` wrote a `T` in this slot and nothing else
    // drops it; nothing uses it after `exit` (see `state`).
    unsafe {
        bindings::kame_net_generic(net, T::net_id().get())
            .cast::<T>()
            .drop_in_place()
    };
}
