// SPDX-License-Identifier: GPL-2.0

//! The packet-path hooks of every namespace: the inbound policy check for
//! packets arriving in the clear (LOCAL_IN, FORWARD) and the output policy
//! (POST_ROUTING, for sent and forwarded packets alike). ESP/AH packets
//! themselves are received through XFRM's protocol chains
//! ([`crate::esp_input`]), not here.

#![forbid(unsafe_code)]

use crate::{
    datapath::Datapath,
    icmp_in,
    kame_core::{
        flow::is_ipsec,
        spd::{DIR_FWD, DIR_IN},
    },
    kapi::{
        net::Net,
        netfilter::{Family, HookSpec, HookState, NfHooks, PacketHook, Point, Verdict},
        sk_policy,
        skb::Skb,
    },
    natt_input, output,
    policy_in::{self, History},
    policy_log, sock_policy,
    stats::Stat,
};
use kernel::prelude::*;

/// Where we sit among netfilter's hooks: on input after conntrack and the
/// filter table (the packet filter sees the packet as it arrived); on
/// output last but for conntrack's confirmation, so filtering and NAT
/// apply to the cleartext packet, and the ESP packet we make is sent
/// through every hook again. XFRM's own policy checks are not netfilter
/// hooks, so this does not order us against them.
const PRIORITY_IN: i32 = 100;
const PRIORITY_OUT: i32 = 200;

const fn spec(family: Family, point: Point, priority: i32) -> HookSpec {
    HookSpec {
        family,
        point,
        priority,
    }
}

const SPECS: [HookSpec; 6] = [
    spec(Family::Ipv4, Point::LocalIn, PRIORITY_IN),
    spec(Family::Ipv4, Point::Forward, PRIORITY_IN),
    spec(Family::Ipv4, Point::PostRouting, PRIORITY_OUT),
    spec(Family::Ipv6, Point::LocalIn, PRIORITY_IN),
    spec(Family::Ipv6, Point::Forward, PRIORITY_IN),
    spec(Family::Ipv6, Point::PostRouting, PRIORITY_OUT),
];

/// The packet path of kame_ipsec.
pub(crate) struct PacketPath;

impl PacketHook for PacketPath {
    type Ctx = Datapath;

    fn hook(dp: &Datapath, st: &HookState, skb: Skb) -> Verdict {
        match st.point {
            Point::PostRouting | Point::LocalOut => output::run(dp, st.v6, skb),
            Point::LocalIn => inbound_clear(dp, st, DIR_IN, skb),
            Point::Forward => inbound_clear(dp, st, DIR_FWD, skb),
        }
    }
}

/// A packet that did not come through our decapsulation: what a policy
/// requires it to have come through, it did not.
fn inbound_clear(dp: &Datapath, st: &HookState, dir: u8, skb: Skb) -> Verdict {
    if dp.decapsulated(st) {
        return Verdict::Accept(skb); // Checked when decapsulated.
    }
    // With no policy to match, `def_policy` alone decides (as output).
    if dp.keys.spd.is_empty()
        && !dp.sock_policies.inbound_in_use()
        && dp.levels(st.v6).default_passes()
    {
        return Verdict::Accept(skb);
    }
    // ESP and AH are judged once undone (by us, or by XFRM for its SAs):
    // most say so in their IP header, and are let by unparsed.
    if plainly_ipsec(&skb) {
        return Verdict::Accept(skb);
    }
    let Some(flow) = output::read_flow(&skb) else {
        return Verdict::Accept(skb);
    };
    // Behind IPv6 extension headers.
    if is_ipsec(flow.proto) {
        return Verdict::Accept(skb);
    }
    let levels = dp.levels(st.v6);
    let hist = History::default();
    // A local socket's own policy first (only once some socket has one).
    let by_socket = if dir == DIR_IN && dp.sock_policies.inbound_in_use() {
        sock_policy::receiver(&flow).and_then(|r| {
            let rule = dp.sock_policies.rule(sk_policy::of_receiver_at(st, &r));
            policy_in::check_socket(rule, &levels, &hist)
        })
    } else {
        None
    };
    let verdict =
        by_socket.unwrap_or_else(|| policy_in::check(&dp.keys.spd, &levels, dir, &flow, &hist));
    match verdict {
        Ok(()) => Verdict::Accept(skb),
        Err(r) if icmp_in::clear_error_accepted(dp, st.v6, dir, &skb, &flow, r) => {
            Verdict::Accept(skb)
        }
        // ESP in UDP and NAT keepalives for a key daemon's NAT-T socket
        // are not UDP to it: the ESP is judged once undone (looked for
        // only here, so other packets pay no socket lookup).
        Err(_) if dir == DIR_IN && natt_input::for_encap_socket(&skb, st.v6, &flow) => {
            Verdict::Accept(skb)
        }
        Err(r) => {
            dp.stats.inc(Stat::InPolicyViolation);
            policy_log::violation(dp.debug(st.v6), dir, &flow, None, r.reason());
            Verdict::Drop(skb)
        }
    }
}

/// Whether the packet is ESP or AH by its IP header alone: IPv4's protocol,
/// or IPv6's next header with no extension header before it.
fn plainly_ipsec(skb: &Skb) -> bool {
    let proto = match skb.linear_head(10) {
        Some(h) if h[0] >> 4 == 4 => h[9],
        Some(h) if h[0] >> 4 == 6 => h[6],
        _ => return false,
    };
    is_ipsec(proto)
}

/// Registers the hooks in `net`, handing them `dp`.
pub(crate) fn register(net: &Net, dp: KBox<Datapath>) -> Result<NfHooks<PacketPath>> {
    NfHooks::register(net, &SPECS, dp)
}
