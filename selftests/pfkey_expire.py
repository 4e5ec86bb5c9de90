#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""SA lifetimes by time and SADB_EXPIRE (KTAP): the soft lifetime makes an
SA dying and tells registered sockets once, the hard one removes it, a
larval SA from GETSPI goes after 30 s, all with af_key's EXPIRE layout.

Runs as root in the test VM, in a namespace of its own.  Waits are bounded
from below only (an event may come late on a slow machine, never early);
lifetimes count whole seconds from the add, so "early" allows for the
fraction of a second the add time was truncated by.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402

ESRCH = 3
LARVAL, MATURE, DYING, DEAD = range(4)
# Long enough for any late timer on a slow machine: a test waits this long
# for an event before calling it missing.
PATIENCE = 30.0


def esp_add(spi, hard=None, soft=None, dst="10.0.0.2", mtype=ADD):
    exts = [sa(spi, auth=3, enc=12, replay=32)]  # HMAC-SHA1, AES-CBC
    # af_key takes both lifetimes or neither (EINVAL); 0 is "no limit".
    if hard is not None or soft is not None:
        exts.append(lifetime(EXT_LT_HARD, addtime=hard or 0))
        exts.append(lifetime(EXT_LT_SOFT, addtime=soft or 0))
    exts += [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, dst),
             key(EXT_KEY_AUTH, bytes(20)), key(EXT_KEY_ENC, bytes(16))]
    return msg(mtype, exts, satype=SATYPE_ESP, seq=1, pid=os.getpid())


def sa_ref(m, spi, dst="10.0.0.2"):
    return msg(m, [sa(spi), address(EXT_SRC, "10.0.0.1"), address(EXT_DST, dst)],
               satype=SATYPE_ESP, seq=7, pid=os.getpid())


def ask(s, m):
    s.send(m)
    r = read_reply(s, 2.0)
    return parse(r) if r else None


def drain(s, wait=0.1):
    out = []
    while True:
        r = read_reply(s, wait)
        if r is None:
            return out
        out.append(parse(r))


# EXPIREs read while waiting for another SA's, by SPI, oldest first.
early = {}


def next_expire(s, spi=None, timeout=PATIENCE):
    """The next EXPIRE queued for s about `spi` (any SA if None), or None.
    Other messages are skipped; other SAs' EXPIREs are kept for later."""
    for k in ([spi] if spi is not None else list(early)):
        if early.get(k):
            return early[k].pop(0)
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        r = read_reply(s, left) if left > 0 else None
        if r is None:
            return None
        m = parse(r)
        if m[0]["type"] != EXPIRE:
            continue
        if spi is None or spi_of(m) == spi:
            return m
        early.setdefault(spi_of(m), []).append(m)


def spi_of(m):
    return sa_fields(m[1][EXT_SA])["spi"]


def lt_addtime(m, t):
    return struct.unpack("=IQQQ", m[1][t][4:32])[2]


