#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""enc0, after OpenBSD's enc(4) (KTAP; issue 6 item 5; Documentation/enc.rst).

    [a] veth0 ------------------------------------------- veth0 [b]
        kame_ipsec (setkey), enc0                         XFRM (ip xfrm)
        UDP datagrams with markers to port 4700 both ways

Two cases: ESP transport AES-GCM-16 over IPv4, ESP tunnel AES-CBC with
HMAC-SHA-256 over IPv6. For each, in a:

  Name                Description
  down by default     enc0 exists and is down; 5 datagrams each way are
                      delivered; enc0 counts nothing, ipsec0 received the 5
                      decapsulated ones
  up: taps            enc0 up: an AF_PACKET socket on it sees the 5
                      outbound datagrams in the clear as sent (before
                      ESP) and the 5 inbound ones as received (after ESP),
                      markers and addresses intact; veth0 carries none of
                      the markers in the clear; enc0 counts rx 5, tx 5,
                      ipsec0 nothing more
  up: tcpdump         `tcpdump -i enc0` prints one datagram each way
  up: inet input      nftables `iifname "enc0" udp dport 4700 drop` in an
                      inet input chain: b's 5 are not delivered, the rule
                      counted 5, a's 5 still are; table removed, b's 5 are
  up: netdev egress   nftables netdev table, egress hook on enc0, `udp dport
                      4700 drop`: a's 5 are not delivered and never
                      protected (out_success +0), the rule counted 5, enc0
                      tx_dropped +5; b's 5 still are
  down again          both tables in place, enc0 down: 5 each way delivered,
                      the rules and enc0 count nothing (off unless enabled)

Then: a namespace that has its own device named enc0 when the module loads
keeps it, and the module loads (a warning names the clash). Last, every
namespace created is gone.
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import KO, Ktap, module_loaded, run_in_netns  # noqa: E402
from dp import sa, wire  # noqa: E402
from dp.inject import Counters, Port, Rx, Tx, SETTLE  # noqa: E402
from dp.sa import Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402

PORT = 4700
N = 5
PACKET_HOST, PACKET_OUTGOING = 0, 4
ETHERTYPE = {4: 0x0800, 6: 0x86dd}
UDP = 17
CASES = [
    Scenario(esp=("aes-gcm-16", None), mode="transport", fam="v4", topo="pair"),
    Scenario(esp=("aes-cbc", "hmac-sha256"), mode="tunnel", fam="v6", topo="pair"),
]
CHECKS_PER_CASE = 6
NFT_IN = """table inet kame_enc_in {
  chain input { type filter hook input priority 0; iifname "enc0" udp dport %d counter drop; }
}
""" % PORT
NFT_OUT = """table netdev kame_enc_out {
  chain egress { type filter hook egress device "enc0" priority 0; udp dport %d counter drop; }
}
""" % PORT


def link(topo, dev):
    """flags, rx/tx packets and tx_dropped of `dev` in a."""
    j = json.loads(topo.run("a", "ip", "-j", "-s", "link", "show", "dev", dev).stdout)[0]
    st = j["stats64"]
    return {"up": "UP" in j["flags"], "rx": st["rx"]["packets"], "tx": st["tx"]["packets"],
            "tx_dropped": st["tx"]["dropped"]}


def grew(before, after):
    """How much each of rx, tx, tx_dropped grew."""
    return {k: after[k] - before[k] for k in ("rx", "tx", "tx_dropped")}


def nft_count(topo, table):
    """The packets the table's one counter counted."""
    out = topo.run("a", "nft", "list", "table", *table.split()).stdout
    m = re.search(r"counter packets (\d+)", out)
    return int(m.group(1)) if m else None


