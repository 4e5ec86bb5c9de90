# SPDX-License-Identifier: GPL-2.0
"""The scenarios of afkey_diff.py and the differences from af_key kept on
purpose (Documentation/pfkey.rst, "Intended differences from af_key").

A scenario is a function of a Recorder (afkey_diff.py): it writes PF_KEY
messages with r.send(), runs setkey with r.setkey(), records values with
r.note().  The same function runs against af_key and against kame_ipsec,
each time in a new network namespace.  It may look at the replies it gets
(to UPDATE the SPI GETSPI chose), never at which backend it talks to.

An intended difference is either a whole step (INTENDED[key].kind "step":
af_key's and our write result plus the (type, errno) of each reply to the
sender must be exactly .afkey and .ours) or a field (kind "field": wherever
the field differs in a scenario that names the key, af_key's value must be
.afkey and ours .ours).  Each key a scenario names must be seen there.
"""
import glob
import os
import struct

from pfkey_msg import fields  # noqa: E402
from pfkey_msg import (ADD, DELETE, DUMP, EXT_DST, EXT_KEY_AUTH, EXT_KEY_ENC, EXT_LT_HARD,
                       EXT_LT_SOFT, EXT_PROXY, EXT_SRC, FLUSH, GET, GETSPI, REGISTER, SATYPE_AH,
                       SATYPE_ESP, UPDATE, X_PROMISC, X_SPDADD, X_SPDDELETE, X_SPDDELETE2,
                       X_SPDDUMP, X_SPDFLUSH, X_SPDGET, X_SPDSETIDX, X_SPDUPDATE, address, ext,
                       ipsecrequest, key, lifetime, msg, policy, sa, sa2, sa_fields, sockaddr,
                       spirange)

PID = 4242
EINVAL, ENOSYS, EEXIST, ESRCH, ENOENT = 22, 38, 17, 3, 2
ACQUIRE, EXPIRE, X_PCHANGE, X_SPDACQUIRE, X_SPDEXPIRE, X_NAT_T_NEW_MAPPING, X_MIGRATE = \
    6, 8, 12, 17, 21, 23, 24
EXT_NAT_T_TYPE, EXT_NAT_T_SPORT, EXT_NAT_T_DPORT, EXT_NAT_T_OA = 20, 21, 22, 23
EXT_SEC_CTX, EXT_FILTER, EXT_IDENTITY_SRC = 24, 26, 10
SATYPE_IPCOMP = 9
TRANSPORT, TUNNEL = 1, 2
IN, OUT, FWD = 1, 2, 3
DISCARD, NONE, IPSEC = 0, 1, 2
DEFAULT, USE, REQUIRE, UNIQUE = 0, 1, 2, 3
ESP, AH = 50, 51


# ---- Intended differences ----------------------------------------------------

class Rule:
    def __init__(self, kind, doc, afkey, ours, afkey_text=None, ours_text=None, match=None,
                 pair=None, summarize=None):
        # For a step rule: what of a step is compared (default: the write's
        # result and the sender's (type, errno) list).
        self.summarize = summarize
        self.kind, self.doc, self.afkey, self.ours, self.match = kind, doc, afkey, ours, match
        # For a field rule: which (af_key, ours) pairs of values it explains.
        self.pair = pair or (lambda t, va, vk: va == afkey and vk == ours)
        self.afkey_text = afkey_text or repr(afkey)
        self.ours_text = ours_text or repr(ours)


def _accepted(mtype):
    """A step's summary: the write succeeded, the sender got mtype back."""
    return ["ok", [[mtype, 0]]]


def _error(mtype, errno):
    """A step's summary: the write succeeded, the sender got an error reply."""
    return ["ok", [[mtype, errno]]]


# Filled in below, next to the scenarios that assert them.
INTENDED = {}
# Field rules that apply to every scenario (a value that depends on
# timing in af_key); each must still be seen where a scenario names it.
DEFAULT_FIELD_RULES = ("policy_refcnt", "register_enc", "register_len")


def field_rule(scenario, mtype, path, va, vk):
    """The key of the intended difference that explains va -> vk at path in
    a message of type mtype, in scenario, or None."""
    sc = _BY_NAME.get(scenario)
    keys = list(sc.intended if sc else ()) + list(DEFAULT_FIELD_RULES)
    for k in keys:
        r = INTENDED[k]
        if r.kind == "field" and r.match(mtype, path) and r.pair(mtype, va, vk):
            return k
    return None


# ---- Building requests ------------------------------------------------------

def keybytes(bits, salt=0):
    n = (bits + 7) // 8
    return bytes((i * 37 + salt * 11 + 5) & 0xff for i in range(n))


class Seq:
    n = 0


def m(mtype, exts=(), satype=0, seq=None):
    Seq.n += 1
    return msg(mtype, exts, satype=satype, seq=Seq.n if seq is None else seq, pid=PID)


def sa_exts(spi, satype=SATYPE_ESP, src="10.0.0.1", dst="10.0.0.2", auth=(0, 0), enc=(0, 0),
            replay=32, flags=0, mode=None, reqid=0, lifetimes=None, proxy=None, natt=None,
            extra=(), akey=None, ekey=None, salt=None, sequence=0):
    """The extensions of an ADD/UPDATE; auth and enc are (alg id, key bits)
    and a key extension goes with each non-zero id (ESP always gets one)."""
    salt = spi if salt is None else salt
    e = [sa(spi, auth=auth[0], enc=enc[0], replay=replay, flags=flags)]
    if lifetimes:
        hard, soft = lifetimes
        if hard is not None:
            e.append(lifetime(EXT_LT_HARD, *hard))
        if soft is not None:
            e.append(lifetime(EXT_LT_SOFT, *soft))
    e += [address(EXT_SRC, src), address(EXT_DST, dst)]
    if proxy:
        e.append(address(EXT_PROXY, *proxy))
    if auth[0] or akey is not None:
        e.append(akey if akey is not None else key(EXT_KEY_AUTH, keybytes(auth[1], salt), auth[1]))
    if enc[0] or satype == SATYPE_ESP or ekey is not None:
        e.append(ekey if ekey is not None else key(EXT_KEY_ENC, keybytes(enc[1], salt + 1), enc[1]))
    if mode is not None:
        e.append(sa2(mode, reqid, sequence))
    if natt:
        ntype, sport, dport = natt
        e.append(ext(EXT_NAT_T_TYPE, struct.pack("=B3x", ntype)))
        if sport is not None:
            e.append(ext(EXT_NAT_T_SPORT, struct.pack("!H2x", sport)))
        if dport is not None:
            e.append(ext(EXT_NAT_T_DPORT, struct.pack("!H2x", dport)))
    return e + list(extra)


def add(spi, mtype=ADD, satype=SATYPE_ESP, **kw):
    return m(mtype, sa_exts(spi, satype=satype, **kw), satype=satype)


def ref(mtype, spi, satype=SATYPE_ESP, src="10.0.0.1", dst="10.0.0.2"):
    return m(mtype, [sa(spi), address(EXT_SRC, src), address(EXT_DST, dst)], satype=satype)


def sel(src, dst, sp=None, dp=None, proto=255, sport=0, dport=0):
    return [address(EXT_SRC, src, sp, proto, sport), address(EXT_DST, dst, dp, proto, dport)]


def spd(mtype, selector, direction, ptype=IPSEC, reqs=(), prio=0, pid=0, extra=()):
    return m(mtype, list(selector) + list(extra) + [policy(direction, ptype, reqs, prio, pid)])


def pol_id(replies):
    """The policy id in the first reply that has one (0 if none)."""
    for h, e, _ in replies:
        if 18 in e:
            return struct.unpack("=I", e[18][8:12])[0]
    return 0


def raw_ext(words, etype, body=b""):
    """An extension with a header that may lie about its length."""
    return struct.pack("=HH", words, etype) + body


# ---- Scenarios --------------------------------------------------------------

class Scenario:
    def __init__(self, name, doc, fn, intended=(), plain=False, dumps=True, known_bug=None):
        self.name, self.doc, self.fn, self.known_bug = name, doc, fn, known_bug
        self.intended, self.plain, self.dumps = tuple(intended), plain, dumps


_LIST = []
SKIPPED = []
_BY_NAME = {}


def scenario(doc, intended=(), plain=False, dumps=True, known_bug=None):
    """Registers a scenario; known_bug names a kame_ipsec bug that makes it
    differ from af_key: then it is reported as skipped unless asked for."""
    def reg(fn):
        s = Scenario(fn.__name__, doc, fn, intended, plain, dumps, known_bug)
        _LIST.append(s)
        _BY_NAME[s.name] = s
        return fn
    return reg


