# SPDX-License-Identifier: GPL-2.0
"""The data-plane test harness (issue 5, items 7 and 8): two or three
network namespaces over veth, one scenario configured as `ip xfrm` or as
setkey for kame_ipsec at each end, traffic through it, and the wire
checked with tcpdump.

  algs.py     setkey's algorithm names, their `ip xfrm` form, key and ICV
              sizes, tcpdump -E names
  topo.py     the namespaces, links, addresses, MTU, static neighbours
  sa.py       a scenario: SAs and policies as `ip xfrm` commands or a
              setkey configuration, installed at either end
  traffic.py  ping sweep, TCP transfer with SHA-256 at both ends, UDP echo
  wire.py     tcpdump capture, pcap walk: only ESP/AH with the expected
              addresses, SPIs and sequence numbers; tcpdump -E decoding
  case.py     the scenario matrix and one case's KTAP lines
"""
