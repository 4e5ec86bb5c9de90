# SPDX-License-Identifier: GPL-2.0
"""Real frames, captured and sent again, for the tamper and replay tests:

  Port       an AF_PACKET socket on one namespace's interface: the frames
             it sends and receives (captured as they pass) and frames put
             on the wire from it, so they arrive at the peer as any other
  Rx, Tx     UDP sockets in a namespace: datagrams carrying a marker, and
             whether a marker was delivered
  locate()   where the IP header and the first ESP or AH header of a frame
             are; esp_regions() and ah_regions() name the parts of them
  flip()     one bit changed; set_src_mac(), fix_ipv4_checksum()
  Counters   /proc/net/kame_ipsec/* and /proc/net/xfrm_stat of a namespace,
             read before and after: what moved

Sockets are made inside a namespace with setns(2) and stay there; the
calling thread goes back to its own namespace at once.
"""
import os
import select
import socket
import struct
import time
from dp.netns import in_ns

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ESP, AH = 50, 51
# How long a packet may take to cross and be handled (crypto under TCG),
# which is also how long a check waits before it calls a packet dropped.
SETTLE = 2.0 if os.environ.get("KERNEL") == "debug" else 0.8


class Port:
    """AF_PACKET on `ifname` of namespace `ns`."""

    def __init__(self, ns, ifname):
        def mk():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((ifname, 0))
            return s
        self.s = in_ns(ns, mk)
        self.s.setblocking(False)

    def drain(self):
        while True:
            try:
                self.s.recv(65535)
            except BlockingIOError:
                return

    def outgoing(self, want, wait=SETTLE):
        """Frames leaving the interface for which want(frame) holds, until
        `wait` has passed or, once one came, a short while after."""
        return [f for _, f in self.frames(lambda t, f: t == PACKET_OUTGOING and want(f),
                                          wait, linger=0.1)]

    def frames(self, want, wait=SETTLE, linger=None):
        """(packet type, frame) of the frames seen, either way, for which
        want(type, frame) holds, until `wait` has passed (or `linger`
        after the last one that did)."""
        out, end = [], time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            if not select.select([self.s], [], [], left)[0]:
                continue
            data, addr = self.s.recvfrom(65535)
            if want(addr[2], data):
                out.append((addr[2], data))
                if linger is not None:
                    end = min(end, time.monotonic() + linger)

    def send(self, frame):
        self.s.send(frame)

    def close(self):
        self.s.close()


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


class Tx:
    """A UDP socket of namespace `ns` bound to `src`."""

    def __init__(self, ns, src):
        def mk():
            s = socket.socket(family_of(src), socket.SOCK_DGRAM)
            s.bind((src, 0))
            return s
        self.s = in_ns(ns, mk)

    def send(self, dst, port, payload):
        self.s.sendto(payload, (dst, port))

    def close(self):
        self.s.close()


class Rx:
    """A UDP socket of namespace `ns` on addr:port; what it was given."""

    def __init__(self, ns, addr, port):
        def mk():
            s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
            s.bind((addr, port))
            return s
        self.s = in_ns(ns, mk)
        self.s.setblocking(False)

    def got(self, markers, wait=SETTLE):
        """Which of `markers` arrive within `wait` (returns as soon as all
        did); each delivered copy is listed, so a duplicate shows."""
        want, out, end = set(markers), [], time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0 or (want and want <= set(out)):
                return out
            if not select.select([self.s], [], [], left)[0]:
                continue
            while True:
                try:
                    data = self.s.recv(65535)
                except BlockingIOError:
                    break
                out.append(data)

    def close(self):
        self.s.close()


def locate(frame):
    """(ip_off, v6, hdr_off, proto) of an Ethernet frame: where its IP
    header and the first header after it are, and that header's protocol
    (no IPv6 extension headers are walked: the test's packets have none).
    None if the frame is not IP."""
    et = struct.unpack_from("!H", frame, 12)[0]
    if et == 0x0800:
        return 14, False, 14 + (frame[14] & 15) * 4, frame[14 + 9]
    if et == 0x86DD:
        return 14, True, 14 + 40, frame[14 + 6]
    return None


