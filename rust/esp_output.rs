// SPDX-License-Identifier: GPL-2.0

//! ESP output (RFC 4303), one step of [`OutChain`]: the ESP header and IV
//! go in, the payload is padded and given its trailer, and the SA's AEAD
//! encrypts it in place; the IV generator (`seqiv`, `echainiv`) writes the
//! IV from the sequence number, as esp4/esp6 use them.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        esp::{
            esn_aad_close, esn_aad_open, write_tail, EspHeader, ESP_HDR_LEN, ESP_TRAILER_LEN,
            UDP_HDR_LEN,
        },
        flow::{IPPROTO_ESP, IPPROTO_UDP, IPV6_HDR_LEN},
        natt::{port_or_default, udp_checksum, udp_header},
        sad::{seq_exhausted, MODE_TUNNEL},
    },
    kapi::{
        aead_op::{self, AeadJob, Direction, MAX_IV},
        crypto::Aead,
        skb::Skb,
    },
    out_chain::{OutChain, Shared, Tail},
    sad_table::SaEntry,
    stats::Stat,
    stats_hist::Hist,
};
use kernel::{
    prelude::*,
    sync::{atomic::Relaxed, Arc},
};

/// The packet and the SA's transform, while encrypting.
struct EspStep {
    chain: OutChain,
    sa: Arc<SaEntry>,
    /// Offsets in 16 bits, so the step fits 128 bytes: the completion
    /// reads it out of its box with a few word moves rather than a
    /// `memcpy` (a byte at a time on this kernel's `rep movsb`).
    esp_off: u16,
    /// NAT-T: the offset of the UDP header in front of ESP.
    udp_off: Option<u16>,
    /// With ESN: the 4 bytes the AAD borrowed in front of the ESP header.
    esn: Option<[u8; 4]>,
}

