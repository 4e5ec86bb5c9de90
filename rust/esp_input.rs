// SPDX-License-Identifier: GPL-2.0

//! ESP input (RFC 4303). A packet whose (destination, SPI) names one of our
//! SAs is checked against the replay window, decrypted and authenticated
//! in place by the SA's AEAD, checked again and entered in the window,
//! stripped of its trailer and ESP header, and, once no layer of ours is
//! left, checked against the inbound policy with the layers undone, then
//! re-enters the stack on the namespace's decapsulation device. Packets
//! for SPIs we do not own go back to XFRM untouched.

#![forbid(unsafe_code)]

use crate::{
    drops::{self, SaSite},
    input::{self, Ctx, Undone},
    kame_core::{
        esp::{
            esn_aad_close, esn_aad_open, parse_trailer, PadCheck, Trailer, ESP_HDR_LEN,
            ESP_TRAILER_LEN,
        },
        flow::Flow,
        spd::DIR_IN,
    },
    kapi::{
        aead_op::{self, AeadJob, Direction, MAX_IV},
        crypto::Aead,
        netdev::DevRef,
        skb::Skb,
        work::other_cpu_online,
    },
    policy_in::History,
    sad_table::SaEntry,
    stats::Stat,
    stats_hist::Hist,
};
use kernel::{prelude::*, sync::Arc};

/// A packet being decrypted.
pub(crate) struct EspIn {
    skb: Skb,
    v6: bool,
    /// The outer header's TOS / traffic class, for ECN.
    outer_ds: u8,
    /// Offset of the ESP header from `data` (the IP header); 16 bits, so
    /// the job fits 128 bytes (see `esp_output::EspStep`).
    esp_off: u16,
    seq: u64,
    /// With ESN: the 4 bytes the AAD borrowed in front of the ESP header.
    esn: Option<[u8; 4]>,
    sa: Arc<SaEntry>,
    ctx: Ctx,
    hist: History,
}

impl EspIn {
    /// Decrypts the packet at `data` (its IP header) for `sa`; consumes it.
    pub(crate) fn start(
        mut skb: Skb,
        v6: bool,
        flow: Flow,
        sa: Arc<SaEntry>,
        ctx: Ctx,
        hist: History,
    ) {
        // `debug` is read only for a drop.
        let site = || SaSite {
            debug: ctx.ns.sysctls.debug(v6),
            dir: DIR_IN,
            rec: &sa.rec,
        };
        let Some(esp) = sa.esp() else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspInvalidSa, site());
        };
        ctx.ns.stats.inc_alg(Hist::EspIn, esp.hist);
        // XFRM's order: the SA's lifetimes before anything else.
        if !esp.usage.admit(&sa, &ctx.ns.events) {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspInvalidSa, site());
        }
        let off = flow.transport_offset;
        let Ok(esp_off) = u16::try_from(off) else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspBadEncoding, site());
        };
        let g = &esp.geom;
        // The AEAD reads its IV from a MAX_IV-byte buffer (as output).
        if g.iv_len > MAX_IV {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspInvalidSa, site());
        }
        // The encrypted part must be whole blocks, the trailer at least.
        let Some(crypt) = skb
            .len()
            .checked_sub(off + ESP_HDR_LEN + g.iv_len + g.icv_len)
        else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspShort, site());
        };
        if crypt < ESP_TRAILER_LEN || crypt % g.block.max(1) != 0 {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspShort, site());
        }
        // Decrypted in place: private, with the ESP header and IV linear;
        // fragments are kept (a trailer in one of its own is not copied).
        let hdr = off + ESP_HDR_LEN + g.iv_len;
        if skb.make_private(aead_op::MAX_FRAGS, hdr).is_err() {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspCryptoError, site());
        }
        let b = skb.bytes();
        let seq_lo = u32::from_be_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]);
        let Ok(seq) = esp.replay.lock().check(seq_lo) else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspReplay, site());
        };
        let cryptlen = skb.len() - off - ESP_HDR_LEN;
        // With ESN the AAD carries the inferred high half (RFC 4303
        // 2.2.1); a wrong guess fails the ICV.
        let esn = if esp.esn {
            match esn_aad_open(skb.bytes(), off, (seq >> 32) as u32) {
                Some(saved) => Some(saved),
                None => return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspShort, site()),
            }
        } else {
            None
        };
        let aad = ESP_HDR_LEN + if esn.is_some() { 4 } else { 0 };
        // With `async_crypto`, on another CPU (if there is one): this
        // reference keeps the SA's steering for the hand-off, which the
        // job's may not.
        let spread = ctx.ns.sysctls.async_crypto() && other_cpu_online();
        let keep = spread.then(|| sa.clone());
        let job = EspIn {
            skb,
            v6,
            outer_ds: flow.dsfield,
            esp_off,
            seq,
            esn,
            sa,
            ctx,
            hist,
        };
        let steer = keep.as_ref().and_then(|sa| sa.esp()).map(|e| &e.rx);
        aead_op::submit(
            Direction::Decrypt,
            job,
            aad,
            cryptlen,
            &[0u8; MAX_IV],
            steer,
        );
    }

    /// After authentication: the window and the trailer, which is cut;
    /// the offset of the payload and what it is. By reference: with the
    /// job moved in by value, the 200-byte job was copied per packet
    /// (0.6% of a transport profile's samples).
    fn check_and_trim(&mut self) -> Result<(usize, u8), Stat> {
        let Some(esp) = self.sa.esp() else {
            return Err(Stat::EspInvalidSa);
        };
        if esp.replay.lock().update(self.seq).is_err() {
            drops::mark(&mut self.skb, Stat::EspReplay);
            return Err(Stat::EspReplay);
        }
        // What fails from here on is the trailer (`finish` marks its own).
        drops::mark(&mut self.skb, Stat::EspBadEncoding);
        let g = esp.geom;
        let end = self.skb.len() - g.icv_len;
        let payload = usize::from(self.esp_off) + ESP_HDR_LEN + g.iv_len;
        let check = PadCheck::from_sa_flags(self.sa.rec.flags);
        let t = read_trailer(&self.skb, payload, end, check).ok_or(Stat::EspBadEncoding)?;
        self.ctx
            .ns
            .stats
            .add(Stat::EspInBytes, (end - payload) as u64);
        esp.usage.count(t.payload_len);
        self.skb
            .trim(payload + t.payload_len)
            .map_err(|_| Stat::EspBadEncoding)?;
        Ok((payload, t.next_header))
    }
}

