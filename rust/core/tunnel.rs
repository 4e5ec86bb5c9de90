// SPDX-License-Identifier: GPL-2.0

//! The outer header of tunnel mode: how its fields follow from the inner
//! packet and the sysctls (RFC 4301 5.1.2, RFC 6040, KAME `ip_ecn.c` and
//! `ipsec4_encapsulate()`), and the IPv4 header checksum, length and protocol.
//!
//! - **DSCP** is copied inner to outer on encapsulation; on
//!   decapsulation the inner one is kept (RFC 4301 5.1.2.1), unless the SA
//!   asks for the outer one (Linux's `XFRM_STATE_DECAP_DSCP`).
//! - **ECN** follows `net.inet.ipsec.ecn` / `net.inet6.ipsec6.ecn`, see
//!   [`EcnMode`].
//! - **DF** of an outer IPv4 header follows `net.inet.ipsec.dfbit`, see
//!   [`DfBit`].
//! - **TTL / hop limit** of the outer header is the sender's default
//!   (the route's hop limit, `ip_default_ttl`/`hop_limit`, 64 unless
//!   changed), never the inner one: RFC 4301 5.1.2.1 "constructed", KAME
//!   `ip_defttl`, XFRM `ip4_dst_hoplimit()`. Decrementing the inner TTL of a
//!   forwarded packet is the forwarding path's job, before encapsulation.

use crate::kame_core::flow::IPV6_HDR_LEN;

/// The ECN field mask of the TOS / traffic-class byte.
pub const ECN_MASK: u8 = 0x03;
/// ECN codepoint Not-ECT.
pub const ECN_NOT_ECT: u8 = 0;
/// ECN codepoint ECT(1).
pub const ECN_ECT1: u8 = 1;
/// ECN codepoint ECT(0).
pub const ECN_ECT0: u8 = 2;
/// ECN codepoint CE.
pub const ECN_CE: u8 = 3;
/// The DSCP mask of the TOS / traffic-class byte.
pub const DSCP_MASK: u8 = 0xfc;
/// `IP_DF` in the IPv4 `frag_off` word (host order).
pub const IP_DF: u16 = 0x4000;
/// The default outer TTL / hop limit (`IPDEFTTL`, Linux's
/// `sysctl_ip_default_ttl` and IPv6 `hop_limit` defaults).
pub const DEFAULT_TTL: u8 = 64;

/// `net.inet.ipsec.ecn` (and `ipsec6`): how ECN crosses a tunnel
/// (KAME `ip_ecn.h`: `ECN_ALLOWED` 1, `ECN_FORBIDDEN` 0, `ECN_NOCARE` -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcnMode {
    /// 1: RFC 6040 normal mode. Encapsulation copies the ECN field, CE
    /// included (RFC 6040 4.1; RFC 3168's full-functionality mode, which
    /// KAME's `ip_ecn_ingress()` and Linux's `INET_ECN_encapsulate()`
    /// implement, turns CE into ECT(0): the egress result is the same).
    /// Decapsulation applies RFC 6040's table (4.2, Figure 4), dropping
    /// Not-ECT inner packets that arrive with an outer CE.
    Allowed,
    /// 0 (the default): RFC 6040 compatibility mode, KAME's "limited
    /// functionality". The outer ECN field is sent Not-ECT; decapsulation
    /// leaves the inner byte as it is, as KAME's `ip_ecn_egress()` does
    /// (newer FreeBSD drops an outer CE here; KAME, xnu and the manual
    /// pages do not).
    Forbidden,
    /// -1: the TOS byte is copied whole on encapsulation, and the inner one
    /// is left alone on decapsulation.
    NoCare,
}

impl EcnMode {
    /// The mode a sysctl value selects. The sysctl accepts only -1..=1;
    /// anything else acts as -1, as it falls through BSD's switch.
    pub fn from_sysctl(value: i32) -> EcnMode {
        match value {
            1 => EcnMode::Allowed,
            0 => EcnMode::Forbidden,
            _ => EcnMode::NoCare,
        }
    }
}

/// The outer TOS / traffic-class byte for an inner one: DSCP copied, ECN
/// per `mode`.
pub fn encap_dsfield(inner: u8, mode: EcnMode) -> u8 {
    match mode {
        EcnMode::Allowed | EcnMode::NoCare => inner,
        EcnMode::Forbidden => inner & DSCP_MASK,
    }
}

/// What decapsulation does to the inner packet's TOS / traffic class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decap {
    /// Deliver with this inner byte (it may equal the old one).
    Deliver(u8),
    /// Drop: the outer header says congestion was experienced but the inner
    /// transport cannot hear it (RFC 6040 4.2; KAME `ip_ecn_egress()`
    /// returns 0). Count it as an ECN drop.
    Drop,
}

/// The inner TOS / traffic-class byte after decapsulation, from the outer
/// and inner bytes, the ECN mode, and whether the SA copies the outer DSCP
/// into the inner header.
pub fn decap_dsfield(outer: u8, inner: u8, mode: EcnMode, copy_dscp: bool) -> Decap {
    let dscp = if copy_dscp { outer } else { inner } & DSCP_MASK;
    let ecn_in = inner & ECN_MASK;
    let ecn = match mode {
        EcnMode::Forbidden | EcnMode::NoCare => ecn_in,
        EcnMode::Allowed => match (outer & ECN_MASK, ecn_in) {
            (ECN_CE, ECN_NOT_ECT) => return Decap::Drop,
            (ECN_CE, _) => ECN_CE,
            // ECT(1) marks a congestion level under L4S/PCN: keep it.
            (ECN_ECT1, ECN_ECT0) => ECN_ECT1,
            _ => ecn_in,
        },
    };
    Decap::Deliver(dscp | ecn)
}

