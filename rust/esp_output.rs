// SPDX-License-Identifier: GPL-2.0

//! ESP output (RFC 4303): one packet through the SAs of its bundle,
//! innermost first. Each step inserts the ESP header and IV (transport
//! mode: after the IP header; tunnel mode: in front, under a new outer
//! header routed to the tunnel's end), pads and adds the trailer, and has
//! the SA's AEAD encrypt it in place; the IV generator (`seqiv`,
//! `echainiv`) writes the IV from the sequence number, as esp4/esp6 use
//! them. The finished packet leaves through `ip_local_out()`.

#![forbid(unsafe_code)]

use crate::{
    kame_core::{
        esp::{write_tail, EspHeader, ESP_HDR_LEN, ESP_TRAILER_LEN},
        flow::{Flow, IPPROTO_ESP, IPPROTO_IPIP, IPPROTO_IPV6, IPV4_HDR_LEN, IPV6_HDR_LEN},
        pfkey::wire::IpAddr,
        sad::{SaRecord, MODE_TUNNEL},
        tunnel::{encap_dsfield, DfBit, EcnMode, Outer4, Outer6, DEFAULT_TTL},
    },
    kapi::{
        aead_op::{self, AeadJob, Direction, MAX_IV},
        crypto::Aead,
        skb::Skb,
    },
    output::{Bundle, OutSettings},
    sa_crypto::EspTransform,
    stats::{Stat, Stats},
};
use kernel::{
    prelude::*,
    sync::{atomic::Relaxed, Arc},
};

/// A packet on its way through its bundle.
pub(crate) struct EspOut {
    skb: Skb,
    /// The family of the packet as it now is (the outer one after a
    /// tunnel).
    v6: bool,
    bundle: Bundle,
    /// The SA to apply next.
    next: usize,
    settings: OutSettings,
    stats: Arc<Stats>,
}

/// One ESP step: the packet and the SA's transform, while encrypting.
struct EspStep {
    out: EspOut,
    esp: Arc<EspTransform>,
    esp_off: usize,
}

impl EspOut {
    /// Sends `skb` through `bundle`; consumes it whatever happens.
    pub(crate) fn start(
        skb: Skb,
        v6: bool,
        bundle: Bundle,
        settings: OutSettings,
        stats: Arc<Stats>,
    ) {
        EspOut {
            skb,
            v6,
            bundle,
            next: 0,
            settings,
            stats,
        }
        .advance();
    }

    /// Applies the next SA, or sends the packet when none is left.
    fn advance(mut self) {
        while self.next < self.bundle.sas.len() && self.bundle.sas[self.next].is_none() {
            self.next += 1;
        }
        let Some(sa) = self.bundle.sas.get(self.next).cloned().flatten() else {
            self.stats.inc(Stat::OutSuccess);
            return self.skb.send(self.v6);
        };
        let Some(esp) = sa.xform.as_ref().and_then(|x| x.esp()).cloned() else {
            return self.stats.inc(Stat::OutInvalid);
        };
        if self.skb.resolve_checksum().is_err() {
            return self.stats.inc(Stat::OutInvalid);
        }
        let esp_off = match self.encapsulate(&sa.rec, &esp) {
            Ok(x) => x,
            Err(e) if e == ERANGE => return self.stats.inc(Stat::EspSeqWrap),
            Err(_) => return self.stats.inc(Stat::OutInvalid),
        };
        let (esp_off, cryptlen, iv) = esp_off;
        let ivlen = esp.geom.iv_len;
        // The encrypted payload less its IV, as ESP input counts it.
        self.stats.add(Stat::EspOutBytes, (cryptlen - ivlen) as u64);
        aead_op::submit(
            Direction::Encrypt,
            EspStep {
                out: self,
                esp,
                esp_off,
            },
            ESP_HDR_LEN,
            cryptlen,
            &iv[..ivlen],
        );
    }

