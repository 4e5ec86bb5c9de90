#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Where the data path's time goes (not a test; datapath.rst, "Throughput"):
for each implementation named (xfrm, kame; xfrm-loaded: XFRM with
kame_ipsec loaded but holding nothing), the benchmark's first scenario
(dp/bench.py: ESP transport AES-GCM-16 between a pair Topology's
namespaces; KAME_PROFILE_MODE=tunnel for tunnel mode, KAME_PROFILE_ESP=cbc
for AES-CBC with HMAC-SHA-256), one iperf3 TCP
stream a to b for KAME_PROFILE_SECS (default 30) seconds, during which:

- `perf record -a -g` for half the run, reported by symbol, self and with
  children (kallsyms only: perf reading vmlinux's debug information over
  9p under TCG takes longer than the run);
- `ss -tin` at both ends a third into the run (cwnd, srtt, what limits
  the flow);
- the TcpExt/Ip counters that moved (nstat), each end;
- the samples by CPU and task, and by CPU and symbol (with two vCPUs:
  how busy each was; idle time is `swapper` in `default_idle`);
- kame_ipsec.ko's own samples symbol by symbol (down to 0.1%: XFRM's
  code is among vmlinux's, ours is all in the module).

KAME_PROFILE_CALLERS names symbols (comma-separated, e.g.
__pi_memcpy) whose callers are printed too, as call chains;
KAME_PROFILE_CALLEES parts of symbol names whose callees are;
KAME_PROFILE_OFFSETS parts of symbol names whose hottest instruction
offsets are (read them against `objdump -d` of the module on the host);
KAME_PROFILE_SELF_LIMIT the least share (percent, default 0.5) of the
symbols listed by their own samples; KAME_PROFILE_FREQ the samples a
second (default 499).

Under QEMU's -icount (VM_QEMU_OPTS="-icount shift=0" with VM_CPUS=1)
the guest's clock counts instructions: the figures then compare
instructions per byte, not at the mercy of the host's load, but an
instruction weighs the same whatever it is (an AES round, a byte of
`rep movsb`), so only the code around the crypto compares fairly.

kame_ipsec is loaded for kame and unloaded for xfrm (bench.native()).
Run it with one vCPU to keep spinlock contention between vCPUs (a TCG
artefact) out of the figures:

    VM_CPUS=1 scripts/vm-run selftests/dp/profile.py kame xfrm
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dp import bench, case  # noqa: E402
from dp.sa import Scenario  # noqa: E402
from dp.perf_report import NOSYM, callees, offsets, report  # noqa: E402

SECS = int(os.environ.get("KAME_PROFILE_SECS", "30"))
MODE = os.environ.get("KAME_PROFILE_MODE", "transport")
ESP = {"gcm": case.GCM, "cbc": case.CBC}[os.environ.get("KAME_PROFILE_ESP", "gcm")]
CALLERS = [s for s in os.environ.get("KAME_PROFILE_CALLERS", "").split(",") if s]
SELF_LIMIT = os.environ.get("KAME_PROFILE_SELF_LIMIT", "0.5")
CALLEES = [s for s in os.environ.get("KAME_PROFILE_CALLEES", "").split(",") if s]
OFFSETS = [s for s in os.environ.get("KAME_PROFILE_OFFSETS", "").split(",") if s]
FREQ = os.environ.get("KAME_PROFILE_FREQ", "499")


def counters(t, node):
    out = t.run(node, "nstat", "-az", "--json", check=False).stdout
    try:
        return {k: v for table in json.loads(out).values() for k, v in table.items()}
    except ValueError:
        return {}


def profile(name):
    # "xfrm-loaded": XFRM's SAs with kame_ipsec loaded but unused, what
    # its hooks and handler cost XFRM's traffic (todo.rst [X]).
    impl = "xfrm" if name == "xfrm-loaded" else name
    bench.native("kame" if name == "xfrm-loaded" else impl)
    t, why = bench.setup(Scenario(esp=ESP, mode=MODE), impl, 0)
    try:
        if why:
            print("== %s: unavailable: %s" % (name, why))
            return
        addr = t.addr("b", 4)
        server = t.popen("b", "iperf3", "-s", "-1", "-i", "0", "--forceflush", "-B", addr,
                         stdout=subprocess.PIPE, text=True)
        while "listening" not in server.stdout.readline():
            pass
        before = {n: counters(t, n) for n in "ab"}
        client = t.popen("a", "iperf3", "-c", addr, "-t", str(SECS), "-J",
                         stdout=subprocess.PIPE, text=True)
        # perf takes seconds to start under TCG, the transfer competing:
        # it records for half the run, from about its start.
        data = "/tmp/kame-profile-%s.data" % name
        perf = subprocess.Popen(["perf", "record", "-a", "-g", "-F", FREQ, "-o", data, "--",
                                 "sleep", str(SECS // 2)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(SECS // 3)
        flows = {n: t.run(n, "ss", "-tin", check=False).stdout for n in "ab"}
        perf.wait()
        out = client.communicate()[0]
        server.kill()
        server.wait()
        try:
            mbit = "%.1f" % (json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6)
        except (ValueError, KeyError):
            mbit = "failed"
        print("== %s %s %s: %s Mbit/s" % (name, MODE, ESP[0], mbit), flush=True)
        for n in "ab":
            after = counters(t, n)
            moved = {k: after[k] - before[n].get(k, 0) for k in sorted(after)
                     if after[k] != before[n].get(k, 0) and k.startswith(("Tcp", "Ip"))}
            print("-- %s: ss -tin\n%s\n-- %s: counters moved %s" % (n, flows[n], n, moved))
        print("-- by object\n" + report(data, "--no-children", "--sort", "dso", "-g", "none"))
        # With two vCPUs: how busy each was (idle shows as the idle loop's
        # symbols), and which of them the throughput is bound by.
        print("-- by cpu and task\n" + report(data, "--no-children", "--sort", "cpu,comm",
                                               "-g", "none", "--percent-limit", "0.5"))
        print("-- by cpu and symbol\n" + report(data, "--no-children", "--sort", "cpu,sym",
                                                 "-g", "none", "--percent-limit", "1"))
        print("-- self\n" + report(data, "--no-children", "--sort", "sym", "-g", "none",
                                   "--percent-limit", SELF_LIMIT))
        # Our module's own code symbol by symbol (XFRM's is in vmlinux,
        # among the kernel's): what kame_ipsec.ko's share is made of.
        print("-- self in kame_ipsec\n" + report(data, "--no-children", "--dsos", "[kame_ipsec]",
                                                  "--percentage", "absolute", "--sort", "sym",
                                                  "-g", "none", "--percent-limit", "0.1"))
        print("-- with children\n" + report(data, "--children", "--sort", "sym", "-g", "none",
                                            "--percent-limit", "2"), flush=True)
        for sym in CALLERS:
            print("-- callers of %s\n" % sym + report(data, "--no-children", "--sort", "sym",
                                                      "-S", sym, "-g", "graph,0.5,callee"),
                  flush=True)
        for sym in CALLEES:
            print("-- callees of %s\n" % sym + callees(data, sym), flush=True)
        for sym in OFFSETS:
            print("-- hottest offsets in %s\n" % sym + offsets(data, sym), flush=True)
    finally:
        t.__exit__(None, None, None)


def main():
    os.makedirs(NOSYM, exist_ok=True)
    for impl in sys.argv[1:] or bench.IMPLS:
        profile(impl)


if __name__ == "__main__":
    main()
