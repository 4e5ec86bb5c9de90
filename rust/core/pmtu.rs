// SPDX-License-Identifier: GPL-2.0

//! What the output path does with a packet that would be too big for its
//! route once protected: the rule of XFRM's `xfrm4_tunnel_check_size()`
//! and `xfrm6_tunnel_check_size()`, with one difference forced on a
//! policy-based stack: a local socket's route does not carry the bundle's
//! MTU, so the socket learns it from an ICMP error addressed to itself, as
//! when `ip_fragment()` refuses a local packet.

/// The smallest MTU an IPv6 link may have (RFC 8200 5): a smaller path MTU
/// is never reported, and a packet of this size still goes, its outer
/// packet fragmented.
pub const IPV6_MIN_MTU: usize = 1280;

/// Who sent the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// No local socket: forwarded (or made by the kernel without one).
    Other,
    /// A socket of this host.
    Local,
}

/// The facts about one outbound packet the decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// IP length (the whole packet as it is now).
    pub len: usize,
    /// The largest packet that fits once protected (`None`: not even an
    /// empty one).
    pub fits: Option<usize>,
    /// IPv6.
    pub v6: bool,
    /// IPv4 DF.
    pub df: bool,
    /// The sender lets the stack fragment it (`skb->ignore_df`: a socket
    /// with IP_PMTUDISC_WANT or DONT, IPv6 without IPV6_PMTUDISC_DO).
    pub may_fragment: bool,
    /// A GSO packet, cut to size later.
    pub gso: bool,
    /// Who sent it.
    pub sender: Sender,
    /// The bundle's outermost SA is a tunnel to another host than the
    /// packet's destination: a path MTU recorded for that destination
    /// does not shrink the protected packets' own path.
    pub tunnel: bool,
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Protect and send it; the protected packet is fragmented if it must
    /// be (after encapsulation, as XFRM does).
    Send,
    /// As [`Action::Send`], and record this path MTU for the packet's
    /// destination first so the socket's next packets fit.
    LearnAndSend(usize),
    /// Record the path MTU as [`Action::LearnAndSend`], then cut the
    /// packet into IPv6 fragments of at most this size and protect each:
    /// a tunnel's far end could not forward the whole inner packet over a
    /// link of this MTU, since IPv6 routers do not fragment (XFRM's
    /// `__xfrm6_output()` fragments there too).
    LearnAndFragment(usize),
    /// Drop it and tell its source (ICMP "fragmentation needed"/"packet
    /// too big") that this MTU fits: a forwarding host's source, or this
    /// host's own socket, whose protocol then records the path MTU.
    TellSource(usize),
}

/// The MTU to report: `fits`, but never below the IPv6 minimum.
pub fn reported_mtu(fits: usize, v6: bool) -> usize {
    if v6 {
        fits.max(IPV6_MIN_MTU)
    } else {
        fits
    }
}

/// Decides the fate of `p`.
pub fn decide(p: &Outbound) -> Action {
    let Some(fits) = p.fits else {
        return Action::Send;
    };
    let mtu = reported_mtu(fits, p.v6);
    if p.gso || p.len <= mtu || (!p.v6 && !p.df) {
        return Action::Send;
    }
    match (p.sender, p.tunnel, p.may_fragment) {
        (Sender::Other, _, _) => Action::TellSource(mtu),
        // A socket of ours that forbids fragments: its protocol learns
        // the MTU from an ICMP error to itself, and the send fails with
        // EMSGSIZE (XFRM's answer too, its route being the bundle).
        (Sender::Local, true, false) => Action::TellSource(mtu),
        (Sender::Local, true, true) if p.v6 => Action::LearnAndFragment(mtu),
        (Sender::Local, true, true) => Action::LearnAndSend(mtu),
        // Transport mode: the protected packet goes to the same
        // destination, so a path MTU recorded for it would shrink the
        // packets that carry it as well. It goes in fragments.
        (Sender::Local, false, _) => Action::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORWARDED_V4: Outbound = Outbound {
        len: 1500,
        fits: Some(1446),
        v6: false,
        df: true,
        may_fragment: false,
        gso: false,
        sender: Sender::Other,
        tunnel: true,
    };

    #[test]
    fn numbered_cases() {
        let f = FORWARDED_V4;
        let local = Outbound {
            sender: Sender::Local,
            ..f
        };
        let v6 = Outbound {
            v6: true,
            df: false,
            len: 1500,
            fits: Some(1426),
            ..f
        };
        #[rustfmt::skip]
        let cases: [(u32, Outbound, Action); 18] = [
            (1, f, Action::TellSource(1446)),
            (2, Outbound { len: 1446, ..f }, Action::Send),
            (3, Outbound { len: 1447, ..f }, Action::TellSource(1446)),
            // IPv4 without DF: fragmented after encapsulation.
            (4, Outbound { df: false, ..f }, Action::Send),
            (5, Outbound { gso: true, ..f }, Action::Send),
            (6, Outbound { fits: None, ..f }, Action::Send),
            // Forwarded in transport mode: the source is still told.
            (7, Outbound { tunnel: false, ..f }, Action::TellSource(1446)),
            (8, local, Action::TellSource(1446)),
            (9, Outbound { may_fragment: true, ..local }, Action::LearnAndSend(1446)),
            (10, Outbound { tunnel: false, ..local }, Action::Send),
            (11, Outbound { tunnel: false, may_fragment: true, ..local }, Action::Send),
            // IPv6 has no DF: every forwarded packet too big is refused.
            (12, v6, Action::TellSource(1426)),
            // Never below 1280, and 1280 itself goes.
            (13, Outbound { fits: Some(1206), ..v6 }, Action::TellSource(1280)),
            (14, Outbound { fits: Some(1206), len: 1280, ..v6 }, Action::Send),
            (15, Outbound { fits: Some(1206), len: 1281, ..v6 }, Action::TellSource(1280)),
            (16, Outbound { sender: Sender::Local, may_fragment: true, ..v6 },
             Action::LearnAndFragment(1426)),
            // In IPv6 transport mode the destination reassembles: the
            // protected packet goes in fragments.
            (17, Outbound { sender: Sender::Local, may_fragment: true, tunnel: false, ..v6 },
             Action::Send),
            (18, Outbound { sender: Sender::Local, may_fragment: true, gso: true, ..v6 },
             Action::Send),
        ];
        for (n, p, want) in cases {
            assert_eq!(decide(&p), want, "case {n}: {p:?}");
        }
    }

    #[test]
    fn reported_mtu_keeps_ipv4_values_and_floors_ipv6() {
        assert_eq!(reported_mtu(500, false), 500);
        assert_eq!(reported_mtu(500, true), IPV6_MIN_MTU);
        assert_eq!(reported_mtu(1426, true), 1426);
    }
}
