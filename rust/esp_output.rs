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
        flow::{IPPROTO_ESP, IPPROTO_IPIP, IPPROTO_IPV6},
        pfkey::wire::IpAddr,
        sad::MODE_TUNNEL,
    },
    kapi::{
        aead_op::{self, AeadJob, Direction, MAX_IV},
        crypto::Aead,
        skb::Skb,
    },
    output::{Bundle, OutSettings},
    sa_crypto::EspTransform,
};
use kernel::{
    prelude::*,
    sync::{atomic::Relaxed, Arc},
};

/// ESP header: SPI and sequence number.
const ESP_HDR: usize = 8;
/// Outer TTL / hop limit of tunnel mode.
const OUTER_TTL: u8 = 64;

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
}

/// One ESP step: the packet and the SA's transform, while encrypting.
struct EspStep {
    out: EspOut,
    esp: Arc<EspTransform>,
    esp_off: usize,
}

impl EspOut {
    /// Sends `skb` through `bundle`; consumes it whatever happens.
    pub(crate) fn start(skb: Skb, v6: bool, bundle: Bundle, settings: OutSettings) {
        EspOut {
            skb,
            v6,
            bundle,
            next: 0,
            settings,
        }
        .advance();
    }

    /// Applies the next SA, or sends the packet when none is left.
    fn advance(mut self) {
        while self.next < self.bundle.sas.len() && self.bundle.sas[self.next].is_none() {
            self.next += 1;
        }
        let Some(sa) = self.bundle.sas.get(self.next).cloned().flatten() else {
            return self.skb.send(self.v6);
        };
        let Some(esp) = sa.xform.as_ref().and_then(|x| x.esp()).cloned() else {
            return;
        };
        if self.skb.resolve_checksum().is_err() {
            return;
        }
        let Ok((esp_off, cryptlen, iv)) = self.encapsulate(&sa.rec, &esp) else {
            return;
        };
        let ivlen = esp.ivlen as usize;
        aead_op::submit(
            Direction::Encrypt,
            EspStep {
                out: self,
                esp,
                esp_off,
            },
            ESP_HDR,
            cryptlen,
            &iv[..ivlen],
        );
    }

    /// Lays out the ESP packet around the payload; returns the offset of
    /// the ESP header, the length to encrypt (IV and padded payload) and
    /// the IV generator's input.
    fn encapsulate(
        &mut self,
        rec: &crate::kame_core::sad::SaRecord,
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
            if inner_v6 && inner.transport_offset != 40 && inner.proto != IPPROTO_ESP {
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
            (true, false) => 20,
            (true, true) => 40,
        };
        let (ivlen, icvlen) = (esp.ivlen as usize, esp.icvlen as usize);
        if ivlen > MAX_IV {
            return Err(EINVAL);
        }
        let payload = self.skb.len() - hl;
        let padded = (payload + 2).next_multiple_of(esp.align as usize);
        let pad = padded - payload - 2;
        let head = outer_len + ESP_HDR + ivlen;
        self.skb.make_room(head, pad + 2 + icvlen)?;

        let seq = esp.seq.fetch_add(1, Relaxed) + 1;
        // Without ESN the 32-bit counter must not wrap (RFC 4303 3.3.3).
        // TODO[B]: stop the SA and raise its EXPIRE.
        let seq32 = u32::try_from(seq).map_err(|_| ERANGE)?;

        self.skb.push(head)?;
        let old_len = self.skb.len() - head;
        self.skb.put(pad + 2 + icvlen)?;
        let b = self.skb.bytes();
        let next_header = if tunnel {
            write_outer(&mut b[..outer_len], rec, &inner, self.settings);
            if inner_v6 {
                IPPROTO_IPV6
            } else {
                IPPROTO_IPIP
            }
        } else {
            b.copy_within(head..head + hl, 0);
            let proto_at = if inner_v6 { 6 } else { 9 };
            let nh = b[proto_at];
            b[proto_at] = IPPROTO_ESP;
            nh
        };
        let esp_off = if tunnel { outer_len } else { hl };
        b[esp_off..esp_off + 4].copy_from_slice(&rec.id.spi.to_be_bytes());
        b[esp_off + 4..esp_off + 8].copy_from_slice(&seq32.to_be_bytes());
        // Payload ends where the old packet ended, moved by the headers.
        let trailer = head + old_len;
        for (i, byte) in b[trailer..trailer + pad].iter_mut().enumerate() {
            // RFC 4303 2.4: the default pad is 1, 2, 3, ...
            *byte = (i + 1) as u8;
        }
        b[trailer + pad] = pad as u8;
        b[trailer + pad + 1] = next_header;
        self.skb.set_network_offset(0);

        if tunnel {
            self.skb
                .route(outer_v6, rec.src.octets(), rec.id.dst.octets())?;
            self.v6 = outer_v6;
        }
        let mut iv = [0u8; MAX_IV];
        let n = ivlen.min(8);
        iv[ivlen - n..ivlen].copy_from_slice(&seq.to_be_bytes()[8 - n..]);
        Ok((esp_off, ivlen + padded, iv))
    }
}

/// Writes tunnel mode's outer header (lengths, identification and
/// checksum are filled in by `ip_local_out()`/`ip6_local_out()`).
fn write_outer(
    h: &mut [u8],
    rec: &crate::kame_core::sad::SaRecord,
    inner: &crate::kame_core::flow::Flow,
    s: OutSettings,
) {
    // DSCP is copied; ECN is copied when `ecn` is on (RFC 6040 normal
    // mode), cleared when off (KAME's ECN_NOCARE).
    let ecn = if h.len() == 20 { s.ecn } else { s.ecn6 };
    let ds = if ecn {
        inner.dsfield
    } else {
        inner.dsfield & !3
    };
    h.fill(0);
    if h.len() == 20 {
        h[0] = 0x45;
        h[1] = ds;
        let df = match s.dfbit {
            0 => false,
            1 => true,
            _ => inner.df,
        };
        if df {
            h[6] = 0x40;
        }
        h[8] = OUTER_TTL;
        h[9] = IPPROTO_ESP;
        h[12..16].copy_from_slice(rec.src.octets());
        h[16..20].copy_from_slice(rec.id.dst.octets());
    } else {
        h[0] = 0x60 | (ds >> 4);
        h[1] = ds << 4;
        h[6] = IPPROTO_ESP;
        h[7] = OUTER_TTL;
        h[8..24].copy_from_slice(rec.src.octets());
        h[24..40].copy_from_slice(rec.id.dst.octets());
    }
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
        if res.is_err() {
            return; // The packet is freed with the job.
        }
        let mut out = self.out;
        out.next += 1;
        out.advance();
    }
}
