// SPDX-License-Identifier: GPL-2.0

//! AH input (RFC 4302). A packet whose (destination, SPI) names one of our
//! AH SAs is checked against the replay window; its ICV is computed over
//! the packet with the mutable IP header fields and the ICV field zeroed
//! (the header bytes are saved and put back around the digest) and
//! compared with the one it carries; then the layer goes
//! ([`crate::input::finish`]).

#![forbid(unsafe_code)]

use crate::{
    drops::{self, SaSite},
    input::{self, Ctx, Undone},
    kame_core::{
        ah::{header_len, massage_ipv4, massage_ipv6, AhHeader, Align, Ipv4Massage, AH_HDR_LEN},
        flow::Flow,
        spd::DIR_IN,
        sysctl::Ipsec4,
    },
    kapi::{
        ahash_op::{self, AhashJob, MAX_DIGEST},
        crypto::Ahash,
        skb::Skb,
    },
    policy_in::History,
    sad_table::SaEntry,
    stats::Stat,
    stats_hist::Hist,
    sysctl::Setting,
};
use kernel::{prelude::*, sync::Arc};

/// The longest IP header (with IPv6 extension headers) kept aside while
/// its mutable fields are zeroed for the ICV.
pub(crate) const SAVED_HDR: usize = 256;

/// A packet whose ICV is being computed.
pub(crate) struct AhIn {
    skb: Skb,
    v6: bool,
    outer_ds: u8,
    /// Offset of the AH header: the IP headers' length.
    ah_off: usize,
    hdr: AhHeader,
    seq: u64,
    /// The ICV the packet carried, and the IP headers as they came.
    icv: [u8; MAX_DIGEST],
    saved: [u8; SAVED_HDR],
    sa: Arc<SaEntry>,
    ctx: Ctx,
    hist: History,
}

impl AhIn {
    /// Authenticates the packet at `data` (its IP header) for `sa`;
    /// consumes it.
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
        let Some(ah) = sa.ah() else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::AhInvalidSa, site());
        };
        ctx.ns.stats.inc_alg(Hist::AhIn, ah.hist);
        // XFRM's order: the SA's lifetimes before anything else.
        if !ah.usage.admit(&sa, &ctx.ns.events) {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::AhInvalidSa, site());
        }
        let off = flow.transport_offset;
        let icv = ah.icvlen as usize;
        if off > SAVED_HDR || icv > MAX_DIGEST || skb.make_room(0, 0).is_err() {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::AhShort, site());
        }
        let b = skb.bytes();
        let Some(Ok(hdr)) = b.get(off..).map(AhHeader::parse) else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::AhShort, site());
        };
        let total = hdr.total_len();
        // Either padding: RFC 4302's (4 bytes over IPv4) or XFRM's (8).
        let fits = total == header_len(icv, Align::Four) || total == header_len(icv, Align::Eight);
        if !fits || off + total > b.len() {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::AhShort, site());
        }
        let Ok(seq) = ah.replay.lock().check(hdr.seq) else {
            return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::AhReplay, site());
        };
        let mut job = AhIn {
            v6,
            outer_ds: flow.dsfield,
            ah_off: off,
            hdr,
            seq,
            icv: [0; MAX_DIGEST],
            saved: [0; SAVED_HDR],
            sa,
            ctx,
            hist,
            skb,
        };
        let b = job.skb.bytes();
        let icv_at = off + AH_HDR_LEN;
        job.icv[..icv].copy_from_slice(&b[icv_at..icv_at + icv]);
        // Only the ICV is zeroed: padding after it counts as sent (XFRM
        // sends whatever its buffer held there).
        b[icv_at..icv_at + icv].fill(0);
        job.saved[..off].copy_from_slice(&b[..off]);
        let massaged = if v6 {
            massage_ipv6(b, false).map(|_| ())
        } else {
            let s = &job.ctx.ns.sysctls;
            let m = Ipv4Massage::from_sysctls(
                s.get(Setting::V4(Ipsec4::AhCleartos)),
                s.get(Setting::V4(Ipsec4::AhOffsetmask)),
            );
            massage_ipv4(&mut b[..off], m, false).map(|_| ())
        };
        if massaged.is_err() {
            let site = SaSite {
                debug: job.ctx.ns.sysctls.debug(v6),
                dir: DIR_IN,
                rec: &job.sa.rec,
            };
            return drops::drop_sa(&mut job.skb, &job.ctx.ns.stats, Stat::AhBadEncoding, site);
        }
        ahash_op::submit(job);
    }

    /// After the digest: compare, enter the window; where the layer is.
    /// By reference: the completion keeps the job to count a refusal at
    /// its SA, without clones of the SA and the counters for it.
    fn verify(&mut self, digest: &[u8]) -> Result<Undone, Stat> {
        let Some(ah) = self.sa.ah() else {
            return Err(Stat::AhInvalidSa);
        };
        let icv = ah.icvlen as usize;
        let off = self.ah_off;
        self.skb.bytes()[..off].copy_from_slice(&self.saved[..off]);
        // Every byte compared, whatever differs first.
        let diff = digest
            .iter()
            .zip(&self.icv[..icv])
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        if digest.len() < icv || diff != 0 {
            drops::mark(&mut self.skb, Stat::AhAuthFail);
            return Err(Stat::AhAuthFail);
        }
        self.ctx.ns.stats.inc(Stat::AhAuthOk);
        if ah.replay.lock().update(self.seq).is_err() {
            drops::mark(&mut self.skb, Stat::AhReplay);
            return Err(Stat::AhReplay);
        }
        let total = self.hdr.total_len();
        let payload = self.skb.len() - off - total;
        self.ctx.ns.stats.add(Stat::AhInBytes, payload as u64);
        ah.usage.count(payload);
        Ok(Undone {
            v6: self.v6,
            hdr_off: off,
            payload_off: off + total,
            next: self.hdr.next_header,
            outer_ds: self.outer_ds,
        })
    }
}

impl AhashJob for AhIn {
    fn hash(&self) -> Option<&Ahash> {
        Some(&self.sa.ah()?.hash)
    }

    fn region(&mut self) -> &mut [u8] {
        self.skb.bytes()
    }

    fn complete(mut self, res: Result<&[u8]>) {
        let s = match res {
            // The layer goes: on with the inner packet, which counts its
            // own refusals.
            Ok(d) => match self.verify(d) {
                Ok(u) => return input::finish(self.skb, self.sa, u, self.ctx, self.hist),
                Err(s) => s,
            },
            Err(_) => {
                drops::mark(&mut self.skb, Stat::AhCryptoError);
                Stat::AhCryptoError
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
