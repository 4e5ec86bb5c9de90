#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Inbound decryption on another CPU (KTAP; datapath.rst, "Decryption on
another CPU"): an ESP SA's packets are decrypted on a CPU other than the
one they arrive on, in order, through a bounded per-CPU queue.

  [a] veth0 ------------------------------ veth0 [b]
      192.0.2.1                    192.0.2.2
  kame_ipsec at both ends, ESP AES-GCM-16 in transport mode; UDP from a
  to b only, so b alone decrypts (a veth delivers on the sender's CPU).

  Name                          Description
  steer: sent from CPU N        a sender pinned to CPU N: b's decryption
                                work (kame_rxq_run, the workqueue
                                tracepoint) runs on the other CPU only
  order: hopping sender         20 000 numbered datagrams from a sender
                                that moves to the other CPU every 100:
                                all arrive, in order; esps_input and
                                in_success count them, esps_crypto nothing
  order: moves while queued     CPU 1 held by a SCHED_FIFO loop, a sender
                                of higher priority sends 200 datagrams
                                from CPU 0 (queued on CPU 1, not run),
                                then 200 from CPU 1: those queue behind
                                the first, not on CPU 0; all 400 arrive in
                                order, three times over
  full: queue bounded           the decrypting CPU held by a SCHED_FIFO
                                loop: of 3 000 datagrams the queue takes
                                what fits, the rest are esps_crypto drops;
                                delivered plus dropped is what was sent
  teardown WHAT                 the decrypting CPU held as above, 800
                                datagrams queued, then WHAT (b's netns
                                exit, rmmod): it completes and the kernel
                                log has no splat

Needs two online CPUs (the queue is not used with one): with one, every
test is a SKIP.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import KO, Ktap, kmsg, loaded, rmmod, run_in_netns, splats_since  # noqa: E402
from dp.sa import Config, Scenario  # noqa: E402
from dp.topo import Topology  # noqa: E402
from dp.trace import Events  # noqa: E402

PORT = 7100
TEARDOWN = ["netns exit", "rmmod"]
TESTS = ["steer: sent from CPU 0", "steer: sent from CPU 1", "order: hopping sender",
         "order: sender moves while queued", "full: queue bounded"] + ["teardown " + t for t in TEARDOWN]

# Sends argv[2] datagrams to argv[1], port argv[6], each its number;
# pinned to the CPUs of argv[3] in turn ("0,1"), moving every argv[4]
# datagrams; a pause of argv[5] seconds every 20 datagrams (0: none); at
# SCHED_FIFO priority argv[7] if not 0.
SENDER = r"""
import os, socket, sys, time
dst, n, every, pause, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
cpus = [int(c) for c in sys.argv[3].split(",")]
if int(sys.argv[7]):
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(sys.argv[7])))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    if i % every == 0:
        os.sched_setaffinity(0, {cpus[(i // every) % len(cpus)]})
    s.sendto(b"%08d" % i, (dst, port))
    if pause and i % 20 == 19:
        time.sleep(pause)
"""

# Receives datagrams on PORT until argv[1] seconds pass without one;
# prints their numbers, space-separated.
SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
s.bind(("0.0.0.0", %d))
print("ready", flush=True)
s.settimeout(float(sys.argv[1]))
got = []
try:
    while True:
        got.append(int(s.recv(64)))
except socket.timeout:
    pass
print(" ".join(map(str, got)), flush=True)
""" % PORT

# Holds the CPU argv[1] at SCHED_FIFO priority 1 for argv[2] seconds: the
# kernel's RT throttling still leaves the CPU's other tasks about 5%.
HOG = r"""
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


def stats(topo, node):
    out = topo.run(node, "cat", "/proc/net/kame_ipsec/ipsecstat",
                   "/proc/net/kame_ipsec/espstat").stdout
    return {f[0]: int(f[1]) for f in (line.split() for line in out.splitlines()) if len(f) == 2}


def delta(before, after, *names):
    return {n: after.get(n, 0) - before.get(n, 0) for n in names}


def setup(topo):
    cfg = Config(Scenario(esp=("aes-gcm-16", None)), topo)
    for node in ("a", "b"):
        cfg.install(node, "kame")


class Sink:
    """A UDP receiver in b, started on entry; .numbers() once idle."""

    def __init__(self, topo, idle=3.0):
        self.p = topo.popen("b", sys.executable, "-c", SINK, str(idle),
                            stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("the sink did not start")

    def numbers(self, timeout=300):
        out, _ = self.p.communicate(timeout=timeout)
        return [int(x) for x in out.split()]


def send(topo, n, cpus, every=10**9, pause=0.0, fifo=0):
    topo.run("a", sys.executable, "-c", SENDER, topo.addr("b", 4), str(n), cpus, str(every),
             str(pause), str(PORT), str(fifo), timeout=600)


def hog(topo, cpu, seconds):
    return topo.popen("a", sys.executable, "-c", HOG, str(cpu), str(seconds))


def steer(k):
    """Where b's decryption runs for a sender pinned to each CPU."""
    ev = Events("workqueue/workqueue_execute_start")
    if not ev.available():
        for cpu in (0, 1):
            k.skip(TESTS[cpu], "no workqueue tracepoint")
        return
    with Topology() as topo:
        setup(topo)
        for cpu in (0, 1):
            try:
                sink = Sink(topo, idle=1.0)
                ev.start()
                send(topo, 200, str(cpu), pause=0.002)
                got = sink.numbers()
                trace = ev.stop()
                by_cpu = {}
                for line in trace.splitlines():
                    m = re.search(r"\[(\d+)\].*function kame_rxq_run", line)
                    if m:
                        by_cpu[int(m.group(1))] = by_cpu.get(int(m.group(1)), 0) + 1
                other = 1 - cpu
                k.test(len(got) == 200 and by_cpu.get(other, 0) > 0 and cpu not in by_cpu,
                       TESTS[cpu] + ": decrypted on CPU %d" % other,
                       "received %d of 200; kame_rxq_run runs by CPU: %s" % (len(got), by_cpu))
            except Exception as ex:
                k.test(False, TESTS[cpu], "%s: %s" % (type(ex).__name__, ex))


def order(k):
    """A sender moving between the CPUs while packets are queued."""
    n = 20000
    try:
        with Topology() as topo:
            setup(topo)
            before = stats(topo, "b")
            sink = Sink(topo)
            send(topo, n, "0,1", every=100, pause=0.001)
            got = sink.numbers()
            d = delta(before, stats(topo, "b"), "esps_input", "in_success", "esps_crypto")
        late = [(i, x) for i, x in enumerate(got) if i and x < got[i - 1]]
        k.test(got == list(range(n)) and d == {"esps_input": n, "in_success": n,
                                               "esps_crypto": 0},
               TESTS[2] + ": %d datagrams, all in order" % n,
               "received %d; out of order (index, number): %s; counters %s"
               % (len(got), late[:10], d))
    except Exception as ex:
        k.test(False, TESTS[2], "%s: %s" % (type(ex).__name__, ex))


def moves_while_queued(k):
    """The SA's packets queued on CPU 1, its sender moving there: the
    next ones must not overtake them by another CPU."""
    desc, rounds, n = TESTS[3], 3, 200
    try:
        with Topology() as topo:
            setup(topo)
            bad, before = [], stats(topo, "b")
            for r in range(rounds):
                sink = Sink(topo, idle=4.0)
                h = hog(topo, 1, 1.5)
                time.sleep(0.3)
                send(topo, 2 * n, "0,1", every=n, fifo=2)
                h.wait(timeout=60)
                got = sink.numbers()
                if got != list(range(2 * n)):
                    late = [(i, x) for i, x in enumerate(got) if i and x < got[i - 1]]
                    bad.append("round %d: received %d; out of order (index, number): %s"
                               % (r, len(got), late[:5]))
            d = delta(before, stats(topo, "b"), "in_success", "esps_crypto")
        k.test(not bad and d == {"in_success": rounds * 2 * n, "esps_crypto": 0},
               desc + ": %d x %d datagrams in order" % (rounds, 2 * n),
               "\n".join(bad + ["counters %s" % d]))
    except Exception as ex:
        k.test(False, desc, "%s: %s" % (type(ex).__name__, ex))


def full(k):
    """The decrypting CPU starved: the queue's bound, and its drops."""
    n = 3000
    try:
        with Topology() as topo:
            setup(topo)
            before = stats(topo, "b")
            # Idle for longer than the hog holds the CPU.
            sink = Sink(topo, idle=8.0)
            h = hog(topo, 1, 4)
            time.sleep(0.5)
            send(topo, n, "0")
            h.wait(timeout=60)
            got = sink.numbers()
            d = delta(before, stats(topo, "b"), "esps_input", "in_success", "esps_crypto")
        ok = (d["esps_input"] == n and d["esps_crypto"] > 0 and
              d["in_success"] == len(got) and len(got) + d["esps_crypto"] == n and
              got == sorted(got))
        k.test(ok, TESTS[4] + ": %d delivered, %d dropped" % (len(got), d["esps_crypto"]),
               "received %d; counters %s" % (len(got), d))
    except Exception as ex:
        k.test(False, TESTS[4], "%s: %s" % (type(ex).__name__, ex))


def teardown(k, what):
    """`what` while packets wait in the starved CPU's queue."""
    desc = "teardown " + what
    mark = "kame-dp-spread: %s %f" % (desc, time.time())
    kmsg(mark)
    try:
        with Topology() as topo:
            setup(topo)
            h = hog(topo, 1, 3)
            time.sleep(0.5)
            send(topo, 800, "0")
            t0 = time.monotonic()
            if what == "netns exit":
                subprocess.run(["ip", "netns", "del", topo.ns("b")], check=True, timeout=120)
                done = True
            else:
                done = rmmod("kame_ipsec", wait=120)
            took = time.monotonic() - t0
            h.wait(timeout=60)
            # A namespace is torn down after `ip netns del` returns (in
            # netns_wq): give it the time to run into any fault.
            time.sleep(3)
        if what == "rmmod" and not loaded("kame_ipsec"):
            subprocess.run(["insmod", KO], check=True)
        splats = splats_since(mark)
        k.test(done and not splats, desc + ": completes (%.1f s), no splat" % took,
               "done %s; %s" % (done, "\n".join(splats)))
    except Exception as ex:
        k.test(False, desc, "%s: %s" % (type(ex).__name__, ex))


def main():
    k = Ktap(len(TESTS))
    if len(os.sched_getaffinity(0)) < 2 or not os.path.exists("/sys/devices/system/cpu/cpu1"):
        for t in TESTS:
            k.skip(t, "one CPU: nothing is queued")
        return k.finish()
    steer(k)
    order(k)
    moves_while_queued(k)
    full(k)
    for what in TEARDOWN:
        teardown(k, what)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
