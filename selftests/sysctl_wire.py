#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Every net.inet.ipsec / net.inet6.ipsec6 / net.inet.{esp,ah} sysctl acts on
the wire or on delivery (KTAP). Each knob is set to one value and the
other, and what goes out (captured on the peer's side of the link) or what
is delivered (read by a UDP socket, with its TOS) is compared with what the
manual page and Documentation/sysctl.rst say, so no check can pass whatever
the knob does.

Topology (one veth link; kame_ipsec acts in a, Linux XFRM is the peer in b)::

    netns a (kame_ipsec, setkey)                 netns b (ip xfrm)
    d0: 10.1.0.1, fd01::1                        d0: 10.2.0.1, fd02::1
    va: 192.0.2.1, 2001:db8::1  <---- veth ----> vb: 192.0.2.2, 2001:db8::2
                                                 capture: AF_PACKET on vb

Neighbour entries are static (IPv6 ND would otherwise need bypass policies
under def_policy 0) and router solicitations are off (one sent during a
def_policy 0 check would count as a violation). Packets are UDP datagrams sent from python sockets
opened inside a namespace (setns), each carrying a unique marker, so a
cleartext copy on the wire is recognised by its payload.

    Name            Description
    deflev          {esp,ah}_{trans,net}_deflev, IPv4 and IPv6: a `default`
                    request without an SA sends in the clear (1) or drops (2),
                    and accepts (1) or refuses (2) cleartext inbound; with an
                    SA both values protect
    def_policy      no policy matches: 0 drops both ways, 1 passes; the IPv4
                    and IPv6 settings are independent
    dfbit           outer IPv4 DF of tunnel mode: 0 clear, 1 set, 2 copied
                    from the inner IPv4 header (set for inner IPv6)
    ecn encap       outer ECN from the inner TOS: 0 Not-ECT, 1 and -1 copied
    ecn decap       an XFRM tunnel packet re-sent with outer CE: 1 marks the
                    inner ECT packet CE and drops an inner Not-ECT one; 0 and
                    -1 deliver the inner TOS unchanged
    ah_cleartos     1 interoperates with XFRM AH for any TOS; 0 breaks it
                    (both ways) only when the TOS is nonzero
    ah_offsetmask   0 interoperates with DF set; 0xffff breaks it (both ways)
                    only when DF is set
    enable          net.inet.esp.enable / net.inet.ah.enable 0: our ESP (AH)
                    dropped both ways and counted, the other protocol still
                    works; 1 restores
    debug           1 logs a policy failure (rate-limited); 0 does not
"""
import os
import re
import select
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dp.netns import in_ns  # noqa: E402
from ktap import TOP, Ktap, run_in_netns  # noqa: E402

SETKEY = os.path.join(TOP, "rust", "tools", "target", "release", "setkey")
STATS = "/proc/net/kame_ipsec"

A4, B4, A6, B6 = "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"
IA4, IB4, IA6, IB6 = "10.1.0.1", "10.2.0.1", "fd01::1", "fd02::1"
PORT = 4517  # the datagrams' destination port: not a well-known one

KGCM = "0x0102030405060708090a0b0c0d0e0f1011121314"
KSHA1 = "0x000102030405060708090a0b0c0d0e0f10111213"
ESP_K = "-E aes-gcm-16 " + KGCM
ESP_X = "aead rfc4106(gcm(aes)) %s 128" % KGCM
AH_K = "-A hmac-sha1 " + KSHA1
AH_X = "auth-trunc hmac(sha1) %s 96" % KSHA1

# How long a packet may take to cross (crypto under TCG, async crypto);
# also how long a check waits before it calls a packet dropped. The debug
# kernel (KASAN, lockdep) is several times slower.
SETTLE = 2.0 if os.environ.get("KERNEL") == "debug" else 0.6
# How long to go on listening once what was expected has arrived.
GRACE = 0.15

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO = 10, 0, 2
IPV6_MTU_DISCOVER = 23
IP_RECVTOS = 13
IPV6_RECVTCLASS, IPV6_TCLASS = 66, 67


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError("%s: %s%s" % (cmd, r.stdout, r.stderr))
    return r.stdout


def nsx(n, cmd, check=True):
    return sh("ip netns exec %s %s" % (n, cmd), check)


def sysctl(n, name, value):
    """Writes a sysctl of netns n (/proc/sys/net follows the opener's netns)."""
    def w():
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write("%d\n" % value)
    in_ns(n, w)


def topology():
    for n in "ab":
        sh("ip netns del %s" % n, check=False)
        sh("ip netns add %s" % n)
        sh("ip -n %s link set lo up" % n)
    sh("ip link add va netns a type veth peer name vb netns b")
    for n, v, a4, a6, i4, i6 in (("a", "va", A4, A6, IA4, IA6), ("b", "vb", B4, B6, IB4, IB6)):
        sh("ip -n %s addr add %s/24 dev %s" % (n, a4, v))
        sh("ip -n %s -6 addr add %s/64 dev %s nodad" % (n, a6, v))
        sh("ip -n %s link add d0 type dummy" % n)
        for dev in (v, "d0"):
            # Linux repeats router solicitations for ever (RFC 7559 backoff):
            # under def_policy 0 each one would count as a policy violation
            # in the middle of a check.
            sysctl(n, "net.ipv6.conf.%s.router_solicitations" % dev, 0)
            sh("ip -n %s link set %s up" % (n, dev))
        sh("ip -n %s addr add %s/32 dev d0" % (n, i4))
        sh("ip -n %s -6 addr add %s/128 dev d0 nodad" % (n, i6))
    for n, v, g4, g6, p4, p6 in (("a", "va", B4, B6, IB4, IB6), ("b", "vb", A4, A6, IA4, IA6)):
        sh("ip -n %s route add %s/32 via %s dev %s" % (n, p4, g4, v))
        sh("ip -n %s -6 route add %s/128 via %s dev %s" % (n, p6, g6, v))
    mac = {n: re.search(r"ether (\S+)", sh("ip -n %s link show %s" % (n, v))).group(1)
           for n, v in (("a", "va"), ("b", "vb"))}
    for n, v, o, p4, p6 in (("a", "va", "b", B4, B6), ("b", "vb", "a", A4, A6)):
        for p in (p4, p6):
            sh("ip -n %s neigh replace %s lladdr %s dev %s nud permanent" % (n, p, mac[o], v))


def reset():
    """No SA, no policy, every sysctl of a at its default."""
    PENDING["k"].append("flush ;\nspdflush ;\n")
    PENDING["x"] += ["state flush", "policy flush"]
    for k, v in DEFAULTS:
        sysctl("a", k, v)


DEFAULTS = [("net.inet.ipsec." + k, v) for k, v in
            (("esp_trans_deflev", 1), ("esp_net_deflev", 1), ("ah_trans_deflev", 1),
             ("ah_net_deflev", 1), ("def_policy", 1), ("ah_cleartos", 1),
             ("ah_offsetmask", 0), ("dfbit", 0), ("ecn", 0), ("debug", 0),
             ("icmp_accept_clear", 0), ("async_crypto", 1))] + \
           [("net.inet6.ipsec6." + k, v) for k, v in
            (("esp_trans_deflev", 1), ("esp_net_deflev", 1), ("ah_trans_deflev", 1),
             ("ah_net_deflev", 1), ("def_policy", 1), ("ecn", 0), ("debug", 0),
             ("icmp_accept_clear", 0))] + \
           [("net.inet.esp.enable", 1), ("net.inet.ah.enable", 1)]


# SAD/SPD changes not yet made: setkey input for a and `ip xfrm` commands
# for b, applied in one go before the next packet is sent (each process
# started costs a good fraction of a second under TCG).
PENDING = {"k": [], "x": []}


def apply():
    if PENDING["k"]:
        setkey("".join(PENDING["k"]))
    if PENDING["x"]:
        xfrm(*PENDING["x"])
    PENDING["k"], PENDING["x"] = [], []


def setkey(conf):
    r = subprocess.run(["ip", "netns", "exec", "a", SETKEY, "-c"], input=conf,
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("setkey: %s%s\n%s" % (r.stdout, r.stderr, conf))


def xfrm(*cmds):
    r = subprocess.run(["ip", "-n", "b", "-batch", "-"], capture_output=True, text=True,
                       input="".join("xfrm %s\n" % c for c in cmds))
    if r.returncode:
        raise RuntimeError("ip xfrm: %s%s\n%s" % (r.stdout, r.stderr, cmds))


def v6(addr):
    return ":" in addr


class Cap:
    """What b's veth sees: frames from a (incoming) or from b (outgoing)."""

    def __init__(self):
        def mk():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind(("vb", 0))
            return s
        self.s = in_ns("b", mk)
        self.s.setblocking(False)

    def drain(self):
        while True:
            try:
                self.s.recv(65535)
            except BlockingIOError:
                return

    def collect(self, wait=SETTLE, enough=None):
        """Frames until `wait` has passed, or shortly after `enough(frames)`
        holds (a little longer, so a second copy would be seen too)."""
        out = []
        end = time.monotonic() + wait
        while True:
            if enough is not None and enough(out):
                end = min(end, time.monotonic() + GRACE)
                enough = None
            left = end - time.monotonic()
            if left <= 0:
                return out
            if not select.select([self.s], [], [], left)[0]:
                continue
            data, addr = self.s.recvfrom(65535)
            out.append((addr[2] == PACKET_OUTGOING, data))

    def send(self, frame):
        self.s.send(frame)


def parse(frame):
    """(family, tos, df, proto, payload-offset) of an Ethernet frame, or None."""
    et = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if et == 0x0800 and len(ip) >= 20:
        hl = (ip[0] & 15) * 4
        return {"v6": False, "tos": ip[1], "df": bool(ip[6] & 0x40), "proto": ip[9],
                "off": 14 + hl, "src": socket.inet_ntop(socket.AF_INET, ip[12:16]),
                "dst": socket.inet_ntop(socket.AF_INET, ip[16:20])}
    if et == 0x86DD and len(ip) >= 40:
        return {"v6": True, "tos": ((ip[0] & 15) << 4) | (ip[1] >> 4), "df": None,
                "proto": ip[6], "off": 54,
                "src": socket.inet_ntop(socket.AF_INET6, ip[8:24]),
                "dst": socket.inet_ntop(socket.AF_INET6, ip[24:40])}
    return None


class Wire:
    """A summary of frames: cleartext copies of a marker, ESP/AH by SPI."""

    def __init__(self, frames, marker, outgoing=False):
        self.frames = [f for o, f in frames if o == outgoing]
        self.clear = []
        self.ipsec = []
        for f in self.frames:
            p = parse(f)
            if p is None:
                continue
            if p["proto"] in (50, 51):
                spi_at = p["off"] + (4 if p["proto"] == 51 else 0)
                p["spi"] = struct.unpack("!I", f[spi_at:spi_at + 4])[0]
                p["frame"] = f
                self.ipsec.append(p)
            elif marker in f:
                self.clear.append(p)

    def __repr__(self):
        return "clear=%s ipsec=%s" % (
            [(c["src"], c["dst"], hex(c["tos"])) for c in self.clear],
            [(c["proto"], hex(c["spi"]), c["src"], c["dst"], hex(c["tos"]), c["df"])
             for c in self.ipsec])


_seq = [0]


def marker():
    _seq[0] += 1
    return b"sysctl-wire-%06d-" % _seq[0] + os.urandom(4).hex().encode()


_senders = {}


def sender(n, src):
    """A UDP socket of netns n bound to src, kept for the whole run."""
    if (n, src) not in _senders:
        fam = socket.AF_INET6 if v6(src) else socket.AF_INET

        def mk():
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.bind((src, 0))
            return s
        _senders[n, src] = in_ns(n, mk)
    return _senders[n, src]


def udp_send(n, src, dst, payload, tos=None, df=None):
    """Sends one datagram from netns n with this TOS (default 0) and DF
    (default clear); 0 or the errno sendto gave."""
    apply()
    s = sender(n, src)
    mode = IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT
    if v6(dst):
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, tos or 0)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, mode)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos or 0)
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, mode)
    try:
        s.sendto(payload, (dst, PORT))
        return 0
    except OSError as e:
        return e.errno


