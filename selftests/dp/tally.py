# SPDX-License-Identifier: GPL-2.0
"""Every counter the stress test's accounting needs, read from a pair
Topology's two namespaces (and the host's softnet backlog), as one flat
dict per snapshot, so that two snapshots subtract:

  NODE.ipsec.NAME   /proc/net/kame_ipsec/{ipsecstat,espstat}
  NODE.xfrm.NAME    /proc/net/xfrm_stat (XFRM sees the ESP we do not own)
  NODE.ip.NAME      /proc/net/snmp "Ip:" and /proc/net/snmp6 "Ip6..." lines
  NODE.link.NAME    veth0's statistics (ip -s -j link)
  NODE.nft.NAME     the named counters of the nft table `stress`
  softnet.dropped   /proc/net/softnet_stat column 2, all CPUs (any netns)

nft_rules() is that table: at PREROUTING (before reassembly and before
anything of ours), "clear" counts packets between the test's addresses
that arrive on veth0 and are not ESP (nor an IPv6 fragment of ESP), and
"decap" counts what re-enters on ipsec0 (decapsulated by us).
"""
import json

TEST_V4 = "192.0.2.1, 192.0.2.2, 10.1.0.1, 10.2.0.1"
TEST_V6 = "fd00:1::1, fd00:1::2, fd00:a::1, fd00:b::1"


def nft_rules():
    return """
table inet stress {
  counter clear {}
  counter decap {}
  chain pre {
    type filter hook prerouting priority -500; policy accept;
    iifname "ipsec0" counter name "decap"
    iifname "veth0" ip saddr { %s } ip protocol != esp counter name "clear"
    iifname "veth0" ip6 saddr { %s } ip6 nexthdr != { esp, 44 } counter name "clear"
    iifname "veth0" ip6 saddr { %s } ip6 nexthdr 44 @nh,320,8 != 50 counter name "clear"
  }
}
""" % (TEST_V4, TEST_V6, TEST_V6)


def _pairs(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2 and f[1].lstrip("-").isdigit():
            out[f[0]] = int(f[1])
    return out


def _snmp(text):
    """The "Ip:" name line and value line of /proc/net/snmp."""
    lines = [line.split() for line in text.splitlines() if line.startswith("Ip:")]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:]) if v.lstrip("-").isdigit()}


def _nft(text):
    out, name = {}, None
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["counter"] and len(f) >= 2:
            name = f[1]
        elif f[:1] == ["packets"] and name:
            out[name] = int(f[1])
    return out


def read(topo):
    snap = {}
    for node in ("a", "b"):
        def cat(path, node=node):
            return topo.run(node, "cat", path).stdout
        for k, v in _pairs(cat("/proc/net/kame_ipsec/ipsecstat") +
                           cat("/proc/net/kame_ipsec/espstat")).items():
            snap["%s.ipsec.%s" % (node, k)] = v
        for k, v in _pairs(cat("/proc/net/xfrm_stat")).items():
            snap["%s.xfrm.%s" % (node, k)] = v
        ip = _snmp(cat("/proc/net/snmp"))
        ip.update({k: v for k, v in _pairs(cat("/proc/net/snmp6")).items()
                   if k.startswith("Ip6")})
        for k, v in ip.items():
            snap["%s.ip.%s" % (node, k)] = v
        link = json.loads(topo.run(node, "ip", "-s", "-j", "link", "show", "veth0").stdout)[0]
        for d in ("rx", "tx"):
            for k, v in link["stats64"][d].items():
                snap["%s.link.%s_%s" % (node, d, k)] = v
        for k, v in _nft(topo.run(node, "nft", "list", "counters", "table", "inet",
                                  "stress").stdout).items():
            snap["%s.nft.%s" % (node, k)] = v
    with open("/proc/net/softnet_stat") as f:
        snap["softnet.dropped"] = sum(int(line.split()[1], 16) for line in f)
    return snap


def delta(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}


