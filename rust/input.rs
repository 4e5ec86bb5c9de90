// SPDX-License-Identifier: GPL-2.0

//! The receive side: ESP and AH packets for our SAs, taken from XFRM's
//! protocol chains ahead of XFRM (other SPIs go on to it untouched). Each
//! layer of ours is undone in one pass ([`crate::esp_input`],
//! [`crate::ah_input`]); when none is left, the inner packet is checked
//! against the inbound policy with every layer it came through, and
//! re-enters the stack on the namespace's decapsulation device, so later
//! hooks know it was checked.

#![forbid(unsafe_code)]

use crate::{
    ah_input::AhIn,
    datapath::Token,
    drops::{self, SaSite},
    esp_input::EspIn,
    icmp_in,
    kame_core::{
        esp::ESP_HDR_LEN,
        flow::{
            is_ipsec, Flow, Frag, IPPROTO_AH, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPV6_HDR_LEN,
        },
        natt,
        pfkey::wire::IpAddr,
        sad::{SaId, SaRecord, SaState, MODE_TUNNEL},
        spd::{DIR_FWD, DIR_IN},
        sysctl::{Ipsec4, Ipsec6},
        tunnel::{decap_dsfield, ipv4_checksum, set_next_and_length, Decap, EcnMode},
    },
    kapi::{ipproto::IpsecInput, net::Net, netdev::DevRef, sk_policy, skb::Skb, xfrm_state},
    natt_input,
    netns::Netns,
    output::read_flow,
    pmtu,
    policy_in::{self, History},
    policy_log,
    sad_table::{SaEntry, SadReader},
    sock_policy::{self, SockPolicies},
    stats::{Stat, Stats},
};
use kernel::sync::{rcu, Arc};

/// The receive side registered with XFRM's protocol chains.
pub(crate) struct Input;

impl IpsecInput for Input {
    type Pernet = Netns;

    fn receive(ns: &Netns, _net: &Net, mut skb: Skb, v6: bool, proto: u8) -> Result<(), Skb> {
        // The stack pulled the IP header (and IPv6 extension headers):
        // look at the packet from the network header.
        let nh = usize::try_from(-skb.network_offset()).unwrap_or(0);
        if skb.push(nh).is_err() {
            return Err(skb);
        }
        let dp = ns.dp();
        let flow = read_flow(&skb);
        let Some((flow, sa)) = flow.and_then(|f| our_sa(&dp.keys.sad, f, proto)) else {
            if let Some(f) = flow {
                count_no_sa(&dp.stats, &skb, &f, proto);
            }
            let _ = skb.pull(nh);
            return Err(skb);
        };
        take(ns, skb, v6, flow, sa, false);
        Ok(())
    }

    fn receive_encap(ns: &Netns, _net: &Net, skb: Skb, v6: bool) -> Result<(), Skb> {
        natt_input::receive(ns, skb, v6)
    }
}

/// Undoes the packet at `data` (its IP header), whose first layer `sa`
/// (of ours) `flow` names; `udp` if that layer arrived in UDP (its UDP
/// header is gone already). Consumes the packet.
pub(crate) fn take(ns: &Netns, mut skb: Skb, v6: bool, flow: Flow, sa: Arc<SaEntry>, udp: bool) {
    let dp = ns.dp();
    // The packet holds the namespace's teardown back until it is
    // delivered or dropped.
    let Some(inflight) = dp.pending.enter() else {
        drops::mark(&mut skb, Stat::ExitDrops);
        drops::count(&dp.stats, Stat::ExitDrops, dp.debug(v6), DIR_IN);
        return;
    };
    let ctx = Ctx {
        dev_mtu: skb.dev_mtu(),
        dev: dp.reentry(),
        ns: inflight,
        sock_policies: dp
            .sock_policies
            .inbound_in_use()
            .then(|| dp.sock_policies.clone()),
        udp,
        natt_transport: false,
    };
    let proto = sa.rec.id.proto;
    if dp.proto_disabled(proto) {
        let stat = Stat::of_proto(proto, Stat::AhDisabled, Stat::EspDisabled);
        drops::mark(&mut skb, stat);
        let why = "protocol disabled";
        policy_log::sa_drop(ctx.ns.sysctls.debug(v6), DIR_IN, &sa.rec, stat.name(), why);
        return;
    }
    start_layer(skb, v6, flow, sa, ctx, History::default());
    // The SAs' lifetime events the packet raised, if any.
    dp.keys.kick_use_events();
}

