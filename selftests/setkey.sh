#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's setkey (rust/tools) against kame_ipsec (KTAP): a setkey(8)
# configuration file applied with -f, read back with -D and -DP in
# ipsec-tools' format, syntax errors with line numbers, -F/-FP, and a large
# SAD listed whole through a 4 KiB receive buffer.
#
#   [netns kame-setkey]  setkey -f conf  ->  PF_KEY  ->  kame_ipsec SAD/SPD
set -u
. "$(dirname "$0")/lib.sh"

SETKEY=$KAME_TOP/rust/tools/target/release/setkey
NS=kame-setkey
tmp=$(mktemp -d)
cleanup() { ns_cleanup; rm -rf "$tmp"; unload; }
trap cleanup EXIT

ktap_print_header
ktap_set_plan 12
load
ns_add "$NS"
sk() { nsx "$NS" "$SETKEY" "$@"; }
# verdict OK DESCRIPTION [DIAGNOSTICS]: passes when OK is "ok".
verdict() {
	if [ "$1" = ok ]; then
		ktap_test_pass "$2"
	else
		[ -z "${3:-}" ] || printf '%s\n' "$3" | head -40 | sed 's/^/# /'
		ktap_test_fail "$2"
	fi
}

cat >"$tmp/conf" <<'CONF'
# Two hosts, ESP in transport mode, as a BSD administrator writes it.
flush;
spdflush;
add 10.0.0.1 10.0.0.2 esp 0x1000 -m transport -E aes-cbc 0x0102030405060708090a0b0c0d0e0f10
	-A hmac-sha256 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f;
add 10.0.0.2 10.0.0.1 ah 0x1001 -A hmac-sha1 "abcdefghijklmnopqrst";
add 10.0.0.1 10.0.0.2 esp 0x1002 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;
spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require;
spdadd 10.0.0.2 10.0.0.1 any -P in ipsec esp/transport//require;
CONF
out=$(sk -f "$tmp/conf" 2>&1)
verdict "$([ -z "$out" ] && echo ok)" "setkey -f applies a configuration silently" "$out"
d=$(sk -D 2>&1)
verdict "$(grep -q 'esp mode=transport spi=4096(0x00001000) reqid=0(0x00000000)' <<<"$d" && echo ok)" \
	"-D lists the ESP SA in ipsec-tools' format" "$d"
verdict "$(grep -q 'E: aes-cbc  01020304 05060708 090a0b0c 0d0e0f10' <<<"$d" &&
	grep -q 'A: hmac-sha256  00010203' <<<"$d" && echo ok)" "-D shows the keys" "$d"
verdict "$(grep -c 'state=mature' <<<"$d" | grep -qx 3 && echo ok)" "all three SAs are mature" "$d"
verdict "$(grep -q 'ah mode=transport spi=4097(0x00001001)' <<<"$d" && echo ok)" "the AH SA is listed" "$d"
p=$(sk -DP 2>&1)
verdict "$(grep -q 'out prio def ipsec' <<<"$p" && grep -q 'esp/transport//require' <<<"$p" &&
	echo ok)" "-DP lists the policies" "$p"
printf 'add 10.0.0.1 10.0.0.2 esp 0x2000 -E aes-cbc 0x01;\nbogus;\n' >"$tmp/bad"
out=$(sk -f "$tmp/bad" 2>&1)
verdict "$(grep -q 'line 1' <<<"$out" && echo ok)" "a bad key length is reported with its line" "$out"
printf 'flush;\n\nspdflush\nadd;\n' >"$tmp/syntax"
out=$(sk -f "$tmp/syntax" 2>&1)
verdict "$(grep -qi 'line 4' <<<"$out" && echo ok)" "a syntax error names its line" "$out"
sk -F >/dev/null 2>&1
sk -FP >/dev/null 2>&1
verdict "$(sk -D 2>&1 | grep -qx 'No SAD entries.' && echo ok)" "-F empties the SAD: No SAD entries."
verdict "$(sk -DP 2>&1 | grep -qx 'No SPD entries.' && echo ok)" "-FP empties the SPD: No SPD entries."

n=20000
for ((i = 0; i < n; i++)); do
	printf 'add 10.0.0.1 10.9.%d.%d esp %d -E aes-cbc 0x0102030405060708090a0b0c0d0e0f10;\n' \
		$((i / 250)) $((i % 250 + 1)) $((0x10000 + i))
done >"$tmp/many"
t0=$(date +%s.%N)
sk -f "$tmp/many" >/dev/null 2>&1
t1=$(date +%s.%N)
count=$(KAME_SETKEY_RCVBUF=4096 sk -D 2>/dev/null | grep -c '^	esp mode=')
t2=$(date +%s.%N)
echo "# setkey -f of $n SAs: $(bc <<<"$t1 - $t0") s; setkey -D of them: $(bc <<<"$t2 - $t1") s"
verdict "$([ "$count" = $n ] && echo ok)" "setkey -D lists all $n SAs through SO_RCVBUF 4 KiB" \
	"listed $count"
sk -F >/dev/null 2>&1
verdict "$(sk -D 2>&1 | grep -qx 'No SAD entries.' && echo ok)" "and -F removes them all"
ktap_finished