/// The trailer of the plaintext from `payload` to `end`, which may lie
/// in a page fragment: only the plaintext's last bytes are read (the
/// trailer, its padding, and at most 16 bytes before them), never the
/// whole payload.
fn read_trailer(skb: &Skb, payload: usize, end: usize, check: PadCheck) -> Option<Trailer> {
    let plain = end.checked_sub(payload)?;
    if plain < ESP_TRAILER_LEN {
        return None;
    }
    // Padding to a 16-byte block is at most 15 bytes, so one read of the
    // last 18 bytes finds nearly every trailer with its padding: a second
    // read cost a second `skb_copy_bits()` per packet whose trailer sits
    // in a fragment of its own (every full-size segment's, as their
    // linear tailroom is short of it). Longer padding (RFC 4303 2.4
    // allows up to 255) is read again, whole.
    let mut small = [0u8; 16 + ESP_TRAILER_LEN];
    let m = small.len().min(plain);
    let last = skb.peek(end - m, &mut small[..m])?;
    let pad = usize::from(last[m - ESP_TRAILER_LEN]);
    // The padding and the trailer, or all there is if that is less (the
    // pad length is then refused).
    let n = (pad + ESP_TRAILER_LEN).min(plain);
    let t = if n <= m {
        parse_trailer(&last[m - n..], check)
    } else {
        let mut large = [0u8; u8::MAX as usize + ESP_TRAILER_LEN];
        parse_trailer(skb.peek(end - n, &mut large[..n])?, check)
    }
    .ok()?;
    Some(Trailer {
        payload_len: plain - n + t.payload_len,
        next_header: t.next_header,
    })
}

impl AeadJob for EspIn {
    fn aead(&self) -> Option<&Aead> {
        Some(&self.sa.esp()?.aead)
    }

    fn packet(&mut self) -> (&mut Skb, usize) {
        // With ESN the AAD starts 4 bytes earlier (`esn_aad_open`).
        let off = usize::from(self.esp_off) - if self.esn.is_some() { 4 } else { 0 };
        (&mut self.skb, off)
    }

    fn rx_dev(&self) -> Option<&DevRef> {
        Some(self.ctx.dev())
    }

    fn complete(mut self, res: Result) {
        if let Some(saved) = self.esn {
            esn_aad_close(self.skb.bytes(), self.esp_off.into(), saved);
        }
        let s = match res {
            Ok(()) => {
                // An SA without an authenticator has no ICV to verify.
                if self.sa.esp().is_some_and(|e| e.geom.icv_len != 0) {
                    self.ctx.ns.stats.inc(Stat::EspAuthOk);
                }
                // The layer goes: on with the inner packet (its fields
                // moved where they are, not the job with them), which
                // counts its own refusals.
                match self.check_and_trim() {
                    Ok((payload_off, next)) => {
                        let u = Undone {
                            v6: self.v6,
                            hdr_off: self.esp_off.into(),
                            payload_off,
                            next,
                            outer_ds: self.outer_ds,
                        };
                        return input::finish(self.skb, self.sa, u, self.ctx, self.hist);
                    }
                    Err(s) => s,
                }
            }
            Err(e) => {
                let s = if e == EBADMSG {
                    Stat::EspAuthFail
                } else if e == ENOBUFS {
                    Stat::EspQueueFull
                } else {
                    Stat::EspCryptoError
                };
                drops::mark(&mut self.skb, s);
                s
            }
        };
        // A refused packet is freed with the job, marked where refused.
        let site = SaSite {
            debug: self.ctx.ns.sysctls.debug(self.v6),
            dir: DIR_IN,
            rec: &self.sa.rec,
        };
        drops::count_sa(&self.ctx.ns.stats, s, site);
    }
}
