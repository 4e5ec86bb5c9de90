#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Per-socket policies (KTAP): setsockopt(IP_IPSEC_POLICY/IPV6_IPSEC_POLICY)
with ipsec_set_policy(3) buffers, enforced by kame_ipsec ahead of the SPD,
read back with getsockopt().

    ns a (kame_ipsec)                             ns b (XFRM)
    192.0.2.1 fd00:1::1  veth0 ========= veth0    192.0.2.2 fd00:1::2  protected
                                                  192.0.2.3 fd00:1::3  clear

b's XFRM protects everything between a and b's first address with ESP
(AES-GCM, transport, policies in and out); its second address has no
policy, so it talks to a in the clear. a has the matching SAs and, for the
TCP part, no SPD entry at all: only the sockets' own policies act.

For v4 and v6:
  * A TCP server whose listening socket requires ESP in and out refuses
    the clear client (its SYN is dropped, in_polvio +1) and serves the
    protected one (echo; a's ESP counters move both ways, so the SYN-ACK
    and the replies of the accepted socket left through ESP). Negative
    control: a server without a policy serves the clear client.
  * getsockopt reads back what was set, on the listener and on the
    accepted socket (the kernel copies the policy to it); `entrust` for a
    socket without one; ENOBUFS for a buffer too short.
  * With an SPD on a that requires ESP with b's clear address both ways
    (and no SA for it): a UDP socket with `bypass` in and out exchanges
    clear datagrams with it; a socket without a policy, and one with
    `entrust`, do not (in_polvio / out_nosa move). `discard` out fails the
    send (EPERM, the kernel's IPsec core blocks it), `discard` in drops.
  * An `ipsec` out policy without an SA: the send is dropped, out_nosa +1.
Bad buffers are EINVAL; an unprivileged process gets EPERM.
"""
import ctypes
import errno
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp.inject import Counters  # noqa: E402
from dp.netns import in_ns  # noqa: E402
from dp.sa import SETKEY, Config, Scenario  # noqa: E402
from dp.topo import Topology  # noqa: E402

IP_IPSEC_POLICY, IPV6_IPSEC_POLICY = 16, 34
DIR_IN, DIR_OUT = 1, 2
DISCARD, NONE, IPSEC, ENTRUST, BYPASS = 0, 1, 2, 3, 4
ESP, TRANSPORT, REQUIRE = 50, 1, 2
WAIT = 3.0 if os.environ.get("KERNEL") == "debug" else 1.5
libc = ctypes.CDLL(None, use_errno=True)


def request(proto=ESP, mode=TRANSPORT, level=REQUIRE, reqid=0):
    """struct sadb_x_ipsecrequest (transport: no endpoints)."""
    return struct.pack("=HHBBHII", 16, proto, mode, level, 0, reqid, 0)


def policy(d, ty, reqs=()):
    """An ipsec_set_policy(3) buffer: struct sadb_x_policy and requests."""
    body = b"".join(reqs)
    return struct.pack("=HHHBBII", (16 + len(body)) // 8, 18, ty, d, 0, 0, 0) + body


def opt(fam):
    return (socket.IPPROTO_IP, IP_IPSEC_POLICY) if fam == 4 else \
        (socket.IPPROTO_IPV6, IPV6_IPSEC_POLICY)


def setpol(s, fam, buf):
    s.setsockopt(*opt(fam), buf)


def getpol(s, fam, d, size=512):
    """getsockopt with the direction in the buffer, as KAME's callers do;
    (bytes, 0) or (None, errno)."""
    buf = ctypes.create_string_buffer(policy(d, ENTRUST).ljust(size, b"\0")[:size], size)
    n = ctypes.c_uint32(size)
    level, name = opt(fam)
    if libc.getsockopt(s.fileno(), level, name, buf, ctypes.byref(n)) != 0:
        return None, ctypes.get_errno()
    return buf.raw[:n.value], 0


def same_policy(got, want):
    """Equal but for the policy id the kernel assigned (bytes 8..12)."""
    return got is not None and got[:8] == want[:8] and got[12:] == want[12:]


class Peers:
    def __init__(self, t):
        self.t = t
        self.a, self.b = t.ns("a"), t.ns("b")
        self.counters = Counters(self.a)

    def addr(self, fam, who):
        """a's address, b's protected one ("b") or b's clear one ("c")."""
        if who == "a":
            return self.t.addr("a", fam)
        base = self.t.addr("b", fam)
        return base if who == "b" else base[:-1] + "3"

    def sock(self, ns, fam, kind, bind=("", 0)):
        def mk():
            s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(bind)
            return s
        return in_ns(ns, mk)


def tcp_part(k, p, fam):
    pre = "v%d tcp: " % fam
    want_in = policy(DIR_IN, IPSEC, [request()])
    port = 5000 + 100 * fam
    srv = p.sock(p.a, fam, socket.SOCK_STREAM, ("", port + 1))
    setpol(srv, fam, want_in)
    setpol(srv, fam, policy(DIR_OUT, IPSEC, [request()]))
    srv.listen(4)
    plain = p.sock(p.a, fam, socket.SOCK_STREAM, ("", port + 2))
    plain.listen(4)
    accepted = []

    def serve(ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            accepted.append(c)
            data = c.recv(100)
            c.sendall(b"echo " + data)

    for ls in (srv, plain):
        threading.Thread(target=serve, args=(ls,), daemon=True).start()

    def connect(who, port):
        c = p.sock(p.b, fam, socket.SOCK_STREAM, (p.addr(fam, who), 0))
        c.settimeout(2 * WAIT)
        try:
            c.connect((p.addr(fam, "a"), port))
            c.sendall(b"ping")
            return c.recv(100)
        except OSError as e:
            return e
        finally:
            c.close()

    before = p.counters.read()
    got = connect("c", port + 1)
    d = Counters.delta(before, p.counters.read())
    k.test(isinstance(got, socket.timeout) and d.get("in_polvio", 0) >= 1,
           pre + "a clear client is refused by the socket's require-ESP policy",
           "got %r, counters %r" % (got, d))
    k.test(connect("c", port + 2) == b"echo ping",
           pre + "negative control: a server without a policy serves the clear client")
    before = p.counters.read()
    got = connect("b", port + 1)
    d = Counters.delta(before, p.counters.read())
    k.test(got == b"echo ping" and d.get("esps_input", 0) >= 3 and
           d.get("esps_output", 0) >= 2 and d.get("in_polvio", 0) == 0,
           pre + "a protected client is served, both ways through ESP",
           "got %r, counters %r" % (got, d))

    rb, err = getpol(srv, fam, DIR_IN)
    k.test(same_policy(rb, want_in), pre + "getsockopt reads the listener's policy back",
           "%r errno %d" % (rb, err))
    if accepted:
        rb, err = getpol(accepted[-1], fam, DIR_IN)
        k.test(same_policy(rb, want_in), pre + "the accepted socket has the listener's policy",
               "%r errno %d" % (rb, err))
    else:
        k.test(False, pre + "the accepted socket has the listener's policy", "nothing accepted")
    rb, err = getpol(plain, fam, DIR_OUT)
    k.test(same_policy(rb, policy(DIR_OUT, ENTRUST)),
           pre + "a socket without a policy reads back entrust", "%r errno %d" % (rb, err))
    rb, err = getpol(srv, fam, DIR_IN, size=16)
    k.test(rb is None and err == errno.ENOBUFS, pre + "a buffer too short is ENOBUFS",
           "%r errno %d" % (rb, err))
    for s in (srv, plain):
        s.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
    for s in [srv, plain] + accepted:
        s.close()


def udp_part(k, p, fam):
    """a's SPD requires ESP with b's clear address, which has no SA."""
    pre = "v%d udp: " % fam
    a, c = p.addr(fam, "a"), p.addr(fam, "c")
    p.t.run("a", SETKEY, "-c", input="spdadd %s %s any -P out ipsec esp/transport//require;\n"
            "spdadd %s %s any -P in ipsec esp/transport//require;\n" % (a, c, c, a))
    peer = p.sock(p.b, fam, socket.SOCK_DGRAM, (c, 7000))
    peer.settimeout(WAIT)

    def exchange(s, port):
        """(a got b's datagram, b got a's reply)."""
        s.settimeout(WAIT)
        peer.sendto(b"hi", (a, port))
        try:
            got_a = s.recvfrom(100)[0] == b"hi"
        except socket.timeout:
            got_a = False
        try:
            s.sendto(b"back", (c, 7000))
            got_b = peer.recvfrom(100)[0] == b"back"
        except (socket.timeout, PermissionError):
            got_b = False
        return got_a, got_b

    byp = p.sock(p.a, fam, socket.SOCK_DGRAM, ("", 6001))
    setpol(byp, fam, policy(DIR_IN, BYPASS))
    setpol(byp, fam, policy(DIR_OUT, BYPASS))
    k.test(exchange(byp, 6001) == (True, True),
           pre + "bypass: clear datagrams both ways through a require SPD")
    ctl = p.sock(p.a, fam, socket.SOCK_DGRAM, ("", 6002))
    before = p.counters.read()
    got = exchange(ctl, 6002)
    d = Counters.delta(before, p.counters.read())
    k.test(got == (False, False) and d.get("in_polvio", 0) >= 1 and d.get("out_nosa", 0) >= 1,
           pre + "negative control: without a policy the SPD drops both ways",
           "got %r, counters %r" % (got, d))
    ent = p.sock(p.a, fam, socket.SOCK_DGRAM, ("", 6003))
    setpol(ent, fam, policy(DIR_IN, ENTRUST))
    setpol(ent, fam, policy(DIR_OUT, ENTRUST))
    k.test(exchange(ent, 6003) == (False, False), pre + "entrust: the SPD decides")

    dis = p.sock(p.a, fam, socket.SOCK_DGRAM, ("", 6004))
    setpol(dis, fam, policy(DIR_OUT, DISCARD))
    try:
        dis.sendto(b"x", (p.addr(fam, "b"), 7000))
        res = None
    except OSError as e:
        res = e.errno
    k.test(res == errno.EPERM, pre + "discard out: the send fails with EPERM", "got %r" % res)
    setpol(dis, fam, policy(DIR_IN, DISCARD))
    setpol(dis, fam, policy(DIR_OUT, BYPASS))
    k.test(exchange(dis, 6004) == (False, True),
           pre + "discard in: nothing is received (bypass out still sends)")

    req = p.sock(p.a, fam, socket.SOCK_DGRAM, ("", 6005))
    setpol(req, fam, policy(DIR_OUT, IPSEC, [request()]))
    before = p.counters.read()
    try:
        req.sendto(b"x", (c, 7000))
    except OSError:
        pass
    d = Counters.delta(before, p.counters.read())
    k.test(d.get("out_nosa", 0) == 1, pre + "ipsec out without an SA: dropped, out_nosa +1",
           "counters %r" % d)
    for s in (peer, byp, ctl, ent, dis, req):
        s.close()
    p.t.run("a", SETKEY, "-FP")


def bad_input(k, p):
    s = p.sock(p.a, 4, socket.SOCK_DGRAM)
    cases = [("shorter than sadb_x_policy", policy(DIR_IN, BYPASS)[:8]),
             ("direction fwd", policy(3, BYPASS)),
             ("type beyond bypass", policy(DIR_IN, 5)),
             ("a request for TCP", policy(DIR_OUT, IPSEC, [request(proto=6)])),
             ("a tunnel request without endpoints", policy(DIR_OUT, IPSEC, [request(mode=2)]))]
    for what, buf in cases:
        try:
            setpol(s, 4, buf)
            res = 0
        except OSError as e:
            res = e.errno
        k.test(res == errno.EINVAL, "bad buffer (%s) is EINVAL" % what, "got %r" % res)
    rb, err = getpol(s, 4, 3)
    k.test(rb is None and err == errno.EINVAL, "getsockopt for direction fwd is EINVAL",
           "%r errno %d" % (rb, err))
    # Unprivileged: the IP layer asks for CAP_NET_ADMIN before we see it.
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            setpol(s, 4, policy(DIR_OUT, BYPASS))
            os._exit(0)
        except PermissionError:
            os._exit(1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    k.test(os.WEXITSTATUS(status) == 1, "an unprivileged bypass is EPERM",
           "child exit %d" % os.WEXITSTATUS(status))
    s.close()


def main():
    k = Ktap(2 * (7 + 6) + 7)
    with Topology("pair") as t:
        p = Peers(t)
        mac_b = t.mac("b", "veth0")
        for fam in (4, 6):
            c = p.addr(fam, "c")
            t.run("b", "ip", "addr", "add", c + ("/24" if fam == 4 else "/64"), "dev", "veth0",
                  *(["nodad"] if fam == 6 else []))
            t.run("a", "ip", "neigh", "replace", c, "lladdr", mac_b, "dev", "veth0",
                  "nud", "permanent")
            cfg = Config(Scenario(esp=("aes-gcm-16", None), fam="v%d" % fam), t)
            cfg.install("b", "xfrm")
            cfg.install("a", "kame", policies=False)
        for fam in (4, 6):
            tcp_part(k, p, fam)
            udp_part(k, p, fam)
        bad_input(k, p)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