class Rx:
    """A UDP socket in netns n on addr:PORT that reports the TOS it got."""

    def __init__(self, n, addr):
        self.v6 = v6(addr)
        fam = socket.AF_INET6 if self.v6 else socket.AF_INET

        def mk():
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.bind((addr, PORT))
            if self.v6:
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
            return s
        self.s = in_ns(n, mk)
        self.s.setblocking(False)

    def got(self, m, wait=SETTLE):
        """The TOS the datagram carrying m was delivered with, or None."""
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            if not select.select([self.s], [], [], left)[0]:
                continue
            data, anc, _, _ = self.s.recvmsg(65535, 64)
            if data != m:
                continue
            for lvl, typ, val in anc:
                if typ in (socket.IP_TOS, IPV6_TCLASS):
                    return val[0] if len(val) == 1 else struct.unpack("i", val[:4])[0]
            return -1

    def close(self):
        self.s.close()


def counter(name):
    """A kame_ipsec counter of netns a, or None without the statistics files."""
    path = os.path.join(STATS, "ahstat" if name.startswith("ahs_") else
                        "espstat" if name.startswith("esps_") else "ipsecstat")
    out = read_in("a", path) or ""
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == name:
            return int(f[1])
    return None


def read_in(n, path):
    """The text of a file opened in netns n (/proc/net is the opener's), or None."""
    def r():
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None
    return in_ns(n, r)


