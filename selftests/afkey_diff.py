#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Differential test against Linux's af_key (KTAP): every scenario of
afkey_diff_cases.py (raw PF_KEY messages, and setkey(8) scripts from
selftests/diff/*.conf) runs once with af_key loaded and once with
kame_ipsec loaded, each time in a network namespace of its own, and every
message each side sends back is compared field by field.

  one scenario, one fresh netns per backend:

    S (sender) ----request----> PF_KEY (af_key | kame_ipsec)
    R (REGISTERed for ESP and AH)  <--- broadcasts
    P (X_PROMISC)                  <--- copies of everything
    setkey -D / -DP at the end     (the project's rust/tools setkey)

What is recorded per step: the write's result (length or errno), every
message queued on S, R and P, in order; setkey's output and status. What
is normalised, and nothing else: sadb_lifetime_addtime of CURRENT lifetimes
within the run's time window ("<now>"), SPIs GETSPI chose at random,
reqids the kernel generated (0x4000 and up), pids setkey put in its
requests, and setkey -D/-DP's dates and refcnt column.

Where kame_ipsec differs on purpose (Documentation/pfkey.rst, "Intended
differences from af_key"), the difference is asserted: af_key must give
one value and kame_ipsec the other, or the test fails. Any other
difference fails with a diff naming the step, the socket, the message's
index, the extension field and both values.

Runs as root in the test VM. Needs kame_ipsec unloaded or unloadable.
"""
import ctypes
import json
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pfkey_msg import fields, parse  # noqa: E402
from pfkey_probe import errname, open_pfkey  # noqa: E402
from ktap import rmmod, use  # noqa: E402
import afkey_diff_cases as cases  # noqa: E402

TOP = os.environ.get("KAME_TOP") or os.path.dirname(HERE)
SETKEY = os.path.join(TOP, "rust", "tools", "target", "release", "setkey")
BACKENDS = ("af_key", "kame_ipsec")
SCENARIO_TIMEOUT = 120
MODPROBE = "/proc/sys/kernel/modprobe"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# ---- Recording one scenario -------------------------------------------------

class Recorder:
    """The sockets of one scenario and the record of what they received.
    Each step is {"label", "sock", "result", "msgs": {"S": [hex...], ...},
    "flags": [...]} or a note {"label", "note": value}."""

    PID = 4242

    def __init__(self, plain=False):
        self.steps = []
        self.t0 = int(time.time())
        self.seq = 100
        self.socks = {}
        if plain:
            self.socks["S"] = open_pfkey()
            return
        # Oldest first: af_key delivers to the newest socket first.
        for name in ("P", "R", "S"):
            self.socks[name] = open_pfkey()
        self.send(self.msg_hdr(11, satype=1), "setup: P turns promiscuous", sock="P")
        self.send(self.msg_hdr(7, satype=3), "setup: R registers for ESP", sock="R")
        self.send(self.msg_hdr(7, satype=2), "setup: R registers for AH", sock="R")

    def next_seq(self):
        self.seq += 1
        return self.seq

    def msg_hdr(self, mtype, satype=0):
        from pfkey_msg import msg
        return msg(mtype, satype=satype, seq=self.next_seq(), pid=self.PID)

    def drain(self, s, wait):
        out = []
        s.setblocking(False)
        while True:
            try:
                out.append(s.recv(1 << 16))
            except BlockingIOError:
                if not wait:
                    break
                # A dump is resumed by recvmsg; all else is queued by the
                # time the write returns.  Wait only while a dump is open.
                h = parse(out[-1])[0] if out else None
                if h is None or h["type"] not in (10, 18) or h["seq"] == 0 or h["errno"]:
                    break
                import select
                if not select.select([s], [], [], 2.0)[0]:
                    break
        return out

    def collect(self, first):
        msgs = {}
        order = [first] + [n for n in self.socks if n != first] if first else list(self.socks)
        for name in order:
            msgs[name] = [m.hex() for m in self.drain(self.socks[name], name == first)]
        return msgs

    def send(self, data, label, sock="S", intended=None, flags=()):
        """Writes data on socket sock; records what every socket then has.
        Returns the (header, exts, order) tuples the sender received."""
        t = time.time()
        try:
            res = self.socks[sock].send(data)
        except OSError as e:
            res = errname(e)
        msgs = self.collect(sock)
        self.steps.append(dict(label=label, sock=sock, result=res, msgs=msgs,
                               intended=intended, flags=list(flags), dt=time.time() - t))
        return [parse(bytes.fromhex(m)) for m in msgs[sock]]

    def note(self, label, value, intended=None, want=None):
        """Records a value; want, if given, is what both backends must show."""
        self.steps.append(dict(label=label, note=value, intended=intended, want=want))

    def setkey(self, args, label, stdin=None, intended=None, env=None):
        t = time.time()
        p = subprocess.run([SETKEY] + args, input=stdin, capture_output=True, text=True,
                           env=dict(os.environ, **(env or {})))
        out = p.stdout + ("" if not p.stderr else "--stderr--\n" + p.stderr)
        self.steps.append(dict(label=label, setkey=out, rc=p.returncode, intended=intended,
                               msgs=self.collect(None), dt=time.time() - t))

    def close(self):
        for s in self.socks.values():
            s.close()


def record(sc):
    """Runs scenario sc in a new network namespace (a forked child);
    returns its record."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            r = Recorder(plain=sc.plain)
            sc.fn(r)
            if sc.dumps:
                r.setkey(["-D"], "setkey -D")
                r.setkey(["-DP"], "setkey -DP")
            r.close()
            out = dict(steps=r.steps, t0=r.t0, t1=int(time.time()))
        except Exception as e:  # reported by the parent as a failure
            import traceback
            out = dict(error="%s\n%s" % (e, traceback.format_exc()))
        with os.fdopen(wfd, "w") as f:
            json.dump(out, f)
        os._exit(0)
    os.close(wfd)
    chunks, deadline = [], time.time() + SCENARIO_TIMEOUT
    import select
    with os.fdopen(rfd, "rb") as f:
        while True:
            left = deadline - time.time()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                os.kill(pid, 9)
                chunks = [b"timed out after %d s" % SCENARIO_TIMEOUT]
                break
            c = os.read(f.fileno(), 1 << 16)
            if not c:
                break
            chunks.append(c)
    data = b"".join(chunks).decode()
    os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return dict(error="the scenario's process died: %r" % data[:200])


# ---- Normalising and comparing ----------------------------------------------

POLICY_TYPES = (13, 14, 15, 16, 18, 20, 22)
TIME_SLACK = 5


class Norm:
    """Per-record tokens for what legitimately differs between runs."""

    def __init__(self, rec):
        self.lo, self.hi = rec["t0"] - TIME_SLACK, rec["t1"] + TIME_SLACK
        self.spis, self.reqids = {}, {}
        for st in rec["steps"]:
            if "random_spi" not in st.get("flags", ()):
                continue
            for m in st["msgs"].get(st["sock"], []):
                h, e, _ = parse(bytes.fromhex(m))
                if h["type"] == 1 and h["errno"] == 0 and 1 in e:
                    spi = int.from_bytes(e[1][4:8], "big")
                    self.spis.setdefault(spi, "<getspi#%d>" % (len(self.spis) + 1))

    def reqid(self, v):
        if v < 0x4000:
            return v
        return self.reqids.setdefault(v, "<auto-reqid#%d>" % (len(self.reqids) + 1))

    def message(self, hexmsg):
        out = []
        for path, v in fields(bytes.fromhex(hexmsg)):
            if path == "LIFETIME_CURRENT.addtime" and isinstance(v, int) and \
                    self.lo <= v <= self.hi:
                v = "<now>"
            elif path == "hdr.pid" and v not in (0, Recorder.PID):
                v = "<pid>"
            elif path.endswith(".spi") and v in self.spis:
                v = self.spis[v]
            elif re.search(r"req\[\d+\]\.reqid$", path):
                v = self.reqid(v)
            out.append((path, v))
        return out

    def text(self, s):
        s = re.sub(r"(created|current|lastused|last): [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}",
                   r"\1: <date>", s)
        s = re.sub(r"diff: \d+\(s\)", "diff: <n>(s)", s)
        s = re.sub(r"pid=\d+", "pid=<pid>", s)
        s = re.sub(r"refcnt=\d+", "refcnt=<n>", s)
        for spi, tok in self.spis.items():
            s = s.replace("spi=%d(0x%08x)" % (spi, spi), "spi=%s" % tok)

        def unique(m):
            return "unique%s%s" % (m.group(1), self.reqid(int(m.group(2))))
        return re.sub(r"unique([#:])(\d+)", unique, s)


def summary(st):
    """What an intended difference at step level is stated in."""
    if "note" in st:
        return st["note"]
    if "setkey" in st:
        return st["setkey"]
    got = []
    for m in st["msgs"][st["sock"]]:
        h = parse(bytes.fromhex(m))[0]
        got.append((h["type"], h["errno"]))
    return ["ok" if isinstance(st["result"], int) else st["result"], got]


def jsonish(v):
    return json.loads(json.dumps(v))


def compare(name, ra, rk, fired):
    """Differences between the af_key record ra and ours rk, as lines;
    intended differences met are added to fired[key]."""
    diffs = []
    na, nk = Norm(ra), Norm(rk)
    sa, sk = ra["steps"], rk["steps"]
    if len(sa) != len(sk):
        return ["the scenario took %d steps with af_key, %d with kame_ipsec" % (len(sa), len(sk))]
    for i, (a, k) in enumerate(zip(sa, sk)):
        where = "step %d (%s)" % (i, a["label"])
        key = a.get("intended")
        if key:
            rule = cases.INTENDED[key]
            want_a, want_k = jsonish(rule.afkey), jsonish(rule.ours)
            summ = rule.summarize or summary
            got_a, got_k = jsonish(summ(a)), jsonish(summ(k))
            if got_a == want_a and got_k == want_k:
                fired.setdefault(key, []).append("%s: %s" % (name, a["label"]))
            else:
                diffs.append("%s: intended difference %s: want af_key %r, kame_ipsec %r; got "
                             "af_key %r, kame_ipsec %r" % (where, key, want_a, want_k, got_a, got_k))
            continue
        if "note" in a:
            if a["note"] != k["note"]:
                diffs.append("%s: af_key %r, kame_ipsec %r" % (where, a["note"], k["note"]))
            elif a.get("want") is not None and a["note"] != a["want"]:
                diffs.append("%s: both %r, want %r" % (where, a["note"], a["want"]))
            continue
        if "setkey" in a:
            ta, tk = na.text(a["setkey"]), nk.text(k["setkey"])
            if (ta, a["rc"]) != (tk, k["rc"]):
                import difflib
                diffs.append("%s: setkey output differs (status %d vs %d):" % (where, a["rc"], k["rc"]))
                diffs += ["  " + l for l in difflib.unified_diff(
                    ta.splitlines(), tk.splitlines(), "af_key", "kame_ipsec", lineterm="", n=1)]
        elif a["result"] != k["result"]:
            diffs.append("%s: write returned af_key %r, kame_ipsec %r" % (where, a["result"], k["result"]))
        found = {}
        for sock in a["msgs"]:
            ma, mk = a["msgs"][sock], k["msgs"].get(sock, [])
            if len(ma) != len(mk):
                diffs.append("%s socket %s: af_key queued %d messages %s, kame_ipsec %d %s" % (
                    where, sock, len(ma), brief(ma), len(mk), brief(mk)))
            for j, (xa, xk) in enumerate(zip(ma, mk)):
                for d in compare_msg(name, "%s#%d" % (sock, j), na.message(xa),
                                     nk.message(xk), fired):
                    found.setdefault(d[1:], []).append(d[0])
        # The same difference in each copy of a message is listed once.
        for (path, va, vk), at in found.items():
            diffs.append("%s %s: %s: af_key %r, kame_ipsec %r" % (where, " ".join(at), path, va, vk))
    return diffs


def brief(ms):
    out = []
    for m in ms:
        h = parse(bytes.fromhex(m))[0]
        out.append("%d/%d" % (h["type"], h["errno"]))
    return "[" + " ".join(out) + "]"


def compare_msg(name, where, fa, fk, fired):
    """(where, path, af_key value, our value) for each field that differs
    and no intended difference explains.  Fields of extensions only one
    side has are summed up by the "exts" field."""
    da, dk = dict(fa), dict(fk)
    mtype = da.get("hdr.type")
    out = []
    for path in list(da) + [p for p in dk if p not in da]:
        va, vk = da.get(path, "<absent>"), dk.get(path, "<absent>")
        if va == vk:
            continue
        key = cases.field_rule(name, mtype, path, va, vk)
        if key:
            fired.setdefault(key, []).append("%s: %s" % (name, where))
            continue
        if (va == "<absent>" or vk == "<absent>") and da.get("exts") != dk.get("exts") and \
                "." in path and not path.startswith("hdr."):
            continue
        out.append((where, path, va, vk))
    return out


# ---- KTAP -------------------------------------------------------------------

results = []


def test(ok, desc, diag=()):
    results.append(bool(ok))
    if not ok:
        for line in diag[:60]:
            print("# " + line)
        if len(diag) > 60:
            print("# ... %d more lines" % (len(diag) - 60))
    print("%s %d %s" % ("ok" if ok else "not ok", len(results), desc), flush=True)


def main():
    scens = cases.scenarios(os.path.join(HERE, "diff"))
    if not os.environ.get("AFKEY_DIFF_KNOWN_BUGS"):
        skipped = [s for s in scens if s.known_bug]
        scens = [s for s in scens if not s.known_bug]
    else:
        skipped = []
    only = os.environ.get("AFKEY_DIFF_ONLY")
    if only:
        scens = [s for s in scens if re.search(only, s.name)]
        skipped = [s for s in skipped if re.search(only, s.name)]
    cases.SKIPPED[:] = skipped
    rules = sorted({k for s in scens for k in s.intended})
    # Each REGISTER makes af_key (xfrm_probe_algs) and kame_ipsec ask the
    # crypto API for every algorithm of their tables, and each the kernel
    # lacks makes it run modprobe: seconds per REGISTER under TCG, and
    # every scenario registers.  No crypto is modular in the test kernel,
    # so with the kernel's modprobe path empty the answers are the same.
    if os.environ.get("AFKEY_DIFF_LOAD"):
        # Compares saved records again (on any machine, no PF_KEY needed).
        import base64
        import zlib
        with open(os.environ["AFKEY_DIFF_LOAD"]) as f:
            line = [l for l in f if l.startswith("# records: ")][-1]
        recs = json.loads(zlib.decompress(base64.b64decode(line[11:])))
        print("TAP version 13")
        print("1..%d" % (len(scens) + len(rules) + len(cases.SKIPPED)))
        return verdicts(scens, rules, recs)
    with open(MODPROBE) as f:
        modprobe = f.read()
    with open(MODPROBE, "w") as f:
        f.write("\n")
    try:
        return run(scens, rules)
    finally:
        with open(MODPROBE, "w") as f:
            f.write(modprobe)


def run(scens, rules):
    print("TAP version 13")
    print("1..%d" % (len(scens) + len(rules) + len(cases.SKIPPED)))
    recs = {}
    t = {}
    for b in BACKENDS:
        t0 = time.time()
        use(b)
        recs[b] = {}
        for s in scens:
            t1 = time.time()
            recs[b][s.name] = record(s)
            if os.environ.get("AFKEY_DIFF_VERBOSE"):
                slow = sorted(((st.get("dt", 0), st["label"]) for st in
                               recs[b][s.name].get("steps", [])), reverse=True)[:3]
                print("# %s: %s recorded in %.1f s; slowest steps %s" % (
                    b, s.name, time.time() - t1, ["%.2f %s" % x for x in slow]), flush=True)
        ok = rmmod("af_key" if b == "af_key" else "kame_ipsec")
        t[b] = time.time() - t0
        if not ok:
            print("# could not unload %s" % b)
    print("# recorded %d scenarios: af_key %.1f s, kame_ipsec %.1f s" % (
        len(scens), t["af_key"], t["kame_ipsec"]))
    if os.environ.get("AFKEY_DIFF_SAVE"):
        # The guest's files do not outlive it: the records go to stdout.
        import base64
        import zlib
        print("# records: " + base64.b64encode(zlib.compress(json.dumps(recs).encode())).decode())
    return verdicts(scens, rules, recs)


def verdicts(scens, rules, recs):
    fired = {}
    for s in scens:
        ra, rk = recs["af_key"][s.name], recs["kame_ipsec"][s.name]
        if "error" in ra or "error" in rk:
            test(False, "%s: %s" % (s.name, s.doc),
                 ("af_key: " + ra.get("error", "ran") + "\nkame_ipsec: " +
                  rk.get("error", "ran")).splitlines())
            continue
        diffs = compare(s.name, ra, rk, fired)
        n = sum(len(m) for st in ra["steps"] for m in st.get("msgs", {}).values())
        test(not diffs, "%s: %s (%d steps, %d messages)" % (s.name, s.doc, len(ra["steps"]), n),
             diffs)
    for key in rules:
        rule = cases.INTENDED[key]
        want = [s.name for s in scens if key in s.intended]
        seen = sorted({w.split(":")[0] for w in fired.get(key, [])})
        test(want and set(want) <= set(seen), "intended difference: %s: af_key %s, kame_ipsec %s" % (
            rule.doc, rule.afkey_text, rule.ours_text),
            ["expected in %s, seen in %s" % (want, seen)])
    for s in cases.SKIPPED:
        results.append(True)
        print("ok %d %s: %s # SKIP known kame_ipsec bug (AFKEY_DIFF_KNOWN_BUGS=1 runs it): %s" % (
            len(results), s.name, s.doc, s.known_bug))
    failed = results.count(False)
    print("# Totals: pass:%d fail:%d" % (results.count(True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
