#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench_dataplane.sh: data-plane throughput, kame_ipsec against Linux's
# XFRM in the same VM boot (issue 5 item 8). Figures and ratios, not a test;
# run by `make bench-dp` (scripts/vm-run selftests/bench_dataplane.sh), not
# by the suite. The work is selftests/dp/bench.py's:
#
#   [a] veth0 ---- ESP ---- veth0 [b]    iperf3 -c a -> -s b, one TCP stream
#   both XFRM, or both kame_ipsec (setkey), from one description (dp/sa.py)
#
#   variants   ESP transport AES-GCM-16 (128-bit key), ESP transport
#              AES-CBC/HMAC-SHA-256, ESP tunnel AES-GCM-16
#   extra      the first variant again with KAME_BENCH_N (default 100000)
#              non-matching SAs and policies at both ends, as a ratio to
#              the figure without them
#
# Each implementation runs KAME_BENCH_REPS times (default 3) for
# KAME_BENCH_SECS seconds (default 10), the two alternating; ratios compare
# the best runs, then the median runs; KAME_BENCH_CASES (words of the case
# names) runs only those cases. After each run, the mean round trip of 200
# small pings (rtt_us, on an idle path). KAME_BENCH_IMPLS=xfrm,kame,kame-sync
# adds kame_ipsec with net.inet.ipsec.async_crypto 0 (decryption where
# packets arrive), and its ratio. An implementation whose packets are not
# ESP on the wire is reported unavailable, with no figure.
set -u
. "$(dirname "$0")/lib.sh"

trap unload EXIT
[ -x "$KAME_TOP/rust/tools/target/release/pfkey-bench" ] || {
	echo "no pfkey-bench: make tools first" >&2
	exit 1
}
load
"$PY" "$KAME_TOP/selftests/dp/bench.py"
