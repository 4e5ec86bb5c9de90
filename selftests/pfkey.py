#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""PF_KEY socket selftest (KTAP): who may open a socket, how the base header
is validated (af_key's errnos), what every message type is answered with
for a bare header of each type (af_key's), and datagram semantics of recvmsg.

Runs as root in the test VM; loads kame_ipsec.ko if it is not loaded and
unloads it again at the end.
"""
import ctypes
import mmap
import os
import select
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_probe import (PF_KEY_V2, SOCK_RAW, decode, header,  # noqa: E402
                         open_pfkey, read_reply, recv_at, recvmsg_iov, recvmsg_raw,
                         try_recv, try_send)
from pfkey_msg import EXT_DST, EXT_SRC, X_SPDADD, X_SPDDUMP, X_SPDFLUSH  # noqa: E402
from pfkey_msg import address, msg, policy  # noqa: E402

TOP = os.environ.get("KAME_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = os.path.join(TOP, "selftests", "pfkey_probe.py")
KO = os.path.join(TOP, "build", os.environ.get("KERNEL", "normal"), "kame_ipsec.ko")
EOPNOTSUPP = 95
EFAULT = 14
EINVAL = 22
ENOENT = 2
ENOPROTOOPT = 92

results = []


def test(ok, desc, diag=None):
    results.append(bool(ok))
    if not ok and diag:
        for line in str(diag).splitlines():
            print("# " + line)
    print("%s %d %s" % ("ok" if ok else "not ok", len(results), desc), flush=True)


def loaded():
    with open("/proc/modules") as f:
        return any(l.startswith("kame_ipsec ") for l in f)


def proto_sockets():
    """The socket count /proc/net/protocols shows for our proto."""
    with open("/proc/net/protocols") as f:
        for line in f:
            cols = line.split()
            if cols and cols[0] == "KAME_KEY":
                return int(cols[2])
    return None


def run_probe(prefix, *args):
    out = subprocess.run(prefix + ["/usr/bin/python3", PROBE] + list(args),
                         capture_output=True, text=True)
    return (out.stdout + out.stderr).strip()


# (description, bytes, errno name the write must fail with)
def header_cases():
    good = header(9)
    return [
        ("15 bytes (short of a header)", good[:15], "EMSGSIZE"),
        ("version 1", header(9, version=1), "EINVAL"),
        ("reserved non-zero", header(9, reserved=1), "EINVAL"),
        ("type SADB_RESERVED (0)", header(0), "EINVAL"),
        ("type 25 (above SADB_MAX)", header(25), "EINVAL"),
        ("type 255", header(255), "EINVAL"),
        ("sadb_msg_len 3 for 16 bytes", header(9, length=3), "EMSGSIZE"),
        ("sadb_msg_len 1", header(9, length=1), "EMSGSIZE"),
        ("sadb_msg_len 0", header(9, length=0), "EMSGSIZE"),
        ("17 bytes, sadb_msg_len 2 (trailing byte)", good + b"\0", "EMSGSIZE"),
        ("24 bytes, sadb_msg_len 2", good + b"\0" * 8, "EMSGSIZE"),
        ("version checked before type", header(0, version=3), "EINVAL"),
    ]


def dump_reads(s):
    """A dump's messages are queued dozens to a buffer; each recvmsg still
    reads one whole message, and peeking or truncating one leaves the
    others as they were."""
    s.setblocking(True)
    for i in range(5):
        try_send(s, msg(X_SPDADD, [address(EXT_SRC, "10.9.0.%d" % (i + 1), 32),
                                   address(EXT_DST, "10.9.1.1", 32), policy(2, 0)], seq=i))
        read_reply(s)
    try_send(s, header(X_SPDDUMP, seq=77))
    whole = [recvmsg_raw(s, 4096, socket.MSG_PEEK)]
    whole.append(recvmsg_raw(s, 4096))
    test(whole[0] == whole[1] and whole[0][0] == len(whole[0][1]) > 16,
         "dump: MSG_PEEK reads the first message whole, and the next read reads it again",
         whole)
    n, data, flags = recvmsg_raw(s, 8)
    test(n == 8 and flags & socket.MSG_TRUNC and decode(data + bytes(8))["type"] == X_SPDDUMP,
         "dump: an 8-byte read of the second message sets MSG_TRUNC", (n, data, flags))
    n, _, _ = recvmsg_raw(s, 4, socket.MSG_TRUNC)
    test(n == whole[0][0], "dump: MSG_TRUNC gives the third message's whole length (%d)" % n, n)
    rest = [recvmsg_raw(s, 4096) for _ in range(2)]
    seqs = [decode(d)["seq"] for _, d, _ in rest]
    test(all(n == len(d) == whole[0][0] and not f & socket.MSG_TRUNC for n, d, f in rest)
         and seqs == [4, 0],
         "dump: the fourth and last messages follow whole, seq 4 then 0 (truncated ones "
         "were consumed)", (rest, seqs))
    test(read_reply(s, timeout=0.2) is None, "dump: nothing follows the last message")
    try_send(s, header(X_SPDFLUSH, seq=78))
    # As af_key: the sender's own answer, then the broadcast of the flush.
    got = [decode(r) for r in iter(lambda: read_reply(s, timeout=0.3), None)]
    test(len(got) == 2 and all(r["type"] == X_SPDFLUSH and r["errno"] == 0 for r in got),
         "dump: SPDFLUSH after it is answered, then broadcast", got)
    try_send(s, header(X_SPDDUMP, seq=79))
    r = decode(read_reply(s))
    test(r["errno"] == ENOENT and r["seq"] == 79, "dump: an empty SPD dumps ENOENT", r)


def dump_copies(s):
    """Each way a message is copied out (kapi/helpers/skb.c): to one user
    buffer (recv(), or recvmsg() of one iovec) with word stores, to several
    iovecs with copy_to_iter(); a buffer that faults gets EFAULT either way
    and the message is consumed, as af_key's."""
    s.setblocking(True)
    flush_spd(s, 80)
    for i in range(4):
        try_send(s, msg(X_SPDADD, [address(EXT_SRC, "10.9.2.%d" % (i + 1), 32),
                                   address(EXT_DST, "10.9.3.1", 32), policy(2, 0)], seq=i))
        read_reply(s)
    try_send(s, header(X_SPDDUMP, seq=81))
    whole = recvmsg_raw(s, 4096, socket.MSG_PEEK)
    # Truncated reads to one buffer end in each of the word copy's tails
    # (4, 2 and 1 bytes after the 8-byte words).
    short = [recvmsg_raw(s, n, socket.MSG_PEEK) for n in (13, 14, 15)]
    test(all(r == (n, whole[1][:n], socket.MSG_TRUNC) for n, r in zip((13, 14, 15), short)),
         "copy: 13-, 14- and 15-byte reads to one buffer get the message's first bytes",
         (whole, short))
    # Two iovecs: copy_to_iter(), against which the one-buffer copy is checked.
    split = recvmsg_iov(s, [13, 4083])
    test(split[:2] == whole[:2] and whole[0] % 8 == 0 and whole[0] > 64,
         "copy: a message read into two iovecs equals its read into one (%d bytes)" % whole[0],
         (whole, split))
    page = mmap.PAGESIZE
    area = mmap.mmap(-1, 2 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    test(libc.mprotect(base + page, page, 0) == 0, "copy: a guard page is set")
    # 40 bytes before the guard page: the copy faults part way.
    got = recv_at(s, base + page - 40, 4096)
    test(got == -EFAULT, "copy: a buffer running into an unmapped page gets EFAULT", got)
    # Refused by recv() itself (import_ubuf()), before the socket is reached.
    got = recv_at(s, 0xffff888000000000, 4096)
    test(got == -EFAULT, "copy: a kernel address gets EFAULT", got)
    seqs = [decode(r)["seq"] if r else None for r in (read_reply(s, timeout=1) for _ in range(2))]
    test(seqs == [3, 0], "copy: the message that faulted was consumed, the kernel "
         "address took none: seq 3 and 0 follow", seqs)
    flush_spd(s, 82)


def flush_spd(s, seq):
    """SPDFLUSH, its answer and its broadcast read (so nothing is left queued)."""
    try_send(s, header(X_SPDFLUSH, seq=seq))
    while read_reply(s, timeout=0.3) is not None:
        pass


def main():
    print("TAP version 13")
    cases = header_cases()
    plan = 7 + len(cases) + 2 + 24 + 10 + 7 + 6
    print("1..%d" % plan)
    we_loaded = False
    if not loaded():
        subprocess.run(["insmod", KO], check=True)
        we_loaded = True

    # Who may open a socket.
    test(run_probe([], "create") == "ok", "root opens socket(PF_KEY, SOCK_RAW, PF_KEY_V2)")
    got = run_probe([], "create", str(socket.SOCK_DGRAM))
    test(got == "ESOCKTNOSUPPORT", "SOCK_DGRAM refused with ESOCKTNOSUPPORT", got)
    got = run_probe([], "create", str(SOCK_RAW), "1")
    test(got == "EPROTONOSUPPORT", "protocol 1 refused with EPROTONOSUPPORT", got)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              "--inh-caps=-all", "--bounding-set=-all"]
    got = run_probe(nobody, "create")
    test(got == "EPERM", "an unprivileged user gets EPERM", got)
    no_admin = ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin"]
    got = run_probe(no_admin, "create")
    test(got == "EPERM", "root without CAP_NET_ADMIN gets EPERM", got)
    got = run_probe(["unshare", "--user", "--map-root-user", "--net"], "create")
    test(got == "ok", "root of a new user namespace opens one in its own netns", got)
    got = run_probe(["unshare", "--user", "--map-root-user"], "create")
    test(got == "EPERM", "root of a new user namespace gets EPERM in the initial netns", got)

    # Header validation: the write fails, no reply is queued.
    s = open_pfkey()
    s.setblocking(False)
    for desc, buf, want in cases:
        got = try_send(s, buf)
        rep = read_reply(s, timeout=0.05)
        test(got == want and rep is None, "header: %s -> %s, no reply" % (desc, want),
             "write returned %r, reply %r" % (got, rep))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sndbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    big = header(9, length=(sndbuf // 8))
    big += b"\0" * (sndbuf // 8 * 8 - len(big))
    got = try_send(s, big)
    test(got == "EMSGSIZE", "a message over sk_sndbuf - 32 (%d bytes) -> EMSGSIZE" % len(big), got)
    got = try_send(s, header(9), socket.MSG_OOB)
    test(got == "EOPNOTSUPP", "MSG_OOB -> EOPNOTSUPP", got)

    # A bare header of each type gets af_key's answer: EINVAL where the
    # message needs extensions, EOPNOTSUPP where af_key has no handler, a
    # reply with errno 0 where a bare header is a whole request, none for a
    # daemon's ACQUIRE.
    answers = {1: EINVAL, 2: EINVAL, 3: EINVAL, 4: EINVAL, 5: EINVAL, 6: None,
               7: 0, 8: EOPNOTSUPP, 9: 0, 10: ENOENT, 11: 0, 12: EOPNOTSUPP,
               13: EINVAL, 14: EINVAL, 15: EINVAL, 16: EINVAL, 17: EOPNOTSUPP,
               18: ENOENT, 19: 0, 20: EINVAL, 21: EOPNOTSUPP, 22: EINVAL,
               23: EOPNOTSUPP, 24: ENOPROTOOPT}
    for t in range(1, 25):
        seq, pid = 1000 + t, 4242
        got = try_send(s, header(t, seq=seq, pid=pid))
        rep = read_reply(s, timeout=0.3)
        want = answers[t]
        if want is None:
            ok = got == 16 and rep is None
        else:
            d = rep and decode(rep)
            ok = (got == 16 and rep is not None and d["type"] == t and d["errno"] == want
                  and d["seq"] == seq and d["pid"] == pid)
        test(ok, "type %d bare header: reply errno %s echoing type/seq/pid" % (t, want),
             "write %r reply %r" % (got, rep and decode(rep)))

    # Datagram semantics.
    s.setblocking(True)
    try_send(s, header(10, seq=1))
    n, data, flags = recvmsg_raw(s, 8)
    test(n == 8 and data == header(10, seq=1, errno_=ENOENT)[:8] and flags & socket.MSG_TRUNC,
         "a short read returns 8 bytes and sets MSG_TRUNC", (n, data, flags))
    test(read_reply(s, timeout=0.2) is None, "the rest of a truncated message is discarded")
    try_send(s, header(10, seq=2))
    n, data, flags = recvmsg_raw(s, 4, socket.MSG_TRUNC)
    test(n == 16, "recv with MSG_TRUNC returns the whole length (16) into a 4-byte buffer", n)
    got = try_recv(s, 16, socket.MSG_OOB)
    test(got == "EINVAL", "recv with MSG_OOB -> EINVAL", got)
    got = try_recv(s, 16, socket.MSG_DONTWAIT)
    test(got == "EAGAIN", "nothing queued: MSG_DONTWAIT recv -> EAGAIN", got)
    other = open_pfkey()
    try_send(s, header(9, seq=3))
    test(read_reply(other, timeout=0.3) is None, "FLUSH of an empty SAD answers the sender only")
    p = select.poll()
    p.register(s, select.POLLIN)
    test(p.poll(1000), "poll reports POLLIN when a reply is queued")
    s.recv(16)
    other.close()
    dump_reads(s)
    dump_copies(s)
    s.close()
    before = proto_sockets()
    for _ in range(300):
        open_pfkey().close()
    test(proto_sockets() == 0, "300 opened and closed sockets leave none behind",
         "KAME_KEY sockets: %r then %r" % (before, proto_sockets()))
    # 7.3's datagram sockets: a flood of replies the reader never reads stops at
    # the receive buffer limit instead of growing without bound.
    s = open_pfkey()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for i in range(2000):
        try_send(s, header(9, seq=i))
    queued = 0
    s.setblocking(False)
    try:
        while True:
            s.recv(16)
            queued += 1
    except BlockingIOError:
        pass
    rcvbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    test(0 < queued < 2000, "replies to a reader that does not read stop at SO_RCVBUF "
         "(%d of 2000 queued, rcvbuf %d)" % (queued, rcvbuf))
    s.close()
    test(proto_sockets() == 0, "no socket left open at the end")

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
