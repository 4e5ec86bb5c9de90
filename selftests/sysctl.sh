#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The per-netns sysctls net.inet.ipsec.*, net.inet6.ipsec6.*, net.inet.esp.enable
# and net.inet.ah.enable: defaults, accepted ranges, netns independence,
# privilege, and removal on unload.
#
# Topology: no links, only namespaces, each with its own copy of every sysctl.
#
#   +--------------------+   +--------------------+   +--------------------+
#   | init netns         |   | netns a            |   | netns b            |
#   | range tests; a few |   | every knob set to  |   | left alone: must   |
#   | knobs changed, then|   | a non-default      |   | read the defaults  |
#   | restored           |   | value              |   |                    |
#   +--------------------+   +--------------------+   +--------------------+
#   netns c: created while init holds changed values; must start at defaults.
#   unshare -Urn: a user namespace and the netns it owns (its root is admin).
#
#	Name		Description
#	load		the module loads
#	default		each of the 21 sysctls reads its documented default
#	range		min and max are accepted and read back; min-1 and max+1
#			fail with EINVAL and keep the value; "abc" fails likewise
#	netns		values set in a are not seen in b or init; a netns made
#			after init was changed starts at the defaults
#	privilege	nobody cannot open for writing (EACCES) but can read;
#			root without CAP_NET_ADMIN gets EPERM; the root of a user
#			namespace may write the netns it owns, not init's
#	unload		every sysctl directory is gone after rmmod
#	cleanup		no namespace this script created is left

. "$(dirname "$0")/lib.sh"

# The expectation table, from the documentation (KAME/BSD), not from the
# code: path under /proc/sys, default, smallest and largest accepted value.
KNOBS="
net/inet/ipsec/esp_trans_deflev		1	1	2
net/inet/ipsec/esp_net_deflev		1	1	2
net/inet/ipsec/ah_trans_deflev		1	1	2
net/inet/ipsec/ah_net_deflev		1	1	2
net/inet/ipsec/def_policy		1	0	1
net/inet/ipsec/ah_cleartos		1	0	1
net/inet/ipsec/ah_offsetmask		0	0	65535
net/inet/ipsec/dfbit			0	0	2
net/inet/ipsec/ecn			0	-1	1
net/inet/ipsec/debug			0	0	1
net/inet/ipsec/icmp_accept_clear	0	0	1
net/inet/ipsec/async_crypto		1	0	1
net/inet6/ipsec6/esp_trans_deflev	1	1	2
net/inet6/ipsec6/esp_net_deflev		1	1	2
net/inet6/ipsec6/ah_trans_deflev	1	1	2
net/inet6/ipsec6/ah_net_deflev		1	1	2
net/inet6/ipsec6/def_policy		1	0	1
net/inet6/ipsec6/ecn			0	-1	1
net/inet6/ipsec6/debug			0	0	1
net/inet6/ipsec6/icmp_accept_clear	0	0	1
net/inet/esp/enable			1	0	1
net/inet/ah/enable			1	0	1"

NAMES=() DEF=() MIN=() MAX=()
while read -r name def min max; do
	[ -n "$name" ] || continue
	NAMES+=("$name") DEF+=("$def") MIN+=("$min") MAX+=("$max")
