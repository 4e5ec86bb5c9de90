#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""NAT traversal (RFC 3948): ESP in UDP through a NAT (KTAP; issue 6 item 2).

    [a] veth0 ------- veth1 [r] veth2 ------- veth0 [b]
        192.0.2.1      .254    198.51.100.254    198.51.100.2
        fd00:1::1      ::fe    fd00:2::fe        fd00:2::2
                       masquerade out of veth2 (nft, ip and ip6):
                       UDP from port 4500 or 14500 becomes P:14501

a is behind the NAT, b sees it as P (r's address facing b), port 14501.
Each end has a "daemon" socket on the NAT-T port (D: 4500, or 14500 for
the configured-port case) with UDP_ENCAP_ESPINUDP, opened by this script
as an IKE daemon would. The SAs carry the NAT-T extensions (setkey's
`esp-udp` with ports, XFRM's `encap espinudp`): at a A[D]->B[D] and
B[D]->A[D], at b P[14501]->B[D] and B[D]->P[14501]; AES-GCM-16. Policies
cover `any` protocol, with a `none` policy for the daemon's outgoing UDP
(prio high); XFRM ends also get an allow policy for its incoming UDP, as
the daemon's socket bypass policy would (XFRM checks the inbound policy
before UDP_ENCAP takes the ESP out); kame_ipsec ends need none.

  cases      kame/kame, kame/xfrm, xfrm/kame (a/b) in transport and
             tunnel mode over IPv4, transport over IPv6 (kame/kame and
             xfrm/kame), and kame/kame on port 14500: ping a->b; in
             transport mode TCP (256 KiB, SHA-256 at both ends: the SYN
             and data go a->b, the SYN-ACK and ACKs b->a, each needing
             the checksum fix-up behind the NAT) and UDP echoes; the wire
             (tcpdump out of a's and b's veth0): every packet between the
             test addresses is UDP D->D with SPI a->b from a, UDP
             D->14501 with SPI b->a from b, at least one each way; the
             kame ends' counters: esps_input and esps_output moved,
             esps_badencap and in_polvio did not
  keepalive  a's daemon socket sends one 0xff byte to b:4500 (kame/kame
             transport, b's `in` policy requires ESP for `any`): b's
             daemon socket receives nothing, b's UDP InDatagrams +1 (it
             arrived and XFRM's encap_rcv ate it), in_polvio +0 (ESP and
             keepalives for an encap socket are not judged as UDP)
  no SA      ESP in UDP from a's daemon socket to an SPI neither b's
             kame_ipsec nor its XFRM has: not delivered to b's daemon
             socket, esps_notdb +1 and XFRM's XfrmInNoStates +1 at b,
             nothing else
  negative   controls: IKE (zero Non-ESP Marker) to b:4500 is ordinary
             UDP: refused by the `require` policy (in_polvio +1, not
             received), then received once b has an `in none` policy for
             it; an ESP-looking datagram to a plain socket on b:4501
             refused (in_polvio +1): the exemption needs UDP_ENCAP; a bare
             ESP SA at a sending to b's NAT-T SA, and a NAT-T SA at a
             sending to b's bare SA: no echo, esps_badencap +1 (XFRM's
             encapsulation check)
  pfkey      setkey -D at b shows the NAT-T ports the SA was added with
             (the SADB_X_EXT_NAT_T_* extensions of the DUMP reply)
  cleanup    every namespace created is gone

