#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""esps_crypto and ahs_crypto (KTAP; issue 6 item 3): the crypto layer
failing for a reason other than a bad ICV, made to happen by a test-only
driver, kame_failcrypto.ko (selftests/modules/kame_failcrypto, built by
`make module`): it registers "seqiv(rfc4106(gcm(aes)))" (what our
AES-GCM-16 ESP SAs allocate) and "hmac(sha256)" (AH HMAC-SHA-256) above
every real driver, and fails each request with -EIO, at once (async=0) or
later from a workqueue (async=1).

  [a] veth0 192.0.2.1  fd00:1::1 ---------- 192.0.2.2  fd00:1::2 veth0 [b]
      kame_ipsec (setkey)                    XFRM (ip xfrm), states added
      ESP AES-GCM-16 over IPv4,              before kame_failcrypto is
      AH HMAC-SHA-256 over IPv6,             loaded: real crypto
      `require` both ways                    UDP datagrams to port 4700

  Name                         Description
  before                       b's XFRM states hold real drivers
  MODE: drivers registered     insmod kame_failcrypto async=0|1: both names
                               resolve to its drivers ("async" as MODE)
  MODE: SAs use them           a's SAs added now: each driver's refcnt 1 -> 3
  MODE: ESP in                 5 datagrams b > a: b puts 5 ESP packets on
                               the wire, none is delivered; a: esps_input,
                               in_esphist aes-gcm-16, esps_crypto +5 and no
                               other counter (XFRM's included); b: none
  MODE: ESP in: driver         the driver failed 5 AEAD requests and no hash
                               request; 5 skb:kfree_skb events at
                               kame_drop_crypto, reason NOMEM
  MODE: ESP out                5 datagrams a > b: nothing between a and b on
                               the wire, none delivered; a: esps_crypto +5,
                               esps_obytes + their ESP payloads (counted
                               before the crypto, as KAME does), no other;
                               b: none
  MODE: AH in, AH out          the same for AH (ahs_input, in_ahhist
                               hmac-sha256, ahs_crypto; ahs_obytes)
  MODE: freed, rmmod           SADB_FLUSH at a: each refcnt back to 1;
                               rmmod kame_failcrypto succeeds, its drivers
                               leave /proc/crypto
  MODE: no kernel splat        nothing in dmesg since the phase began
  control: real drivers        the names resolve to real drivers again
  control: ESP in ... AH out   the same traffic over fresh SAs at a: all
                               delivered, protected on the wire; exactly
                               the success counters move (esps_input,
                               in_espauthsucc, esps_ibytes, in_success,
                               histograms...), no crypto or other drop
  control: no drop events      no kame_drop_* skb:kfree_skb event
  cleanup                      every namespace created is gone

MODE is sync, then async. The module is unloaded whatever fails, so the
tests after this one get real crypto.
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import TOP, Ktap, kmsg, run_in_netns, splats_since  # noqa: E402
from dp import crypto_user as cu  # noqa: E402
from dp.inject import AH, ESP, SETTLE, Counters, Port, Rx, Tx, locate, spi_seq  # noqa: E402
from dp.sa import SETKEY, Config, Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402
from dp.trace import Drops  # noqa: E402

FAIL = "kame_failcrypto"
FAIL_KO = os.path.join(TOP, "build", os.environ.get("KERNEL", "normal"), FAIL, FAIL + ".ko")
PARAMS = "/sys/module/%s/parameters/" % FAIL
# The names our SAs allocate, and the drivers kame_failcrypto registers.
AEAD, HASH = "seqiv(rfc4106(gcm(aes)))", "hmac(sha256)"
DRIVERS = {AEAD: "kame-failcrypto-rfc4106-gcm-aes", HASH: "kame-failcrypto-hmac-sha256"}
ESP_SC = Scenario(esp=("aes-gcm-16", None), fam="v4")
AH_SC = Scenario(ah="hmac-sha256", fam="v6")
PORT, N = 4700, 5
# The traffic steps: (name, protocol, address family, sender, receiver).
STEPS = [("ESP in", "esp", 4, "b", "a"), ("ESP out", "esp", 4, "a", "b"),
         ("AH in", "ah", 6, "b", "a"), ("AH out", "ah", 6, "a", "b")]
MODES = ["sync", "async"]
PHASE = (["drivers registered", "SAs use them"] +
         [s[0] + w for s in STEPS for w in ("", ": driver")] +
         ["freed, rmmod", "no kernel splat"])
CONTROL = ["real drivers"] + [s[0] for s in STEPS] + ["no drop events"]
# What each line asserts, after its name.
DESC = {
    "drivers registered": "%s and %s resolve to kame_failcrypto's drivers" % (AEAD, HASH),
    "SAs use them": "a's 4 SAs take them (each refcnt 1 -> 3)",
    "ESP in": "5 ESP packets from b, none delivered; a: esps_input, in_esphist aes-gcm-16, "
              "esps_crypto +5, nothing else; b: nothing",
    "ESP out": "nothing on the wire, none delivered; a: esps_crypto +5, esps_obytes +payloads, "
               "nothing else; b: nothing",
    "AH in": "5 AH packets from b, none delivered; a: ahs_input, in_ahhist hmac-sha256, "
             "ahs_crypto +5, nothing else; b: nothing",
    "AH out": "nothing on the wire, none delivered; a: ahs_crypto +5, ahs_obytes +payloads, "
              "nothing else; b: nothing",
    "freed, rmmod": "SADB_FLUSH gives the drivers back (refcnt 1), rmmod kame_failcrypto "
                    "succeeds, its drivers are gone",
    "no kernel splat": "nothing in dmesg",
}
for _n, _p in (("ESP", "AEAD"), ("AH", "hash")):
    for _d in ("in", "out"):
        DESC["%s %s: driver" % (_n, _d)] = (
            "the driver failed 5 %s requests, no other; 5 skb:kfree_skb events at "
            "kame_drop_crypto, reason NOMEM" % _p)
CONTROL_DESC = {
    "real drivers": "kame_failcrypto unloaded, fresh SAs at a: the names resolve to real "
                    "drivers",
    "ESP in": "5 ESP packets from b, all delivered; a: esps_input, in_espauthsucc, "
              "esps_ibytes, in_success, in_esphist aes-gcm-16 only",
    "ESP out": "5 ESP packets with a's SPI on the wire, all delivered; a: esps_output, "
               "esps_obytes, out_success, out_esphist aes-gcm-16 only",
    "AH in": "5 AH packets from b, all delivered; a: ahs_input, in_ahauthsucc, ahs_ibytes, "
             "in_success, in_ahhist hmac-sha256 only",
    "AH out": "5 AH packets with a's SPI on the wire, all delivered; a: ahs_output, "
              "ahs_obytes, out_success, out_ahhist hmac-sha256 only",
    "no drop events": "no kame_drop_* skb:kfree_skb event",
}


def payload_bytes(proto, marker):
    """What esps_obytes/ibytes (ESP payload, padding to 4 for GCM, the
    2-byte trailer) or ahs_obytes/ibytes (the payload) count for a UDP
    datagram carrying `marker` in transport mode."""
    udp = 8 + len(marker)
    return (udp + 2 + 3) // 4 * 4 if proto == "esp" else udp


def expected(proto, inbound, ok, markers):
    """The counters of a that must move, and by how much: a failed or, with
    ok, a successful step."""
    p, alg = ("esps", "esp") if proto == "esp" else ("ahs", "ah")
    row = "aes-gcm-16" if proto == "esp" else "hmac-sha256"
    nbytes = sum(payload_bytes(proto, m) for m in markers)
    n = len(markers)
    if inbound:
        d = {p + "_input": n, "in_%shist %s" % (alg, row): n}
        d.update({"in_%sauthsucc" % alg: n, p + "_ibytes": nbytes, "in_success": n}
                 if ok else {p + "_crypto": n})
    else:
        d = {p + "_obytes": nbytes}
        d.update({p + "_output": n, "out_%shist %s" % (alg, row): n, "out_success": n}
                 if ok else {p + "_crypto": n})
    return d


def loaded(name):
    with open("/proc/modules") as f:
        return any(line.split()[0] == name for line in f)


def failed_counts():
    """(AEAD, hash) requests kame_failcrypto has failed."""
    out = []
    for p in ("aead_failed", "hash_failed"):
        with open(PARAMS + p) as f:
            out.append(int(f.read()))
    return tuple(out)


def unload():
    """rmmod kame_failcrypto, retried while transforms are being freed;
    (ok, stderr)."""
    r = None
    for _ in range(50):
        r = subprocess.run(["rmmod", FAIL], capture_output=True, text=True)
        if r.returncode == 0:
            return True, ""
        time.sleep(0.2)
    return False, r.stderr.strip()


class Net:
    """The topology, each side's configuration, sockets and counters."""

    def __init__(self, topo):
        self.topo = topo
        self.cfg = {"esp": Config(ESP_SC, topo), "ah": Config(AH_SC, topo)}
        self.cnt = {n: Counters(topo.ns(n)) for n in ("a", "b")}
        self.tx, self.rx = {}, {}
        for n in ("a", "b"):
            for fam in (4, 6):
                addr = topo.addr(n, fam)
                self.tx[n, fam] = Tx(topo.ns(n), addr)
                self.rx[n, fam] = Rx(topo.ns(n), addr, PORT)
        drops = Drops()
        self.trace = drops if drops.available() else None
        self.seq = 0

    def setkey_a(self, text):
        r = self.topo.run("a", SETKEY, "-c", input=text, check=False)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            raise RuntimeError("setkey in a: %s%s" % (r.stdout, r.stderr))

    def sas_a(self, policies):
        self.setkey_a("".join(c.setkey("a", policies=policies) for c in self.cfg.values()))

    def close(self):
        for s in list(self.tx.values()) + list(self.rx.values()):
            s.close()

    def step(self, tag, proto, fam, src, dst, ok):
        """Sends N datagrams src > dst; (ok, diagnostics) of the counters,
        delivery and wire, and the driver's and the tracepoint's view as
        ([kame_drop_* events], (AEAD, hash) failures) for the caller."""
        self.seq += 1
        markers = [b"%s-%d-%d" % (tag.encode(), self.seq, i) for i in range(N)]
        saddr, daddr = self.topo.addr(src, fam), self.topo.addr(dst, fam)
        spi = [sa.spi for sa in self.cfg[proto].sas if sa.src == saddr][0]
        port = Port(self.topo.ns(src), "veth0")
        port.drain()
        before = {n: c.read() for n, c in self.cnt.items()}
        f0 = failed_counts() if loaded(FAIL) else (0, 0)
        if self.trace:
            self.trace.start()
        errors = []
        for m in markers:
            try:
                self.tx[src, fam].send(daddr, PORT, m)
            except OSError as e:
                errors.append(str(e))
        got = [m for m in self.rx[dst, fam].got(markers, SETTLE) if m in markers]
        want = expected(proto, src == "b", ok, markers)
        # Asynchronous completions run from a workqueue: wait for the
        # last counter to reach its value.
        last = "in_success" if ok and src == "b" else (
            "out_success" if ok else ("esps" if proto == "esp" else "ahs") + "_crypto")
        end = time.monotonic() + 10
        while (Counters.delta(before["a"], self.cnt["a"].read()).get(last, 0) < N and
               time.monotonic() < end):
            time.sleep(0.1)
        time.sleep(0.3)
        d = {n: Counters.delta(before[n], c.read()) for n, c in self.cnt.items()}
        events = self.trace.stop() if self.trace else None
        f1 = failed_counts() if loaded(FAIL) else (0, 0)
        frames = [f for t, f in port.frames(lambda t, f: True, wait=0.2)
                  if t == 4 and between(f, saddr, daddr)]
        port.close()
        protected = [f for f in frames if locate(f)[3] == (ESP if proto == "esp" else AH)
                     and spi_seq(f)[0] == spi]
        # Inbound, b (real crypto) sends N packets; outbound, a sends N
        # or, failing, nothing at all.
        want_wire = N if ok or src == "b" else 0
        good = (d["a"] == want and not d["b"] and not errors and
                len(frames) == want_wire and len(protected) == want_wire and
                len(got) == (N if ok else 0))
        diag = ("a: %s\nwanted %s\nb: %s\non the wire %d (%d protected with SPI %#x), "
                "delivered %d, send errors %s" % (d["a"], want, d["b"], len(frames),
                                                   len(protected), spi, len(got), errors))
        print("# %s: a %s; b %s; on the wire %d, delivered %d" % (
            tag, d["a"], d["b"], len(frames), len(got)), flush=True)
        return (good, diag), events, (f1[0] - f0[0], f1[1] - f0[1])


def between(frame, src, dst):
    """Whether the frame is an IP packet from src to dst."""
    loc = locate(frame)
    if loc is None:
        return False
    ip, v6, _, _ = loc
    fam, a, n = (socket.AF_INET6, 8, 16) if v6 else (socket.AF_INET, 12, 4)
    return (socket.inet_ntop(fam, frame[ip + a:ip + a + n]) == src and
            socket.inet_ntop(fam, frame[ip + a + n:ip + a + 2 * n]) == dst)


def phase(net, mode, first):
    """One MODE with kame_failcrypto loaded: {name: (ok, diagnostics)}."""
    res = {}
    mark = "kame-stats-crypto: %s" % mode
    kmsg(mark)
    try:
        subprocess.run(["insmod", FAIL_KO, "async=%d" % (mode == "async")], check=True,
                       capture_output=True)
        want_async = "yes" if mode == "async" else "no"
        got = {name: cu.resolve(name) for name in DRIVERS}
        res["drivers registered"] = (
            all(got[n] and got[n]["driver"] == d and got[n].get("async") == want_async
                for n, d in DRIVERS.items()),
            "resolved: %s" % {n: e and (e["driver"], e.get("async")) for n, e in got.items()})
        before = {d: cu.refcnt(d) for d in DRIVERS.values()}
        net.sas_a(policies=first)
        after = {d: cu.refcnt(d) for d in DRIVERS.values()}
        res["SAs use them"] = (all(before[d] == 1 and after[d] == 3 for d in before),
                               "refcnt %s, with a's SAs %s" % (before, after))
        for name, proto, fam, src, dst in STEPS:
            res[name], events, failed = net.step(mode + " " + name, proto, fam, src, dst, False)
            want = (N, 0) if proto == "esp" else (0, N)
            ok = failed == want
            diag = "requests failed (AEAD, hash): %s, want %s" % (failed, want)
            if events is not None:
                ok = ok and events == [("kame_drop_crypto", "NOMEM")] * N
                diag += "\nkfree_skb events: %s" % events
            res[name + ": driver"] = (ok, diag)
        net.setkey_a("flush;\n")
        refs = {d: cu.wait_refcnt(d, 1) for d in DRIVERS.values()}
        done, err = unload()
        gone = [d for d in DRIVERS.values() if cu.entry(d) is not None]
        res["freed, rmmod"] = (all(r == 1 for r in refs.values()) and done and not gone,
                               "refcnt after flush %s; rmmod: %s; still registered: %s"
                               % (refs, err or "ok", gone))
    except Exception as ex:
        res.setdefault("drivers registered", (False, "%s: %s" % (type(ex).__name__, ex)))
    finally:
        if loaded(FAIL):
            net.setkey_a("flush;\n")
            unload()
    bad = splats_since(mark)
    res["no kernel splat"] = (not bad, "\n".join(bad[:20]))
    return res


def control(net):
    """The same traffic without kame_failcrypto: {name: (ok, diagnostics)}."""
    res = {}
    try:
        net.setkey_a("flush;\n")
        net.sas_a(policies=False)
        got = {name: cu.resolve(name) for name in DRIVERS}
        res["real drivers"] = (
            all(e and not e["driver"].startswith("kame-failcrypto") for e in got.values()) and
            not loaded(FAIL),
            "resolved: %s" % {n: e and e["driver"] for n, e in got.items()})
        events = []
        for name, proto, fam, src, dst in STEPS:
            res[name], ev, _ = net.step("control " + name, proto, fam, src, dst, True)
            events += ev or []
        if net.trace:
            res["no drop events"] = (not events, "kfree_skb events: %s" % events)
    except Exception as ex:
        res.setdefault("real drivers", (False, "%s: %s" % (type(ex).__name__, ex)))
    return res


def report(k, prefix, names, res, desc):
    for n in names:
        r = res.get(n, (False, "not reached"))
        k.test(r[0], "%s%s: %s" % (prefix, n, desc[n]), r[1])


def main():
    plan = 1 + len(MODES) * len(PHASE) + len(CONTROL) + 1
    k = Ktap(plan)
    if loaded(FAIL):  # a previous run's, interrupted
        unload()
    try:
        with Topology("pair") as topo:
            net = Net(topo)
            try:
                for c in net.cfg.values():
                    c.install("b", "xfrm")
                got = {name: cu.resolve(name) for name in DRIVERS}
                k.test(all(e and not e["driver"].startswith("kame-failcrypto")
                           for e in got.values()),
                       "before: b's XFRM states hold real drivers (%s)" % ", ".join(
                           "%s -> %s" % (n, e and e["driver"]) for n, e in got.items()))
                for i, mode in enumerate(MODES):
                    report(k, mode + ": ", PHASE, phase(net, mode, i == 0), DESC)
                res = control(net)
                if not net.trace:
                    report(k, "control: ", CONTROL[:-1], res, CONTROL_DESC)
                    k.skip("control: " + CONTROL[-1], "no tracefs")
                else:
                    report(k, "control: ", CONTROL, res, CONTROL_DESC)
            finally:
                net.close()
    except Exception as ex:
        print("# %s: %s" % (type(ex).__name__, ex))
    finally:
        if loaded(FAIL):
            unload()
    for _ in range(plan - 1 - len(k.results)):
        k.test(False, "not run")
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
