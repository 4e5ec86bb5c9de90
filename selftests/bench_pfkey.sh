#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench_pfkey.sh: PF_KEY control-plane figures, kame_ipsec against Linux's
# af_key in the same VM boot, through the same raw client
# (rust/tools pfkey-bench; not setkey, whose printing would dominate).
# Prints figures and ratios; it is not a test and has no verdict beyond the
# client's own checks (a refused entry or a wrong dump stops it).  Run by
# `make bench` (scripts/vm-run selftests/bench_pfkey.sh), not by the suite.
#
#   [netns kame-bench-<impl>]  pfkey-bench  ->  PF_KEY  ->  af_key | kame_ipsec
#
# Steps, for each implementation in a fresh namespace:
#   round-trip  N SADB_GETs of absent SAs, each answered ESRCH: the floor of
#             any request and reply (two system calls, a parse, a miss, a
#             reply skb), run first while the SAD is empty
#   recv-floor  the same replies read 64 at a time, only the reads timed:
#             one recvmsg per message, of a header alone
#   add-sa    N SADB_ADDs (ESP AES-CBC/HMAC-SHA-256, distinct dst and SPI),
#             one message per SA, each waiting for its reply as setkey does
#   add-spd   N SADB_X_SPDADDs (distinct /32 sources, out ipsec esp/transport)
#   dump-sa   SADB_DUMP of the N SAs, default SO_RCVBUF, checked whole
#   dump-spd  SADB_X_SPDDUMP of the N policies, likewise
#   read-floor-sa, read-floor-spd  the N SAs (SADB_GET) and policies
#             (SADB_X_SPDGET) asked for 64 at a time, only the reads of
#             the queued replies and the dump's check of each timed: the
#             floor of a dump's reader, with messages of its size
#   getspi    KAME_BENCH_GETSPI_N (default 1000) SADB_GETSPIs in the
#             default range, each to a destination of its own, with the N
#             SAs in the SAD: an SPI is taken if any SA of the protocol has
#             it, which af_key asks its by-SPI hash and we our SPI index
#   add-spd-unique  the SPD flushed, then KAME_BENCH_UNIQUE_N (default
#             10000) SPDADDs whose request is `unique` without a reqid:
#             the kernel generates each reqid (af_key walks every policy
#             for it, we look it up in a tree)
#
# Each implementation runs KAME_BENCH_REPS times (default 3), the two
# alternating (af_key, kame_ipsec, af_key, ...) so that a slow patch of the
# host (TCG shares its cores) hits both; the ratios compare the best run of
# each, then the median run of each.  KAME_BENCH_N sets N (default 100000);
# KAME_BENCH_WINDOW the requests in flight during adds (default 1);
# KAME_BENCH_TIMEOUT bounds each step in seconds (default 900): a step that
# runs out is reported, not hidden.
set -u
. "$(dirname "$0")/lib.sh"

BENCH=$KAME_TOP/rust/tools/target/release/pfkey-bench
N=${KAME_BENCH_N:-100000}
WINDOW=${KAME_BENCH_WINDOW:-1}
LIMIT=${KAME_BENCH_TIMEOUT:-900}
REPS=${KAME_BENCH_REPS:-3}
# add-spd-unique: fewer, as af_key's reqid generator makes them quadratic.
N_UNIQUE=${KAME_BENCH_UNIQUE_N:-10000}
N_GETSPI=${KAME_BENCH_GETSPI_N:-1000}
STEPS=(round-trip recv-floor add-sa add-spd dump-sa dump-spd read-floor-sa read-floor-spd getspi
	add-spd-unique)
out=$(mktemp -d)
cleanup() {
	ns_cleanup
	rm -rf "$out"
	! grep -q '^af_key ' /proc/modules || rmmod af_key
	unload
}
trap cleanup EXIT

[ -x "$BENCH" ] || { echo "no $BENCH: make tools first" >&2; exit 1; }

