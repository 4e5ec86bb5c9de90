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
        esp::{parse_trailer, PadCheck, ESP_HDR_LEN, ESP_TRAILER_LEN},
        flow::{self, Flow, IPPROTO_ESP, IPPROTO_IPIP, IPPROTO_IPV6, IPV6_HDR_LEN},
        sad::{SaId, SaState, MODE_TUNNEL},
        spd::DIR_IN,
        sysctl::{Ipsec4, Ipsec6},
        tunnel::{decap_dsfield, ipv4_checksum, Decap, EcnMode},
    },
    kapi::{
        aead_op::{self, AeadJob, Direction, MAX_IV},
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
    stats::{Stat, Stats},
    sysctl::Setting,
};
use kernel::{
    prelude::*,
    sync::{rcu, Arc},
};

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
        dp.stats.inc(Stat::EspInput);
        let ctx = Ctx {
            spd: dp.keys.spd.clone(),
            levels: dp.levels(v6),
            ecn: dp.sysctls.get(if v6 {
                Setting::V6(Ipsec6::Ecn)
            } else {
                Setting::V4(Ipsec4::Ecn)
            }),
            dev: dp.decap.hold(),
            stats: dp.stats.clone(),
        };
        if !dp.proto_enabled(proto) {
            dp.stats.inc(Stat::EspDisabled);
            return Ok(());
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
    /// `ecn` of the outer family.
    ecn: i32,
    dev: DevRef,
    stats: Arc<Stats>,
}

/// A packet being decrypted.
struct EspIn {
    skb: Skb,
    v6: bool,
    /// The outer header's TOS / traffic class, for ECN.
    outer_ds: u8,
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
            return ctx.stats.inc(Stat::EspInvalidSa);
        };
        let off = flow.transport_offset;
        let g = &esp.geom;
        // The encrypted part must be whole blocks, the trailer at least.
        let Some(crypt) = skb
            .len()
            .checked_sub(off + ESP_HDR_LEN + g.iv_len + g.icv_len)
        else {
            return ctx.stats.inc(Stat::EspShort);
        };
        if crypt < ESP_TRAILER_LEN || crypt % g.block.max(1) != 0 {
            return ctx.stats.inc(Stat::EspShort);
        }
        if skb.make_room(0, 0).is_err() {
            return ctx.stats.inc(Stat::EspCryptoError);
        }
        let b = skb.bytes();
        let seq_lo = u32::from_be_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]);
        let Ok(seq) = esp.replay.lock().check(seq_lo) else {
            return ctx.stats.inc(Stat::EspReplay);
        };
        let cryptlen = skb.len() - off - ESP_HDR_LEN;
        let ivlen = g.iv_len;
        let job = EspIn {
            skb,
            v6,
            outer_ds: flow.dsfield,
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
            ESP_HDR_LEN,
            cryptlen,
            &[0u8; MAX_IV][..ivlen],
        );
    }

    /// After authentication: the window, the trailer, the header, the
    /// policy; the counter of what stopped the packet.
    fn decapsulate(mut self) -> Result<(), Stat> {
        self.esp
            .replay
            .lock()
            .update(self.seq)
            .map_err(|_| Stat::EspReplay)?;
        let bad = Stat::EspBadEncoding;
        let g = self.esp.geom;
        let rec = &self.sa.rec;
        let end = self.skb.len() - g.icv_len;
        let payload = self.esp_off + ESP_HDR_LEN + g.iv_len;
        let b = self.skb.bytes();
        let t =
            parse_trailer(&b[payload..end], PadCheck::from_sa_flags(rec.flags)).map_err(|_| bad)?;
        let tunnel = rec.mode == MODE_TUNNEL;
        self.hist.push(Layer {
            proto: IPPROTO_ESP,
            mode: rec.mode,
            src: rec.src,
            dst: rec.id.dst,
            reqid: rec.reqid,
        });
        self.ctx.stats.add(Stat::EspInBytes, (end - payload) as u64);
        self.skb.trim(payload + t.payload_len).map_err(|_| bad)?;
        let inner_v6 = if tunnel {
            self.skb.pull(payload).map_err(|_| bad)?;
            let inner_v6 = match t.next_header {
                IPPROTO_IPIP => false,
                IPPROTO_IPV6 => true,
                _ => return Err(bad),
            };
            let mode = EcnMode::from_sysctl(self.ctx.ecn);
            let copy_dscp = rec.flags & SADB_SAFLAGS_DECAP_DSCP != 0;
            set_dsfield(self.skb.bytes(), inner_v6, |inner| {
                decap_dsfield(self.outer_ds, inner, mode, copy_dscp)
            })
            .ok_or(bad)?;
            inner_v6
        } else {
            let hl = self.esp_off;
            let b = self.skb.bytes();
            b.copy_within(0..hl, payload - hl);
            self.skb.pull(payload - hl).map_err(|_| bad)?;
            set_transport_next(self.skb.bytes(), self.v6, hl, t.next_header).ok_or(bad)?;
            self.v6
        };
        // The inner packet: check the policy against every layer undone
        // and let the stack have it.
        let mut buf = [0u8; SELECTOR_BYTES];
        let n = self.skb.len().min(SELECTOR_BYTES);
        self.skb.copy_out(0, &mut buf[..n]).map_err(|_| bad)?;
        let inner = flow::parse(&buf[..n]).map_err(|_| bad)?;
        // TODO[B]: a further ESP/AH layer of ours (nested bundles) in the
        // same pass, and forwarded inner packets' `fwd` policy.
        policy_in::check(&self.ctx.spd, &self.ctx.levels, DIR_IN, &inner, &self.hist)
            .map_err(|_| Stat::InPolicyViolation)?;
        self.ctx.stats.inc(Stat::InSuccess);
        self.skb.reinject(&self.ctx.dev, inner_v6);
        Ok(())
    }
}

