#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""kame_ipsec against Linux's XFRM, and against itself, on the data plane
(KTAP; issue 5 item 7): dp/case.py's matrix with kame_ipsec configured by
setkey at one IPsec peer and `ip xfrm` at the other, each way round (the
peer listed first sends the TCP and UDP), then kame_ipsec at both (each
namespace has its own SAD and SPD). The same checks as dp_xfrm.py, which
proves them on XFRM alone.

  pair     [a] veth0 ------------------------ veth0 [b]     tcpdump on b
  routed   [a] veth0 --- veth1 [r] veth2 --- veth0 [b]     tcpdump on r
  gateway  as routed, the IPsec peers being r and b      veth2

  Name               Description
  kame/xfrm CASE     kame_ipsec at the first peer, XFRM at the second
  xfrm/kame CASE     XFRM at the first peer, kame_ipsec at the second
  kame/kame CASE     kame_ipsec at both
  cleanup            every namespace created is gone

A case runs only if the data path has everything it needs (SUPPORTED and
ALGS below, filled in as it grows); the others are reported as
`# SKIP not implemented yet: WHAT`. KAME_DP_ALL=1 runs every case anyway
(to see what a change made pass); KAME_DP_ONLY and KAME_DP_MIB as in
dp_xfrm.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import case  # noqa: E402
from dp.topo import leftover  # noqa: E402

# What kame_ipsec protects today, as "PROTO/MODE/FAMILY" (FAMILY: v4, v6,
# v6-in-v4, v4-in-v6; in tunnel mode with ESP+AH, AH is transport), plus
# "forward" once forwarded packets are (the gateway cases).
SUPPORTED = {
    "%s/%s/%s" % (p, m, f)
    for p in ("esp", "ah")
    for m in ("transport", "tunnel")
    for f in ("v4", "v6", "v6-in-v4", "v4-in-v6")
} | {"forward"}
# Algorithms the data path has, by setkey name.
ALGS = {
    "aes-gcm-16", "aes-gcm-12", "aes-gcm-8", "null_aes_gmac", "aes-cbc", "aes-ctr",
    "3des-cbc", "des-cbc", "null", "hmac-md5", "hmac-sha1", "hmac-sha256",
    "hmac-sha384", "hmac-sha512", "aes-xcbc-mac",
}
IMPLS = [("kame", "xfrm"), ("xfrm", "kame"), ("kame", "kame")]


def missing(sc):
    """What the data path lacks for sc, in words; empty if nothing."""
    need = ["%s/%s/%s" % (p, sc.mode if i == 0 else "transport", sc.fam)
            for i, p in enumerate(sc.protos)]
    if sc.topo == "gateway":
        need.append("forward")
    need = [n for n in need if n not in SUPPORTED]
    need += [a for a in sc.algs() if a not in ALGS]
    return ", ".join(need)


def main():
    every = os.environ.get("KAME_DP_ALL") == "1"
    cases = case.selected()
    k = Ktap(len(IMPLS) * sum(len(case.checks(sc)) for sc in cases) + 1)
    for impls in IMPLS:
        for sc in cases:
            why = missing(sc)
            if why and not every:
                case.skip_case(k, sc, impls, "not implemented yet: " + why)
            else:
                case.run_case(k, sc, impls)
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
