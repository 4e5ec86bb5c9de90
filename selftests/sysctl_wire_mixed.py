#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Which tree's settings judge the inner packet of a mixed-family tunnel
(KTAP). A packet decapsulated from IPv6-in-IPv4 is an IPv6 packet: as in
KAME, where it re-enters ip6_input() and meets ipsec6_in_reject(), the
net.inet6.ipsec6 settings (def_policy here) must decide it, and the
net.inet.ipsec ones an IPv4 packet out of an IPv6 tunnel.

Not in the suite yet: it fails while rust/input.rs takes the settings of
the outer family for the inbound check (Documentation/todo.rst [B]).

Topology and helpers as selftests/sysctl_wire.py: XFRM in b sends
fd02::1 -> fd01::1 through an ESP tunnel 192.0.2.2 -> 192.0.2.1, and
10.2.0.1 -> 10.1.0.1 through one 2001:db8::2 -> 2001:db8::1; a has the
SAs and no policy, so def_policy decides.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sysctl_wire as w  # noqa: E402
from ktap import Ktap, run_in_netns  # noqa: E402


def main():
    t = Ktap(4)
    try:
        w.topology()
        w.reset()
        w.sa_add("esp", "tunnel", w.B4, w.A4, 0x4001)
        w.sa_add("esp", "tunnel", w.B6, w.A6, 0x4011)
        w.xfrm_out(w.IB6, w.IA6, "esp", "tunnel", w.B4, w.A4)
        w.xfrm_out(w.IB4, w.IA4, "esp", "tunnel", w.B6, w.A6)
        w.apply()
        rx6, rx4 = w.Rx("a", w.IA6), w.Rx("a", w.IA4)
        for d4, d6 in ((1, 0), (0, 1)):
            w.sysctl("a", "net.inet.ipsec.def_policy", d4)
            w.sysctl("a", "net.inet6.ipsec6.def_policy", d6)
            setting = "ipsec.def_policy=%d ipsec6.def_policy=%d" % (d4, d6)
            m = w.marker()
            w.udp_send("b", w.IB6, w.IA6, m)
            got = rx6.got(m)
            t.test((got is not None) == bool(d6), "%s: inner IPv6 out of an IPv4 tunnel %s"
                   % (setting, "delivered" if d6 else "dropped"), "delivered: %s" % got)
            m = w.marker()
            w.udp_send("b", w.IB4, w.IA4, m)
            got = rx4.got(m)
            t.test((got is not None) == bool(d4), "%s: inner IPv4 out of an IPv6 tunnel %s"
                   % (setting, "delivered" if d4 else "dropped"), "delivered: %s" % got)
    finally:
        for n in "ab":
            w.sh("ip netns del %s" % n, check=False)
    return t.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
