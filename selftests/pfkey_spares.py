#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Spare ESP transforms (rust/xform_spares.rs, KTAP): once 64 SAs of an
algorithm have been added without a pause of two seconds (a bulk load), a
worker keeps transforms of it allocated ahead, which adds take and key.
They hold the crypto instance as SAs do, so they go two seconds after the
last add and at SADB_FLUSH; a spare allocated before the crypto API made
another algorithm usable is never used, so SAs added after a cryptd
instance registers get cryptd, as XFRM's would. With one CPU online there
are no spares (the worker would share the CPU with the adds): the checks
that need them are skipped then.

The transforms are counted by the crypto API's reference count of the
algorithm instance (/proc/crypto, `refcnt`): every transform holds one, and
a cryptd transform holds one of the driver it wraps too.

Topology: no links; one network namespace of its own (unshare -n).

	Name		Description
	few		20 ESP ADDs (HMAC-SHA-256, AES-CBC): the driver is held
			by exactly 20 more transforms (no spares outside a bulk)
	bulk		100 ADDs: all accepted, and the driver is held by more
			transforms than the SAs
	get		SAs keyed from spares answer GET with their own keys
	idle		three seconds after the last add the spares are freed:
			exactly the 100 SAs' transforms are left
	new driver	a cryptd instance of the algorithm registered in the
			middle of a bulk load: the SAs added after it use it, and
			no spare of the old driver is left
	flush		SADB_FLUSH frees every transform: both drivers back to
			their counts before, and the cryptd instance can be
			deleted (not EBUSY)
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import crypto_user as cu  # noqa: E402

NAME = "echainiv(authenc(hmac(sha256),cbc(aes)))"
AALG_SHA256, EALG_AESCBC = 5, 12
# rust/xform_spares.rs: BULK_AT and IDLE_MS.
BULK_AT, IDLE_S = 64, 2


def keys(i):
    return bytes([i & 0xff]) * 32, bytes([(i ^ 0x5a) & 0xff]) * 16


def dst(i):
    return "10.1.%d.%d" % (i // 250, i % 250 + 1)


def add(i):
    auth, enc = keys(i)
    return msg(ADD, [sa(0x1000 + i, auth=AALG_SHA256, enc=EALG_AESCBC, replay=32),
                     address(EXT_SRC, "10.0.0.1"), address(EXT_DST, dst(i)),
                     key(EXT_KEY_AUTH, auth), key(EXT_KEY_ENC, enc)],
               satype=SATYPE_ESP, seq=i + 1, pid=os.getpid())


def get(i):
    return msg(GET, [sa(0x1000 + i), address(EXT_SRC, "10.0.0.1"), address(EXT_DST, dst(i))],
               satype=SATYPE_ESP, seq=5000 + i, pid=os.getpid())


def ask(s, m):
    s.send(m)
    r = read_reply(s, 2.0)
    return parse(r) if r else None


def add_all(s, ids):
    """Whether every ADD of `ids` was accepted."""
    return all(r and r[0]["errno"] == 0 for r in (ask(s, add(i)) for i in ids))


def flush(s):
    """SADB_FLUSH, and every message it brings: the reply, and the
    broadcast to all sockets when there were SAs."""
    s.send(msg(FLUSH, satype=0, seq=9000, pid=os.getpid()))
    read_reply(s, 2.0)
    while read_reply(s, 0.3):
        pass


def settle(driver, limit=3.0):
    """The driver's count once it has stopped moving (transforms of removed
    SAs are freed after a grace period, spares by a work item)."""
    last, end = cu.refcnt(driver), time.time() + limit
    while time.time() < end:
        time.sleep(0.3)
        now = cu.refcnt(driver)
        if now == last:
            return now
        last = now
    return last


def main():
    t = Ktap(6)
    one_cpu = os.sysconf("SC_NPROCESSORS_ONLN") == 1
    s = open_pfkey()
    # The first add has the crypto manager build the instance.
    add_all(s, [0])
    flush(s)
    driver = cu.resolve(NAME)["driver"]
    before = settle(driver)

    ok = add_all(s, range(20))
    held = settle(driver)
    t.test(ok and held == before + 20, "few: 20 adds, %s held by %d more transforms"
           % (driver, held - before), (before, held))
    flush(s)
    settle(driver)

    ok = add_all(s, range(100))
    held = settle(driver)
    if one_cpu:
        t.test(ok and held == before + 100, "bulk: 100 adds, no spares with one CPU online",
               (before, held))
    else:
        t.test(ok and held > before + 100, "bulk: 100 adds, %s held by %d transforms"
               % (driver, held - before), (before, held))
    good = True
    for i in (0, 1, BULK_AT, 99):
        r = ask(s, get(i))
        want = keys(i)
        got = r and (r[1].get(EXT_KEY_AUTH), r[1].get(EXT_KEY_ENC))
        good = good and got and got[0] is not None and want[0] in got[0] and want[1] in got[1]
    t.test(good, "get: SAs keyed from spares answer GET with their own keys", got)
    time.sleep(IDLE_S + 1)
    idle = settle(driver)
    t.test(idle == before + 100, "idle: %d s after the last add, %d transforms for 100 SAs"
           % (IDLE_S + 1, idle - before), (before, held, idle))

    # A bulk load again, with a cryptd instance registered in its middle.
    ok = add_all(s, range(100, 200))
    if cu.instances("cryptd", NAME) or one_cpu:
        t.skip("new driver", "a cryptd instance of %s is already registered" % NAME
               if not one_cpu else "one CPU online: no spares")
        cryptd = None
    else:
        cryptd = cu.new_instance("cryptd", NAME, "aead")
        ok = add_all(s, range(200, 230)) and ok
        c = settle(cryptd) - 1
        d = settle(driver) - before
        # Each cryptd transform holds one of the driver it wraps too: the
        # driver is held by the 200 SAs of before and the cryptd transforms.
        t.test(ok and c >= 30 and d == 200 + c,
               "new driver: after %s registered, 30 adds: it holds %d transforms, %s %d"
               % (cryptd, c, driver, d), (c, d))
    flush(s)
    after = settle(driver)
    busy = None
    if cryptd:
        cafter = settle(cryptd)
        try:
            cu.del_instance(cryptd)
        except OSError as e:
            busy = e
    t.test(after == before and busy is None and (not cryptd or cafter == 1),
           "flush: %s back to %d more transforms%s" % (
               driver, after - before,
               ", %s deleted" % cryptd if cryptd and busy is None else ""),
           (before, after, busy))
    s.close()
    return t.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
