// SPDX-License-Identifier: GPL-2.0

//! `getsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY)`: reading a socket's
//! per-socket policy back, as KAME's `ipsec_get_policy()` callers do.
//!
//! The IP layers answer no such option themselves: `ip_getsockopt()` and
//! `ipv6_getsockopt()` hand every option they do not know to netfilter's
//! table of socket options (`nf_getsockopt()`), where a module registers a
//! range of option numbers per family (`nf_register_sockopt()`). We take
//! exactly these two numbers; setting them stays with the kernel's IPsec
//! core ([`super::xfrm_km`]).

use super::{
    bindings,
    net::Net,
    pernet::{self, PernetRegistration, PernetState},
    sk_policy::{self, SkPolicy},
    xfrm_km::PolicyDir,
};
use core::marker::PhantomData;
use kernel::{
    error::from_result,
    ffi::{c_int, c_void},
    prelude::*,
    types::Opaque,
    uaccess::{UserPtr, UserSlice},
};

/// The longest answer: room for a policy with a full bundle of IPv6
/// tunnel requests.
pub(crate) const ANSWER_MAX: usize = 512;

/// The first bytes of the caller's buffer read as the request (KAME puts
/// the direction wanted in a `struct sadb_x_policy` there).
const REQUEST_MAX: usize = 16;

/// The policies of the socket an option is read on.
pub(crate) struct SockPolicies<'a> {
    sk: *const bindings::sock,
    _sk: PhantomData<&'a bindings::sock>,
}

impl SockPolicies<'_> {
    /// Its policy in `dir`.
    pub(crate) fn get(&self, dir: PolicyDir) -> SkPolicy {
        // SAFETY: the socket is live and full for the call this value was
        // made for, and outlives the value.
        unsafe { sk_policy::of_sock(self.sk, dir) }
    }
}

/// How the glue answers the option.
pub(crate) trait PolicyOption: 'static {
    /// The per-namespace state the answer comes from.
    type Pernet: PernetState;
    /// Writes the answer for a socket of `ns` into `out` and returns its
    /// length; `req` is the start of the caller's buffer. May sleep.
    fn get(
        ns: &Self::Pernet,
        sk: SockPolicies<'_>,
        req: &[u8],
        out: &mut [u8; ANSWER_MAX],
    ) -> Result<usize>;
}

/// The two options, registered; unregistered when dropped.
///
/// # Invariants
///
/// Both `ops` are registered with `nf_register_sockopt()` at a fixed
/// address until `drop`.
pub(crate) struct PolicyOptionRegistration<O: PolicyOption> {
    ops: [KBox<Opaque<bindings::nf_sockopt_ops>>; 2],
    _o: PhantomData<O>,
}

// SAFETY: the registration only holds what netfilter reads; unregistering
// from any thread is fine.
unsafe impl<O: PolicyOption> Send for PolicyOptionRegistration<O> {}
// SAFETY: no method takes `&self`.
unsafe impl<O: PolicyOption> Sync for PolicyOptionRegistration<O> {}

impl<O: PolicyOption> PolicyOptionRegistration<O> {
    /// Registers both options. `_pernet`'s registration outlives this one
    /// (module field order), so the namespace state the answers read is
    /// there.
    pub(crate) fn register(
        module: &'static ThisModule,
        _pernet: &PernetRegistration<O::Pernet>,
    ) -> Result<Self> {
        let owner = module.as_ptr().cast::<bindings::module>();
        let make = |pf: u8, opt: c_int| {
            KBox::new(
                Opaque::new(bindings::nf_sockopt_ops {
                    pf,
                    get_optmin: opt,
                    get_optmax: opt + 1,
                    get: Some(get_trampoline::<O>),
                    owner,
                    // SAFETY: all-zero is valid for the rest: an empty
                    // list head (set by registration), an empty set range
                    // and no set callback.
                    ..unsafe { core::mem::zeroed() }
                }),
                GFP_KERNEL,
            )
        };
        let v4 = make(bindings::NFPROTO_IPV4 as u8, bindings::KAME_IP_IPSEC_POLICY)?;
        let v6 = make(
            bindings::NFPROTO_IPV6 as u8,
            bindings::KAME_IPV6_IPSEC_POLICY,
        )?;
        // SAFETY: `v4` is initialised and boxed: its address is stable until
        // it is unregistered.
        super::to_result(unsafe { bindings::nf_register_sockopt(v4.get()) })?;
        // SAFETY: as above.
        if let Err(e) = super::to_result(unsafe { bindings::nf_register_sockopt(v6.get()) }) {
            // SAFETY: registered just above.
            unsafe { bindings::nf_unregister_sockopt(v4.get()) };
            return Err(e);
        }
        // INVARIANT: both registered.
        Ok(Self {
            ops: [v4, v6],
            _o: PhantomData,
        })
    }
}

impl<O: PolicyOption> Drop for PolicyOptionRegistration<O> {
    fn drop(&mut self) {
        for ops in &self.ops {
            // SAFETY: registered (type invariant). Netfilter holds a module
            // reference across each call, so none runs once we unload.
            unsafe { bindings::nf_unregister_sockopt(ops.get()) };
        }
    }
}

/// # Safety
///
/// Called by `nf_getsockopt()` for an option registered by
/// [`PolicyOptionRegistration<O>`]: `sk` is a live full socket, `user` the
/// caller's buffer of `*len` bytes, `len` readable and writable; process
/// context.
unsafe extern "C" fn get_trampoline<O: PolicyOption>(
    sk: *mut bindings::sock,
    _optval: c_int,
    user: *mut c_void,
    len: *mut c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: the caller passes a readable `len`.
        let avail = usize::try_from(unsafe { *len }).map_err(|_| EINVAL)?;
        let mut req = [0u8; REQUEST_MAX];
        let n = avail.min(REQUEST_MAX);
        UserSlice::new(UserPtr::from_ptr(user), n)
            .reader()
            .read_slice(&mut req[..n])?;
        // SAFETY: the socket is live, so is its namespace, and with it the
        // namespace's state (registered for longer than this option).
        let ns = unsafe {
            let net = Net::from_raw(bindings::kame_sock_net(sk));
            pernet::state::<O::Pernet>(net)
        };
        let socks = SockPolicies {
            sk,
            _sk: PhantomData,
        };
        let mut out = [0u8; ANSWER_MAX];
        let w = O::get(ns, socks, &req[..n], &mut out)?;
        let answer = out.get(..w).ok_or(EINVAL)?;
        if w > avail {
            return Err(ENOBUFS);
        }
        UserSlice::new(UserPtr::from_ptr(user), w)
            .writer()
            .write_slice(answer)?;
        // SAFETY: the caller passes a writable `len`; `w <= avail` fits.
        unsafe { *len = w as c_int };
        Ok(0)
    })
}