done <<<"$KNOBS"
N=${#NAMES[@]}
DIRS="net/inet/ipsec net/inet6/ipsec6 net/inet/esp net/inet/ah"

cleanup() {
	ns_cleanup
	unload 2>/dev/null
}
trap cleanup EXIT

# rd KNOB [NS]: the value of /proc/sys/KNOB, in NS if given.
rd() {
	if [ -n "${2:-}" ]; then
		nsx "$2" cat "/proc/sys/$1" 2>&1
	else
		cat "/proc/sys/$1" 2>&1
	fi
}

# wr KNOB VALUE [NS]: writes VALUE as `echo VALUE > /proc/sys/KNOB` does;
# prints the shell's error message, returns the write's status.
wr() {
	if [ -n "${3:-}" ]; then
		nsx "$3" bash -c 'echo "$1" > "/proc/sys/$2"' - "$2" "$1" 2>&1
	else
		(echo "$2" >"/proc/sys/$1") 2>&1
	fi
}

# dump [NS]: "KNOB VALUE" for every knob, read in one process.
dump() {
	local sh='for k; do printf "%s %s\n" "$k" "$(cat "/proc/sys/$k" 2>&1)"; done'
	if [ -n "${1:-}" ]; then
		nsx "$1" bash -c "$sh" - "${NAMES[@]}"
	else
		bash -c "$sh" - "${NAMES[@]}"
	fi
}

# want_defaults: what dump prints when every knob is at its default.
want_defaults() {
	local i
	for ((i = 0; i < N; i++)); do
		printf '%s %s\n' "${NAMES[i]}" "${DEF[i]}"
	done
}

# expect_dump DESC WANT GOT: like expect_eq for dump's output, showing only
# the lines that differ.
expect_dump() {
	if [ "$2" = "$3" ]; then
		ktap_test_pass "$1"
	else
		ktap_print_msg "< want, > got"
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed -n 's/^[<>]/# &/p'
		ktap_test_fail "$1"
	fi
}

# refused DESC KNOB VALUE KEEP: a write of VALUE fails with EINVAL and the
# knob still reads KEEP.
refused() {
	local desc=$1 k=$2 v=$3 keep=$4 err got
	if err=$(wr "$k" "$v"); then
		ktap_print_msg "writing '$v' to $k succeeded"
		ktap_print_msg "now: $(rd "$k")"
		ktap_test_fail "$desc"
		return
	fi
	got=$(rd "$k")
	if [[ "$err" != *"Invalid argument"* ]]; then
		ktap_print_msg "want EINVAL, got: $err"
		ktap_test_fail "$desc"
	elif [ "$got" != "$keep" ]; then
		ktap_print_msg "value changed: want '$keep', got '$got'"
		ktap_test_fail "$desc"
	else
		ktap_test_pass "$desc"
	fi
}

# accepts KNOB VALUE...: each VALUE is written and read back.
accepts() {
	local k=$1 v err got
	shift
	for v; do
		err=$(wr "$k" "$v") || { echo "write $v: $err"; return 1; }
		got=$(rd "$k")
		[ "$got" = "$v" ] || { echo "wrote $v, read '$got'"; return 1; }
	done
}

# other I: a valid value of knob I that is not its default.
other() {
	if [ "${DEF[$1]}" = "${MAX[$1]}" ]; then echo "${MIN[$1]}"; else echo "${MAX[$1]}"; fi
}

ktap_print_header
# load + default (1 each) + range (3 each) + abc + netns a/b/init (1 each) +
# netns c + init restored + privilege (5) + unload (2) + cleanup
ktap_set_plan $((1 + N + 3 * N + 1 + N + 2 + 5 + 2 + 1))

# --- load -----------------------------------------------------------------
check "load: the module loads" load
if ! is_loaded; then
	ktap_exit_fail_msg "kame_ipsec is not loaded"
fi

# --- default --------------------------------------------------------------
for ((i = 0; i < N; i++)); do
	expect_eq "default: ${NAMES[i]} is ${DEF[i]}" "${DEF[i]}" "$(rd "${NAMES[i]}")"
done

# --- range ----------------------------------------------------------------
for ((i = 0; i < N; i++)); do
	k=${NAMES[i]} lo=${MIN[i]} hi=${MAX[i]}
	check "range: $k accepts $lo and $hi" accepts "$k" "$lo" "$hi"
	# Start each refusal from the far end, so that clamping would show.
	wr "$k" "$hi" >/dev/null
	refused "range: $k refuses $((lo - 1))" "$k" $((lo - 1)) "$hi"
	wr "$k" "$lo" >/dev/null
	refused "range: $k refuses $((hi + 1))" "$k" $((hi + 1)) "$lo"
	wr "$k" "${DEF[i]}" >/dev/null
done
refused "range: net/inet/ipsec/dfbit refuses abc" net/inet/ipsec/dfbit abc 0

# --- netns ----------------------------------------------------------------
ns_add a
ns_add b
for ((i = 0; i < N; i++)); do
	wr "${NAMES[i]}" "$(other "$i")" a >/dev/null
done
got_a=$(dump a)
got_b=$(dump b)
got_i=$(dump)
for ((i = 0; i < N; i++)); do
	k=${NAMES[i]} v=$(other "$i") d=${DEF[i]}
	desc="netns: $k $v in a, $d in b and init"
	ga=$(sed -n "s|^$k ||p" <<<"$got_a")
	gb=$(sed -n "s|^$k ||p" <<<"$got_b")
	gi=$(sed -n "s|^$k ||p" <<<"$got_i")
	if [ "$ga" = "$v" ] && [ "$gb" = "$d" ] && [ "$gi" = "$d" ]; then
		ktap_test_pass "$desc"
	else
		ktap_print_msg "a: '$ga' b: '$gb' init: '$gi'"
		ktap_test_fail "$desc"
	fi
done

# Change a few knobs in init, make netns c, then restore init.
CHANGED="net/inet/ipsec/dfbit=2 net/inet/ipsec/ah_offsetmask=16384
	net/inet6/ipsec6/def_policy=0 net/inet6/ipsec6/ecn=-1 net/inet/esp/enable=0"
for kv in $CHANGED; do
	wr "${kv%%=*}" "${kv#*=}" >/dev/null
done
ns_add c
got_c=$(dump c)
held=
for kv in $CHANGED; do
	k=${kv%%=*}
	[ "$(rd "$k")" = "${kv#*=}" ] || held="$held $k"
	for ((i = 0; i < N; i++)); do
		[ "${NAMES[i]}" != "$k" ] || wr "$k" "${DEF[i]}" >/dev/null
	done
done
if [ -n "$held" ]; then
	ktap_print_msg "init did not take:$held"
	ktap_test_fail "netns: a netns made after init changed starts at defaults"
else
	expect_dump "netns: a netns made after init changed starts at defaults" \
		"$(want_defaults)" "$got_c"
fi
expect_dump "netns: init reads the defaults again once restored" \
	"$(want_defaults)" "$(dump)"

# --- privilege ------------------------------------------------------------
DF=net/inet/ipsec/dfbit
# bash rather than dash: dash reports any failed echo as "I/O error".
err=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	--bounding-set=-all bash -c "echo 2 > /proc/sys/$DF" 2>&1)
rc=$?
got=$(rd $DF)
if [ $rc -ne 0 ] && [[ "$err" == *"Permission denied"* ]] && [ "$got" = 0 ]; then
	ktap_test_pass "privilege: nobody cannot write $DF (EACCES)"
