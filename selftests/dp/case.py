# SPDX-License-Identifier: GPL-2.0
"""The scenario matrix and one case: a fresh Topology, the scenario
installed at each IPsec peer by the implementation asked for, traffic while
tcpdump watches the wire, one KTAP line per check:

  ping a>b, ping b>a   ping_sizes() each way, two echoes per size
  tcp                  KAME_DP_MIB MiB (default 4; 64 for the full run)
                       a to b, SHA-256 equal at both ends
  udp                  datagrams of UDP_SIZES echoed back
  wire                 wire.check(): only ESP/AH, SPIs, sequence numbers
  decode               wire.decode(), where tcpdump can decrypt the ESP
"""
import os
import re
import time

from dp import algs, sa, traffic, wire
from dp.sa import Scenario
from dp.topo import Topology

MIB = int(os.environ.get("KAME_DP_MIB", "4"))
GCM, CBC = ("aes-gcm-16", None), ("aes-cbc", "hmac-sha256")
CHECKS = ["ping a>b", "ping b>a", "tcp", "udp", "wire"]


def matrix():
    """Every algorithm for ESP transport IPv4; both modes and all families
    for AES-GCM and AES-CBC/HMAC-SHA-256; AH; ESP+AH; three namespaces."""
    m = [Scenario(esp=(e, None)) for e in ("aes-gcm-16", "aes-gcm-12", "aes-gcm-8",
                                            "null_aes_gmac")]
    m += [Scenario(esp=(e, "hmac-sha256")) for e in ("aes-cbc", "aes-ctr", "3des-cbc",
                                                      "des-cbc", "null")]
    m += [Scenario(esp=("aes-cbc", a)) for a in ("hmac-md5", "hmac-sha1", "hmac-sha384",
                                                  "hmac-sha512", "aes-xcbc-mac")]
    for esp in (GCM, CBC):
        m.append(Scenario(esp=esp, fam="v6"))
        m += [Scenario(esp=esp, mode="tunnel", fam=f) for f in sa.FAMS]
    m += [Scenario(esp=("aes-cbc", "hmac-sha1"), mode="tunnel"),
          Scenario(esp=("3des-cbc", "hmac-md5"), fam="v6")]
    m += [Scenario(ah="hmac-sha1"), Scenario(ah="aes-xcbc-mac")]
    m += [Scenario(ah="hmac-sha256", mode=mo, fam=f) for mo in ("transport", "tunnel")
          for f in ("v4", "v6")]
    m += [Scenario(esp=("aes-cbc", "hmac-sha1"), ah="hmac-sha256", mode=mo, fam=f)
          for mo in ("transport", "tunnel") for f in ("v4", "v6")]
    m += [Scenario(esp=GCM, topo="routed"), Scenario(esp=GCM, mode="tunnel", fam="v6-in-v4",
                                                     topo="routed"),
          Scenario(esp=GCM, mode="tunnel", topo="gateway"),
          Scenario(esp=CBC, mode="tunnel", fam="v6", topo="gateway")]
    return m


# What the suite runs by default (a few minutes): one case per mode,
# family mix, bundle and topology, and the two the KAME manual's BUGS
# section says KAME refuses (an AH tunnel; ESP tunnel inside AH
# transport). KAME_DP_FULL=1 runs the whole matrix.
SUITE = ("^pair transport v4 esp aes-gcm-16$|^pair tunnel v6-in-v4 esp aes-cbc/hmac-sha256$"
         "|^pair transport v6 esp aes-cbc/hmac-sha1 ah|^pair tunnel v4 ah hmac-sha256$"
         "|^pair tunnel v4 esp aes-cbc/hmac-sha1 ah hmac-sha256$"
         "|^gateway tunnel v4 esp aes-gcm-16$|^gateway tunnel v6 esp aes-cbc/hmac-sha256$")


def selected():
    """The cases whose name the regular expression in KAME_DP_ONLY finds
    something in; without it, the suite's few (SUITE), or the whole matrix
    with KAME_DP_FULL=1."""
    default = "" if os.environ.get("KAME_DP_FULL") == "1" else SUITE
    only = re.compile(os.environ.get("KAME_DP_ONLY", default))
    return [sc for sc in matrix() if only.search(sc.name)]


def decodable(sc):
    """Whether tcpdump -E can decrypt the scenario's ESP."""
    return bool(sc.esp) and algs.tcpdump_name(
        algs.get(sc.esp[0]), algs.get(sc.esp[1]) if sc.esp[1] else None) is not None


def checks(sc):
    return CHECKS + (["decode"] if decodable(sc) else [])


def exercise(topo, cfg, mib=MIB):
    """Runs the traffic under a capture: {check: (ok, diagnostics)}, the
    seconds each took, and the capture (its files removed by the caller)."""
    inner = sa.FAMS[cfg.sc.fam][0]
    a, b = topo.addr("a", inner), topo.addr("b", inner)
    sizes = traffic.ping_sizes(topo.mtu, inner)
    res, secs = {}, {}

    def timed(name, fn, *args):
        t = time.monotonic()
        res[name] = fn(*args)
        secs[name] = time.monotonic() - t

    with wire.Capture(topo, cfg.sc.peers) as cap:
        timed("ping a>b", traffic.ping_sweep, topo, "a", b, sizes)
        timed("ping b>a", traffic.ping_sweep, topo, "b", a, sizes)
        timed("tcp+udp", traffic.tcp_and_udp, topo, "a", "b", b, mib << 20)
    res["tcp"], res["udp"] = res.pop("tcp+udp")
    timed("wire", wire.check, cap.packets(), cfg)
    ok, diag = wire.check_idents(cap.idents())
    if not ok:
        res["wire"] = (False, diag + "\n" + res["wire"][1])
    if cap.dropped():
        res["wire"] = (False, "tcpdump dropped %d packets\n%s" % (cap.dropped(),
                                                                  res["wire"][1]))
    if decodable(cfg.sc):
        timed("decode", wire.decode, cap, cfg)
    return res, secs, cap


def run_case(k, sc, impls=("xfrm", "xfrm")):
    """One scenario's KTAP lines, `impls` configuring sc.peers in order."""
    label = "%s %s: " % ("/".join(impls), sc.name)
    names = checks(sc)
    t0 = time.monotonic()
    try:
        with Topology(sc.topo) as topo:
            cfg = sa.Config(sc, topo)
            for node, impl in zip(sc.peers, impls):
                cfg.install(node, impl)
            t = time.monotonic()
            res, secs, cap = exercise(topo, cfg)
            cap.remove()
        print("# seconds: setup %.1f, %s" % (t - t0, ", ".join(
            "%s %.1f" % kv for kv in secs.items())), flush=True)
    except Exception as e:  # setup or harness failure: every line fails
        res = {n: (False, "%s: %s" % (type(e).__name__, e)) for n in names}
    for n in names:
        k.test(res[n][0], label + n, res[n][1])


def skip_case(k, sc, impls, why):
    for n in checks(sc):
        k.skip("%s %s: %s" % ("/".join(impls), sc.name, n), why)
