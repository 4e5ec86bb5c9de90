// SPDX-License-Identifier: GPL-2.0

//! The output policy: every IPv4/IPv6 packet leaving the host (sent or
//! forwarded) meets the SPD at POST_ROUTING. `discard` drops it, `none`
//! lets it go, `ipsec` finds an SA for each request of the bundle (KAME's
//! choice: newest mature first) and hands the packet to the transforms.
//! A request without an SA asks the key daemons for one (SADB_ACQUIRE);
//! then `use` sends that layer in the clear and `require` drops the packet.

#![forbid(unsafe_code)]

use crate::{
    acquire_queue::{self, AcquireRequest},
    datapath::{Datapath, Levels, Need},
    drops,
    kame_core::{
        flow::{self, is_ipsec, Flow, IPPROTO_TCP},
        sad::MODE_TUNNEL,
        spd::{Request, DIR_OUT, MAX_DEPTH, POLICY_DISCARD, POLICY_NONE},
        sysctl::{Ipsec4, Ipsec6},
    },
    kapi::{
        bh::BhOff,
        netfilter::Verdict,
        sk_policy,
        skb::{Segments, Skb},
        xfrm_km::PolicyDir,
    },
    out_chain::{Idents, OutChain, Shared},
    pmtu::{self, SizeCheck},
    policy_log,
    sad_table::SaEntry,
    sock_policy::SockRule,
    stats::Stat,
    sysctl::Setting,
};
use kernel::{
    error::code::EMSGSIZE,
    sync::{rcu, Arc},
};

/// Bytes of headers read to find a packet's selectors: an IPv6 header
/// with a few extension headers, or IPv4 with options, and the ports.
pub(crate) const SELECTOR_BYTES: usize = 128;

/// Reads the selectors of the packet at `data`.
pub(crate) fn read_flow(skb: &Skb) -> Option<Flow> {
    let n = skb.len().min(SELECTOR_BYTES);
    // Nearly always the headers are linear: parsed where they are.
    if let Some(head) = skb.linear_head(n) {
        return flow::parse(head).ok();
    }
    let mut buf = [0u8; SELECTOR_BYTES];
    skb.copy_out(0, &mut buf[..n]).ok()?;
    flow::parse(&buf[..n]).ok()
}

/// The SAs a packet goes through, innermost first.
pub(crate) struct Bundle {
    pub(crate) sas: [Option<Arc<SaEntry>>; MAX_DEPTH],
}

/// The settings the transforms need, read once per packet.
#[derive(Clone, Copy)]
pub(crate) struct OutSettings {
    /// `net.inet.ipsec.dfbit`.
    pub(crate) dfbit: i32,
    /// `net.inet.ipsec.ecn`: for IPv4 outer headers.
    pub(crate) ecn: i32,
    /// `net.inet6.ipsec6.ecn`: for IPv6 outer headers.
    pub(crate) ecn6: i32,
    /// `net.inet.ipsec.ah_cleartos`.
    pub(crate) ah_cleartos: i32,
    /// `net.inet.ipsec.ah_offsetmask`.
    pub(crate) ah_offsetmask: i32,
    /// `debug` of the packet's family: drops are logged.
    pub(crate) debug: bool,
}

