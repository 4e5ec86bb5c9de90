# SPDX-License-Identifier: GPL-2.0
"""Network namespaces for the data-plane tests, created on `with` entry and
deleted on exit:

  pair     [a] veth0 ------------------------------ veth0 [b]
               192.0.2.1  fd00:1::1       192.0.2.2  fd00:1::2

  routed   [a] veth0 ------- veth1 [r] veth2 ------- veth0 [b]
  gateway      192.0.2.1   .254       .254   198.51.100.2
               fd00:1::1   fd00:1::fe fd00:2::fe   fd00:2::2

In "routed" a and b are the IPsec peers and r forwards their ESP/AH; in
"gateway" r and b are (r protects what it forwards from a's network).
Documentation ranges only (RFC 5737, ULA fd00::/8); IPv6 addresses are
`nodad`; every neighbour is static (no ARP or ND on the wire, so a capture
holds nothing but the test's packets); `mtu` applies to every veth.
"""
import os
import subprocess

NETS = {1: ("192.0.2.", "fd00:1::", 24, 64), 2: ("198.51.100.", "fd00:2::", 24, 64)}
# node -> [(ifname, net, host number)]; host 254 is printed as fe in IPv6.
LINKS = {
    "pair": {"a": [("veth0", 1, 1)], "b": [("veth0", 1, 2)]},
    "routed": {"a": [("veth0", 1, 1)], "r": [("veth1", 1, 254), ("veth2", 2, 254)],
               "b": [("veth0", 2, 2)]},
}
LINKS["gateway"] = LINKS["routed"]
# Which ends of each veth face each other.
PEERS = {"pair": [(("a", "veth0"), ("b", "veth0"))],
         "routed": [(("a", "veth0"), ("r", "veth1")), (("r", "veth2"), ("b", "veth0"))]}
PEERS["gateway"] = PEERS["routed"]


def host_addr(net, host, fam):
    v4, v6, _, _ = NETS[net]
    return v4 + str(host) if fam == 4 else v6 + format(host, "x")


def prefix_of(net, fam):
    v4, v6, p4, p6 = NETS[net]
    return "%s0/%d" % (v4, p4) if fam == 4 else "%s/%d" % (v6, p6)


def leftover(prefix):
    """Namespaces whose name starts with `prefix` that still exist."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


class Topology:
    def __init__(self, kind="pair", mtu=1500, prefix=None):
        self.kind, self.mtu = kind, mtu
        self.prefix = prefix or "dp-%d-" % os.getpid()
        self.nodes = list(LINKS[kind])
        self.procs = []

    def ns(self, node):
        return self.prefix + node

    def addr(self, node, fam):
        """`node`'s address of family 4 or 6 (r's is the one facing b)."""
        _, net, host = LINKS[self.kind][node][-1]
        return host_addr(net, host, fam)

    def subnet(self, node, fam):
        """The prefix of the network `node` is on (r: the one facing b)."""
        return prefix_of(LINKS[self.kind][node][-1][1], fam)

    def uplink(self, node):
        """The interface of `node` that faces b (b's own: its only one)."""
        return LINKS[self.kind][node][-1][0]

    def run(self, node, *cmd, check=True, timeout=120, input=None):
        """Runs cmd in `node`'s namespace; the CompletedProcess (text)."""
        r = subprocess.run(["ip", "netns", "exec", self.ns(node)] + list(cmd), input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s: %s: exit %d: %s" % (node, " ".join(cmd), r.returncode,
                                                         r.stderr.strip()))
        return r

    def popen(self, node, *cmd, **kw):
        """Starts cmd in `node`'s namespace; killed on exit if still running."""
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(node)] + list(cmd), **kw)
        self.procs.append(p)
        return p

    def mac(self, node, ifname):
        return "02:00:00:%02x:%02x:%02x" % (self.nodes.index(node) + 1, int(ifname[4:]), 1)

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self):
        for n in self.nodes:
            subprocess.run(["ip", "netns", "add", self.ns(n)], check=True)
            self.run(n, "sysctl", "-qw", "net.ipv6.conf.all.accept_ra=0",
                     "net.ipv6.conf.default.accept_ra=0", "net.ipv4.ip_forward=%d" % (n == "r"),
                     "net.ipv6.conf.all.forwarding=%d" % (n == "r"))
        for (n1, i1), (n2, i2) in PEERS[self.kind]:
            subprocess.run(["ip", "link", "add", "tmp-%d" % os.getpid(), "netns", self.ns(n1),
                            "type", "veth", "peer", "name", i2, "netns", self.ns(n2)], check=True)
            self.run(n1, "ip", "link", "set", "tmp-%d" % os.getpid(), "name", i1)
        batch = {n: ["link set lo up"] for n in self.nodes}
        for n, links in LINKS[self.kind].items():
            for ifname, net, host in links:
                batch[n] += ["link set %s address %s mtu %d up" % (ifname, self.mac(n, ifname),
                                                                   self.mtu),
                             "addr add %s/%d dev %s" % (host_addr(net, host, 4), NETS[net][2],
                                                        ifname),
                             "addr add %s/%d dev %s nodad" % (host_addr(net, host, 6),
                                                              NETS[net][3], ifname)]
        for ends in PEERS[self.kind]:
            for (n, ifname), (peer, pif) in (ends, ends[::-1]):
                net, host = [(net, h) for i, net, h in LINKS[self.kind][peer] if i == pif][0]
                batch[n] += ["neigh replace %s lladdr %s dev %s nud permanent" % (
                    host_addr(net, host, fam), self.mac(peer, pif), ifname) for fam in (4, 6)]
        if self.kind != "pair":
            for n, net in (("a", 1), ("b", 2)):
                batch[n] += ["route add default via %s" % host_addr(net, 254, fam)
                             for fam in (4, 6)]
        for n, cmds in batch.items():
            self.run(n, "ip", "-batch", "-", input="\n".join(cmds) + "\n")

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in self.nodes:
            subprocess.run(["ip", "netns", "del", self.ns(n)], stderr=subprocess.DEVNULL)
        return False