ESP_ALGS = [  # (enc, bits), (auth, bits)
    ((2, 64), (2, 128)),      # des-cbc, hmac-md5
    ((3, 192), (3, 160)),     # 3des-cbc, hmac-sha1
    ((12, 128), (5, 256)),    # aes-cbc-128, hmac-sha256
    ((12, 192), (6, 384)),    # aes-cbc-192, hmac-sha384
    ((12, 256), (7, 512)),    # aes-cbc-256, hmac-sha512
    ((13, 160), (9, 128)),    # aes-ctr-128 + nonce, aes-xcbc
    ((13, 288), (3, 160)),    # aes-ctr-256 + nonce
    ((11, 0), (3, 160)),      # null, hmac-sha1
    ((12, 128), (0, 0)),      # aes-cbc without authentication
    ((12, 128), (251, 0)),    # aes-cbc, digest_null
]
AH_ALGS = [(2, 128), (3, 160), (5, 256), (6, 384), (7, 512), (9, 128)]


@scenario("REGISTER for each SA type, repeated, out of range, with REGISTERed and "
          "promiscuous onlookers", intended=("register_enc", "register_len"))
def register(r):
    for satype in (3, 2, 9, 0, 5, 1):
        r.send(m(REGISTER, satype=satype), "REGISTER satype %d" % satype)
    r.send(m(REGISTER, satype=3), "REGISTER ESP again -> EEXIST")
    r.send(m(REGISTER, satype=0), "REGISTER UNSPEC again")
    r.send(m(REGISTER, satype=10), "REGISTER satype 10 -> EINVAL")


@scenario("ADD/GET/DUMP/DELETE of ESP SAs, transport, IPv4, ten algorithm pairs")
def esp_algs(r):
    for i, (enc, auth) in enumerate(ESP_ALGS):
        r.send(add(0x1000 + i, auth=auth, enc=enc, dst="10.0.0.%d" % (2 + i % 3)),
               "ADD ESP enc %d/%d auth %d/%d" % (enc + auth))
    for i in range(len(ESP_ALGS)):
        r.send(ref(GET, 0x1000 + i, dst="10.0.0.%d" % (2 + i % 3)), "GET 0x%x" % (0x1000 + i))
    r.send(m(DUMP, satype=SATYPE_ESP), "DUMP ESP")
    r.send(m(DUMP, satype=SATYPE_AH), "DUMP AH (none) -> ENOENT")
    r.send(ref(DELETE, 0x1003, dst="10.0.0.2"), "DELETE 0x1003")
    r.send(ref(DELETE, 0x1003, dst="10.0.0.2"), "DELETE 0x1003 again -> ESRCH")
    r.send(ref(GET, 0x1003, dst="10.0.0.2"), "GET 0x1003 -> ESRCH")
    r.send(ref(GET, 0x1004, dst="10.0.0.9"), "GET 0x1004 at another dst -> ESRCH")
    r.send(ref(GET, 0x1004, src="10.9.9.9", dst="10.0.0.3"), "GET with another src finds it")
    r.send(ref(GET, 0x1004, satype=SATYPE_AH, dst="10.0.0.3"), "GET as AH -> ESRCH")
    r.send(ref(DELETE, 0x1005, dst="10.0.0.4"), "DELETE 0x1005")


@scenario("ADD/GET/DUMP/FLUSH of AH SAs, seven algorithms, beside ESP")
def ah_algs(r):
    for i, auth in enumerate(AH_ALGS):
        r.send(add(0x2000 + i, satype=SATYPE_AH, auth=auth), "ADD AH auth %d/%d" % auth)
    r.send(add(0x2100, enc=(12, 128), auth=(3, 160)), "ADD ESP beside them")
    r.send(ref(GET, 0x2002, satype=SATYPE_AH), "GET AH 0x2002")
    r.send(m(DUMP, satype=SATYPE_AH), "DUMP AH")
    r.send(m(DUMP, satype=0), "DUMP all")
    r.send(m(FLUSH, satype=SATYPE_AH), "FLUSH AH")
    r.send(m(DUMP, satype=SATYPE_AH), "DUMP AH -> ENOENT")
    r.send(m(FLUSH, satype=SATYPE_AH), "FLUSH AH again (empty)")


@scenario("tunnel mode SAs (SA2 mode and reqid, PROXY), IPv4 and IPv6, mixed families")
def tunnel_sas(r):
    r.send(add(0x3000, enc=(12, 128), auth=(5, 256), src="192.0.2.1", dst="192.0.2.2",
               mode=TUNNEL, reqid=5), "ADD ESP tunnel v4 reqid 5")
    r.send(add(0x3001, enc=(12, 128), auth=(5, 256), src="192.0.2.1", dst="192.0.2.2",
               mode=TUNNEL, reqid=6, proxy=("10.1.0.0", 16)), "ADD ESP tunnel with PROXY /16")
    r.send(add(0x3002, satype=SATYPE_AH, auth=(3, 160), src="2001:db8::1", dst="2001:db8::2",
               mode=TUNNEL, reqid=7), "ADD AH tunnel v6")
    r.send(add(0x3003, enc=(3, 192), auth=(2, 128), src="2001:db8::1", dst="2001:db8::2",
               mode=TRANSPORT), "ADD ESP transport v6")
    r.send(add(0x3005, enc=(12, 128), auth=(3, 160), src="0.0.0.0", dst="192.0.2.2"),
           "ADD ESP from 0.0.0.0 (no PROXY back)")
    r.send(add(0x3006, enc=(12, 128), auth=(3, 160), mode=3), "ADD ESP BEET mode")
    r.send(add(0x3007, enc=(12, 128), auth=(3, 160), mode=0, reqid=9), "ADD ESP mode any")
    r.send(ref(GET, 0x3001, src="192.0.2.1", dst="192.0.2.2"), "GET 0x3001")
    r.send(ref(GET, 0x3002, satype=SATYPE_AH, src="2001:db8::1", dst="2001:db8::2"),
           "GET AH v6")
    r.send(ref(GET, 0x3002, satype=SATYPE_AH, src="192.0.2.1", dst="2001:db8::2"),
           "GET with src v4 and dst v6 -> EINVAL")
    r.send(m(DUMP, satype=0), "DUMP all")
    r.send(ref(DELETE, 0x3003, src="2001:db8::1", dst="2001:db8::2"), "DELETE v6")


@scenario("SA2 sequence (FreeBSD: the last outbound sequence number) on ADD, read back by GET "
          "and DUMP", intended=("sa2_sequence",))
def sa2_sequence(r):
    r.send(add(0x3100, enc=(12, 128), auth=(5, 256), mode=TRANSPORT, sequence=0xfffffffd),
           "ADD with SA2 sequence 0xfffffffd")
    r.send(add(0x3101, enc=(12, 128), auth=(5, 256), mode=TRANSPORT, sequence=0),
           "ADD with SA2 sequence 0")
    r.send(ref(GET, 0x3100), "GET: af_key 0, kame_ipsec 0xfffffffd")
    r.send(m(DUMP, satype=SATYPE_ESP), "DUMP")
    r.send(m(FLUSH, satype=SATYPE_ESP), "FLUSH (setkey -D below does not print it)")


@scenario("lifetimes: HARD and SOFT together, one alone, on ADD, GET, UPDATE of a mature SA")
def lifetimes(r):
    lt = ((100, 1 << 20, 3600, 600), (50, 1 << 19, 1800, 300))
    r.send(add(0x4000, enc=(12, 128), auth=(3, 160), lifetimes=lt), "ADD with HARD and SOFT")
    r.send(add(0x4001, enc=(12, 128), auth=(3, 160), lifetimes=(lt[0], None)),
           "ADD with HARD only -> EINVAL")
    r.send(add(0x4001, enc=(12, 128), auth=(3, 160), lifetimes=(None, lt[1])),
           "ADD with SOFT only -> EINVAL")
    r.send(add(0x4001, enc=(12, 128), auth=(3, 160), lifetimes=((0, 0, 0, 0), (0, 0, 0, 0))),
           "ADD with zero lifetimes")
    r.send(ref(GET, 0x4000), "GET shows them")
    lt2 = ((200, 1 << 21, 7200, 1200), (150, 1 << 20, 3600, 900))
    r.send(add(0x4000, mtype=UPDATE, enc=(12, 128), auth=(3, 160), lifetimes=lt2),
           "UPDATE of the mature SA with new lifetimes")
    r.send(ref(GET, 0x4000), "GET after UPDATE")
    r.send(add(0x4000, mtype=UPDATE, enc=(12, 256), auth=(5, 256), replay=8, lifetimes=lt),
           "UPDATE with other algorithms and keys (ignored for a mature SA)")
    r.send(ref(GET, 0x4000), "GET: algorithms unchanged")
    r.send(add(0x4444, mtype=UPDATE, enc=(12, 128), auth=(3, 160)), "UPDATE of an absent SA -> ESRCH")


