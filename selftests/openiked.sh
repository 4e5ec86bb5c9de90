#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# openiked (Debian's IKEv2 daemon, which speaks PF_KEY on Linux) against
# kame_ipsec (KTAP): two iked instances negotiate over UDP between two
# namespaces and install their child SAs and flows through PF_KEY. Only IKE
# crosses the link; no traffic is sent through the SAs.
#
#   [netns A] va 10.0.0.1 ------------ veth ------------ vb 10.0.0.2 [netns B]
#   iked -S -f A.conf (active policy,                    iked -f B.conf
#     started passive, then `ikectl active`)               (passive policy)
#   setkey -xH: a promiscuous PF_KEY socket in A
#
#	Name		Description
#	sockopt		setsockopt(IP_IPSEC_POLICY / IPV6_IPSEC_POLICY) with
#			sadb_x_policy buffers: bypass in, out and on IPv6 work,
#			and ipsec (sockpolicy.py tests what each does); fwd and
#			an unknown type are EINVAL, as af_key
#	start		both iked start: their four IKE sockets each (v4/v6,
#			500/4500) get bypass policies, which the IPsec core lists
#			as socket policies (`ip xfrm policy`)
#	register	iked flushes the SAD and registers for ESP and AH; the
#			REGISTER reply lists the supported algorithms
#	negotiate	the IKE SA is established on both sides; each side's
#			GETSPI gives the SPI the peer's SA is added with
#	sad		setkey -D lists both ESP SAs, transport, aes-ctr and
#			hmac-sha1, mature, in both namespaces
#	spd		setkey -DP lists iked's in, out and fwd policies
#			(X_SPDUPDATE), esp/transport//require
#	decouple	`ikectl decouple`: iked deletes its SAs and policies
#			(SADB_DELETE, X_SPDDELETE)
#	stop		the socket policies go with iked's sockets
#	unload		without the module the socket option is EOPNOTSUPP again
set -u
. "$(dirname "$0")/lib.sh"

SETKEY=$KAME_TOP/rust/tools/target/release/setkey
IKED=$(command -v iked)
IKECTL=$(command -v ikectl)
tmp=$(mktemp -d)
pids=()
modprobe_path=$(cat /proc/sys/kernel/modprobe)
# stop_all: ends the processes started here and waits until no PF_KEY
# socket (iked's children have some) holds the module.
stop_all() {
	local p t=$SECONDS
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
	while in_use && [ $((SECONDS - t)) -lt 30 ]; do sleep 1; done
	! in_use || ps -eo pid,ppid,stat,args | grep -E '[i]ked|[s]etkey' | sed 's/^/# /'
}
# in_use: the module is loaded and something holds it.
in_use() { awk '$1 == "kame_ipsec" && $3 != 0 { f = 1 } END { exit !f }' /proc/modules; }
cleanup() {
	stop_all
	echo "$modprobe_path" >/proc/sys/kernel/modprobe
	ns_cleanup
	rm -rf "$tmp"
	unload 2>/dev/null
}
trap cleanup EXIT

ktap_print_header
if [ -z "$IKED" ] || [ -z "$IKECTL" ]; then
	ktap_skip_all "openiked is not installed (scripts/setup-packages installs it)"
	exit "$KSFT_SKIP"
fi
ktap_set_plan 18

# verdict OK DESCRIPTION [DIAGNOSTICS]: passes when OK is "ok".
verdict() {
	if [ "$1" = ok ]; then
		ktap_test_pass "$2"
	else
		[ -z "${3:-}" ] || printf '%s\n' "$3" | tail -40 | sed 's/^/# /'
		ktap_test_fail "$2"
	fi
}

