# SPDX-License-Identifier: GPL-2.0
"""perf reports for the profiles (dp/profile.py, pfkey_profile.sh): a
report as text, the share of samples below a symbol by call path, and
the hottest instruction offsets in a symbol (to read against `objdump -d`
of the module on the host).

    python3 selftests/dp/perf_report.py callees DATA SYMBOL
    python3 selftests/dp/perf_report.py offsets DATA SYMBOL
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


def offsets(data, sym, top=30):
    """The share of all samples taken at each offset of the functions whose
    name contains `sym`, largest first (the sampled instruction itself, not
    its callees)."""
    # Each sample is its call chain, leaf first, then a blank line.
    r = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,symoff",
                        "--symfs=" + NOSYM, "--kallsyms=/proc/kallsyms"],
                       capture_output=True, text=True, timeout=1800)
    counts, total, leaf = {}, 0, True
    for line in r.stdout.splitlines():
        line = line.strip()
        if not line:
            leaf = True
            continue
        if not leaf:
            continue
        leaf = False
        total += 1
        frame = line.partition(" ")[2]
        if sym in frame:
            counts[frame] = counts.get(frame, 0) + 1
    if not total:
        return "(no samples)"
    rows = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join("%7.2f%%  %s" % (100.0 * n / total, k) for k, n in rows)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("callees", "offsets"):
        sys.exit(__doc__)
    print({"callees": callees, "offsets": offsets}[sys.argv[1]](sys.argv[2], sys.argv[3]))
