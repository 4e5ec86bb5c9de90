// SPDX-License-Identifier: GPL-2.0

//! AH output (RFC 4302), one step of [`OutChain`]: the AH header goes in
//! with its ICV field zeroed, the IP header's mutable fields are zeroed
//! for the digest (and put back after), and the truncated digest becomes
//! the ICV.
//!
//! Over IPv4 the header is padded to 8 bytes as Linux's ah4 sends it and
//! accepts it (PF_KEY cannot ask XFRM for RFC 4302's 4); it makes no
//! difference with 96-bit ICVs. Input takes either.

#![forbid(unsafe_code)]

use crate::{
    ah_input::SAVED_HDR,
    kame_core::{
        ah::{header_len, massage_ipv4, massage_ipv6, AhHeader, Align, Ipv4Massage, AH_HDR_LEN},
        flow::IPPROTO_AH,
    },
    kapi::{
        ahash_op::{self, AhashJob},
        crypto::Ahash,
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

/// The packet and the SA's transform, while digesting.
struct AhStep {
    chain: OutChain,
    sa: Arc<SaEntry>,
    ah_off: usize,
    saved: [u8; SAVED_HDR],
}

/// Protects the chain's packet with AH SA `sa`; consumes the chain.
/// `shared`: what the packet shares with others, if it is a piece of one.
pub(crate) fn step(mut chain: OutChain, sa: Arc<SaEntry>, shared: Shared<'_>) {
    let Some(ah) = sa.ah() else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    // As ESP: lifetimes, then a sequence number while there is one.
    if !ah.usage.admit(&sa, &chain.ns.events) {
        return chain.drop_at(&sa.rec, Stat::OutExpired);
    }
    if !ah
        .usage
        .admit_seq(&sa, ah.seq.load(Relaxed), false, &chain.ns.events)
    {
        return chain.drop_at(&sa.rec, Stat::AhSeqWrap);
    }
    let seq = ah.seq.fetch_add(1, Relaxed) + 1;
    let Ok(seq32) = u32::try_from(seq) else {
        ah.usage.stop(&sa, &chain.ns.events);
        return chain.drop_at(&sa.rec, Stat::AhSeqWrap);
    };
    let icv = ah.icvlen as usize;
    let len = header_len(icv, Align::Eight);
    let Some(inner) = chain.selectors(shared) else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let Ok(l) = chain.layout(&sa, &inner, IPPROTO_AH, len, Tail::Linear(0), shared.idents) else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let Some(h) = AhHeader::new(l.next_header, icv, Align::Eight, sa.rec.id.spi, seq32) else {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    };
    let off = l.hdr_off;
    if off > SAVED_HDR {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    }
    let v6 = chain.v6;
    let b = chain.skb.bytes();
    b[off..off + AH_HDR_LEN].copy_from_slice(&h.to_bytes());
    b[off + AH_HDR_LEN..off + len].fill(0);
    let mut saved = [0u8; SAVED_HDR];
    saved[..off].copy_from_slice(&b[..off]);
    let massaged = if v6 {
        massage_ipv6(b, true).map(|_| ())
    } else {
        let s = chain.settings;
        let m = Ipv4Massage::from_sysctls(s.ah_cleartos, s.ah_offsetmask);
        massage_ipv4(&mut b[..off], m, true).map(|_| ())
    };
    if massaged.is_err() {
        return chain.drop_at(&sa.rec, Stat::OutInvalid);
    }
    let bytes = chain.skb.len() - off - len;
    ah.usage.count(bytes);
    chain.ns.stats.add(Stat::AhOutBytes, bytes as u64);
    ahash_op::submit(AhStep {
        chain,
        sa,
        ah_off: off,
        saved,
    });
}

impl AhashJob for AhStep {
    fn hash(&self) -> Option<&Ahash> {
        Some(&self.sa.ah()?.hash)
    }

    fn region(&mut self) -> &mut [u8] {
        self.chain.skb.bytes()
    }

    fn complete(self, res: Result<&[u8]>) {
        let AhStep {
            mut chain,
            sa,
            ah_off: off,
            saved,
        } = self;
        let Some(ah) = sa.ah() else {
            return chain.drop_at(&sa.rec, Stat::AhCryptoError);
        };
        let icv = ah.icvlen as usize;
        let b = chain.skb.bytes();
        b[..off].copy_from_slice(&saved[..off]);
        match res {
            Ok(d) if d.len() >= icv => {
                b[off + AH_HDR_LEN..off + AH_HDR_LEN + icv].copy_from_slice(&d[..icv]);
                chain.ns.stats.inc(Stat::AhOutput);
                chain.ns.stats.inc_alg(Hist::AhOut, ah.hist);
                chain.step_done();
            }
            _ => chain.drop_at(&sa.rec, Stat::AhCryptoError),
        }
    }
}
