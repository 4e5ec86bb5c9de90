// SPDX-License-Identifier: GPL-2.0

//! ICMP errors about flows the SPD protects (Documentation/datapath.rst,
//! "ICMP errors").
//!
//! Every ICMP packet is first judged by its own header, as KAME
//! (`ipsec4_in_reject()` from `ip_input()`) and XFRM (`icmp_rcv()`) judge
//! it. When that refuses an error message, this file gives it a second
//! look by the flow it quotes, reversed:
//!
//! - arrived through our SAs: accepted if the quoted flow's own policy is
//!   met by the same SAs (what XFRM does for SAs with `flag icmp`; PF_KEY
//!   has no such flag, so here it holds for every SA);
//! - arrived in the clear: accepted only with `icmp_accept_clear` 1, only
//!   where a `require` left it unprotected (never past `discard` or
//!   `def_policy` 0), and only if the quoted flow is one an `ipsec` policy
//!   covers (Solaris' icmp-accept-clear, narrowed to the errors about our
//!   flows).

#![forbid(unsafe_code)]

use crate::{
    datapath::{Datapath, Levels},
    kame_core::{
        flow::Flow,
        icmp,
        spd::POLICY_IPSEC,
        sysctl::{Ipsec4, Ipsec6},
    },
    kapi::skb::Skb,
    output::SELECTOR_BYTES,
    policy_in::{self, History, Refusal},
    spd_table::SpdReader,
    sysctl::Setting,
};
use kernel::sync::rcu;

/// The flow the ICMP error `err` (the packet in `skb`) is about, as its
/// packets arrive here; `None` if `err` is no such error.
fn quoted_flow(skb: &Skb, err: &Flow) -> Option<Flow> {
    if !icmp::is_error(err) {
        return None;
    }
    let at = icmp::quoted_offset(err);
    let mut buf = [0u8; SELECTOR_BYTES];
    let n = skb.len().checked_sub(at)?.min(SELECTOR_BYTES);
    skb.copy_out(at, &mut buf[..n]).ok()?;
    icmp::about(err, &buf[..n])
}

/// A packet that arrived in the clear and was refused for `why`: whether
/// it is an ICMP error `icmp_accept_clear` lets through.
pub(crate) fn clear_error_accepted(
    dp: &Datapath,
    v6: bool,
    dir: u8,
    skb: &Skb,
    err: &Flow,
    why: Refusal,
) -> bool {
    let on = dp.sysctls.get(if v6 {
        Setting::V6(Ipsec6::IcmpAcceptClear)
    } else {
        Setting::V4(Ipsec4::IcmpAcceptClear)
    });
    if on == 0 || why != Refusal::Unprotected {
        return false;
    }
    let Some(about) = quoted_flow(skb, err) else {
        return false;
    };
    let g = rcu::read_lock();
    dp.keys
        .spd
        .lookup(&g, dir, &about)
        .is_some_and(|p| p.rec.ty == POLICY_IPSEC)
}

/// A decapsulated packet its own policy refused: whether it is an ICMP
/// error about a flow whose policy the SAs in `hist` meet.
pub(crate) fn protected_error_accepted(
    spd: &SpdReader,
    levels: &Levels<'_>,
    dir: u8,
    skb: &Skb,
    err: &Flow,
    hist: &History,
) -> bool {
    quoted_flow(skb, err)
        .is_some_and(|about| policy_in::check(spd, levels, dir, &about, hist).is_ok())
}
