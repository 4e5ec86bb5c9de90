#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# pfkey_profile.sh: where one step of the PF_KEY benchmark spends its time
# (not a test; pfkey.rst, "Performance").  For af_key and kame_ipsec in turn,
# in a fresh namespace: `pfkey-bench add-sa` (then the STEP named, if not
# add-sa) for KAME_PROFILE_N entries (default 20000) under `perf record -a
# -g`, then the report by symbol, self and with children.
#
#   scripts/vm-run selftests/pfkey_profile.sh [STEP]
#
# STEP is add-sa (default), add-spd, dump-sa or dump-spd; the dumps profile
# only their own step (the SAs or policies they list are added first,
# unrecorded).  KAME_PROFILE_CALLERS names symbols (comma-separated, e.g.
# __pi_memcpy) whose callers are printed too, as call chains; KAME_PROFILE_CALLEES
# parts of symbol names whose callees are (share of all samples by call path,
# two frames deep); KAME_PROFILE_OFFSETS parts of symbol names whose hottest
# instruction offsets are (read them against `objdump -d` of the module on
# the host); KAME_PROFILE_LIMIT the smallest share (percent, default 3)
# listed with children, KAME_PROFILE_SELF_LIMIT (default 0.7) by itself;
# KAME_PROFILE_FREQ the samples a second (default 999; under QEMU's
# -icount, where time counts instructions, more give a finer instruction
# profile).
set -u
. "$(dirname "$0")/lib.sh"

BENCH=$KAME_TOP/rust/tools/target/release/pfkey-bench
N=${KAME_PROFILE_N:-20000}
STEP=${1:-add-sa}
NOSYM=/tmp/kame-profile-nosym
cleanup() {
	ns_cleanup
	! grep -q '^af_key ' /proc/modules || rmmod af_key
	unload
}
trap cleanup EXIT

[ -x "$BENCH" ] || { echo "no $BENCH: make tools first" >&2; exit 1; }
command -v perf >/dev/null || { echo "no perf in the VM" >&2; exit 1; }
mkdir -p "$NOSYM"

# The step $STEP needs first: the entries a dump lists.
needs() {
	case $STEP in
	dump-sa) echo add-sa ;;
	dump-spd) echo add-spd ;;
	esac
}

report() {
	perf report -i "$1" --stdio --symfs="$NOSYM" --kallsyms=/proc/kallsyms "${@:2}" 2>/dev/null |
		grep -v '^#' | grep -v '^$'
}

profile() {
	local impl=$1 data=/tmp/kame-pfkey-$1.data pre
	ns_add "$impl"
	pre=$(needs)
	if [ -n "$pre" ]; then
		nsx "$impl" "$BENCH" "$pre" -n "$N" >/dev/null || {
			echo "== $impl: $pre failed"
			return
		}
	fi
	echo "== $impl: $STEP, $N entries"
	perf record -a -g -F "${KAME_PROFILE_FREQ:-999}" -o "$data" -- ip netns exec "$(ns "$impl")" \
		"$BENCH" "$STEP" -n "$N" 2>/dev/null
	echo "-- self"
	report "$data" --no-children --sort sym -g none --percent-limit "${KAME_PROFILE_SELF_LIMIT:-0.7}"
	echo "-- with children"
	report "$data" --children --sort sym -g none --percent-limit "${KAME_PROFILE_LIMIT:-3}"
	local sym
	callers=${KAME_PROFILE_CALLERS:-}
	for sym in ${callers//,/ }; do
		echo "-- callers of $sym"
		report "$data" --no-children --sort sym -S "$sym" -g graph,0.5,callee
	done
	callees=${KAME_PROFILE_CALLEES:-}
	for sym in ${callees//,/ }; do
		echo "-- callees of $sym"
		python3 "$KAME_TOP/selftests/dp/perf_report.py" callees "$data" "$sym"
	done
	offsets=${KAME_PROFILE_OFFSETS:-}
	for sym in ${offsets//,/ }; do
		echo "-- hottest offsets in $sym"
		python3 "$KAME_TOP/selftests/dp/perf_report.py" offsets "$data" "$sym"
	done
	ip netns del "$(ns "$impl")"
}

unload
modprobe af_key || { echo "modprobe af_key failed" >&2; exit 1; }
profile af_key
rmmod af_key
load
profile kame_ipsec
