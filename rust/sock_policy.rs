// SPDX-License-Identifier: GPL-2.0

//! Per-socket policies on the packet path. Each policy a socket is given
//! (`setsockopt(IP_IPSEC_POLICY)`, compiled in [`crate::sockopt`]) is
//! recorded once per namespace, equal policies sharing one record, and the
//! socket's kernel policy carries the record's number
//! ([`crate::kapi::sk_policy`]). Records are never changed or removed
//! before the namespace goes, so a number read from any socket at any time
//! is valid; a namespace holds at most 1024 different ones.
//!
//! A socket's policy wins over the SPD, as in KAME: `none` and `bypass`
//! pass, `discard` drops, `ipsec` applies its own bundle, `entrust` leaves
//! the packet to the SPD. Outbound, the packet's socket is its sender;
//! inbound, the TCP or UDP socket the kernel would deliver it to, looked
//! up only once some socket of the namespace has an inbound policy.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        flow::{Flow, Frag, IPPROTO_TCP, IPPROTO_UDP},
        sockpolicy::{SockAction, SockDir, SockPolicy},
    },
    kapi::{
        append_table::AppendTable,
        sk_policy::{Receiver, SkPolicy},
    },
};
use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// Chunks of 16 records: at most 1024 different policies per namespace.
const CHUNKS: usize = 64;

/// What a socket's policy decides for one packet.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SockRule<'a> {
    /// No policy of ours, or `entrust`: the SPD decides.
    Spd,
    /// `none` or `bypass`: no IPsec, whatever the SPD says.
    Pass,
    /// Dropped, for the reason given: a `discard` policy, or one this load
    /// of the module cannot read (set before it was reloaded).
    Discard(&'static str),
    /// `ipsec`: the policy's own bundle; `index` is the kernel's policy
    /// index, the policy id its ACQUIREs carry.
    Ipsec(&'a SockPolicy, u32),
}

/// The per-socket policies of one namespace.
pub(crate) struct SockPolicies {
    records: Pin<KBox<AppendTable<SockPolicy, CHUNKS>>>,
    /// Some socket was given an inbound policy that is not `entrust`.
    inbound: Atomic<bool>,
}

impl SockPolicies {
    /// An empty record.
    pub(crate) fn new() -> Result<Self> {
        Ok(SockPolicies {
            records: KBox::pin_init(AppendTable::new(), GFP_KERNEL)?,
            inbound: Atomic::new(false),
        })
    }

    /// Records `p` (or finds its equal); returns its number. ENOBUFS once
    /// the namespace has recorded all the different policies it can. Does not sleep.
    pub(crate) fn record(&self, p: SockPolicy) -> Result<u32> {
        let inbound = p.dir == SockDir::In && p.action() != SockAction::Entrust;
        let id = self
            .records
            .intern(p)
            .map_err(|e| if e == ENOSPC { ENOBUFS } else { e })?;
        if inbound {
            self.inbound.store(true, Relaxed);
        }
        Ok(id)
    }

    /// The record numbered `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&SockPolicy> {
        self.records.get(id)
    }

    /// Whether received packets need their socket looked up.
    pub(crate) fn inbound_in_use(&self) -> bool {
        self.inbound.load(Relaxed)
    }

    /// What the socket policy `p` decides.
    pub(crate) fn rule(&self, p: SkPolicy) -> SockRule<'_> {
        let (id, index) = match p {
            SkPolicy::None => return SockRule::Spd,
            SkPolicy::Stale { .. } => {
                return SockRule::Discard("per-socket policy set before kame_ipsec was reloaded")
            }
            SkPolicy::Ours { id, index } => (id, index),
        };
        let Some(sp) = self.get(id) else {
            return SockRule::Discard("unknown per-socket policy");
        };
        match sp.action() {
            SockAction::Entrust => SockRule::Spd,
            SockAction::Pass => SockRule::Pass,
            SockAction::Discard => SockRule::Discard("discard per-socket policy"),
            SockAction::Ipsec => SockRule::Ipsec(sp, index),
        }
    }
}

/// Who `flow`, received, is for: TCP and UDP only, and not a later
/// fragment (no ports to find a socket by).
pub(crate) fn receiver(flow: &Flow) -> Option<Receiver<'_>> {
    if !matches!(flow.proto, IPPROTO_TCP | IPPROTO_UDP) || flow.frag == Frag::Later {
        return None;
    }
    Some(Receiver {
        proto: flow.proto,
        src: flow.src.octets(),
        sport: flow.sport,
        dst: flow.dst.octets(),
        dport: flow.dport,
    })
}
