# SPDX-License-Identifier: GPL-2.0
"""KTAP output and the module's lifecycle for the Python selftests: each
test program runs in a network namespace of its own, loads kame_ipsec.ko if
it is not loaded, and unloads it at the end if it loaded it."""
import os
import re
import subprocess
import sys

TOP = os.environ.get("KAME_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KO = os.path.join(TOP, "build", os.environ.get("KERNEL", "normal"), "kame_ipsec.ko")


class Ktap:
    """Numbered results against a plan announced up front."""

    def __init__(self, plan):
        self.plan = plan
        self.results = []
        print("TAP version 13")
        print("1..%d" % plan, flush=True)

    def test(self, ok, desc, diag=None):
        self.results.append(bool(ok))
        if not ok and diag is not None:
            for line in str(diag).splitlines():
                print("# " + line)
        print("%s %d %s" % ("ok" if ok else "not ok", len(self.results), desc), flush=True)
        return bool(ok)

    def skip(self, desc, why):
        """A test that could not run here, reported as a SKIP."""
        self.results.append(None)
        print("ok %d %s # SKIP %s" % (len(self.results), desc, why), flush=True)

    def finish(self):
        """Prints the totals; the exit status (1 if anything failed or the
        plan was not kept)."""
        failed = self.results.count(False)
        print("# Totals: pass:%d fail:%d skip:%d" % (self.results.count(True), failed,
                                                     self.results.count(None)))
        if len(self.results) != self.plan:
            print("# plan was %d, ran %d" % (self.plan, len(self.results)))
            return 1
        return 1 if failed else 0


def module_loaded():
    with open("/proc/modules") as f:
        return any(line.startswith("kame_ipsec ") for line in f)


def run_in_netns(main):
    """Runs main(ktap_factory) in a new network namespace with the module
    loaded, re-executing this script under `unshare -n` first."""
    if "--in-netns" not in sys.argv:
        argv = [sys.executable, os.path.abspath(sys.argv[0]), "--in-netns"] + sys.argv[1:]
        return subprocess.run(["unshare", "-n"] + argv).returncode
    we_loaded = not module_loaded()
    if we_loaded:
        subprocess.run(["insmod", KO], check=True)
    try:
        return main()
    finally:
        if we_loaded:
            subprocess.run(["rmmod", "kame_ipsec"], check=True)


# Kernel log lines that mean a splat (selftests/run checks the whole log
# at the end; these let a test tie one to its own step).
SPLAT = re.compile(r"BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|circular locking|"
                   r"suspicious RCU usage|refcount_t|Call Trace|unregister_netdevice: waiting")


def kmsg(text):
    """Writes `text` into the kernel log (a mark to look from)."""
    with open("/dev/kmsg", "w") as f:
        f.write(text + "\n")


def splats_since(mark):
    """Kernel log lines after the line `mark` that look like a splat."""
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
    idx = max((i for i, line in enumerate(log) if mark in line), default=-1)
    return [line for line in log[idx + 1:] if SPLAT.search(line)]
