#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The quick start's commands: Documentation/quickstart.rst shows them from
# this file, and selftests/quickstart.sh runs this very file in the test VM.
# As root, after `make install`; "alice" and "bob" are two network
# namespaces standing for two hosts.
set -ex
cd "$(dirname "$0")"
# Where `make install` puts setkey and ipsecstat (the VM's PATH lacks it).
export PATH="/usr/local/sbin:$PATH"

# [load]
modprobe kame_ipsec
lsmod | grep kame_ipsec
# [hosts]
ip netns add alice
ip netns add bob
ip link add veth0 netns alice type veth peer name veth0 netns bob
ip -n alice addr add 192.0.2.1/24 dev veth0
ip -n bob addr add 192.0.2.2/24 dev veth0
ip -n alice link set veth0 up
ip -n bob link set veth0 up
# [keys]
ip netns exec alice setkey -f alice.conf
ip netns exec bob setkey -f bob.conf
# [ping]
ip netns exec bob timeout 60 tcpdump -l -n -i veth0 -c 4 esp &
sleep 3
ip netns exec alice ping -c 3 192.0.2.2
wait
# [look]
ip netns exec alice setkey -D
ip netns exec alice setkey -DP
ip netns exec alice ipsecstat -p esp
ip netns exec alice sysctl net.inet.ipsec.def_policy
# [cleanup]
ip netns del alice
ip netns del bob
modprobe -r kame_ipsec
# [end]
