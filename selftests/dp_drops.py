#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Drops as perf and dropwatch see them, and the debug log (KTAP; issue 6
item 4; Documentation/datapath.rst, "Watching drops").

    [a] veth0 192.0.2.1 ------------------------ veth0 192.0.2.2 [b]
        kame_ipsec (setkey): ESP transport           XFRM (ip xfrm), UDP
        AES-GCM-16 with b, `require` both ways       datagrams to a:4700

The skb:kfree_skb tracepoint is read through tracefs: each packet our data
path drops is freed by a kame_drop_* function, the event's location, with
the closest core drop reason.

  Name                  Description
  tracefs               skb:kfree_skb is there (else the trace lines SKIP)
  policy drop           b (no XFRM policy) sends 5 datagrams in the clear:
                        in_polvio +5, 5 events at kame_drop_policy with
                        reason XFRM_POLICY
  bad ICV               b's SA to a has another key: esps_badauth +5, 5
                        events at kame_drop_icv, reason NOT_SPECIFIED (the
                        core has no reason for it)
  control               b's SA with the right key: 5 datagrams delivered,
                        no kame_drop_* event
  debug 0               30 bad-ICV and 30 cleartext datagrams: nothing
                        logged
  debug 1 ICV           30 bad-ICV datagrams: "drop in: esp spi 0x... b > a:
                        ICV did not verify (esps_badauth)" lines, at least
                        one and fewer than 30 (net_ratelimit: 10 per 5 s)
  debug 1 policy        (5 s later) 30 cleartext datagrams: "policy
                        violation in: b port P > a port 4700 proto 17 ..."
                        lines, at least one and fewer than 30
  cleanup               every namespace created is gone
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import sa  # noqa: E402
from dp.inject import Counters, Rx, Tx, SETTLE  # noqa: E402
from dp.netns import in_ns  # noqa: E402
from dp.sa import Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402
from dp.trace import Drops, Events, write  # noqa: E402

PORT = 4700
RATE_INTERVAL = 5.5  # net_ratelimit(): 10 messages per 5 s


def kmsg_lines():
    return subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()


def new_log(before, pattern):
    """Lines logged since `before` (a dmesg snapshot) that match."""
    return [ln for ln in kmsg_lines()[len(before):] if re.search(pattern, ln)]


def main():
    k = Ktap(8)
    have = Drops().available()
    k.test(have, "tracefs: skb:kfree_skb is available", "no such tracepoint")
    sc = Scenario(esp=("aes-gcm-16", None), mode="transport", fam="v4", topo="pair")
    try:
        with Topology("pair") as topo:
            a, b = topo.addr("a", 4), topo.addr("b", 4)
            good, bad = sa.Config(sc, topo), sa.Config(sc, topo, salt=1)
            good.install("a", "kame")
            spi_ba = [s.spi for s in good.sas if s.src == b][0]
            rx, tx = Rx(topo.ns("a"), a, PORT), Tx(topo.ns("b"), b)
            cnt = Counters(topo.ns("a"))
            trace = Drops()

            def b_xfrm(cfg, policies):
                topo.run("b", "ip", "-batch", "-", input="xfrm state flush\nxfrm policy flush\n"
                         + "".join("xfrm " + " ".join(c) + "\n"
                                   for c in cfg.xfrm("b", policies=policies)))

            def send(n, tag):
                marks = [b"%s-%d" % (tag, i) for i in range(n)]
                for m in marks:
                    tx.send(a, PORT, m)
                return rx.got(marks, SETTLE if n < 10 else 2 * SETTLE)

            def debug(v):
                in_ns(topo.ns("a"), lambda: write("/proc/sys/net/inet/ipsec/debug", "%d\n" % v))

            def traced(what, cfg, policies, payload, counter, loc, reason, desc):
                """5 drops: counted, 5 tracepoint events at `loc` with `reason`."""
                b_xfrm(cfg, policies=policies)
                c0 = cnt.read()
                if have:
                    trace.start()
                got = send(5, payload)
                ev = trace.stop() if have else []
                d = Counters.delta(c0, cnt.read())
                ok = (not got and d.get(counter) == 5 and len(ev) == 5 and
                      all(e == (loc, reason) for e in ev))
                if have:
                    k.test(ok, desc, "delivered %d, counters %s, events %s" % (len(got), d, ev))
                else:
                    k.skip(what, "no tracefs")

            # The policy drop: b sends in the clear.
            traced("policy drop", good, False, b"clear", "in_polvio", "kame_drop_policy",
                   "XFRM_POLICY", "policy drop: in_polvio +5, 5 events at kame_drop_policy, "
                   "reason XFRM_POLICY")
            # A bad ICV: b's SA has another key.
            traced("bad ICV", bad, True, b"badkey", "esps_badauth", "kame_drop_icv",
                   "NOT_SPECIFIED", "bad ICV: esps_badauth +5, 5 events at kame_drop_icv, "
                   "reason NOT_SPECIFIED")

            # The control: the right key.
            b_xfrm(good, policies=True)
            if have:
                trace.start()
            got = send(5, b"good")
            ev = trace.stop() if have else []
            k.test(len(got) == 5 and not ev, "control: the right key delivers 5 datagrams, "
                   "no kame_drop_* event", "delivered %d, events %s" % (len(got), ev))

            # The log.
            icv_re = r"drop in: esp spi %#x %s > %s: ICV did not verify \(esps_badauth\)" % (
                spi_ba, re.escape(b), re.escape(a))
            pol_re = r"policy violation in: %s port \d+ > %s port %d proto 17 spi 0x0: " % (
                re.escape(b), re.escape(a), PORT)
            debug(0)
            time.sleep(RATE_INTERVAL)
            before = kmsg_lines()
            b_xfrm(bad, policies=True)
            send(30, b"quiet-icv")
            b_xfrm(good, policies=False)
            send(30, b"quiet-clear")
            logged = new_log(before, r"drop in:|policy violation")
            k.test(not logged, "debug 0: 30 bad-ICV and 30 cleartext drops log nothing",
                   "\n".join(logged[:5]))

            def loud(what, sa, policies, payload, regex, counter, desc):
                """30 drops with debug 1: counted, logged, rate-limited."""
                time.sleep(RATE_INTERVAL)
                before = kmsg_lines()
                b_xfrm(sa, policies=policies)
                c0 = cnt.read()
                send(30, payload)
                d = Counters.delta(c0, cnt.read())
                logged = new_log(before, regex)
                print("# debug 1, %s: %d lines for 30 drops, e.g. %s" % (
                    what, len(logged), logged[0] if logged else "none"), flush=True)
                k.test(d.get(counter) == 30 and 1 <= len(logged) < 30, desc,
                       "counters %s, %d lines: %s" % (
                           d, len(logged), "\n".join(new_log(before, "kame")[:12])))

            debug(1)
            loud("ICV", bad, True, b"loud-icv", icv_re, "esps_badauth",
                 "debug 1 ICV: 'drop in: esp spi %#x %s > %s: ICV did not verify' logged, "
                 "rate-limited" % (spi_ba, b, a))
            loud("policy", good, False, b"loud-clear", pol_re, "in_polvio",
                 "debug 1 policy: 'policy violation in: %s port P > %s port %d proto 17' "
                 "logged, rate-limited" % (b, a, PORT))
            debug(0)
            rx.close()
            tx.close()
    except Exception as e:  # setup or harness failure: the rest fail
        print("# %s: %s" % (type(e).__name__, e))
    finally:
        if have:
            write(Events("skb/kfree_skb").enable, "0")
    for _ in range(7 - len(k.results)):
        k.test(False, "not run")
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