The suite runs kame/kame transport IPv4 and IPv6, kame/xfrm transport,
xfrm/kame tunnel and the port 14500 case (about 3 minutes on a quiet
host); KAME_DP_FULL=1 runs every case, KAME_NATT_ONLY=a substring of case
names the matching ones.
"""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import algs, traffic, wire  # noqa: E402
from dp.inject import Counters, read_in  # noqa: E402
from dp.netns import in_ns  # noqa: E402
from dp.sa import SETKEY, hexkey, key  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402

UDP_ENCAP, UDP_ENCAP_ESPINUDP = 100, 2
MAPPED = 14501
SPI_AB, SPI_BA = 0xe5000a10, 0xe5000b10
GCM = algs.get("aes-gcm-16")
TCP_BYTES = 256 << 10

# (a's implementation, b's, mode, family, daemon port, with TCP/UDP)
CASES = [
    ("kame", "kame", "transport", 4, 4500, True),
    ("kame", "xfrm", "transport", 4, 4500, True),
    ("xfrm", "kame", "transport", 4, 4500, True),
    ("kame", "kame", "tunnel", 4, 4500, False),
    ("kame", "xfrm", "tunnel", 4, 4500, False),
    ("xfrm", "kame", "tunnel", 4, 4500, False),
    ("kame", "kame", "transport", 6, 4500, True),
    ("xfrm", "kame", "transport", 6, 4500, True),
    ("kame", "kame", "transport", 4, 14500, False),
]
# What the suite runs (KAME_DP_FULL=1: every case): each pairing and
# mode, both families, the other port.
SUITE = {0, 1, 5, 6, 8}
NAT_RULES = """table %(t)s natt {
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "veth2" udp sport { 4500, 14500 } masquerade to :%(p)d
    oifname "veth2" masquerade
  }
}
"""


def case_name(c):
    a, b, mode, fam, port, _ = c
    return "%s/%s %s v%d port %d" % (a, b, mode, fam, port)


class Nat:
    """The addresses of one family in the topology."""

    def __init__(self, topo, fam):
        self.fam = fam
        self.a, self.b, self.p = topo.addr("a", fam), topo.addr("b", fam), topo.addr("r", fam)

    def host(self, addr):
        return addr + ("/32" if self.fam == 4 else "/128")


def sas(n, port):
    """Each end's SAs: (src, sport, dst, dport, spi) as that end knows them."""
    return {"a": [(n.a, port, n.b, port, SPI_AB), (n.b, port, n.a, port, SPI_BA)],
            "b": [(n.p, MAPPED, n.b, port, SPI_AB), (n.b, port, n.p, MAPPED, SPI_BA)]}


def policies(n, node, mode):
    """(dir, src, dst, tunnel (src, dst) or None) of `node`."""
    if node == "a":
        out, peer_out = (n.a, n.b), (n.a, n.b)
    else:
        out = (n.b, n.a if mode == "tunnel" else n.p)
        peer_out = (n.b, n.p)
    tun = mode == "tunnel"
    return [("out", out[0], out[1], peer_out if tun else None),
            ("in", out[1], out[0], peer_out[::-1] if tun else None)]


def setkey_conf(n, node, mode, port, natt=(True, True), bypass=True):
    lines = []
    if bypass:
        # The daemon's own datagrams leave in the clear (IKE, keepalives).
        me = n.a if node == "a" else n.b
        peer, pport = (n.b, port) if node == "a" else (n.p, MAPPED)
        lines.append("spdadd %s[%d] %s[%d] udp -P out prio high none;" % (
            me, port, peer, pport))
    for i, (src, sport, dst, dport, spi) in enumerate(sas(n, port)[node]):
        udp = natt[i]
        lines.append("add %s%s %s%s %s 0x%08x -m %s -E aes-gcm-16 %s;" % (
            src, "[%d]" % sport if udp else "", dst, "[%d]" % dport if udp else "",
            "esp-udp" if udp else "esp", spi, mode, hexkey(key(spi, GCM.key))))
    for d, src, dst, tun in policies(n, node, mode):
        req = "esp/tunnel/%s-%s/require" % tun if tun else "esp/transport//require"
        lines.append("spdadd %s %s any -P %s ipsec %s;" % (n.host(src), n.host(dst), d, req))
    return "\n".join(lines) + "\n"


