// SPDX-License-Identifier: GPL-2.0

//! ESP (RFC 4303) layout arithmetic: header, IV, padding, trailer, ICV, the
//! overhead that PMTU must leave room for, the AAD the kernel's AEAD
//! templates take, and the NAT-T (RFC 3948) payload classification.
//!
//! A packet, as this module counts it:
//!
//! ```text
//! [outer IP (tunnel)] [UDP (NAT-T)] SPI seq IV | payload TFC pad padlen nh | ICV
//!                                               \---- encrypted ----------/
//! ```
//!
//! The payload is the inner packet (tunnel mode) or the transport header
//! and data (transport mode).

use crate::kame_core::algs::{self, EncKind, AALG_NULL};

/// SPI and sequence number.
pub const ESP_HDR_LEN: usize = 8;
/// Pad length and next header.
pub const ESP_TRAILER_LEN: usize = 2;
/// The UDP header of UDP-encapsulated ESP (RFC 3948).
pub const UDP_HDR_LEN: usize = 8;
/// `IPPROTO_NONE`: a dummy packet for traffic flow confidentiality
/// (RFC 4303 2.6): decrypted, verified, then silently discarded.
pub const NEXT_HEADER_DUMMY: u8 = 59;

/// Why an ESP packet is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EspError {
    /// Shorter than header, IV, trailer and ICV.
    Truncated,
    /// The encrypted part is not a whole number of cipher blocks.
    BadBlockLength,
    /// The pad length reaches before the start of the payload.
    BadPadLength,
    /// The padding is not 1, 2, 3, ... though the SA uses that padding.
    BadPadding,
}

/// The on-wire sizes of an SA's transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Explicit IV bytes after the ESP header.
    pub iv_len: usize,
    /// The encrypted part (payload, padding, trailer) is a multiple of this:
    /// the cipher's block size, at least 4 (RFC 4303 2.4: pad length and
    /// next header end on a 4-byte boundary). XFRM's
    /// `ALIGN(crypto_aead_blocksize(aead), 4)`.
    pub align: usize,
    /// The cipher's own block size (1 for stream and counter modes): what
    /// the length of the encrypted part must be a multiple of on input.
    pub block: usize,
    /// ICV bytes after the encrypted part.
    pub icv_len: usize,
}

/// Wire IV length and block size by PF_KEY encryption id. SADB_REGISTER's
/// `ivlen` in `algs` is af_key's (8 for AES-CBC); the wire carries the
/// cipher's block (16). Crypto API: `crypto_aead_ivsize()` and
/// `crypto_aead_blocksize()` of the transform `xform.rs` names.
const CIPHERS: [(u8, usize, usize); 19] = [
    (algs::EALG_NULL, 0, 1),
    (2, 8, 8),                            // des-cbc
    (3, 8, 8),                            // 3des-cbc
    (6, 8, 8),                            // cast128-cbc
    (7, 8, 8),                            // blowfish-cbc
    (12, 16, 16),                         // aes-cbc
    (252, 16, 16),                        // serpent-cbc
    (22, 16, 16),                         // camellia-cbc
    (253, 16, 16),                        // twofish-cbc
    (13, 8, 1),                           // aes-ctr (RFC 3686)
    (24, 16, 16),                         // sm4-cbc
    (18, 8, 1),                           // aes-gcm-8 (RFC 4106)
    (19, 8, 1),                           // aes-gcm-12
    (20, 8, 1),                           // aes-gcm-16
    (14, 8, 1),                           // aes-ccm-8 (RFC 4309)
    (15, 8, 1),                           // aes-ccm-12
    (16, 8, 1),                           // aes-ccm-16
    (23, 8, 1),                           // null-aes-gmac (RFC 4543)
    (algs::EALG_CHACHA20_POLY1305, 8, 1), // RFC 7634
];