/// Decides the fate of an outbound packet.
pub(crate) fn run(dp: &Datapath, v6: bool, skb: Skb) -> Verdict {
    if skb.transformed(v6) {
        return Verdict::Accept(skb);
    }
    let levels = dp.levels(v6);
    // The sending socket's own policy wins over the SPD.
    let by_socket = dp
        .sock_policies
        .rule(sk_policy::of_skb(&skb, PolicyDir::Out));
    // With no policy to match, `def_policy` alone decides: a namespace
    // where kame_ipsec holds nothing (XFRM's, say) passes unread.
    if matches!(by_socket, SockRule::Spd) && dp.keys.spd.is_empty() && levels.default_passes() {
        return Verdict::Accept(skb);
    }
    let Some(flow) = read_flow(&skb) else {
        // Not an IP packet we can read: not ours to judge.
        return Verdict::Accept(skb);
    };
    let bundle = {
        let g = rcu::read_lock();
        let (requests, origin) = match by_socket {
            SockRule::Pass => return Verdict::Accept(skb),
            SockRule::Discard(why) => {
                dp.stats.inc(Stat::OutPolicyViolation);
                policy_log::violation(dp.debug(v6), DIR_OUT, &flow, None, why);
                return Verdict::Drop(skb);
            }
            SockRule::Ipsec(p, index) => (&p.requests, Origin::Socket(index)),
            SockRule::Spd => {
                let Some(pol) = dp.keys.spd.lookup(&g, DIR_OUT, &flow) else {
                    return if levels.default_passes() {
                        Verdict::Accept(skb)
                    } else {
                        dp.stats.inc(Stat::OutPolicyViolation);
                        let why = "no policy matches and def_policy is 0";
                        policy_log::violation(dp.debug(v6), DIR_OUT, &flow, None, why);
                        Verdict::Drop(skb)
                    };
                };
                match pol.rec.ty {
                    POLICY_DISCARD => {
                        dp.stats.inc(Stat::OutPolicyViolation);
                        let why = "discard policy";
                        policy_log::violation(dp.debug(v6), DIR_OUT, &flow, None, why);
                        return Verdict::Drop(skb);
                    }
                    POLICY_NONE => return Verdict::Accept(skb),
                    _ => (&pol.rec.requests, Origin::Spd(pol.rec.id)),
                }
            }
        };
        match resolve(dp, &levels, &g, requests, origin, &flow) {
            Some(b) => b,
            None => {
                dp.stats.inc(Stat::OutNoSa);
                let why = "no SA for a required request (ACQUIRE sent)";
                policy_log::violation(dp.debug(v6), DIR_OUT, &flow, None, why);
                return Verdict::Drop(drops::marked(skb, Stat::OutNoSa));
            }
        }
    };
    if bundle.sas.iter().all(Option::is_none) {
        return Verdict::Accept(skb);
    }
    // OpenBSD's `net.inet.esp.enable`/`net.inet.ah.enable` 0: none
    // leaves either.
    let mut skb = skb;
    if let Some(sa) = bundle
        .sas
        .iter()
        .flatten()
        .find(|sa| dp.proto_disabled(sa.rec.id.proto))
    {
        let stat = Stat::of_proto(sa.rec.id.proto, Stat::AhDisabled, Stat::EspDisabled);
        drops::mark(&mut skb, stat);
        let why = "protocol disabled";
        policy_log::sa_drop(dp.debug(v6), DIR_OUT, &sa.rec, stat.name(), why);
        return Verdict::Drop(skb);
    }
    let fragment_to = match pmtu::check_out(&mut skb, v6, &flow, &bundle) {
        SizeCheck::Fits => None,
        SizeCheck::Fragment(mtu) => Some(mtu),
        SizeCheck::TooBig => {
            dp.stats.inc(Stat::OutTooBig);
            drops::mark(&mut skb, Stat::OutTooBig);
            // A local sender's call fails as it would for its own route's
            // MTU.
            return Verdict::DropWith(skb, EMSGSIZE);
        }
    };
    // enc0, when up, sees (and may filter) what is about to be protected.
    let Some(skb) = dp.enc.outbound(skb) else {
        return Verdict::Stolen;
    };
    let settings = OutSettings {
        dfbit: dp.sysctls.get(Setting::V4(Ipsec4::Dfbit)),
        ecn: dp.sysctls.get(Setting::V4(Ipsec4::Ecn)),
        ecn6: dp.sysctls.get(Setting::V6(Ipsec6::Ecn)),
        ah_cleartos: dp.sysctls.get(Setting::V4(Ipsec4::AhCleartos)),
        ah_offsetmask: dp.sysctls.get(Setting::V4(Ipsec4::AhOffsetmask)),
        debug: dp.debug(v6),
    };
    let start = |mut s: Skb, b: Bundle, shared: Shared<'_>| {
        // Each packet holds the namespace's teardown back until it is
        // sent or dropped.
        let Some(inflight) = dp.pending.enter() else {
            drops::mark(&mut s, Stat::ExitDrops);
            return drops::count(&dp.stats, Stat::ExitDrops, settings.debug, DIR_OUT);
        };
        OutChain::start(s, v6, b, settings, shared, inflight);
    };
    // A GSO packet is cut to its segments' size, a local IPv6 packet too
    // big for a tunnel into fragments (as the stack would after us); each
    // piece is protected on its own.
    // Bottom halves stay off until the last piece is sent, so the far
    // end (a veth peer in this namespace's softirq) takes them as one
    // batch, as it does a GSO packet's segments from the device.
    // A TCP GSO packet's segments share its selectors (segmentation
    // changes lengths, sequence numbers and flags, none of them a
    // selector): read once, after enc0, whose filter may have rewritten
    // the packet. Fragments differ (ports only in the first; UDP
    // fragmentation offload makes them too): each is read.
    // A GSO packet's segments in a tunnel share one reservation of outer
    // IPv4 identifications (`out_chain::Idents`).
    let start_each = |pieces: kernel::error::Result<Segments>, flow: Option<&Flow>| match pieces {
        Ok(pieces) => {
            let _batch = BhOff::new();
            let idents = Idents::new(pieces.count_left());
            let shared = Shared {
                flow,
                idents: Some(&idents),
            };
            pieces.for_each(|s| start(s, clone_bundle(&bundle), shared));
        }
        Err(_) => dp.stats.inc(Stat::OutInvalid),
    };
    match fragment_to {
        Some(mtu) => start_each(skb.fragment_v6(mtu), None),
        None if skb.is_gso() => {
            let known = read_flow(&skb).filter(|f| f.proto == IPPROTO_TCP);
            start_each(skb.segment(), known.as_ref())
        }
        None => start(skb, bundle, Shared::default()),
    }
    // The SAs' lifetime events the packets raised, if any.
    dp.keys.kick_use_events();
    Verdict::Stolen
}