def run_case(k, sc):
    fam = sa.FAMS[sc.fam][0]
    with Topology("pair") as topo:
        a, b = topo.addr("a", fam), topo.addr("b", fam)
        cfg = sa.Config(sc, topo)
        cfg.install("a", "kame")
        cfg.install("b", "xfrm")
        ns_a, ns_b = topo.ns("a"), topo.ns("b")
        rx_a, rx_b = Rx(ns_a, a, PORT), Rx(ns_b, b, PORT)
        tx_a, tx_b = Tx(ns_a, a), Tx(ns_b, b)
        cnt = Counters(ns_a)
        name = "%s %s" % (sc.mode, sc.fam)

        def exchange(tag):
            """N datagrams a->b and N b->a; (markers each way, delivered each way)."""
            out = [b"%s-out-%d" % (tag, i) for i in range(N)]
            back = [b"%s-in-%d" % (tag, i) for i in range(N)]
            for m in out:
                tx_a.send(b, PORT, m)
            for m in back:
                tx_b.send(a, PORT, m)
            return out, back, rx_b.got(out), rx_a.got(back)

        def sent(got, want):
            return sorted(got) == sorted(want)

        # Down by default.
        e0, i0 = link(topo, "enc0"), link(topo, "ipsec0")
        out, back, got_b, got_a = exchange(b"down")
        de, di = grew(e0, link(topo, "enc0")), grew(i0, link(topo, "ipsec0"))
        k.test(not e0["up"] and sent(got_b, out) and sent(got_a, back) and
               de == {"rx": 0, "tx": 0, "tx_dropped": 0} and di["rx"] == N,
               "%s: enc0 exists and is down; %d datagrams each way delivered, enc0 counts "
               "nothing, ipsec0 received %d" % (name, N, N),
               "enc0 %s, grew %s; ipsec0 grew %s; delivered %d/%d" % (
                   e0, de, di, len(got_b), len(got_a)))

        # Up: the taps.
        topo.run("a", "ip", "link", "set", "enc0", "up")
        tap, veth = Port(ns_a, "enc0"), Port(ns_a, "veth0")
        e0, i0 = link(topo, "enc0"), link(topo, "ipsec0")
        out, back, got_b, got_a = exchange(b"tap")
        seen = tap.frames(lambda t, f: b"tap-" in f, wait=SETTLE)
        clear_on_wire = veth.frames(lambda t, f: b"tap-" in f, wait=0.2)
        tap.close()
        veth.close()
        de, di = grew(e0, link(topo, "enc0")), grew(i0, link(topo, "ipsec0"))
        def udp_between(f, src, dst):
            """An unprotected UDP packet src -> dst (no link layer)."""
            return wire.parse_ip(f, ETHERTYPE[fam]) == (src, dst, [(UDP, None, None)], False)

        shown_out = sorted(m for m in out for t, f in seen if t == PACKET_OUTGOING and
                           f.endswith(m) and udp_between(f, a, b))
        shown_in = sorted(m for m in back for t, f in seen if t == PACKET_HOST and
                          f.endswith(m) and udp_between(f, b, a))
        k.test(sent(got_b, out) and sent(got_a, back) and shown_out == sorted(out) and
               shown_in == sorted(back) and len(seen) == 2 * N and not clear_on_wire and
               de == {"rx": N, "tx": N, "tx_dropped": 0} and di["rx"] == 0,
               "%s: enc0 up: its taps see the %d datagrams out before ESP and the %d in after "
               "ESP, in the clear; the wire carries none; enc0 counts rx %d tx %d" % (
                   name, N, N, N, N),
               "delivered %d/%d; tap saw %d (%d out, %d in) %s; clear on veth0 %d; enc0 grew "
               "%s, ipsec0 %s" % (len(got_b), len(got_a), len(seen), len(shown_out),
                                   len(shown_in), [(t, f[:48].hex()) for t, f in seen[:3]],
                                   len(clear_on_wire), de, di))

        # Up: tcpdump.
        p = topo.popen("a", "tcpdump", "-i", "enc0", "-n", "-l", "-c", "2",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # "verbose output suppressed", then "listening on": it is ready.
        line = ""
        for _ in range(3):
            line = p.stderr.readline()
            if not line or "listening on" in line:
                break
        tx_a.send(b, PORT, b"dump-out")
        tx_b.send(a, PORT, b"dump-in")
        try:
            dump = p.communicate(timeout=30)[0] if "listening on" in line else ""
        except subprocess.TimeoutExpired:
            p.kill()
            dump = p.communicate()[0]
        rx_a.got([b"dump-in"])
        rx_b.got([b"dump-out"])
        ipv = "IP" if fam == 4 else "IP6"
        want = [r"%s %s\.\d+ > %s\.%d: UDP" % (ipv, re.escape(x), re.escape(y), PORT)
                for x, y in ((a, b), (b, a))]
        k.test(all(re.search(w, dump) for w in want),
               "%s: tcpdump -i enc0 prints one datagram each way" % name,
               "tcpdump: %s\n%s" % (line.strip(), dump))

        # Up: an inet input rule on iifname enc0.
        topo.run("a", "nft", "-f", "-", input=NFT_IN)
        out, back, got_b, got_a = exchange(b"nftin")
        n_in = nft_count(topo, "inet kame_enc_in")
        topo.run("a", "nft", "delete", "table", "inet", "kame_enc_in")
        _, back2, _, got_a2 = exchange(b"nftin-off")
        k.test(not got_a and n_in == N and sent(got_b, out) and sent(got_a2, back2),
               "%s: nft inet input 'iifname enc0 udp dport %d drop': b's %d dropped (counter "
               "%d), a's delivered; table removed, b's delivered" % (name, PORT, N, N),
               "delivered to a %d, counter %s, to b %d; after removal %d" % (
                   len(got_a), n_in, len(got_b), len(got_a2)))

        # Up: a netdev egress rule on enc0.
        topo.run("a", "nft", "-f", "-", input=NFT_OUT)
        e0, c0 = link(topo, "enc0"), cnt.read()
        out, back, got_b, got_a = exchange(b"nftout")
        de, dc = grew(e0, link(topo, "enc0")), Counters.delta(c0, cnt.read())
        n_out = nft_count(topo, "netdev kame_enc_out")
        k.test(not got_b and sent(got_a, back) and n_out == N and de["tx_dropped"] == N and
               de["tx"] == 0 and dc.get("out_success", 0) == 0,
               "%s: nft netdev egress on enc0 'udp dport %d drop': a's %d never protected "
               "(out_success +0), counter %d, enc0 tx_dropped +%d; b's delivered" % (
                   name, PORT, N, N, N),
               "delivered to b %d, to a %d; counter %s; enc0 grew %s; counters %s" % (
                   len(got_b), len(got_a), n_out, de, dc))

        # Down again, both tables in place: nothing on enc0.
        topo.run("a", "nft", "-f", "-", input=NFT_IN)
        topo.run("a", "ip", "link", "set", "enc0", "down")
        e0 = link(topo, "enc0")
        out, back, got_b, got_a = exchange(b"off")
        de = grew(e0, link(topo, "enc0"))
        counts = (nft_count(topo, "inet kame_enc_in"), nft_count(topo, "netdev kame_enc_out"))
        k.test(sent(got_b, out) and sent(got_a, back) and counts == (0, N) and
               de == {"rx": 0, "tx": 0, "tx_dropped": 0},
               "%s: enc0 down again, both tables in place: %d each way delivered, the rules "
               "and enc0 count nothing" % (name, N),
               "delivered %d/%d; counters in/out %s; enc0 grew %s" % (
                   len(got_b), len(got_a), counts, de))
        for s in (rx_a, rx_b, tx_a, tx_b):
            s.close()


def clash(k):
    """A namespace with its own enc0 when the module loads keeps it."""
    desc = "a namespace's own device named enc0 is kept when the module loads; it loads"
    if module_loaded() and open("/sys/module/kame_ipsec/refcnt").read().strip() != "0":
        return k.skip(desc, "the module is in use")
    ns = "dp-enc-%d-clash" % os.getpid()
    subprocess.run(["rmmod", "kame_ipsec"], capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "enc0", "type", "dummy"], check=True)
        before = len(subprocess.run(["dmesg"], capture_output=True, text=True).stdout
                     .splitlines())
        r = subprocess.run(["insmod", KO], capture_output=True, text=True)
        log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
        warned = [ln for ln in log[before:] if "enc0 exists already" in ln]
        kind = subprocess.run(["ip", "-n", ns, "-d", "link", "show", "enc0"],
                              capture_output=True, text=True).stdout
        has_ipsec0 = subprocess.run(["ip", "-n", ns, "link", "show", "ipsec0"],
                                    capture_output=True).returncode == 0
        k.test(r.returncode == 0 and module_loaded() and warned and "dummy" in kind and
               has_ipsec0, desc, "insmod %d %s; warning %s; enc0: %s; ipsec0 %s" % (
                   r.returncode, r.stderr, warned, kind, has_ipsec0))
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        if not module_loaded():
            subprocess.run(["insmod", KO])


def main():
    k = Ktap(len(CASES) * CHECKS_PER_CASE + 2)
    done = 0
    for sc in CASES:
        try:
            run_case(k, sc)
        except Exception as e:  # setup or harness failure: the rest fail
            print("# %s: %s: %s" % (sc.name, type(e).__name__, e))
        done += CHECKS_PER_CASE
        while len(k.results) < done:
            k.test(False, "%s: not reached" % sc.name)
    try:
        clash(k)
    except Exception as e:
        k.test(False, "enc0 clash: %s: %s" % (type(e).__name__, e))
    time.sleep(0.2)
    left = leftover("dp-%d-" % os.getpid()) + leftover("dp-enc-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", "left: %s" % left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
