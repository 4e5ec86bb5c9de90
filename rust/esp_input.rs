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
    datapath::Levels,
    kame_core::{
        flow::{self, Flow, IPPROTO_ESP, IPPROTO_IPIP, IPPROTO_IPV6},
        sad::{SaId, SaState, MODE_TUNNEL},
        spd::{DIR_FWD, DIR_IN},
    },
    kapi::{
        aead_op::{self, AeadJob, Direction},
        crypto::Aead,
        ipproto::IpsecInput,
        net::Net,
        netdev::DevRef,
        skb::Skb,
    },
    netns::Netns,
    output::SELECTOR_BYTES,
    policy_in::{self, History, Layer},
    sa_crypto::EspTransform,
    sad_table::SaEntry,
    spd_table::SpdReader,
};
use kernel::{
    prelude::*,
    sync::{rcu, Arc},
};

/// ESP header: SPI and sequence number.
const ESP_HDR: usize = 8;

/// The receive side registered with XFRM's protocol chains.
pub(crate) struct Input;

impl IpsecInput for Input {
    type Pernet = Netns;

    fn receive(ns: &Netns, _net: &Net, mut skb: Skb, v6: bool, proto: u8) -> Result<(), Skb> {
        if proto != IPPROTO_ESP {
            return Err(skb); // TODO[B]: AH.
        }
        // The stack pulled the IP header (and IPv6 extension headers):
        // look at the packet from the network header.
        let nh = usize::try_from(-skb.network_offset()).unwrap_or(0);
        if skb.push(nh).is_err() {
            return Err(skb);
        }
        let Some((flow, sa)) = our_sa(ns, &skb, proto) else {
            let _ = skb.pull(nh);
            return Err(skb);
        };
        let dp = ns.dp();
        let ctx = Ctx {
            spd: dp.keys.spd.clone(),
            levels: dp.levels(v6),
            dev: dp.decap.hold(),
        };
        if !dp.proto_enabled(proto) {
            return Ok(()); // TODO[B]: count (esp.enable = 0).
        }
        EspIn::start(skb, v6, flow, sa, ctx, History::default());
        Ok(())
    }
}

/// The SA of the ESP/AH packet at `data`, if it is ours and usable.
fn our_sa(ns: &Netns, skb: &Skb, proto: u8) -> Option<(Flow, Arc<SaEntry>)> {
    let mut buf = [0u8; SELECTOR_BYTES];
    let n = skb.len().min(SELECTOR_BYTES);
    skb.copy_out(0, &mut buf[..n]).ok()?;
    let flow = flow::parse(&buf[..n]).ok()?;
    let id = SaId {
        dst: flow.dst,
        spi: flow.spi?,
        proto,
    };
    let g = rcu::read_lock();
    let sa = ns.dp().keys.sad.by_id(&g, &id)?.clone();
    matches!(sa.rec.state, SaState::Mature | SaState::Dying).then_some((flow, sa))
}

/// What a packet needs after its crypto, whatever the context then.
struct Ctx {
    spd: SpdReader,
    levels: Levels,
    dev: DevRef,
}

/// A packet being decrypted.
struct EspIn {
    skb: Skb,
    v6: bool,
    /// Offset of the ESP header from `data` (the IP header).
    esp_off: usize,
    seq: u64,
    sa: Arc<SaEntry>,
    esp: Arc<EspTransform>,
    ctx: Ctx,
    hist: History,
}