/// The SA of the ESP/AH packet whose selectors are `flow`, if it is ours
/// and usable.
pub(crate) fn our_sa(sad: &SadReader, flow: Flow, proto: u8) -> Option<(Flow, Arc<SaEntry>)> {
    let id = SaId {
        dst: flow.dst,
        spi: flow.spi?,
        proto,
    };
    let g = rcu::read_lock();
    let sa = sad.by_id(&g, &id)?.clone();
    matches!(sa.rec.state, SaState::Mature | SaState::Dying).then_some((flow, sa))
}

/// Counts the ESP/AH packet `skb` (`data` at its IP header, `flow` its
/// selectors, `proto` its first layer), for which [`our_sa`] found nothing,
/// if XFRM has no state for its SPI either: KAME's packets with no SA
/// (`esps_notdb`, `ahs_notdb`). XFRM, which gets it next, drops it too
/// (`XfrmInNoStates`). Only packets we hand on pay for the lookup.
pub(crate) fn count_no_sa(stats: &Stats, skb: &Skb, flow: &Flow, proto: u8) {
    // XFRM wants the whole header (SPI and sequence number, or AH's
    // first 8 bytes): a shorter packet is its header error, not ours.
    let Some(spi) = flow.spi else {
        return;
    };
    if skb.len() < flow.transport_offset + ESP_HDR_LEN {
        return;
    }
    if !xfrm_state::has_state(skb, flow.dst.octets(), spi, proto) {
        stats.inc(Stat::of_proto(proto, Stat::AhNoSa, Stat::EspNoSa));
    }
}

/// What a packet needs after its crypto, whatever the context then. The
/// settings are read through `ns` when needed, not copied in here.
pub(crate) struct Ctx {
    /// The MTU of the device the packet came in on: the reverse path,
    /// for the SYN clamp.
    dev_mtu: u32,
    dev: DevRef,
    /// Holds the namespace's teardown back while the packet is in crypto;
    /// its SAD, SPD, counters and the SAs' lifetime events.
    pub(crate) ns: Token,
    /// The namespace's per-socket policies, once some socket has an
    /// inbound one.
    sock_policies: Option<Arc<SockPolicies>>,
    /// The next layer arrived in UDP (NAT-T): only the outermost can.
    udp: bool,
    /// The last layer undone was a NAT-T SA's in transport mode: the
    /// upper-layer checksum covers addresses a NAT may have changed.
    natt_transport: bool,
}

impl Ctx {
    /// The namespace's decapsulation device, which the packet re-enters
    /// on.
    pub(crate) fn dev(&self) -> &DevRef {
        &self.dev
    }
}

/// Undoes one layer of ours; consumes the packet.
fn start_layer(mut skb: Skb, v6: bool, flow: Flow, sa: Arc<SaEntry>, mut ctx: Ctx, hist: History) {
    // An SA with NAT-T takes its packets in UDP only, the others never
    // (XFRM's encapsulation check in `xfrm_input()`).
    let udp = core::mem::take(&mut ctx.udp);
    if sa.rec.natt.is_some() != udp {
        let site = SaSite {
            debug: ctx.ns.sysctls.debug(v6),
            dir: DIR_IN,
            rec: &sa.rec,
        };
        return drops::drop_sa(&mut skb, &ctx.ns.stats, Stat::EspBadEncap, site);
    }
    if sa.rec.id.proto == IPPROTO_AH {
        ctx.ns.stats.inc(Stat::AhInput);
        AhIn::start(skb, v6, flow, sa, ctx, hist);
    } else {
        ctx.ns.stats.inc(Stat::EspInput);
        EspIn::start(skb, v6, flow, sa, ctx, hist);
    }
}

/// A layer whose protection checked out: where its header is, what follows.
pub(crate) struct Undone {
    /// The packet's family (outer, for tunnel mode).
    pub(crate) v6: bool,
    /// Offset of the ESP/AH header (the IP header's length).
    pub(crate) hdr_off: usize,
    /// Offset of what the ESP/AH header protects.
    pub(crate) payload_off: usize,
    /// The protocol after it.
    pub(crate) next: u8,
    /// The outer TOS / traffic class.
    pub(crate) outer_ds: u8,
}

/// The SA flag asking decapsulation to copy the outer DSCP inward
/// (`SADB_SAFLAGS_DECAP_DSCP`, XFRM's `XFRM_STATE_DECAP_DSCP`).
const SADB_SAFLAGS_DECAP_DSCP: u32 = 0x4000_0000;