# sockopt: one word per setsockopt() case, "ok" or the errno's name.
sockopt() {
	"$PY" - <<'EOF'
import errno, socket, struct
def pol(ty, d, extra=b""):
    body = struct.pack("=HHHBBII", 2 + len(extra) // 8, 18, ty, d, 0, 0, 0)
    return body + extra
# esp/transport//require: proto 50, mode 1, level 2.
req = struct.pack("=HHBBHII", 16, 50, 1, 2, 0, 0, 0)
cases = [
    (socket.AF_INET, socket.IPPROTO_IP, 16, pol(4, 1)),
    (socket.AF_INET, socket.IPPROTO_IP, 16, pol(4, 2)),
    (socket.AF_INET6, socket.IPPROTO_IPV6, 34, pol(4, 2)),
    (socket.AF_INET, socket.IPPROTO_IP, 16, pol(1, 1)),
    (socket.AF_INET, socket.IPPROTO_IP, 16, pol(2, 2, req)),
    (socket.AF_INET, socket.IPPROTO_IP, 16, pol(4, 3)),
    (socket.AF_INET, socket.IPPROTO_IP, 16, pol(5, 1)),
]
out = []
for fam, level, opt, buf in cases:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.setsockopt(level, opt, buf)
        out.append("ok")
    except OSError as e:
        # Python names 95 ENOTSUP, its Linux alias.
        out.append("EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno])
    s.close()
print(" ".join(out))
EOF
}

# Each SADB_REGISTER probes the crypto API for every algorithm; the test
# kernel has no crypto modules, yet each probe of one it lacks runs modprobe,
# about 70 per REGISTER, 10-20 s under TCG. Without a usermode modprobe the
# answer is the same (everything is built in) and comes at once.
echo /bin/true >/proc/sys/kernel/modprobe

load
got=$(sockopt 2>&1)
expect_eq "setsockopt(IP_IPSEC_POLICY): bypass in/out/v6, none and ipsec work, fwd and type 5 EINVAL" \
	"ok ok ok ok ok EINVAL EINVAL" "$got"

ns_add A
ns_add B
ip link add va netns "$(ns A)" type veth peer name vb netns "$(ns B)"
nsx A ip addr add 10.0.0.1/24 dev va
nsx B ip addr add 10.0.0.2/24 dev vb
for n in A B; do
	nsx $n ip link set lo up
	nsx $n ip link set "v${n,,}" up
done

# conf MODE LOCAL PEER SRCID DSTID: one host-to-host transport policy, PSK.
# The child SA uses transforms that openiked 7.2's Linux PF_KEY map knows
# (it has no AES-CBC, AES-GCM or HMAC-SHA2 for PF_KEY).
conf() {
	cat <<EOF
set nofragmentation
set novendorid
ikev2 "kame" $1 transport esp from $2 to $3 local $2 peer $3 \\
	ikesa enc aes-128 prf hmac-sha2-256 auth hmac-sha2-256 group curve25519 \\
	childsa enc aes-128-ctr auth hmac-sha1 \\
	srcid $4 dstid $5 psk "kame-selftest-psk"
EOF
}
conf active 10.0.0.1 10.0.0.2 a.example b.example >"$tmp/A.conf"
conf passive 10.0.0.2 10.0.0.1 b.example a.example >"$tmp/B.conf"
chmod 600 "$tmp/A.conf" "$tmp/B.conf"

# Started with `ip netns exec` itself, not the nsx function, so that $! is
# the process (ip execs it), not a subshell.
ip netns exec "$(ns A)" "$SETKEY" -xH >"$tmp/promisc" 2>&1 &
pids+=($!)
sleep 1
# Both start at once; A starts passive (-S) so it only initiates once both
# are fully configured (an IKE_SA_INIT answered by a half-configured peer is
# dropped by that peer's configuration reset).
ip netns exec "$(ns B)" "$IKED" -dvv -f "$tmp/B.conf" -s "$tmp/B.sock" >"$tmp/B.log" 2>&1 &
pids+=($!)
ip netns exec "$(ns A)" "$IKED" -dvv -S -f "$tmp/A.conf" -s "$tmp/A.sock" >"$tmp/A.log" 2>&1 &
pids+=($!)
t0=$SECONDS
# up LOG: iked has received its whole configuration (the last static knob).
up() { grep -q 'config_getstatic: no stickyaddress' "$1"; }
while ! { up "$tmp/A.log" && up "$tmp/B.log"; } && [ $((SECONDS - t0)) -lt 150 ]; do
	sleep 1
done
ktap_print_msg "both iked configured after $((SECONDS - t0)) s"
bad=$(grep -h 'failed to bypass\|failed to bind\|fatal' "$tmp/A.log" "$tmp/B.log")
verdict "$(up "$tmp/A.log" && up "$tmp/B.log" && [ -z "$bad" ] && echo ok)" \
	"both iked start and bind their IKE sockets" "$bad$(tail -5 "$tmp/A.log" "$tmp/B.log")"
xp=$(nsx A ip xfrm policy list 2>&1)
verdict "$([ "$(grep -c '^[[:space:]]*socket in ' <<<"$xp")" = 4 ] &&
	[ "$(grep -c '^[[:space:]]*socket out ' <<<"$xp")" = 4 ] && echo ok)" \
	"iked's 4 IKE sockets carry bypass policies in and out (ip xfrm policy)" "$xp"

nsx A "$IKECTL" -s "$tmp/A.sock" active >/dev/null
est() { grep -q 'established peer' "$1"; }
t1=$SECONDS
while ! { est "$tmp/A.log" && est "$tmp/B.log" &&
	[ "$(nsx A "$SETKEY" -DP 2>/dev/null | grep -c 'esp/transport//require')" = 3 ]; } &&
	[ $((SECONDS - t1)) -lt 60 ]; do
	sleep 1
done
ktap_print_msg "negotiated after $((SECONDS - t1)) s"

# msgs TYPE SATYPE: the promiscuous copies of iked's messages of that type
# (`sadb_msg{ version=2 type=T errno=E satype=S` lines, then `len=...`).
msgs() {
	grep -A1 "sadb_msg{ version=2 type=$1 errno=[0-9]* satype=$2\$" "$tmp/promisc" |
		paste - - - 2>/dev/null
}
fl=$(msgs 9 0)
verdict "$(grep -q 'errno=0' <<<"$fl" && ! grep -q 'errno=[1-9]' <<<"$fl" && echo ok)" \
	"iked's SADB_FLUSH succeeds" "$fl"
for s in 3:ESP 2:AH; do
	r=$(msgs 7 "${s%%:*}")
	# The request (len=2) and the reply with SUPPORTED_AUTH/ENCRYPT (14, 15).
	verdict "$(grep -q 'len=2 ' <<<"$r" && grep -qv 'len=2 ' <<<"$r" &&
		! grep -q 'errno=[1-9]' <<<"$r" &&
		grep -A4 "type=7 errno=0 satype=${s%%:*}\$" "$tmp/promisc" | grep -q 'sadb_ext{ len=[0-9]* type=15 }' &&
		echo ok)" "iked registers for ${s#*:}; the reply lists the supported algorithms" "$r"
done

verdict "$(est "$tmp/A.log" && est "$tmp/B.log" && echo ok)" \
	"the IKE SA is established on both sides" "$(grep -h 'ikev2\|pfkey' "$tmp/A.log" "$tmp/B.log" | tail -20)"
spi_a=$(sed -n 's/^pfkey_sa_getspi: spi 0x\([0-9a-f]*\)$/\1/p' "$tmp/A.log")
spi_b=$(sed -n 's/^pfkey_sa_getspi: spi 0x\([0-9a-f]*\)$/\1/p' "$tmp/B.log")
gs=$(msgs 1 3)
verdict "$([ -n "$spi_a" ] && [ -n "$spi_b" ] && ! grep -q 'errno=[1-9]' <<<"$gs" && echo ok)" \
	"GETSPI gives each side an SPI (A 0x$spi_a, B 0x$spi_b)" "$gs"

for n in A B; do
	d=$(nsx $n "$SETKEY" -D 2>&1)
	ok=ok
	for spi in "$spi_a" "$spi_b"; do
		grep -q "esp mode=transport spi=[0-9]*(0x$spi)" <<<"$d" || ok=
	done
	[ "$(grep -c '	E: aes-ctr ' <<<"$d")" = 2 ] || ok=
	[ "$(grep -c '	A: hmac-sha1 ' <<<"$d")" = 2 ] || ok=
	[ "$(grep -c 'state=mature' <<<"$d")" = 2 ] || ok=
	verdict "$ok" "$n: setkey -D lists both negotiated SAs (aes-ctr, hmac-sha1, mature)" "$d"
done
p=$(nsx A "$SETKEY" -DP 2>&1)
verdict "$(grep -A2 '^10.0.0.1\[any\] 10.0.0.2\[any\] 255$' <<<"$p" | grep -q '	out ipsec' &&
	grep -A2 '^10.0.0.2\[any\] 10.0.0.1\[any\] 255$' <<<"$p" | grep -q '	in ipsec' &&
	grep -A2 '^10.0.0.2\[any\] 10.0.0.1\[any\] 255$' <<<"$p" | grep -q '	fwd ipsec' &&
	[ "$(grep -c '	esp/transport//require' <<<"$p")" = 3 ] && echo ok)" \
	"A: setkey -DP lists iked's out, in and fwd policies" "$p"
