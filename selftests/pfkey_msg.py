# SPDX-License-Identifier: GPL-2.0
"""PF_KEY v2 messages for the selftests: builders for the extensions setkey
and IKE daemons send, and a reader that splits a reply into extensions.
Layouts are Linux's include/uapi/linux/pfkeyv2.h (host byte order, SPIs and
ports in network order)."""
import socket
import struct

from pfkey_probe import HDR, PF_KEY_V2

# Message types.
GETSPI, UPDATE, ADD, DELETE, GET, ACQUIRE, REGISTER, EXPIRE, FLUSH, DUMP = range(1, 11)
X_PROMISC, X_SPDUPDATE, X_SPDADD, X_SPDDELETE, X_SPDGET = 11, 13, 14, 15, 16
X_SPDDUMP, X_SPDFLUSH, X_SPDSETIDX, X_SPDDELETE2 = 18, 19, 20, 22
# Extension types.
EXT_SA, EXT_LT_CUR, EXT_LT_HARD, EXT_LT_SOFT = 1, 2, 3, 4
EXT_SRC, EXT_DST, EXT_PROXY, EXT_KEY_AUTH, EXT_KEY_ENC = 5, 6, 7, 8, 9
EXT_SUPP_AUTH, EXT_SUPP_ENC, EXT_SPIRANGE, EXT_POLICY, EXT_SA2 = 14, 15, 16, 18, 19
SATYPE_AH, SATYPE_ESP = 2, 3


def ext(ext_type, body):
    body += b"\0" * (-(4 + len(body)) % 8)
    return struct.pack("=HH", (4 + len(body)) // 8, ext_type) + body


def sockaddr(ip, port=0):
    if ":" in ip:
        return struct.pack("=H", socket.AF_INET6) + struct.pack("!H", port) + \
            b"\0" * 4 + socket.inet_pton(socket.AF_INET6, ip) + b"\0" * 4
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + \
        socket.inet_aton(ip) + b"\0" * 8


def address(ext_type, ip, prefix=None, proto=255, port=0):
    if prefix is None:
        prefix = 128 if ":" in ip else 32
    return ext(ext_type, struct.pack("=BBH", proto, prefix, 0) + sockaddr(ip, port))


def sa(spi, auth=0, enc=0, replay=0, state=0, flags=0):
    return ext(EXT_SA, struct.pack("!I", spi) + struct.pack("=BBBBI", replay, state, auth, enc,
                                                            flags))


def key(ext_type, data, bits=None):
    bits = len(data) * 8 if bits is None else bits
    return ext(ext_type, struct.pack("=HH", bits, 0) + data)


def sa2(mode=0, reqid=0):
    return ext(EXT_SA2, struct.pack("=BBHII", mode, 0, 0, 0, reqid))


def spirange(lo, hi):
    return ext(EXT_SPIRANGE, struct.pack("=III", lo, hi, 0))


def lifetime(ext_type, allocations=0, nbytes=0, addtime=0, usetime=0):
    return ext(ext_type, struct.pack("=IQQQ", allocations, nbytes, addtime, usetime))


def ipsecrequest(proto, mode, level, reqid=0, tunnel=None):
    addrs = b"" if tunnel is None else sockaddr(tunnel[0]) + sockaddr(tunnel[1])
    n = 16 + len(addrs)
    n += -n % 8
    return struct.pack("=HHBBHII", n, proto, mode, level, 0, reqid, 0) + addrs + \
        b"\0" * (n - 16 - len(addrs))


def policy(direction, ptype=2, requests=(), priority=0, policy_id=0):
    return ext(EXT_POLICY, struct.pack("=HBBII", ptype, direction, 0, policy_id, priority) +
               b"".join(requests))


def msg(msg_type, exts=(), satype=0, seq=0, pid=0):
    body = b"".join(exts)
    return HDR.pack(PF_KEY_V2, msg_type, 0, satype, (16 + len(body)) // 8, 0, seq, pid) + body


def parse(buf):
    """(header dict, {ext type: bytes incl. its header}, [ext types in order])."""
    v, t, e, sat, ln, rsv, seq, pid = HDR.unpack(buf[:16])
    hdr = dict(version=v, type=t, errno=e, satype=sat, len=ln, reserved=rsv, seq=seq, pid=pid)
    exts, order, at = {}, [], 16
    while at + 4 <= len(buf):
        words, et = struct.unpack("=HH", buf[at:at + 4])
        if words == 0:
            break
        exts[et] = buf[at:at + words * 8]
        order.append(et)
        at += words * 8
    return hdr, exts, order


def sa_fields(e):
    spi, = struct.unpack("!I", e[4:8])
    replay, state, auth, enc, flags = struct.unpack("=BBBBI", e[8:16])
    return dict(spi=spi, replay=replay, state=state, auth=auth, enc=enc, flags=flags)


def policy_fields(e):
    ptype, direction, _, pid, prio = struct.unpack("=HBBII", e[4:16])
    return dict(type=ptype, dir=direction, id=pid, priority=prio)


def supported_ids(e):
    return [e[i] for i in range(8, len(e), 8)]