/// The SA flag asking decapsulation to copy the outer DSCP inward
/// (`SADB_SAFLAGS_DECAP_DSCP`, XFRM's `XFRM_STATE_DECAP_DSCP`).
const SADB_SAFLAGS_DECAP_DSCP: u32 = 0x4000_0000;

/// Rewrites the TOS / traffic class of the IP header at `b[0]` with what
/// `f` makes of it; `None` if `f` says drop.
fn set_dsfield(b: &mut [u8], v6: bool, f: impl FnOnce(u8) -> Decap) -> Option<()> {
    if v6 {
        let old = (b.first()? << 4) | (b.get(1)? >> 4);
        let Decap::Deliver(ds) = f(old) else {
            return None;
        };
        b[0] = 0x60 | (ds >> 4);
        b[1] = (ds << 4) | (b[1] & 0x0f);
    } else {
        let Decap::Deliver(ds) = f(*b.get(1)?) else {
            return None;
        };
        let hl = usize::from(b[0] & 0x0f) * 4;
        b[1] = ds;
        fix_checksum(b.get_mut(..hl)?);
    }
    Some(())
}

/// Recomputes an IPv4 header's checksum.
fn fix_checksum(h: &mut [u8]) {
    h[10] = 0;
    h[11] = 0;
    let sum = ipv4_checksum(h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Transport mode: the IP header now directly precedes the payload; name
/// the payload's protocol in it and fix its length (and IPv4 checksum).
fn set_transport_next(b: &mut [u8], v6: bool, hl: usize, next: u8) -> Option<()> {
    let total = b.len();
    if v6 {
        if hl != IPV6_HDR_LEN {
            return None; // TODO[B]: ESP after IPv6 extension headers.
        }
        b[6] = next;
        let plen = u16::try_from(total - IPV6_HDR_LEN).ok()?;
        b[4..6].copy_from_slice(&plen.to_be_bytes());
    } else {
        b[9] = next;
        let tot = u16::try_from(total).ok()?;
        b[2..4].copy_from_slice(&tot.to_be_bytes());
        fix_checksum(b.get_mut(..hl)?);
    }
    Some(())
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
        let stats = self.ctx.stats.clone();
        let outcome = match res {
            Ok(()) => self.decapsulate(),
            Err(e) if e == EBADMSG => Err(Stat::EspAuthFail),
            Err(_) => Err(Stat::EspCryptoError),
        };
        // A refused packet is freed with the job.
        if let Err(s) = outcome {
            stats.inc(s);
        }
    }
}
