// SPDX-License-Identifier: GPL-2.0

//! AH (RFC 4302): the header layout and the ICV input, i.e. the copy of the
//! IP headers with every field that may change in transit zeroed
//! (RFC 4302 3.3.3.1), under KAME's `ah_cleartos` and `ah_offsetmask`.
//!
//! The ICV covers, in order: the massaged IP header (and, for IPv6, its
//! massaged extension headers up to AH), the AH header with its ICV field
//! zeroed, the rest of the packet, and with ESN the high 32 bits of the
//! sequence number (RFC 4302 3.3.3.2.1; XFRM's `ah_input()` appends them
//! after the payload). The data path copies the headers into a scratch
//! buffer, calls [`massage_ipv4`] or [`massage_ipv6`] on the copy, and hashes
//! the copy instead of the packet's own bytes.
//!
//! Interop note on padding: RFC 4302 2.6 pads the ICV so the AH header is a
//! multiple of 4 bytes over IPv4 and 8 over IPv6. XFRM's `ah4.c` pads to 8
//! over IPv4 too unless the state has `XFRM_STATE_ALIGN4` (which PF_KEY
//! cannot set), and accepts only the length it would send. With 12-byte
//! ICVs both give 24 bytes; with HMAC-SHA-256 (16), -384 (24) and -512 (32)
//! they differ, so the alignment is a parameter ([`Align`]) and
//! [`AhHeader::parse`] reports what arrived for the caller to judge.

use crate::kame_core::flow::{
    IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPV4_HDR_LEN, IPV6_HDR_LEN,
};

/// The fixed part of the AH header: next header, payload length,
/// reserved, SPI, sequence number.
pub const AH_HDR_LEN: usize = 12;

/// Why headers could not be prepared for the ICV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AhError {
    /// The buffer ends before a header it must hold.
    Truncated,
    /// Not the IP version expected, or an IPv4 IHL below 5.
    Version,
    /// An IPv4 option or IPv6 TLV option whose length runs past its header,
    /// or a source route option without an address.
    BadOption,
    /// An IPv6 header before AH that AH cannot cover (a fragment header:
    /// AH is computed over the reassembled packet), or a routing header
    /// whose length does not match its addresses.
    BadExtHeader,
    /// The AH payload length is smaller than the fixed header.
    BadLength,
}

/// The sysctl settings that shape the IPv4 ICV input
/// (`net.inet.ipsec.ah_cleartos` and `net.inet.ipsec.ah_offsetmask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Massage {
    /// `ah_cleartos`: true (1, the default, RFC 2402/4302) zeroes the TOS
    /// byte; false (0) includes it, for RFC 1826 peers.
    pub cleartos: bool,
    /// `ah_offsetmask`: ANDed (host order) with the whole 16-bit flags and
    /// fragment offset word. 0, the default and the RFC's value, zeroes it;
    /// 0x4000 keeps DF in the ICV, 0xffff keeps flags and offset (RFC 1826).
    /// KAME `ah4_calccksum()`.
    pub offsetmask: u16,
}

impl Ipv4Massage {
    /// The RFC 4302 behaviour, the sysctls' defaults.
    pub const RFC: Ipv4Massage = Ipv4Massage {
        cleartos: true,
        offsetmask: 0,
    };

    /// From the sysctl values (validated by `sysctl.rs`: 0..=1 and
    /// 0..=0xffff; other bits of `offsetmask` cannot matter).
    pub fn from_sysctls(ah_cleartos: i32, ah_offsetmask: i32) -> Ipv4Massage {
        Ipv4Massage {
            cleartos: ah_cleartos != 0,
            // CAST: only the low 16 bits can meet the 16-bit field.
            offsetmask: ah_offsetmask as u16,
        }
    }
}

/// `IPOPT_END`
const IPOPT_END: u8 = 0;
/// `IPOPT_NOOP`
const IPOPT_NOOP: u8 = 1;
/// `IPOPT_LSRR`
const IPOPT_LSRR: u8 = 0x83;
/// `IPOPT_SSRR`
const IPOPT_SSRR: u8 = 0x89;

/// Whether an IPv4 option is immutable in transit and so included in the
/// ICV as it is (RFC 4302 Appendix A.1: Security, Extended Security,
/// Commercial Security/CIPSO, Router Alert, Sender Directed
/// Multi-Destination Delivery; the same list in KAME `ah4_calccksum()`,
/// FreeBSD `ah_massage_headers()` and Linux `ip_clear_mutable_options()`).
/// End of list and No Operation are handled before this.
fn ipv4_option_immutable(kind: u8) -> bool {
    matches!(kind, 0x82 | 0x85 | 0x86 | 0x94 | 0x95)
}

