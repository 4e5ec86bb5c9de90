// SPDX-License-Identifier: GPL-2.0

//! ICMP and ICMPv6 error messages: which messages are errors about a flow,
//! where the packet they quote starts, and the selectors of the flow they
//! are about, as that flow's packets arrive here (the quoted packet
//! reversed, as XFRM's `xfrm_decode_session_reverse()` reads it).
//!
//! The errors are those a host hands to the transport protocol of the
//! quoted packet: destination unreachable (PMTU's "fragmentation needed"
//! among them), time exceeded and parameter problem, and ICMPv6's packet
//! too big. XFRM's `icmp_err_packet()` leaves parameter problem out; it is
//! in here because the stack delivers it to sockets like the others.

use crate::kame_core::{
    flow::{self, Flow, Frag, IPPROTO_ICMP, IPPROTO_ICMPV6},
    pfkey::wire::IpAddr,
};

/// ICMP destination unreachable.
pub const ICMP_DEST_UNREACH: u16 = 3;
/// ICMP time exceeded.
pub const ICMP_TIME_EXCEEDED: u16 = 11;
/// ICMP parameter problem.
pub const ICMP_PARAMETERPROB: u16 = 12;
/// ICMPv6 destination unreachable.
pub const ICMPV6_DEST_UNREACH: u16 = 1;
/// ICMPv6 packet too big.
pub const ICMPV6_PKT_TOOBIG: u16 = 2;
/// ICMPv6 time exceeded.
pub const ICMPV6_TIME_EXCEED: u16 = 3;
/// ICMPv6 parameter problem.
pub const ICMPV6_PARAMPROB: u16 = 4;

/// Length of the ICMP and ICMPv6 header before the quoted packet (type,
/// code, checksum, and the MTU, pointer or unused word).
pub const ICMP_ERR_HDR_LEN: usize = 8;

/// Whether `f`'s packet is an ICMP (IPv4) or ICMPv6 (IPv6) error message
/// quoting a packet. [`Flow::sport`] holds the type (see [`crate::flow`]);
/// a later fragment has no ICMP header and is not one.
pub fn is_error(f: &Flow) -> bool {
    if f.frag == Frag::Later {
        return false;
    }
    let v6 = matches!(f.src, IpAddr::V6(..));
    match (f.proto, v6) {
        (IPPROTO_ICMP, false) => matches!(
            f.sport,
            ICMP_DEST_UNREACH | ICMP_TIME_EXCEEDED | ICMP_PARAMETERPROB
        ),
        (IPPROTO_ICMPV6, true) => matches!(
            f.sport,
            ICMPV6_DEST_UNREACH | ICMPV6_PKT_TOOBIG | ICMPV6_TIME_EXCEED | ICMPV6_PARAMPROB
        ),
        _ => false,
    }
}

/// Offset of the quoted packet in an error message whose selectors are `f`.
pub fn quoted_offset(f: &Flow) -> usize {
    f.transport_offset + ICMP_ERR_HDR_LEN
}

/// The selectors of the flow the error `err` is about, as its packets
/// arrive here: the quoted packet `quoted` (the bytes from
/// [`quoted_offset`] on, as many as there are) with its addresses and
/// ports swapped. ICMP type and code, and an SPI, stay as quoted. `None`
/// when the quoted packet is not of the error's family or cannot be read.
pub fn about(err: &Flow, quoted: &[u8]) -> Option<Flow> {
    let q = flow::parse(quoted).ok()?;
    if q.src.family() != err.src.family() {
        return None;
    }
    let ports = !matches!(q.proto, IPPROTO_ICMP | IPPROTO_ICMPV6);
    Some(Flow {
        src: q.dst,
        dst: q.src,
        sport: if ports { q.dport } else { q.sport },
        dport: if ports { q.sport } else { q.dport },
        ..q
    })
}

#[cfg(test)]
mod tests;
