# SPDX-License-Identifier: GPL-2.0
"""A PF_KEY client bound to one network namespace, for tests that drive a
kame_ipsec SAD and SPD while traffic runs (dp_stress.py):

- request(): one message on the control socket, its reply found by
  sequence number, the errno held against those the caller allows; every
  outcome is tallied (`ops`), every unexpected one kept (`surprises`);
- a second socket, REGISTERed for ESP, read by a thread that counts the
  ACQUIREs and keeps the EXPIREs (when, which SA, soft or hard, and which
  limit: time, bytes or allocations) while the namespace's SAs come and go.

The sockets are made inside the namespace (setns on this thread only), so
they speak to that namespace's SAD and SPD.
"""
import os
import select
import socket
import struct
import threading
import time

from pfkey_msg import (ACQUIRE, EXPIRE, EXT_LT_CUR, EXT_LT_HARD, EXT_LT_SOFT, EXT_SA,
                       REGISTER, SATYPE_ESP, msg, parse, sa_fields)
from pfkey_probe import open_pfkey
from dp.netns import in_ns


def lifetime_of(ext):
    """(allocations, bytes, addtime, usetime) of a lifetime extension."""
    return struct.unpack("=IQQQ", ext[4:32])


def expire_kind(m):
    """("soft" or "hard", the limit that fired) of a parsed EXPIRE: the
    limit extension's field that is set (the tests give one kind each)."""
    hdr, exts, _ = m
    hard = EXT_LT_HARD in exts
    lim = lifetime_of(exts[EXT_LT_HARD if hard else EXT_LT_SOFT])
    which = "allocations" if lim[0] else "bytes" if lim[1] else "time" if lim[2] else "use"
    return ("hard" if hard else "soft", which)


class KeyCtl:
    def __init__(self, netns, label):
        self.label = label
        self.ctl = in_ns(netns, open_pfkey)
        self.reg = in_ns(netns, open_pfkey)
        for s in (self.ctl, self.reg):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.seq = 100
        # Seconds a request waits for its reply unless told otherwise: on
        # the debug kernel under TCG, kmemleak's periodic heap walk alone
        # can stall the key socket's work for many seconds.
        self.patience = 120 if os.environ.get("KERNEL") == "debug" else 10
        # Replies that came after their request had given up waiting:
        # (what, seconds after it was sent), to tell late from lost.
        self.late, self._gave_up = [], {}
        self.ops, self.surprises = {}, []
        self.latency = []  # seconds each request took to be answered
        self.acquires, self.expires, self.listened = 0, {}, 0
        # (monotonic time, SPI, "soft"/"hard", limit) of each EXPIRE
        self.expiries = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # The first REGISTER in a boot probes the crypto API for every
        # algorithm (modprobe runs): seconds under TCG, minutes on the
        # debug kernel when the host is busy.
        self.request("register", msg(REGISTER, satype=SATYPE_ESP, seq=1), sock=self.reg,
                     seq=1, patience=600)
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def request(self, what, m=None, ok=(0,), sock=None, seq=None, patience=None):
        """Sends m (built by the caller with sequence number `seq`, or by
        `m(seq)` if m is callable) and waits up to `patience` seconds
        (self.patience if None) for the reply carrying that sequence
        number; returns its errno (None if none came)."""
        sock = sock or self.ctl
        patience = self.patience if patience is None else patience
        if seq is None:
            self.seq += 1
            seq = self.seq
        buf = m(seq) if callable(m) else m
        mtype = buf[1]
        t0 = time.monotonic()
        try:
            sock.send(buf)
        except OSError as e:
            return self._outcome(what, e.errno, ok)
        end = t0 + patience
        while time.monotonic() < end:
            r, _, _ = select.select([sock], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            hdr, _, _ = parse(sock.recv(1 << 16))
            if hdr["seq"] == seq and hdr["type"] == mtype:
                self.latency.append((time.monotonic() - t0, what))
                return self._outcome(what, hdr["errno"], ok)
            late = self._gave_up.pop((hdr["seq"], hdr["type"]), None)
            if late:
                self.late.append((late[0], round(time.monotonic() - late[1], 1)))
        self._gave_up[seq, mtype] = (what, t0)
        return self._outcome(what, None, ok)

    def _outcome(self, what, errno, ok):
        key = "%s=%s" % (what, "noreply" if errno is None else errno)
        self.ops[key] = self.ops.get(key, 0) + 1
        if errno not in ok:
            self.surprises.append("%s %s: errno %s (allowed %s)" % (self.label, what, errno,
                                                                   ok))
        return errno

    def _listen(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.reg], [], [], 0.2)
            if not r:
                continue
            try:
                m = parse(self.reg.recv(1 << 16))
            except OSError:
                return
            with self._lock:
                self.listened += 1
                if m[0]["type"] == ACQUIRE:
                    self.acquires += 1
                elif m[0]["type"] == EXPIRE and EXT_LT_CUR in m[1]:
                    k = expire_kind(m)
                    self.expires[k] = self.expires.get(k, 0) + 1
                    self.expiries.append((time.monotonic(), sa_fields(m[1][EXT_SA])["spi"]) + k)

    def close(self):
        """Stops the listener and closes both sockets."""
        self._stop.set()
        self._thread.join(5)
        self.ctl.close()
        self.reg.close()
