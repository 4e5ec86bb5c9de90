# SPDX-License-Identifier: GPL-2.0
"""PF_KEY v2 messages for the selftests: builders for the extensions setkey
and IKE daemons send, and a reader that splits a reply into extensions.
Layouts are Linux's include/uapi/linux/pfkeyv2.h (host byte order, SPIs and
ports in network order)."""
import socket
import struct

from pfkey_probe import HDR, PF_KEY_V2, read_reply

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


def sa2(mode=0, reqid=0, sequence=0):
    return ext(EXT_SA2, struct.pack("=BBHII", mode, 0, 0, sequence, reqid))


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


# ---- Every field of a message, for field-by-field comparison ----------------

EXT_NAMES = {
    1: "SA", 2: "LIFETIME_CURRENT", 3: "LIFETIME_HARD", 4: "LIFETIME_SOFT",
    5: "ADDRESS_SRC", 6: "ADDRESS_DST", 7: "ADDRESS_PROXY", 8: "KEY_AUTH",
    9: "KEY_ENCRYPT", 10: "IDENTITY_SRC", 11: "IDENTITY_DST", 12: "SENSITIVITY",
    13: "PROPOSAL", 14: "SUPPORTED_AUTH", 15: "SUPPORTED_ENCRYPT", 16: "SPIRANGE",
    17: "X_KMPRIVATE", 18: "X_POLICY", 19: "X_SA2", 20: "X_NAT_T_TYPE",
    21: "X_NAT_T_SPORT", 22: "X_NAT_T_DPORT", 23: "X_NAT_T_OA", 24: "X_SEC_CTX",
    25: "X_KMADDRESS", 26: "X_FILTER",
}


def _sockaddr_fields(b):
    """A sockaddr_in/in6 as fields; anything else as its bytes."""
    if len(b) < 2:
        return [("raw", b.hex())]
    fam, = struct.unpack("=H", b[:2])
    if fam == socket.AF_INET and len(b) >= 16:
        port, = struct.unpack("!H", b[2:4])
        return [("family", fam), ("port", port), ("addr", socket.inet_ntop(socket.AF_INET, b[4:8])),
                ("zero", b[8:16].hex())] + ([("tail", b[16:].hex())] if len(b) > 16 else [])
    if fam == socket.AF_INET6 and len(b) >= 28:
        port, flow = struct.unpack("!HI", b[2:8])
        scope, = struct.unpack("=I", b[24:28])
        return [("family", fam), ("port", port), ("flowinfo", flow),
                ("addr", socket.inet_ntop(socket.AF_INET6, b[8:24])), ("scope_id", scope)] + \
            ([("tail", b[28:].hex())] if len(b) > 28 else [])
    return [("family", fam), ("raw", b[2:].hex())]


def _sockaddr_len(fam):
    return {socket.AF_INET: 16, socket.AF_INET6: 28}.get(fam)


def _request_fields(b):
    """The ipsecrequests inside an X_POLICY extension."""
    out, at, i = [], 0, 0
    while at + 16 <= len(b):
        ln, proto, mode, level, r1, reqid, r2 = struct.unpack("=HHBBHII", b[at:at + 16])
        p = "req[%d]." % i
        out += [(p + "len", ln), (p + "proto", proto), (p + "mode", mode), (p + "level", level),
                (p + "reserved1", r1), (p + "reqid", reqid), (p + "reserved2", r2)]
        body = b[at + 16:at + max(ln, 16)]
        if body:
            fam, = struct.unpack("=H", body[:2]) if len(body) >= 2 else (0,)
            n = _sockaddr_len(fam)
            if n and len(body) >= 2 * n:
                out += [(p + "tsrc." + k, v) for k, v in _sockaddr_fields(body[:n])]
                out += [(p + "tdst." + k, v) for k, v in _sockaddr_fields(body[n:2 * n])]
                if body[2 * n:]:
                    out.append((p + "pad", body[2 * n:].hex()))
            else:
                out.append((p + "body", body.hex()))
        if ln < 16:
            break
        at += ln
        i += 1
    if at < len(b):
        out.append(("req_tail", b[at:].hex()))
    return out


