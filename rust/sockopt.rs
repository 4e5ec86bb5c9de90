// SPDX-License-Identifier: GPL-2.0

//! Per-socket policies, as the kernel hands them to us:
//! `setsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY)` with an
//! `ipsec_set_policy(3)` buffer reaches us through the key-manager route
//! (`kapi::xfrm_km`), `getsockopt()` of the same options through
//! netfilter's option table (`kapi::nf_sockopt`). IKE daemons set `bypass`
//! on their own sockets this way; applications may ask for IPsec.
//!
//! Each policy is recorded in the socket's namespace
//! ([`crate::sock_policy`]) and the kernel policy we hand back carries the
//! record's number. To the kernel's own IPsec core the policy lets the
//! socket's traffic pass (no templates: it looks up nothing of its own),
//! except `discard`, which it blocks as af_key's would; our packet path
//! applies the rest.

#![forbid(unsafe_code)]

use crate::{
    error::to_kernel,
    kame_core::sockpolicy::{SockAction, SockDir, SockPolicy, ENCODED_MAX},
    kapi::{
        nf_sockopt::{PolicyOption, SockPolicies, ANSWER_MAX},
        sk_policy::SkPolicy,
        xfrm_km::{Compiled, KeyManager, PolicyAction, PolicyDir},
    },
    netns::Netns,
};
use kernel::prelude::*;

const _: () = assert!(ENCODED_MAX <= ANSWER_MAX);

/// The key manager that compiles KAME per-socket policies.
pub(crate) struct SockPolicyKm;

impl KeyManager for SockPolicyKm {
    type Pernet = Netns;

    fn compile_policy(ns: &Netns, data: &[u8]) -> Result<Compiled> {
        let pol = SockPolicy::parse(data).map_err(to_kernel)?;
        let action = match pol.action() {
            SockAction::Discard => PolicyAction::Block,
            _ => PolicyAction::Allow,
        };
        let dir = match pol.dir {
            SockDir::In => PolicyDir::In,
            SockDir::Out => PolicyDir::Out,
        };
        let id = ns.dp().sock_policies.record(pol)?;
        Ok(Compiled { dir, action, id })
    }
}

/// `getsockopt()`: the caller's buffer starts with a `struct
/// sadb_x_policy` naming the direction wanted (KAME's convention); the
/// answer is that policy with its requests, `entrust` when none was set.
pub(crate) struct SockPolicyOption;

impl PolicyOption for SockPolicyOption {
    type Pernet = Netns;

    fn get(
        ns: &Netns,
        sk: SockPolicies<'_>,
        req: &[u8],
        out: &mut [u8; ANSWER_MAX],
    ) -> Result<usize> {
        // `sadb_x_policy_dir`, after length, exttype and type.
        let dir = match req.get(6) {
            Some(1) => SockDir::In,
            Some(2) => SockDir::Out,
            _ => return Err(EINVAL),
        };
        let kdir = match dir {
            SockDir::In => PolicyDir::In,
            SockDir::Out => PolicyDir::Out,
        };
        let (pol, index) = match sk.get(kdir) {
            SkPolicy::None => (SockPolicy::entrust(dir), 0),
            SkPolicy::Stale { .. } => return Err(ENOENT),
            SkPolicy::Ours { id, index } => (*ns.dp().sock_policies.get(id).ok_or(ENOENT)?, index),
        };
        pol.encode(index, out).map_err(|_| ENOBUFS)
    }
}