def xfrm_cmds(n, node, mode, port):
    cmds = []
    for src, sport, dst, dport, spi in sas(n, port)[node]:
        cmds.append("xfrm state add src %s dst %s proto esp spi 0x%08x mode %s aead '%s' %s %d "
                    "encap espinudp %d %d 0.0.0.0" % (src, dst, spi, mode, GCM.xfrm,
                                                     hexkey(key(spi, GCM.key)), GCM.icv,
                                                     sport, dport))
    me = n.a if node == "a" else n.b
    peer, pport = (n.b, port) if node == "a" else (n.p, MAPPED)
    # The daemon's datagrams both ways, as its socket's bypass policy
    # would: XFRM checks the inbound policy before UDP_ENCAP takes ESP out.
    cmds.append("xfrm policy add src %s dst %s proto udp sport %d dport %d dir out priority 10"
                % (n.host(me), n.host(peer), port, pport))
    cmds.append("xfrm policy add src %s dst %s proto udp sport %d dport %d dir in priority 10"
                % (n.host(peer), n.host(me), pport, port))
    for d, src, dst, tun in policies(n, node, mode):
        t = ("tmpl src %s dst %s proto esp mode tunnel" % tun if tun else
             "tmpl proto esp mode transport")
        cmds.append("xfrm policy add src %s dst %s dir %s priority 100 %s" % (
            n.host(src), n.host(dst), d, t))
        if d == "in" and tun:
            cmds.append("xfrm policy add src %s dst %s dir fwd priority 100 %s" % (
                n.host(src), n.host(dst), t))
    return "\n".join(cmds) + "\n"


def setkey(topo, node, conf):
    r = topo.run(node, SETKEY, "-c", input=conf, check=False)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        raise RuntimeError("setkey in %s: %s%s\n%s" % (node, r.stdout, r.stderr, conf))


def flush(topo):
    for node in ("a", "b"):
        setkey(topo, node, "flush;\nspdflush;\n")
        topo.run(node, "ip", "xfrm", "state", "flush")
        topo.run(node, "ip", "xfrm", "policy", "flush")


def daemon_socket(topo, node, fam, port):
    """A UDP socket on `port` with UDP_ENCAP_ESPINUDP, as an IKE daemon's."""
    def mk():
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
        s.bind(("0.0.0.0" if fam == 4 else "::", port))
        s.settimeout(1.5)
        return s
    return in_ns(topo.ns(node), mk)


def plain_socket(topo, node, addr, port):
    def mk():
        s = socket.socket(socket.AF_INET if ":" not in addr else socket.AF_INET6,
                          socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.settimeout(1.5)
        return s
    return in_ns(topo.ns(node), mk)


def received(s):
    try:
        return s.recvfrom(2048)[0]
    except socket.timeout:
        return None


def udp_in(topo, node):
    """Udp InDatagrams of `node` (IPv4)."""
    lines = [ln.split() for ln in read_in(topo.ns(node), "/proc/net/snmp").splitlines()
             if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("InDatagrams")])


def udp_packets(path):
    """(src, dst, proto, sport, dport, first 4 payload bytes) of each IP
    packet in a capture (of its first fragment; later ones are skipped)."""
    with open(path, "rb") as f:
        data = f.read()
    off, out = 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        b = frame[14:]
        if ethertype == 0x0800:
            src, dst = socket.inet_ntop(socket.AF_INET, b[12:16]), socket.inet_ntop(
                socket.AF_INET, b[16:20])
            later = struct.unpack_from("!H", b, 6)[0] & 0x1fff
            proto, b = b[9], b[(b[0] & 15) * 4:]
        elif ethertype == 0x86dd:
            src, dst = socket.inet_ntop(socket.AF_INET6, b[8:24]), socket.inet_ntop(
                socket.AF_INET6, b[24:40])
            proto, b, later = b[6], b[40:], 0
            if proto == 44:
                later = struct.unpack_from("!H", b, 2)[0] >> 3
                proto, b = b[0], b[8:]
        else:
            continue
        if later:
            continue  # A later fragment: the first one is looked at.
        if proto == 17 and len(b) >= 12:
            sport, dport = struct.unpack_from("!HH", b)
            out.append((src, dst, proto, sport, dport, struct.unpack_from("!I", b, 8)[0]))
        else:
            out.append((src, dst, proto, None, None, None))
    return out


def wire_ok(pkts, src, dst, sport, dport, spi):
    """Every packet src->dst is ESP in UDP sport->dport with `spi`; some are."""
    mine = [p for p in pkts if p[0] == src and p[1] == dst]
    bad = [p for p in mine if p[2:] != (17, sport, dport, spi)]
    return bool(mine) and not bad, "%d packets %s->%s, unexpected: %s" % (
        len(mine), src, dst, bad[:5])


