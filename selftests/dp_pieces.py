#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""ESP packets in pieces (KTAP; issue 5 items 2, 3 and 8): kame_ipsec
encrypts and decrypts a packet where it lies, in its linear part and its
page fragments, instead of copying it into one buffer first.

  input   dp_tamper's bench (veth MTU 9000): XFRM in a protects 5000-byte
          UDP datagrams to b, where kame_ipsec holds the SA; a's frames
          never reach b by themselves, the test captures each and sends
          it again from an AF_PACKET socket with a virtio-net header whose
          hdr_len keeps only the frame's first bytes in the linear part,
          the rest in page fragments (packet_snd() does so for frames
          larger than a page). Split inside the ESP header, inside the IV,
          in the payload, between the pad length and next header bytes,
          inside the ICV: net:net_dev_start_xmit shows the frame left a
          with data_len = its length - the split; b delivers it once,
          byte for byte, esps_input +1, no drop counter. A bit flipped in
          the fragment part (ciphertext, ICV): nothing delivered,
          esps_badauth +1. AES-GCM over IPv4 transport, AES-CBC +
          HMAC-SHA-256 over IPv6 tunnel.
  output  kame_ipsec in a protects a 2 MiB TCP transfer to b (XFRM, then
          kame_ipsec), SHA-256 compared at both ends, then UDP datagrams
          of every size from 8 to 1400 bytes, each delivered once and
          intact. Where a packet's buffer has no room left for the ESP
          trailer and ICV (which sizes depends on the slab sizes), they go
          in a page fragment of their own (net_dev_start_xmit: ESP frames
          from a with data_len > 0) and b decrypts them there; no drop
          counter at either end.
  cleanup every namespace created is gone
"""
import hashlib
import json
import os
import re
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import Ktap, run_in_netns  # noqa: E402
from dp import inject  # noqa: E402
from dp.case import CBC, GCM  # noqa: E402
from dp.inject import Counters, Port, Rx, Tx  # noqa: E402
from dp.netns import in_ns  # noqa: E402
from dp.sa import Config, Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402
from dp.trace import Events  # noqa: E402
from dp_tamper import ALIEN_MAC, DROPS, Bench  # noqa: E402

MTU = 9000
DATAGRAM = 5000
SPLITS = ["esp header", "iv", "payload", "pad length | next header", "icv"]
FLIPS = ["ciphertext", "icv"]
# (name, (enc, auth), family, mode, IV bytes, ICV bytes)
INPUT_CASES = [("aes-gcm-16 v4 transport", GCM, 4, "transport", 8, 16),
               ("aes-cbc hmac-sha256 v6 tunnel", CBC, 6, "tunnel", 16, 16)]
OUTPUT_PEERS = ["xfrm", "kame"]
TCP_BYTES = 2 << 20
TCP_PORT = 4610
UDP_PORT = 4611
UDP_SIZES = range(8, 1401)
# Datagrams in flight at once: with 50, from 700 bytes up the last two of
# each batch never arrived (b's socket buffer, each datagram charged with
# its buffer's truesize; UdpRcvbufErrors is shown on a loss).
UDP_BATCH = 10
SOL_PACKET, PACKET_VNET_HDR = 263, 15


def plan():
    per_input = 1 + 3 * len(SPLITS) + 2 * len(FLIPS)
    return len(INPUT_CASES) * per_input + len(OUTPUT_PEERS) * 4 + 2


class VnetPort(Port):
    """AF_PACKET on `ifname` with virtio-net headers: send(frame, split)
    puts the first `split` bytes in the skb's linear part."""

    def __init__(self, ns, ifname):
        super().__init__(ns, ifname)
        self.s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)

    def send(self, frame, split):
        # flags 0, GSO none, hdr_len, gso_size, csum_start, csum_offset.
        self.s.send(struct.pack("<BBHHHH", 0, 0, split, 0, 0, 0) + frame)