else
	ktap_print_msg "status $rc, error '$err', value '$got'"
	ktap_test_fail "privilege: nobody cannot write $DF (EACCES)"
fi

got=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	--bounding-set=-all cat /proc/sys/$DF 2>&1)
expect_eq "privilege: nobody can read $DF" 0 "$got"

err=$(setpriv --inh-caps=-net_admin --bounding-set=-net_admin \
	bash -c "echo 2 > /proc/sys/$DF" 2>&1)
rc=$?
got=$(rd $DF)
if [ $rc -ne 0 ] && [[ "$err" == *"Operation not permitted"* ]] && [ "$got" = 0 ]; then
	ktap_test_pass "privilege: root without CAP_NET_ADMIN cannot write $DF (EPERM)"
else
	ktap_print_msg "status $rc, error '$err', value '$got'"
	ktap_test_fail "privilege: root without CAP_NET_ADMIN cannot write $DF (EPERM)"
fi

got=$(unshare --user --map-root-user --net \
	sh -c "echo 2 > /proc/sys/$DF && cat /proc/sys/$DF" 2>&1)
expect_eq "privilege: userns root writes $DF in the netns it owns" 2 "$got"
expect_eq "privilege: $DF in init is unchanged by the userns root" 0 "$(rd $DF)"

# --- unload ---------------------------------------------------------------
unload_left() {
	local d left=
	for d in $DIRS; do
		[ ! -e "/proc/sys/$d" ] || left="$left $d"
	done
	[ ! -e /proc/sys/net/inet ] || left="$left net/inet"
	echo "$left"
}
if unload; then
	expect_eq "unload: no sysctl directory left in init" "" "$(unload_left)"
	expect_eq "unload: no sysctl directory left in netns a" "" \
		"$(nsx a bash -c "$(declare -p DIRS); $(declare -f unload_left); unload_left")"
else
	ktap_test_fail "unload: no sysctl directory left in init"
	ktap_test_fail "unload: no sysctl directory left in netns a"
fi

# --- cleanup --------------------------------------------------------------
ns_cleanup
expect_eq "cleanup: namespaces created and not destroyed" 0 "$(ns_count)"

ktap_finished
