# SPDX-License-Identifier: GPL-2.0
"""What crosses the wire: a tcpdump capture on the Topology's wire link
during the traffic, then

- check(): every packet between the test's addresses is ESP or AH from one
  IPsec peer to the other, with the SPIs the configuration gives that
  direction (outermost first: AH then ESP for ESP+AH), each SPI's sequence
  numbers 1..n each once (XFRM itself sends some out of order with two
  CPUs: counted, not refused); no cleartext ICMP, TCP or UDP of the test
  flows; something protected seen in both directions;
- check_idents(): no two IPv4 ESP/AH packets from one address to another
  that are neither DF-marked nor fragments carry the same identification
  (RFC 6864 4.1: a non-atomic datagram's is unique for its source,
  destination and protocol while it may be alive; kame_ipsec numbers a
  GSO packet's tunnel segments from one reservation);
- decode(): tcpdump -E with the configured keys turns ESP back into the
  pings (CBC ciphers with no ICV or a 96-bit one: tcpdump's limits).

Packets that involve none of the test's addresses (IPv6 link-local MLD)
are not looked at.
"""
import collections
import ipaddress
import os
import signal
import struct
import subprocess
import tempfile
import time

from dp import algs, topo as topomod

ESP, AH, FRAG = 50, 51, 44
V6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options


