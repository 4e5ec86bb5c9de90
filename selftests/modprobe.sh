#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installation and autoloading: `make install` puts the module under
# /lib/modules/7.3.4/extra and scripts/modprobe.d/kame-ipsec.conf under
# /etc/modprobe.d, after which socket(PF_KEY, ...) loads kame_ipsec, not
# af_key.  The guest's /etc and /lib are copy-on-write overlays, so nothing
# reaches the host.
#
#   group      what is checked
#   install    make install: module, depmod, modprobe configuration
#   alias      net-pf-15 resolves to kame_ipsec; af_key without our file
#   autoload   socket(PF_KEY) loads kame_ipsec by itself
set -u
. "$(dirname "$0")/lib.sh"

conf=/etc/modprobe.d/kame-ipsec.conf
installed=/lib/modules/$(uname -r)/extra/kame_ipsec.ko
cleanup() {
	unload 2>/dev/null
	rmmod af_key 2>/dev/null
	rm -f "$conf" "$conf.off" "$installed"
	depmod -a
}
trap cleanup EXIT

ktap_print_header
ktap_set_plan 9
unload

check "make install" make -C "$KAME_TOP" install
check "the module is installed under extra/" test -f "$installed"
check "the modprobe configuration is installed" cmp "$KAME_TOP/scripts/modprobe.d/kame-ipsec.conf" "$conf"
check "modprobe resolves net-pf-15 to kame_ipsec" \
	sh -c "modprobe -n -v net-pf-15 | grep -q 'extra/kame_ipsec.ko' && ! modprobe -n -v net-pf-15 | grep -q af_key"

expect_eq "socket(PF_KEY) with nothing loaded succeeds" ok "$(probe create)"
check "... by autoloading kame_ipsec" is_loaded
check "... and not af_key" sh -c '! grep -q "^af_key " /proc/modules'

# The control experiment: without our file the kernel's alias picks af_key.
unload
mv "$conf" "$conf.off"
probe create >/dev/null
check "without kame-ipsec.conf, socket(PF_KEY) autoloads af_key instead" \
	grep -q '^af_key ' /proc/modules
rmmod af_key
mv "$conf.off" "$conf"
check "modprobe kame_ipsec / modprobe -r by name" sh -c 'modprobe kame_ipsec && modprobe -r kame_ipsec'

ktap_finished