@scenario("flags and replay windows up to af_key's cap of 32", intended=("replay_cap",))
def flags_replay(r):
    for i, (flags, replay) in enumerate([(0, 0), (1, 4), (0x80000000, 32), (0x40000000, 16),
                                         (0x20000000, 1), (0xe0000001, 31)]):
        r.send(add(0x5000 + i, enc=(12, 128), auth=(3, 160), flags=flags, replay=replay),
               "ADD flags 0x%x replay %d" % (flags, replay))
    r.send(add(0x5010, enc=(12, 128), auth=(3, 160), replay=64), "ADD replay 64 (af_key: 32)")
    r.send(ref(GET, 0x5010), "GET replay 64")
    r.send(ref(DELETE, 0x5010), "DELETE it (setkey -D below would differ)")


def gs(rng=None, satype=SATYPE_ESP, src="10.0.0.1", dst="10.0.0.2", mode=None, reqid=0,
       seq=None):
    """A GETSPI, in range rng (min, max) if given."""
    e = [address(EXT_SRC, src), address(EXT_DST, dst)]
    if mode is not None:
        e.append(sa2(mode, reqid))
    if rng:
        e.append(spirange(*rng))
    return m(GETSPI, e, satype=satype, seq=seq)


@scenario("GETSPI: fixed and random ranges, taken SPIs, larval SAs completed by UPDATE")
def getspi(r):
    r.send(gs((0x6000, 0x6000)), "GETSPI range 0x6000-0x6000")
    r.send(gs((0x6000, 0x6000)), "the same again: taken -> ENOENT")
    r.send(gs((0x6000, 0x6000), satype=SATYPE_AH), "the same SPI for AH")
    r.send(add(0x6000, enc=(12, 128), auth=(3, 160)), "ADD on the larval SPI -> EEXIST")
    r.send(ref(GET, 0x6000), "GET of the larval SA")
    r.send(add(0x6000, mtype=UPDATE, enc=(12, 128), auth=(3, 160)), "UPDATE completes it")
    r.send(ref(GET, 0x6000), "GET: mature")
    got = r.send(gs(), "GETSPI default range (random SPI)", flags=["random_spi"])
    spi = sa_fields(got[0][1][1])["spi"] if got and 1 in got[0][1] else 0x6001
    r.send(add(spi, mtype=UPDATE, enc=(12, 128), auth=(5, 256), salt=7), "UPDATE the random SPI")
    r.send(gs((0x6100, 0x6100), mode=TUNNEL, reqid=3, src="2001:db8::1", dst="2001:db8::2"),
           "GETSPI v6 tunnel reqid 3")
    r.send(add(0x6100, mtype=UPDATE, enc=(12, 128), auth=(3, 160), mode=TUNNEL, reqid=3,
               src="2001:db8::1", dst="2001:db8::2"), "UPDATE it in tunnel mode")
    r.send(gs((0x6200, 0x6200), mode=TUNNEL, reqid=4), "GETSPI v4 tunnel reqid 4, left larval")
    r.send(gs((0x6300, 0x6300), seq=77), "GETSPI with seq 77")
    r.send(add(0x6301, enc=(12, 128), auth=(3, 160)), "ADD with seq != 77 leaves it")
    r.send(gs(src="10.0.0.1", dst="2001:db8::2"), "GETSPI with mixed families -> EINVAL")
    r.send(gs((0x6400, 0x6400), mode=5), "GETSPI SA2 mode 5 -> EINVAL")
    r.send(gs((0x6400, 0x6400), satype=1), "GETSPI satype 1 -> EINVAL")
    r.send(m(DUMP, satype=0), "DUMP shows larval and mature SAs")


@scenario("GETSPI failures after af_key has made the larval SA (taken SPI, min > max, satype "
          "0, IPComp without a range)", intended=("getspi_leftover",), dumps=False)