class Capture:
    """tcpdump from `with` entry to exit on each IPsec peer's interface
    toward the other, outgoing packets only (256-byte snaps): together, all
    that crosses between them. Not incoming: XFRM hands a tunnel-mode
    packet it decapsulated back to the interface it came in on, so the
    inner packet would be seen there in the clear."""

    def __init__(self, topo, nodes):
        self.topo, self.nodes, self.paths, self.procs = topo, nodes, [], []

    def __enter__(self):
        for node in self.nodes:
            fd, path = tempfile.mkstemp(suffix=".pcap")
            os.close(fd)
            self.paths.append(path)
            p = self.topo.popen(node, "tcpdump", "-i", self.topo.uplink(node), "-Q", "out",
                                "--immediate-mode", "-n", "-s", "256", "-U", "-B", "32768",
                                "-w", path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            self.procs.append(p)
            line = p.stderr.readline()
            if "listening on" not in line:
                raise RuntimeError("tcpdump: " + line + p.stderr.read())
        return self

    def __exit__(self, *exc):
        # Without --immediate-mode libpcap hands packets over a block at a
        # time, and what the last block held was lost at SIGINT; a second
        # lets tcpdump write what it has read.
        time.sleep(1)
        self.stats = ""
        for p in self.procs:
            p.send_signal(signal.SIGINT)
            self.stats += p.communicate(timeout=60)[1]
        return False

    def dropped(self):
        """Packets tcpdump says the kernel dropped (the check is then void)."""
        return sum(int(line.split()[0]) for line in self.stats.splitlines()
                   if "dropped by kernel" in line)

    def packets(self):
        return [p for path in self.paths for p in parse_pcap(path)]

    def idents(self):
        return [i for path in self.paths for i in ipv4_idents(path)]

    def remove(self):
        for path in self.paths:
            os.unlink(path)


def frames(path):
    """Yields (ethertype, packet) per Ethernet frame of a pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if struct.unpack_from("<I", data)[0] != 0xa1b2c3d4:
        raise RuntimeError("%s: not a little-endian pcap" % path)
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        yield struct.unpack_from("!H", frame, 12)[0], frame[14:]


def parse_pcap(path):
    """Yields (src, dst, chain, cont) per IP packet: chain is the header walk
    [(proto, spi, seq)...] through AH and ESP ending at the first other
    protocol (spi and seq None); cont is True for a non-first fragment."""
    for ethertype, b in frames(path):
        pkt = parse_ip(b, ethertype)
        if pkt:
            yield pkt


def ipv4_idents(path):
    """Yields (src, dst, identification) per IPv4 ESP/AH packet that is
    neither DF-marked nor a fragment (MF or an offset)."""
    for ethertype, b in frames(path):
        if ethertype != 0x0800 or len(b) < 20 or b[9] not in (ESP, AH):
            continue
        ident, frag = struct.unpack_from("!HH", b, 4)
        if frag & 0x4000 == 0 and frag & 0x3fff == 0:
            yield str(ipaddress.ip_address(b[12:16])), str(ipaddress.ip_address(b[16:20])), ident


# How many of one flow's packets check_idents() compares each with: the
# generator moves on at least one per packet, so a correct sender repeats
# none this close, while a 64 MiB transfer may wrap all 65 536.
IDENT_WINDOW = 1024


def check_idents(idents):
    """(ok, diagnostics) for check_idents() in the module's docstring: each
    identification against those of the IDENT_WINDOW packets before it
    from the same source to the same destination."""
    recent, dups, counts = {}, [], {}
    for src, dst, ident in idents:
        order, held = recent.setdefault((src, dst), (collections.deque(), collections.Counter()))
        if held[ident]:
            dups.append("%s > %s: identification %d repeated within %d packets"
                        % (src, dst, ident, IDENT_WINDOW))
        order.append(ident)
        held[ident] += 1
        if len(order) > IDENT_WINDOW:
            held[order.popleft()] -= 1
        counts[src, dst] = counts.get((src, dst), 0) + 1
    summary = "identifications of non-DF IPv4 ESP/AH packets: %s" % (
        ", ".join("%s > %s: %d" % (k[0], k[1], n) for k, n in counts.items()) or "none")
    more = ["(%d more)" % (len(dups) - 12)] if len(dups) > 12 else []
    return not dups, "\n".join(dups[:12] + more + [summary])


def parse_ip(b, ethertype):
    if ethertype == 0x0800:
        ihl = (b[0] & 15) * 4
        src, dst = ipaddress.ip_address(b[12:16]), ipaddress.ip_address(b[16:20])
        proto, cont = b[9], (struct.unpack_from("!H", b, 6)[0] & 0x1fff) != 0
        b = b[ihl:]
    elif ethertype == 0x86dd:
        src, dst = ipaddress.ip_address(b[8:24]), ipaddress.ip_address(b[24:40])
        proto, cont, b = b[6], False, b[40:]
        while proto in V6_EXT + (FRAG,) and len(b) >= 8:
            if proto == FRAG:
                cont = cont or (struct.unpack_from("!H", b, 2)[0] >> 3) != 0
                proto, b = b[0], b[8:]
            else:
                proto, b = b[0], b[(b[1] + 1) * 8:]
    else:
        return None
    chain = []
    while proto in (ESP, AH) and not cont and len(b) >= 12:
        spi, seq = struct.unpack_from("!II", b, 0 if proto == ESP else 4)
        chain.append((proto, spi, seq))
        if proto == ESP:
            break
        proto, b = b[0], b[(b[1] + 2) * 4:]
    else:
        chain.append((proto, None, None))
    return str(src), str(dst), chain, cont


def test_addresses(topo):
    return {topo.addr(n, f) for n in topo.nodes for f in (4, 6)} | \
        {topomod.host_addr(net, 254, f) for net in topomod.NETS for f in (4, 6)}


def check(packets, cfg):
    """(ok, diagnostics) for the rule in the module's docstring."""
    want = cfg.spis()
    ours = test_addresses(cfg.topo)
    bad, seqs, seen = [], {}, set()
    for src, dst, chain, cont in packets:
        if src not in ours and dst not in ours:
            continue
        spis = [spi for p, spi, _ in chain if p in (ESP, AH)]
        if (src, dst) in want and chain[0][0] in (ESP, AH) and (cont or spis == want[src, dst]):
            seen.add((src, dst))
            for _, spi, seq in chain:
                seqs.setdefault(spi, []).append(seq)
        else:
            bad.append("unexpected: %s > %s %s%s" % (src, dst, describe(chain),
                                                    " (fragment)" if cont else ""))
    for pair in want:
        if pair not in seen:
            bad.append("nothing protected %s > %s" % pair)
    late = 0
    seqs.pop(None, None)
    for spi, s in seqs.items():
        if sorted(s) != list(range(1, len(s) + 1)):
            bad.append("SPI 0x%08x: sequence numbers not each of 1..%d once: %s" %
                       (spi, len(s), gaps(sorted(s))))
        late += sum(x < y for x, y in zip(s[1:], s))
    n = sum(len(s) for s in seqs.values())
    summary = "%d packets, %d ESP/AH headers (%d behind a higher number), SPIs %s" % (
        len(packets), n, late, ", ".join("0x%08x: %d" % (k, len(v)) for k, v in seqs.items()))
    more = ["(%d more)" % (len(bad) - 12)] if len(bad) > 12 else []
    return not bad, "\n".join(bad[:12] + more + [summary])


def describe(chain):
    names = {ESP: "ESP", AH: "AH", 1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
    return " ".join(names.get(p, "proto %d" % p) + ("(spi 0x%08x seq %d)" % (spi, seq)
                                                      if spi is not None else "")
                    for p, spi, seq in chain)


def gaps(s):
    """The first place where s stops counting 1, 2, 3..."""
    for i, x in enumerate(s):
        if x != i + 1:
            return "at #%d: %s" % (i + 1, s[max(0, i - 2):i + 3])
    return "ok"


def esp_secrets(cfg, wrong=False):
    """tcpdump -E's secrets for the ESP SAs, or None if it cannot decode
    them; `wrong` flips a bit of each key (the negative control)."""
    out = []
    for sa in cfg.sas:
        if sa.proto != "esp":
            continue
        name = algs.tcpdump_name(sa.enc, sa.auth)
        if name is None:
            return None
        k = bytearray(sa.enc_key)
        if wrong:
            k[0] ^= 1
        out.append("0x%08x@%s %s:0x%s" % (sa.spi, sa.dst, name, k.hex()))
    return ",".join(out) or None


def decode(cap, cfg, wrong=False):
    """(ok, diagnostics): tcpdump -E shows echo requests and
    replies decrypted from ESP among the first 40 small packets of each
    capture (the 1- and 100-byte pings come first; tcpdump is slow to print
    them all)."""
    secrets = esp_secrets(cfg, wrong)
    lines, err = [], []
    for path in cap.paths:
        r = subprocess.run(["tcpdump", "-r", path, "-n", "-c", "40", "-E", secrets,
                            "less", "300"], capture_output=True, text=True)
        lines += r.stdout.splitlines()
        err += r.stderr.splitlines()
    # Only what tcpdump decrypted: cleartext pings print "echo" too.
    esp = [line for line in lines if "ESP(" in line]
    req = sum("echo request" in line for line in esp)
    rep = sum("echo reply" in line for line in esp)
    return req > 0 and rep > 0, "decoded %d echo requests and %d replies of %d packets%s" % (
        req, rep, len(lines), "".join("\n" + x for x in lines[:3] + err[:3]))
