#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Malformed PF_KEY messages change nothing (KTAP): for each class of bad
input (short or over-long, bad extension length, duplicate or reserved
extension, missing required extension, bad address family or prefix
length, families that disagree, key length wrong for the algorithm, unknown
algorithm, SPI out of range, bad policy or ipsecrequest layout, bad SA
type), the write fails or an error reply carries af_key's errno, and the
SAD and SPD dumps read afterwards are byte for byte what they were before.

  [netns of its own]  one socket -> kame_ipsec, holding one SA
                      (ESP 0x1000 10.0.0.1 -> 10.0.0.2) and one policy
                      (10.0.0.0/24 -> 10.0.1.0/24 out esp/transport)

Runs as root in the test VM; loads kame_ipsec.ko if it is not loaded and
unloads it at the end.
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import HDR, open_pfkey, read_reply, try_send  # noqa: E402

TOP = os.environ.get("KAME_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KO = os.path.join(TOP, "build", os.environ.get("KERNEL", "normal"), "kame_ipsec.ko")
ENOENT, EINVAL, ENOSYS, ELOOP = 2, 22, 38, 40
X_IPCOMP = 9

results = []


def test(ok, desc, diag=None):
    results.append(bool(ok))
    if not ok and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line)
    print("%s %d %s" % ("ok" if ok else "not ok", len(results), desc), flush=True)


def raw_ext(words, ext_type, body):
    """An extension with its length field as given, whatever its size."""
    return struct.pack("=HH", words, ext_type) + body


def raw_msg(msg_type, body, satype=SATYPE_ESP, length=None):
    n = (16 + len(body)) // 8 if length is None else length
    return HDR.pack(2, msg_type, 0, satype, n, 0, 0, 0) + body


SRC, DST = address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.2")
AKEY, EKEY = key(EXT_KEY_AUTH, bytes(32)), key(EXT_KEY_ENC, bytes(16))


def esp(spi=0x2000, auth=5, enc=12, exts=None, satype=SATYPE_ESP, mtype=ADD):
    """An ADD (or mtype) of a new ESP SA; `exts` replaces the extensions."""
    if exts is None:
        exts = [sa(spi, auth=auth, enc=enc), SRC, DST, AKEY, EKEY]
    return msg(mtype, exts, satype=satype)


def sel(src="10.0.2.0", dst="10.0.3.0", sp=24, dp=24):
    return [address(EXT_SRC, src, sp), address(EXT_DST, dst, dp)]


def spd(reqs=None, direction=2, ptype=2, mtype=X_SPDADD, selector=None, policy_id=0):
    reqs = [ipsecrequest(50, 1, 2)] if reqs is None else reqs
    return msg(mtype, (sel() if selector is None else selector) +
               [policy(direction, ptype, reqs, policy_id=policy_id)])


def req_raw(length, proto=50, mode=1, level=2, tail=b""):
    return struct.pack("=HHBBHII", length, proto, mode, level, 0, 0, 0) + tail