up=$(msgs 13 0)
verdict "$([ "$(grep -c 'len=' <<<"$up")" -ge 3 ] && ! grep -q 'errno=[1-9]' <<<"$up" && echo ok)" \
	"iked's three X_SPDUPDATEs succeed" "$up"

# `ikectl decouple`: A's iked unloads what it installed (SADB_DELETE,
# X_SPDDELETE), keeping its IKE SA.
nsx A "$IKECTL" -s "$tmp/A.sock" decouple >/dev/null
t2=$SECONDS
while nsx A "$SETKEY" -D 2>&1 | grep -q 'esp mode' && [ $((SECONDS - t2)) -lt 30 ]; do sleep 1; done
verdict "$(nsx A "$SETKEY" -D 2>&1 | grep -qx 'No SAD entries.' && echo ok)" \
	"A: iked decoupled deletes its SAs" "$(nsx A "$SETKEY" -D 2>&1)"
verdict "$(nsx A "$SETKEY" -DP 2>&1 | grep -qx 'No SPD entries.' && echo ok)" \
	"A: iked decoupled deletes its policies" "$(nsx A "$SETKEY" -DP 2>&1)"
del=$(msgs 4 3)
verdict "$(grep -q 'errno=0' <<<"$del" && ! grep -q 'errno=[1-9]' <<<"$del" && echo ok)" \
	"iked's SADB_DELETEs succeed" "$del"
sd=$(msgs 15 0)
verdict "$([ "$(grep -c 'len=' <<<"$sd")" -ge 3 ] && ! grep -q 'errno=[1-9]' <<<"$sd" && echo ok)" \
	"iked's X_SPDDELETEs succeed" "$sd"

# Stop everything; iked's privilege-separated children hold PF_KEY sockets
# too, so wait until the module is no longer in use.
stop_all
xp=$(nsx A ip xfrm policy list 2>&1)
verdict "$(! grep -q 'socket' <<<"$xp" && echo ok)" \
	"A: the socket policies went with iked's sockets" "$xp"
ns_cleanup
unload
got=$(sockopt 2>&1)
expect_eq "without kame_ipsec, setsockopt(IP_IPSEC_POLICY) is EOPNOTSUPP (xfrm_user only)" \
	"EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP EOPNOTSUPP" "$got"
ktap_finished