    /// Lays out the ESP packet around the payload; returns the offset of
    /// the ESP header, the length to encrypt (IV and padded payload) and
    /// the IV generator's input.
    fn encapsulate(
        &mut self,
        rec: &SaRecord,
        esp: &EspTransform,
    ) -> Result<(usize, usize, [u8; MAX_IV])> {
        let tunnel = rec.mode == MODE_TUNNEL;
        let inner = crate::output::read_flow(&self.skb).ok_or(EINVAL)?;
        let inner_v6 = self.v6;
        // Transport mode keeps the IP header in front; only a bare IPv6
        // header is handled (TODO[B]: ESP after IPv6 extension headers).
        let hl = if tunnel {
            0
        } else {
            if inner_v6 && inner.transport_offset != IPV6_HDR_LEN {
                return Err(EOPNOTSUPP);
            }
            inner.transport_offset.min(self.skb.len())
        };
        let outer_v6 = if tunnel {
            matches!(rec.src, IpAddr::V6(..))
        } else {
            inner_v6
        };
        let outer_len = match (tunnel, outer_v6) {
            (false, _) => 0,
            (true, false) => IPV4_HDR_LEN,
            (true, true) => IPV6_HDR_LEN,
        };
        let g = &esp.geom;
        if g.iv_len > MAX_IV {
            return Err(EINVAL);
        }
        let payload = self.skb.len() - hl;
        let tail = g.pad_len(payload) + ESP_TRAILER_LEN;
        let head = outer_len + ESP_HDR_LEN + g.iv_len;
        self.skb.make_room(head, tail + g.icv_len)?;

        let seq = esp.seq.fetch_add(1, Relaxed) + 1;
        // Without ESN the 32-bit counter must not wrap (RFC 4303 3.3.3).
        // TODO[B]: stop the SA and raise its EXPIRE.
        let seq32 = u32::try_from(seq).map_err(|_| ERANGE)?;

        self.skb.push(head)?;
        let old_len = self.skb.len() - head;
        self.skb.put(tail + g.icv_len)?;
        let b = self.skb.bytes();
        let next_header = if tunnel {
            let outer = outer_header(rec, &inner, inner_v6, self.settings);
            b[..outer_len].copy_from_slice(&outer[..outer_len]);
            if inner_v6 {
                IPPROTO_IPV6
            } else {
                IPPROTO_IPIP
            }
        } else {
            b.copy_within(head..head + hl, 0);
            let proto_at = if inner_v6 { 6 } else { 9 };
            core::mem::replace(&mut b[proto_at], IPPROTO_ESP)
        };
        let esp_off = if tunnel { outer_len } else { hl };
        let h = EspHeader {
            spi: rec.id.spi,
            seq: seq32,
        };
        b[esp_off..esp_off + ESP_HDR_LEN].copy_from_slice(&h.to_bytes());
        // The payload ends where the old packet ended, moved by the headers.
        let trailer = head + old_len;
        write_tail(&mut b[trailer..trailer + tail], next_header).ok_or(EINVAL)?;
        self.skb.set_network_offset(0);

        if tunnel {
            self.skb
                .route(outer_v6, rec.src.octets(), rec.id.dst.octets())?;
            self.v6 = outer_v6;
        }
        // The IV generator's input: the 64-bit sequence number, at the end
        // of the IV (esp4/esp6).
        let mut iv = [0u8; MAX_IV];
        let n = g.iv_len.min(8);
        iv[g.iv_len - n..g.iv_len].copy_from_slice(&seq.to_be_bytes()[8 - n..]);
        Ok((esp_off, g.iv_len + payload + tail, iv))
    }
}

/// Tunnel mode's outer header, 20 or 40 bytes of the result as the SA's
/// family says (lengths, identification and checksum are filled in again
/// by `ip_local_out()`/`ip6_local_out()`).
fn outer_header(rec: &SaRecord, inner: &Flow, inner_v6: bool, s: OutSettings) -> [u8; 40] {
    let mut out = [0u8; 40];
    match (rec.src, rec.id.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let h = Outer4 {
                dsfield: encap_dsfield(inner.dsfield, EcnMode::from_sysctl(s.ecn)),
                total_len: 0,
                id: 0,
                df: DfBit::from_sysctl(s.dfbit).outer_df((!inner_v6).then_some(inner.df)),
                ttl: DEFAULT_TTL,
                proto: IPPROTO_ESP,
                src,
                dst,
            };
            out[..IPV4_HDR_LEN].copy_from_slice(&h.to_bytes());
        }
        (IpAddr::V6(src, _), IpAddr::V6(dst, _)) => {
            let h = Outer6 {
                dsfield: encap_dsfield(inner.dsfield, EcnMode::from_sysctl(s.ecn6)),
                flow_label: 0,
                payload_len: 0,
                next_header: IPPROTO_ESP,
                hop_limit: DEFAULT_TTL,
                src,
                dst,
            };
            out = h.to_bytes();
        }
        // The SAD refuses SAs whose addresses disagree in family.
        _ => {}
    }
    out
}

impl AeadJob for EspStep {
    fn aead(&self) -> &Aead {
        &self.esp.aead
    }

    fn region(&mut self) -> &mut [u8] {
        let off = self.esp_off;
        self.out.skb.bytes().get_mut(off..).unwrap_or_default()
    }

    fn complete(self, res: Result) {
        let mut out = self.out;
        if res.is_err() {
            // The packet is freed with the job.
            return out.stats.inc(Stat::EspCryptoError);
        }
        out.stats.inc(Stat::EspOutput);
        out.next += 1;
        out.advance();
    }
}