/// Removes layer `u` of SA `sa` (its trailer already cut) and goes on
/// with the inner packet: the next layer of ours, or the policy check and
/// the stack.
///
/// A refusal is counted and logged here, at the layer's SA: the
/// completions that call this keep no reference of their own for it.
pub(crate) fn finish(mut skb: Skb, sa: Arc<SaEntry>, u: Undone, mut ctx: Ctx, mut hist: History) {
    // The layer joins the history, where `undo` and a refusal find its SA.
    let res = match hist.push(sa) {
        Ok(()) => undo(&mut skb, &u, &mut ctx, &hist),
        Err(sa) => {
            let bad = bad_encoding(&sa.rec);
            drops::mark(&mut skb, bad);
            let site = SaSite {
                debug: ctx.ns.sysctls.debug(u.v6),
                dir: DIR_IN,
                rec: &sa.rec,
            };
            return drops::count_sa(&ctx.ns.stats, bad, site);
        }
    };
    match res {
        Ok(Next::Layer(f, sa, inner_v6)) => start_layer(skb, inner_v6, f, sa, ctx, hist),
        Ok(Next::Deliver(inner_v6, verified)) => {
            ctx.ns.stats.inc(Stat::InSuccess);
            skb.reinject(&ctx.dev, inner_v6, verified);
        }
        Err(s) => {
            // The packet is freed with `skb`, marked where refused.
            if let Some(sa) = hist.innermost() {
                let site = SaSite {
                    debug: ctx.ns.sysctls.debug(u.v6),
                    dir: DIR_IN,
                    rec: &sa.rec,
                };
                drops::count_sa(&ctx.ns.stats, s, site);
            }
        }
    }
}

/// What a malformed inner packet counts as, by the layer's protocol.
fn bad_encoding(rec: &SaRecord) -> Stat {
    Stat::of_proto(rec.id.proto, Stat::AhBadEncoding, Stat::EspBadEncoding)
}

/// Where the inner packet goes once a layer is removed.
enum Next {
    /// Through another layer of ours: its selectors, its SA, its family.
    Layer(Flow, Arc<SaEntry>, bool),
    /// Into the stack, of this family; whether its checksums need no check.
    Deliver(bool, bool),
}