# bench IMPL REP: every step against the PF_KEY that is loaded now, in a
# namespace of its own; figures shown and kept in $out/IMPL.
bench() {
	local impl=$1 rep=$2 step args rc log=$out/$1.$2
	ns_add "$impl"
	for step in "${STEPS[@]}"; do
		args=(-n "$N")
		case $step in
		add-spd-unique) args=(-n "$N_UNIQUE") ;;
		getspi) args=(-n "$N_GETSPI" --window "$WINDOW") ;;
		recv-floor | read-floor-*) args+=(--window 64) ;;
		dump-*) ;;
		*) args+=(--window "$WINDOW") ;;
		esac
		timeout "$LIMIT" ip netns exec "$(ns "$impl")" "$BENCH" "$step" "${args[@]}" \
			>>"$log" 2>&1
		rc=$?
		if [ "$rc" != 0 ]; then
			[ "$rc" != 124 ] || echo "pfkey-bench: op=$step stopped after ${LIMIT}s" >>"$log"
			echo "# $impl: $step failed (exit $rc); later steps need it, so $impl stops here" \
				>>"$log"
			break
		fi
	done
	ip netns del "$(ns "$impl")"
	sed "s/^/$impl run $rep: /" "$log"
	cat "$log" >>"$out/$impl"
}

echo "# bench_pfkey: N=$N window=$WINDOW runs=$REPS kernel=$(uname -r) ($(nproc) vCPUs)"
for rep in $(seq 1 "$REPS"); do
	unload
	modprobe af_key || { echo "modprobe af_key failed" >&2; exit 1; }
	bench af_key "$rep"
	rmmod af_key
	load
	bench kame_ipsec "$rep"
	unload
done

# rates STEP FILE: the per_sec figures of STEP in FILE, lowest first.
rates() {
	sed -n "s/^pfkey-bench: op=$1 .*per_sec=\([0-9.]*\).*/\1/p" "$2" | sort -g
}
# best STEP FILE: the highest per_sec of STEP in FILE.
best() {
	rates "$1" "$2" | tail -1
}
# median STEP FILE: the middle per_sec of STEP in FILE (the lower middle
# of an even count).
median() {
	rates "$1" "$2" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# ratios KIND: each step's ratio of KIND (best or median) runs.
ratios() {
	local kind=$1 step ours theirs
	for step in "${STEPS[@]}"; do
		ours=$($kind "$step" "$out/kame_ipsec") theirs=$($kind "$step" "$out/af_key")
		if [ -n "$ours" ] && [ -n "$theirs" ]; then
			awk -v k="$kind" -v s="$step" -v o="$ours" -v t="$theirs" \
				'BEGIN { printf "ratio (%s): op=%s kame_ipsec=%.1f/s af_key=%.1f/s ours/af_key=%.2f\n", k, s, o, t, o / t }'
		else
			echo "ratio ($kind): op=$step kame_ipsec=${ours:-none}/s af_key=${theirs:-none}/s ours/af_key=n/a"
		fi
	done
}
echo "# ratios: best kame_ipsec per_sec / best af_key per_sec (above 1: kame_ipsec is faster)"
ratios best
# One implementation's runs can spread more than the other's (af_key's
# SPDADD gave 38 036, 61 353 and 42 042 a second in one boot where ours
# gave 98 988 to 105 121): the best run then says less than the middle one.
echo "# the same with the median run of each"
ratios median
# An add waits for its reply, so it costs at least a round trip: were our
# add as cheap as a lookup that misses, it would run at our round-trip
# rate. That rate over af_key's add rate is the most an add ratio can be
# with this client (and setkey). Likewise a dump's reader takes each
# message with a recvmsg of its own and checks it: our rate of reading
# and checking messages of the dump's size, already queued (read-floor-*),
# over af_key's dump rate is about the most a dump's ratio can be
# (recv-floor's 16-byte replies overstate it). About: the floor's replies
# have an skb each, where our dump puts dozens of messages in one, which
# is a little cheaper to read (our SA dump has come out above its floor).
echo "# ceilings: best kame_ipsec floor per_sec / best af_key per_sec (the most ours/af_key can be)"
for step in add-sa add-spd dump-sa dump-spd; do
	floor=round-trip
	[[ $step != dump-* ]] || floor=read-floor-${step#dump-}
	f=$(best "$floor" "$out/kame_ipsec") theirs=$(best "$step" "$out/af_key")
	if [ -n "$f" ] && [ -n "$theirs" ]; then
		awk -v s="$step" -v n="$floor" -v f="$f" -v t="$theirs" \
			'BEGIN { printf "ceiling: op=%s %s=%.1f/s af_key=%.1f/s ceiling=%.2f\n", s, n, f, t, f / t }'
	fi
done
