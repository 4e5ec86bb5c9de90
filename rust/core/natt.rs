// SPDX-License-Identifier: GPL-2.0

//! NAT traversal (RFC 3948): the UDP header in front of ESP, taking it off
//! a received packet, and the upper-layer checksum of a transport-mode
//! packet whose addresses a NAT rewrote.
//!
//! The classification of what arrives on a NAT-T port (ESP, IKE,
//! keepalive) is [`crate::kame_core::esp::natt_classify`].

use crate::kame_core::{
    esp::UDP_HDR_LEN,
    flow::{IPPROTO_ESP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_HDR_LEN},
    tunnel::set_next_and_length,
};

/// The IKE/NAT-T port (RFC 3948 2): what a port of 0 in an SA's NAT-T
/// extension stands for.
pub const NATT_PORT: u16 = 4500;

/// An SA's NAT-T port, 0 (not given) meaning [`NATT_PORT`].
pub fn port_or_default(port: u16) -> u16 {
    if port == 0 {
        NATT_PORT
    } else {
        port
    }
}

/// The UDP header in front of an ESP packet of `esp_len` bytes (header to
/// ICV): RFC 3948 2.1, checksum 0 (IPv4; for IPv6 it is filled in after
/// encryption with [`udp_checksum`]). `None` if it does not fit in the
/// length field.
pub fn udp_header(sport: u16, dport: u16, esp_len: usize) -> Option<[u8; UDP_HDR_LEN]> {
    let len = u16::try_from(esp_len.checked_add(UDP_HDR_LEN)?).ok()?;
    let mut h = [0u8; UDP_HDR_LEN];
    h[..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    Some(h)
}

/// Adds `data` as big-endian 16-bit words (an odd last byte padded with
/// zero) to `sum`, without folding.
fn add_words(data: &[u8], mut sum: u64) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// The one's complement of the folded sum.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // CAST: folded to 16 bits above.
    !(sum as u16)
}

/// The Internet checksum of an upper-layer segment (RFC 768, RFC 793,
/// RFC 8200 8.1) between `src` and `dst` (4 or 16 bytes each), its own
/// checksum field counted as it is: write 0 there first.
pub fn l4_checksum(src: &[u8], dst: &[u8], proto: u8, segment: &[u8]) -> u16 {
    let mut sum = add_words(src, 0);
    sum = add_words(dst, sum);
    sum += u64::from(proto);
    sum += segment.len() as u64;
    fold(add_words(segment, sum))
}

/// The UDP checksum of the datagram `udp` (header and payload, checksum
/// field zero) between `src` and `dst`: 0 is sent as 0xffff (RFC 768).
pub fn udp_checksum(src: &[u8], dst: &[u8], udp: &[u8]) -> u16 {
    match l4_checksum(src, dst, IPPROTO_UDP, udp) {
        0 => 0xffff,
        c => c,
    }
}

/// The source and destination addresses of the IP header at `b[0]`.
fn addresses(b: &[u8], v6: bool) -> Option<(&[u8], &[u8])> {
    if v6 {
        Some((b.get(8..24)?, b.get(24..40)?))
    } else {
        Some((b.get(12..16)?, b.get(16..20)?))
    }
}

/// Where the checksum of protocol `proto` sits in its header, if it covers
/// the IP addresses (TCP, UDP, ICMPv6; ICMPv4's does not).
fn checksum_offset(proto: u8) -> Option<usize> {
    match proto {
        IPPROTO_TCP => Some(16),
        IPPROTO_UDP => Some(6),
        IPPROTO_ICMPV6 => Some(2),
        _ => None,
    }
}

/// RFC 3948 3.1.2: a transport-mode packet that came through a NAT has
/// the addresses the NAT gave it, and an upper-layer checksum its sender
/// computed over the addresses it knew. ESP has proved the segment
/// intact, so the receiver computes the checksum again over the addresses
/// the packet now carries (the third of the RFC's ways; NAT-OA is not
/// needed). `b` is the whole packet from its IP header, the upper layer at
/// `l4_off`. An IPv4 UDP datagram sent without a checksum (0) keeps none.
/// Protocols whose checksum does not cover the addresses are left alone.
/// `None` if the packet is too short for its header.
pub fn fix_transport_checksum(b: &mut [u8], v6: bool, l4_off: usize, proto: u8) -> Option<()> {
    let Some(at) = checksum_offset(proto) else {
        return Some(());
    };
    let field = l4_off.checked_add(at)?;
    let old = b.get(field..field.checked_add(2)?)?;
    if !v6 && proto == IPPROTO_UDP && old == [0, 0] {
        return Some(());
    }
    if proto == IPPROTO_TCP && b.len() < l4_off + 20 {
        return None;
    }
    b[field..field + 2].fill(0);
    let (head, segment) = b.split_at(l4_off);
    let (src, dst) = addresses(head, v6)?;
    let sum = if proto == IPPROTO_UDP {
        udp_checksum(src, dst, segment)
    } else {
        l4_checksum(src, dst, proto, segment)
    };
    b[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Some(())
}

/// Takes the UDP header off a received ESP-in-UDP packet: `b` is the
/// packet from its IP header, the UDP header at `l4_off`. The IP header
/// moves up by [`UDP_HDR_LEN`] bytes over it and names ESP as its
/// protocol, its length (and IPv4 checksum) set for what remains; the
/// packet then starts at `b[UDP_HDR_LEN]`. `None` for an IPv6 packet with
/// extension headers (TODO[B], as transport-mode ESP after them) or one
/// too short.
pub fn strip_udp(b: &mut [u8], v6: bool, l4_off: usize) -> Option<()> {
    if b.len() < l4_off.checked_add(UDP_HDR_LEN)? || (v6 && l4_off != IPV6_HDR_LEN) {
        return None;
    }
    if !v6 && (l4_off < 20 || usize::from(b[0] & 0x0f) * 4 != l4_off) {
        return None;
    }
    b.copy_within(0..l4_off, UDP_HDR_LEN);
    let total = b.len() - UDP_HDR_LEN;
    set_next_and_length(
        &mut b[UDP_HDR_LEN..UDP_HDR_LEN + l4_off],
        v6,
        IPPROTO_ESP,
        total,
    )?;
    Some(())
}

#[cfg(test)]
mod tests;
