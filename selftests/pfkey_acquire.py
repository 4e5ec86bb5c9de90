#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""SADB_ACQUIRE raised by the packet path (KTAP), against af_key and
kame_ipsec in turn, the same steps and the same expectations for both:

    [ns a] a0 10.9.0.1 ---- veth ---- b0 10.9.0.2, 10.9.0.3 [ns b]
    out policies in a: 10.9.0.1 -> 10.9.0.2 and -> 10.9.0.3,
    ipsec esp/transport//require, and no SA

  ping 10.9.0.2 (10 packets)    one ACQUIRE per registered socket (ESP or AH:
                                af_key's BROADCAST_REGISTERED) and per
                                promiscuous one, none to an unregistered one
  ACQUIRE fields                kame_ipsec's as af_key's (header, addresses,
                                policy id/dir/priority, proposal replay);
                                the proposal's combinations: af_key's empty
                                (PF_KEY policies' templates have zero
                                algorithm masks), ours what the kernel runs
  GETSPI with its seq           reply for that seq; it takes the larval
                                state over: more packets send no ACQUIRE
  ping 10.9.0.3                 a second ACQUIRE, another seq
  daemon ACQUIRE with errno     no reply; the state fails: the next packets
                                raise one new ACQUIRE (af_key's ERROR state
                                does not hold them back)
  30 s later (the slow part)    one hard EXPIRE per larval state: 10.9.0.2's
                                with the GETSPI's SPI (the same state), two
                                for 10.9.0.3 with SPI 0; fields as af_key's
  ping both again               two new ACQUIREs with new seqs

Each backend runs in a child process inside ns a, which prints what every
socket received as JSON; the parent loads the backends and judges.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ktap import Ktap, rmmod, use  # noqa: E402
from pfkey_msg import (ACQUIRE, EXPIRE, EXT_DST, EXT_POLICY, EXT_SRC, GETSPI,  # noqa: E402
                       REGISTER, SATYPE_AH, SATYPE_ESP, X_PROMISC, X_SPDADD, address,
                       fields, ipsecrequest, msg, parse, policy, policy_fields, sa_fields)
from pfkey_probe import header, open_pfkey  # noqa: E402

NS = "kame-acq-%d-" % os.getpid()
A, B, C = "10.9.0.1", "10.9.0.2", "10.9.0.3"
OUT, ESP, TRANSPORT, REQUIRE = 2, 50, 1, 2
ENOENT = 2
# XFRM's net.core.xfrm_acq_expires, and how long past it an EXPIRE may lag.
LARVAL_LIFETIME, PATIENCE = 30, 15
MODPROBE = "/proc/sys/kernel/modprobe"
EXT_PROPOSAL = 13
# AEAD ids (AES-CCM and AES-GCM 8/12/16, AES-GMAC, ChaCha20-Poly1305).
AEADS = {14, 15, 16, 18, 19, 20, 23, 250}
# Checks judge() makes for each backend.
PER_BACKEND = 12


# ---- The child: one backend, inside ns a -----------------------------------

def collect(socks, wait):
    """Everything each socket receives within `wait` seconds, as hex."""
    got = {k: [] for k in socks}
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return got
        r, _, _ = select.select(list(socks.values()), [], [], left)
        for k, s in socks.items():
            if s in r:
                got[k].append(s.recv(65536).hex())


def ping(dst, n=10):
    subprocess.run(["ping", "-q", "-c", str(n), "-i", "0.2", "-W", "1", dst],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def first_acquire(msgs):
    for h in msgs:
        m = parse(bytes.fromhex(h))
        if m[0]["type"] == ACQUIRE:
            return m
    return None


def child():
    pid = os.getpid()
    socks = {k: open_pfkey() for k in ("esp", "ah", "plain", "promisc")}
    socks["esp"].send(msg(REGISTER, satype=SATYPE_ESP, seq=1, pid=pid))
    socks["ah"].send(msg(REGISTER, satype=SATYPE_AH, seq=2, pid=pid))
    socks["promisc"].send(msg(X_PROMISC, satype=1, seq=3, pid=pid))
    # REGISTER and X_PROMISC replies (X_PROMISC is broadcast to all).
    collect(socks, 0.5)
    ids = []
    for i, dst in enumerate((B, C)):
        req = ipsecrequest(ESP, TRANSPORT, REQUIRE)
        socks["plain"].send(msg(X_SPDADD, [address(EXT_SRC, A), address(EXT_DST, dst),
                                           policy(OUT, requests=[req], priority=7)],
                                seq=10 + i, pid=pid))
        replies = [parse(bytes.fromhex(h)) for h in collect(socks, 0.5)["plain"]]
        ids += [policy_fields(r[1][EXT_POLICY])["id"] for r in replies
                if r[0]["type"] == X_SPDADD and not r[0]["errno"] and EXT_POLICY in r[1]]
    out = {"policy_ids": ids, "steps": []}

    def step(name, wait=1.5):
        out["steps"].append({"name": name, "got": collect(socks, wait)})
        return out["steps"][-1]["got"]

    ping(B)
    got = step("ping B")
    acq = first_acquire(got["esp"])
    seq1 = acq[0]["seq"] if acq else 0
    socks["esp"].send(msg(GETSPI, [address(EXT_SRC, A), address(EXT_DST, B)],
                          satype=SATYPE_ESP, seq=seq1, pid=pid))
    step("GETSPI", 0.5)
    ping(B, 5)
    step("ping B after GETSPI")
    ping(C)
    got = step("ping C")
    acq = first_acquire(got["esp"])
    seq2 = acq[0]["seq"] if acq else 0
    socks["esp"].send(header(ACQUIRE, SATYPE_ESP, seq2, pid, errno_=ENOENT))
    step("daemon ACQUIRE with errno", 0.5)
    # The last larval state is made during this ping: wait for its expiry.
    t_last = time.monotonic()
    ping(C, 5)
    step("ping C after the errno")
    left = t_last + LARVAL_LIFETIME + PATIENCE - time.monotonic()
    step("larval lifetime", max(left, 1))
    ping(B, 3)
    ping(C, 3)
    step("ping B and C again")
    print(json.dumps(out))


# ---- The parent: namespaces, backends, verdicts ------------------------------

def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True)


def topology():
    sh("ip", "netns", "add", NS + "a")
    sh("ip", "netns", "add", NS + "b")
    sh("ip", "link", "add", "a0", "netns", NS + "a", "type", "veth", "peer", "b0",
       "netns", NS + "b")
    sh("ip", "-n", NS + "a", "addr", "add", A + "/24", "dev", "a0")
    sh("ip", "-n", NS + "b", "addr", "add", B + "/24", "dev", "b0")
    sh("ip", "-n", NS + "b", "addr", "add", C + "/24", "dev", "b0")
    for n in "ab":
        sh("ip", "-n", NS + n, "link", "set", "lo", "up")
    sh("ip", "-n", NS + "a", "link", "set", "a0", "up")
    sh("ip", "-n", NS + "b", "link", "set", "b0", "up")


def cleanup():
    for n in "ab":
        subprocess.run(["ip", "netns", "del", NS + n], capture_output=True)


def record(backend):
    use(backend)
    topology()
    try:
        r = subprocess.run(["ip", "netns", "exec", NS + "a", sys.executable,
                            os.path.abspath(__file__), "--child"],
                           capture_output=True, text=True, timeout=300)
    finally:
        cleanup()
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": r.stdout + r.stderr}


def of_type(msgs, t):
    return [parse(bytes.fromhex(h)) for h in msgs if bytes.fromhex(h)[1] == t]


def acq_view(m, policy_id):
    """What must agree between the backends in an ACQUIRE: every field but
    the seq and the length, and the proposal without AEAD combinations."""
    hdr, exts, order = m
    view = {k: v for k, v in fields(b"".join([struct.pack("=BBBBHHII", 2, hdr["type"],
                                                                   hdr["errno"], hdr["satype"],
                                                                   2, hdr["reserved"], 0,
                                                                   hdr["pid"])]
                                              + [exts[e] for e in order if e != EXT_PROPOSAL]))
            if k not in ("hdr.len", "bytes")}
    view["exts"] = order
    view["policy is ours"] = policy_fields(exts[EXT_POLICY])["id"] == policy_id
    prop = exts.get(EXT_PROPOSAL, b"")
    combs = [prop[i:i + 72] for i in range(8, len(prop) - 71, 72)]
    view["replay"] = prop[4] if len(prop) > 4 else None
    return view, combs


def expire_view(m):
    hdr, exts, order = m
    return [(k, v) for k, v in fields(b"".join([struct.pack("=BBBBHHII", 2, hdr["type"],
                                                             hdr["errno"], hdr["satype"],
                                                             hdr["len"], hdr["reserved"],
                                                             hdr["seq"], hdr["pid"])]
                                        + [exts[e] for e in order]))
            if not k.endswith("addtime") and not k.endswith(".spi")]


def judge(t, b, rec, views):
    if "error" in rec:
        for _ in range(PER_BACKEND):
            t.test(False, "%s: the child ran" % b, rec["error"][-2000:])
        return
    steps = {s["name"]: s["got"] for s in rec["steps"]}
    pid_b, pid_c = (rec["policy_ids"] + [None, None])[:2]
    got = steps["ping B"]
    n = {k: len(of_type(v, ACQUIRE)) for k, v in got.items()}
    t.test(n == {"esp": 1, "ah": 1, "plain": 0, "promisc": 1},
           "%s: 10 packets to B: one ACQUIRE to each registered (ESP, AH) and promiscuous "
           "socket, none to an unregistered one" % b, n)
    acq1 = of_type(got["esp"], ACQUIRE)
    a1 = acq1[0] if acq1 else None
    seq1 = a1[0]["seq"] if a1 else 0
    views[b] = {"acquire": acq_view(a1, pid_b)[0] if a1 else None,
                "combs": acq_view(a1, pid_b)[1] if a1 else None}
    t.test(a1 and seq1 != 0 and a1[0]["satype"] == SATYPE_ESP and a1[0]["pid"] == 0,
           "%s: ACQUIRE for ESP, seq not 0, pid 0" % b, a1 and a1[0])
    spi_reply = of_type(steps["GETSPI"]["esp"], GETSPI)
    ok = spi_reply and not spi_reply[0][0]["errno"] and spi_reply[0][0]["seq"] == seq1
    spi = sa_fields(spi_reply[0][1][1])["spi"] if ok else None
    t.test(ok, "%s: GETSPI with the ACQUIRE's seq answers with an SPI" % b,
           spi_reply and spi_reply[0][0])
    n = sum(len(of_type(v, ACQUIRE)) for v in steps["ping B after GETSPI"].values())
    t.test(n == 0, "%s: after GETSPI, 5 more packets to B send no ACQUIRE" % b, n)
    acq2 = of_type(steps["ping C"]["esp"], ACQUIRE)
    seq2 = acq2[0][0]["seq"] if acq2 else 0
    t.test(len(acq2) == 1 and seq2 not in (0, seq1),
           "%s: packets to C: one ACQUIRE, another seq" % b, [a[0] for a in acq2])
    t.test(acq2 and policy_fields(acq2[0][1][EXT_POLICY])["id"] == pid_c,
           "%s: it names C's policy" % b, acq2 and policy_fields(acq2[0][1][EXT_POLICY]))
    got = steps["daemon ACQUIRE with errno"]
    t.test(not got["esp"] and len(of_type(got["promisc"], ACQUIRE)) == 1,
           "%s: a daemon's ACQUIRE with errno gets no reply (promiscuous sockets see it)" % b,
           got)
    acq3 = of_type(steps["ping C after the errno"]["esp"], ACQUIRE)
    seq3 = acq3[0][0]["seq"] if acq3 else 0
    t.test(len(acq3) == 1 and seq3 not in (0, seq1, seq2),
           "%s: after it, 5 more packets to C send one new ACQUIRE" % b,
           [a[0] for a in acq3])
    exp = of_type(steps["larval lifetime"]["esp"], EXPIRE)
    by_dst = {}
    for m in exp:
        dst = socket.inet_ntoa(m[1][EXT_DST][12:16])
        by_dst.setdefault(dst, []).append(m)
    eb, ec = by_dst.get(B, []), by_dst.get(C, [])
    t.test(len(exp) == 3 and len(eb) == 1 and len(ec) == 2,
           "%s: %d s after the last, one EXPIRE for each larval state (one for B, two "
           "for C)" % (b, LARVAL_LIFETIME + PATIENCE),
           [(m[0], sa_fields(m[1][1])) for m in exp])
    t.test(eb and sa_fields(eb[0][1][1])["spi"] == spi and spi,
           "%s: B's carries the GETSPI's SPI (GETSPI took the larval state over)" % b,
           eb and (sa_fields(eb[0][1][1]), spi))
    t.test(ec and all(sa_fields(m[1][1])["spi"] == 0 for m in ec),
           "%s: C's (one failed by the daemon) have SPI 0" % b,
           [sa_fields(m[1][1]) for m in ec])
    views[b]["expire"] = [expire_view(m) for m in eb + ec]
    again = of_type(steps["ping B and C again"]["esp"], ACQUIRE)
    seqs = sorted(m[0]["seq"] for m in again)
    t.test(len(again) == 2 and not set(seqs) & {seq1, seq2, seq3},
           "%s: once they expired, packets to B and C send new ACQUIREs" % b, seqs)


def main():
    if "--child" in sys.argv:
        return child()
    t = Ktap(2 * PER_BACKEND + 3)
    with open(MODPROBE) as f:
        modprobe = f.read()
    # REGISTER makes both backends probe each algorithm of their tables;
    # each one the test kernel lacks would run modprobe (seconds under TCG).
    with open(MODPROBE, "w") as f:
        f.write("\n")
    views = {}
    try:
        for b in ("af_key", "kame_ipsec"):
            judge(t, b, record(b), views)
    finally:
        with open(MODPROBE, "w") as f:
            f.write(modprobe)
        rmmod("af_key")
        rmmod("kame_ipsec")
    va, vk = views.get("af_key", {}), views.get("kame_ipsec", {})
    t.test(va.get("acquire") and va.get("acquire") == vk.get("acquire"),
           "ACQUIRE fields as af_key's (but seq, length and the proposal's combinations)",
           json.dumps({"af_key": va.get("acquire"), "kame_ipsec": vk.get("acquire")}))
    t.test(va.get("expire") and va.get("expire") == vk.get("expire"),
           "EXPIRE fields of the larval states as af_key's (but SPI and times)",
           json.dumps({"af_key": va.get("expire"), "kame_ipsec": vk.get("expire")}))
    ca, ck = va.get("combs"), vk.get("combs")
    t.test(ca == [] and ck and all(c[0] != 0 or c[1] in AEADS for c in ck),
           "proposal: af_key's empty, ours lists combinations, each with an "
           "authenticator or an AEAD",
           ca is not None and ck is not None and (len(ca), [c[:2].hex() for c in ck]))
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
