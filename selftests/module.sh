#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Module lifecycle: load/unload, modinfo, the PF_KEY family and its module
# pin, the af_key conflict both ways, packet hooks in every namespace, 100
# namespaces coming and going, and load/unload under a ping flood.
#
#   +---------------------+        veth         +---------------------+
#   | ns a   10.77.0.1/24 | <-----------------> | ns b   10.77.0.2/24 |
#   |        fd77::1/64   |                     |        fd77::2/64   |
#   +---------------------+                     +---------------------+
#   (plus 100 empty namespaces for the pernet test)
#
#   group       what is checked
#   load        insmod, modinfo fields, kernel log line, /proc/net/protocols
#   pin         rmmod refused (EBUSY) while a PF_KEY socket is open, clean after
#   af_key      each of af_key and kame_ipsec refuses to load beside the other
#   hooks       IPv4/IPv6 input/forward/postrouting hooks in a new namespace
#   netns       100 namespaces with the module loaded: sysctls in each, freed
#   flood       20 load/unload cycles while ping -f runs both ways, no loss
set -u
. "$(dirname "$0")/lib.sh"

holder_pid=
ping_pids=
cleanup() {
	[ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null
	# shellcheck disable=SC2086
	[ -z "$ping_pids" ] || kill $ping_pids 2>/dev/null
	ns_cleanup
	unload 2>/dev/null
	rmmod af_key 2>/dev/null
}
trap cleanup EXIT

ktap_print_header
ktap_set_plan 28

# --- load
unload
check "insmod kame_ipsec.ko" insmod "$KAME_KO"
check "listed in /proc/modules" is_loaded
mi() { modinfo -F "$1" "$KAME_KO"; }
expect_eq "modinfo license" "GPL" "$(mi license)"
expect_eq "modinfo alias" "net-pf-15" "$(mi alias)"
expect_eq "modinfo version" "0.1.0" "$(mi version)"
check "modinfo author and description are set" test -n "$(mi author)" -a -n "$(mi description)"
check "kernel log says it loaded" sh -c 'dmesg | grep -q "kame_ipsec: KAME IPsec loaded"'
check "/proc/net/protocols lists KAME_KEY" grep -q '^KAME_KEY ' /proc/net/protocols

# --- pin: an open PF_KEY socket holds a module reference.
tmp=$(mktemp -d)
mkfifo "$tmp/hold.in"
"$PY" "$PROBE" hold <"$tmp/hold.in" >"$tmp/hold.out" &
holder_pid=$!
exec 9>"$tmp/hold.in"
for _ in $(seq 1 300); do [ -s "$tmp/hold.out" ] && break; sleep 0.1; done
expect_eq "a PF_KEY socket is open" "ready" "$(cat "$tmp/hold.out")"
out=$(rmmod kame_ipsec 2>&1)
check "rmmod is refused while it is open ($out)" sh -c "is_loaded() { grep -q '^kame_ipsec ' /proc/modules; }; is_loaded && echo '$out' | grep -q 'in use'"
exec 9>&-
wait "$holder_pid"
holder_pid=
rm -rf "$tmp"
check "rmmod succeeds once it is closed" rmmod kame_ipsec
check "PF_KEY and the sysctls are gone after rmmod" \
	sh -c '! grep -q "^KAME_KEY " /proc/net/protocols && ! test -e /proc/sys/net/inet/ipsec'

# --- af_key: both modules serve address family 15; only one may load.
check "modprobe af_key" modprobe af_key
out=$(insmod "$KAME_KO" 2>&1)
# The module loader rewrites an init's EEXIST to EBUSY (kernel/module/main.c).
check "insmod beside af_key fails ($out)" sh -c "echo '$out' | grep -q 'Device or resource busy'"
check "kernel log names af_key and EEXIST" \
	sh -c 'dmesg | tail -5 | grep -q "already registered (EEXIST), by af_key most likely"'
check "kame_ipsec is not loaded after the refusal" sh -c '! grep -q "^kame_ipsec " /proc/modules'
check "rmmod af_key" rmmod af_key
load
check "modprobe af_key fails while kame_ipsec is loaded" sh -c '! modprobe af_key 2>/dev/null'
check "af_key is not loaded after its refusal" sh -c '! grep -q "^af_key " /proc/modules'

# --- hooks: registered in every namespace, including new ones.
ns_add hooks
# "family/hook" of each of our hooks, as `nft list hooks` shows them.
our_hooks() {
	nsx "$1" nft list hooks | awk '$1 == "family" { f = $2 } $1 == "hook" { h = $2 }
		/\[kame_ipsec\]/ { print f "/" h }' | sort | xargs
}
expect_eq "a new namespace has our hooks at ip/ip6 input, forward, postrouting" \
	"ip/forward ip/input ip/postrouting ip6/forward ip6/input ip6/postrouting" "$(our_hooks hooks)"
ip netns del "$(ns hooks)"

# --- netns: 100 namespaces, each with its own sysctls.
for i in $(seq 1 100); do ns_add "n$i" || break; done
expect_eq "100 namespaces created with the module loaded" 100 "$(ns_count)"
missing=0
for i in $(seq 1 100); do
	nsx "n$i" test -e /proc/sys/net/inet/ipsec/dfbit || missing=$((missing + 1))
done
expect_eq "each of them has net.inet.ipsec" 0 "$missing"
ns_cleanup
expect_eq "all 100 destroyed" 0 "$(ns_count)"
check "rmmod after the namespaces are gone" rmmod kame_ipsec

# --- flood: load and unload 20 times while ping -f runs over IPv4 and IPv6.
ns_add a
ns_add b
ip link add veth-a netns "$(ns a)" type veth peer name veth-b netns "$(ns b)"
nsx a ip addr add 10.77.0.1/24 dev veth-a
nsx b ip addr add 10.77.0.2/24 dev veth-b
nsx a ip addr add fd77::1/64 dev veth-a nodad
nsx b ip addr add fd77::2/64 dev veth-b nodad
nsx a ip link set veth-a up
nsx b ip link set veth-b up
nsx a ping -c1 -W5 10.77.0.2 >/dev/null
tmp=$(mktemp -d)
# Not through nsx: $! must be ping itself (ip netns exec execs it), so
# that SIGINT reaches it and it prints its statistics.
ip netns exec "$(ns a)" ping -f -q 10.77.0.2 >"$tmp/v4" 2>&1 &
ping_pids=$!
ip netns exec "$(ns b)" ping -6 -f -q fd77::1 >"$tmp/v6" 2>&1 &
ping_pids="$ping_pids $!"
cycles=0
for i in $(seq 1 20); do
	insmod "$KAME_KO" && sleep 0.2 && rmmod kame_ipsec && cycles=$((cycles + 1))
	sleep 0.1
done
# shellcheck disable=SC2086
kill -INT $ping_pids
# shellcheck disable=SC2086
wait $ping_pids
ping_pids=
expect_eq "20 load/unload cycles under ping -f" 20 "$cycles"
sent() { sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$1"; }
received() { sed -n 's/.* \([0-9]*\) received.*/\1/p' "$1"; }
flood_ok() {
	local tx rx
	tx=$(sent "$1") rx=$(received "$1")
	# The packet in flight when ping is interrupted may go unanswered.
	[ -n "$tx" ] && [ "$tx" -gt 100 ] && [ $((tx - rx)) -le 1 ]
}
ktap_print_msg "IPv4 flood: $(sent "$tmp/v4") sent, $(received "$tmp/v4") received"
ktap_print_msg "IPv6 flood: $(sent "$tmp/v6") sent, $(received "$tmp/v6") received"
check "IPv4 flood: no packet lost across the cycles" flood_ok "$tmp/v4"
check "IPv6 flood: no packet lost across the cycles" flood_ok "$tmp/v6"
rm -rf "$tmp"
ns_cleanup
expect_eq "every namespace this test created is gone" 0 "$(ns_count)"

ktap_finished
