#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""SA lifetimes by use, with real traffic (KTAP): allocations and bytes
counted on the data path in each direction, the soft limit making the SA
dying with one soft SADB_EXPIRE, the hard one stopping the traffic at once
with one hard SADB_EXPIRE and the SA gone; GET and DUMP report the counts
in the current lifetime; a use-time lifetime starts at the first packet.

    a (this namespace, kame_ipsec)          b (XFRM, ip xfrm)
    a0 192.0.2.1  ------ veth ------  b0 192.0.2.2
    ICMP between them: esp/transport//require both ways

XFRM's rule (xfrm_state_check_expire()), which we match: before each
packet the counts so far are held against the limits, so a hard limit of N
allocations lets N packets through, and a byte limit stops the packet after
the one that carried the count past it. Bytes are the payload: here the
ICMP message, 64 bytes for `ping -s 56`.

Sequence-number exhaustion is dp_tamper.py's: it starts an SA's counter
near the end with SADB_X_EXT_SA2's sequence (pfkey.rst).
"""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402

A, B = "192.0.2.1", "192.0.2.2"
NS_B = "kame-lt-%d-b" % os.getpid()
ESRCH = 3
MATURE, DYING, DEAD = 1, 2, 3
IN, OUT, ESP, TRANSPORT, REQUIRE, ICMP = 1, 2, 50, 1, 2, 1
AUTH_KEY, ENC_KEY = bytes(range(1, 21)), bytes(range(0x40, 0x50))
# One echo request or reply as the SA counts it: ICMP header and 56 bytes.
ICMP_BYTES = 64
PATIENCE = 15.0
PROC = "/proc/net/kame_ipsec"


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True)


def setup():
    sh("ip", "netns", "add", NS_B)
    sh("ip", "link", "add", "a0", "type", "veth", "peer", "b0", "netns", NS_B)
    sh("ip", "addr", "add", A + "/24", "dev", "a0")
    sh("ip", "-n", NS_B, "addr", "add", B + "/24", "dev", "b0")
    for ns in (None, NS_B):
        pre = ["ip"] if ns is None else ["ip", "-n", ns]
        sh(*pre, "link", "set", "lo", "up")
        sh(*pre, "link", "set", "a0" if ns is None else "b0", "up")
    # XFRM's end: ICMP both ways through ESP transport.
    for d, src, dst in (("out", B, A), ("in", A, B)):
        tsrc, tdst = (B, A) if d == "out" else (A, B)
        sh("ip", "-n", NS_B, "xfrm", "policy", "add", "src", src, "dst", dst, "proto", "icmp",
           "dir", d, "tmpl", "src", tsrc, "dst", tdst, "proto", "esp", "mode", "transport")


def xfrm_states(spi_out, spi_in):
    """b's SAs: b sends on spi_in (a's inbound SA), receives on spi_out."""
    subprocess.run(["ip", "-n", NS_B, "xfrm", "state", "flush"], capture_output=True)
    for spi, src, dst in ((spi_out, A, B), (spi_in, B, A)):
        sh("ip", "-n", NS_B, "xfrm", "state", "add", "src", src, "dst", dst, "proto", "esp",
           "spi", hex(spi), "mode", "transport", "enc", "cbc(aes)", "0x" + ENC_KEY.hex(),
           "auth-trunc", "hmac(sha1)", "0x" + AUTH_KEY.hex(), "96")


def cleanup():
    subprocess.run(["ip", "netns", "del", NS_B], capture_output=True)
    subprocess.run(["ip", "link", "del", "a0"], capture_output=True)


def esp_add(spi, src, dst, soft=(0, 0, 0), hard=(0, 0, 0)):
    """ADD with (allocations, bytes, usetime) soft and hard limits."""
    lt = [lifetime(EXT_LT_HARD, allocations=hard[0], nbytes=hard[1], usetime=hard[2]),
          lifetime(EXT_LT_SOFT, allocations=soft[0], nbytes=soft[1], usetime=soft[2])]
    return msg(ADD, [sa(spi, auth=3, enc=12, replay=32)] + lt +
               [address(EXT_SRC, src), address(EXT_DST, dst),
                key(EXT_KEY_AUTH, AUTH_KEY), key(EXT_KEY_ENC, ENC_KEY)],
               satype=SATYPE_ESP, seq=1, pid=os.getpid())


def sa_ref(m, spi, src, dst):
    return msg(m, [sa(spi), address(EXT_SRC, src), address(EXT_DST, dst)],
               satype=SATYPE_ESP, seq=7, pid=os.getpid())


def spdadd(direction, src, dst):
    return msg(X_SPDADD, [address(EXT_SRC, src, proto=ICMP), address(EXT_DST, dst, proto=ICMP),
                          policy(direction, requests=[ipsecrequest(ESP, TRANSPORT, REQUIRE)])],
               seq=2, pid=os.getpid())


def ask(s, m):
    s.send(m)
    r = read_reply(s, 2.0)
    return parse(r) if r else None


def spi_of(m):
    return sa_fields(m[1][EXT_SA])["spi"]


def state_of(m):
    return sa_fields(m[1][EXT_SA])["state"]


def current(m):
    """(allocations, bytes, addtime, usetime) of the current lifetime."""
    return struct.unpack("=IQQQ", m[1][EXT_LT_CUR][4:32])


def kind(m):
    return "hard" if EXT_LT_HARD in m[1] else "soft"


def counter(name):
    """One statistics counter of this namespace (stats.rst)."""
    for f in ("ipsecstat", "espstat"):
        with open(os.path.join(PROC, f)) as fh:
            for line in fh:
                n, v = line.split()
                if n == name:
                    return int(v)
    return None


def ping():
    """One echo request and its reply; True if the reply came."""
    return subprocess.run(["ping", "-q", "-c", "1", "-W", "2", B],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


class Expires:
    """The EXPIREs the registered socket receives, as (spi, kind, msg)."""

    def __init__(self, s):
        self.s, self.got = s, []

    def poll(self, wait=0.2):
        while True:
            r = read_reply(self.s, wait)
            if r is None:
                return self.got
            m = parse(r)
            if m[0]["type"] == EXPIRE:
                self.got.append((spi_of(m), kind(m), m))

    def wait_for(self, spi, k, timeout=PATIENCE):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for e in self.poll(0.2):
                if e[0] == spi and e[1] == k:
                    return e[2]
        return None

    def count(self, spi, k):
        return len([e for e in self.poll(0.3) if e[0] == spi and e[1] == k])


def main():
    k = Ktap(26)
    try:
        setup()
        return run(k)
    finally:
        cleanup()


def run(k):
    reg, s = open_pfkey(), open_pfkey()
    reg.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    r = ask(reg, msg(REGISTER, satype=SATYPE_ESP, seq=1))
    k.test(r and r[0]["errno"] == 0, "a socket registers for ESP", r)
    ex = Expires(reg)
    ex.poll()
    r1, r2 = ask(s, spdadd(OUT, A, B)), ask(s, spdadd(IN, B, A))
    k.test(r1 and r2 and r1[0]["errno"] == 0 and r2[0]["errno"] == 0,
           "ICMP to and from the peer requires ESP transport", (r1, r2))

    # -- Allocations, outbound: soft 3, hard 5.
    xfrm_states(0x1000, 0x1001)
    ask(s, esp_add(0x1000, A, B, soft=(3, 0, 0), hard=(5, 0, 0)))
    ask(s, esp_add(0x1001, B, A))
    g = ask(s, sa_ref(GET, 0x1000, A, B))
    k.test(g and current(g)[3] == 0, "a new SA has no first use", g and current(g))
    ok = [ping() for _ in range(3)]
    g = ask(s, sa_ref(GET, 0x1000, A, B))
    cur = g and current(g)
    k.test(all(ok) and cur and cur[0] == 3 and cur[1] == 3 * ICMP_BYTES,
           "GET reports 3 allocations and their bytes after 3 pings", (ok, cur))
    k.test(cur and cur[3] >= cur[2] > 0 and state_of(g) == MATURE and
           ex.count(0x1000, "soft") == 0,
           "the first use is set, the SA still mature, no EXPIRE yet", cur)
    gi = ask(s, sa_ref(GET, 0x1001, B, A))
    k.test(gi and current(gi)[:2] == (3, 3 * ICMP_BYTES),
           "the inbound SA counted the 3 replies", gi and current(gi))
    k.test(ping(), "the 4th packet, past the soft limit, passes")
    m = ex.wait_for(0x1000, "soft")
    k.test(m and state_of(m) == DYING and current(m)[0] >= 3 and
           m[2] == [EXT_SA, EXT_LT_SOFT, EXT_LT_CUR, EXT_SRC, EXT_DST, EXT_PROXY, EXT_SA2],
           "a soft EXPIRE: state dying, soft and current lifetimes", m)
    g = ask(s, sa_ref(GET, 0x1000, A, B))
    k.test(g and state_of(g) == DYING, "GET shows the SA dying", g)
    k.test(ping(), "the 5th packet still passes on the dying SA")
    expired = counter("out_expired")
    k.test(not ping(), "the 6th packet, at the hard limit, is dropped")
    k.test(counter("out_expired") == expired + 1, "and counted in out_expired",
           (expired, counter("out_expired")))
    m = ex.wait_for(0x1000, "hard")
    k.test(m and state_of(m) == DEAD and current(m)[:2] == (5, 5 * ICMP_BYTES) and
           m[2] == [EXT_SA, EXT_LT_HARD, EXT_LT_CUR, EXT_SRC, EXT_DST, EXT_PROXY, EXT_SA2],
           "a hard EXPIRE: state dead, 5 allocations counted", m and current(m))
    g = ask(s, sa_ref(GET, 0x1000, A, B))
    k.test(g and g[0]["errno"] == ESRCH, "the SA is gone", g)
    k.test(not ping(), "traffic stays stopped (require, no SA)")
    ex.poll(1.0)
    k.test(ex.count(0x1000, "soft") == 1 and ex.count(0x1000, "hard") == 1,
           "exactly one soft and one hard EXPIRE",
           [(e[0], e[1]) for e in ex.got if e[0] == 0x1000])

    # -- Bytes, inbound: soft 200, hard 400 (64-byte replies).
    s.send(msg(FLUSH, satype=SATYPE_ESP, seq=3))
    read_reply(s, 2.0)
    xfrm_states(0x2000, 0x2001)
    ask(s, esp_add(0x2000, A, B))
    ask(s, esp_add(0x2001, B, A, soft=(0, 200, 0), hard=(0, 400, 0)))
    ok = [ping() for _ in range(4)]
    k.test(all(ok) and ex.count(0x2001, "soft") == 0,
           "4 replies (192 bytes) pass, no EXPIRE", ok)
    ok = ping()
    m = ex.wait_for(0x2001, "soft")
    k.test(ok and m and state_of(m) == DYING,
           "the 5th reply finds 256 bytes: soft EXPIRE, it passes", (ok, m))
    ok = [ping() for _ in range(2)]
    k.test(all(ok), "the 6th and 7th replies pass on the dying SA", ok)
    invalid = counter("esps_invalid")
    k.test(not ping(), "the 8th reply finds 448 bytes, past the hard limit: dropped")
    k.test(counter("esps_invalid") == invalid + 1, "and counted in esps_invalid",
           (invalid, counter("esps_invalid")))
    m = ex.wait_for(0x2001, "hard")
    k.test(m and state_of(m) == DEAD and current(m)[:2] == (7, 7 * ICMP_BYTES),
           "a hard EXPIRE with 7 replies' bytes counted", m and current(m))
    k.test(ex.count(0x2001, "soft") == 1 and ex.count(0x2001, "hard") == 1,
           "exactly one of each", [(e[0], e[1]) for e in ex.got if e[0] == 0x2001])

    # -- Use time: hard 2 s from first use; nothing before it.
    s.send(msg(FLUSH, satype=SATYPE_ESP, seq=4))
    read_reply(s, 2.0)
    xfrm_states(0x3000, 0x3001)
    ask(s, esp_add(0x3000, A, B, hard=(0, 0, 2)))
    ask(s, esp_add(0x3001, B, A))
    time.sleep(3)
    g = ask(s, sa_ref(GET, 0x3000, A, B))
    k.test(g and g[0]["errno"] == 0 and ex.count(0x3000, "hard") == 0,
           "an unused SA outlives its use-time limit", g)
    t0 = time.time()
    ok = ping()
    dumped = {spi_of(m): current(m) for m in dump_sas(s, SATYPE_ESP)}
    cur = dumped.get(0x3000)
    k.test(ok and cur and cur[0] == 1 and abs(cur[3] - t0) <= 2,
           "DUMP reports the first packet and its time", (ok, cur, t0))
    m = ex.wait_for(0x3000, "hard")
    waited = time.time() - t0
    k.test(m and waited >= 1.0 and state_of(m) == DEAD,
           "the hard EXPIRE comes 2 s after the first use (%.1f s)" % waited, m)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
