// SPDX-License-Identifier: GPL-2.0

//! A key manager of the kernel's IPsec core (`struct xfrm_mgr`,
//! `xfrm_register_km()`).
//!
//! `setsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY)` reaches the PF_KEY
//! implementation only this way: `xfrm_user_policy()` asks every registered
//! key manager to compile the option's buffer into a `struct xfrm_policy`,
//! which the kernel then attaches to the socket (`sk->sk_policy[dir]`, as
//! af_key's `pfkey_compile_policy()` does). The other callbacks are left to
//! the other key managers (xfrm_user): this one answers no acquire.

use super::{
    bindings,
    net::Net,
    pernet::{self, PernetRegistration, PernetState},
    sk_policy,
};
use core::{marker::PhantomData, ptr};
use kernel::{ffi::c_int, prelude::*, types::Opaque};

/// Which policy of the socket a compiled policy sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyDir {
    /// `XFRM_POLICY_IN`
    In,
    /// `XFRM_POLICY_OUT`
    Out,
}

/// What the kernel's IPsec core does with a compiled per-socket policy
/// (`xfrm_policy.action`); it has no templates, so the core never looks
/// for SAs of its own for the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyAction {
    /// `XFRM_POLICY_ALLOW`: the core lets the socket's traffic pass (and
    /// we apply what the policy asks).
    Allow,
    /// `XFRM_POLICY_BLOCK`: the socket's traffic is dropped.
    Block,
}

/// A compiled per-socket policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Compiled {
    /// Which of the socket's policies it sets.
    pub(crate) dir: PolicyDir,
    /// What the kernel's IPsec core does with it.
    pub(crate) action: PolicyAction,
    /// The number of the glue's record of it, tagged onto the policy
    /// ([`super::sk_policy`]).
    pub(crate) id: u32,
}

/// The key manager's behaviour, implemented by the glue.
pub(crate) trait KeyManager: 'static {
    /// The per-namespace state policies are recorded in.
    type Pernet: PernetState;
    /// Compiles the buffer of an `IP_IPSEC_POLICY` or `IPV6_IPSEC_POLICY`
    /// option (the family already matches the option) for a socket of
    /// `ns`. Runs under the RCU read lock: it must not sleep.
    fn compile_policy(ns: &Self::Pernet, data: &[u8]) -> Result<Compiled>;
}

/// A registered key manager; unregistered when dropped.
///
/// # Invariants
///
/// `km` was registered with `xfrm_register_km()` and stays registered, at
/// the same address, until `drop`.
pub(crate) struct KmRegistration<K: KeyManager> {
    km: KBox<Opaque<bindings::xfrm_mgr>>,
    _km: PhantomData<K>,
}

// SAFETY: the registration only holds the ops the kernel reads; unregistering
// from any thread is fine.
unsafe impl<K: KeyManager> Send for KmRegistration<K> {}
// SAFETY: no method takes `&self`.
unsafe impl<K: KeyManager> Sync for KmRegistration<K> {}