/// Protects the chain's packet with ESP SA `sa`; consumes the chain.
/// `shared`: what the packet shares with others, if it is a piece of one.
pub(crate) fn step(mut chain: OutChain, sa: Arc<SaEntry>, shared: Shared<'_>) {
    let Some(esp) = sa.esp() else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let g = esp.geom;
    if g.iv_len > MAX_IV {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    }
    // XFRM's order: the lifetimes first, then a sequence number.
    if !esp.usage.admit(&sa, &chain.ns.events) {
        return chain.drop_at(&sa.rec, Stat::OutExpired);
    }
    // The counter must not wrap (RFC 4303 3.3.3; 64 bits with ESN): the
    // SA ends when it runs out.
    let last = esp.seq.load(Relaxed);
    if !esp.usage.admit_seq(&sa, last, esp.esn, &chain.ns.events) {
        return chain.drop_at(&sa.rec, Stat::EspSeqWrap);
    }
    let seq = esp.seq.fetch_add(1, Relaxed) + 1;
    // Packets racing for the last number: those past it are dropped.
    if seq_exhausted(seq - 1, esp.esn) {
        esp.usage.stop(&sa, &chain.ns.events);
        return chain.drop_at(&sa.rec, Stat::EspSeqWrap);
    }
    let (seq_hi, seq_lo) = ((seq >> 32) as u32, seq as u32);
    // The padding depends on the payload, which is what follows the IP
    // header in transport mode, the whole packet in tunnel mode.
    let Some(inner) = chain.selectors(shared) else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let hl = if sa.rec.mode == MODE_TUNNEL {
        0
    } else {
        inner.transport_offset
    };
    let payload = chain.skb.len().saturating_sub(hl);
    esp.usage.count(payload);
    let tail = g.pad_len(payload) + ESP_TRAILER_LEN;
    // NAT-T (RFC 3948 2.1): a UDP header in front of ESP, the IP header
    // naming UDP.
    let (proto, udp) = match sa.rec.natt {
        Some(_) => (IPPROTO_UDP, UDP_HDR_LEN),
        None => (IPPROTO_ESP, 0),
    };
    let hdr = udp + ESP_HDR_LEN + g.iv_len;
    // The trailer and ICV may go in a page fragment of their own, as
    // esp_output_head() puts them, except under NAT-T: IPv6's UDP
    // checksum is summed over the linear packet.
    let end = tail + g.icv_len;
    let room = match sa.rec.natt {
        Some(_) => Tail::Linear(end),
        None => Tail::Anywhere(end),
    };
    let Ok(l) = chain.layout(&sa, &inner, proto, hdr, room, shared.idents) else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let written = chain
        .skb
        .last_mut(end)
        .and_then(|t| write_tail(&mut t[..tail], l.next_header));
    if written.is_none() {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    }
    let esp_off = l.hdr_off + udp;
    let (Ok(esp_off16), Ok(hdr_off16)) = (u16::try_from(esp_off), u16::try_from(l.hdr_off)) else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let b = chain.skb.bytes();
    if let Some(n) = sa.rec.natt {
        let (sport, dport) = (port_or_default(n.sport), port_or_default(n.dport));
        let Some(uh) = udp_header(sport, dport, b.len() - esp_off) else {
            return chain.drop_at(&sa.rec, Stat::OutInvalid);
        };
        b[l.hdr_off..esp_off].copy_from_slice(&uh);
    }
    let h = EspHeader {
        spi: sa.rec.id.spi,
        seq: seq_lo,
    };
    b[esp_off..esp_off + ESP_HDR_LEN].copy_from_slice(&h.to_bytes());
    let esn = if esp.esn {
        match esn_aad_open(b, esp_off, seq_hi) {
            Some(saved) => Some(saved),
            None => return chain.drop_at(&sa.rec, Stat::OutInvalid),
        }
    } else {
        None
    };
    // The IV generator's input: the 64-bit sequence number, at the end of
    // the IV (esp4/esp6).
    let mut iv = [0u8; MAX_IV];
    let be = seq.to_be_bytes();
    match g.iv_len.checked_sub(be.len()) {
        // A fixed-size copy, not a `memcpy` call per packet.
        Some(at) => iv[at..g.iv_len].copy_from_slice(&be),
        None => iv[..g.iv_len].copy_from_slice(&be[be.len() - g.iv_len..]),
    }
    let cryptlen = g.iv_len + payload + tail;
    // As esps_ibytes counts: payload, padding and trailer, not the IV.
    chain
        .ns
        .stats
        .add(Stat::EspOutBytes, (payload + tail) as u64);
    let aad = ESP_HDR_LEN + if esn.is_some() { 4 } else { 0 };
    aead_op::submit(
        Direction::Encrypt,
        EspStep {
            chain,
            sa,
            esp_off: esp_off16,
            udp_off: (udp != 0).then_some(hdr_off16),
            esn,
        },
        aad,
        cryptlen,
        &iv,
        None,
    );
}

impl AeadJob for EspStep {
    fn aead(&self) -> Option<&Aead> {
        Some(&self.sa.esp()?.aead)
    }

    fn packet(&mut self) -> (&mut Skb, usize) {
        // With ESN the AAD starts 4 bytes earlier (`esn_aad_open`).
        let off = usize::from(self.esp_off) - if self.esn.is_some() { 4 } else { 0 };
        (&mut self.chain.skb, off)
    }

    fn complete(self, res: Result) {
        let mut chain = self.chain;
        if let Some(saved) = self.esn {
            esn_aad_close(chain.skb.bytes(), self.esp_off.into(), saved);
        }
        if res.is_err() {
            // The packet is freed with the chain.
            return chain.drop_at(&self.sa.rec, Stat::EspCryptoError);
        }
        // UDP over IPv6 needs its checksum (RFC 8200 8.1), over the
        // ciphertext; over IPv4 it stays 0 (RFC 3948 2.1).
        if let (Some(off), true) = (self.udp_off.map(usize::from), chain.v6) {
            let b = chain.skb.bytes();
            if b.len() < IPV6_HDR_LEN || off < IPV6_HDR_LEN {
                return chain.drop_at(&self.sa.rec, Stat::OutInvalid);
            }
            let (ip, udp) = b.split_at_mut(off);
            let sum = udp_checksum(&ip[8..24], &ip[24..40], udp);
            udp[6..8].copy_from_slice(&sum.to_be_bytes());
        }
        chain.ns.stats.inc(Stat::EspOutput);
        if let Some(esp) = self.sa.esp() {
            chain.ns.stats.inc_alg(Hist::EspOut, esp.hist);
        }
        chain.step_done();
    }
}
