// SPDX-License-Identifier: GPL-2.0

//! The selectors of an IP packet, read from its bytes: what the SPD matches
//! and what the SAD needs to find an inbound SA.
//!
//! [`parse`] starts at the network header and walks IPv6 extension headers
//! (hop-by-hop, routing, destination options, fragment) to the upper-layer
//! header, as KAME's `ipsec4_get_ulp()`/`ipsec6_get_ulp()` and Linux's
//! `decode_session4()`/`decode_session6()` (`net/xfrm/xfrm_policy.c`) do:
//!
//! - TCP, UDP, UDP-Lite and SCTP give their ports;
//! - ICMP and ICMPv6 give the type in [`Flow::sport`] and the code in
//!   [`Flow::dport`], as both KAME and XFRM put them into the port fields;
//! - the IPv6 Mobility Header gives its MH type in `sport` (XFRM's
//!   `fl6_mh_type`);
//! - ESP and AH give their SPI in [`Flow::spi`] (ESP in UDP is left as UDP:
//!   the NAT-T code knows its port);
//! - a non-first fragment (IPv4 offset or IPv6 fragment offset not zero) has
//!   no upper-layer header: ports 0, [`Frag::Later`].
//!
//! The packet is read up to the length its header declares (IPv4 total
//! length, IPv6 payload length; 0 in either means "as long as the data", for
//! BIG TCP and jumbograms) or to the end of `pkt`, whichever is shorter, so
//! the caller may hand only the linear part of a buffer. IP headers and
//! SPIs the parse needs but cannot see are [`ParseError::Truncated`]; ports
//! an upper-layer header is too short to hold are 0 (a runt still has
//! selectors, and a policy for them). Nothing panics, whatever the bytes.

use crate::kame_core::pfkey::wire::IpAddr;