def xfrm_stat(name):
    out = read_in("b", "/proc/net/xfrm_stat") or ""
    m = re.search(r"^%s\s+(\d+)" % name, out, re.M)
    return int(m.group(1)) if m else None


def sa_add(proto, mode, src, dst, spi, peer_xfrm=True):
    """One SA src->dst in a (setkey) and, if asked, in b (ip xfrm)."""
    kalg, xalg = (ESP_K, ESP_X) if proto == "esp" else (AH_K, AH_X)
    PENDING["k"].append("add %s %s %s 0x%x -m %s %s ;\n" % (src, dst, proto, spi, mode, kalg))
    if peer_xfrm:
        fl = " flag af-unspec" if mode == "tunnel" else ""
        PENDING["x"].append("state add src %s dst %s proto %s spi 0x%x mode %s %s%s"
             % (src, dst, proto, spi, mode, xalg, fl))


def both_ways(proto, x, y, spi):
    """Transport-mode proto between a's x and b's y, both ways, `require`d
    by a and by b's outbound XFRM policy: SPI spi from a, spi + 1 from b."""
    sa_add(proto, "transport", x, y, spi)
    sa_add(proto, "transport", y, x, spi + 1)
    spd(x, y, "out", proto, "transport", x, y, "require")
    spd(y, x, "in", proto, "transport", y, x, "require")
    xfrm_out(y, x, proto, "transport", y, x)


