#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Spare ESP transforms (rust/xform_spares.rs, KTAP): while SAs of an
algorithm are being added, a worker keeps transforms of it allocated
ahead, which adds take and key; once no add has taken one for five
seconds they are freed, so the crypto modules behind them can go. With
one CPU online there are no spares (the worker would share the CPU with
the adds): the checks of their count are skipped then.

The transforms are counted by the crypto API's reference count of the
algorithm instance (/proc/crypto, `refcnt`): every transform holds one.

Topology: no links; one network namespace of its own (unshare -n).

	Name		Description
	adds		40 ESP ADDs (HMAC-SHA-256, AES-CBC), distinct keys, all
			accepted
	spares		the instance is held by more transforms than the 40 SAs
	get		every SA answers GET with its own keys
	flush		FLUSH frees the SAs' transforms; the spares stay
	idle		six seconds later the spares are freed too
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402
from ktap import Ktap, run_in_netns  # noqa: E402

NAME = "echainiv(authenc(hmac(sha256),cbc(aes)))"
AALG_SHA256, EALG_AESCBC = 5, 12
N = 40
# rust/xform_spares.rs: KEEP and IDLE_MS.
KEEP, IDLE_S = 32, 5


def refcnt(name=NAME):
    """The reference count of the crypto instance `name` (0 if absent)."""
    best = 0
    with open("/proc/crypto") as f:
        blocks = f.read().split("\n\n")
    for b in blocks:
        kv = dict(line.split(":", 1) for line in b.splitlines() if ":" in line)
        kv = {k.strip(): v.strip() for k, v in kv.items()}
        if kv.get("name") == name:
            best = max(best, int(kv.get("refcnt", "0")))
    return best


def keys(i):
    return bytes([i]) * 32, bytes([i ^ 0x5a]) * 16


def add(i):
    auth, enc = keys(i)
    return msg(ADD, [sa(0x1000 + i, auth=AALG_SHA256, enc=EALG_AESCBC, replay=32),
                     address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.1.0.%d" % (i + 1)),
                     key(EXT_KEY_AUTH, auth), key(EXT_KEY_ENC, enc)],
               satype=SATYPE_ESP, seq=i + 1, pid=os.getpid())


def get(i):
    return msg(GET, [sa(0x1000 + i), address(EXT_SRC, "10.0.0.1"),
                     address(EXT_DST, "10.1.0.%d" % (i + 1))],
               satype=SATYPE_ESP, seq=100 + i, pid=os.getpid())


def ask(s, m):
    s.send(m)
    r = read_reply(s, 2.0)
    return parse(r) if r else None


def settle(limit=3.0):
    """The count once it has stopped moving (transforms of removed SAs
    are freed after a grace period, by a work item)."""
    last, end = refcnt(), time.time() + limit
    while time.time() < end:
        time.sleep(0.3)
        now = refcnt()
        if now == last:
            return now
        last = now
    return last


def main():
    t = Ktap(5)
    s = open_pfkey()
    before = refcnt()
    replies = [ask(s, add(i)) for i in range(N)]
    t.test(all(r and r[0]["errno"] == 0 for r in replies),
           "adds: %d ESP ADDs accepted" % N,
           [r and r[0]["errno"] for r in replies])
    held = settle()
    one_cpu = os.sysconf("SC_NPROCESSORS_ONLN") == 1
    if one_cpu:
        t.skip("spares", "one CPU online: no spares")
    else:
        t.test(held >= before + N + KEEP // 2,
               "spares: %s held by %d transforms for %d SAs (%d before)"
               % (NAME, held - before, N, before), (before, held))
    ok = True
    for i in (0, 1, N // 2, N - 1):
        r = ask(s, get(i))
        want = keys(i)
        got = r and (r[1].get(EXT_KEY_AUTH), r[1].get(EXT_KEY_ENC))
        ok = ok and got and got[0] is not None and want[0] in got[0] and want[1] in got[1]
    t.test(ok, "get: SAs keyed from spares answer GET with their own keys")
    s.send(msg(FLUSH, satype=0, seq=500, pid=os.getpid()))
    read_reply(s, 2.0)
    flushed = settle()
    if one_cpu:
        t.skip("flush", "one CPU online: no spares")
        t.skip("idle", "one CPU online: no spares")
        s.close()
        return t.finish()
    t.test(flushed <= held - N and flushed >= before + KEEP // 2,
           "flush: the SAs' %d transforms freed, the spares kept (%d -> %d)" % (N, held, flushed),
           (before, held, flushed))
    time.sleep(IDLE_S + 1)
    idle = settle()
    t.test(idle <= before + 1 and idle < flushed,
           "idle: the spares freed %d s after the last add (%d -> %d, %d before)"
           % (IDLE_S + 1, flushed, idle, before), (before, flushed, idle))
    s.close()
    return t.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