/// `IPPROTO_HOPOPTS`
pub const IPPROTO_HOPOPTS: u8 = 0;
/// `IPPROTO_ICMP`
pub const IPPROTO_ICMP: u8 = 1;
/// `IPPROTO_IPIP`: IPv4 in IP (tunnel mode's inner IPv4).
pub const IPPROTO_IPIP: u8 = 4;
/// `IPPROTO_TCP`
pub const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`
pub const IPPROTO_UDP: u8 = 17;
/// `IPPROTO_IPV6`: IPv6 in IP (tunnel mode's inner IPv6).
pub const IPPROTO_IPV6: u8 = 41;
/// `IPPROTO_ROUTING`
pub const IPPROTO_ROUTING: u8 = 43;
/// `IPPROTO_FRAGMENT`
pub const IPPROTO_FRAGMENT: u8 = 44;
/// `IPPROTO_ESP`
pub const IPPROTO_ESP: u8 = 50;
/// `IPPROTO_AH`
pub const IPPROTO_AH: u8 = 51;
/// `IPPROTO_ICMPV6`
pub const IPPROTO_ICMPV6: u8 = 58;
/// `IPPROTO_NONE`: no next header.
pub const IPPROTO_NONE: u8 = 59;
/// `IPPROTO_DSTOPTS`
pub const IPPROTO_DSTOPTS: u8 = 60;
/// `IPPROTO_SCTP`
pub const IPPROTO_SCTP: u8 = 132;
/// `IPPROTO_MH`: IPv6 Mobility Header.
pub const IPPROTO_MH: u8 = 135;
/// `IPPROTO_UDPLITE`
pub const IPPROTO_UDPLITE: u8 = 136;

/// Whether `proto` is ESP or AH, the two protocols an SA here runs
/// (IPcomp SAs are kept but never applied).
pub const fn is_ipsec(proto: u8) -> bool {
    proto == IPPROTO_ESP || proto == IPPROTO_AH
}

/// Length of an IPv4 header without options.
pub const IPV4_HDR_LEN: usize = 20;
/// Length of the IPv6 fixed header.
pub const IPV6_HDR_LEN: usize = 40;

/// Why a packet's selectors could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A header the parse needs ends beyond the data or the declared length.
    Truncated,
    /// The version nibble is neither 4 nor 6.
    Version,
    /// IPv4 IHL below 5, or IPv4 total length shorter than the header.
    HeaderLength,
}

/// Where a packet stands among the fragments of its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frag {
    /// Not a fragment.
    None,
    /// The first fragment (offset 0, more to come): it carries the ports.
    First,
    /// A later fragment: no upper-layer header, ports are 0.
    Later,
}

/// The selectors of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Source address (IPv6 scope 0).
    pub src: IpAddr,
    /// Destination address, as in the header (not a routing header's final
    /// destination).
    pub dst: IpAddr,
    /// The upper-layer protocol: the last next-header value of the chain
    /// (ESP and AH stop the walk and are reported as such).
    pub proto: u8,
    /// Source port, ICMP/ICMPv6 type, MH type; 0 when there is none.
    pub sport: u16,
    /// Destination port, ICMP/ICMPv6 code; 0 when there is none.
    pub dport: u16,
    /// The SPI of an ESP or AH header (host order).
    pub spi: Option<u32>,
    /// Offset of the upper-layer header from the start of `pkt` (for a
    /// later fragment, of the fragment's payload).
    pub transport_offset: usize,
    /// Fragment state.
    pub frag: Frag,
    /// IPv4 TOS or IPv6 traffic class: DSCP and ECN.
    pub dsfield: u8,
    /// IPv4 DF bit; false for IPv6.
    pub df: bool,
}

impl Flow {
    /// `AF_INET` or `AF_INET6`.
    pub fn family(&self) -> u16 {
        self.src.family()
    }
}

fn be16(pkt: &[u8], at: usize) -> Result<u16, ParseError> {
    let b = pkt
        .get(at..at.wrapping_add(2))
        .ok_or(ParseError::Truncated)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(pkt: &[u8], at: usize) -> Result<u32, ParseError> {
    let b = pkt
        .get(at..at.wrapping_add(4))
        .ok_or(ParseError::Truncated)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn byte(pkt: &[u8], at: usize) -> Result<u8, ParseError> {
    pkt.get(at).copied().ok_or(ParseError::Truncated)
}

/// Parses the selectors of the packet whose network header starts `pkt`.
pub fn parse(pkt: &[u8]) -> Result<Flow, ParseError> {
    match byte(pkt, 0)? >> 4 {
        4 => parse4(pkt),
        6 => parse6(pkt),
        _ => Err(ParseError::Version),
    }
}

fn parse4(pkt: &[u8]) -> Result<Flow, ParseError> {
    let hdr = pkt.get(..IPV4_HDR_LEN).ok_or(ParseError::Truncated)?;
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    if ihl < IPV4_HDR_LEN {
        return Err(ParseError::HeaderLength);
    }
    // Total length 0 is a BIG TCP GSO packet beyond 64 KiB (Linux's
    // `iph_totlen()`): take what we are given, as for IPv6 jumbograms.
    let total = match usize::from(u16::from_be_bytes([hdr[2], hdr[3]])) {
        0 => pkt.len(),
        n => n,
    };
    if total < ihl {
        return Err(ParseError::HeaderLength);
    }
    // Options must be there: the header is the packet's, not a guess.
    if pkt.len() < ihl {
        return Err(ParseError::Truncated);
    }
    let pkt = &pkt[..total.min(pkt.len())];
    let off = u16::from_be_bytes([hdr[6], hdr[7]]);
    let frag = match (off & 0x1fff, off & 0x2000 != 0) {
        (0, false) => Frag::None,
        (0, true) => Frag::First,
        _ => Frag::Later,
    };
    let mut flow = Flow {
        src: IpAddr::V4([hdr[12], hdr[13], hdr[14], hdr[15]]),
        dst: IpAddr::V4([hdr[16], hdr[17], hdr[18], hdr[19]]),
        proto: hdr[9],
        sport: 0,
        dport: 0,
        spi: None,
        transport_offset: ihl,
        frag,
        dsfield: hdr[1],
        df: off & 0x4000 != 0,
    };
    if frag != Frag::Later {
        upper(pkt, &mut flow)?;
    }
    Ok(flow)
}

fn addr6(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    IpAddr::V6(a, 0)
}

fn parse6(pkt: &[u8]) -> Result<Flow, ParseError> {
    let hdr = pkt.get(..IPV6_HDR_LEN).ok_or(ParseError::Truncated)?;
    let plen = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    // Payload length 0 is a jumbogram (RFC 2675): take what we are given.
    let end = if plen == 0 {
        pkt.len()
    } else {
        (IPV6_HDR_LEN + plen).min(pkt.len())
    };
    let pkt = &pkt[..end];
    let mut flow = Flow {
        src: addr6(&hdr[8..24]),
        dst: addr6(&hdr[24..40]),
        proto: hdr[6],
        sport: 0,
        dport: 0,
        spi: None,
        transport_offset: IPV6_HDR_LEN,
        frag: Frag::None,
        dsfield: (hdr[0] << 4) | (hdr[1] >> 4),
        df: false,
    };
    // Each extension header takes at least 8 bytes, so the walk ends.
    loop {
        let at = flow.transport_offset;
        match flow.proto {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let nh = byte(pkt, at)?;
                let len = (usize::from(byte(pkt, at + 1)?) + 1) * 8;
                if pkt.len() < at + len {
                    return Err(ParseError::Truncated);
                }
                flow.proto = nh;
                flow.transport_offset = at + len;
            }
            IPPROTO_FRAGMENT => {
                let nh = byte(pkt, at)?;
                let off = be16(pkt, at + 2)?;
                flow.proto = nh;
                flow.transport_offset = at + 8;
                if off & 0xfff8 != 0 {
                    flow.frag = Frag::Later;
                    if pkt.len() < at + 8 {
                        return Err(ParseError::Truncated);
                    }
                    return Ok(flow);
                }
                if off & 1 != 0 {
                    flow.frag = Frag::First;
                }
                // An atomic fragment (offset 0, M clear; RFC 6946) is a
                // whole datagram: keep it as not fragmented.
            }
            _ => break,
        }
    }
    upper(pkt, &mut flow)?;
    Ok(flow)
}

/// Fills the ports or SPI from the upper-layer header at
/// `flow.transport_offset`.
fn upper(pkt: &[u8], flow: &mut Flow) -> Result<(), ParseError> {
    let at = flow.transport_offset;
    // Ports (types) the packet is too short to hold are 0, which only
    // "any" matches (KAME's `ipsec4_get_ulp()`): a runt is judged by the
    // policy for its addresses and protocol, never let by unjudged.
    match flow.proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_UDPLITE | IPPROTO_SCTP => {
            if let (Ok(s), Ok(d)) = (be16(pkt, at), be16(pkt, at + 2)) {
                (flow.sport, flow.dport) = (s, d);
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            if let (Ok(t), Ok(c)) = (byte(pkt, at), byte(pkt, at + 1)) {
                (flow.sport, flow.dport) = (t.into(), c.into());
            }
        }
        // RFC 6275 6.1.1: payload proto, header length, MH type.
        IPPROTO_MH => flow.sport = byte(pkt, at + 2).map_or(0, u16::from),
        IPPROTO_ESP => flow.spi = Some(be32(pkt, at)?),
        // RFC 4302 2: next header, payload length, reserved, SPI.
        IPPROTO_AH => flow.spi = Some(be32(pkt, at + 4)?),
        _ => {
            if pkt.len() < at {
                return Err(ParseError::Truncated);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
