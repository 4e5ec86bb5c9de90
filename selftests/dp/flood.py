# SPDX-License-Identifier: GPL-2.0
"""Long-running traffic both ways over the stress test's flows
(dp/churn.py's FLOWS in a pair Topology), started together and stopped
together, each tool's own account of what it got:

- ping, each flow each way: small echoes every `small` seconds and large
  ones (the IP packet at the MTU, or 3000 bytes: fragmented once
  protected, or before) every `large` seconds; SIGINT ends them and their
  summary gives transmitted and received;
- iperf3 TCP both ways (GSO-sized segments from veth's TSO) over transport
  IPv4 and over the IPv6 tunnel, at a capped rate so that the churn keeps
  a CPU: one run per direction (a to b, and b to a with -R), each counted
  by its receiver, not one --bidir run (Debian's iperf3 3.12 server can
  die of its own `select failed: Bad file descriptor` in a long --bidir
  run, esnet/iperf#1977, and the forward count is then lost);
- UDP both ways over the IPv4 tunnel, datagrams of UDP_SIZES, from this
  file run as a script (iperf3 gives up at the first EPERM, which is what
  a send meets while a policy drops it); SIGINT ends both ends, which print
  what they sent and got.

As a script: `flood.py udp SRC DST PORT INTERVAL` sends to DST and counts
what arrives on SRC:PORT until SIGINT.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

# flow name -> large echo size
LARGE = {"transport v4": 1472, "transport v6": 3000, "tunnel v4": 3000, "tunnel v6": 1452}
# (flow name, port, extra iperf3 arguments)
IPERF = [("transport v4", 5201, ["-b", "4M"]), ("tunnel v6", 5202, ["-b", "4M"])]
UDP_FLOW, UDP_PORT = "tunnel v4", 5301
# Datagram sizes the UDP senders cycle through: one fragment, fragmented
# before protection (the whole datagram reaches our hook), several times.
UDP_SIZES = [200, 1400, 2500, 8000]
PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)


class Flood:
    def __init__(self, topo, flows, small=0.02, large=0.1):
        self.topo, self.flows = topo, {f.name: f for f in flows}
        self.small, self.large = small, large
        self.pings, self.iperfs = [], []

    def start_pings(self, names=None, small_only=False):
        for f in self.flows.values():
            if names and f.name not in names:
                continue
            for node, (src, dst) in (("a", f.sel), ("b", f.sel[::-1])):
                sizes = [(56, self.small)] + ([] if small_only else [(LARGE[f.name], self.large)])
                for size, every in sizes:
                    p = self.topo.popen(node, "ping", "-n", "-q", "-i", str(every), "-s",
                                        str(size), "-I", src, dst, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                    self.pings.append(("%s %s>%s %dB" % (f.name, node, "ba"[node == "b"], size),
                                       p))

    def start_iperfs(self, seconds, only=None):
        for name, port, extra in IPERF:
            if only and name not in only:
                continue
            a, b = self.flows[name].sel
            runs = []
            # A receiver gives up after 120 s without data by default; a
            # flow can stall that long on the debug kernel while its SAs
            # churn (TCP's backoff), so only the run's end may end it.
            idle = ["--rcv-timeout", str((seconds + 120) * 1000)]
            # b receives on `port`, a on `port + 100` (-R: the server sends);
            # iperf3 takes the timeout on the receiving side only.
            for p, reverse in ((port, []), (port + 100, ["-R"])):
                srv_idle, cli_idle = (idle, []) if not reverse else ([], idle)
                # No interval reports from the server: nobody reads its pipe
                # until the end, and a full pipe would stop it mid-run.
                srv = self.topo.popen("b", "iperf3", "-s", "-1", "-B", b, "-p", str(p),
                                      *srv_idle, "-i", "0", "--forceflush", stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
                end = time.monotonic() + 60
                while time.monotonic() < end and "listening" not in srv.stdout.readline():
                    pass
                cli = self.topo.popen("a", "iperf3", "-c", b, "-B", a, "-p", str(p), *reverse,
                                      *cli_idle, "-t", str(seconds), "-J", *extra,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
                runs.append((srv, cli))
            self.iperfs.append(("%s %s" % (name, "UDP" if "-u" in extra else "TCP"), runs))

    def start_udp(self, every=0.02):
        """A sender and receiver at each end of UDP_FLOW."""
        f = self.flows[UDP_FLOW]
        for node, (src, dst) in (("a", f.sel), ("b", f.sel[::-1])):
            p = self.topo.popen(node, PY, "-S", ME, "udp", src, dst, str(UDP_PORT), str(every),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            p.stdout.readline()  # "ready": bound, so the peer's first datagrams count
            self.pings.append(("%s UDP %s>%s" % (UDP_FLOW, node, "ba"[node == "b"]), p))

    def stop_pings(self, timeout=30):
        """{label: (transmitted, received) or the tool's last words}."""
        out = {}
        for _, p in self.pings:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for label, p in self.pings:
            try:
                text = p.communicate(timeout=timeout)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                text = "did not stop on SIGINT: " + p.communicate()[0]
            m = re.search(r"(\d+) (?:packets|datagrams) transmitted, (\d+) received", text)
            out[label] = (int(m[1]), int(m[2])) if m else text.strip()[-200:]
        self.pings = []
        return out

    def wait_iperfs(self, timeout):
        """{label: (exit status, bytes a got, bytes b got, note)}: the
        worst exit of the two runs; b's count from the forward run, a's
        from the reverse one."""
        out, end = {}, time.monotonic() + timeout
        for label, runs in self.iperfs:
            got, notes, rcs = [], [], []
            for srv, cli in runs:
                try:
                    text = cli.communicate(timeout=max(1, end - time.monotonic()))[0]
                    rc = cli.returncode
                except subprocess.TimeoutExpired:
                    cli.kill()
                    text, rc = cli.communicate()[0], "timeout"
                srv.kill()
                srv_text = srv.communicate()[0] or ""
                n, note = received(text)
                rcs.append(rc)
                got.append(n)
                if n <= 0:
                    # Short of bytes: what each end said, for the report.
                    note = "%s client: %s server: %s" % (note, text.strip()[-400:],
                                                         srv_text.strip()[-400:])
                notes.append(note)
            rc = next((r for r in rcs if r != 0), 0)
            out[label] = (rc, got[1], got[0], " / ".join(n for n in notes if n))
        self.iperfs = []
        return out

    def kill_iperfs(self):
        for _, runs in self.iperfs:
            for pair in runs:
                for p in pair:
                    if p.poll() is None:
                        p.kill()
                    p.communicate()
        self.iperfs = []


def received(text):
    """(bytes the receiver got, note) from one iperf3 -J run, whichever way
    it went: `sum_received` is the receiving end's count for TCP, `sum` the
    far end's for UDP."""
    try:
        end = json.loads(text)["end"]
    except (ValueError, KeyError):
        return 0, text.strip()[-300:]
    if "sum_received" in end:
        return end["sum_received"].get("bytes", 0), ""
    s = end.get("sum", {})
    return s.get("bytes", 0), "lost %s%%" % s.get("lost_percent")


def udp(src, dst, port, every):
    """Sends UDP_SIZES in turn to dst:port every `every` seconds, counts
    datagrams arriving on src:port; on SIGINT prints both as ping does.
    A failed send (EPERM while a policy drops) is counted, not fatal."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, int(port)))
    s.settimeout(float(every))
    print("ready", flush=True)
    sent = got = failed = i = 0
    try:
        while True:
            try:
                s.sendto(bytes(UDP_SIZES[i % len(UDP_SIZES)]), (dst, int(port)))
                sent += 1
            except OSError:
                failed += 1
            i += 1
            end = time.monotonic() + float(every)
            while time.monotonic() < end:
                try:
                    s.recv(65536)
                    got += 1
                except socket.timeout:
                    break
    except KeyboardInterrupt:
        pass
    print("%d datagrams transmitted, %d received, %d sends refused" % (sent, got, failed),
          flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "udp":
        udp(*sys.argv[2:])
