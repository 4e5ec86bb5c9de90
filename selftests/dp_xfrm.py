#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The data-plane harness (selftests/dp/) proven on Linux's XFRM at both
ends (KTAP): every case of dp/case.py's matrix must pass here before the
same case can say anything about kame_ipsec (dp_interop.py); and each check
is shown to fail when it should. kame_ipsec is not loaded.

  pair     [a] veth0 ------------------------ veth0 [b]     tcpdump on b
  routed   [a] veth0 --- veth1 [r] veth2 --- veth0 [b]     tcpdump on r
  gateway  as routed, the IPsec peers being r and b      veth2

  Name          Description
  matrix        per case: ping sweep a>b and b>a, TCP with SHA-256 at both
                ends, UDP echo, wire check, tcpdump -E decode (dp/case.py)
  keys          keys differing between the ends: ping, TCP, UDP all fail
  nopolicy      SAs but no policy: ping passes, the wire check finds the
                cleartext, the decode check is not fooled by it
  control       the same scenario configured fully passes every check
  decode        tcpdump -E with a wrong key decodes no ping
  spi           the wire check refuses SPIs other than the configured ones
  replay        one ESP packet duplicated in the capture fails the
                sequence check
  cleanup       every namespace created is gone

KAME_DP_ONLY=REGEX runs only the matrix cases whose name it matches;
KAME_DP_MIB sets the TCP transfer (MiB, default 4; 64 for the full run).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap  # noqa: E402
from dp import case, wire  # noqa: E402
from dp.sa import Config, Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402

NEGATIVES = 10
SC = Scenario(esp=("aes-cbc", "hmac-sha1"))


def negatives(k):
    with Topology() as t:
        Config(SC, t).install("a", "xfrm")
        Config(SC, t, salt=1).install("b", "xfrm")
        res, _, cap = case.exercise(t, Config(SC, t), mib=1)
        cap.remove()
    for n in ("ping a>b", "tcp", "udp"):
        k.test(not res[n][0], "keys: with different keys at the two ends, %s fails" % n, res[n][1])

    with Topology() as t:
        cfg = Config(SC, t)
        for node in "ab":
            cfg.install(node, "xfrm", policies=False)
        res, _, cap = case.exercise(t, cfg, mib=1)
        cap.remove()
    k.test(res["ping a>b"][0] and res["ping b>a"][0],
           "nopolicy: with SAs but no policy, ping passes", res["ping a>b"][1])
    ok, diag = res["wire"]
    k.test(not ok and "unexpected" in diag and "ICMP" in diag,
           "nopolicy: the wire check finds cleartext ICMP", diag)
    ok, diag = res["decode"]
    k.test(not ok, "nopolicy: the decode check does not take cleartext pings for decrypted "
           "ones", diag)

    with Topology() as t:
        cfg = Config(SC, t)
        for node in "ab":
            cfg.install(node, "xfrm")
        res, _, cap = case.exercise(t, cfg, mib=1)
        packets = cap.packets()
        k.test(all(ok for ok, _ in res.values()) and "decode" in res,
               "control: the same scenario with policies passes every check",
               "\n".join("%s: %s" % (n, d) for n, (ok, d) in res.items() if not ok))
        ok, diag = wire.decode(cap, cfg, wrong=True)
        k.test(not ok, "decode: tcpdump -E with a wrong key decodes no ping", diag)
        cap.remove()
        ok, diag = wire.check(packets, Config(Scenario(esp=SC.esp, ah="hmac-sha1"), t))
        k.test(not ok and "unexpected" in diag, "spi: the wire check refuses other SPIs", diag)
        # The sixth ESP header seen (a later fragment has none to repeat).
        i = [n for n, p in enumerate(packets) if p[2][0][0] == wire.ESP and
             p[2][0][1] is not None][5]
        ok, diag = wire.check(packets[:i + 1] + packets[i:], cfg)
        k.test(not ok and "sequence numbers" in diag,
               "replay: a duplicated ESP packet fails the sequence check", diag)


def main():
    cases = case.selected()
    k = Ktap(sum(len(case.checks(sc)) for sc in cases) + NEGATIVES + 1)
    for sc in cases:
        case.run_case(k, sc)
    negatives(k)
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(main())
