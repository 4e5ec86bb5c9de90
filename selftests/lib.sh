# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the VM selftests: KTAP output (kselftest's
# ktap_helpers.sh from the test kernel's tree), the module, namespaces.
# Sourced by each selftests/*.sh, which runs as root inside the test VM.

KAME_TOP=${KAME_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KAME_KO=$KAME_TOP/build/${KERNEL:-normal}/kame_ipsec.ko
KAME_KDIR=$("$KAME_TOP/scripts/kernel-dir" "${KERNEL:-normal}")
PY=/usr/bin/python3
PROBE=$KAME_TOP/selftests/pfkey_probe.py

# shellcheck source=/dev/null
. "$KAME_KDIR/tools/testing/selftests/kselftest/ktap_helpers.sh"

# check DESCRIPTION COMMAND...: one KTAP result from a command's status; the
# command's output is shown as KTAP diagnostics when it fails.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ktap_test_pass "$desc"
	else
		[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
		ktap_test_fail "$desc"
	fi
}

# expect_eq DESCRIPTION WANT GOT: one KTAP result from a comparison.
expect_eq() {
	if [ "$2" = "$3" ]; then
		ktap_test_pass "$1"
	else
		ktap_print_msg "want: '$2'"
		ktap_print_msg "got:  '$3'"
		ktap_test_fail "$1"
	fi
}

is_loaded() { grep -q '^kame_ipsec ' /proc/modules; }
load() { is_loaded || insmod "$KAME_KO"; }
unload() { ! is_loaded || rmmod kame_ipsec; }

# Unique namespace names per script, so a failed run cannot collide.
NS_PREFIX="kame-$$-"
ns_add() { ip netns add "$NS_PREFIX$1"; }
ns() { printf '%s%s' "$NS_PREFIX" "$1"; }
nsx() { local n=$1; shift; ip netns exec "$NS_PREFIX$n" "$@"; }
ns_count() { ip netns list | grep -c "^$NS_PREFIX" || true; }
ns_cleanup() {
	local n
	for n in $(ip netns list | awk '{print $1}' | grep "^$NS_PREFIX"); do
		ip netns del "$n"
	done
}

# probe ARGS...: the PF_KEY test client (selftests/pfkey_probe.py).
probe() { "$PY" "$PROBE" "$@"; }
