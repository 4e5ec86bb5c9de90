#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""ICMP errors about flows kame_ipsec protects, and icmp_accept_clear
(KTAP; issue 6 item 6; Documentation/datapath.rst, "ICMP errors").

    [a] veth0 192.0.2.1 fd00:1::1 ------ veth0 192.0.2.2 fd00:1::2 [b]
        kame_ipsec (setkey)                     XFRM (ip xfrm)
        connected UDP sockets                   lo: 203.0.113.2, fd00:3::2
                                                (b2: no policy covers it)

ESP transport (AES-GCM-16) between a and b; a's policies cover every
protocol between a and b, `require` both ways. Errors "in the clear" are
written by the test from a raw ICMP socket in b (bound to b, or to b2) while
b's XFRM protects only UDP to a, so they leave b unprotected; each quotes
the UDP header of a's connected socket, so the socket is told if the error
is delivered. Errors "protected" are b's kernel's own port unreachable,
sent through ESP by XFRM (b's out policy covers every protocol).

  Name                      Description
  vN clear unreach 0        b's port unreachable about a>b, icmp_accept_clear
                            0: not delivered, in_polvio +1
  vN clear unreach 1        the same with 1: the socket gets ECONNREFUSED,
                            in_polvio +0
  vN clear too big 0        b's "fragmentation needed" (ICMPv6 packet too
                            big), MTU 1400, about a>b, 0: a's route to b
                            learns nothing, in_polvio +1
  vN clear too big 1        the same with 1: the route has mtu 1400, the
                            socket gets EMSGSIZE
  vN not ours 0 / 1         b2's port unreachable about a>b2 (a flow no
                            policy covers), 0 then 1: delivered both times
  vN other flow 1           b's port unreachable about a>b2, 1: dropped
                            (the quoted flow is not protected), in_polvio +1
  vN protected              b's own port unreachable, sent as ESP: delivered
                            (ECONNREFUSED), icmp_accept_clear 0; b sent ESP
                            and no cleartext ICMP
  vN protected by quote     a's policies cover only UDP to and from b's port,
                            def_policy 0: b's protected error, which no
                            policy of its own header matches, is delivered
                            because the flow it quotes is met by its SA
  vN clear by quote         the control: the same error in the clear (b's
                            out policy UDP only) is dropped even with
                            icmp_accept_clear 1 (def_policy 0 is no
                            `require`), in_polvio +1
  cleanup                   every namespace created is gone
"""
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import sa  # noqa: E402
from dp.inject import ESP, Port, locate, ipv4_checksum  # noqa: E402
from dp.netns import in_ns  # noqa: E402
from dp.sa import Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402

PORT = 4600
SETTLE = 2.0 if os.environ.get("KERNEL") == "debug" else 1.0
B2 = {4: "203.0.113.2", 6: "fd00:3::2"}
GCM = ("aes-gcm-16", None)
TREE = {4: "net/inet/ipsec", 6: "net/inet6/ipsec6"}
ECONNREFUSED, EMSGSIZE = 111, 90
# (type, code) of port unreachable and of too big, per family.
UNREACH = {4: (3, 3), 6: (1, 4)}
TOOBIG = {4: (3, 4), 6: (2, 0)}
PER_FAMILY = 10


def sysctl(topo, name, value):
    def w():
        with open("/proc/sys/" + name, "w") as f:
            f.write("%d\n" % value)
    in_ns(topo.ns("a"), w)


def polvio(topo):
    def rd():
        with open("/proc/net/kame_ipsec/ipsecstat") as f:
            return dict((k, int(v)) for k, v in (line.split() for line in f))["in_polvio"]
    return in_ns(topo.ns("a"), rd)


def connected(topo, fam, dst):
    """a's UDP socket connected to dst:PORT, non-blocking."""
    def mk():
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
        s.connect((dst, PORT))
        s.setblocking(False)
        return s
    return in_ns(topo.ns("a"), mk)


def sock_error(s, wait=SETTLE):
    """The errno a pending error makes the socket's next read fail with
    within `wait` seconds; 0 if none."""
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return 0
        if not select.select([s], [], [], left)[0]:
            continue
        try:
            s.recv(65535)
        except BlockingIOError:
            continue
        except OSError as e:
            return e.errno