def tunnel_of(mode, src, dst):
    return "%s-%s" % (src, dst) if mode == "tunnel" else ""


def spd(src, dst, d, proto, mode, osrc, odst, level):
    PENDING["k"].append("spdadd %s %s any -P %s ipsec %s/%s/%s/%s ;\n"
                        % (src, dst, d, proto, mode, tunnel_of(mode, osrc, odst), level))


def xfrm_out(src, dst, proto, mode, osrc, odst):
    """b's outbound policy src->dst through proto/mode (osrc->odst outer)."""
    PENDING["x"].append("policy add src %s dst %s dir out tmpl src %s dst %s proto %s mode %s"
         % (src, dst, osrc, odst, proto, mode))


def send_out(cap, src, dst, **kw):
    """a sends src->dst; what b's link received from a."""
    m = marker()
    cap.drain()
    err = udp_send("a", src, dst, m, **kw)
    w = Wire(cap.collect(enough=lambda fs: Wire(fs, m).clear or Wire(fs, m).ipsec), m)
    w.err = err
    return w


def fam_of(fam):
    if fam == 4:
        return "net.inet.ipsec", A4, B4, IA4, IB4
    return "net.inet6.ipsec6", A6, B6, IA6, IB6


def info(lines):
    """What a check saw, printed even when it passes (evidence in the log)."""
    for line in lines:
        print("# " + line)