def getspi_errors(r):
    e = [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.2")]
    r.send(m(GETSPI, e + [spirange(0x6000, 0x6000)], satype=SATYPE_ESP), "GETSPI 0x6000")
    r.send(m(GETSPI, [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.3"),
                      spirange(0x6000, 0x6000)], satype=SATYPE_ESP),
           "the same SPI to another dst: taken -> ENOENT")
    r.send(m(GETSPI, e + [spirange(0x7000, 0x6000)], satype=SATYPE_ESP), "GETSPI min > max")
    r.send(m(GETSPI, e + [spirange(0x7000, 0x7000)], satype=0), "GETSPI satype 0")
    r.send(m(GETSPI, e, satype=SATYPE_IPCOMP), "GETSPI IPComp without a range")
    r.send(m(DUMP, satype=0), "DUMP: what the failures left", intended="getspi_leftover")


@scenario("GETSPI after the SAs holding an SPI go: held while any SA of the protocol has "
          "it, whatever its destination, free once the last is deleted or flushed")
def getspi_freed(r):
    r.send(add(0x6500, enc=(12, 128), auth=(3, 160), dst="10.0.0.2"), "ADD 0x6500 to .2")
    r.send(add(0x6500, enc=(12, 128), auth=(3, 160), dst="10.0.0.3"), "ADD 0x6500 to .3")
    r.send(add(0x6600, satype=SATYPE_AH, auth=(3, 160), dst="10.0.0.2"), "ADD AH 0x6600")
    r.send(gs((0x6500, 0x6500), dst="10.0.0.4"), "GETSPI 0x6500 to .4: taken -> ENOENT")
    r.send(ref(DELETE, 0x6500, dst="10.0.0.2"), "DELETE 0x6500 to .2")
    r.send(gs((0x6500, 0x6500), dst="10.0.0.4"), "GETSPI 0x6500: still taken (.3) -> ENOENT")
    r.send(ref(DELETE, 0x6500, dst="10.0.0.3"), "DELETE 0x6500 to .3")
    r.send(gs((0x6500, 0x6500), dst="10.0.0.4"), "GETSPI 0x6500: free again")
    r.send(gs((0x6600, 0x6600), dst="10.0.0.4"), "GETSPI ESP 0x6600: AH's SPI is AH's only")
    r.send(gs((0x6600, 0x6600), dst="10.0.0.4", satype=SATYPE_AH),
           "GETSPI AH 0x6600: taken -> ENOENT")
    r.send(m(FLUSH, satype=0), "FLUSH")
    r.send(gs((0x6500, 0x6500), dst="10.0.0.5"), "GETSPI 0x6500 after the flush")
    r.send(gs((0x6600, 0x6600), dst="10.0.0.5", satype=SATYPE_AH),
           "GETSPI AH 0x6600 after the flush")


@scenario("NAT-T extensions on ESP: type 2 with ports, UPDATE of the ports, refusals")
def natt(r):
    r.send(add(0x8000, enc=(12, 128), auth=(3, 160), natt=(2, 4500, 4500)),
           "ADD ESP in UDP 4500/4500")
    r.send(add(0x8001, enc=(12, 128), auth=(3, 160), natt=(2, 4501, None)),
           "ADD ESP in UDP with SPORT only")
    r.send(add(0x8002, enc=(12, 128), auth=(3, 160), natt=(2, 4500, 4500),
               extra=[address(EXT_NAT_T_OA, "172.16.0.1")]), "ADD with NAT_T_OA (ignored)")
    r.send(add(0x8003, enc=(12, 128), auth=(3, 160), natt=(1, 4500, 4500)),
           "ADD NAT-T type 1 -> EINVAL")
    r.send(add(0x8004, satype=SATYPE_AH, auth=(3, 160), natt=(2, 4500, 4500)),
           "ADD AH with NAT-T -> EINVAL")
    r.send(ref(GET, 0x8000), "GET shows the ports")
    r.send(add(0x8000, mtype=UPDATE, enc=(12, 128), auth=(3, 160), natt=(2, 14500, 14501)),
           "UPDATE the ports")
    r.send(ref(GET, 0x8000), "GET the new ports")
    r.send(add(0x8000, mtype=UPDATE, enc=(12, 128), auth=(3, 160)),
           "UPDATE without NAT-T -> EINVAL")


@scenario("DUMP order, SA type filter, X_FILTER, FLUSH broadcasts")
def dump_flush(r):
    for i in range(4):
        r.send(add(0x9000 + i, enc=(12, 128), auth=(3, 160), dst="10.0.%d.2" % i),
               "ADD ESP 0x%x" % (0x9000 + i))
        r.send(add(0x9100 + i, satype=SATYPE_AH, auth=(5, 256), dst="10.0.%d.2" % i),
               "ADD AH 0x%x" % (0x9100 + i))
    r.send(ref(DELETE, 0x9001, dst="10.0.1.2"), "DELETE one in the middle")
    r.send(m(DUMP, satype=0), "DUMP all: newest first")
    r.send(m(DUMP, satype=SATYPE_ESP), "DUMP ESP")
    r.send(m(DUMP, satype=5), "DUMP satype 5 -> EINVAL")
    filt = struct.pack("=16s16sHBBI", socket_aton("10.0.0.0"), socket_aton("10.0.2.0"),
                       2, 8, 24, 0)
    r.send(m(DUMP, [ext(EXT_FILTER, filt[:12])], satype=0), "X_FILTER of 16 bytes -> EINVAL")
    r.send(m(FLUSH, satype=SATYPE_ESP), "FLUSH ESP: unicast and broadcast")
    r.send(m(FLUSH, satype=SATYPE_ESP), "FLUSH ESP again: unicast only")
    r.send(m(FLUSH, satype=4), "FLUSH satype 4 -> EINVAL")
    r.send(m(FLUSH, satype=0), "FLUSH all")
    r.send(m(DUMP, satype=0), "DUMP of nothing -> ENOENT")


@scenario("DUMP with an X_FILTER extension (addresses, prefixes, family)")
def dump_filter(r):
    for i in range(4):
        r.send(add(0x9000 + i, enc=(12, 128), auth=(3, 160), dst="10.0.%d.2" % i),
               "ADD ESP 0x%x" % (0x9000 + i))
        r.send(add(0x9100 + i, satype=SATYPE_AH, auth=(5, 256), dst="10.0.%d.2" % i),
               "ADD AH 0x%x" % (0x9100 + i))

    def filt(src, dst, family, splen, dplen):
        return struct.pack("=16s16sHBBI", socket_aton(src), socket_aton(dst),
                           family, splen, dplen, 0)

    cases = [
        (filt("10.0.0.0", "10.0.2.0", 2, 8, 24), 0, "dst 10.0.2.0/24"),
        (filt("10.0.0.0", "10.0.2.0", 2, 8, 23), 0, "dst 10.0.2.0/23"),
        (filt("10.0.0.0", "10.0.2.0", 2, 8, 23), SATYPE_AH, "dst 10.0.2.0/23, AH only"),
        (filt("0.0.0.0", "0.0.0.0", 0, 0, 0), 0, "family 0, prefixes 0: everything"),
        (filt("0.0.0.0", "0.0.0.0", 10, 0, 0), 0, "IPv6 only: nothing -> ENOENT"),
        (filt("11.0.0.0", "0.0.0.0", 2, 8, 0), 0, "src 11/8: nothing -> ENOENT"),
        (filt("10.0.0.1", "10.0.1.2", 2, 128, 128), 0,
         "prefixes 128 on IPv4 (zeros past the address compared)"),
        (filt("0.0.0.0", "0.0.0.0", 2, 0, 129), 0, "dst prefix 129 -> EINVAL"),
        (filt("0.0.0.0", "0.0.0.0", 2, 129, 0), 0, "src prefix 129 -> EINVAL"),
    ]
    for f, satype, what in cases:
        r.send(m(DUMP, [ext(EXT_FILTER, f)], satype=satype), "DUMP with X_FILTER " + what)
    r.send(spd(X_SPDADD, sel("10.0.0.1", "10.0.0.2", proto=17), OUT, DISCARD), "SPDADD")
    r.send(m(X_SPDDUMP, [ext(EXT_FILTER, filt("11.0.0.0", "0.0.0.0", 2, 8, 0))]),
           "SPDDUMP ignores X_FILTER")


def socket_aton(a):
    import socket
    return socket.inet_aton(a)


@scenario("malformed extensions and addresses: every class of parse error")
def ext_errors(r):
    good = sa_exts(0xa000, enc=(12, 128), auth=(3, 160))
    hdr_only = [sa(0xa000)]

    def send(exts, what):
        r.send(m(ADD, exts, satype=SATYPE_ESP), what)
    send(good[:1] + [raw_ext(0, 5, b"\0" * 4)] + good[1:], "an extension of length 0")
    send(good + [raw_ext(9, 17, b"\0" * 4)], "an extension longer than the message")
    send(good[:1] + [raw_ext(1, 0, b"\0" * 4)] + good[1:], "extension type 0")
    send(good + [sa(0xa000)], "two SA extensions")
    send([raw_ext(1, 1, b"\0" * 4)] + good[1:], "an SA extension of 8 bytes")
    send(good + [raw_ext(2, 3, b"\0" * 12)], "a LIFETIME_HARD of 16 bytes")
    send(good + [raw_ext(1, 10, b"\0" * 4)], "an IDENTITY of 8 bytes")
    send(good + [raw_ext(1, 16, b"\0" * 4)], "a SPIRANGE of 8 bytes")
    send(good + [raw_ext(1, 19, b"\0" * 4)], "an SA2 of 8 bytes")
    send(good + [raw_ext(1, 18, b"\0" * 4)], "an X_POLICY of 8 bytes")
    send(hdr_only + [address(EXT_SRC, "10.0.0.1", 33), address(EXT_DST, "10.0.0.2")] + good[3:],
         "an IPv4 prefix length of 33")
    send(hdr_only + [address(EXT_SRC, "2001:db8::1"), address(EXT_DST, "2001:db8::2", 129)] +
         good[3:], "an IPv6 prefix length of 129")
    unix = ext(EXT_SRC, struct.pack("=BBH", 255, 32, 0) + struct.pack("=H", 1) + b"\0" * 14)
    send(hdr_only + [unix] + good[2:], "an AF_UNIX address")
    short = raw_ext(1, EXT_SRC, struct.pack("=BBH", 255, 32, 0))
    send(hdr_only + [short] + good[2:], "an address extension without a sockaddr")
    long4 = ext(EXT_SRC, struct.pack("=BBH", 255, 32, 0) + sockaddr("10.0.0.1") + b"\0" * 16)
    send(hdr_only + [long4] + good[2:], "an IPv4 address extension of 5 words")
    send(hdr_only + [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "2001:db8::2")] + good[3:],
         "source IPv4, destination IPv6")
    send(hdr_only + [address(EXT_DST, "10.0.0.2")] + good[3:], "no source address")
    send(hdr_only + [address(EXT_SRC, "10.0.0.1")] + good[3:], "no destination address")
    send(good[1:], "no SA extension")
    bits = key(EXT_KEY_AUTH, keybytes(160), 200)
    send(good[:3] + [bits] + good[4:], "auth key bits past the extension")
    send(good[:3] + [key(EXT_KEY_AUTH, b"", 0)] + good[4:], "auth key of 0 bits")
    send(good[:4] + [key(EXT_KEY_ENC, b"", 0)], "encryption key of 0 bits")
    send(good + [ext(EXT_SEC_CTX, struct.pack("=BBH", 1, 1, 40) + b"x" * 4)],
         "a SEC_CTX whose length disagrees")
    send(good + [raw_ext(1, 30, b"\0" * 4)], "an unknown extension type 30 is skipped: accepted")
    r.send(ref(DELETE, 0xa000), "DELETE it")
    send(good + [ext(EXT_SEC_CTX, struct.pack("=BBH", 1, 1, 4) + b"ctx\0")],
         "a valid SEC_CTX (ignored)")
    r.send(ref(DELETE, 0xa000), "DELETE it")
    send(good + [ext(EXT_IDENTITY_SRC, struct.pack("=HHQ", 1, 0, 0) + b"host\0\0\0\0")],
         "an IDENTITY_SRC (ignored)")
    r.send(ref(DELETE, 0xa000), "DELETE it")