/// Prepares a copy of an IPv4 header (`hdr`, options included: exactly
/// IHL * 4 bytes or more; bytes after the header are not touched) for the
/// ICV: TTL and checksum zeroed, TOS zeroed if `m.cleartos`, the flags and
/// fragment offset word ANDed with `m.offsetmask`, mutable options zeroed
/// whole (RFC 4302 3.3.3.1.1.2: "the entire option is zeroed").
///
/// With loose or strict source routing, the destination is "mutable but
/// predictable": on output (`outbound`), the option's last address, the
/// final destination, is written into the copy's destination field, as the
/// receiver will see it (Linux `ah_output()`); on input the destination
/// already is the final one and is left.
///
/// Returns the header length.
pub fn massage_ipv4(hdr: &mut [u8], m: Ipv4Massage, outbound: bool) -> Result<usize, AhError> {
    let first = *hdr.first().ok_or(AhError::Truncated)?;
    if first >> 4 != 4 {
        return Err(AhError::Version);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < IPV4_HDR_LEN {
        return Err(AhError::Version);
    }
    let hdr = hdr.get_mut(..ihl).ok_or(AhError::Truncated)?;
    if m.cleartos {
        hdr[1] = 0;
    }
    let off = u16::from_be_bytes([hdr[6], hdr[7]]) & m.offsetmask;
    hdr[6..8].copy_from_slice(&off.to_be_bytes());
    hdr[8] = 0;
    hdr[10] = 0;
    hdr[11] = 0;

    let (fixed, opts) = hdr.split_at_mut(IPV4_HDR_LEN);
    let mut at = 0;
    while at < opts.len() {
        match opts[at] {
            IPOPT_END => break,
            IPOPT_NOOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*opts.get(at + 1).ok_or(AhError::BadOption)?);
        if len < 2 || at + len > opts.len() {
            return Err(AhError::BadOption);
        }
        let opt = &mut opts[at..at + len];
        if !ipv4_option_immutable(opt[0]) {
            if matches!(opt[0], IPOPT_LSRR | IPOPT_SSRR) {
                // Type, length, pointer, then at least one address.
                if len < 7 {
                    return Err(AhError::BadOption);
                }
                if outbound {
                    fixed[16..20].copy_from_slice(&opt[len - 4..]);
                }
            }
            opt.fill(0);
        }
        at += len;
    }
    Ok(ihl)
}

/// Whether an IPv6 option's "may change en route" bit is set (RFC 8200
/// 4.2: the third-highest bit of the option type).
const IP6OPT_MUTABLE: u8 = 0x20;
/// `IP6OPT_PAD1`
const IP6OPT_PAD1: u8 = 0;

/// Zeroes the data of the mutable options of one hop-by-hop or destination
/// options header (type and length stay: RFC 4302 3.3.3.1.2.2; KAME
/// `ah6_calccksum()`, Linux `zero_out_mutable_opt()`).
fn massage_options(ext: &mut [u8]) -> Result<(), AhError> {
    let mut at = 2;
    while at < ext.len() {
        if ext[at] == IP6OPT_PAD1 {
            at += 1;
            continue;
        }
        let len = usize::from(*ext.get(at + 1).ok_or(AhError::BadOption)?);
        let end = at + 2 + len;
        if end > ext.len() {
            return Err(AhError::BadOption);
        }
        if ext[at] & IP6OPT_MUTABLE != 0 {
            ext[at + 2..end].fill(0);
        }
        at = end;
    }
    Ok(())
}

/// Puts a type 0 or type 2 routing header into the form the final
/// destination will see: segments left 0, the IPv6 destination the last
/// address, the addresses shifted (RFC 4302 3.3.3.1.2.1, "mutable but
/// predictable"; Linux `ipv6_rearrange_rthdr()`). Other routing types are
/// left as they are and so covered as sent (KAME `ah6_calccksum()`).
fn rearrange_rthdr(ip6: &mut [u8], rt: &mut [u8]) -> Result<(), AhError> {
    let (kind, left) = (rt[2], usize::from(rt[3]));
    if !matches!(kind, 0 | 2) || left == 0 {
        return Ok(());
    }
    // Header length in 8-byte units: two per address, after 8 fixed bytes.
    let hdrlen = usize::from(rt[1]);
    let segments = hdrlen / 2;
    if hdrlen % 2 != 0 || left > segments || rt.len() != 8 + 16 * segments {
        return Err(AhError::BadExtHeader);
    }
    rt[3] = 0;
    let addrs = &mut rt[8..];
    let mut last = [0u8; 16];
    last.copy_from_slice(&addrs[16 * (segments - 1)..]);
    // The addresses still to visit move up one slot; the current
    // destination takes the first of them, the final one becomes the
    // destination.
    let first = segments - left;
    addrs.copy_within(16 * first..16 * (segments - 1), 16 * (first + 1));
    addrs[16 * first..16 * (first + 1)].copy_from_slice(&ip6[24..40]);
    ip6[24..40].copy_from_slice(&last);
    Ok(())
}

/// Prepares a copy of an IPv6 header and the extension headers before AH
/// (`buf` starts at the IPv6 header and holds at least everything up to
/// the AH header) for the ICV: traffic class, flow label and hop limit
/// zeroed (the version stays 6), mutable hop-by-hop and destination options
/// zeroed, type 0/2 routing headers rearranged when `outbound` (see
/// [`rearrange_rthdr`]; inbound they arrive with nothing left to visit).
///
/// Returns the offset of the AH header. KAME and FreeBSD also clear the
/// embedded scope of link-local addresses: a BSD in-kernel artefact that
/// never reaches the wire, so nothing to do here.
pub fn massage_ipv6(buf: &mut [u8], outbound: bool) -> Result<usize, AhError> {
    if buf.len() < IPV6_HDR_LEN {
        return Err(AhError::Truncated);
    }
    if buf[0] >> 4 != 6 {
        return Err(AhError::Version);
    }
    buf[0] = 0x60;
    buf[1] = 0;
    buf[2] = 0;
    buf[3] = 0;
    buf[7] = 0;
    let mut nh = buf[6];
    let mut at = IPV6_HDR_LEN;
    while nh != IPPROTO_AH {
        match nh {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {}
            // A fragment header (AH covers the reassembled packet), or an
            // upper layer: there is no AH in this chain.
            _ => return Err(AhError::BadExtHeader),
        }
        let len = match buf.get(at + 1) {
            Some(&l) => (usize::from(l) + 1) * 8,
            None => return Err(AhError::Truncated),
        };
        if buf.len() < at + len {
            return Err(AhError::Truncated);
        }
        let (ip6, rest) = buf.split_at_mut(at);
        let ext = &mut rest[..len];
        let next = ext[0];
        if nh == IPPROTO_ROUTING {
            if outbound {
                rearrange_rthdr(ip6, ext)?;
            }
        } else {
            massage_options(ext)?;
        }
        nh = next;
        at += len;
    }
    Ok(at)
}

/// The alignment of the AH header (with its ICV) in a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// 32 bits: RFC 4302 for IPv4 (KAME, FreeBSD; XFRM with
    /// `XFRM_STATE_ALIGN4`).
    Four,
    /// 64 bits: RFC 4302 for IPv6; XFRM's default for IPv4 as well.
    Eight,
}