/// The geometry of an SA with encryption `ealg` and authentication `aalg`
/// (PF_KEY ids; `aalg` 0 or `AALG_NULL` for none, as with AEADs); `None`
/// for an unknown algorithm.
pub fn geometry(ealg: u8, aalg: u8) -> Option<Geometry> {
    let enc = algs::enc_by_id(ealg)?;
    let &(_, iv_len, block) = CIPHERS.iter().find(|c| c.0 == ealg)?;
    let icv_bits = match (enc.kind, aalg) {
        (EncKind::Aead, _) => enc.icv_bits,
        (EncKind::Cipher, 0 | AALG_NULL) => 0,
        (EncKind::Cipher, a) => algs::auth_by_id(a)?.icv_bits,
    };
    Some(Geometry {
        iv_len,
        align: block.max(4),
        block,
        icv_len: usize::from(icv_bits / 8),
    })
}

impl Geometry {
    /// [`Geometry::align`], never 0 (the fields are public; a zero would be
    /// a division by zero).
    fn align(&self) -> usize {
        self.align.max(1)
    }

    /// Padding bytes for `payload_len` bytes of payload (TFC padding
    /// included): the least that makes payload, padding and trailer a
    /// multiple of [`Geometry::align`] (at most `align - 1`).
    pub fn pad_len(&self, payload_len: usize) -> usize {
        let used = payload_len + ESP_TRAILER_LEN;
        used.next_multiple_of(self.align()) - used
    }

    /// Payload, padding and trailer: the encrypted part.
    pub fn encrypted_len(&self, payload_len: usize) -> usize {
        payload_len + self.pad_len(payload_len) + ESP_TRAILER_LEN
    }

    /// The whole ESP packet part: header, IV, encrypted part, ICV.
    pub fn esp_len(&self, payload_len: usize) -> usize {
        ESP_HDR_LEN + self.iv_len + self.encrypted_len(payload_len) + self.icv_len
    }

    /// Bytes before the payload: ESP header and IV.
    pub fn header_len(&self) -> usize {
        ESP_HDR_LEN + self.iv_len
    }

    /// The most bytes after the payload: padding, trailer, ICV.
    pub fn max_tail_len(&self) -> usize {
        self.align() - 1 + ESP_TRAILER_LEN + self.icv_len
    }

    /// On input: the length of the encrypted part of an ESP packet of
    /// `esp_len` bytes (from the SPI to the end of the ICV), checked to hold
    /// at least a trailer and, for block ciphers, whole blocks.
    pub fn ciphertext_len(&self, esp_len: usize) -> Result<usize, EspError> {
        let n = esp_len
            .checked_sub(self.header_len() + self.icv_len)
            .filter(|&n| n >= ESP_TRAILER_LEN)
            .ok_or(EspError::Truncated)?;
        if !n.is_multiple_of(self.block.max(1)) {
            return Err(EspError::BadBlockLength);
        }
        Ok(n)
    }
}

/// Fills `pad` with RFC 4303 2.4's default padding: 1, 2, 3, ...
pub fn fill_padding(pad: &mut [u8]) {
    for (i, b) in pad.iter_mut().enumerate() {
        // CAST: padding is below 256 bytes (pad length is one byte).
        *b = (i + 1) as u8;
    }
}

/// Writes padding and trailer into `tail` (exactly `pad_len + 2` bytes):
/// 1, 2, 3, ..., pad length, next header. `None` if `tail` is shorter than
/// the trailer or the padding is beyond 255 bytes.
pub fn write_tail(tail: &mut [u8], next_header: u8) -> Option<()> {
    let pad = tail.len().checked_sub(ESP_TRAILER_LEN)?;
    let pad_len = u8::try_from(pad).ok()?;
    let (padding, trailer) = tail.split_at_mut(pad);
    fill_padding(padding);
    trailer[0] = pad_len;
    trailer[1] = next_header;
    Some(())
}

/// What the receiver checks in the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadCheck {
    /// RFC 4303 2.4's default padding 1, 2, 3, ...: checked, as the RFC
    /// recommends for receivers of it (FreeBSD checks the last byte; XFRM
    /// checks nothing). KAME's `SADB_X_EXT_PSEQ`, the default.
    Sequential,
    /// Any bytes: the SA was set up with KAME's `SADB_X_EXT_PRAND` or
    /// `SADB_X_EXT_PZERO` (setkey `-f random-pad`, `-f zero-pad`).
    Any,
}

/// KAME's padding flag bits in `sadb_sa_flags` (`SADB_X_EXT_PMASK`).
pub const SADB_X_EXT_PMASK: u32 = 0x0300;