def configure(topo, c):
    ia, ib, mode, fam, port, _ = c
    n = Nat(topo, fam)
    flush(topo)
    for node, impl in (("a", ia), ("b", ib)):
        if impl == "kame":
            setkey(topo, node, setkey_conf(n, node, mode, port))
        else:
            topo.run(node, "ip", "-batch", "-", input=xfrm_cmds(n, node, mode, port))
    return n


def run_case(k, topo, c):
    ia, ib, mode, fam, port, tcp = c
    name = case_name(c)
    n = configure(topo, c)
    socks = [daemon_socket(topo, node, fam, port) for node in ("a", "b")]
    ctr = {node: Counters(topo.ns(node)) for node in ("a", "b")}
    before = {node: ctr[node].read() for node in ctr}
    with wire.Capture(topo, ["a", "b"]) as cap:
        ping = traffic.ping_sweep(topo, "a", n.b, [56, 1200, 3000])
        if tcp:
            tcp_res, udp_res = traffic.tcp_and_udp(topo, "a", "b", n.b, TCP_BYTES)
    for s in socks:
        s.close()
    k.test(ping[0], "%s: ping a->b through the NAT" % name, ping[1])
    if tcp:
        k.test(tcp_res[0] and udp_res[0], "%s: TCP %d bytes a->b, UDP echoes" % (
            name, TCP_BYTES), tcp_res[1] + "\n" + udp_res[1])
    pkts = [p for path in cap.paths for p in udp_packets(path)]
    cap.remove()
    wa = wire_ok(pkts, n.a, n.b, port, port, SPI_AB)
    wb = wire_ok(pkts, n.b, n.p, port, MAPPED, SPI_BA)
    k.test(wa[0] and wb[0] and not cap.dropped(),
           "%s: wire: ESP in UDP %d->%d from a, %d->%d from b, nothing else" % (
               name, port, port, port, MAPPED), wa[1] + "\n" + wb[1])
    diag, ok = [], True
    for node, impl in (("a", ia), ("b", ib)):
        d = Counters.delta(before[node], ctr[node].read())
        if impl != "kame":
            diag.append("%s (XFRM): %s" % (node, d))
            continue
        good = (d.get("esps_input", 0) > 0 and d.get("esps_output", 0) > 0 and
                not d.get("esps_badencap") and not d.get("in_polvio"))
        ok = ok and good
        diag.append("%s: %s" % (node, d))
    k.test(ok, "%s: counters at the kame_ipsec ends" % name, "\n".join(diag))


def ping_once(topo, src, dst):
    return topo.run(src, "ping", "-n", "-c", "1", "-W", "2", dst, check=False).returncode == 0


