#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The quick start (Documentation/quickstart.rst) cannot rot: its one
# command for the VM, taken from the .rst itself, is run here as written
# (make install, then Documentation/quickstart/ping.sh, the very file whose
# pieces the .rst includes), and its output is checked: the module loads,
# the ping gets its replies, tcpdump sees ESP with both SPIs, setkey and
# ipsecstat show what the doc says.  The control: the same ping without
# bob's SAs gets no reply.  The guest's /etc, /lib and /usr are
# copy-on-write, so `make install` reaches nothing on the host.
set -u
. "$(dirname "$0")/lib.sh"

rst=$KAME_TOP/Documentation/quickstart.rst
installed=/lib/modules/$(uname -r)/extra/kame_ipsec.ko
cleanup() {
	ip netns del alice 2>/dev/null
	ip netns del bob 2>/dev/null
	unload 2>/dev/null
	rm -f /etc/modprobe.d/kame-ipsec.conf "$installed" \
		/usr/local/sbin/setkey /usr/local/sbin/ipsecstat
	depmod -a
}
trap cleanup EXIT

ktap_print_header
ktap_set_plan 14
unload

# The doc's command: the words between the quotes of its
# "scripts/vm-run sh -c '...'" line.
cmd=$(sed -n "s/^    scripts\/vm-run sh -c '\(.*\)'$/\1/p" "$rst")
expect_eq "the quick start names its VM command" \
	"make install && Documentation/quickstart/ping.sh" "$cmd"
[ -n "$cmd" ] || cmd=false
qs=$(cd "$KAME_TOP" && sh -c "$cmd" 2>&1)
rc=$?
printf '%s\n' "$qs" | sed 's/^/# /'
# has PATTERN: the command's output has it (qs: check's own local is out).
has() { grep -q -- "$1" <<<"$qs"; }
expect_eq "the command exits 0" 0 "$rc"
check "make install put setkey and ipsecstat in /usr/local/sbin" \
	test -x /usr/local/sbin/setkey -a -x /usr/local/sbin/ipsecstat
check "... and the module under extra/" test -f "$installed"
check "modprobe kame_ipsec loaded it (lsmod lists it)" grep -q '^kame_ipsec ' <<<"$qs"
check "ping: 3 packets transmitted, 3 received" has '3 packets transmitted, 3 received'
check "tcpdump on bob sees ESP with alice's SPI 0x1001" has 'ESP(spi=0x00001001'
check "... and with bob's SPI 0x1002" has 'ESP(spi=0x00001002'
check "setkey -D shows the GCM SA" has 'E: aes-gcm-16'
check "... and the CBC+HMAC SA" has 'A: hmac-sha256'
check "setkey -DP shows the out policy requiring ESP" has 'esp/transport//require'
check "ipsecstat -p esp counts 3 packets out" has '^[[:space:]]*3 packets out'
check "the script unloaded the module at its end" sh -c '! grep -q "^kame_ipsec " /proc/modules'

# The control: the same steps with bob holding no SA, so his replies and
# his acceptance of alice's ESP fail: no reply comes back.
tmp=$(mktemp -d)
cp "$KAME_TOP"/Documentation/quickstart/* "$tmp"
sed -i 's|bob.conf|/dev/null|; /tcpdump/d; /^wait$/d' "$tmp/ping.sh"
qs=$(sh "$tmp/ping.sh" 2>&1)
rm -rf "$tmp"
check "control: without bob's SAs the ping gets no reply" \
	has '3 packets transmitted, 0 received'

ktap_finished