impl Align {
    /// RFC 4302 2.6's alignment for an IPv4 (`false`) or IPv6 (`true`)
    /// packet.
    pub fn rfc(ipv6: bool) -> Align {
        if ipv6 {
            Align::Eight
        } else {
            Align::Four
        }
    }

    fn bytes(self) -> usize {
        match self {
            Align::Four => 4,
            Align::Eight => 8,
        }
    }
}

/// The whole AH header length with an ICV of `icv_len` bytes, padded to
/// `align`.
pub fn header_len(icv_len: usize, align: Align) -> usize {
    (AH_HDR_LEN + icv_len).next_multiple_of(align.bytes())
}

/// The fixed fields of an AH header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AhHeader {
    /// The protocol after AH.
    pub next_header: u8,
    /// The Payload Length field: the header's length in 32-bit words minus
    /// 2 (RFC 4302 2.2).
    pub payload_len: u8,
    /// SPI (host order).
    pub spi: u32,
    /// Sequence number, low 32 bits (host order).
    pub seq: u32,
}

impl AhHeader {
    /// A header for an ICV of `icv_len` bytes padded to `align`; `None` if
    /// it cannot be expressed (beyond 1028 bytes).
    pub fn new(next_header: u8, icv_len: usize, align: Align, spi: u32, seq: u32) -> Option<Self> {
        let words = header_len(icv_len, align) / 4;
        Some(AhHeader {
            next_header,
            payload_len: u8::try_from(words - 2).ok()?,
            spi,
            seq,
        })
    }

    /// The whole header's length in bytes, ICV and padding included.
    pub fn total_len(&self) -> usize {
        (usize::from(self.payload_len) + 2) * 4
    }

    /// The room for ICV and padding after the fixed fields.
    pub fn icv_room(&self) -> usize {
        self.total_len() - AH_HDR_LEN
    }

    /// The 12 fixed bytes; the reserved field is zero (RFC 4302 2.3).
    pub fn to_bytes(&self) -> [u8; AH_HDR_LEN] {
        let mut b = [0u8; AH_HDR_LEN];
        b[0] = self.next_header;
        b[1] = self.payload_len;
        b[4..8].copy_from_slice(&self.spi.to_be_bytes());
        b[8..12].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Reads the fixed fields. The reserved field is ignored (RFC 4302
    /// 2.3: it is covered by the ICV). The caller checks [`AhHeader::total_len`]
    /// against what its SA sends ([`header_len`] for each alignment it
    /// accepts) and that the packet holds that many bytes.
    pub fn parse(b: &[u8]) -> Result<Self, AhError> {
        let b = b.get(..AH_HDR_LEN).ok_or(AhError::Truncated)?;
        let h = AhHeader {
            next_header: b[0],
            payload_len: b[1],
            spi: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            seq: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        };
        // Payload length 0 would end inside the fixed header; 1 is a header
        // without ICV (NULL authentication).
        if h.total_len() < AH_HDR_LEN {
            return Err(AhError::BadLength);
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests;
