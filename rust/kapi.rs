// SPDX-License-Identifier: GPL-2.0

//! The kernel-API layer: the one place in kame_ipsec that calls C.
//!
//! Every submodule wraps one kernel facility behind safe types, after the
//! pattern of `rust/kernel/net/phy.rs`: a trait the glue implements, `extern
//! "C"` trampolines that call it, and a registration that undoes itself in
//! `Drop`. The generated bindings (`bindings`) are private to this layer; the
//! glue never names them.

pub(crate) mod aead_op;
pub(crate) mod ahash_op;
pub(crate) mod append_table;
pub(crate) mod bh;
mod bindings;
pub(crate) mod clock;
pub(crate) mod crypto;
pub(crate) mod drop;
pub(crate) mod ipproto;
pub(crate) mod msg_skb;
pub(crate) mod net;
pub(crate) mod netdev;
pub(crate) mod netfilter;
pub(crate) mod nf_sockopt;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod proc_net;
pub(crate) mod rcu_hash;
pub(crate) mod rcu_work;
pub(crate) mod route_cache;
pub(crate) mod rx_queue;
pub(crate) mod sk_policy;
pub(crate) mod skb;
pub(crate) mod sock;
pub(crate) mod sysctl;
pub(crate) mod work;
pub(crate) mod xfrm_km;
pub(crate) mod xfrm_state;

/// A C function's return code as a `Result`: `kernel::error::to_result`,
/// inlined. That one is a call of its own across crates, which the packet
/// path made several times a packet (0.5% of a tunnel profile's samples).
#[inline(always)]
fn to_result(rc: core::ffi::c_int) -> kernel::error::Result {
    if rc < 0 {
        Err(kernel::error::Error::from_errno(rc))
    } else {
        Ok(())
    }
}