def check_deflev(t, cap):
    spi = 0x1000
    for fam in (4, 6):
        tree, oa, ob, ia, ib = fam_of(fam)
        for proto in ("esp", "ah"):
            for mode in ("transport", "tunnel"):
                spi += 0x10
                knob = "%s.%s_%s_deflev" % (tree, proto, "trans" if mode == "transport" else "net")
                sa, sb = (oa, ob) if mode == "transport" else (ia, ib)
                pnum = 50 if proto == "esp" else 51
                reset()
                spd(sa, sb, "out", proto, mode, oa, ob, "default")
                spd(sb, sa, "in", proto, mode, ob, oa, "default")
                rx = Rx("a", sa)
                try:
                    for lev in (1, 2):
                        sysctl("a", knob, lev)
                        c0 = counter("out_nosa")
                        w = send_out(cap, sa, sb)
                        c1 = counter("out_nosa")
                        if lev == 1:
                            ok = len(w.clear) == 1 and not w.ipsec and c1 == c0
                            what = "sent in the clear"
                        else:
                            ok = not w.clear and not w.ipsec and c1 == c0 + 1
                            what = "dropped (nothing on the wire), out_nosa counts it"
                        t.test(ok, "%s=%d, %s/%s default, no SA: outbound %s"
                               % (knob, lev, proto, mode, what),
                               "%r; out_nosa %s -> %s" % (w, c0, c1))
                        m = marker()
                        c0 = counter("in_polvio")
                        udp_send("b", sb, sa, m)
                        got = rx.got(m)
                        c1 = counter("in_polvio")
                        t.test((got is not None) == (lev == 1) and c1 == c0 + (lev - 1),
                               "%s=%d, %s/%s default: inbound cleartext %s"
                               % (knob, lev, proto, mode, "delivered" if lev == 1
                                  else "refused, in_polvio counts it"),
                               "delivered: %s; in_polvio %s -> %s" % (got, c0, c1))
                    # With SAs, both levels protect. b protects its side with
                    # XFRM but has no SA for ours: in tunnel mode XFRM would
                    # re-inject the inner packet on vb, where it would be
                    # captured as if it came from a in the clear.
                    sa_add(proto, mode, oa, ob, spi, peer_xfrm=False)
                    sa_add(proto, mode, ob, oa, spi + 1)
                    xfrm_out(sb, sa, proto, mode, ob, oa)
                    for lev in (1, 2):
                        sysctl("a", knob, lev)
                        w = send_out(cap, sa, sb)
                        ok = (not w.clear and len(w.ipsec) == 1 and w.ipsec[0]["spi"] == spi
                              and w.ipsec[0]["proto"] == pnum)
                        t.test(ok, "%s=%d, %s/%s default, SA present: outbound protected"
                               % (knob, lev, proto, mode), w)
                        m = marker()
                        udp_send("b", sb, sa, m)
                        got = rx.got(m)
                        t.test(got is not None,
                               "%s=%d, %s/%s default, SA present: inbound protected delivered"
                               % (knob, lev, proto, mode))
                finally:
                    rx.close()


def check_def_policy(t, cap):
    reset()
    rx = {4: Rx("a", A4), 6: Rx("a", A6)}
    try:
        for v4, v6_ in ((0, 1), (1, 0), (1, 1)):
            sysctl("a", "net.inet.ipsec.def_policy", v4)
            sysctl("a", "net.inet6.ipsec6.def_policy", v6_)
            for fam, val in ((4, v4), (6, v6_)):
                tree, oa, ob, _, _ = fam_of(fam)
                c0 = counter("out_polvio")
                w = send_out(cap, oa, ob)
                c1 = counter("out_polvio")
                want = 1 if val else 0
                t.test(len(w.clear) == want and not w.ipsec and c1 == c0 + 1 - want,
                       "%s.def_policy=%d (other tree %d), no policy: outbound %s"
                       % (tree, val, v6_ if fam == 4 else v4,
                          "passes" if val else "dropped, out_polvio counts it"),
                       "%r; out_polvio %s -> %s" % (w, c0, c1))
                m = marker()
                c0 = counter("in_polvio")
                udp_send("b", ob, oa, m)
                got = rx[fam].got(m)
                c1 = counter("in_polvio")
                t.test((got is not None) == bool(val) and c1 == c0 + 1 - want,
                       "%s.def_policy=%d, no policy: inbound %s"
                       % (tree, val, "delivered" if val else "dropped, in_polvio counts it"),
                       "delivered: %s; in_polvio %s -> %s" % (got, c0, c1))
    finally:
        for r in rx.values():
            r.close()


