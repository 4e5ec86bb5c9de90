# SPDX-License-Identifier: GPL-2.0
"""SAD and SPD churn through PF_KEY at both ends of a pair Topology, both
ends kame_ipsec (dp_stress.py): four flows, each with its policies at a
and b and one ESP SA each way, rekeyed and replaced again and again while
traffic runs.

  flow          selectors (a <-> b)            SAs between    algorithm
  transport v4  192.0.2.1 <-> 192.0.2.2        the same       AES-GCM-16
  transport v6  fd00:1::1 <-> fd00:1::2        the same       AES-CBC/HMAC-SHA-256
  tunnel v4     10.1.0.1 <-> 10.2.0.1          192.0.2.1/.2   AES-CBC/HMAC-SHA-1
  tunnel v6     fd00:a::1 <-> fd00:b::1        fd00:1::1/::2  AES-GCM-16

Every SA gets a fresh SPI (flow, generation, direction), so a packet is
never judged under a key it was not made with. The actions:

  rekey       make-before-break: the new pair is added at the receiver,
              then at the sender (which prefers the newest SA), and the
              old pair deleted, sender first: little should be lost
  break       break-before-make: the old pair deleted at the receiver
              (packets in flight reach XFRM, which has no such SA), 0.2 s
              later at the sender (out_nosa, and an ACQUIRE to the
              registered socket), then a new pair after a while
  lifetime    a rekey whose new pair carries soft and hard limits by time,
              bytes or allocations (in turn, each kind first of all):
              EXPIREs fire while traffic
              runs, and the hard one takes the SA away until the next
              action, which waits until past the hard time limit
  spdupdate   X_SPDUPDATE of one policy at one end
  spdreplace  X_SPDDELETE then X_SPDADD of one policy (dropped meanwhile:
              def_policy is 0 at both ends)
  flush       FLUSH of the ESP SAs at both ends, then a new pair per flow
  spdflush    X_SPDFLUSH at both ends, then every policy again
"""
import random
import time
from dataclasses import dataclass

from pfkey_msg import (ADD, DELETE, EXT_DST, EXT_KEY_AUTH, EXT_KEY_ENC, EXT_LT_HARD,
                       EXT_LT_SOFT, EXT_SRC, FLUSH, SATYPE_ESP, X_SPDADD, X_SPDDELETE,
                       X_SPDFLUSH, X_SPDUPDATE, address, ipsecrequest, key, lifetime, msg,
                       policy, sa, sa2)

ESRCH = 3
IN, OUT = 1, 2
TRANSPORT, TUNNEL = 1, 2
ESP, REQUIRE = 50, 2
# (sadb auth id, key bytes, sadb enc id, key bytes)
GCM16 = (0, 0, 20, 20)
CBC_SHA256 = (5, 32, 12, 16)
CBC_SHA1 = (3, 20, 12, 16)


@dataclass(frozen=True)
class Flow:
    name: str
    mode: int
    sel: tuple      # (a's selector address, b's)
    outer: tuple    # (a's address, b's): the SAs' ends
    alg: tuple

    def plen(self):
        return 128 if ":" in self.sel[0] else 32


FLOWS = [
    Flow("transport v4", TRANSPORT, ("192.0.2.1", "192.0.2.2"), ("192.0.2.1", "192.0.2.2"),
         GCM16),
    Flow("transport v6", TRANSPORT, ("fd00:1::1", "fd00:1::2"), ("fd00:1::1", "fd00:1::2"),
         CBC_SHA256),
    Flow("tunnel v4", TUNNEL, ("10.1.0.1", "10.2.0.1"), ("192.0.2.1", "192.0.2.2"), CBC_SHA1),
    Flow("tunnel v6", TUNNEL, ("fd00:a::1", "fd00:b::1"), ("fd00:1::1", "fd00:1::2"), GCM16),
]
# Limits of the SAs an action "lifetime" adds, by kind:
# (soft, hard) as (allocations, bytes, addtime).
LIMITS = {"time": ((0, 0, 2), (0, 0, 4)),
          "bytes": ((0, 40000, 0), (0, 80000, 0)),
          "allocations": ((100, 0, 0), (200, 0, 0))}


def spi(flow_index, gen, d):
    """A fresh SPI for each SA of the run: d 0 is a to b, 1 b to a."""
    return 0x50000000 | flow_index << 24 | gen << 1 | d


def keybytes(s, n):
    return bytes((s * 7 + i * 13) & 0xff for i in range(n))


