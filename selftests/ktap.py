# SPDX-License-Identifier: GPL-2.0
"""KTAP output and the module's lifecycle for the Python selftests: each
test program runs in a network namespace of its own, loads kame_ipsec.ko if
it is not loaded, and unloads it at the end if it loaded it."""
import os
import re
import subprocess
import sys
import time

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


def loaded(mod):
    with open("/proc/modules") as f:
        return any(line.split()[0] == mod for line in f)


def module_loaded():
    return loaded("kame_ipsec")


def rmmod(mod, wait=10):
    """rmmod, retried for `wait` seconds while the namespaces of finished
    work are still being torn down (their sockets pin the module)."""
    for _ in range(wait * 10):
        if not loaded(mod) or subprocess.run(["rmmod", mod], capture_output=True).returncode == 0:
            return True
        time.sleep(0.1)
    return not loaded(mod)


def use(backend):
    """Leaves exactly one PF_KEY backend loaded: "af_key" or "kame_ipsec"."""
    if backend == "af_key":
        rmmod("kame_ipsec")
        subprocess.run(["modprobe", "af_key"], check=True, capture_output=True)
    else:
        rmmod("af_key")
        if not module_loaded():
            subprocess.run(["insmod", KO], check=True, capture_output=True)


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
