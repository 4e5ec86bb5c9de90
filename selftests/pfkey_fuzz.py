#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""PF_KEY fuzzing in the VM (KTAP): rust/tools' pfkey-fuzz writes
KAME_FUZZ_N random and mutated messages (default 50000; KAME_FUZZ_N=1000000
for the debug-kernel run) from several sockets (registered, promiscuous,
plain, and a slow one whose dumps are started and abandoned, sockets closed
mid-way), deterministic from KAME_FUZZ_SEED, and checks every message the
kernel sends back. Afterwards the module must still answer, FLUSH and
SPDFLUSH must leave empty dumps, no socket may be left and rmmod must
succeed; selftests/run then checks the log for splats (and kmemleak on the
debug kernel).

  [netns of its own]  pfkey-fuzz -> 6 PF_KEY sockets -> kame_ipsec

Runs as root in the test VM, in a namespace of its own.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402

TOP = os.environ.get("KAME_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KO = os.path.join(TOP, "build", os.environ.get("KERNEL", "normal"), "kame_ipsec.ko")
FUZZ = os.path.join(TOP, "rust", "tools", "target", "release", "pfkey-fuzz")
N = int(os.environ.get("KAME_FUZZ_N", "50000"))
SEED = int(os.environ.get("KAME_FUZZ_SEED", "20261125"))
ESRCH, ENOENT = 3, 2

results = []


def test(ok, desc, diag=None):
    results.append(bool(ok))
    if not ok and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line)
    print("%s %d %s" % ("ok" if ok else "not ok", len(results), desc), flush=True)


def ask(s, m, timeout=1.0):
    s.send(m)
    rep = read_reply(s, timeout)
    return parse(rep) if rep else None


def drain(s):
    while read_reply(s, 0.1) is not None:
        pass


def loaded():
    with open("/proc/modules") as f:
        return any(l.startswith("kame_ipsec ") for l in f)


def proto_sockets():
    with open("/proc/net/protocols") as f:
        for line in f:
            cols = line.split()
            if cols and cols[0] == "KAME_KEY":
                return int(cols[2])
    return None


def fuzz():
    if not os.access(FUZZ, os.X_OK):
        test(False, "pfkey-fuzz is built (make tools)", FUZZ)
        test(False, "the run reached the handlers")
        return
    print("# pfkey-fuzz run %d %d" % (SEED, N), flush=True)
    t0 = time.monotonic()
    out = subprocess.run([FUZZ, "run", str(SEED), str(N)], capture_output=True, text=True)
    secs = time.monotonic() - t0
    for line in (out.stdout + out.stderr).splitlines():
        print("# " + line.lstrip("# "), flush=True)
    test(out.returncode == 0,
         "%d random and mutated messages (seed %d, %.0f s): every message read back "
         "well-formed, every errno af_key's" % (N, SEED, secs), "exit status %d" % out.returncode)
    m = re.search(r"^error replies: (.*); replies without error: (\d+)", out.stdout, re.M)
    errnos = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
    ok_replies = int(m.group(2)) if m else 0
    test(len(errnos) >= 6 and ok_replies > N // 50,
         "the run reached the handlers: %d distinct errnos in error replies, "
         "%d requests answered without error" % (len(errnos), ok_replies), m and m.group(0))


def after():
    s = open_pfkey()
    s.send(msg(FLUSH, satype=0, seq=1))
    s.send(msg(X_SPDFLUSH, seq=2))
    drain(s)
    r = ask(s, msg(DUMP, satype=0, seq=3))
    test(r and r[0]["errno"] == ENOENT, "after FLUSH the SA dump is empty (ENOENT)", r)
    r = ask(s, msg(X_SPDDUMP, seq=4))
    test(r and r[0]["errno"] == ENOENT, "after SPDFLUSH the policy dump is empty (ENOENT)", r)
    add = msg(ADD, [sa(0x4242, auth=5, enc=12), address(EXT_SRC, "10.0.0.1"),
                    address(EXT_DST, "10.0.0.2"), key(EXT_KEY_AUTH, bytes(32)),
                    key(EXT_KEY_ENC, bytes(16))], satype=SATYPE_ESP, seq=5)
    ref = [sa(0x4242), address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.2")]
    r1 = ask(s, add)
    r2 = ask(s, msg(GET, ref, satype=SATYPE_ESP, seq=6))
    r3 = ask(s, msg(DELETE, ref, satype=SATYPE_ESP, seq=7))
    r4 = ask(s, msg(GET, ref, satype=SATYPE_ESP, seq=8))
    test(r1 and r1[0]["errno"] == 0 and r2 and r2[0]["errno"] == 0 and
         sa_fields(r2[1][EXT_SA])["spi"] == 0x4242 and r3 and r3[0]["errno"] == 0 and
         r4 and r4[0]["errno"] == ESRCH,
         "the module still answers: ADD, GET, DELETE, then GET -> ESRCH", (r1, r2, r3, r4))
    sel = [address(EXT_SRC, "10.0.0.0", 24), address(EXT_DST, "10.0.1.0", 24)]
    r1 = ask(s, msg(X_SPDADD, sel + [policy(2, 2, [ipsecrequest(50, 1, 2)])], seq=9))
    pid = r1 and policy_fields(r1[1][EXT_POLICY])["id"]
    r2 = ask(s, msg(X_SPDDELETE2, [policy(2, policy_id=pid or 0)], seq=10))
    r3 = ask(s, msg(X_SPDDUMP, seq=11))
    test(r1 and r1[0]["errno"] == 0 and r2 and r2[0]["errno"] == 0 and
         r3 and r3[0]["errno"] == ENOENT,
         "SPDADD, SPDDELETE2 by its id, then an empty policy dump", (r1, r2, r3))
    s.close()
    test(proto_sockets() == 0, "no PF_KEY socket left open", proto_sockets())


def main():
    if "--in-netns" not in sys.argv:
        return subprocess.run(["unshare", "-n", sys.executable, __file__, "--in-netns"]).returncode
    was_loaded = loaded()
    if not was_loaded:
        subprocess.run(["insmod", KO], check=True)
    plan = 2 + 5 + 1
    print("TAP version 13")
    print("1..%d" % plan)
    fuzz()
    after()
    if was_loaded:
        results.append(True)
        print("ok %d rmmod kame_ipsec succeeds # SKIP it was loaded before this test"
              % len(results))
    else:
        r = subprocess.run(["rmmod", "kame_ipsec"], capture_output=True, text=True)
        test(r.returncode == 0 and not loaded(), "rmmod kame_ipsec succeeds", r.stderr)
    failed = results.count(False)
    print("# Totals: pass:%d fail:%d" % (results.count(True) - was_loaded, failed))
    if len(results) != plan:
        print("# plan was %d, ran %d" % (plan, len(results)))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