/// Removes layer `l`, the innermost of `hist`, from `skb` and checks what
/// is left: the counter of what stopped the packet, which is marked with
/// it.
fn undo(skb: &mut Skb, l: &Undone, ctx: &mut Ctx, hist: &History) -> Result<Next, Stat> {
    // After asynchronous crypto: the namespace may be going.
    if ctx.ns.closing() {
        drops::mark(skb, Stat::ExitDrops);
        return Err(Stat::ExitDrops);
    }
    let Some(rec) = hist.innermost().map(|sa| &sa.rec) else {
        return Err(Stat::EspBadEncoding);
    };
    let (mode, flags, natt, spi) = (rec.mode, rec.flags, rec.natt.is_some(), rec.id.spi);
    let bad = bad_encoding(rec);
    drops::mark(skb, bad);
    // What follows reads and rewrites the inner packet as one slice: what
    // is left in fragments is made linear. A trailer in a fragment of its
    // own goes with the trim, but our own full-size segments also carry
    // up to 15 payload bytes there (kame_skb_put_tail), copied back here.
    skb.make_room(0, 0).map_err(|_| bad)?;
    let inner_v6 = if mode == MODE_TUNNEL {
        skb.pull(l.payload_off).map_err(|_| bad)?;
        let inner_v6 = match l.next {
            IPPROTO_IPIP => false,
            IPPROTO_IPV6 => true,
            _ => return Err(bad),
        };
        // `ecn` of the family of the header that goes (KAME reads
        // ip4_ipsec_ecn or ip6_ipsec_ecn by the outer header).
        let ecn = ctx.ns.sysctls.of_family(l.v6, Ipsec4::Ecn, Ipsec6::Ecn);
        let mode = EcnMode::from_sysctl(ecn);
        let copy_dscp = flags & SADB_SAFLAGS_DECAP_DSCP != 0;
        set_dsfield(skb.bytes(), inner_v6, |inner| {
            decap_dsfield(l.outer_ds, inner, mode, copy_dscp)
        })
        .ok_or(bad)?;
        inner_v6
    } else {
        let hl = l.hdr_off;
        let b = skb.bytes();
        b.copy_within(0..hl, l.payload_off - hl);
        skb.pull(l.payload_off - hl).map_err(|_| bad)?;
        set_transport_next(skb.bytes(), l.v6, hl, l.next).ok_or(bad)?;
        l.v6
    };
    // RFC 3948 3.1.2: a NAT-T transport layer leaves a segment whose
    // checksum the NAT could not see; a tunnel layer's inner packet has
    // its own addresses, untouched.
    ctx.natt_transport = mode != MODE_TUNNEL && natt;
    let inner = read_flow(skb).ok_or(bad)?;
    // A further layer of ours: undo it in the same pass.
    if is_ipsec(inner.proto) {
        if let Some((f, sa)) = our_sa(&ctx.ns.sad, inner, inner.proto) {
            return Ok(Next::Layer(f, sa, inner_v6));
        }
    }
    // As XFRM: the `in` policy for what this host receives, `fwd` for
    // what it forwards (setkey sends an `fwd` copy of each `in` policy).
    // The outermost SA's destination is where the packet was delivered,
    // here: an inner packet for it needs no route lookup (transport mode,
    // host-to-host tunnels).
    let outer_dst = hist.sas().next().map(|sa| &sa.rec.id.dst);
    let dir = if outer_dst == Some(&inner.dst) || delivers_locally(&ctx.dev, &inner.dst) {
        DIR_IN
    } else {
        DIR_FWD
    };
    // The inner packet is judged by its own family's settings, whatever
    // the tunnel's family (KAME).
    let levels = ctx.ns.sysctls.levels(inner_v6);
    // A local socket's own policy first, then the SPD.
    let by_socket = match (&ctx.sock_policies, dir) {
        (Some(sp), DIR_IN) => sock_policy::receiver(&inner).and_then(|r| {
            let rule = sp.rule(sk_policy::of_receiver_on(&ctx.dev, &r));
            policy_in::check_socket(rule, &levels, hist)
        }),
        _ => None,
    };
    let verdict =
        by_socket.unwrap_or_else(|| policy_in::check(&ctx.ns.spd, &levels, dir, &inner, hist));
    if let Err(r) = verdict {
        if !icmp_in::protected_error_accepted(&ctx.ns.spd, &levels, dir, skb, &inner, hist) {
            let spi = Some(spi);
            let debug = ctx.ns.sysctls.debug(inner_v6);
            policy_log::violation(debug, dir, &inner, spi, r.reason());
            drops::mark(skb, Stat::InPolicyViolation);
            return Err(Stat::InPolicyViolation);
        }
    }
    if ctx.natt_transport && inner.frag == Frag::None {
        let b = skb.bytes();
        natt::fix_transport_checksum(b, inner_v6, inner.transport_offset, inner.proto)
            .ok_or(bad)?;
    }
    if inner.proto == IPPROTO_TCP && pmtu::syn_at(skb, inner.transport_offset) {
        // Our answers go back through the same kind of SAs: the largest
        // packet that fits the device's MTU once through them, worked out
        // as for output (XFRM's esp4_get_mtu()); the overhead this packet
        // carried counted its own padding on top of the worst case.
        let hl = inner.transport_offset;
        let mtu = usize::try_from(ctx.dev_mtu).unwrap_or(usize::MAX);
        if let Some(fits) = pmtu::bundle_mtu(&hist.reversed(), hl, mtu) {
            pmtu::clamp(skb, hl, fits.saturating_sub(hl + 20));
        }
    }
    // Each layer's ICV was checked: the inner packet is as its sender
    // made it, checksums included, which need not be summed again (as
    // WireGuard's input; XFRM sums them). A fragment's checksum covers the
    // whole datagram, checked once it is reassembled.
    let verified = inner.frag == Frag::None && hist.sas().all(|sa| sa.authenticates());
    Ok(Next::Deliver(inner_v6, verified))
}

/// Whether the inner packet for `dst` will be delivered here rather than
/// forwarded (the address is the namespace's, or broadcast, or multicast).
fn delivers_locally(dev: &DevRef, dst: &IpAddr) -> bool {
    match dst {
        IpAddr::V4(a) => dev.delivers_locally(false, a),
        IpAddr::V6(a, _) => dev.delivers_locally(true, a),
    }
}

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
        let old = *b.get(1)?;
        let Decap::Deliver(ds) = f(old) else {
            return None;
        };
        // Most decapsulations leave it as it was, and its checksum too.
        if ds != old {
            let hl = usize::from(b[0] & 0x0f) * 4;
            b[1] = ds;
            fix_checksum(b.get_mut(..hl)?);
        }
    }
    Some(())
}

/// Recomputes an IPv4 header's checksum.
pub(crate) fn fix_checksum(h: &mut [u8]) {
    h[10] = 0;
    h[11] = 0;
    let sum = ipv4_checksum(h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Transport mode: the IP header now directly precedes the payload; name
/// the payload's protocol in it and fix its length (and IPv4 checksum).
fn set_transport_next(b: &mut [u8], v6: bool, hl: usize, next: u8) -> Option<()> {
    if v6 && hl != IPV6_HDR_LEN {
        return None; // TODO[B]: ESP/AH after IPv6 extension headers.
    }
    let total = b.len();
    set_next_and_length(b.get_mut(..hl)?, v6, next, total)
}