def negatives(k, topo):
    """Keepalive, IKE, the exemption's limits, encapsulation mismatches,
    the PF_KEY view (kame/kame, transport, IPv4, port 4500)."""
    c = ("kame", "kame", "transport", 4, 4500, False)
    n = configure(topo, c)
    sa_, sb = daemon_socket(topo, "a", 4, 4500), daemon_socket(topo, "b", 4, 4500)
    cb = Counters(topo.ns("b"))
    warm = ping_once(topo, "a", n.b)  # the NAT's mapping exists
    # Keepalive: eaten by XFRM's encap_rcv on b's socket.
    before, udp0 = cb.read(), udp_in(topo, "b")
    sa_.sendto(b"\xff", (n.b, 4500))
    got = received(sb)
    d = Counters.delta(before, cb.read())
    udp1 = udp_in(topo, "b")
    k.test(warm and got is None and udp1 == udp0 + 1 and not d.get("in_polvio"),
           "keepalive: reaches b (InDatagrams +1), not delivered to the daemon socket, "
           "not a policy violation", "ping %s, got %r, InDatagrams %d -> %d, %s" % (
               warm, got, udp0, udp1, d))
    # ESP in UDP to an SPI nobody has: handed on to XFRM, which drops it.
    before = cb.read()
    sa_.sendto(struct.pack("!II", 0xdead0003, 1) + bytes(32), (n.b, 4500))
    got = received(sb)
    d = Counters.delta(before, cb.read())
    k.test(got is None and d == {"esps_notdb": 1, "XfrmInNoStates": 1},
           "negative: ESP in UDP to an SPI nobody has: esps_notdb +1, XfrmInNoStates +1, "
           "nothing else", "got %r, %s" % (got, d))
    # IKE is ordinary UDP to the socket: refused by `require`, then let in.
    before = cb.read()
    sa_.sendto(b"\0\0\0\0IKE-1", (n.b, 4500))
    got = received(sb)
    d = Counters.delta(before, cb.read())
    k.test(got is None and d.get("in_polvio") == 1,
           "negative: IKE to the encap socket under a require policy refused (in_polvio +1)",
           "got %r, %s" % (got, d))
    setkey(topo, "b", "spdadd %s[%d] %s[4500] udp -P in prio high none;\n" % (
        n.p, MAPPED, n.b))
    sa_.sendto(b"\0\0\0\0IKE-2", (n.b, 4500))
    got = received(sb)
    k.test(got == b"\0\0\0\0IKE-2", "IKE delivered to the daemon socket with an in none policy",
           "got %r" % got)
    # An ESP-looking datagram to a socket without UDP_ENCAP is just UDP.
    setkey(topo, "a", "spdadd %s %s[4501] udp -P out prio high none;\n" % (
        n.host(n.a), n.b))
    plain = plain_socket(topo, "b", n.b, 4501)
    before = cb.read()
    sa_.sendto(struct.pack("!II", SPI_AB, 99) + bytes(12), (n.b, 4501))
    got = received(plain)
    d = Counters.delta(before, cb.read())
    plain.close()
    k.test(got is None and d.get("in_polvio") == 1,
           "negative: ESP-looking UDP to a plain socket refused (in_polvio +1)",
           "got %r, %s" % (got, d))
    # PF_KEY: the DUMP reply carries the NAT-T ports.
    dump = topo.run("b", SETKEY, "-D").stdout
    want = "%s[%d] %s[4500]" % (n.p, MAPPED, n.b)
    k.test(want in dump and "esp-udp" in dump, "pfkey: setkey -D at b shows %s, esp-udp" % want,
           dump)
    # Bare ESP from a to b's NAT-T SA, then NAT-T from a to b's bare SA.
    for natt_a, natt_b, what in (((False, True), (True, True), "bare ESP to a NAT-T SA"),
                                 ((True, True), (False, True), "ESP in UDP to a bare SA")):
        flush(topo)
        setkey(topo, "a", setkey_conf(n, "a", "transport", 4500, natt=natt_a))
        setkey(topo, "b", setkey_conf(n, "b", "transport", 4500, natt=natt_b))
        before = cb.read()
        ok = ping_once(topo, "a", n.b)
        time.sleep(0.5)
        d = Counters.delta(before, cb.read())
        k.test(not ok and d.get("esps_badencap", 0) >= 1 and not d.get("in_success"),
               "negative: %s dropped (esps_badencap)" % what, "ping %s, %s" % (ok, d))
    sa_.close()
    sb.close()


NEGATIVES = 8


def main():
    only = os.environ.get("KAME_NATT_ONLY", "")
    full = os.environ.get("KAME_DP_FULL") == "1" or only
    cases = [c for i, c in enumerate(CASES)
             if only in case_name(c) and (full or i in SUITE)]
    k = Ktap(sum(4 if c[5] else 3 for c in cases) + NEGATIVES + 1)
    with Topology("routed", prefix="natt-%d-" % os.getpid()) as topo:
        for fam, table in ((4, "ip"), (6, "ip6")):
            topo.run("r", "nft", "-f", "-", input=NAT_RULES % {"t": table, "p": MAPPED})
        for c in cases:
            try:
                run_case(k, topo, c)
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                for _ in range(4 if c[5] else 3):
                    k.test(False, "%s: set up" % case_name(c), str(e))
        try:
            negatives(k, topo)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            k.test(False, "negative controls: set up", str(e))
    left = leftover("natt-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
