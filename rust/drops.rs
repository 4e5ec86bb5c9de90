// SPDX-License-Identifier: GPL-2.0

//! Every packet the data path drops is counted ([`Stats`]), freed with a
//! kernel drop reason (the `skb:kfree_skb` tracepoint shows it, with the
//! `kame_drop_*` function that freed it as its location) and, when the
//! family's `debug` sysctl is 1, logged under the kernel's rate limit with
//! its selector or SA, SPI and reason ([`policy_log`]).
//!
//! A drop is decided where the packet is still at hand: [`mark`] there, or
//! [`drop_sa`], which also counts and logs. Where the counting happens
//! later, after the packet is gone (a crypto completion), [`count_sa`]
//! counts and logs what was marked.

#![forbid(unsafe_code)]

use crate::{
    kame_core::sad::SaRecord,
    kapi::{drop::DropReason, skb::Skb},
    policy_log,
    stats::{Stat, Stats},
};

/// The reason a drop counted as `s` is freed with.
pub(crate) fn reason(s: Stat) -> DropReason {
    match s {
        Stat::InPolicyViolation | Stat::OutPolicyViolation => DropReason::Policy,
        Stat::OutNoSa => DropReason::NoSa,
        Stat::EspDisabled | Stat::AhDisabled => DropReason::Disabled,
        Stat::OutTooBig => DropReason::TooBig,
        Stat::EspShort | Stat::AhShort => DropReason::Short,
        Stat::EspCryptoError | Stat::AhCryptoError => DropReason::Crypto,
        Stat::EspQueueFull => DropReason::QueueFull,
        Stat::EspAuthFail | Stat::AhAuthFail => DropReason::Icv,
        Stat::EspReplay | Stat::AhReplay => DropReason::Replay,
        Stat::EspBadEncoding | Stat::AhBadEncoding | Stat::EspBadEncap => DropReason::BadEncoding,
        Stat::EspInvalidSa | Stat::AhInvalidSa | Stat::OutExpired => DropReason::Sa,
        Stat::EspSeqWrap | Stat::AhSeqWrap => DropReason::Wrap,
        Stat::ExitDrops => DropReason::Exiting,
        _ => DropReason::Invalid,
    }
}

/// What the log says of a drop counted as `s`.
fn describe(s: Stat) -> &'static str {
    match reason(s) {
        DropReason::Policy => "refused by policy",
        DropReason::NoSa => "no SA for a required request",
        DropReason::Disabled => "protocol disabled (net.inet.esp/ah.enable 0)",
        DropReason::TooBig => "too big once protected",
        DropReason::Short => "shorter than the SA's headers",
        DropReason::Crypto => "the crypto layer failed",
        DropReason::QueueFull => "the decrypting CPU's queue was full",
        DropReason::Icv => "ICV did not verify",
        DropReason::Replay => "replayed or older than the window",
        DropReason::BadEncoding => "bad trailer, padding or inner header",
        DropReason::Sa => "SA not usable (no transform, or past a hard limit)",
        DropReason::Wrap => "sequence numbers exhausted",
        DropReason::Exiting => "namespace exiting",
        DropReason::Invalid => "could not be laid out or routed",
    }
}

/// Marks `skb` to be freed as a drop counted as `s`.
pub(crate) fn mark(skb: &mut Skb, s: Stat) {
    skb.mark_drop(reason(s));
}

/// `skb`, marked to be freed as a drop counted as `s`.
pub(crate) fn marked(mut skb: Skb, s: Stat) -> Skb {
    mark(&mut skb, s);
    skb
}

/// Where an SA-level drop happened, for the log.
#[derive(Clone, Copy)]
pub(crate) struct SaSite<'a> {
    /// `debug` of the family.
    pub(crate) debug: bool,
    /// `DIR_IN` or `DIR_OUT`.
    pub(crate) dir: u8,
    /// The SA the packet was going through.
    pub(crate) rec: &'a SaRecord,
}

/// Counts a drop of `s`, logs it and marks `skb` to be freed for it.
pub(crate) fn drop_sa(skb: &mut Skb, stats: &Stats, s: Stat, site: SaSite<'_>) {
    mark(skb, s);
    count_sa(stats, s, site);
}

/// Counts and logs a drop of `s` whose packet was marked and freed where
/// it was refused.
pub(crate) fn count_sa(stats: &Stats, s: Stat, site: SaSite<'_>) {
    stats.inc(s);
    // The policy check logs its refusals with the inner selector.
    if s != Stat::InPolicyViolation {
        let r = site.rec;
        policy_log::sa_drop(site.debug, site.dir, r, s.name(), describe(s));
    }
}

/// Counts and logs a drop of `s` that no SA is known for (the packet was
/// marked where it was refused).
pub(crate) fn count(stats: &Stats, s: Stat, debug: bool, dir: u8) {
    stats.inc(s);
    policy_log::plain_drop(debug, dir, s.name(), describe(s));
}
