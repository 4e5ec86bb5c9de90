#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""TCP over IPsec fills the path MTU (KTAP; issue 5 item 1, datapath.rst
"Path MTU"). kame_ipsec clamps the MSS of the TCP SYNs it protects and of
those it decapsulates, so that the segments TCP sends fit the MTU once
protected: no IP fragment, and no byte of the MTU left unused, as XFRM's
segments fill it (its route through the bundle has the MTU less the
overhead, esp4_get_mtu()).

Per case, iperf3 sends 4 MiB of TCP from a to b over ESP, the veths' MTU
1500, tcpdump watching what a sends:

  Name                 Description
  IMPLS CASE: frags    no IP fragment among a's ESP packets
  IMPLS CASE: fill     a's largest ESP packet is exactly 1500 bytes: for
                       each case the MTU is a whole number of the cipher's
                       padding units past the headers, so a full segment
                       fills it (1 to 15 bytes short meant an MSS clamped
                       too low)
  cleanup              every namespace created is gone

IMPLS names who configures a and b (kame_ipsec or XFRM): with XFRM at b,
a's MSS comes from XFRM's SYN-ACK and our clamp of it on the way in; with
XFRM at a, from our clamp of b's SYN-ACK on the way out.
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import case, wire  # noqa: E402
from dp.sa import Config, Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402

MTU = 1500
CASES = [
    (("kame", "kame"), Scenario(esp=case.GCM)),
    (("kame", "kame"), Scenario(esp=case.GCM, fam="v6")),
    (("kame", "kame"), Scenario(esp=case.CBC)),
    (("kame", "kame"), Scenario(esp=case.CBC, mode="tunnel")),
    (("kame", "xfrm"), Scenario(esp=case.GCM)),
    (("xfrm", "kame"), Scenario(esp=case.GCM)),
]
CHECKS = ["frags", "fill"]


def esp_packets(path):
    """(IP length, is a fragment) of each ESP packet or IP fragment in the
    pcap at `path`, from each record's length on the wire (snaps are
    short)."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 24
    while off + 16 <= len(data):
        caplen, wirelen = struct.unpack_from("<II", data, off + 8)
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ethertype, ip = struct.unpack_from("!H", frame, 12)[0], frame[14:]
        if ethertype == 0x0800:
            proto = ip[9]
            frag = bool(struct.unpack_from("!H", ip, 6)[0] & 0x3fff)
        elif ethertype == 0x86dd:
            proto = ip[6]
            frag = proto == wire.FRAG
        else:
            continue
        if proto == wire.ESP or frag:
            out.append((wirelen - 14, frag))
    return out


def run_case(k, impls, sc):
    label = "%s %s: " % ("/".join(impls), sc.name)
    res = {}
    try:
        with Topology(sc.topo, mtu=MTU) as topo:
            cfg = Config(sc, topo)
            for node, impl in zip(sc.peers, impls):
                cfg.install(node, impl)
            addr = topo.addr("b", 6 if sc.fam == "v6" else 4)
            server = topo.popen("b", "iperf3", "-s", "-1", "--forceflush", "-B", addr,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            while "listening" not in server.stdout.readline():
                if server.poll() is not None:
                    raise RuntimeError("iperf3 server did not start")
            with wire.Capture(topo, ("a",)) as cap:
                r = topo.run("a", "iperf3", "-c", addr, "-n", "4M", check=False, timeout=600)
            server.kill()
            server.wait()
            pkts = [p for path in cap.paths for p in esp_packets(path)]
            cap.remove()
        if r.returncode != 0:
            raise RuntimeError("iperf3: " + (r.stdout + r.stderr)[-400:])
        frags = [n for n, frag in pkts if frag]
        sizes = sorted({n for n, _ in pkts})
        seen = "%d ESP packets, largest %d, sizes seen (the 8 largest) %s" % (
            len(pkts), sizes[-1] if sizes else 0, sizes[-8:])
        res["frags"] = (bool(pkts) and not frags,
                        "%d IP fragments; %s" % (len(frags), seen))
        res["fill"] = (bool(sizes) and sizes[-1] == MTU, seen)
    except Exception as e:  # setup or harness failure: every line fails
        res = {n: (False, "%s: %s" % (type(e).__name__, e)) for n in CHECKS}
    for n in CHECKS:
        k.test(res[n][0], label + n, res[n][1])


def main():
    k = Ktap(len(CASES) * len(CHECKS) + 1)
    for impls, sc in CASES:
        run_case(k, impls, sc)
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