impl EspIn {
    /// Decrypts the packet at `data` (its IP header) for `sa`; consumes it.
    fn start(mut skb: Skb, v6: bool, flow: Flow, sa: Arc<SaEntry>, ctx: Ctx, hist: History) {
        let Some(esp) = sa.xform.as_ref().and_then(|x| x.esp()).cloned() else {
            return;
        };
        let off = flow.transport_offset;
        let (ivlen, icvlen) = (esp.ivlen as usize, esp.icvlen as usize);
        // The smallest ESP packet: header, IV, the two trailer bytes
        // padded to the block, ICV.
        let min = off + ESP_HDR + ivlen + (esp.align as usize).max(2) + icvlen;
        if skb.len() < min || skb.make_room(0, 0).is_err() {
            return;
        }
        let b = skb.bytes();
        let seq_lo = u32::from_be_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]);
        let Ok(seq) = esp.replay.lock().check(seq_lo) else {
            return; // TODO[B]: count replays.
        };
        let cryptlen = skb.len() - off - ESP_HDR;
        let job = EspIn {
            skb,
            v6,
            esp_off: off,
            seq,
            sa,
            esp,
            ctx,
            hist,
        };
        aead_op::submit(
            Direction::Decrypt,
            job,
            ESP_HDR,
            cryptlen,
            &[0u8; 16][..ivlen],
        );
    }

    /// After authentication: the window, the trailer, the header.
    fn decapsulate(mut self) -> Option<()> {
        self.esp.replay.lock().update(self.seq).ok()?;
        let (ivlen, icvlen) = (self.esp.ivlen as usize, self.esp.icvlen as usize);
        let len = self.skb.len();
        let b = self.skb.bytes();
        let end = len - icvlen;
        let (padlen, next) = (usize::from(b[end - 2]), b[end - 1]);
        let payload = self.esp_off + ESP_HDR + ivlen;
        if payload + padlen + 2 > end {
            return None;
        }
        let rec = &self.sa.rec;
        let tunnel = rec.mode == MODE_TUNNEL;
        self.hist.push(Layer {
            proto: IPPROTO_ESP,
            mode: rec.mode,
            src: rec.src,
            dst: rec.id.dst,
            reqid: rec.reqid,
        });
        self.skb.trim(end - padlen - 2).ok()?;
        let inner_v6 = if tunnel {
            self.skb.pull(payload).ok()?;
            match next {
                IPPROTO_IPIP => false,
                IPPROTO_IPV6 => true,
                _ => return None,
            }
        } else {
            let hl = self.esp_off;
            let b = self.skb.bytes();
            b.copy_within(0..hl, payload - hl);
            self.skb.pull(payload - hl).ok()?;
            let b = self.skb.bytes();
            set_transport_next(b, self.v6, hl, next)?;
            self.v6
        };
        // The inner packet: undo our next layer in the same pass, or check
        // the policy against all of them and let the stack have it.
        let mut buf = [0u8; SELECTOR_BYTES];
        let n = self.skb.len().min(SELECTOR_BYTES);
        self.skb.copy_out(0, &mut buf[..n]).ok()?;
        let inner = flow::parse(&buf[..n]).ok()?;
        // TODO[B]: a further ESP/AH layer of ours (nested bundles) and
        // forwarded inner packets' `fwd` policy.
        let _ = DIR_FWD;
        policy_in::check(&self.ctx.spd, &self.ctx.levels, DIR_IN, &inner, &self.hist).ok()?;
        self.skb.reinject(&self.ctx.dev, inner_v6);
        Some(())
    }
}

/// Transport mode: the IP header now directly precedes the payload; name
/// the payload's protocol in it and fix its length (and IPv4 checksum).
fn set_transport_next(b: &mut [u8], v6: bool, hl: usize, next: u8) -> Option<()> {
    let total = b.len();
    if v6 {
        if hl != 40 {
            return None; // TODO[B]: ESP after IPv6 extension headers.
        }
        b[6] = next;
        let plen = u16::try_from(total - 40).ok()?;
        b[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        b[9] = next;
        let tot = u16::try_from(total).ok()?;
        b[2..4].copy_from_slice(&tot.to_be_bytes());
        b[10] = 0;
        b[11] = 0;
        let sum = ipv4_checksum(&b[..hl]);
        b[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    Some(())
}

/// The IPv4 header checksum (RFC 791) of `h`, its checksum field zero.
fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl AeadJob for EspIn {
    fn aead(&self) -> &Aead {
        &self.esp.aead
    }

    fn region(&mut self) -> &mut [u8] {
        let off = self.esp_off;
        self.skb.bytes().get_mut(off..).unwrap_or_default()
    }

    fn complete(self, res: Result) {
        if res.is_ok() {
            let _ = self.decapsulate();
        }
        // TODO[B]: count authentication failures (EBADMSG) and the drops
        // above; the packet is freed with the job.
    }
}
