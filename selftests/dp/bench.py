#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Data-plane throughput figures (issue 5 item 8; not a test): iperf3, one
TCP stream from a to b through the IPsec peers of a pair Topology, XFRM at
both ends against kame_ipsec at both ends, runs alternating; then the same
with KAME_BENCH_N non-matching SAs and policies added at both ends, as a
ratio to the figure without them. Run by selftests/bench_dataplane.sh
(which loads the module; bench.py unloads it for XFRM's runs).

Before any run, a ping under tcpdump must show the scenario protected on
the wire (dp.wire.check); an implementation that does not protect it is
reported unavailable, never given a figure.

Each run has its peers set up afresh, and XFRM's run with kame_ipsec
unloaded: loaded, its netfilter hooks and ESP handler see every
namespace's packets, XFRM's too (native(); about 4% of the samples of
XFRM's tunnel-mode profile went to them). Each run follows one
unreported KAME_BENCH_WARMUP_SECS run of the same setup: under TCG the
first seconds of traffic run slower (code being translated), which made
the first scenario's figures the lowest of the run whatever the
implementation.

The extra entries mirror pfkey-bench's (rust/tools/src/bulk.rs): SA i is
192.0.2.1 > 10.1.0.0+i ESP SPI 0x1000+i AES-CBC/HMAC-SHA-256, policy i is
10.128.0.0+i/32 > 198.51.100.1/32 out; `pfkey-bench add-sa/add-spd` adds
them for kame_ipsec, `ip -batch` the same for XFRM.
"""
import ipaddress
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ktap import TOP, rmmod, use  # noqa: E402
from dp import case, traffic, wire  # noqa: E402
from dp.sa import Config, Scenario  # noqa: E402
from dp.topo import Topology  # noqa: E402

PFKEY_BENCH = os.path.join(TOP, "rust", "tools", "target", "release", "pfkey-bench")
N = int(os.environ.get("KAME_BENCH_N", "100000"))
REPS = int(os.environ.get("KAME_BENCH_REPS", "3"))
SECS = int(os.environ.get("KAME_BENCH_SECS", "10"))
WARMUP_SECS = int(os.environ.get("KAME_BENCH_WARMUP_SECS", "5"))
# kame-sync: kame_ipsec with net.inet.ipsec.async_crypto 0 at both ends
# (inbound ESP decrypted where it arrives), to weigh decryption on another
# CPU; KAME_BENCH_IMPLS=xfrm,kame,kame-sync adds it.
IMPLS = tuple(os.environ.get("KAME_BENCH_IMPLS", "xfrm,kame").split(","))
VARIANTS = [Scenario(esp=case.GCM), Scenario(esp=case.CBC),
            Scenario(esp=case.GCM, mode="tunnel")]
# KAME_BENCH_CASES: run only the variants whose name contains one of these
# (comma-separated) words, to compare two builds on one case; all if unset.
CASES = [c for c in os.environ.get("KAME_BENCH_CASES", "").split(",") if c]


def bulk(t, node, impl, n):
    if impl != "xfrm":
        for op in ("add-sa", "add-spd"):
            t.run(node, PFKEY_BENCH, op, "-n", str(n), "--window", "32", timeout=1800)
        return
    sa0, sp0 = ipaddress.ip_address("10.1.0.0"), ipaddress.ip_address("10.128.0.0")
    lines = []
    for i in range(n):
        lines.append("xfrm state add src 192.0.2.1 dst %s proto esp spi 0x%x mode transport "
                     "enc cbc(aes) 0x%032x auth-trunc hmac(sha256) 0x%064x 128\n"
                     % (sa0 + i, 0x1000 + i, i, i))
        lines.append("xfrm policy add src %s/32 dst 198.51.100.1/32 dir out "
                     "tmpl proto esp mode transport\n" % (sp0 + i))
    t.run(node, "ip", "-batch", "-", input="".join(lines), timeout=1800)


def setup(sc, impl, n):
    """A Topology (entered) with sc at a and b by impl and n extra entries
    each; and None, or why impl cannot be measured."""
    t = Topology(prefix="dpb-%d-%s-" % (os.getpid(), impl)).__enter__()
    cfg = Config(sc, t)
    try:
        for node in sc.peers:
            cfg.install(node, "xfrm" if impl == "xfrm" else "kame")
            if impl == "kame-sync":
                t.run(node, "sysctl", "-qw", "net.inet.ipsec.async_crypto=0")
            if n:
                bulk(t, node, impl, n)
    except Exception as e:
        return t, "setup failed: %s" % e
    with wire.Capture(t, sc.peers) as cap:
        traffic.ping_sweep(t, "a", t.addr("b", 4), [100])
    ok, diag = wire.check(cap.packets(), cfg)
    cap.remove()
    return t, None if ok else "not protected on the wire: " + diag.splitlines()[0]


def iperf(t, secs=SECS):
    addr = t.addr("b", 4)
    server = t.popen("b", "iperf3", "-s", "-1", "--forceflush", "-B", addr,
                     stdout=subprocess.PIPE, text=True)
    while "listening" not in server.stdout.readline():
        pass
    r = t.run("a", "iperf3", "-c", addr, "-t", str(secs), "-J", check=False,
              timeout=secs + 120)
    server.kill()
    server.wait()
    try:
        return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
    except (ValueError, KeyError):
        return None


def rtt(t):
    """The mean round trip of 200 small pings a to b, in microseconds."""
    r = t.run("a", "ping", "-q", "-c", "200", "-i", "0.005", "-s", "56", t.addr("b", 4),
              check=False, timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith(("rtt", "round-trip")):
            return float(line.split("=")[1].split("/")[1]) * 1000
    return None


def native(impl):
    """kame_ipsec loaded for its own runs only: loaded, its hooks and
    protocol handler see every namespace's packets, and XFRM's runs would
    pay for them (about 4% of a tunnel profile's samples)."""
    if impl != "xfrm":
        use("kame_ipsec")
    elif not rmmod("kame_ipsec", wait=120):
        raise RuntimeError("kame_ipsec would not unload")


def one_run(sc, impl, n):
    """One figure for impl, or why it has none: its peers set up afresh,
    a warm-up run, the measured run, the teardown."""
    native(impl)
    t, why = setup(sc, impl, n)
    try:
        if why:
            return None, why
        if WARMUP_SECS:
            iperf(t, WARMUP_SECS)
        return (iperf(t), rtt(t)), None
    finally:
        t.__exit__(None, None, None)


def measure(sc, n):
    """{impl: [Mbit/s per run] or None}, runs alternating between impls."""
    figs = {impl: [] for impl in IMPLS}
    for rep in range(1, REPS + 1):
        for impl in IMPLS:
            if figs[impl] is None:
                continue
            m, why = one_run(sc, impl, n)
            if why:
                print("bench: %s extra=%d impl=%s unavailable: %s" % (sc.name, n, impl, why))
                figs[impl] = None
                continue
            (mbit, us) = m
            print("bench: %s extra=%d impl=%s run=%d mbit_s=%s rtt_us=%s" % (
                sc.name, n, impl, rep, "%.1f" % mbit if mbit else "failed",
                "%.0f" % us if us else "failed"), flush=True)
            if mbit:
                figs[impl].append(mbit)
    return figs


def median(runs):
    """The middle run (the lower middle of an even count)."""
    return sorted(runs)[(len(runs) - 1) // 2]


def ratio(what, num, den):
    if num and den:
        print("ratio: %s %.2f (%.1f / %.1f Mbit/s, best runs)" % (what, max(num) / max(den),
                                                                  max(num), max(den)))
        # One implementation's runs may spread more than the other's: the
        # best run alone can rest on a lucky one.
        print("ratio: %s %.2f (%.1f / %.1f Mbit/s, median runs)" % (
            what, median(num) / median(den), median(num), median(den)))
    else:
        print("ratio: %s n/a (%s)" % (what, "no figure for kame_ipsec" if not num else
                                      "no figure for xfrm"))


def main():
    print("# bench_dataplane: runs=%d x %d s, extra entries %d, kernel %s (%d vCPUs)" % (
        REPS, SECS, N, os.uname().release, os.cpu_count()), flush=True)
    for i, sc in enumerate(VARIANTS):
        if CASES and not any(c in sc.name for c in CASES):
            continue
        base = measure(sc, 0)
        ratio("%s kame/xfrm" % sc.name, base["kame"], base["xfrm"])
        if "kame-sync" in IMPLS:
            ratio("%s kame/kame-sync" % sc.name, base["kame"], base["kame-sync"])
        if i == 0 and N:
            full = measure(sc, N)
            ratio("%s kame/xfrm with %d extra" % (sc.name, N), full["kame"], full["xfrm"])
            for impl in IMPLS:
                ratio("%s %s %d extra / none" % (sc.name, impl, N), full[impl], base[impl])


if __name__ == "__main__":
    main()