impl PadCheck {
    /// The check an SA's `sadb_sa_flags` ask for.
    pub fn from_sa_flags(flags: u32) -> PadCheck {
        if flags & SADB_X_EXT_PMASK == 0 {
            PadCheck::Sequential
        } else {
            PadCheck::Any
        }
    }
}

/// The payload length and next header of a decrypted ESP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Payload bytes before the padding (TFC padding included, which the
    /// inner header's length tells apart).
    pub payload_len: usize,
    /// Next header: the inner protocol (`IPPROTO_IPIP`/`IPPROTO_IPV6` in
    /// tunnel mode); [`NEXT_HEADER_DUMMY`] for a dummy packet.
    pub next_header: u8,
}

/// Reads the trailer at the end of `plain`, the decrypted part (payload,
/// padding, trailer; no IV, no ICV). Run it after the ICV verified, so a
/// refusal here tells an attacker nothing (XFRM's `esp_remove_trailer()`
/// runs at the same point).
pub fn parse_trailer(plain: &[u8], check: PadCheck) -> Result<Trailer, EspError> {
    let n = plain.len();
    if n < ESP_TRAILER_LEN {
        return Err(EspError::Truncated);
    }
    let pad_len = usize::from(plain[n - 2]);
    let next_header = plain[n - 1];
    let payload_len = (n - ESP_TRAILER_LEN)
        .checked_sub(pad_len)
        .ok_or(EspError::BadPadLength)?;
    if check == PadCheck::Sequential {
        let pad = &plain[payload_len..n - ESP_TRAILER_LEN];
        // At most 255 bytes: a RangeFrom would overflow after 255.
        if pad.iter().zip(1..=u8::MAX).any(|(&b, want)| b != want) {
            return Err(EspError::BadPadding);
        }
    }
    Ok(Trailer {
        payload_len,
        next_header,
    })
}

/// ESP mode, for the overhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The IP header stays in front, unencrypted.
    Transport,
    /// A new outer IP header; the whole inner packet is the payload.
    Tunnel,
}

/// The encapsulation around the ESP part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encap {
    /// Transport or tunnel.
    pub mode: Mode,
    /// The IP header in front of ESP (outer in tunnel mode, the packet's
    /// own in transport mode): 20 for IPv4 without options, 40 for IPv6
    /// (plus extension headers kept in front in transport mode).
    pub ip_hdr_len: usize,
    /// UDP-encapsulated (NAT-T).
    pub natt: bool,
}

impl Encap {
    fn front(&self, g: &Geometry) -> usize {
        self.ip_hdr_len + if self.natt { UDP_HDR_LEN } else { 0 } + g.header_len()
    }

    /// The length on the wire of a packet of `len` bytes once protected:
    /// `len` is the inner packet (tunnel) or the whole original packet, its
    /// IP header of `ip_hdr_len` bytes included (transport).
    pub fn wire_len(&self, g: &Geometry, len: usize) -> usize {
        let payload = match self.mode {
            Mode::Tunnel => len,
            Mode::Transport => len.saturating_sub(self.ip_hdr_len),
        };
        self.front(g) + g.encrypted_len(payload) + g.icv_len
    }

    /// The largest packet (in [`Encap::wire_len`]'s terms) whose protected
    /// form fits in `mtu`: the MTU to report to the layer above (PMTU, ICMP
    /// "fragmentation needed" / "packet too big"). XFRM's
    /// `esp4_get_mtu()`/`esp6_get_mtu()`. `None` if not even an empty
    /// payload fits.
    pub fn max_len(&self, g: &Geometry, mtu: usize) -> Option<usize> {
        let room = mtu.checked_sub(self.front(g) + g.icv_len)?;
        let payload = (room - room % g.align()).checked_sub(ESP_TRAILER_LEN)?;
        Some(match self.mode {
            Mode::Tunnel => payload,
            Mode::Transport => payload + self.ip_hdr_len,
        })
    }
}

