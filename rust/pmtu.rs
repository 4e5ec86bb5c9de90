// SPDX-License-Identifier: GPL-2.0

//! Path MTU through a bundle. What ESP/AH add must not make packets too
//! big for the path: TCP SYNs have their MSS clamped so neither end sends
//! segments that need fragments once protected
//! ([`crate::kame_core::tcp_mss`]); a packet with DF (any IPv6 packet)
//! too big after encapsulation is refused with ICMP "fragmentation
//! needed"/"packet too big" giving the MTU that fits, sent to its source:
//! the forwarding host's, or in tunnel mode this host's own socket, which
//! then learns the path MTU of its inner destination as from any router.
//! [`crate::kame_core::pmtu`] has the rule.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        ah::{header_len, Align},
        esp::{Encap, Mode},
        flow::{Flow, IPPROTO_AH, IPPROTO_TCP, IPV4_HDR_LEN, IPV6_HDR_LEN},
        pfkey::wire::IpAddr,
        pmtu::{decide, Action, Outbound, Sender},
        sad::MODE_TUNNEL,
        tcp_mss::{clamp_syn_mss, is_syn},
    },
    kapi::skb::Skb,
    output::Bundle,
};

/// TCP header without options: what the MSS does not count.
const TCP_HDR_LEN: usize = 20;

/// The largest packet as it is now (its IP header `hl` bytes) that still
/// fits `mtu` once every SA of `bundle` is applied; `None` if none does.
pub(crate) fn bundle_mtu(bundle: &Bundle, hl: usize, mtu: usize) -> Option<usize> {
    // Each layer's header in front: the packet's own IP header in
    // transport mode, the new outer one in tunnel mode.
    let mut front = hl;
    let mut layers = [(0usize, None); crate::kame_core::spd::MAX_DEPTH];
    for (slot, sa) in layers.iter_mut().zip(bundle.sas.iter()) {
        let Some(sa) = sa else { continue };
        if sa.rec.mode == MODE_TUNNEL {
            front = match sa.rec.src {
                IpAddr::V4(_) => IPV4_HDR_LEN,
                IpAddr::V6(..) => IPV6_HDR_LEN,
            };
        }
        *slot = (front, Some(sa));
    }
    let mut m = mtu;
    for (front, sa) in layers.iter().rev() {
        let Some(sa) = sa else { continue };
        let tunnel = sa.rec.mode == MODE_TUNNEL;
        let x = sa.xform.as_ref()?;
        m = if sa.rec.id.proto == IPPROTO_AH {
            let ah = header_len(x.ah()?.icvlen as usize, Align::Eight);
            m.checked_sub(ah + if tunnel { *front } else { 0 })?
        } else {
            let mode = if tunnel {
                Mode::Tunnel
            } else {
                Mode::Transport
            };
            let e = Encap {
                mode,
                ip_hdr_len: *front,
                natt: sa.rec.natt.is_some(),
            };
            e.max_len(&x.esp()?.geom, m)?
        };
    }
    Some(m)
}

/// What the output path does about the size of a packet it protects.
pub(crate) enum SizeCheck {
    /// Go on.
    Fits,
    /// Go on with IPv6 fragments of at most this size, each protected.
    Fragment(usize),
    /// Drop: the source was told the MTU (an ICMP error, to this host for
    /// a local sender, whose output call fails with EMSGSIZE).
    TooBig,
}

/// Clamps a SYN's MSS and checks the packet's size against what fits
/// through `bundle` ([`crate::kame_core::pmtu::decide`]).
pub(crate) fn check_out(skb: &mut Skb, v6: bool, flow: &Flow, bundle: &Bundle) -> SizeCheck {
    // The protected packet takes the route to the outermost tunnel's end
    // (in transport mode, the packet's own): its MTU, not that of the
    // packet's route, which may hold the path MTU learned from us.
    let outer = bundle
        .sas
        .iter()
        .flatten()
        .rfind(|sa| sa.rec.mode == MODE_TUNNEL);
    // The SA's route cache spares a route lookup per packet.
    let mtu = match outer {
        Some(sa) => {
            let cache = sa.route_cache();
            match (&sa.rec.src, &sa.rec.id.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => skb.route_mtu(false, s, d, cache),
                (IpAddr::V6(s, _), IpAddr::V6(d, _)) => skb.route_mtu(true, s, d, cache),
                _ => 0,
            }
        }
        None => skb.dst_mtu(),
    };
    let hl = flow.transport_offset;
    let fits = bundle_mtu(bundle, hl, mtu).filter(|_| mtu > 0);
    if let (Some(max), IPPROTO_TCP) = (fits, flow.proto) {
        clamp(skb, hl, max.saturating_sub(hl + TCP_HDR_LEN));
    }
    // A tunnel to another host than the destination: a path MTU recorded
    // for the destination leaves the protected packets' path alone.
    let tunnel = outer.is_some_and(|sa| sa.rec.id.dst != flow.dst);
    let sender = if skb.local_sender() {
        Sender::Local
    } else {
        Sender::Other
    };
    let p = Outbound {
        len: skb.len(),
        fits,
        v6,
        df: flow.df,
        may_fragment: skb.ignore_df(),
        gso: skb.is_gso(),
        sender,
        tunnel,
    };
    match decide(&p) {
        Action::Send => SizeCheck::Fits,
        Action::LearnAndSend(mtu) => {
            skb.update_pmtu(mtu);
            SizeCheck::Fits
        }
        Action::LearnAndFragment(mtu) => {
            skb.update_pmtu(mtu);
            SizeCheck::Fragment(mtu)
        }
        Action::TellSource(mtu) => {
            skb.icmp_too_big(v6, mtu);
            SizeCheck::TooBig
        }
    }
}

/// Whether the packet's TCP segment at offset `hl` is a SYN.
pub(crate) fn syn_at(skb: &Skb, hl: usize) -> bool {
    let mut head = [0u8; 14];
    skb.peek(hl, &mut head).is_some_and(is_syn)
}

/// Lowers the MSS of the TCP SYN at offset `hl` to `max_mss`.
pub(crate) fn clamp(skb: &mut Skb, hl: usize, max_mss: usize) {
    if !syn_at(skb, hl) {
        return;
    }
    // The checksum must be whole before it is adjusted.
    if skb.resolve_checksum().is_err() || skb.make_room(0, 0).is_err() {
        return;
    }
    let max = u16::try_from(max_mss).unwrap_or(u16::MAX);
    if let Some(tcp) = skb.bytes().get_mut(hl..) {
        clamp_syn_mss(tcp, max);
    }
}
