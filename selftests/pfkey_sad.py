#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""SAD and SPD over PF_KEY (KTAP): the messages setkey and IKE daemons send,
with af_key's replies, errnos and broadcasts, and dumps that arrive whole
whatever the reader's receive buffer.

Runs as root in the test VM, in a namespace of its own; loads kame_ipsec.ko
if it is not loaded and unloads it at the end.
"""
import os
import select
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402

TOP = os.environ.get("KAME_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KO = os.path.join(TOP, "build", os.environ.get("KERNEL", "normal"), "kame_ipsec.ko")
EEXIST, ESRCH, ENOENT, EINVAL, ENOSYS = 17, 3, 2, 22, 38
DUMP_N = int(os.environ.get("KAME_DUMP_N", "10000"))

results = []


def test(ok, desc, diag=None):
    results.append(bool(ok))
    if not ok and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line)
    print("%s %d %s" % ("ok" if ok else "not ok", len(results), desc), flush=True)


def ask(s, m, timeout=1.0):
    """Sends m, returns the parsed reply to it (or None)."""
    s.send(m)
    rep = read_reply(s, timeout)
    return parse(rep) if rep else None


def drain(s):
    out = []
    while True:
        r = read_reply(s, 0.1)
        if r is None:
            return out
        out.append(parse(r))


def esp_add(spi, dst="10.0.0.2", mtype=ADD, auth=(5, 32), enc=(12, 16), seq=1):
    exts = [sa(spi, auth=auth[0], enc=enc[0], replay=32),
            address(EXT_SRC, "10.0.0.1"), address(EXT_DST, dst)]
    if auth[0]:
        exts.append(key(EXT_KEY_AUTH, bytes(range(auth[1]))))
    if enc[0]:
        exts.append(key(EXT_KEY_ENC, bytes(range(100, 100 + enc[1]))))
    return msg(mtype, exts, satype=SATYPE_ESP, seq=seq, pid=os.getpid())


def sa_ref(m, spi, dst="10.0.0.2", satype=SATYPE_ESP):
    return msg(m, [sa(spi), address(EXT_SRC, "10.0.0.1"), address(EXT_DST, dst)],
               satype=satype, seq=7, pid=os.getpid())


def sad_tests():
    s, other = open_pfkey(), open_pfkey()
    r = ask(s, msg(REGISTER, satype=SATYPE_ESP, seq=1))
    auth = supported_ids(r[1][EXT_SUPP_AUTH]) if r and EXT_SUPP_AUTH in r[1] else []
    enc = supported_ids(r[1][EXT_SUPP_ENC]) if r and EXT_SUPP_ENC in r[1] else []
    test(r and r[0]["errno"] == 0 and 5 in auth and 12 in enc and 20 in enc,
         "REGISTER lists HMAC-SHA-256, AES-CBC and AES-GCM-16", (r, auth, enc))
    r = ask(s, msg(REGISTER, satype=SATYPE_ESP, seq=2))
    test(r and r[0]["errno"] == EEXIST, "a second REGISTER for ESP -> EEXIST", r)

    r = ask(s, esp_add(0x1000))
    test(r and r[0]["type"] == ADD and r[0]["errno"] == 0 and
         sa_fields(r[1][EXT_SA])["spi"] == 0x1000 and EXT_KEY_AUTH in r[1],
         "ADD ESP AES-CBC/HMAC-SHA-256: the reply describes the SA, keys included", r)
    test(r and r[2] == [1, 3, 4, 2, 5, 6, 7, 8, 9, 19],
         "the reply's extensions come in af_key's order", r and r[2])
    o = read_reply(other, 0.5)
    test(o is not None and parse(o)[0]["type"] == ADD, "ADD is broadcast to every socket")
    r = ask(s, esp_add(0x1000))
    test(r and r[0]["errno"] == EEXIST, "the same ADD again -> EEXIST", r)
    r = ask(s, msg(DUMP, satype=SATYPE_ESP, seq=3))
    extra = read_reply(s, 0.3)
    test(r and r[0]["type"] == DUMP and r[0]["seq"] == 0 and extra is None,
         "DUMP of the namespace's first and only SA: one message, seq 0", (r, extra))
    r = ask(s, sa_ref(GET, 0x1000))
    f = r and sa_fields(r[1][EXT_SA])
    test(r and r[0]["type"] == GET and f["state"] == 1 and f["auth"] == 5 and f["enc"] == 12,
         "GET returns the SA mature with its algorithms", r)
    test(read_reply(other, 0.2) is None, "GET answers the sender only")
    for n, (m, want, what) in enumerate([
            (esp_add(0x1001, auth=(5, 20)), EINVAL, "an HMAC-SHA-256 key of 160 bits"),
            (esp_add(0x1001, enc=(12, 15)), EINVAL, "an AES-CBC key of 120 bits"),
            (esp_add(0x1001, auth=(4, 32)), ENOSYS, "an unknown auth algorithm (4)"),
            (esp_add(0x1001, enc=(17, 16)), ENOSYS, "an unknown cipher (17)"),
            (esp_add(0x1001, enc=(0, 0)), EINVAL, "ESP without a cipher"),
            (esp_add(0xff), EINVAL, "SPI 255 (reserved)"),
            (esp_add(0x1001, auth=(5, 32), enc=(20, 20)), EINVAL, "AES-GCM with an HMAC beside it"),
            (sa_ref(GET, 0x4444), ESRCH, "GET of an SPI not in the SAD"),
            (sa_ref(DELETE, 0x4444), ESRCH, "DELETE of an SPI not in the SAD"),
            (esp_add(0x1001, mtype=UPDATE), ESRCH, "UPDATE of an SPI not in the SAD")]):
        r = ask(s, m)
        test(r and r[0]["errno"] == want, "%s -> errno %d" % (what, want), r)
    r = ask(s, esp_add(0x1002, auth=(0, 0), enc=(20, 20)))
    test(r and r[0]["errno"] == 0, "ADD ESP AES-GCM-16 with a 160-bit key (af_key: ENOSYS)", r)
    r = ask(s, msg(GETSPI, [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.2"),
                            spirange(0x2000, 0x2fff)], satype=SATYPE_ESP, seq=9))
    f = r and sa_fields(r[1][EXT_SA])
    test(r and r[0]["type"] == GETSPI and 0x2000 <= f["spi"] <= 0x2fff and f["state"] == 0,
         "GETSPI picks an SPI in the range and leaves a larval SA", r)
    if r:
        r = ask(s, esp_add(f["spi"], mtype=UPDATE, seq=9))
        test(r and r[0]["type"] == UPDATE and r[0]["errno"] == 0, "UPDATE completes it", r)
        r = ask(s, sa_ref(GET, f["spi"]))
        test(r and sa_fields(r[1][EXT_SA])["state"] == 1, "and it is mature now", r)
    r = ask(s, sa_ref(DELETE, 0x1000))
    test(r and r[0]["type"] == DELETE and sa_fields(r[1][EXT_SA])["state"] == 3,
         "DELETE answers with the SA, state dead", r)
    r = ask(s, sa_ref(GET, 0x1000))
    test(r and r[0]["errno"] == ESRCH, "GET after DELETE -> ESRCH", r)
    drain(other)

    # A large SAD dumped through a 4 KiB receive buffer.
    for i in range(DUMP_N):
        s.send(esp_add(0x10000 + i, dst="10.1.%d.%d" % (i // 250, i % 250 + 1)))
        if i % 64 == 63:
            drain(s)
    drain(s)
    drain(other)
    d = open_pfkey()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d.send(msg(DUMP, satype=SATYPE_ESP, seq=5, pid=4321))
    seqs, spis = [], set()
    while True:
        rep = read_reply(d, 5.0)
        if rep is None:
            break
        h, e, _ = parse(rep)
        if h["type"] != DUMP:
            continue
        seqs.append(h["seq"])
        spis.add(sa_fields(e[EXT_SA])["spi"])
        if h["seq"] == 0:
            break
    want = DUMP_N + 2
    test(len(seqs) == want and seqs[:-1] == list(range(1, want)) and seqs[-1] == 0,
         "DUMP of %d SAs through SO_RCVBUF 4 KiB: all arrive, seq 1..%d then 0" % (want, want - 1),
         "got %d messages, first %r last %r" % (len(seqs), seqs[:3], seqs[-3:]))
    test(len(spis) == want, "each SA exactly once", len(spis))
    d.close()
    s.send(msg(FLUSH, satype=0, seq=11, pid=os.getpid()))
    got = drain(s)
    test([g[0]["type"] for g in got] == [FLUSH, FLUSH],
         "FLUSH of a full SAD: the sender gets the unicast and the broadcast", got)
    r = ask(s, msg(DUMP, satype=0, seq=12))
    test(r and r[0]["errno"] == ENOENT, "DUMP of an empty SAD -> ENOENT", r)
    s.close()
    other.close()


def getspi_index_tests():
    """GETSPI refuses an SPI while any SA of the protocol has it and takes it
    once the last such SA is gone, across enough SAs that the SAD's SPI
    index grows several times and deletions move entries within it."""
    s = open_pfkey()
    n = 3000
    base = 0x100000

    def dst(i):
        return "10.2.%d.%d" % (i >> 8, i & 255)
    added = all(ask(s, esp_add(base + i, dst=dst(i)))[0]["errno"] == 0 for i in range(n))
    deleted = all(ask(s, sa_ref(DELETE, base + i, dst=dst(i)))[0]["errno"] == 0
                  for i in range(0, n, 3))

    def getspi(spi):
        r = ask(s, msg(GETSPI, [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.9.9.9"),
                                spirange(spi, spi)], satype=SATYPE_ESP, seq=spi))
        if not r:
            return None
        return r[0]["errno"] or sa_fields(r[1][EXT_SA])["spi"]
    held = [(i, getspi(base + i)) for i in range(1, n, 7) if i % 3]
    test(added and deleted and all(got == ENOENT for _, got in held),
         "GETSPI of an SPI an SA to another destination holds -> ENOENT (%d of %d SAs)"
         % (len(held), n), [h for h in held if h[1] != ENOENT][:5])
    def all_taken(indexes, desc):
        got = [(i, getspi(base + i)) for i in indexes]
        test(all(spi == base + i for i, spi in got), "%s (%d)" % (desc, len(got)),
             [g for g in got if g[1] != base + g[0]][:5])

    def flush():
        ask(s, msg(FLUSH, satype=SATYPE_ESP, seq=1, pid=os.getpid()))
        drain(s)
    all_taken(range(0, n, 9), "GETSPI of an SPI whose SA was deleted takes it")
    flush()
    all_taken(range(1, n, 11), "after FLUSH every SPI is free again")
    flush()
    s.close()


def spd_tests():
    s = open_pfkey()
    sel = [address(EXT_SRC, "10.0.0.0", 24), address(EXT_DST, "10.0.1.0", 24)]
    req = ipsecrequest(50, 2, 2, tunnel=("192.0.2.1", "192.0.2.2"))
    r = ask(s, msg(X_SPDADD, sel + [policy(2, 2, [req])], seq=1))
    p = r and policy_fields(r[1][EXT_POLICY])
    test(r and r[0]["type"] == X_SPDADD and r[0]["errno"] == 0 and p["id"] & 7 == 1,
         "SPDADD out esp/tunnel: id names the direction (id & 7 == 1)", r)
    pid = p["id"] if p else 0
    test(r and r[2] == [5, 6, 3, 4, 2, 18], "policy replies come in af_key's order", r and r[2])
    r = ask(s, msg(X_SPDADD, sel + [policy(2, 2, [req])], seq=2))
    test(r and r[0]["errno"] == EEXIST, "the same SPDADD again -> EEXIST", r)
    r = ask(s, msg(X_SPDUPDATE, sel + [policy(2, 0)], seq=3))
    test(r and r[0]["type"] == X_SPDUPDATE and policy_fields(r[1][EXT_POLICY])["id"] == pid,
         "SPDUPDATE replaces it and keeps its id", r)
    r = ask(s, msg(X_SPDGET, [policy(2, policy_id=pid)], seq=4))
    test(r and r[0]["type"] == X_SPDGET and policy_fields(r[1][EXT_POLICY])["type"] == 0,
         "SPDGET by id returns the discard policy", r)
    for what, m, want in [
            ("type 3 (entrust)", msg(X_SPDADD, sel + [policy(1, 3)]), EINVAL),
            ("direction 0", msg(X_SPDADD, sel + [policy(0, 1)]), EINVAL),
            ("a request of mode 0", msg(X_SPDADD, sel + [policy(1, 2, [ipsecrequest(50, 0, 2)])]),
             EINVAL),
            ("a request of protocol 17", msg(X_SPDADD, sel + [policy(1, 2, [ipsecrequest(17, 1, 2)])]),
             EINVAL),
            ("seven requests", msg(X_SPDADD, sel + [policy(1, 2, [ipsecrequest(50, 1, 2)] * 7)]), 40),
            ("no policy extension", msg(X_SPDADD, sel), EINVAL),
            ("SPDDELETE of a selector not in the SPD",
             msg(X_SPDDELETE, [address(EXT_SRC, "10.9.0.0", 16), address(EXT_DST, "10.0.1.0", 24),
                               policy(2)]), ENOENT),
            ("SPDGET of id 9 (direction 1, absent)", msg(X_SPDGET, [policy(2, policy_id=9)]), ENOENT),
            ("SPDGET of id 11 (direction 3)", msg(X_SPDGET, [policy(2, policy_id=11)]), EINVAL)]:
        r = ask(s, m)
        test(r and r[0]["errno"] == want, "SPD: %s -> errno %d" % (what, want), r)
    for i in range(DUMP_N):
        s.send(msg(X_SPDADD, [address(EXT_SRC, "10.2.%d.%d" % (i // 250, i % 250 + 1)),
                              address(EXT_DST, "10.3.0.1"), policy(1 + i % 3, 1)]))
        if i % 64 == 63:
            drain(s)
    drain(s)
    d = open_pfkey()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d.send(msg(X_SPDDUMP, seq=5))
    n, last = 0, None
    while True:
        rep = read_reply(d, 5.0)
        if rep is None:
            break
        h = parse(rep)[0]
        if h["type"] != X_SPDDUMP:
            continue
        n += 1
        last = h["seq"]
        if h["seq"] == 0:
            break
    test(n == DUMP_N + 1 and last == 0,
         "SPDDUMP of %d policies through SO_RCVBUF 4 KiB arrives whole" % (DUMP_N + 1), (n, last))
    d.close()
    r = ask(s, msg(X_SPDDELETE2, [policy(2, policy_id=pid)], seq=6))
    test(r and r[0]["type"] == X_SPDDELETE2 and r[0]["errno"] == 0, "SPDDELETE2 by id", r)
    r = ask(s, msg(X_SPDGET, [policy(2, policy_id=pid)], seq=7))
    test(r and r[0]["errno"] == ENOENT, "SPDGET after it -> ENOENT", r)
    s.send(msg(X_SPDFLUSH, seq=8))
    got = drain(s)
    test([g[0]["type"] for g in got] == [X_SPDFLUSH, X_SPDFLUSH], "SPDFLUSH: unicast, broadcast",
         got)
    r = ask(s, msg(X_SPDDUMP, seq=9))
    test(r and r[0]["errno"] == ENOENT, "SPDDUMP of an empty SPD -> ENOENT", r)
    s.close()


def promisc_tests():
    watcher, s = open_pfkey(), open_pfkey()
    r = ask(watcher, msg(X_PROMISC, satype=1, seq=1))
    test(r and r[0]["type"] == X_PROMISC and r[0]["errno"] == 0, "X_PROMISC on", r)
    drain(watcher)
    s.send(msg(X_SPDFLUSH, seq=77, pid=99))
    got = [g[0] for g in drain(watcher)]
    test(any(h["type"] == X_SPDFLUSH and h["seq"] == 77 for h in got),
         "a promiscuous socket sees what another socket writes and its replies", got)
    # An error reply too, as af_key: the request's copy, then the reply.
    s.send(sa_ref(GET, 0x7777))
    got = [g[0] for g in drain(watcher)]
    test([(h["type"], h["errno"]) for h in got] == [(GET, 0), (GET, ESRCH)],
         "... error replies included (GET of a missing SA: request, then ESRCH)", got)
    watcher.close()
    s.close()


def teardown_tests():
    """Leaves SAs, policies and an unfinished dump behind for the namespace's
    exit and rmmod to free (kmemleak checks it on the debug kernel)."""
    s = open_pfkey()
    for i in range(2000):
        s.send(esp_add(0x30000 + i, dst="10.4.%d.%d" % (i // 250, i % 250 + 1)))
        s.send(msg(X_SPDADD, [address(EXT_SRC, "10.5.%d.%d" % (i // 250, i % 250 + 1)),
                              address(EXT_DST, "10.6.0.1"), policy(2, 1)]))
        if i % 32 == 31:
            drain(s)
    drain(s)
    d = open_pfkey()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d.send(msg(DUMP, satype=SATYPE_ESP, seq=1))
    first = read_reply(d, 2.0)
    test(first is not None and parse(first)[0]["seq"] == 1,
         "a dump of 2000 SAs starts; its socket is closed mid-way", first and parse(first)[0])
    d.close()
    # Dumps go on from a worker as the reader drains (pfkey_dump.rs): close
    # sockets while it is queued or running, at every point of a batch.
    seen = []
    for k in range(1, 41):
        d = open_pfkey()
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096 if k % 2 else 65536)
        d.send(msg(DUMP, satype=SATYPE_ESP, seq=1))
        for _ in range(k):
            m = read_reply(d, 2.0)
            if m is None:
                break
            seen.append(parse(m)[0]["seq"])
        d.close()
    test(len(seen) == sum(range(1, 41)) and 0 not in seen,
         "40 more dumps closed after 1 to 40 messages read", len(seen))
    r = ask(s, sa_ref(GET, 0x30000 + 1999, dst="10.4.7.250"))
    test(r and r[0]["errno"] == 0, "the SAD still answers after that", r)
    s.close()


def main():
    if "--in-netns" not in sys.argv:
        return subprocess.run(["unshare", "-n", sys.executable, __file__, "--in-netns"]).returncode
    we_loaded = False
    with open("/proc/modules") as f:
        if not any(l.startswith("kame_ipsec ") for l in f):
            subprocess.run(["insmod", KO], check=True)
            we_loaded = True
    plan = 29 + 3 + 19 + 3 + 3
    print("TAP version 13")
    print("1..%d" % plan)
    sad_tests()
    getspi_index_tests()
    spd_tests()
    promisc_tests()
    teardown_tests()
    if we_loaded:
        subprocess.run(["rmmod", "kame_ipsec"], check=True)
    failed = results.count(False)
    print("# Totals: pass:%d fail:%d" % (results.count(True), failed))
    if len(results) != plan:
        print("# plan was %d, ran %d" % (plan, len(results)))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