/// With ESN, the kernel's transforms want the 12-byte AAD (SPI, high
/// half, low half) in front of the IV, where the packet has only SPI and
/// low half. As XFRM does, the SPI moves 4 bytes back over the end of the
/// header in front (whose bytes are returned, to put back with
/// [`esn_aad_close`]) and the high half takes its place. `esp` is the ESP
/// header's offset in `b`; `None` if fewer than 4 bytes precede it.
pub fn esn_aad_open(b: &mut [u8], esp: usize, seq_hi: u32) -> Option<[u8; 4]> {
    let start = esp.checked_sub(4)?;
    let spi: [u8; 4] = b.get(esp..esp + 4)?.try_into().ok()?;
    let saved: [u8; 4] = b.get(start..esp)?.try_into().ok()?;
    b[start..esp].copy_from_slice(&spi);
    b[esp..esp + 4].copy_from_slice(&seq_hi.to_be_bytes());
    Some(saved)
}

/// Undoes [`esn_aad_open`]: the SPI back in the ESP header, the bytes in
/// front as they were.
pub fn esn_aad_close(b: &mut [u8], esp: usize, saved: [u8; 4]) {
    let Some(start) = esp.checked_sub(4) else {
        return;
    };
    if b.len() < esp + 4 {
        return;
    }
    let spi: [u8; 4] = [b[start], b[start + 1], b[start + 2], b[start + 3]];
    b[esp..esp + 4].copy_from_slice(&spi);
    b[start..esp].copy_from_slice(&saved);
}

/// The additional authenticated data of an ESP packet, as the kernel's ESP
/// transforms take it at the start of the request (RFC 4303 2.2.1, RFC 4106
/// 5): SPI and sequence number (8 bytes), or with ESN SPI, high and low
/// sequence halves (12 bytes). Both `rfc4106`/`rfc4309`/`rfc7539esp` and
/// `authencesn` read this 12-byte form (XFRM's `esp_output_set_extra()`
/// builds it by moving the SPI 4 bytes forward); `authencesn` then MACs
/// SPI, low half, IV and ciphertext, and the high half last, as RFC 4303
/// 3.3.2.1 orders the ICV input. Plain `authenc` (no ESN) takes the 8-byte
/// form. Returns the bytes used in `out`.
pub fn aad(spi: u32, seq: u64, esn: bool, out: &mut [u8; 12]) -> usize {
    out[..4].copy_from_slice(&spi.to_be_bytes());
    let lo = crate::kame_core::replay::seq_lo(seq).to_be_bytes();
    if esn {
        out[4..8].copy_from_slice(&crate::kame_core::replay::seq_hi(seq).to_be_bytes());
        out[8..12].copy_from_slice(&lo);
        12
    } else {
        out[4..8].copy_from_slice(&lo);
        8
    }
}

/// An ESP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspHeader {
    /// SPI (host order).
    pub spi: u32,
    /// Sequence number, low 32 bits (host order).
    pub seq: u32,
}

impl EspHeader {
    /// The 8 header bytes.
    pub fn to_bytes(&self) -> [u8; ESP_HDR_LEN] {
        let mut b = [0u8; ESP_HDR_LEN];
        b[..4].copy_from_slice(&self.spi.to_be_bytes());
        b[4..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Reads the header at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, EspError> {
        let b = b.get(..ESP_HDR_LEN).ok_or(EspError::Truncated)?;
        Ok(EspHeader {
            spi: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// What a UDP datagram on a NAT-T port carries (RFC 3948 2.2, 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NattPayload {
    /// ESP: the SPI (non-zero) starts the payload.
    Esp,
    /// IKE: the four-byte Non-ESP Marker (zero) comes first.
    Ike,
    /// A NAT-keepalive: the single byte 0xff.
    Keepalive,
    /// Too short to be anything: pass it to the socket, as the kernel's
    /// `udp_encap_rcv` does.
    Other,
}

/// Classifies the payload of a UDP datagram received on an
/// `UDP_ENCAP_ESPINUDP` socket.
pub fn natt_classify(udp_payload: &[u8]) -> NattPayload {
    match udp_payload {
        [0xff] => NattPayload::Keepalive,
        [0, 0, 0, 0, ..] => NattPayload::Ike,
        // An SPI, a sequence number and more (XFRM takes 8 bytes as IKE).
        p if p.len() > ESP_HDR_LEN => NattPayload::Esp,
        _ => NattPayload::Other,
    }
}

#[cfg(test)]
mod tests;