/// `net.inet.ipsec.dfbit`: the DF bit of an outer IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DfBit {
    /// 0 (the default): cleared, so the tunnel packet may be fragmented.
    Clear,
    /// 1: set.
    Set,
    /// 2: copied from the inner IPv4 header; set for an inner IPv6 packet,
    /// which routers never fragment (FreeBSD `ipsec_encap()` sets DF for
    /// any nonzero `dfbit` with IPv6 inside; XFRM's
    /// `xfrm6_extract_header()` records `IP_DF` for IPv6 inner packets).
    Copy,
}

impl DfBit {
    /// The setting a sysctl value selects; anything but 0 and 1 copies, as
    /// in BSD (the sysctl itself accepts only 0..=2).
    pub fn from_sysctl(value: i32) -> DfBit {
        match value {
            0 => DfBit::Clear,
            1 => DfBit::Set,
            _ => DfBit::Copy,
        }
    }

    /// Whether the outer IPv4 header gets DF. `inner_df` is the inner IPv4
    /// header's DF bit, or `None` for an inner IPv6 packet.
    pub fn outer_df(self, inner_df: Option<bool>) -> bool {
        match self {
            DfBit::Clear => false,
            DfBit::Set => true,
            DfBit::Copy => inner_df.unwrap_or(true),
        }
    }
}

/// The IPv4 header checksum (RFC 791, RFC 1071) of `hdr`, a whole header
/// with its options, the checksum field (bytes 10-11) counted as zero.
/// An odd trailing byte is padded with zero.
///
/// Summed 32 bits at a time (2^16 is 1 modulo 2^16 - 1, so a word counts
/// as its two halves), the checksum field taken back out: five additions
/// for a plain header rather than ten, on every tunnel packet each way.
pub fn ipv4_checksum(hdr: &[u8]) -> u16 {
    let word = |w: &[u8]| {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        u64::from(u32::from_be_bytes(b))
    };
    let mut words = hdr.chunks_exact(4);
    let mut sum: u64 = words.by_ref().map(word).sum();
    sum += word(words.remainder());
    // Bytes 10 and 11 are the low half of the third word.
    let field = [hdr.get(10), hdr.get(11)].map(|b| b.copied().unwrap_or(0));
    sum -= u64::from(u16::from_be_bytes(field));
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // CAST: folded to 16 bits above.
    !(sum as u16)
}

/// Names `next` as the protocol of the IP header `hdr` (all of it: IPv4
/// with its options, or a bare IPv6 header) and sets the packet's length
/// to `total` bytes, the IPv4 checksum with them; `None` if `total` does
/// not fit the field.
pub fn set_next_and_length(hdr: &mut [u8], v6: bool, next: u8, total: usize) -> Option<()> {
    if v6 {
        hdr[6] = next;
        let plen = u16::try_from(total.checked_sub(IPV6_HDR_LEN)?).ok()?;
        hdr[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        hdr[9] = next;
        let tot = u16::try_from(total).ok()?;
        hdr[2..4].copy_from_slice(&tot.to_be_bytes());
        let sum = ipv4_checksum(hdr);
        hdr[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    Some(())
}

/// Whether an IPv4 header's checksum field is right.
pub fn ipv4_checksum_ok(hdr: &[u8]) -> bool {
    match hdr.get(10..12) {
        Some(c) => u16::from_be_bytes([c[0], c[1]]) == ipv4_checksum(hdr),
        None => false,
    }
}

/// The fields of an outer IPv4 header without options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer4 {
    /// TOS: [`encap_dsfield`] of the inner one.
    pub dsfield: u8,
    /// Total length, this header included.
    pub total_len: u16,
    /// Identification.
    pub id: u16,
    /// DF: [`DfBit::outer_df`].
    pub df: bool,
    /// TTL: [`DEFAULT_TTL`] or the route's.
    pub ttl: u8,
    /// Protocol: ESP, AH (or the inner `IPPROTO_IPIP`/`IPPROTO_IPV6` before
    /// the transform is applied).
    pub proto: u8,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

impl Outer4 {
    /// The 20 header bytes, checksum filled in.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = self.dsfield;
        h[2..4].copy_from_slice(&self.total_len.to_be_bytes());
        h[4..6].copy_from_slice(&self.id.to_be_bytes());
        if self.df {
            h[6..8].copy_from_slice(&IP_DF.to_be_bytes());
        }
        h[8] = self.ttl;
        h[9] = self.proto;
        h[12..16].copy_from_slice(&self.src);
        h[16..20].copy_from_slice(&self.dst);
        let c = ipv4_checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }
}

/// The fields of an outer IPv6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer6 {
    /// Traffic class: [`encap_dsfield`] of the inner one.
    pub dsfield: u8,
    /// Flow label (20 bits; higher bits are ignored). XFRM copies an inner
    /// IPv6 packet's and uses 0 for inner IPv4; RFC 6437 allows either.
    pub flow_label: u32,
    /// Payload length (everything after this header).
    pub payload_len: u16,
    /// Next header.
    pub next_header: u8,
    /// Hop limit: [`DEFAULT_TTL`] or the route's.
    pub hop_limit: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

impl Outer6 {
    /// The 40 header bytes.
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut h = [0u8; 40];
        let word = (6u32 << 28) | (u32::from(self.dsfield) << 20) | (self.flow_label & 0xf_ffff);
        h[0..4].copy_from_slice(&word.to_be_bytes());
        h[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src);
        h[24..40].copy_from_slice(&self.dst);
        h
    }
}

#[cfg(test)]
mod tests;
