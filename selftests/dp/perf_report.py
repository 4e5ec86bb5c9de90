# SPDX-License-Identifier: GPL-2.0
"""perf reports for the profiles (dp/profile.py, pfkey_profile.sh): a
report as text, and the share of samples below a symbol by call path.

    python3 selftests/dp/perf_report.py callees DATA SYMBOL
"""
import subprocess
import sys

NOSYM = "/tmp/kame-profile-nosym"


def report(data, *args):
    r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--symfs=" + NOSYM,
                        "--kallsyms=/proc/kallsyms", *args],
                       capture_output=True, text=True, timeout=1800)
    return "\n".join(line for line in r.stdout.splitlines() if line and not line.startswith("#"))


def callees(data, sym, depth=2, limit=0.3):
    """The share of all samples under each call path of up to `depth`
    frames below the last frame whose name contains `sym` (from perf's
    folded stacks), largest first."""
    text = report(data, "--no-children", "--sort", "sym", "-g", "folded,0,caller,count")
    shares, total = {}, 0
    for line in text.splitlines():
        count, _, stack = line.strip().partition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        at = [i for i, f in enumerate(frames) if sym in f]
        if not at:
            continue
        below = frames[at[-1] + 1:]
        for d in range(0, depth + 1):
            key = ";".join(below[:d]) if d else "(all)"
            if d and len(below) < d:
                break
            shares[key] = shares.get(key, 0) + int(count)
    if not total:
        return "(no samples)"
    rows = sorted(shares.items(), key=lambda kv: (kv[0] != "(all)", -kv[1]))
    return "\n".join("%7.2f%%  %s" % (100.0 * n / total, k) for k, n in rows
                     if 100.0 * n / total >= limit)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "callees":
        sys.exit(__doc__)
    print(callees(sys.argv[2], sys.argv[3]))