def is_ipsec(proto, spi):
    """A want() for Port.outgoing: ESP or AH frames (proto) with this SPI."""
    def want(frame):
        loc = locate(frame)
        if loc is None or loc[3] != proto:
            return False
        return spi_seq(frame)[0] == spi
    return want


def spi_seq(frame):
    """(SPI, sequence number) of a frame's first ESP or AH header."""
    _, _, off, proto = locate(frame)
    return struct.unpack_from("!II", frame, off + (4 if proto == AH else 0))


def esp_regions(frame, iv_len, icv_len):
    """{name: byte offset in the frame} of parts of its ESP packet: the
    header, the IV, the ciphertext, the trailer (the pad length and next
    header bytes are encrypted) and the ICV."""
    _, _, off, _ = locate(frame)
    end = len(frame)
    ct = off + 8 + iv_len
    return {
        "spi": off, "seq high bit": off + 4, "seq low bit": off + 7,
        "iv first": off + 8, "iv last": ct - 1,
        "ciphertext first": ct, "ciphertext middle": (ct + end - icv_len) // 2,
        "pad length": end - icv_len - 2, "next header": end - icv_len - 1,
        "icv first": end - icv_len, "icv last": end - 1,
    }


def ah_regions(frame, icv_len):
    """{name: byte offset} of the fields of a frame's AH header and the
    payload after it. The ICV is `icv_len` bytes; padding after it (IPv6
    aligns AH to 8 bytes) is not named."""
    _, _, off, _ = locate(frame)
    total = (frame[off + 1] + 2) * 4
    return {
        "ah next header": off, "ah payload length": off + 1, "ah reserved": off + 2,
        "spi": off + 4, "seq high bit": off + 8, "seq low bit": off + 11,
        "icv first": off + 12, "icv last": off + 12 + icv_len - 1,
        "payload first": off + total, "payload last": len(frame) - 1,
    }


def flip(frame, off, bit=None):
    """The frame with one bit of byte `off` inverted: bit 7 (the most
    significant) for the high bit of a field starting there, else bit 0."""
    f = bytearray(frame)
    f[off] ^= 0x80 if bit is None else 1 << bit
    return bytes(f)


def set_src_mac(frame, mac):
    return frame[:6] + bytes.fromhex(mac.replace(":", "")) + frame[12:]


def ipv4_checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def fix_ipv4_checksum(frame):
    """The frame with its IPv4 header checksum recomputed."""
    ip_off, v6, hdr_off, _ = locate(frame)
    if v6:
        return frame
    h = bytearray(frame[ip_off:hdr_off])
    h[10:12] = b"\0\0"
    h[10:12] = struct.pack("!H", ipv4_checksum(bytes(h)))
    return frame[:ip_off] + bytes(h) + frame[hdr_off:]


def edit(frame, fn):
    """The frame after fn(bytearray) changed it, its IPv4 checksum fixed."""
    f = bytearray(frame)
    fn(f)
    return fix_ipv4_checksum(bytes(f))


def read_in(ns, path):
    def r():
        with open(path) as f:
            return f.read()
    return in_ns(ns, r)


class Counters:
    """The kame_ipsec counters (ipsecstat, espstat, ahstat) and XFRM's
    /proc/net/xfrm_stat of a namespace."""

    def __init__(self, ns):
        self.ns = ns

    def read(self):
        out = {}
        for f in ("ipsecstat", "espstat", "ahstat"):
            # Histogram rows as "histogram algorithm".
            for line in read_in(self.ns, "/proc/net/kame_ipsec/" + f).splitlines():
                *name, val = line.split()
                out[" ".join(name)] = int(val)
        for line in read_in(self.ns, "/proc/net/xfrm_stat").splitlines():
            name, val = line.split()
            out[name] = int(val)
        return out

    @staticmethod
    def delta(before, after):
        """{name: change} of the counters that moved."""
        return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