@scenario("ADD/GET/DELETE refused: SA types, algorithms, keys, modes")
def sa_errors(r):
    A = dict(enc=(12, 128), auth=(3, 160))
    cases = [
        (add(0xb000, satype=1, **A), "satype 1 -> EINVAL"),
        (add(0xb000, satype=0, **A), "satype 0 -> EPROTONOSUPPORT"),
        (add(0xb000, satype=SATYPE_IPCOMP, enc=(2, 0)), "IPComp deflate (not built) -> ENOSYS"),
        (add(0xb000, enc=(12, 128), auth=(252, 160)), "auth id 252 -> EINVAL"),
        (add(0xb000, enc=(254, 128), auth=(3, 160)), "cipher id 254 -> EINVAL"),
        (add(0xb000, enc=(12, 128), auth=(4, 160)), "auth id 4 -> ENOSYS"),
        (add(0xb000, enc=(12, 128), auth=(8, 160)), "auth id 8 (RIPEMD-160) -> ENOSYS"),
        (add(0xb000, enc=(12, 128), auth=(10, 256)), "auth id 10 (SM3, not built) -> ENOSYS"),
        (add(0xb000, enc=(6, 128), auth=(3, 160)), "CAST-CBC (not built) -> ENOSYS"),
        (add(0xb000, enc=(17, 128), auth=(3, 160)), "cipher id 17 -> ENOSYS"),
        (add(0xb000, enc=(12, 120), auth=(3, 160)), "AES-CBC with 120 bits -> EINVAL"),
        (add(0xb000, enc=(12, 136), auth=(3, 160)), "AES-CBC with 136 bits -> EINVAL"),
        (add(0xb000, enc=(2, 56), auth=(3, 160)), "DES with 56 bits -> EINVAL"),
        (add(0xb000, enc=(3, 128), auth=(3, 160)), "3DES with 128 bits -> EINVAL"),
        (add(0xb000, enc=(13, 128), auth=(3, 160)), "AES-CTR without its nonce -> EINVAL"),
        (add(0xb000, enc=(12, 128), auth=(9, 96)), "AES-XCBC with 96 bits -> EINVAL"),
        (add(0xb000, enc=(0, 0), auth=(3, 160)), "ESP without a cipher -> EINVAL"),
        (m(ADD, [sa(0xb000, auth=3, enc=12), address(EXT_SRC, "10.0.0.1"),
                 address(EXT_DST, "10.0.0.2"), key(EXT_KEY_AUTH, keybytes(160), 160)],
           satype=SATYPE_ESP), "ESP without a KEY_ENCRYPT -> EINVAL"),
        (m(ADD, [sa(0xb000, auth=3), address(EXT_SRC, "10.0.0.1"),
                 address(EXT_DST, "10.0.0.2")], satype=SATYPE_AH), "AH without a KEY_AUTH -> EINVAL"),
        (add(0xb000, satype=SATYPE_AH, auth=(0, 0), akey=key(EXT_KEY_AUTH, keybytes(160), 160)),
         "AH with auth id 0 -> EINVAL"),
        (add(0xb001, enc=(12, 128), auth=(3, 160), mode=4), "SA2 mode 4 -> EINVAL"),
        (add(0xb002, enc=(12, 128), auth=(3, 160), src="10.0.0.1", proxy=("2001:db8::", 64)),
         "transport mode with an IPv6 PROXY on IPv4 -> EPROTONOSUPPORT"),
        (ref(GET, 0xb000, satype=1), "GET satype 1 -> ESRCH"),
        (ref(GET, 0xb000, satype=0), "GET satype 0 -> ESRCH"),
        (m(GET, [address(EXT_SRC, "10.0.0.1"), address(EXT_DST, "10.0.0.2")], satype=3),
         "GET without SA -> EINVAL"),
        (m(GET, [sa(0xb000), address(EXT_SRC, "10.0.0.1")], satype=3), "GET without DST -> EINVAL"),
        (m(DELETE, [sa(0xb000), address(EXT_DST, "10.0.0.2")], satype=3),
         "DELETE without SRC -> EINVAL"),
        (ref(DELETE, 0xb000, satype=9), "DELETE IPComp absent -> ESRCH"),
    ]
    for data, what in cases:
        r.send(data, what)
    r.send(m(DUMP, satype=0), "nothing was added")


@scenario("message types without a handler, ACQUIRE, X_PROMISC forms, header errors")
def msg_types(r):
    for t, what in [(EXPIRE, "EXPIRE -> EOPNOTSUPP"), (X_PCHANGE, "X_PCHANGE -> EOPNOTSUPP"),
                    (X_SPDACQUIRE, "X_SPDACQUIRE -> EOPNOTSUPP"),
                    (X_SPDEXPIRE, "X_SPDEXPIRE -> EOPNOTSUPP"),
                    (X_NAT_T_NEW_MAPPING, "X_NAT_T_NEW_MAPPING -> EOPNOTSUPP"),
                    (X_MIGRATE, "X_MIGRATE -> ENOPROTOOPT"),
                    (ACQUIRE, "ACQUIRE, bare: no reply")]:
        r.send(m(t, satype=SATYPE_ESP), what)
    r.send(m(ACQUIRE, [address(EXT_SRC, "10.0.0.1")], satype=SATYPE_ESP),
           "ACQUIRE with an extension -> EOPNOTSUPP")
    r.send(m(X_MIGRATE, [raw_ext(0, 5, b"\0" * 4)]), "X_MIGRATE with a bad extension -> EINVAL")
    r.send(m(X_PROMISC, satype=2), "X_PROMISC satype 2 -> EINVAL")
    r.send(m(X_PROMISC, [address(EXT_SRC, "10.0.0.1")], satype=7),
           "X_PROMISC with extensions: broadcast as is")
    r.send(m(X_PROMISC, satype=1), "S turns promiscuous")
    r.send(m(FLUSH, satype=0), "FLUSH as a promiscuous sender")
    r.send(m(X_PROMISC, satype=0), "S turns it off")
    hdr = msg(FLUSH, seq=5, pid=PID)
    for data, what in [(hdr[:15], "15 bytes -> EMSGSIZE"),
                       (b"\x01" + hdr[1:], "version 1 -> EINVAL"),
                       (hdr[:6] + b"\x01\x00" + hdr[8:], "reserved 1 -> EINVAL"),
                       (hdr[:1] + b"\x19" + hdr[2:], "type 25 -> EINVAL"),
                       (hdr[:4] + b"\x03\x00" + hdr[6:], "sadb_msg_len 3 for 16 bytes -> EMSGSIZE"),
                       (hdr + b"\0" * 8, "24 bytes, sadb_msg_len 2 -> EMSGSIZE")]:
        r.send(data, what)


# Policies.

SEL4 = sel("10.0.0.0", "10.0.1.0", 24, 24)
SEL6 = sel("2001:db8:1::", "2001:db8:2::", 48, 48)


@scenario("SPDADD/GET/UPDATE/SETIDX/DELETE/DELETE2/DUMP/FLUSH, IPv4, three directions")
def spd_basic(r):
    esp_t = ipsecrequest(ESP, TRANSPORT, REQUIRE)
    ids = []
    for d in (OUT, IN, FWD):
        ids.append(pol_id(r.send(spd(X_SPDADD, SEL4, d, reqs=[esp_t]), "SPDADD dir %d" % d)))
    r.send(spd(X_SPDADD, sel("10.0.0.1", "10.0.0.2", proto=6, sport=1234, dport=80), OUT,
               reqs=[esp_t], prio=0x80000000 - 100), "SPDADD tcp ports, priority")
    r.send(spd(X_SPDADD, sel("10.0.0.1", "10.0.0.2", proto=17), OUT, DISCARD, prio=7),
           "SPDADD udp discard")
    r.send(spd(X_SPDADD, sel("10.0.0.1", "10.0.0.2", proto=0), IN, NONE), "SPDADD proto 0 none")
    r.send(spd(X_SPDADD, sel("10.0.0.1", "10.0.0.2", proto=255), IN, NONE),
           "SPDADD proto 255: the same selector -> EEXIST")
    r.send(spd(X_SPDADD, sel("10.0.0.1", "10.0.0.2", proto=1), FWD, IPSEC),
           "SPDADD ipsec without requests (reads back none)")
    r.send(spd(X_SPDADD, SEL4, OUT, reqs=[esp_t]), "SPDADD again -> EEXIST")
    for i in ids:
        r.send(m(X_SPDGET, [policy(OUT, policy_id=i)]), "SPDGET id %d" % i)
    r.send(spd(X_SPDUPDATE, SEL4, OUT, DISCARD, prio=5), "SPDUPDATE replaces, keeps the id")
    r.send(spd(X_SPDUPDATE, sel("10.9.0.0", "10.9.1.0", 16, 16), OUT, NONE),
           "SPDUPDATE of a new selector inserts")
    r.send(spd(X_SPDSETIDX, sel("10.8.0.0", "10.8.1.0", 16, 16), IN, NONE), "SPDSETIDX")
    r.send(spd(X_SPDADD, sel("10.7.0.0", "10.7.1.0", 16, 16), IN, NONE, pid=12345),
           "SPDADD with an id set (ignored)")
    r.send(m(X_SPDDUMP), "SPDDUMP: newest first")
    r.send(spd(X_SPDDELETE, SEL4, IN, DISCARD), "SPDDELETE in (type ignored)")
    r.send(spd(X_SPDDELETE, SEL4, IN), "SPDDELETE in again -> ENOENT")
    r.send(m(X_SPDDELETE2, [policy(FWD, policy_id=ids[2])]), "SPDDELETE2 the fwd one")
    r.send(m(X_SPDDELETE2, [policy(FWD, policy_id=ids[2])]), "SPDDELETE2 again -> ENOENT")
    r.send(m(X_SPDGET, [policy(FWD, policy_id=ids[2])]), "SPDGET it -> ENOENT")
    r.send(m(X_SPDDUMP), "SPDDUMP")
    r.send(m(X_SPDFLUSH, satype=3), "SPDFLUSH: unicast and broadcast")
    r.send(m(X_SPDFLUSH), "SPDFLUSH of nothing: unicast")
    r.send(m(X_SPDDUMP), "SPDDUMP of nothing -> ENOENT")


