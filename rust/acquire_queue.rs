// SPDX-License-Identifier: GPL-2.0

//! SADB_ACQUIRE requests from the packet path. An outbound packet whose
//! policy asks for an SA that does not exist calls [`raise`] from atomic
//! context; sending the message needs the key mutex, so the request is
//! handed to process context.

#![forbid(unsafe_code)]

use crate::{kame_core::pfkey::wire::IpAddr, keydb::KeyDb};

/// What the packet path knows when it needs an SA.
#[derive(Clone, Debug)]
#[expect(dead_code, reason = "read by the ACQUIRE engine (being written)")]
pub(crate) struct AcquireRequest {
    /// The policy whose request has no SA.
    pub(crate) policy_id: u32,
    /// Index of that request in the policy's bundle.
    pub(crate) request: u8,
    /// `IPPROTO_ESP` or `IPPROTO_AH`.
    pub(crate) proto: u8,
    /// `IPSEC_MODE_*` of the request.
    pub(crate) mode: u8,
    /// The request's reqid (0: any).
    pub(crate) reqid: u32,
    /// The SA's endpoints: the tunnel's, or the packet's in transport mode.
    pub(crate) src: IpAddr,
    /// See `src`.
    pub(crate) dst: IpAddr,
}

/// Asks registered key daemons for an SA. Callable from any context,
/// including softirq; never sleeps.
// TODO[A]: queue, rate-limit (larval SA per request, as af_key) and send.
pub(crate) fn raise(_keys: &KeyDb, _req: AcquireRequest) {}