def _ext_body_fields(et, e):
    """(name, value) pairs of one extension's body (after sadb_ext_len/type)."""
    if et == 1 and len(e) >= 16:
        spi, = struct.unpack("!I", e[4:8])
        replay, state, auth, enc, flags = struct.unpack("=BBBBI", e[8:16])
        return [("spi", spi), ("replay", replay), ("state", state), ("auth", auth),
                ("encrypt", enc), ("flags", "0x%08x" % flags)]
    if et in (2, 3, 4) and len(e) >= 32:
        al, by, at, ut = struct.unpack("=IQQQ", e[4:32])
        return [("allocations", al), ("bytes", by), ("addtime", at), ("usetime", ut)]
    if et in (5, 6, 7, 23) and len(e) >= 8:
        proto, plen, rsv = struct.unpack("=BBH", e[4:8])
        return [("proto", proto), ("prefixlen", plen), ("reserved", rsv)] + \
            _sockaddr_fields(e[8:])
    if et in (8, 9) and len(e) >= 8:
        bits, rsv = struct.unpack("=HH", e[4:8])
        return [("bits", bits), ("reserved", rsv), ("key", e[8:].hex())]
    if et in (14, 15) and len(e) >= 8:
        algs = tuple(struct.unpack("=BBHHH", e[i:i + 8]) for i in range(8, len(e) - 7, 8))
        return [("reserved", e[4:8].hex()), ("algs (id, ivlen, min, max, reserved)", algs)]
    if et == 16 and len(e) >= 16:
        lo, hi, rsv = struct.unpack("=III", e[4:16])
        return [("min", lo), ("max", hi), ("reserved", rsv)]
    if et == 18 and len(e) >= 16:
        ptype, d, rsv, pid, prio = struct.unpack("=HBBII", e[4:16])
        return [("type", ptype), ("dir", d), ("reserved", rsv), ("id", pid),
                ("priority", prio)] + _request_fields(e[16:])
    if et == 19 and len(e) >= 16:
        mode, r1, r2, sq, reqid = struct.unpack("=BBHII", e[4:16])
        return [("mode", mode), ("reserved1", r1), ("reserved2", r2), ("sequence", sq),
                ("reqid", reqid)]
    if et == 20 and len(e) >= 8:
        return [("type", e[4]), ("reserved", e[5:8].hex())]
    if et in (21, 22) and len(e) >= 8:
        port, = struct.unpack("!H", e[4:6])
        return [("port", port), ("reserved", e[6:8].hex())]
    if et == 13 and len(e) >= 8:
        out = [("replay", e[4]), ("reserved", e[5:8].hex())]
        for i in range(8, len(e) - 71, 72):
            out.append(("comb[%d]" % ((i - 8) // 72), e[i:i + 72].hex()))
        return out
    return [("body", e[4:].hex())]


def fields(buf):
    """Every field of a PF_KEY message, in wire order, as (path, value):
    "hdr.<field>" for the base header, "<EXT_NAME>.<field>" for each
    extension (a repeated type gets "#2", ...), "exts" for the sequence of
    extension types, "trailing" for bytes after the last whole extension."""
    out = []
    if len(buf) < 16:
        return [("short", buf.hex())]
    v, t, e, sat, ln, rsv, seq, pid = HDR.unpack(buf[:16])
    out += [("hdr.version", v), ("hdr.type", t), ("hdr.errno", e), ("hdr.satype", sat),
            ("hdr.len", ln), ("hdr.reserved", rsv), ("hdr.seq", seq), ("hdr.pid", pid)]
    if ln * 8 != len(buf):
        out.append(("bytes", len(buf)))
    order, seen, at = [], {}, 16
    while at + 4 <= len(buf):
        words, et = struct.unpack("=HH", buf[at:at + 4])
        if words == 0 or at + words * 8 > len(buf):
            break
        e_ = buf[at:at + words * 8]
        name = EXT_NAMES.get(et, "EXT%d" % et)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name += "#%d" % seen[name]
        order.append(name)
        out.append((name + ".len", words))
        out += [(name + "." + k, val) for k, val in _ext_body_fields(et, e_)]
        at += words * 8
    if at < len(buf):
        out.append(("trailing", buf[at:].hex()))
    out.insert(8, ("exts", " ".join(order)))
    return out


def dump_sas(s, satype, seq=9, timeout=2.0):
    """SADB_DUMP of `satype` on s: its messages without an errno, parsed,
    up to the last one (seq 0) or until none comes within `timeout`."""
    s.send(msg(DUMP, satype=satype, seq=seq))
    out = []
    while True:
        r = read_reply(s, timeout)
        if r is None:
            return out
        m = parse(r)
        if m[0]["type"] == DUMP and m[0]["errno"] == 0:
            out.append(m)
        if m[0]["type"] == DUMP and m[0]["seq"] == 0:
            return out