def main():
    k = Ktap(20)
    reg, plain, s = open_pfkey(), open_pfkey(), open_pfkey()
    reg.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    r = ask(reg, msg(REGISTER, satype=SATYPE_ESP, seq=1))
    k.test(r and r[0]["errno"] == 0, "a socket registers for ESP", r)
    drain(reg)

    # A larval SA, checked at the end: it goes 30 s after GETSPI.
    r = ask(s, msg(GETSPI, [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.9"),
                            spirange(0x5000, 0x5000)], satype=SATYPE_ESP, seq=3))
    t_larval = time.monotonic()
    k.test(r and r[0]["errno"] == 0 and spi_of(r) == 0x5000, "GETSPI makes a larval SA", r)
    drain(reg)

    # Soft then hard by add time.
    r = ask(s, esp_add(0x2000, hard=4, soft=2))
    t0 = time.monotonic()
    k.test(r and r[0]["errno"] == 0, "ADD with soft addtime 2 s, hard 4 s", r)
    drain(reg)
    m = next_expire(reg, 0x2000)
    t_soft = time.monotonic() - t0
    k.test(m and spi_of(m) == 0x2000 and t_soft >= 0.5,
           "a soft EXPIRE reaches the registered socket after the soft time (%.1f s)" % t_soft, m)
    want = [EXT_SA, EXT_LT_SOFT, EXT_LT_CUR, EXT_SRC, EXT_DST, EXT_PROXY, EXT_SA2]
    k.test(m and m[0]["satype"] == SATYPE_ESP and m[0]["seq"] == 0 and m[0]["pid"] == 0 and
           m[0]["errno"] == 0 and m[2] == want and sa_fields(m[1][EXT_SA])["state"] == DYING and
           lt_addtime(m, EXT_LT_SOFT) == 2,
           "the soft EXPIRE has af_key's layout: SA (dying), soft and current lifetimes, "
           "addresses, no keys, seq and pid 0", m)
    r = ask(s, sa_ref(GET, 0x2000))
    k.test(r and r[0]["errno"] == 0 and sa_fields(r[1][EXT_SA])["state"] == DYING,
           "GET shows the SA dying", r)
    k.test(not [x for x in drain(plain) if x[0]["type"] == EXPIRE],
           "a socket that did not register gets no EXPIRE")
    m = next_expire(reg, 0x2000)
    t_hard = time.monotonic() - t0
    k.test(m and spi_of(m) == 0x2000 and t_hard >= 2.5 and
           m[2] == [EXT_SA, EXT_LT_HARD, EXT_LT_CUR, EXT_SRC, EXT_DST, EXT_PROXY, EXT_SA2] and
           sa_fields(m[1][EXT_SA])["state"] == DEAD and lt_addtime(m, EXT_LT_HARD) == 4,
           "then a hard EXPIRE, state dead, hard lifetime only (%.1f s)" % t_hard, m)
    r = ask(s, sa_ref(GET, 0x2000))
    k.test(r and r[0]["errno"] == ESRCH, "the SA is gone after its hard lifetime", r)

    # UPDATE of a dying SA makes it mature again with the new lifetimes.
    ask(s, esp_add(0x2001, hard=60, soft=1))
    m = next_expire(reg, 0x2001)
    k.test(m and spi_of(m) == 0x2001, "soft EXPIRE of a second SA", m)
    r = ask(s, esp_add(0x2001, hard=120, soft=100, mtype=UPDATE))
    g = ask(s, sa_ref(GET, 0x2001))
    k.test(r and r[0]["errno"] == 0 and g and sa_fields(g[1][EXT_SA])["state"] == MATURE and
           lt_addtime(g, EXT_LT_SOFT) == 100,
           "UPDATE of the dying SA makes it mature with the new lifetimes", (r, g))

    # Soft only: it stays, dying.
    ask(s, esp_add(0x2002, soft=1))
    m = next_expire(reg, 0x2002)
    g = ask(s, sa_ref(GET, 0x2002))
    k.test(m and spi_of(m) == 0x2002 and g and sa_fields(g[1][EXT_SA])["state"] == DYING,
           "an SA with only a soft lifetime stays, dying", (m, g))

    # Deleted and flushed SAs leave nothing queued behind.
    ask(s, esp_add(0x2003, hard=2))
    r = ask(s, sa_ref(DELETE, 0x2003))
    ask(s, esp_add(0x2004, hard=2, dst="10.0.0.3"))
    m = next_expire(reg, 0x2004)
    for x in drain(reg, 1.0):
        if x[0]["type"] == EXPIRE:
            early.setdefault(spi_of(x), []).append(x)
    k.test(r and r[0]["errno"] == 0 and m and not early.get(0x2003),
           "a deleted SA never expires; the other one does", (r, m, early))

    # Events come in deadline order, whatever the order of the ADDs.
    for spi, hard in ((0x2100, 3), (0x2101, 1), (0x2102, 2)):
        ask(s, esp_add(spi, hard=hard, dst="10.0.1.%d" % (spi & 0xff)))
    got = []
    while len(got) < 3:
        m = next_expire(reg)
        if m is None:
            break
        if spi_of(m) >= 0x2100:
            got.append(spi_of(m))
    k.test(got == [0x2101, 0x2102, 0x2100], "hard EXPIREs come in deadline order", got)

    # Many at once.
    n = 1000
    for i in range(n):
        s.send(esp_add(0x3000 + i, hard=2, dst="10.1.%d.%d" % (i // 250, i % 250 + 1)))
        if i % 64 == 63:
            drain(s, 0)
    drain(s)
    got = set()
    while len(got) < n:
        m = next_expire(reg)
        if m is None:
            break
        if 0x3000 <= spi_of(m) < 0x3000 + n:
            got.add(spi_of(m))
    k.test(len(got) == n, "%d SAs expiring together each send one EXPIRE" % n, len(got))
    spis = [spi_of(m) for m in dump_sas(s, SATYPE_ESP)]
    k.test(spis and not [x for x in spis if 0x3000 <= x < 0x3000 + n],
           "and they are gone from the dump", sorted(spis)[:10])

    # The larval SA: hard EXPIRE 30 s after GETSPI.
    m = next_expire(reg, 0x5000, timeout=max(0, 30 - (time.monotonic() - t_larval)) + PATIENCE)
    waited = time.monotonic() - t_larval
    k.test(m and spi_of(m) == 0x5000 and waited >= 28.5 and
           sa_fields(m[1][EXT_SA])["state"] == DEAD,
           "the larval SA goes with a hard EXPIRE after 30 s (%.1f s)" % waited, m)
    r = ask(s, msg(GET, [sa(0x5000), address(EXT_SRC, "10.0.0.1"),
                         address(EXT_DST, "10.0.0.9")], satype=SATYPE_ESP, seq=7))
    k.test(r and r[0]["errno"] == ESRCH, "and GET no longer finds it", r)

    # Teardown with timers pending: SAs expiring in an hour stay for the
    # namespace's exit and rmmod to cancel.
    for i in range(100):
        s.send(esp_add(0x4000 + i, hard=3600, soft=1800, dst="10.2.0.%d" % (i + 1)))
    k.test(len(drain(s)) >= 100, "100 SAs with pending lifetimes are left for teardown")
    k.test(not [x for x in drain(reg) if x[0]["type"] == EXPIRE and spi_of(x) >= 0x4000],
           "none of them expired early")
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