def check_dfbit(t, cap):
    reset()
    sa_add("esp", "tunnel", A4, B4, 0x2101, peer_xfrm=False)
    spd(IA4, IB4, "out", "esp", "tunnel", A4, B4, "require")
    spd(IA6, IB6, "out", "esp", "tunnel", A4, B4, "require")
    for val in (0, 1, 2):
        sysctl("a", "net.inet.ipsec.dfbit", val)
        for inner_df in (False, True):
            w = send_out(cap, IA4, IB4, df=inner_df)
            want = {0: False, 1: True, 2: inner_df}[val]
            ok = not w.clear and len(w.ipsec) == 1 and w.ipsec[0]["df"] is want
            t.test(ok, "net.inet.ipsec.dfbit=%d, inner IPv4 DF %d: outer DF %d"
                   % (val, inner_df, want), w)
        w = send_out(cap, IA6, IB6)
        want = val != 0
        ok = not w.clear and len(w.ipsec) == 1 and w.ipsec[0]["df"] is want
        t.test(ok, "net.inet.ipsec.dfbit=%d, inner IPv6: outer DF %d" % (val, want), w)


DSCP = 0xb8


def check_ecn_encap(t, cap):
    reset()
    sa_add("esp", "tunnel", A4, B4, 0x2201, peer_xfrm=False)
    sa_add("esp", "tunnel", A6, B6, 0x2211, peer_xfrm=False)
    spd(IA4, IB4, "out", "esp", "tunnel", A4, B4, "require")
    spd(IA6, IB6, "out", "esp", "tunnel", A6, B6, "require")
    for e4, e6 in ((0, 1), (1, 0), (-1, -1)):
        sysctl("a", "net.inet.ipsec.ecn", e4)
        sysctl("a", "net.inet6.ipsec6.ecn", e6)
        for fam, val in ((4, e4), (6, e6)):
            tree, _, _, ia, ib = fam_of(fam)
            seen, bad = [], False
            for ecn in range(4):
                tos = DSCP | ecn
                w = send_out(cap, ia, ib, tos=tos)
                want = tos & 0xfc if val == 0 else tos
                got = w.ipsec[0]["tos"] if len(w.ipsec) == 1 else None
                seen.append("inner 0x%02x -> outer %s (want 0x%02x)"
                            % (tos, "none" if got is None else "0x%02x" % got, want))
                bad |= got != want or bool(w.clear)
            info(seen)
            t.test(not bad, "%s.ecn=%d: outer ECN on encapsulation %s"
                   % (tree, val, "Not-ECT" if val == 0 else "copied"), "\n".join(seen))


NFT_HOLD = """table inet sysctl_wire {
  chain pre {
    type filter hook prerouting priority -300;
    ip protocol esp ip ecn != ce drop
    ip6 nexthdr esp ip6 ecn != ce drop
  }
}
"""