def quoted(fam, src, dst, sport, dport):
    """The first bytes of a 1500-byte UDP datagram src>dst with DF, as an
    ICMP error quotes it: the IP header and 8 bytes."""
    plen = 1500 - (20 if fam == 4 else 40)
    udp = struct.pack("!HHHH", sport, dport, plen, 0)
    if fam == 4:
        h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 0x1234, 0x4000, 64, 17, 0,
                                  socket.inet_pton(socket.AF_INET, src),
                                  socket.inet_pton(socket.AF_INET, dst)))
        h[10:12] = struct.pack("!H", ipv4_checksum(bytes(h)))
        return bytes(h) + udp
    return struct.pack("!IHBB16s16s", 0x60000000, plen, 17, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + udp


def send_error(topo, fam, src, dst, kind, quote, mtu=0):
    """An ICMP error from `src` (in b) to `dst`: kind (type, code); the MTU
    word for too big. Sent on a raw socket, so b's XFRM policy for UDP does
    not cover it: it leaves in the clear. ICMPv6's checksum is the kernel's."""
    typ, code = kind
    word = mtu if fam == 6 else (mtu & 0xffff)
    msg = bytearray(struct.pack("!BBHI", typ, code, 0, word) + quote)
    if fam == 4:
        msg[2:4] = struct.pack("!H", ipv4_checksum(bytes(msg) + b"\0" * (len(msg) % 2)))

    def tx():
        if fam == 4:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        else:
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.bind((src, 0))
        s.sendto(bytes(msg), (dst, 0))
        s.close()
    in_ns(topo.ns("b"), tx)


def route_mtu(topo, fam, dst):
    out = topo.run("a", "ip", "-%d" % fam, "route", "get", dst).stdout
    words = out.split()
    return int(words[words.index("mtu") + 1]) if "mtu" in words else None, out.strip()


def xfrm_b(topo, cfg, fam, out_udp_only):
    """b's XFRM: the SAs, an `in` policy for everything from a, and an
    `out` policy for UDP only (its ICMP leaves in the clear) or for
    everything (XFRM protects its ICMP errors too)."""
    a, b = topo.addr("a", fam), topo.addr("b", fam)
    plen = 32 if fam == 4 else 128
    cmds = ["xfrm state flush", "xfrm policy flush"]
    cmds += ["xfrm " + " ".join(c) for c in cfg.xfrm("b", policies=False)]
    tmpl = "tmpl proto esp mode transport"
    cmds.append("xfrm policy add src %s/%d dst %s/%d dir in %s" % (a, plen, b, plen, tmpl))
    cmds.append("xfrm policy add src %s/%d dst %s/%d%s dir out %s" % (
        b, plen, a, plen, " proto udp" if out_udp_only else "", tmpl))
    topo.run("b", "ip", "-batch", "-", input="\n".join(cmds) + "\n")


def family(k, fam):
    label = "v%d " % fam
    sc = Scenario(esp=GCM, mode="transport", fam="v%d" % fam, topo="pair")
    with Topology("pair") as topo:
        a, b, b2 = topo.addr("a", fam), topo.addr("b", fam), B2[fam]
        plen = 32 if fam == 4 else 128
        topo.run("b", "ip", "addr", "add", "%s/%d" % (b2, plen), "dev", "lo")
        topo.run("a", "ip", "route", "add", "%s/%d" % (b2, plen), "via", b)
        for n in ("a", "b"):
            topo.run(n, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0",
                     "net.ipv6.icmp.ratelimit=0")
        cfg = sa.Config(sc, topo)
        cfg.install("a", "kame")
        xfrm_b(topo, cfg, fam, out_udp_only=True)
        knob = TREE[fam] + "/icmp_accept_clear"

        def clear(src, dst, kind, accept, mtu=0):
            """Sends a cleartext error from b (src) about a's socket to
            `dst`: (errno the socket got, in_polvio change)."""
            sysctl(topo, knob, accept)
            s = connected(topo, fam, dst)
            q = quoted(fam, a, dst, s.getsockname()[1], PORT)
            before = polvio(topo)
            send_error(topo, fam, src, a, kind, q, mtu)
            err = sock_error(s)
            s.close()
            return err, polvio(topo) - before

        err, pv = clear(b, b, UNREACH[fam], 0)
        k.test(err == 0 and pv == 1, label + "clear unreach 0: an error about a>b in the "
               "clear is dropped, in_polvio +1", "errno %d, in_polvio +%d" % (err, pv))
        err, pv = clear(b, b, UNREACH[fam], 1)
        k.test(err == ECONNREFUSED and pv == 0, label + "clear unreach 1: delivered, the "
               "socket gets ECONNREFUSED", "errno %d, in_polvio +%d" % (err, pv))

        err, pv = clear(b, b, TOOBIG[fam], 0, mtu=1400)
        mtu, out = route_mtu(topo, fam, b)
        k.test(err == 0 and pv == 1 and mtu is None, label + "clear too big 0: dropped, "
               "a's route to b learns no MTU, in_polvio +1",
               "errno %d, in_polvio +%d, route: %s" % (err, pv, out))
        err, pv = clear(b, b, TOOBIG[fam], 1, mtu=1400)
        mtu, out = route_mtu(topo, fam, b)
        k.test(err == EMSGSIZE and pv == 0 and mtu == 1400, label + "clear too big 1: "
               "delivered, a's route to b has mtu 1400, the socket gets EMSGSIZE",
               "errno %d, in_polvio +%d, route: %s" % (err, pv, out))

        for v in (0, 1):
            err, pv = clear(b2, b2, UNREACH[fam], v)
            k.test(err == ECONNREFUSED and pv == 0, label + "not ours %d: b2's error "
                   "about a>b2 (no policy) is delivered" % v,
                   "errno %d, in_polvio +%d" % (err, pv))
        err, pv = clear(b, b2, UNREACH[fam], 1)
        k.test(err == 0 and pv == 1, label + "other flow 1: b's error about a>b2 (not "
               "protected) is dropped, in_polvio +1", "errno %d, in_polvio +%d" % (err, pv))

        # b's kernel answers a closed port itself, through ESP.
        sysctl(topo, knob, 0)
        xfrm_b(topo, cfg, fam, out_udp_only=False)
        wire = Port(topo.ns("b"), "veth0")

        def protected():
            wire.drain()
            s = connected(topo, fam, b)
            before = polvio(topo)
            s.send(b"x" * 32)
            err = sock_error(s)
            s.close()
            frames = [locate(f) for f in wire.outgoing(lambda f: locate(f) is not None, 0.3)]
            protos = [p[3] for p in frames if p]
            return err, polvio(topo) - before, protos

        err, pv, protos = protected()
        icmp = 1 if fam == 4 else 58
        k.test(err == ECONNREFUSED and pv == 0 and ESP in protos and icmp not in protos,
               label + "protected: b's port unreachable through ESP is delivered "
               "(ECONNREFUSED)", "errno %d, in_polvio +%d, b sent protocols %s" % (
                   err, pv, protos))

        # Policies for UDP to and from b's port only, def_policy 0: the
        # error's own header matches none.
        conf = "spdflush;\n"
        for d, src, dst in (("out", "%s/%d" % (a, plen), "%s/%d[%d]" % (b, plen, PORT)),
                            ("in", "%s/%d[%d]" % (b, plen, PORT), "%s/%d" % (a, plen))):
            conf += "spdadd %s %s udp -P %s ipsec esp/transport//require;\n" % (src, dst, d)
        topo.run("a", sa.SETKEY, "-c", input=conf)
        sysctl(topo, TREE[fam] + "/def_policy", 0)
        err, pv, protos = protected()
        k.test(err == ECONNREFUSED and pv == 0 and ESP in protos, label + "protected by "
               "quote: with def_policy 0 and UDP-only policies, b's protected error is "
               "delivered by the flow it quotes", "errno %d, in_polvio +%d, b sent %s" % (
                   err, pv, protos))
        xfrm_b(topo, cfg, fam, out_udp_only=True)
        sysctl(topo, knob, 1)
        err, pv, protos = protected()
        k.test(err == 0 and pv == 1 and icmp in protos, label + "clear by quote: the same "
               "error in the clear is dropped with icmp_accept_clear 1 (def_policy 0), "
               "in_polvio +1", "errno %d, in_polvio +%d, b sent %s" % (err, pv, protos))
        wire.close()


def main():
    k = Ktap(2 * PER_FAMILY + 1)
    for fam in (4, 6):
        t0 = len(k.results)
        try:
            family(k, fam)
        except Exception as e:  # setup or harness failure: the rest fail
            print("# %s: %s" % (type(e).__name__, e))
        for _ in range(t0 + PER_FAMILY - len(k.results)):
            k.test(False, "v%d: not run" % fam)
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
