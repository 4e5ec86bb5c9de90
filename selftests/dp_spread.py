#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Inbound decryption on another CPU (KTAP; datapath.rst, "Decryption on
another CPU"; net.inet.ipsec.async_crypto): an ESP SA's packets are
decrypted on a CPU other than the one they arrive on, in order, through a
bounded per-CPU queue.

  [a] veth0 ------------------------------ veth0 [b]
      192.0.2.1                    192.0.2.2
  kame_ipsec at both ends, ESP AES-GCM-16 in transport mode; UDP from a
  to b only, so b alone decrypts (a veth delivers on the sender's CPU).
  "Held" below: a SCHED_FIFO busy loop on CPU 1 with RT throttling and
  the fair class's deadline server off meanwhile, so the CPU's queue
  worker does not run until the loop ends.

  Name                          Description
  steer: sent from CPU N        a sender pinned to CPU N: b's decryption
                                work (kame_rxq_run, the workqueue
                                tracepoint) runs on the other CPU only
  steer: async_crypto 0         the same with b's net.inet.ipsec.
                                async_crypto 0: no kame_rxq_run at all
  order: hopping sender         20 000 numbered datagrams from a sender
                                that moves to the other CPU every 100:
                                all arrive, in order; kame_rxq_run ran on
                                both CPUs; esps_input and in_success count
                                them, no drop counter moves
  order: moves while queued     CPU 1 held, a sender of higher priority
                                sends 200 datagrams from CPU 0 (queued on
                                CPU 1, not yet run: b's in_success shows
                                fewer than 200 when it is done), then 200
                                from CPU 1: those queue behind the first,
                                not on CPU 0; all 400 arrive in order,
                                three times over
  full: queue bounded           CPU 1 held, 3 000 datagrams: the queue
                                takes netdev_max_backlog of them (or
                                more, had the worker run), the rest are
                                esps_qfull drops; delivered plus dropped
                                is what was sent
  teardown WHAT                 CPU 1 held, 800 datagrams queued (b's
                                esps_input 800, in_success below it),
                                then WHAT: b's netns deleted, then
                                rmmod, which waits for every namespace's
                                exit; or rmmod at once: rmmod is still
                                waiting 2 s later, returns once CPU 1 is
                                free, the module unloads and the kernel
                                log has no splat

Needs exactly two online CPUs (the queue is not used with one; with more,
which CPU an SA goes to depends on its SPI): otherwise every test is a
SKIP.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import KO, Ktap, kmsg, loaded, run_in_netns, splats_since  # noqa: E402
from dp.sa import Config, Scenario  # noqa: E402
from dp.topo import Topology  # noqa: E402
from dp.trace import Events  # noqa: E402

PORT = 7100
# b's drop counters that no test here but "full" may move.
DROPS = ["esps_hdrops", "esps_replay", "esps_badauth", "esps_badenc", "esps_crypto",
         "esps_invalid", "esps_qfull", "exit_drops"]
TEARDOWN = ["netns exit", "rmmod"]
TESTS = ["steer: sent from CPU 0", "steer: sent from CPU 1", "steer: async_crypto 0",
         "order: hopping sender", "order: sender moves while queued", "full: queue bounded"] + ["teardown " + t for t in TEARDOWN]

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

# Receives datagrams on PORT until argv[1] seconds pass without one, or
# argv[2] have come (0: no such count); prints their numbers,
# space-separated.
SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
s.bind(("0.0.0.0", %d))
print("ready", flush=True)
s.settimeout(float(sys.argv[1]))
want = int(sys.argv[2])
got = []
try:
    while not want or len(got) < want:
        got.append(int(s.recv(64)))
except socket.timeout:
    pass
print(" ".join(map(str, got)), flush=True)
""" % PORT

# Holds the CPU argv[1] at SCHED_FIFO priority 1 for argv[2] seconds.
HOG = r"""
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
end = time.monotonic() + float(sys.argv[2])
print("holding", flush=True)
while time.monotonic() < end:
    pass
"""
# What leaves a CPU's other tasks some time under a SCHED_FIFO loop: RT
# throttling, and the deadline server of the fair class (debugfs), which
# hands them 50 ms a second. Both are off while a CPU is held, so what is
# queued there stays queued until the loop ends.
RT_RUNTIME = "/proc/sys/kernel/sched_rt_runtime_us"
FAIR_SERVER = "/sys/kernel/debug/sched/fair_server/cpu%d/runtime"


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
    """A UDP receiver in b, started on entry; .numbers() once idle for
    `idle` seconds, or once `want` datagrams came."""

    def __init__(self, topo, idle=3.0, want=0):
        self.p = topo.popen("b", sys.executable, "-c", SINK, str(idle), str(want),
                            stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("the sink did not start")

    def numbers(self, timeout=300):
        out, _ = self.p.communicate(timeout=timeout)
        return [int(x) for x in out.split()]


def send(topo, n, cpus, every=10**9, pause=0.0, fifo=0):
    topo.run("a", sys.executable, "-c", SENDER, topo.addr("b", 4), str(n), cpus, str(every),
             str(pause), str(PORT), str(fifo), timeout=600)


class Hog:
    """CPU `cpu` held by a SCHED_FIFO loop for at most `seconds`, nothing
    else running there meanwhile; .stop() ends it and puts the scheduler's
    settings back."""

    def __init__(self, topo, cpu, seconds):
        if not os.path.exists("/sys/kernel/debug/sched"):
            subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                           check=False)
        self.saved = []
        for path in (RT_RUNTIME, FAIR_SERVER % cpu):
            if os.path.exists(path):
                with open(path) as f:
                    self.saved.append((path, f.read().strip()))
                with open(path, "w") as f:
                    f.write("-1" if path == RT_RUNTIME else "0")
        self.p = topo.popen("a", sys.executable, "-c", HOG, str(cpu), str(seconds),
                            stdout=subprocess.PIPE, text=True)
        # Python starts slowly on the debug kernel: the loop must run
        # before anything is sent.
        if self.p.stdout.readline().strip() != "holding":
            raise RuntimeError("the hog did not start")

    def stop(self):
        try:
            self.p.terminate()
            self.p.wait(timeout=60)
        finally:
            for path, value in reversed(self.saved):
                with open(path, "w") as f:
                    f.write(value)


def hog(topo, cpu, seconds):
    return Hog(topo, cpu, seconds)


def runs_by_cpu(trace):
    """{CPU: kame_rxq_run executions} in a workqueue_execute_start trace."""
    out = {}
    for line in trace.splitlines():
        m = re.search(r"\[(\d+)\].*function kame_rxq_run", line)
        if m:
            out[int(m.group(1))] = out.get(int(m.group(1)), 0) + 1
    return out


def steer(k, ev):
    """Where b's decryption runs for a sender pinned to each CPU, and
    with async_crypto 0."""
    with Topology() as topo:
        setup(topo)
        for cpu, knob in ((0, 1), (1, 1), (0, 0)):
            desc = TESTS[cpu if knob else 2]
            try:
                topo.run("b", "sysctl", "-qw", "net.inet.ipsec.async_crypto=%d" % knob)
                # The sender's start takes seconds on the debug kernel.
                sink = Sink(topo, idle=30.0, want=200)
                ev.start()
                send(topo, 200, str(cpu), pause=0.002)
                got = sink.numbers()
                runs = runs_by_cpu(ev.stop())
                if knob:
                    ok, desc = runs.get(1 - cpu, 0) > 0 and cpu not in runs, \
                        desc + ": decrypted on CPU %d" % (1 - cpu)
                else:
                    ok, desc = not runs, desc + ": decrypted where received"
                k.test(len(got) == 200 and ok, desc,
                       "received %d of 200; kame_rxq_run runs by CPU: %s" % (len(got), runs))
            except Exception as ex:
                k.test(False, desc, "%s: %s" % (type(ex).__name__, ex))


def order(k, ev):
    """A sender moving between the CPUs."""
    n = 20000
    try:
        with Topology() as topo:
            setup(topo)
            before = stats(topo, "b")
            sink = Sink(topo, idle=30.0, want=n)
            ev.start()
            send(topo, n, "0,1", every=100, pause=0.001)
            got = sink.numbers()
            runs = runs_by_cpu(ev.stop())
            d = delta(before, stats(topo, "b"), "esps_input", "in_success", *DROPS)
        late = [(i, x) for i, x in enumerate(got) if i and x < got[i - 1]]
        want = dict({"esps_input": n, "in_success": n}, **{c: 0 for c in DROPS})
        k.test(got == list(range(n)) and d == want and len(runs) == 2,
               TESTS[3] + ": %d datagrams, all in order" % n,
               "received %d; out of order (index, number): %s; counters %s; "
               "kame_rxq_run runs by CPU: %s" % (len(got), late[:10], d, runs))
    except Exception as ex:
        k.test(False, TESTS[3], "%s: %s" % (type(ex).__name__, ex))


def moves_while_queued(k):
    """The SA's packets queued on CPU 1, its sender moving there: the
    next ones must not overtake them by another CPU."""
    desc, rounds, n = TESTS[4], 3, 200
    try:
        with Topology() as topo:
            setup(topo)
            bad, before = [], stats(topo, "b")
            for r in range(rounds):
                sink = Sink(topo, idle=30.0, want=2 * n)
                base = stats(topo, "b")["in_success"]
                h = hog(topo, 1, 60)
                send(topo, 2 * n, "0,1", every=n, fifo=2)
                # Else the first datagrams were through before the move.
                early = stats(topo, "b")["in_success"] - base
                if early >= n:
                    bad.append("round %d: %d delivered before CPU 1 was free" % (r, early))
                h.stop()
                got = sink.numbers()
                if got != list(range(2 * n)):
                    late = [(i, x) for i, x in enumerate(got) if i and x < got[i - 1]]
                    bad.append("round %d: received %d; out of order (index, number): %s"
                               % (r, len(got), late[:5]))
            d = delta(before, stats(topo, "b"), "in_success", *DROPS)
        want = dict({"in_success": rounds * 2 * n}, **{c: 0 for c in DROPS})
        k.test(not bad and d == want,
               desc + ": %d x %d datagrams in order" % (rounds, 2 * n),
               "\n".join(bad + ["counters %s" % d]))
    except Exception as ex:
        k.test(False, desc, "%s: %s" % (type(ex).__name__, ex))


def full(k):
    """The decrypting CPU starved: the queue's bound, and its drops."""
    n = 3000
    # A global setting, shown in the initial namespace only.
    limit = int(subprocess.run(["nsenter", "-t", "1", "-n", "cat",
                                "/proc/sys/net/core/netdev_max_backlog"],
                               capture_output=True, text=True, check=True).stdout)
    try:
        with Topology() as topo:
            setup(topo)
            before = stats(topo, "b")
            # Nothing arrives while the CPU is held, however long the
            # sender takes to start.
            sink = Sink(topo, idle=20.0)
            h = hog(topo, 1, 60)
            send(topo, n, "0")
            h.stop()
            got = sink.numbers()
            d = delta(before, stats(topo, "b"), "esps_input", "in_success", *DROPS)
        dropped = d["esps_qfull"]
        others = {c: d[c] for c in DROPS if c != "esps_qfull" and d[c]}
        ok = (d["esps_input"] == n and dropped > 0 and not others and
              d["in_success"] == len(got) >= limit and len(got) + dropped == n and
              got == sorted(got))
        k.test(ok, TESTS[5] + ": %d delivered (bound %d), %d dropped as esps_qfull"
               % (len(got), limit, dropped), "received %d; counters %s" % (len(got), d))
    except Exception as ex:
        k.test(False, TESTS[5], "%s: %s" % (type(ex).__name__, ex))


def teardown(k, what):
    """`what` while packets wait in the held CPU's queue."""
    desc = "teardown " + what
    mark = "kame-dp-spread: %s %f" % (desc, time.time())
    kmsg(mark)
    h = None
    try:
        with Topology() as topo:
            setup(topo)
            before = stats(topo, "b")
            h = hog(topo, 1, 60)
            send(topo, 800, "0")
            d = delta(before, stats(topo, "b"), "esps_input", "in_success")
            queued = d["esps_input"] == 800 and d["in_success"] < 800
            t0 = time.monotonic()
            if what == "netns exit":
                subprocess.run(["ip", "netns", "del", topo.ns("b")], check=True, timeout=120)
            # rmmod waits for the exit of every namespace, b's included,
            # which waits for its packets in the queue: it must still be
            # waiting while the CPU is held, and return once it is free.
            rm = subprocess.Popen(["rmmod", "kame_ipsec"])
            time.sleep(2)
            waited = rm.poll() is None
            h.stop()
            h = None
            done = rm.wait(timeout=120) == 0
            took = time.monotonic() - t0
        if not loaded("kame_ipsec"):
            subprocess.run(["insmod", KO], check=True)
        splats = splats_since(mark)
        k.test(queued and waited and done and not splats,
               desc + ": %d queued, rmmod waited for them, done in %.1f s, no splat"
               % (800 - d["in_success"], took),
               "counters before %s %s; rmmod waiting after 2 s %s, succeeded %s; %s"
               % (what, d, waited, done, "\n".join(splats)))
    except Exception as ex:
        k.test(False, desc, "%s: %s" % (type(ex).__name__, ex))
    finally:
        if h:
            h.stop()


def main():
    k = Ktap(len(TESTS))
    online = len(os.sched_getaffinity(0))
    ev = Events("workqueue/workqueue_execute_start")
    why = ("%d online CPUs, not 2" % online if online != 2 else
           None if ev.available() else "no workqueue tracepoint")
    if why:
        for t in TESTS:
            k.skip(t, why)
        return k.finish()
    steer(k, ev)
    order(k, ev)
    moves_while_queued(k)
    full(k)
    for what in TEARDOWN:
        teardown(k, what)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