class Churn:
    """The SAD and SPD of a (KeyCtl `a`) and b (`b`), and what the churn
    did to them (`done`: action -> count)."""

    def __init__(self, a, b, seed):
        self.end = {"a": a, "b": b}
        self.rnd = random.Random(seed)
        self.gen = [0] * len(FLOWS)
        # Per flow: [(gen, limits kind or None)] whose SAs may be installed.
        self.live = [[] for _ in FLOWS]
        self.done = {}
        # A flow given SAs with limits is left alone until then, so that
        # they are reached (monotonic time per flow).
        self.hold = [0.0] * len(FLOWS)
        self.kinds = 0
        # (node, SPI) -> [limits kind or None, ADD sent, ADD answered,
        # removed or None] (monotonic times; removed when the DELETE or
        # FLUSH was sent, not by expiry): the kernel added the SA between
        # the two ADD times and held it at least from the answer to the
        # removal, however slowly replies come.
        self.life = {}

    # ---- messages -------------------------------------------------------

    def _add(self, node, fi, gen, d, kind):
        f = FLOWS[fi]
        src, dst = f.outer if d == 0 else f.outer[::-1]
        s = spi(fi, gen, d)
        aid, alen, eid, elen = f.alg
        exts = [sa(s, auth=aid, enc=eid, replay=64)]
        if kind:
            soft, hard = LIMITS[kind]
            exts += [lifetime(EXT_LT_HARD, hard[0], hard[1], hard[2]),
                     lifetime(EXT_LT_SOFT, soft[0], soft[1], soft[2])]
        exts += [address(EXT_SRC, src), address(EXT_DST, dst)]
        if aid:
            exts.append(key(EXT_KEY_AUTH, keybytes(s, alen)))
        exts += [key(EXT_KEY_ENC, keybytes(s + 1, elen)), sa2(mode=f.mode)]
        sent = time.monotonic()
        self.end[node].request("add", lambda seq: msg(ADD, exts, satype=SATYPE_ESP, seq=seq))
        self.life[node, s] = [kind, sent, time.monotonic(), None]

    def _delete(self, node, fi, gen, d, kind):
        f = FLOWS[fi]
        src, dst = f.outer if d == 0 else f.outer[::-1]
        exts = [sa(spi(fi, gen, d)), address(EXT_SRC, src), address(EXT_DST, dst)]
        self._removed(node, spi(fi, gen, d))
        # An SA with limits may have gone by itself (hard EXPIRE).
        self.end[node].request("delete", lambda seq: msg(DELETE, exts, satype=SATYPE_ESP,
                                                         seq=seq),
                               ok=(0, ESRCH) if kind else (0,))

    def _policy(self, node, fi, direction, mtype):
        f = FLOWS[fi]
        mine, theirs = f.sel if node == "a" else f.sel[::-1]
        lo, ro = f.outer if node == "a" else f.outer[::-1]
        src, dst = (mine, theirs) if direction == OUT else (theirs, mine)
        reqs = []
        if mtype != X_SPDDELETE:
            tunnel = None
            if f.mode == TUNNEL:
                tunnel = (lo, ro) if direction == OUT else (ro, lo)
            reqs = [ipsecrequest(ESP, f.mode, REQUIRE, tunnel=tunnel)]
        exts = [address(EXT_SRC, src, f.plen()), address(EXT_DST, dst, f.plen()),
                policy(direction, requests=reqs)]
        what = {X_SPDADD: "spdadd", X_SPDUPDATE: "spdupdate", X_SPDDELETE: "spddelete"}[mtype]
        self.end[node].request(what, lambda seq: msg(mtype, exts, seq=seq))

    def _removed(self, node, s, when=None):
        life = self.life.get((node, s))
        if life and life[3] is None:
            life[3] = when or time.monotonic()

    # ---- building blocks ------------------------------------------------

    def add_pair(self, fi, kind=None):
        """A new generation of SAs for flow fi, receiver first each way."""
        self.gen[fi] += 1
        g = self.gen[fi]
        for d, (rcv, snd) in enumerate((("b", "a"), ("a", "b"))):
            self._add(rcv, fi, g, d, kind)
            self._add(snd, fi, g, d, kind)
        self.live[fi].append((g, kind))

    def delete_old(self, fi, keep, receiver_first=False):
        """Deletes every generation of flow fi but the last `keep`."""
        old = self.live[fi][:len(self.live[fi]) - keep]
        for g, kind in old:
            for d, (snd, rcv) in enumerate((("a", "b"), ("b", "a"))):
                order = (rcv, snd) if receiver_first else (snd, rcv)
                for i, node in enumerate(order):
                    if i and receiver_first:
                        # Long enough for several of the flow's pings (one
                        # each 0.02 s) to meet the deleted SPI: the loss
                        # path is then taken on every break, not by chance
                        # (a 60 s run once had none at a).
                        time.sleep(0.2)
                    self._delete(node, fi, g, d, kind)
        self.live[fi] = self.live[fi][len(old):]

    def policies(self, fi, mtype=X_SPDADD):
        for node in ("a", "b"):
            for direction in (OUT, IN):
                self._policy(node, fi, direction, mtype)

    def setup(self):
        for fi in range(len(FLOWS)):
            self.policies(fi)
            self.add_pair(fi)

    # ---- actions --------------------------------------------------------

    def rekey(self, fi, kind=None):
        self.add_pair(fi, kind)
        time.sleep(0.3)
        self.delete_old(fi, keep=1)

    def brk(self, fi):
        self.delete_old(fi, keep=0, receiver_first=True)
        time.sleep(1.0)
        self.add_pair(fi)

    def spdreplace(self, fi):
        node, direction = self.rnd.choice("ab"), self.rnd.choice((IN, OUT))
        self._policy(node, fi, direction, X_SPDDELETE)
        time.sleep(0.3)
        self._policy(node, fi, direction, X_SPDADD)

    def spdupdate(self, fi):
        self._policy(self.rnd.choice("ab"), fi, self.rnd.choice((IN, OUT)), X_SPDUPDATE)

    def flush(self):
        for node in ("b", "a"):
            sent = time.monotonic()
            self.end[node].request("flush", lambda seq: msg(FLUSH, satype=SATYPE_ESP, seq=seq))
            for n, s in self.life:
                if n == node:
                    self._removed(n, s, sent)
        self.live = [[] for _ in FLOWS]
        time.sleep(0.5)
        for fi in range(len(FLOWS)):
            self.add_pair(fi)

    def spdflush(self):
        for node in ("a", "b"):
            self.end[node].request("spdflush", lambda seq: msg(X_SPDFLUSH, seq=seq))
        time.sleep(0.5)
        for fi in range(len(FLOWS)):
            self.policies(fi)

    def step(self, now):
        """One random action; FLUSH and SPDFLUSH on their own schedule."""
        if now >= self.next_flush:
            self.next_flush = now + 45
            return self._did("flush", self.flush)
        if now >= self.next_spdflush:
            self.next_spdflush = now + 70
            return self._did("spdflush", self.spdflush)
        free = [fi for fi in range(len(FLOWS)) if self.hold[fi] <= time.monotonic()]
        if not free:
            return None
        fi = self.rnd.choice(free)
        # The first actions give each kind of limits a flow, so that even
        # a short or slow run sees every kind of EXPIRE.
        r = self.rnd.random() if self.kinds >= len(LIMITS) else 0.6
        if r < 0.35:
            return self._did("rekey", self.rekey, fi)
        if r < 0.50:
            return self._did("break", self.brk, fi)
        if r < 0.70:
            # Each kind in turn; the flow kept past the hard time limit.
            kind = sorted(LIMITS)[self.kinds % len(LIMITS)]
            self.kinds += 1
            self.hold[fi] = time.monotonic() + LIMITS["time"][1][2] + 2
            return self._did("lifetime " + kind, self.rekey, fi, kind)
        if r < 0.85:
            return self._did("spdupdate", self.spdupdate, fi)
        return self._did("spdreplace", self.spdreplace, fi)

    def _did(self, name, fn, *args):
        self.done[name] = self.done.get(name, 0) + 1
        fn(*args)

    def run(self, seconds, stop):
        """Actions for `seconds` (or until the Event `stop`), then a fresh
        pair and every policy for each flow (SPDUPDATE: present or not)."""
        t0 = time.monotonic()
        self.next_flush, self.next_spdflush = 20, 35
        while not stop.is_set() and time.monotonic() - t0 < seconds:
            self.step(time.monotonic() - t0)
            time.sleep(self.rnd.uniform(0.1, 0.5))
        for fi in range(len(FLOWS)):
            self.policies(fi, X_SPDUPDATE)
            self.add_pair(fi)
            time.sleep(0.3)
            self.delete_old(fi, keep=1)


