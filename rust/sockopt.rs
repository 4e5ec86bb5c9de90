// SPDX-License-Identifier: GPL-2.0

//! Per-socket policies: `setsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY)`
//! with an `ipsec_set_policy(3)` buffer, compiled for the kernel's IPsec core
//! as af_key does (the option reaches us through the key-manager route,
//! `kapi::xfrm_km`). IKE daemons set `bypass` on their own sockets this way.
//!
//! `none`, `entrust` and `bypass` compile to a policy that lets the socket's
//! traffic pass, `discard` to one that drops it. TODO[B]: `ipsec` policies
//! (a bundle for one socket) need the data path; they fail with EOPNOTSUPP.

#![forbid(unsafe_code)]

use crate::{
    error::to_kernel,
    kame_core::sockpolicy::{SockAction, SockDir, SockPolicy},
    kapi::xfrm_km::{KeyManager, PolicyAction, PolicyDir},
};
use kernel::prelude::*;

/// The key manager that compiles KAME per-socket policies.
pub(crate) struct SockPolicyKm;

impl KeyManager for SockPolicyKm {
    fn compile_policy(data: &[u8]) -> Result<(PolicyDir, PolicyAction)> {
        let pol = SockPolicy::parse(data).map_err(to_kernel)?;
        let action = match pol.action {
            SockAction::Pass => PolicyAction::Allow,
            SockAction::Discard => PolicyAction::Block,
            SockAction::Ipsec => return Err(EOPNOTSUPP),
        };
        let dir = match pol.dir {
            SockDir::In => PolicyDir::In,
            SockDir::Out => PolicyDir::Out,
        };
        Ok((dir, action))
    }
}