# The ESP drop counters of the receiving side; with both ends ours and
# every SPI fresh, the first three must stay 0 (a peer with the right key
# never sends a malformed packet).
MALFORMED = ("esps_hdrops", "esps_badauth", "esps_badenc")
OTHER_DROPS = ("esps_replay", "esps_invalid", "esps_crypto", "esps_qfull")
# What may lose an ESP packet between esps_output at x and the ESP handler
# at y, counting other packets too (so a bound, not an exact figure).
# Not OutDiscards: ip_send_skb() counts there what a socket's send lost,
# the policy drops of ping and UDP included; our ESP packets leave through
# ip_local_out(), which does not.
LOSS_X = ("link.tx_dropped", "ip.OutNoRoutes", "ip.FragFails", "ip.Ip6OutNoRoutes",
          "ip.Ip6FragFails")
LOSS_Y = ("link.rx_dropped", "ip.InDiscards", "ip.InHdrErrors", "ip.ReasmFails",
          "ip.Ip6InDiscards", "ip.Ip6InHdrErrors", "ip.Ip6ReasmFails")


def invariants(d):
    """[(ok, description, diagnostics)] for the counters' delta d, each
    direction x to y."""
    out = []
    for x, y in (("a", "b"), ("b", "a")):
        def g(node, name):
            return d.get("%s.%s" % (node, name), 0)
        sent, succ = g(x, "ipsec.esps_output"), g(x, "ipsec.out_success")
        out.append((sent == succ and sent > 0,
                    "%s: out_success = esps_output (one ESP SA per bundle), not 0" % x,
                    "out_success %d, esps_output %d" % (succ, sent)))
        got, nostate = g(y, "ipsec.esps_input"), g(y, "xfrm.XfrmInNoStates")
        loss = sum(g(x, k) for k in LOSS_X) + sum(g(y, k) for k in LOSS_Y) + \
            d.get("softnet.dropped", 0)
        arrived = got + nostate
        diag = ("esps_output(%s) %d; esps_input(%s) %d + XfrmInNoStates(%s) %d = %d; "
                "loss bound %d (%s)" % (x, sent, y, got, y, nostate, arrived, loss,
                                        ", ".join("%s.%s %d" % (n, k, g(n, k))
                                                  for n, ks in ((x, LOSS_X), (y, LOSS_Y))
                                                  for k in ks if g(n, k)) or "none"))
        out.append((sent - loss <= arrived <= sent,
                    "%s>%s: every ESP packet %s sent reached %s's ESP handler, ours "
                    "(esps_input) or XFRM's (no SA: XfrmInNoStates)%s" % (
                        x, y, x, y, "" if loss else ", exactly"), diag))
        notdb = g(y, "ipsec.esps_notdb")
        out.append((notdb == nostate,
                    "%s: esps_notdb = XfrmInNoStates (ESP for an SPI neither SAD has is "
                    "counted once by each)" % y,
                    "esps_notdb %d, XfrmInNoStates %d" % (notdb, nostate)))
        drops = {k: g(y, "ipsec." + k) for k in MALFORMED + OTHER_DROPS}
        insucc, polvio = g(y, "ipsec.in_success"), g(y, "ipsec.in_polvio")
        clear = g(y, "nft.clear")
        total = sum(drops.values()) + insucc + polvio - clear
        out.append((got == total,
                    "%s: esps_input = its drops + in_success + in_polvio (less cleartext "
                    "refused)" % y,
                    "esps_input %d; %s; in_success %d; in_polvio %d; cleartext %d" % (
                        got, ", ".join("%s %d" % kv for kv in drops.items()), insucc, polvio,
                        clear)))
        out.append((all(drops[k] == 0 for k in MALFORMED),
                    "%s: no packet of ours refused as malformed (%s)" % (y, ", ".join(MALFORMED)),
                    drops))
        decap, backlog = g(y, "nft.decap"), d.get("softnet.dropped", 0) + \
            g(y, "ip.InHdrErrors") + g(y, "ip.Ip6InHdrErrors")
        out.append((insucc - backlog <= decap <= insucc,
                    "%s: what in_success counts re-entered on ipsec0%s" % (
                        y, "" if backlog else ", exactly"),
                    "in_success %d, seen on ipsec0 %d, backlog/header drops %d" % (
                        insucc, decap, backlog)))
        out.append((clear == 0,
                    "%s: no cleartext between the test's addresses arrived while SAs and "
                    "policies churned" % y, "cleartext packets %d" % clear))
    return out