fn clone_bundle(b: &Bundle) -> Bundle {
    Bundle { sas: b.sas.clone() }
}

/// Whose bundle a packet goes through.
#[derive(Clone, Copy)]
enum Origin {
    /// The SPD's policy with this id.
    Spd(u32),
    /// Its socket's policy, with this kernel policy index.
    Socket(u32),
}

/// Finds the SA of each request; `None` when a required one is missing.
fn resolve(
    dp: &Datapath,
    levels: &Levels<'_>,
    g: &rcu::Guard,
    requests: &[Option<Request>; MAX_DEPTH],
    origin: Origin,
    flow: &Flow,
) -> Option<Bundle> {
    let mut bundle = Bundle {
        sas: Default::default(),
    };
    let mut missing = false;
    let (policy_id, socket) = match origin {
        Origin::Spd(id) => (id, false),
        Origin::Socket(index) => (index, true),
    };
    for (i, r) in requests.iter().enumerate() {
        let Some(r) = r else { break };
        let (src, dst) = match (&r.tunnel, r.mode) {
            (Some((s, d)), MODE_TUNNEL) => (s, d),
            _ => (&flow.src, &flow.dst),
        };
        let reqid = if r.level == crate::kame_core::spd::LEVEL_UNIQUE {
            r.reqid
        } else {
            0
        };
        if let Some(sa) = dp.keys.sad.for_output(g, src, dst, r.proto, r.mode, reqid) {
            // IPcomp SAs are not run: compression is not done here.
            if is_ipsec(r.proto) {
                bundle.sas[i] = Some(sa.clone());
                continue;
            }
        }
        acquire_queue::raise(
            &dp.keys,
            AcquireRequest {
                policy_id,
                socket,
                request: i as u8,
                proto: r.proto,
                mode: r.mode,
                reqid: r.reqid,
                src: *src,
                dst: *dst,
            },
        );
        if levels.need(r) == Need::Require {
            missing = true;
        }
    }
    (!missing).then_some(bundle)
}
