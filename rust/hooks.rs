// SPDX-License-Identifier: GPL-2.0

//! The packet-path hooks: IPv4 and IPv6 input, forward and output in every
//! namespace. They pass every packet unchanged for now; the data-path work
//! (SPD lookup, ESP/AH) attaches here.

#![forbid(unsafe_code)]

use crate::kapi::{
    net::Net,
    netfilter::{Family, HookSpec, NfHooks, PacketHook, Point, Verdict},
};
use kernel::prelude::*;

/// Where we sit among netfilter's hooks: after conntrack and the filter
/// table's priority on input (so the packet filter sees the packet as it
/// arrived), before them on output. XFRM's own policy checks are not
/// netfilter hooks, so this does not order us against them.
const PRIORITY_IN: i32 = 100;
const PRIORITY_OUT: i32 = -100;

const SPECS: [HookSpec; 6] = [
    HookSpec {
        family: Family::Ipv4,
        point: Point::LocalIn,
        priority: PRIORITY_IN,
    },
    HookSpec {
        family: Family::Ipv4,
        point: Point::Forward,
        priority: PRIORITY_IN,
    },
    HookSpec {
        family: Family::Ipv4,
        point: Point::LocalOut,
        priority: PRIORITY_OUT,
    },
    HookSpec {
        family: Family::Ipv6,
        point: Point::LocalIn,
        priority: PRIORITY_IN,
    },
    HookSpec {
        family: Family::Ipv6,
        point: Point::Forward,
        priority: PRIORITY_IN,
    },
    HookSpec {
        family: Family::Ipv6,
        point: Point::LocalOut,
        priority: PRIORITY_OUT,
    },
];

/// The packet path of kame_ipsec.
pub(crate) struct PacketPath;

impl PacketHook for PacketPath {
    fn hook() -> Verdict {
        Verdict::Accept
    }
}

/// Registers the hooks in `net`.
pub(crate) fn register(net: &Net) -> Result<NfHooks<PacketPath>> {
    NfHooks::register(net, &SPECS)
}