@scenario("SPD churn: 200 policies, then twice: the 100 oldest deleted (by selector and "
          "by id), each survivor replaced by SPDUPDATE, 100 added; ids, GETs and dump order")
def spd_churn(r):
    # Enough deletions that our indexes sweep their empty slots, during
    # the deletions and during an SPDUPDATE (its id then inserted in the
    # middle, not refilled in place): spd_table.rs, sorted_log.rs.
    esp_t = ipsecrequest(ESP, TRANSPORT, REQUIRE)
    live = []  # (selector, direction, id), oldest first
    made = [0]

    def add():
        i = made[0]
        made[0] += 1
        s, d = sel("10.30.%d.%d" % (i // 250, i % 250 + 1), "10.31.0.1"), (OUT, IN, FWD)[i % 3]
        live.append((s, d, pol_id(r.send(spd(X_SPDADD, s, d, reqs=[esp_t]), "SPDADD %d" % i))))

    for _ in range(200):
        add()
    for rnd in range(2):
        for k, (s, d, i) in enumerate(live[:100]):
            if k % 2:
                r.send(m(X_SPDDELETE2, [policy(d, policy_id=i)]), "SPDDELETE2 id %d" % i)
            else:
                r.send(spd(X_SPDDELETE, s, d), "SPDDELETE id %d" % i)
        del live[:100]
        for s, d, i in list(live):
            got = pol_id(r.send(spd(X_SPDUPDATE, s, d, NONE), "SPDUPDATE id %d" % i))
            r.note("round %d: SPDUPDATE kept id %d" % (rnd, i), got == i, want=True)
        for _ in range(100):
            add()
    for s, d, i in live:
        r.send(m(X_SPDGET, [policy(d, policy_id=i)]), "SPDGET id %d" % i)
    r.send(m(X_SPDDUMP), "SPDDUMP: newest first")
    r.send(m(X_SPDFLUSH), "SPDFLUSH")
    r.send(m(X_SPDDUMP), "SPDDUMP of nothing -> ENOENT")


@scenario("SA bundles and tunnels in policies, IPv4 and IPv6, up to six requests")
def spd_bundles(r):
    esp_t = ipsecrequest(ESP, TRANSPORT, REQUIRE)
    ah_t = ipsecrequest(AH, TRANSPORT, REQUIRE)
    esp_tun = ipsecrequest(ESP, TUNNEL, REQUIRE, tunnel=("192.0.2.1", "192.0.2.2"))
    esp_tun6 = ipsecrequest(ESP, TUNNEL, REQUIRE, tunnel=("2001:db8::1", "2001:db8::2"))
    ah_tun = ipsecrequest(AH, TUNNEL, REQUIRE, tunnel=("192.0.2.3", "192.0.2.4"))
    r.send(spd(X_SPDADD, SEL4, OUT, reqs=[esp_t, ah_t]), "esp/transport ah/transport")
    r.send(spd(X_SPDADD, SEL4, IN, reqs=[esp_tun, ah_t]), "esp/tunnel ah/transport")
    r.send(spd(X_SPDADD, SEL4, FWD, reqs=[esp_tun]), "esp/tunnel fwd")
    r.send(spd(X_SPDADD, SEL6, OUT, reqs=[esp_tun6]), "IPv6 esp/tunnel")
    r.send(spd(X_SPDADD, SEL6, IN, reqs=[esp_t, ah_t]), "IPv6 bundle")
    r.send(spd(X_SPDADD, SEL6, FWD, reqs=[esp_tun]), "IPv6 selector, IPv4 tunnel")
    r.send(spd(X_SPDADD, sel("10.3.0.0", "10.4.0.0", 16, 16), OUT, reqs=[ah_tun, esp_tun]),
           "two tunnels")
    r.send(spd(X_SPDADD, sel("10.5.0.0", "10.6.0.0", 16, 16), OUT, reqs=[esp_t, ah_t] * 3),
           "six requests")
    r.send(spd(X_SPDADD, sel("10.5.0.0", "10.6.0.0", 16, 16), IN, reqs=[esp_t] * 7),
           "seven requests -> ELOOP")
    beet = ipsecrequest(ESP, 3, REQUIRE)
    r.send(spd(X_SPDADD, sel("10.5.0.0", "10.6.0.0", 16, 16), FWD, reqs=[beet]), "BEET")
    comp = ipsecrequest(108, TRANSPORT, REQUIRE)
    r.send(spd(X_SPDADD, sel("10.5.0.0", "10.6.0.0", 16, 16), IN, reqs=[comp]), "IPComp")
    r.send(spd(X_SPDADD, sel("2001:db8:5::", "2001:db8:6::", 48, 48), IN,
               reqs=[ipsecrequest(43, TRANSPORT, REQUIRE)]), "IPv6 routing header proto 43")
    r.send(spd(X_SPDADD, sel("10.5.0.0", "10.6.0.0", 16, 16), OUT,
               reqs=[ipsecrequest(43, TRANSPORT, REQUIRE)]), "proto 43 on IPv4")
    r.send(m(X_SPDDUMP), "SPDDUMP")


@scenario("request levels default/use/require/unique, reqids given and generated",
          intended=("default_level", "use_tunnel_out"), dumps=False)
def spd_levels(r):
    s = sel("10.0.0.0", "10.0.1.0", 24, 24)
    for i, (lvl, reqid) in enumerate([(USE, 0), (USE, 9), (REQUIRE, 9), (UNIQUE, 5),
                                      (UNIQUE, 0), (UNIQUE, 0), (UNIQUE, 0x3fff),
                                      (UNIQUE, 0x4000), (7, 0)]):
        r.send(spd(X_SPDADD, sel("10.%d.0.0" % i, "10.100.0.0", 16, 16), OUT,
                   reqs=[ipsecrequest(ESP, TRANSPORT, lvl, reqid)]),
               "level %d reqid %d" % (lvl, reqid))
    r.send(spd(X_SPDADD, s, IN, reqs=[ipsecrequest(ESP, TUNNEL, USE,
                                                   tunnel=("192.0.2.1", "192.0.2.2"))]),
           "use tunnel inbound")
    r.send(spd(X_SPDADD, s, FWD, reqs=[ipsecrequest(ESP, TUNNEL, UNIQUE, 0,
                                                    tunnel=("192.0.2.1", "192.0.2.2"))]),
           "unique tunnel fwd, generated reqid")
    r.send(spd(X_SPDADD, sel("10.20.0.0", "10.100.0.0", 16, 16), OUT,
               reqs=[ipsecrequest(ESP, TRANSPORT, DEFAULT)]), "level default (af_key: require)")
    r.send(m(X_SPDDUMP), "SPDDUMP")
    r.send(spd(X_SPDADD, s, OUT, reqs=[ipsecrequest(ESP, TUNNEL, USE,
                                                    tunnel=("192.0.2.1", "192.0.2.2"))]),
           "use tunnel outbound (af_key: EINVAL)", intended="use_tunnel_out")


@scenario("policies refused: layout of X_POLICY and its requests, selectors, lookups")
def spd_errors(r):
    esp_t = ipsecrequest(ESP, TRANSPORT, REQUIRE)
    tun = ipsecrequest(ESP, TUNNEL, REQUIRE, tunnel=("192.0.2.1", "192.0.2.2"))

    def pol_raw(body, direction=OUT, ptype=IPSEC):
        return ext(18, struct.pack("=HBBII", ptype, direction, 0, 0, 0) + body)
    cases = [
        (m(X_SPDADD, SEL4), "no X_POLICY -> EINVAL"),
        (m(X_SPDADD, [policy(OUT, IPSEC, [esp_t])]), "no addresses -> EINVAL"),
        (m(X_SPDADD, sel("10.0.0.1", "2001:db8::1") + [policy(OUT, NONE)]),
         "families disagree -> EINVAL"),
        (spd(X_SPDADD, SEL4, OUT, 3), "type 3 (entrust) -> EINVAL"),
        (spd(X_SPDADD, SEL4, OUT, 4), "type 4 (bypass) -> EINVAL"),
        (spd(X_SPDADD, SEL4, 0, NONE), "direction 0 -> EINVAL"),
        (spd(X_SPDADD, SEL4, 4, NONE), "direction 4 -> EINVAL"),
        (spd(X_SPDADD, SEL4, OUT, reqs=[ipsecrequest(ESP, 0, REQUIRE)]), "mode 0 -> EINVAL"),
        (spd(X_SPDADD, SEL4, OUT, reqs=[ipsecrequest(ESP, 4, REQUIRE)]), "mode 4 -> EINVAL"),
        (spd(X_SPDADD, SEL4, OUT, reqs=[ipsecrequest(17, TRANSPORT, REQUIRE)]),
         "protocol 17 -> EINVAL"),
        (spd(X_SPDADD, SEL4, OUT, reqs=[ipsecrequest(ESP + 256, TRANSPORT, REQUIRE)]),
         "protocol 306 (50 in its low byte)"),
        (m(X_SPDADD, SEL4 + [pol_raw(struct.pack("=HHBBHII", 8, ESP, 1, 2, 0, 0, 0))]),
         "a request of length 8 -> EINVAL"),
        (m(X_SPDADD, SEL4 + [pol_raw(struct.pack("=HHBBHII", 32, ESP, 1, 2, 0, 0, 0))]),
         "a request longer than the extension -> EINVAL"),
        (m(X_SPDADD, SEL4 + [pol_raw(struct.pack("=HHBBHII", 16, ESP, 2, 2, 0, 0, 0))]),
         "a tunnel request without addresses -> EINVAL"),
        (m(X_SPDADD, SEL4 + [pol_raw(struct.pack("=HHBBHII", 48, ESP, 2, 2, 0, 0, 0) +
                                     sockaddr("192.0.2.1") + b"\0" * 16)]),
         "a tunnel request with one address -> EINVAL"),
        (m(X_SPDADD, SEL4 + [pol_raw(struct.pack("=HHBBHII", 64, ESP, 2, 2, 0, 0, 0) +
                                     sockaddr("192.0.2.1") + sockaddr("2001:db8::1") +
                                     b"\0" * 4)]),
         "a tunnel request with mixed families -> EINVAL"),
        (m(X_SPDADD, SEL4 + [pol_raw(struct.pack("=HHBBHII", 48, ESP, 2, 2, 0, 0, 0) +
                                     struct.pack("=H", 1) + b"\0" * 30)]),
         "a tunnel request with AF_UNIX addresses -> EINVAL"),
        (m(X_SPDADD, SEL4 + [raw_ext(1, 18, b"\0" * 4)]), "an X_POLICY of 8 bytes -> EINVAL"),
        (spd(X_SPDDELETE, SEL4, OUT), "SPDDELETE of an absent selector -> ENOENT"),
        (spd(X_SPDDELETE, SEL4, 0), "SPDDELETE direction 0 -> EINVAL"),
        (m(X_SPDDELETE, SEL4), "SPDDELETE without X_POLICY -> EINVAL"),
        (m(X_SPDGET, [policy(OUT, policy_id=9)]), "SPDGET id 9 (absent) -> ENOENT"),
        (m(X_SPDGET, [policy(OUT, policy_id=11)]), "SPDGET id 11 (direction 3) -> EINVAL"),
        (m(X_SPDGET, [policy(OUT, policy_id=0)]), "SPDGET id 0 -> ENOENT"),
        (m(X_SPDGET, SEL4), "SPDGET without X_POLICY -> EINVAL"),
        (m(X_SPDDELETE2, [policy(OUT, policy_id=17)]), "SPDDELETE2 id 17 -> ENOENT"),
        (m(X_SPDDELETE2, [policy(OUT, policy_id=4)]), "SPDDELETE2 id 4 (direction 4) -> EINVAL"),
    ]
    for data, what in cases:
        r.send(data, what)
    r.send(m(X_SPDADD, SEL4 + [pol_raw(esp_t + b"\0" * 8)]),
           "a remainder under 16 bytes after the requests is ignored")
    r.send(m(X_SPDADD, sel("10.0.0.0", "10.0.1.0", 24, 24, proto=6) +
             [pol_raw(tun + b"\0" * 8, IN)]), "a tunnel request, then 8 spare bytes")
    r.send(spd(X_SPDADD, SEL4, OUT, reqs=[esp_t]), "the same selector again -> EEXIST")
    r.send(m(X_SPDDUMP), "SPDDUMP")


@scenario("policies with HARD/SOFT lifetimes, one alone, and UPDATE resetting them")
def spd_lifetimes(r):
    hard = lifetime(EXT_LT_HARD, 0, 1 << 20, 3600, 600)
    soft = lifetime(EXT_LT_SOFT, 0, 1 << 19, 1800, 300)
    r.send(spd(X_SPDADD, SEL4, OUT, NONE, extra=[hard, soft]), "SPDADD with HARD and SOFT")
    r.send(spd(X_SPDADD, SEL4, IN, NONE, extra=[hard]), "SPDADD with HARD only (allowed)")
    r.send(spd(X_SPDUPDATE, SEL4, IN, NONE, extra=[soft]), "SPDUPDATE with SOFT only")
    r.send(m(X_SPDDUMP), "SPDDUMP")


@scenario("sadb_msg_reserved of policy messages: af_key's refcount while its 1 s timer holds "
          "a reference", intended=("policy_refcnt",))
def spd_refcnt(r):
    i = pol_id(r.send(spd(X_SPDADD, SEL4, OUT, NONE), "SPDADD"))
    r.send(m(X_SPDGET, [policy(OUT, policy_id=i)]), "SPDGET at once")
    r.send(m(X_SPDDUMP), "SPDDUMP at once")
    r.send(m(X_SPDDELETE2, [policy(OUT, policy_id=i)]), "SPDDELETE2")


@scenario("IPv6 policies: selectors with ports and protocol, prefixes, SPDDELETE by selector")
def spd_v6(r):
    esp_t = ipsecrequest(ESP, TRANSPORT, REQUIRE)
    r.send(spd(X_SPDADD, SEL6, OUT, reqs=[esp_t]), "SPDADD v6 /48")
    r.send(spd(X_SPDADD, sel("2001:db8::1", "2001:db8::2", proto=58), IN, NONE),
           "SPDADD v6 icmpv6 none")
    r.send(spd(X_SPDADD, sel("2001:db8::1", "2001:db8::2", proto=6, sport=22, dport=0), FWD,
               DISCARD, prio=0xffffffff), "SPDADD v6 tcp/22 discard, priority max")
    r.send(spd(X_SPDADD, sel("::", "::", 0, 0), OUT, NONE), "SPDADD v6 ::/0")
    r.send(spd(X_SPDDELETE, sel("2001:db8::1", "2001:db8::2", proto=58), IN, NONE),
           "SPDDELETE v6 by selector")
    r.send(spd(X_SPDDELETE, sel("2001:db8::1", "2001:db8::2", proto=6, sport=22), FWD, NONE),
           "SPDDELETE with another port -> ENOENT")
    r.send(m(X_SPDDUMP), "SPDDUMP")


# Intended differences, one scenario each where the state then differs.

@scenario("ADD of SPIs 0-255 (IANA reserved)", intended=("spi_reserved",), dumps=False)
def spi_reserved(r):
    r.send(add(0xff, enc=(12, 128), auth=(3, 160)), "ADD SPI 255", intended="spi_reserved")
    r.send(add(0, enc=(12, 128), auth=(3, 160), dst="10.0.0.3"), "ADD SPI 0",
           intended="spi_reserved")


@scenario("AEAD and ChaCha20-Poly1305 SAs", intended=("aead",), dumps=False)
def aead(r):
    for i, (enc, bits) in enumerate([(18, 160), (19, 224), (20, 288), (14, 152), (16, 280),
                                     (23, 160), (250, 288)]):
        r.send(add(0xc000 + i, enc=(enc, bits)), "ADD ESP cipher %d, %d bits" % (enc, bits),
               intended="aead")


@scenario("AH without authentication (digest_null), AH with a cipher",
          intended=("ah_null", "ah_cipher"), dumps=False)
def ah_odd(r):
    r.send(add(0xe000, satype=SATYPE_AH, auth=(251, 0)), "ADD AH digest_null", intended="ah_null")
    r.send(add(0xe001, satype=SATYPE_AH, auth=(3, 160), enc=(12, 128)), "ADD AH with AES-CBC",
           intended="ah_cipher")


@scenario("a tunnel SA over IPv6 whose PROXY is IPv4", intended=("proxy_family",), dumps=False)
def proxy_family(r):
    r.send(add(0x3004, enc=(12, 256), auth=(7, 512), src="2001:db8::1", dst="2001:db8::2",
               mode=TUNNEL, proxy=("10.2.0.0", 24)), "ADD ESP tunnel v6 with a v4 PROXY",
           intended="proxy_family")


@scenario("HMAC keys of a length the algorithm is not defined for", intended=("hmac_keylen",),
          dumps=False)
def hmac_keylen(r):
    r.send(add(0xd000, enc=(12, 128), auth=(5, 160)), "ADD HMAC-SHA-256 with 160 bits",
           intended="hmac_keylen")
    r.send(add(0xd001, satype=SATYPE_AH, auth=(3, 128)), "ADD AH HMAC-SHA1 with 128 bits",
           intended="hmac_keylen")


@scenario("a write whose length is not a multiple of 8", intended=("trailing_bytes",))
def trailing_bytes(r):
    r.send(msg(FLUSH, seq=1, pid=PID) + b"\0" * 4, "FLUSH header and 4 bytes",
           intended="trailing_bytes")


@scenario("the protocol's name in /proc/net/protocols", intended=("proc_name",), dumps=False,
          plain=True)
def proc_name(r):
    with open("/proc/net/protocols") as f:
        names = [line.split()[0] for line in f if line.split()[0] in ("KEY", "KAME_KEY")]
    r.note("/proc/net/protocols", names, intended="proc_name")


BIG_N = 3000


@scenario("DUMP of %d SAs and SPDDUMP of %d policies through SO_RCVBUF 4 KiB" % (BIG_N, BIG_N),
          plain=True, dumps=False)
def big_dump(r):
    s = r.socks["S"]
    for i in range(BIG_N):
        s.send(add(0x10000 + i, enc=(12, 128), auth=(3, 160),
                   dst="10.%d.%d.%d" % (1 + i // 62500, i // 250 % 250, i % 250 + 1)))
        s.send(spd(X_SPDADD, sel("10.%d.%d.%d" % (1 + i // 62500, i // 250 % 250, i % 250 + 1),
                                 "10.200.0.1"), 1 + i % 3, NONE))
        if i % 32 == 31:
            r.drain(s, False)
    r.drain(s, False)
    import socket
    for what, mtype, satype in (("DUMP", DUMP, SATYPE_ESP), ("SPDDUMP", X_SPDDUMP, 0)):
        from pfkey_probe import open_pfkey, read_reply
        from pfkey_msg import parse
        d = open_pfkey()
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        d.send(m(mtype, satype=satype))
        n, seqs_ok = 0, True
        while True:
            rep = read_reply(d, 5.0)
            if rep is None:
                break
            h = parse(rep)[0]
            n += 1
            if h["seq"] == 0:
                break
            seqs_ok = seqs_ok and h["seq"] == n
        d.close()
        r.note("%s: messages received, seq 1..N-1 then 0" % what, [n, seqs_ok],
               want=[BIG_N, True])


# ---- Intended differences (Documentation/pfkey.rst) -------------------------

AF_ENC = ((11, 0, 0, 0, 0), (2, 8, 64, 64, 0), (3, 8, 192, 192, 0), (12, 8, 128, 256, 0),
          (13, 8, 160, 288, 0))
OUR_ENC = AF_ENC + ((18, 8, 160, 288, 0), (19, 8, 160, 288, 0), (20, 8, 160, 288, 0),
                    (14, 8, 152, 280, 0), (15, 8, 152, 280, 0), (16, 8, 152, 280, 0),
                    (23, 8, 160, 288, 0), (250, 8, 288, 288, 0))
INTENDED.update({
    "register_enc": Rule(
        "field", "SUPPORTED_ENCRYPT of REGISTER replies", AF_ENC, OUR_ENC,
        "ids 11 2 3 12 13", "also AES-GCM-8/12/16 (18-20), AES-CCM-8/12/16 (14-16), "
        "AES-GMAC (23), ChaCha20-Poly1305 (250)",
        match=lambda t, p: t == REGISTER and p.startswith("SUPPORTED_ENCRYPT.algs")),
    "register_len": Rule(
        "field", "sadb_msg_len / SUPPORTED_ENCRYPT length of REGISTER replies", None, None,
        "16 / 6", "24 / 14", match=lambda t, p: t == REGISTER and p in ("hdr.len",
                                                                      "SUPPORTED_ENCRYPT.len"),
        pair=lambda t, va, vk: (va, vk) in ((16, 24), (6, 14))),
    "trailing_bytes": Rule(
        "step", "a write of 20 bytes whose sadb_msg_len is 2 (20 / 8 rounded down)",
        _error(FLUSH, EINVAL), ["EMSGSIZE", []],
        "takes the write; the 4 bytes fail the extension walk (EINVAL reply)",
        "fails the write with EMSGSIZE"),
    "getspi_leftover": Rule(
        "step", "GETSPI that fails (SPI taken, min > max, satype 0, IPComp without a range), "
        "then DUMP", ["ok", [[DUMP, 0]] * 5], ["ok", [[DUMP, 0]]],
        "also leaves each failure's larval SA, SPI 0, for 30 s (5 SAs)",
        "lists only the larval SA of the GETSPI that worked"),
    "ah_null": Rule("step", "ADD AH with digest_null", _accepted(ADD), _error(ADD, EINVAL),
                    "accepts it", "EINVAL (AH that authenticates nothing)"),
    "ah_cipher": Rule("step", "ADD AH with a cipher and KEY_ENCRYPT", _accepted(ADD),
                      _error(ADD, EINVAL), "accepts it, keeps the cipher", "EINVAL"),
    "proxy_family": Rule(
        "step", "ADD of an IPv6 tunnel SA with an IPv4 PROXY: the PROXY sent back",
        [[10, "a02::"]], [[2, "10.2.0.0"]], "as IPv6 (the SA's family): a02::",
        "as IPv4: 10.2.0.0",
        summarize=lambda st: [[f.get("ADDRESS_PROXY.family"), f.get("ADDRESS_PROXY.addr")]
                              for f in (dict(fields(bytes.fromhex(x)))
                                        for x in st["msgs"][st["sock"]])]),
    "proc_name": Rule("step", "the name in /proc/net/protocols", ["KEY"], ["KAME_KEY"]),
    "spi_reserved": Rule(
        "step", "ADD with SPI 0 or 255", _accepted(ADD), _error(ADD, EINVAL),
        "accepts it", "EINVAL"),
    "aead": Rule(
        "step", "ADD of AES-GCM-8/12/16, AES-CCM-8/16, AES-GMAC, ChaCha20-Poly1305 (250)",
        _error(ADD, ENOSYS), _accepted(ADD), "ENOSYS", "accepts it"),
    "hmac_keylen": Rule(
        "step", "ADD of HMAC-SHA-256 with a 160-bit key, HMAC-SHA1 with 128 bits",
        _accepted(ADD), _error(ADD, EINVAL), "accepts it", "EINVAL"),
    "use_tunnel_out": Rule(
        "step", "SPDADD outbound with a use-level tunnel request", _error(X_SPDADD, EINVAL),
        _accepted(X_SPDADD), "EINVAL", "accepts it"),
    "sa2_sequence": Rule(
        "field", "SA2 sequence of an SA added with 0xfffffffd (FreeBSD's outbound counter)",
        0, 0xfffffffd, match=lambda t, p: p == "X_SA2.sequence"),
    "replay_cap": Rule(
        "field", "SA replay window of 64", 32, 64,
        match=lambda t, p: p == "SA.replay"),
    "default_level": Rule(
        "field", "request level default (0) read back", 2, 0,
        match=lambda t, p: t in (13, 14, 15, 16, 18, 20, 22) and p.endswith(".level")),
    "policy_refcnt": Rule(
        "field", "sadb_msg_reserved of SPDGET at once / SPDDUMP at once (refcount held by the "
        "1 s timer)", (3, 2), (2, 1), "3 / 2", "2 / 1",
        match=lambda t, p: t in (16, 18) and p == "hdr.reserved",
        pair=lambda t, va, vk: (va, vk) == ((3, 2) if t == 16 else (2, 1))),
})


def scenarios(diffdir):
    """All scenarios: the functions above, then one per diffdir/*.conf (a
    setkey -f script whose first line is a comment saying what it covers)."""
    out = list(_LIST)
    for path in sorted(glob.glob(os.path.join(diffdir, "*.conf"))):
        name = "setkey_" + os.path.basename(path)[:-5]
        with open(path) as f:
            doc = f.readline().lstrip("#").strip()
        if name not in _BY_NAME:
            s = Scenario(name, "setkey -f diff/%s: %s" % (os.path.basename(path), doc),
                         lambda r, p=path: r.setkey(["-f", p], "setkey -f"))
            _BY_NAME[name] = s
        out.append(_BY_NAME[name])
    return out