impl<K: KeyManager> KmRegistration<K> {
    /// Registers `K` with the IPsec core. `_pernet`'s registration outlives
    /// this one (module field order), so the namespace state compiling
    /// reads is there.
    pub(crate) fn register(_pernet: &PernetRegistration<K::Pernet>) -> Result<Self> {
        let km = KBox::new(
            Opaque::new(bindings::xfrm_mgr {
                compile_policy: Some(compile_policy_trampoline::<K>),
                // `km_query()` calls every manager's `acquire` unchecked.
                acquire: Some(acquire_trampoline),
                // SAFETY: all-zero is a valid `xfrm_mgr` for the other
                // fields: an empty list head (set by registration) and null
                // optional callbacks, which the core checks before calling.
                ..unsafe { core::mem::zeroed() }
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `km` is fully initialised and boxed: its address stays
        // valid until `drop` unregisters it.
        unsafe { bindings::xfrm_register_km(km.get()) };
        // INVARIANT: registered just above.
        Ok(Self {
            km,
            _km: PhantomData,
        })
    }
}

impl<K: KeyManager> Drop for KmRegistration<K> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `km` is registered; this unlinks it
        // and waits for an RCU grace period, so no callback still runs when
        // the box is freed.
        unsafe { bindings::xfrm_unregister_km(self.km.get()) };
    }
}

/// The family of `sk` when `opt` is the KAME policy option of that family;
/// otherwise the errno af_key gives (EOPNOTSUPP for another option of an IP
/// family, which lets xfrm_user's `IP_XFRM_POLICY` through, EINVAL else).
fn ipsec_policy_family(family: u16, opt: c_int) -> Result<u16> {
    match (family, opt) {
        (bindings::KAME_AF_INET, bindings::KAME_IP_IPSEC_POLICY)
        | (bindings::KAME_AF_INET6, bindings::KAME_IPV6_IPSEC_POLICY) => Ok(family),
        (bindings::KAME_AF_INET | bindings::KAME_AF_INET6, _) => Err(EOPNOTSUPP),
        _ => Err(EINVAL),
    }
}

/// # Safety
///
/// Called by `xfrm_user_policy()` for a manager registered by
/// [`KmRegistration<K>`]: `sk` is a live socket, `data` the kernel's copy of
/// the option, `len` bytes long (`0 < len <= PAGE_SIZE`), `dir` writable;
/// under the RCU read lock.
unsafe extern "C" fn compile_policy_trampoline<K: KeyManager>(
    sk: *mut bindings::sock,
    opt: c_int,
    data: *mut u8,
    len: c_int,
    dir: *mut c_int,
) -> *mut bindings::xfrm_policy {
    // SAFETY: the caller passes a live socket.
    let family = unsafe { bindings::kame_sk_family(sk) };
    let compiled = ipsec_policy_family(family, opt).and_then(|family| {
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: the caller passes `len` readable bytes at `data`, which
        // nothing else writes during this call.
        let buf = unsafe { core::slice::from_raw_parts(data, len) };
        // SAFETY: the socket is live, so is its namespace, and with it the
        // namespace's state (registered for longer than this manager).
        let ns = unsafe {
            let net = Net::from_raw(bindings::kame_sock_net(sk));
            pernet::state::<K::Pernet>(net)
        };
        let Compiled { dir: d, action, id } = K::compile_policy(ns, buf)?;
        // SAFETY: the socket is live, so is its namespace; GFP_ATOMIC as the
        // RCU read lock is held.
        let xp = unsafe {
            bindings::xfrm_policy_alloc(bindings::kame_sock_net(sk), bindings::KAME_GFP_ATOMIC)
        };
        if xp.is_null() {
            return Err(ENOBUFS);
        }
        let action = match action {
            PolicyAction::Allow => bindings::KAME_XFRM_POLICY_ALLOW,
            PolicyAction::Block => bindings::KAME_XFRM_POLICY_BLOCK,
        };
        // SAFETY: `xp` was just allocated and is not yet shared.
        unsafe {
            bindings::kame_xfrm_policy_set_socket(xp, family, action);
            sk_policy::set_tag(xp, id);
        }
        let d = match d {
            PolicyDir::In => bindings::KAME_XFRM_POLICY_IN,
            PolicyDir::Out => bindings::KAME_XFRM_POLICY_OUT,
        };
        Ok((d, xp))
    });
    let (d, xp) = match compiled {
        Ok(ok) => ok,
        Err(e) => (e.to_errno(), ptr::null_mut()),
    };
    // SAFETY: the caller passes a writable `dir`.
    unsafe { *dir = d };
    xp
}

/// Declines every acquire: the states and policies of the IPsec core are
/// xfrm_user's, ours are in our own SAD and SPD.
///
/// # Safety
///
/// Called by `km_query()`; the arguments are not used.
unsafe extern "C" fn acquire_trampoline(
    _x: *mut bindings::xfrm_state,
    _t: *mut bindings::xfrm_tmpl,
    _xp: *mut bindings::xfrm_policy,
) -> c_int {
    EINVAL.to_errno()
}