def with_outer_ce(frame):
    f = bytearray(frame)
    if struct.unpack("!H", f[12:14])[0] == 0x0800:
        f[15] = (f[15] & 0xfc) | 3
        hl = (f[14] & 15) * 4
        f[24:26] = b"\0\0"
        s = sum(struct.unpack("!%dH" % (hl // 2), bytes(f[14:14 + hl])))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        f[24:26] = struct.pack("!H", ~s & 0xffff)
    else:
        tc = ((f[14] & 15) << 4) | (f[15] >> 4)
        tc = (tc & 0xfc) | 3
        f[14] = 0x60 | (tc >> 4)
        f[15] = ((tc & 15) << 4) | (f[15] & 15)
    return bytes(f)


def check_ecn_decap(t, cap):
    reset()
    sa_add("esp", "tunnel", B4, A4, 0x2301)
    sa_add("esp", "tunnel", B6, A6, 0x2311)
    spd(IB4, IA4, "in", "esp", "tunnel", B4, A4, "require")
    spd(IB6, IA6, "in", "esp", "tunnel", B6, A6, "require")
    xfrm_out(IB4, IA4, "esp", "tunnel", B4, A4)
    xfrm_out(IB6, IA6, "esp", "tunnel", B6, A6)
    # XFRM's own packets (never CE outside) are held back in a, so only
    # the copy re-sent with an outer CE arrives: no replay.
    apply()
    subprocess.run(["ip", "netns", "exec", "a", "nft", "-f", "-"], input=NFT_HOLD,
                   text=True, check=True)
    rx = {4: Rx("a", IA4), 6: Rx("a", IA6)}
    try:
        for val in (1, 0, -1):
            sysctl("a", "net.inet.ipsec.ecn", val)
            sysctl("a", "net.inet6.ipsec6.ecn", val)
            for fam in (4, 6):
                tree, _, _, ia, ib = fam_of(fam)
                seen, bad = [], False
                for name, ecn in (("Not-ECT", 0), ("ECT(0)", 2), ("ECT(1)", 1)):
                    tos = 0x20 | ecn
                    m = marker()
                    cap.drain()
                    udp_send("b", ib, ia, m, tos=tos)
                    w = Wire(cap.collect(enough=lambda fs: Wire(fs, m, True).ipsec), m,
                             outgoing=True)
                    held = rx[fam].got(m, 0.2)
                    if len(w.ipsec) != 1 or held is not None:
                        bad = True
                        seen.append("%s: XFRM sent %r, original delivered %s" % (name, w, held))
                        continue
                    cap.send(with_outer_ce(w.ipsec[0]["frame"]))
                    got = rx[fam].got(m)
                    if val == 1:
                        want = None if ecn == 0 else 0x20 | 3
                    else:
                        want = tos
                    seen.append("inner %s under outer CE: delivered %s (want %s)"
                                % (name, got if got is None else "0x%02x" % got,
                                   want if want is None else "0x%02x" % want))
                    bad |= got != want
                info(seen)
                t.test(not bad, "%s.ecn=%d: decapsulation under outer CE %s"
                       % (tree, val, "per RFC 6040 (CE marked, Not-ECT dropped)" if val == 1
                          else "leaves the inner TOS"), "\n".join(seen))
    finally:
        for r in rx.values():
            r.close()
        nsx("a", "nft delete table inet sysctl_wire", check=False)


def check_ah(t, cap):
    reset()
    both_ways("ah", A4, B4, 0x2401)
    rxa, rxb = Rx("a", A4), Rx("b", B4)
    try:
        cases = [("ah_cleartos", 1, 0x10, None), ("ah_cleartos", 0, 0, None),
                 ("ah_cleartos", 0, 0x10, None), ("ah_offsetmask", 0xffff, None, False),
                 ("ah_offsetmask", 0xffff, None, True), ("ah_offsetmask", 0, None, True)]
        for knob, val, tos, df in cases:
            sysctl("a", "net.inet.ipsec.ah_cleartos", val if knob == "ah_cleartos" else 1)
            sysctl("a", "net.inet.ipsec.ah_offsetmask", val if knob == "ah_offsetmask" else 0)
            if knob == "ah_cleartos":
                breaks = val == 0 and tos != 0
                how = "TOS 0x%02x" % tos
            else:
                breaks = val != 0 and df
                how = "DF %d" % df
            failed0 = xfrm_stat("XfrmInStateProtoError")
            m = marker()
            udp_send("a", A4, B4, m, tos=tos, df=df)
            got = rxb.got(m)
            failed1 = xfrm_stat("XfrmInStateProtoError")
            ok = (got is None) == breaks and (failed1 == failed0 + 1) == breaks
            info(["delivered to b with TOS %s, XfrmInStateProtoError %s -> %s"
                  % (got, failed0, failed1)])
            t.test(ok, "net.inet.ipsec.%s=%#x, %s: XFRM %s our AH"
                   % (knob, val, how, "rejects" if breaks else "accepts"),
                   "delivered %s, XfrmInStateProtoError %s -> %s" % (got, failed0, failed1))
            m = marker()
            udp_send("b", B4, A4, m, tos=tos, df=df)
            got = rxa.got(m)
            t.test((got is None) == breaks, "net.inet.ipsec.%s=%#x, %s: we %s XFRM's AH"
                   % (knob, val, how, "reject" if breaks else "accept"),
                   "delivered %s" % got)
    finally:
        rxa.close()
        rxb.close()


def check_enable(t, cap):
    reset()
    flows = [("esp", A4, B4, 0x2501), ("esp", A6, B6, 0x2511),
             ("ah", IA4, IB4, 0x2521), ("ah", IA6, IB6, 0x2531)]
    rxa, rxb = {}, {}
    for proto, sa, sb, spi in flows:
        both_ways(proto, sa, sb, spi)
        rxa[sa], rxb[sb] = Rx("a", sa), Rx("b", sb)
    try:
        for esp_on, ah_on in ((1, 1), (0, 1), (1, 0), (1, 1)):
            sysctl("a", "net.inet.esp.enable", esp_on)
            sysctl("a", "net.inet.ah.enable", ah_on)
            before = {p: counter(p + "s_pdrops") for p in ("esp", "ah")}
            for proto, sa, sb, spi in flows:
                on = esp_on if proto == "esp" else ah_on
                setting = "net.inet.esp.enable=%d net.inet.ah.enable=%d" % (esp_on, ah_on)
                fam = "IPv6" if v6(sa) else "IPv4"
                w = send_out(cap, sa, sb)
                if on:
                    ok = (not w.clear and len(w.ipsec) == 1 and w.ipsec[0]["spi"] == spi)
                else:
                    ok = not w.clear and not w.ipsec
                t.test(ok, "%s: our %s %s outbound %s" % (setting, fam, proto.upper(),
                                                          "sent" if on else "dropped"), w)
                m = marker()
                cap.drain()
                udp_send("b", sb, sa, m)
                wb = Wire(cap.collect(enough=lambda fs: Wire(fs, m, True).ipsec), m,
                          outgoing=True)
                got = rxa[sa].got(m, 0.1)
                sent = len(wb.ipsec) == 1 and wb.ipsec[0]["spi"] == spi + 1
                t.test(sent and (got is not None) == bool(on),
                       "%s: XFRM's %s %s inbound %s" % (setting, fam, proto.upper(),
                                                       "delivered" if on else "dropped"),
                       "peer sent %r, delivered %s" % (wb, got))
            if (esp_on, ah_on) != (1, 1):
                p = "esp" if not esp_on else "ah"
                after = counter(p + "s_pdrops")
                if before[p] is None or after is None:
                    t.skip("%s.enable=0: %ss_pdrops counts the 4 drops" % (p, p),
                           "no %s/%sstat (statistics not merged here)" % (STATS, p))
                else:
                    t.test(after - before[p] == 4, "%s.enable=0: %ss_pdrops counts the 4 drops"
                           % (p, p), "%s -> %s" % (before[p], after))
    finally:
        for r in list(rxa.values()) + list(rxb.values()):
            r.close()


# net_ratelimit()'s window (net.core.message_cost, 5 s), and a margin.
RATELIMIT_INTERVAL = 5.5


def kmsg_lines():
    return sh("dmesg").splitlines()


def check_debug(t, cap):
    """def_policy 0 makes every packet a policy failure: a burst both ways
    is logged when debug is 1, within the kernel's net_ratelimit() (10 in
    5 s by default), and nothing when it is 0."""
    burst = 30
    reset()
    for fam in (4, 6):
        tree, oa, ob, _, _ = fam_of(fam)
        sysctl("a", tree + ".def_policy", 0)
        for dbg in (0, 1):
            sysctl("a", tree + ".debug", dbg)
            if dbg:
                # A fresh rate-limit window, whatever logged before.
                time.sleep(RATELIMIT_INTERVAL)
            n0 = len(kmsg_lines())
            for _ in range(burst // 2):
                udp_send("a", oa, ob, marker())
                udp_send("b", ob, oa, marker())
            time.sleep(SETTLE)
            new = [line for line in kmsg_lines()[n0:] if "policy violation" in line]
            ours = [line for line in new if oa in line or ob in line]
            desc = "%s.debug=%d: %d policy failures %s" % (
                tree, dbg, burst, "logged, rate-limited" if dbg else "not logged")
            info(["%d new policy-violation lines" % len(new)] + new[:3])
            if dbg:
                ok = 1 <= len(new) < burst and len(ours) == len(new)
            else:
                ok = not new
            t.test(ok, desc, "\n".join(new[:20]) or "no new line in the kernel log")
        sysctl("a", tree + ".def_policy", 1)


SECTIONS = [(check_deflev, 64), (check_def_policy, 12), (check_dfbit, 9),
            (check_ecn_encap, 6), (check_ecn_decap, 6), (check_ah, 12),
            (check_enable, 34), (check_debug, 4)]


def main():
    t = Ktap(sum(n for _, n in SECTIONS))
    try:
        topology()
        cap = Cap()
        for fn, n in SECTIONS:
            start = len(t.results)
            t0 = time.monotonic()
            try:
                fn(t, cap)
            except Exception as e:  # noqa: BLE001 - reported as failures
                print("# %s aborted: %r" % (fn.__name__, e))
            done = len(t.results) - start
            for i in range(done, n):
                t.test(False, "%s: check %d not reached" % (fn.__name__, i + 1))
            print("# %s: %.1f s" % (fn.__name__, time.monotonic() - t0), flush=True)
        cap.s.close()
    finally:
        for n in "ab":
            sh("ip netns del %s" % n, check=False)
    return t.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