class Xmits:
    """The net:net_dev_start_xmit events between start() and stop():
    [(dev, len, data_len)]."""

    def __init__(self):
        self.ev = Events("net/net_dev_start_xmit")

    def start(self):
        self.ev.start()

    def stop(self):
        return [(m[0], int(m[1]), int(m[2])) for m in
                re.findall(r"net_dev_start_xmit: dev=(\S+) .* len=(\d+) data_len=(\d+)",
                           self.ev.stop())]


def split_points(frame, iv, icv):
    """{name: bytes of the frame kept linear} for SPLITS."""
    _, _, off, _ = inject.locate(frame)
    end = len(frame)
    return {"esp header": off + 4, "iv": off + 8 + iv // 2,
            "payload": (off + 8 + iv + end - icv) // 2,
            "pad length | next header": end - icv - 1, "icv": end - icv // 2}


def datagram(seq):
    """A DATAGRAM-byte datagram, random after its sequence number."""
    d = b"pieces-%06d-" % seq
    return d + os.urandom(DATAGRAM - len(d))


def drops(delta):
    return {k: v for k, v in delta.items() if k in DROPS["esp"]}


def input_case(k, bench, vport, xmits, case):
    name, (enc, auth), fam, mode, iv, icv = case
    bench.configure("esp", fam, mode, enc=enc, auth=auth)
    frames = bench.capture(len(SPLITS) + len(FLIPS), datagram)
    k.test(all(len(f) > 4096 for f, _ in frames),
           "%s: the frames are larger than a page (%s bytes)" % (
               name, sorted({len(f) for f, _ in frames})))

    def send(frame, split, datagram):
        before = bench.cb.read()
        xmits.start()
        vport.send(inject.set_src_mac(frame, ALIEN_MAC), split)
        got = bench.rx[fam].got([datagram])
        sent = [x for x in xmits.stop() if x[1] == len(frame)]
        return got, Counters.delta(before, bench.cb.read()), sent

    for sname, (frame, d) in zip(SPLITS, frames):
        split = split_points(frame, iv, icv)[sname]
        got, delta, sent = send(frame, split, d)
        k.test(sent == [("veth0", len(frame), len(frame) - split)],
               "%s, split %s (%d linear bytes): left a in pieces" % (name, sname, split),
               "net_dev_start_xmit: %s" % sent)
        k.test(got == [d], "%s, split %s: delivered once, byte for byte" % (name, sname),
               "%d delivered, %d equal" % (len(got), got.count(d)))
        k.test(delta.get("esps_input") == 1 and not drops(delta),
               "%s, split %s: esps_input +1, no drop counter" % (name, sname), str(delta))
    for (fname, (frame, d)) in zip(FLIPS, frames[len(SPLITS):]):
        # Both bytes lie after the payload split, in the fragment part.
        end = len(frame)
        at = {"ciphertext": end - icv - 40, "icv": end - 1}[fname]
        split = split_points(frame, iv, icv)["payload"]
        got, delta, _ = send(inject.flip(frame, at), split, d)
        k.test(not got and drops(delta) == {"esps_badauth": 1},
               "%s: a bit of the %s flipped in the fragment part: dropped, esps_badauth +1"
               % (name, fname), "%d delivered, %s" % (len(got), delta))
        got, delta, _ = send(frame, split, d)
        k.test(got == [d] and not drops(delta),
               "%s: the genuine packet after it is delivered" % name,
               "%d delivered, %s" % (len(got), delta))


def tcp_transfer(topo, nbytes):
    """a sends nbytes of random data to b over TCP: (sent, received) as
    (length, SHA-256)."""
    b_addr = topo.addr("b", 4)
    srv = in_ns(topo.ns("b"), lambda: socket.create_server((b_addr, TCP_PORT)))
    srv.settimeout(300)
    got = {}

    def serve():
        conn, _ = srv.accept()
        h, n = hashlib.sha256(), 0
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        conn.close()
        got["r"] = (n, h.hexdigest())

    t = threading.Thread(target=serve)
    t.start()
    c = in_ns(topo.ns("a"), lambda: socket.create_connection((b_addr, TCP_PORT), timeout=300))
    data = os.urandom(nbytes)
    c.sendall(data)
    c.close()
    t.join(300)
    srv.close()
    return (nbytes, hashlib.sha256(data).hexdigest()), got.get("r")


def udp_rcvbuf_errors(topo):
    out = topo.run("b", "nstat", "-az", "--json", "UdpRcvbufErrors").stdout
    return sum(t.get("UdpRcvbufErrors", 0) for t in json.loads(out).values())


def output_case(k, xmits, peer):
    sc = Scenario(esp=GCM, mode="transport", fam="v4", topo="pair")
    with Topology("pair") as topo:
        cfg = Config(sc, topo)
        cfg.install("a", "kame")
        cfg.install("b", peer)
        ca, cb = Counters(topo.ns("a")), Counters(topo.ns("b"))
        before = (ca.read(), cb.read())
        sent, received = tcp_transfer(topo, TCP_BYTES)
        name = "output to %s" % peer
        k.test(sent == received, "%s: 2 MiB of TCP arrive intact" % name,
               "sent %s, received %s" % (sent, received))
        # Whether a packet's buffer has room for the trailer depends on
        # its size against the slab sizes: a sweep of datagram sizes
        # meets both cases.
        rx = Rx(topo.ns("b"), topo.addr("b", 4), UDP_PORT)
        tx = Tx(topo.ns("a"), topo.addr("a", 4))
        rcvbuf_errors = udp_rcvbuf_errors(topo)
        xmits.start()
        lost = []
        for first in range(UDP_SIZES.start, UDP_SIZES.stop, UDP_BATCH):
            batch = [b"%05d-" % n + os.urandom(n - 6)
                     for n in range(first, min(first + UDP_BATCH, UDP_SIZES.stop))]
            for d in batch:
                tx.send(topo.addr("b", 4), UDP_PORT, d)
            got = rx.got(batch)
            lost += [len(d) for d in batch if got.count(d) != 1]
        ev = xmits.stop()
        rx.close()
        tx.close()
        k.test(not lost, "%s: UDP datagrams of %d to %d bytes each delivered once, intact"
               % (name, UDP_SIZES.start, UDP_SIZES.stop - 1),
               "sizes lost: %s; b's UdpRcvbufErrors +%d"
               % (lost[:20], udp_rcvbuf_errors(topo) - rcvbuf_errors))
        pieces = [x for x in ev if x[2] > 0]
        k.test(pieces, "%s: ESP frames left a with the trailer in a fragment (%d of %d)"
               % (name, len(pieces), len(ev)), "no frame with data_len > 0")
        da = Counters.delta(before[0], ca.read())
        db = Counters.delta(before[1], cb.read())
        bad = {k2: v for k2, v in {**drops(da), **drops(db)}.items()}
        xbad = {k2: v for k2, v in db.items() if k2.startswith("Xfrm")}
        k.test(not bad and not xbad, "%s: no drop counter at either end" % name,
               "kame: %s, XFRM: %s" % (bad, xbad))


def main():
    k = Ktap(plan())
    xmits = Xmits()
    k.test(xmits.ev.available(), "tracefs: net:net_dev_start_xmit is available",
           "no such tracepoint")
    with Topology("pair", mtu=MTU) as topo:
        bench = Bench(topo)
        vport = VnetPort(topo.ns("a"), "veth0")
        for case in INPUT_CASES:
            input_case(k, bench, vport, xmits, case)
    for peer in OUTPUT_PEERS:
        output_case(k, xmits, peer)
    k.test(not leftover("dp-"), "cleanup: every namespace created is gone",
           str(leftover("dp-")))
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