def expiry_problems(churn, keys, until):
    """What is wrong with the EXPIREs the registered sockets got, held
    against each SA's life (added, removed by DELETE or FLUSH, or still
    there at `until`): an SA got two soft or two hard EXPIREs; an SA with
    time limits that lived well past its soft (hard) time got no soft
    (hard) EXPIRE, or got one too early; an SA without limits got one.
    Times are whole seconds in the kernel: one second of slack each way.
    How long an SA lived counts from its ADD's answer, how early an
    EXPIRE came from the ADD's sending: a slow reply (seconds, on the
    debug kernel with the host busy) makes neither look wrong."""
    got = {}
    for node, kc in keys.items():
        for when, s, kind, _ in kc.expiries:
            got.setdefault((node, s, kind), []).append(when)
    bad = []
    for (node, s), (kind, sent, added, removed) in sorted(churn.life.items()):
        lived = (removed or until) - added
        soft, hard = got.get((node, s, "soft"), []), got.get((node, s, "hard"), [])
        what = "%s SA 0x%08x (%s, lived %.1f s)" % (node, s, kind or "no limits", lived)
        if len(soft) > 1 or len(hard) > 1:
            bad.append("%s: %d soft and %d hard EXPIREs" % (what, len(soft), len(hard)))
        if kind is None and (soft or hard):
            bad.append("%s: an EXPIRE" % what)
        if kind != "time":
            continue
        limits = {"soft": LIMITS["time"][0][2], "hard": LIMITS["time"][1][2]}
        for k, times in (("soft", soft), ("hard", hard)):
            if lived >= limits[k] + 1.5 and not times:
                bad.append("%s: no %s EXPIRE" % (what, k))
            for t in times:
                if t - sent < limits[k] - 1.5:
                    bad.append("%s: %s EXPIRE %.1f s after the ADD was sent" % (what, k,
                                                                              t - sent))
    return bad