def cases(policy_id):
    """(description, message, expected: errno of the reply, or the write's
    errno name)."""
    v6 = address(EXT_DST, "2001:db8::2")
    lt_short = raw_ext(3, EXT_LT_HARD, bytes(20))
    return [
        # Short and over-long.
        ("8 bytes, short of a header", esp()[:8], "EMSGSIZE"),
        ("an ADD whose sadb_msg_len is one word over", raw_msg(ADD, esp()[16:], length=len(esp()) // 8 + 1),
         "EMSGSIZE"),
        ("an ADD with 4 trailing bytes", esp() + bytes(4), "EMSGSIZE"),
        ("an ADD over the send buffer", raw_msg(ADD, esp()[16:] + raw_ext(1, 30, bytes(4)) * 40000),
         "EMSGSIZE"),
        # Extension lengths.
        ("an extension of length 0", raw_msg(ADD, esp()[16:] + raw_ext(0, 30, bytes(4))), EINVAL),
        ("an extension past the end", raw_msg(ADD, esp()[16:] + raw_ext(3, 30, bytes(4))), EINVAL),
        ("a lifetime shorter than its struct", esp(exts=[sa(0x2000, 5, 12), SRC, DST, AKEY, EKEY,
                                                         lt_short]), EINVAL),
        # Duplicate and reserved extensions.
        ("two SA extensions", esp(exts=[sa(0x2000, 5, 12), sa(0x2000, 5, 12), SRC, DST, AKEY, EKEY]),
         EINVAL),
        ("two destination addresses", esp(exts=[sa(0x2000, 5, 12), SRC, DST, DST, AKEY, EKEY]),
         EINVAL),
        ("extension type 0", raw_msg(ADD, esp()[16:] + raw_ext(1, 0, bytes(4))), EINVAL),
        # Missing required extensions.
        ("ADD without an SA extension", esp(exts=[SRC, DST, AKEY, EKEY]), EINVAL),
        ("ADD without a destination", esp(exts=[sa(0x2000, 5, 12), SRC, AKEY, EKEY]), EINVAL),
        ("ADD ESP without an encryption key", esp(exts=[sa(0x2000, 5, 12), SRC, DST, AKEY]), EINVAL),
        ("ADD AH without an authentication key",
         esp(exts=[sa(0x2000, 5, 0), SRC, DST], satype=SATYPE_AH), EINVAL),
        ("DELETE of the SA without its SA extension", msg(DELETE, [SRC, DST], satype=SATYPE_ESP),
         EINVAL),
        ("GETSPI without a source", msg(GETSPI, [DST], satype=SATYPE_ESP), EINVAL),
        ("SPDADD without a policy extension", msg(X_SPDADD, sel()), EINVAL),
        ("SPDDELETE of the policy without its policy extension",
         msg(X_SPDDELETE, sel("10.0.0.0", "10.0.1.0")), EINVAL),
        ("SPDDELETE2 without a policy extension", msg(X_SPDDELETE2, []), EINVAL),
        # Address family and prefix length.
        ("a source of family AF_UNIX",
         esp(exts=[sa(0x2000, 5, 12), ext(EXT_SRC, struct.pack("=BBHH", 255, 32, 0, 1) + bytes(14)),
                   DST, AKEY, EKEY]), EINVAL),
        ("an IPv4 prefix length of 33", spd(selector=sel(sp=33)), EINVAL),
        ("an IPv6 prefix length of 129",
         spd(selector=[address(EXT_SRC, "2001:db8::", 64), address(EXT_DST, "2001:db8:1::", 129)]),
         EINVAL),
        ("an IPv4 address in an extension of IPv6 size",
         esp(exts=[sa(0x2000, 5, 12), SRC, raw_ext(5, EXT_DST, DST[4:] + bytes(16)), AKEY, EKEY]),
         EINVAL),
        ("ADD from IPv4 to IPv6", esp(exts=[sa(0x2000, 5, 12), SRC, v6, AKEY, EKEY]), EINVAL),
        ("DELETE of the SA with an IPv6 source", msg(DELETE, [sa(0x1000), address(EXT_SRC, "2001:db8::1"),
                                                             DST], satype=SATYPE_ESP), EINVAL),
        ("SPDADD from IPv4 to IPv6", spd(selector=[address(EXT_SRC, "10.0.2.0", 24),
                                                  address(EXT_DST, "2001:db8::", 64)]), EINVAL),
        # Key lengths.
        ("a key of 512 bits in 16 bytes", esp(exts=[sa(0x2000, 7, 12), SRC, DST,
                                                    key(EXT_KEY_AUTH, bytes(16), bits=512), EKEY]),
         EINVAL),
        ("an AES-CBC key of 120 bits", esp(exts=[sa(0x2000, 5, 12), SRC, DST, AKEY,
                                                 key(EXT_KEY_ENC, bytes(15))]), EINVAL),
        ("an HMAC-SHA-256 key of 160 bits", esp(exts=[sa(0x2000, 5, 12), SRC, DST,
                                                      key(EXT_KEY_AUTH, bytes(20)), EKEY]), EINVAL),
        ("an AES-CBC key of 0 bits", esp(exts=[sa(0x2000, 5, 12), SRC, DST, AKEY,
                                               key(EXT_KEY_ENC, b"", bits=0)]), EINVAL),
        # Unknown algorithms.
        ("authentication algorithm 4 (none such)", esp(auth=4), ENOSYS),
        ("encryption algorithm 17 (none such)", esp(enc=17), ENOSYS),
        ("authentication algorithm 252 (above SADB_AALG_MAX)", esp(auth=252), EINVAL),
        ("encryption algorithm 254 (above SADB_EALG_MAX)", esp(enc=254), EINVAL),
        # SPIs.
        ("ADD of SPI 0", esp(spi=0), EINVAL),
        ("ADD of SPI 255 (reserved)", esp(spi=255), EINVAL),
        ("ADD of IPComp CPI 0x10000 (past 16 bits)",
         msg(ADD, [sa(0x10000, enc=2), SRC, DST], satype=X_IPCOMP), EINVAL),
        ("GETSPI of range 0x3000-0x2000", msg(GETSPI, [SRC, DST, spirange(0x3000, 0x2000)],
                                              satype=SATYPE_ESP), EINVAL),
        ("GETSPI of range 1-255", msg(GETSPI, [SRC, DST, spirange(1, 255)], satype=SATYPE_ESP),
         EINVAL),
        ("GETSPI for IPComp without a range", msg(GETSPI, [SRC, DST], satype=X_IPCOMP), EINVAL),
        # SA types.
        ("ADD of SA type 1", esp(satype=1), EINVAL),
        ("FLUSH of SA type 5", msg(FLUSH, satype=5), EINVAL),
        ("DUMP of SA type 10", msg(DUMP, satype=10), EINVAL),
        # UPDATE of the existing SA with a bad request leaves it as it is.
        ("UPDATE of the SA with only a hard lifetime",
         msg(UPDATE, [sa(0x1000, 5, 12), SRC, DST, AKEY, EKEY, lifetime(EXT_LT_HARD, addtime=9)],
             satype=SATYPE_ESP), EINVAL),
        ("UPDATE of the SA adding NAT-T it does not have",
         msg(UPDATE, [sa(0x1000, 5, 12), SRC, DST, AKEY, EKEY,
                      ext(20, struct.pack("=B3x", 2))], satype=SATYPE_ESP), EINVAL),
        # Policies and their requests.
        ("policy type 3 (entrust)", spd(ptype=3), EINVAL),
        ("policy direction 0", spd(direction=0), EINVAL),
        ("policy direction 4", spd(direction=4), EINVAL),
        ("a request of length 8", spd([req_raw(8) + bytes(8)]), EINVAL),
        ("a request longer than the policy", spd([req_raw(64)]), EINVAL),
        ("a request of mode 4", spd([ipsecrequest(50, 4, 2)]), EINVAL),
        ("a request of protocol 17", spd([ipsecrequest(17, 1, 2)]), EINVAL),
        ("a tunnel request without endpoints", spd([ipsecrequest(50, 2, 2)]), EINVAL),
        ("a tunnel request with endpoints of two families",
         spd([req_raw(64, mode=2, tail=sockaddr("192.0.2.1") + sockaddr("2001:db8::9"))]),
         EINVAL),
        ("a valid request, then a bad one", spd([ipsecrequest(50, 1, 2), ipsecrequest(17, 1, 2)]),
         EINVAL),
        ("seven requests", spd([ipsecrequest(50, 1, 2)] * 7), ELOOP),
        ("SPDUPDATE of the policy with a bad request",
         spd([ipsecrequest(51, 0, 2)], mtype=X_SPDUPDATE, selector=sel("10.0.0.0", "10.0.1.0")),
         EINVAL),
        ("SPDDELETE of the policy with direction 0",
         spd(direction=0, mtype=X_SPDDELETE, selector=sel("10.0.0.0", "10.0.1.0")), EINVAL),
        ("SPDDELETE2 of the policy's id with direction bits 3",
         msg(X_SPDDELETE2, [policy(2, policy_id=(policy_id & ~7) | 3)]), EINVAL),
    ]


def dump(s, mtype):
    """Every message of a dump, as bytes (or the ENOENT reply)."""
    s.send(msg(mtype, satype=0, seq=900))
    out = []
    while True:
        rep = read_reply(s, 2.0)
        if rep is None:
            out.append(b"<timeout>")
            return out
        h = parse(rep)[0]
        if h["type"] != mtype:
            continue
        out.append(rep)
        if h["seq"] == 0 or h["errno"]:
            return out


def state(s):
    return dump(s, DUMP), dump(s, X_SPDDUMP)


def drain(s):
    while read_reply(s, 0.05) is not None:
        pass


def run():
    s = open_pfkey()
    s.send(esp(spi=0x1000))
    s.send(msg(X_SPDADD, sel("10.0.0.0", "10.0.1.0") + [policy(2, 2, [ipsecrequest(50, 1, 2)])]))
    rep = None
    for _ in range(4):
        r = read_reply(s, 1.0)
        if r and parse(r)[0]["type"] == X_SPDADD:
            rep = parse(r)
    drain(s)
    policy_id = policy_fields(rep[1][EXT_POLICY])["id"] if rep else 0
    before = state(s)
    test(len(before[0]) == 1 and len(before[1]) == 1 and parse(before[0][0])[0]["errno"] == 0 and
         parse(before[1][0])[0]["errno"] == 0, "one SA and one policy to keep", before)
    for desc, m, want in cases(policy_id):
        got = try_send(s, m)
        if isinstance(want, str):
            rep = read_reply(s, 0.2)
            ok = got == want and rep is None
            what = "the write fails with %s" % want
            diag = "write %r, reply %r" % (got, rep and parse(rep)[0])
        else:
            rep = read_reply(s, 1.0)
            h = rep and parse(rep)[0]
            ok = got == len(m) and h and h["errno"] == want and h["len"] == 2
            what = "errno %d" % want
            diag = "write %r, reply %r" % (got, h)
        drain(s)
        after = state(s)
        same = after == before
        test(ok and same, "%s: %s; SAD and SPD unchanged" % (desc, what),
             diag if not ok else "the dumps changed: %r" % (after,))
        if not same:
            before = after
    s.close()


def main():
    if "--in-netns" not in sys.argv:
        return subprocess.run(["unshare", "-n", sys.executable, __file__, "--in-netns"]).returncode
    we_loaded = False
    with open("/proc/modules") as f:
        if not any(l.startswith("kame_ipsec ") for l in f):
            subprocess.run(["insmod", KO], check=True)
            we_loaded = True
    plan = 1 + len(cases(0))
    print("TAP version 13")
    print("1..%d" % plan)
    run()
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
