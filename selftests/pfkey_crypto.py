#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Crypto transforms set up at ADD/UPDATE time (KTAP): every algorithm of
kame_ipsec's table that the running kernel has is accepted with its
smallest and largest key; one it lacks fails the message with af_key's
errno (ENOSYS: af_key's table lookup asks the crypto API) and leaves the
SAD as it was; and the same messages get the same
errnos from Linux's own af_key.

Topology: no links; one network namespace of its own (unshare -n), first
with kame_ipsec loaded, then with af_key instead.

	Name		Description
	register	REGISTER lists exactly the algorithms ADD accepts
	esp-enc		ESP ADD with every cipher, smallest and largest key:
			accepted if the kernel has it, else ENOSYS and no SA
	esp-auth	ESP ADD with AES-CBC and every authenticator, likewise
	ah		AH ADD with every authenticator, likewise
	order		crypto is set up before the SAD is looked at: ADD of an
			existing SA and UPDATE of a larval or mature one with a
			missing algorithm fail with ENOSYS and change nothing
	sad		the SAD holds exactly the SAs whose ADD succeeded
	af_key		the same cases against af_key: the same errnos, except the
			intended differences of Documentation/pfkey.rst

Which algorithms the kernel has comes from its build configuration
(CONFIG_CRYPTO_*), not from the module.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pfkey_msg import *  # noqa: E402,F403
from pfkey_probe import open_pfkey, read_reply  # noqa: E402
from ktap import KO, TOP, Ktap, module_loaded  # noqa: E402

FLAVOUR = os.environ.get("KERNEL", "normal")
ESRCH, ENOENT, EINVAL, ENOSYS = 3, 2, 22, 38
SRC, DST = "10.0.0.1", "10.0.0.2"
AALG_NULL, EALG_NULL, EALG_CHACHA = 251, 11, 250

# The algorithm table (rust/core/algs.rs, from XFRM's net/xfrm/xfrm_algo.c):
# id, setkey name, key bits min, max, step, AEAD, and the CONFIG_CRYPTO_*
# prefixes the kernel needs for it.
ENC = [
    (EALG_NULL, "null", 0, 0, 8, False, ["NULL"]),
    (2, "des-cbc", 64, 64, 8, False, ["DES"]),
    (3, "3des-cbc", 192, 192, 8, False, ["DES"]),
    (6, "cast128-cbc", 40, 128, 8, False, ["CAST5"]),
    (7, "blowfish-cbc", 40, 448, 8, False, ["BLOWFISH"]),
    (12, "aes-cbc", 128, 256, 64, False, ["AES"]),
    (252, "serpent-cbc", 128, 256, 64, False, ["SERPENT"]),
    (22, "camellia-cbc", 128, 256, 64, False, ["CAMELLIA"]),
    (253, "twofish-cbc", 128, 256, 64, False, ["TWOFISH"]),
    (13, "aes-ctr", 160, 288, 64, False, ["AES", "CTR"]),
    (24, "sm4-cbc", 128, 256, 128, False, ["SM4"]),
    (18, "aes-gcm-8", 160, 288, 64, True, ["AES", "GCM"]),
    (19, "aes-gcm-12", 160, 288, 64, True, ["AES", "GCM"]),
    (20, "aes-gcm-16", 160, 288, 64, True, ["AES", "GCM"]),
    (14, "aes-ccm-8", 152, 280, 64, True, ["AES", "CCM"]),
    (15, "aes-ccm-12", 152, 280, 64, True, ["AES", "CCM"]),
    (16, "aes-ccm-16", 152, 280, 64, True, ["AES", "CCM"]),
    (23, "null-aes-gmac", 160, 288, 64, True, ["AES", "GCM"]),
    (EALG_CHACHA, "chacha20-poly1305", 288, 288, 8, True, ["CHACHA20POLY1305"]),
]
AUTH = [
    (2, "hmac-md5", 128, ["MD5"]),
    (3, "hmac-sha1", 160, ["SHA1"]),
    (5, "hmac-sha256", 256, ["SHA256"]),
    (6, "hmac-sha384", 384, ["SHA512"]),
    (7, "hmac-sha512", 512, ["SHA512"]),
    (9, "aes-xcbc-mac", 128, ["AES", "XCBC"]),
    (10, "hmac-sm3", 256, ["SM3"]),
]

KTAP = None


def test(ok, desc, diag=None):
    KTAP.test(ok, desc, diag)


def skip(desc, why):
    KTAP.skip(desc, why)


def kernel_config():
    kdir = subprocess.run([os.path.join(TOP, "scripts", "kernel-dir"), FLAVOUR],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(kdir, ".config")) as f:
        return {m.group(1) for m in re.finditer(r"^CONFIG_(CRYPTO_\w+)=[ym]$", f.read(), re.M)}


CONFIG = kernel_config()


def have(prefixes):
    return all(any(c.startswith("CRYPTO_" + p) for c in CONFIG) for p in prefixes)


def keybytes(bits, seed):
    # Distinct bytes, so no 3DES key has two equal thirds.
    return bytes((seed + 37 * i) & 0xff for i in range(bits // 8))


def esp(spi, auth=0, abits=0, enc=12, ebits=128, mtype=ADD, seq=0):
    exts = [sa(spi, auth=auth, enc=enc, replay=32), address(EXT_SRC, SRC), address(EXT_DST, DST)]
    if auth and auth != AALG_NULL:
        exts.append(key(EXT_KEY_AUTH, keybytes(abits, 1)))
    if enc:
        # NULL too: af_key wants the extension, with 0 bits.
        exts.append(key(EXT_KEY_ENC, keybytes(ebits, 101)))
    return msg(mtype, exts, satype=SATYPE_ESP, seq=seq, pid=os.getpid())


def ah(spi, auth, abits, mtype=ADD, seq=0):
    exts = [sa(spi, auth=auth, replay=32), address(EXT_SRC, SRC), address(EXT_DST, DST),
            key(EXT_KEY_AUTH, keybytes(abits, 1))]
    return msg(mtype, exts, satype=SATYPE_AH, seq=seq, pid=os.getpid())


def ref(m, spi, satype=SATYPE_ESP):
    return msg(m, [sa(spi), address(EXT_SRC, SRC), address(EXT_DST, DST)], satype=satype,
               seq=7, pid=os.getpid())


def ask(s, m, timeout=5.0):
    """Sends m; the parsed reply to it, skipping other sockets' broadcasts."""
    s.send(m)
    while True:
        rep = read_reply(s, timeout)
        if rep is None:
            return None
        r = parse(rep)
        if r[0]["pid"] == os.getpid():
            return r


def errno_of(r):
    return None if r is None else r[0]["errno"]


def get_sa(s, spi, satype=SATYPE_ESP):
    r = ask(s, ref(GET, spi, satype))
    return errno_of(r), (sa_fields(r[1][EXT_SA]) if r and EXT_SA in r[1] else None)


class Spis:
    n = 0x1000

    @classmethod
    def next(cls):
        cls.n += 1
        return cls.n


def table_cases():
    """(description, satype, message, errno wanted) for every algorithm."""
    cases = []
    for eid, name, lo, hi, _, aead, cfg in ENC:
        # Both key sizes where the kernel has the cipher; one will do where
        # it has not.
        for bits in sorted({lo, hi}) if have(cfg) else [lo]:
            auth, abits = (0, 0) if aead else (5, 256)
            want = 0 if have(cfg) else ENOSYS
            what = "ESP %s, %d-bit key%s" % (name, bits, "" if aead else ", HMAC-SHA-256")
            cases.append((what, SATYPE_ESP, esp(Spis.next(), auth, abits, eid, bits), want))
    for aid, name, bits, cfg in AUTH:
        want = 0 if have(cfg) else ENOSYS
        cases.append(("ESP AES-CBC-128, %s" % name, SATYPE_ESP,
                      esp(Spis.next(), aid, bits, 12, 128), want))
    for aid, name in [(0, "no authenticator"), (AALG_NULL, "SADB_X_AALG_NULL")]:
        cases.append(("ESP AES-CBC-256, %s" % name, SATYPE_ESP, esp(Spis.next(), aid, 0, 12, 256),
                      0))
    for aid, name, bits, cfg in AUTH:
        want = 0 if have(cfg) else ENOSYS
        cases.append(("AH %s" % name, SATYPE_AH, ah(Spis.next(), aid, bits), want))
    return cases


MISSING_ENC = next((e for e in ENC if not have(e[6])), None)
MISSING_AUTH = next((a for a in AUTH if not have(a[3])), None)


def bad(spi, mtype=ADD, seq=0):
    """An ESP message naming a cipher the kernel lacks."""
    eid, _, lo, _, _, _, _ = MISSING_ENC
    return esp(spi, 5, 256, eid, lo, mtype=mtype, seq=seq)


def sad_count(s):
    s.send(msg(DUMP, satype=0, seq=99, pid=os.getpid()))
    n = 0
    while True:
        rep = read_reply(s, 5.0)
        if rep is None:
            return None
        h = parse(rep)[0]
        if h["type"] != DUMP:
            continue
        if h["errno"] == ENOENT:
            return 0
        n += 1
        if h["seq"] == 0:
            return n


def ours_tests(cases):
    s = open_pfkey()
    r = ask(s, msg(REGISTER, satype=SATYPE_ESP, seq=1, pid=os.getpid()))
    listed = (set(supported_ids(r[1][EXT_SUPP_AUTH])) if r and EXT_SUPP_AUTH in r[1] else set(),
              set(supported_ids(r[1][EXT_SUPP_ENC])) if r and EXT_SUPP_ENC in r[1] else set())
    want = ({a[0] for a in AUTH if have(a[3])} | {AALG_NULL},
            {e[0] for e in ENC if have(e[6])})
    test(listed == want, "REGISTER lists exactly the algorithms this kernel has",
         "listed %r\nwant %r" % (listed, want))

    added = 0
    for what, satype, m, want in cases:
        spi = sa_fields(parse(m)[1][EXT_SA])["spi"]
        got = errno_of(ask(s, m))
        if want == 0:
            added += got == 0
            test(got == 0, "%s: added" % what, "errno %r" % got)
        else:
            after, _ = get_sa(s, spi, satype)
            test(got == want and after == ESRCH,
                 "%s: errno %d, no SA left (GET -> ESRCH)" % (what, want),
                 "errno %r, GET errno %r" % (got, after))

    if MISSING_ENC is None:
        for d in ["ADD of an existing SA", "UPDATE of a larval SA", "UPDATE of a mature SA"]:
            skip("%s with a missing cipher" % d, "the kernel has every cipher of the table")
    else:
        spi = Spis.next()
        ask(s, esp(spi, 5, 256, 12, 128))
        got = errno_of(ask(s, bad(spi)))
        after, f = get_sa(s, spi)
        test(got == ENOSYS and after == 0 and f and f["enc"] == 12,
             "ADD of an existing SA with a missing cipher: ENOSYS before EEXIST, SA unchanged",
             (got, after, f))
        added += 1
        r = ask(s, msg(GETSPI, [address(EXT_SRC, SRC), address(EXT_DST, DST),
                                spirange(0x7000, 0x7fff)], satype=SATYPE_ESP, seq=41,
                       pid=os.getpid()))
        f = r and sa_fields(r[1][EXT_SA])
        if f:
            got = errno_of(ask(s, bad(f["spi"], mtype=UPDATE, seq=41)))
            after, g = get_sa(s, f["spi"])
            test(got == ENOSYS and after == 0 and g and g["state"] == 0,
                 "UPDATE of a larval SA with a missing cipher: ENOSYS, still larval",
                 (got, after, g))
            added += 1
        else:
            test(False, "UPDATE of a larval SA with a missing cipher", r)
        spi = Spis.next()
        ask(s, esp(spi, 5, 256, 12, 128))
        got = errno_of(ask(s, bad(spi, mtype=UPDATE)))
        after, f = get_sa(s, spi)
        test(got == ENOSYS and after == 0 and f and f["enc"] == 12 and f["state"] == 1,
             "UPDATE of a mature SA with a missing cipher: ENOSYS, SA unchanged", (got, after, f))
        added += 1

    n = sad_count(s)
    test(n == added, "the SAD holds the %d SAs whose ADD succeeded, nothing else" % added, n)
    s.send(msg(FLUSH, satype=0, seq=100, pid=os.getpid()))
    s.close()


# Messages whose replies af_key and we must agree on (description, message
# builder, errno from both), plus the intended differences (description,
# builder, ours, af_key's) of Documentation/pfkey.rst.
def differential_cases():
    same = [("ESP AES-CBC-128/HMAC-SHA-256", lambda spi: esp(spi, 5, 256, 12, 128), 0),
            ("ESP 3DES-CBC/HMAC-MD5", lambda spi: esp(spi, 2, 128, 3, 192), 0),
            ("ESP AES-CTR-256/AES-XCBC", lambda spi: esp(spi, 9, 128, 13, 288), 0),
            ("ESP NULL/HMAC-SHA-512", lambda spi: esp(spi, 7, 512, EALG_NULL, 0), 0),
            ("AH HMAC-SHA-1", lambda spi: ah(spi, 3, 160), 0),
            ("ESP AES-CBC with a 160-bit key (the crypto layer's EINVAL in af_key)",
             lambda spi: esp(spi, 5, 256, 12, 160), EINVAL)]
    diff = [("AH HMAC-SHA-256 with a 160-bit key (af_key's HMAC takes any length)",
             lambda spi: ah(spi, 5, 160), EINVAL, 0),
            ("ESP AES-GCM-16 (af_key has no AEAD ids)",
             lambda spi: esp(spi, 0, 0, 20, 160), 0, ENOSYS)]
    if MISSING_ENC is not None:
        same.append(("ESP %s/HMAC-SHA-256 (cipher missing)" % MISSING_ENC[1],
                     lambda spi: bad(spi), ENOSYS))
    if MISSING_AUTH is not None:
        aid, name, bits, _ = MISSING_AUTH
        same.append(("ESP AES-CBC/%s (authenticator missing)" % name,
                     lambda spi: esp(spi, aid, bits, 12, 128), ENOSYS))
        same.append(("AH %s (authenticator missing)" % name,
                     lambda spi: ah(spi, aid, bits), ENOSYS))
    return same, diff


def run_cases(s, same, diff, ours):
    """Sends each case once; returns [(description, wanted, got)]."""
    out = []
    for what, build, want in same:
        out.append((what, want, errno_of(ask(s, build(Spis.next())))))
    for what, build, mine, theirs in diff:
        out.append((what, mine if ours else theirs, errno_of(ask(s, build(Spis.next())))))
    if MISSING_ENC is not None:
        spi = Spis.next()
        ask(s, esp(spi, 5, 256, 12, 128))
        out.append(("ADD of an existing SA with a missing cipher", ENOSYS,
                    errno_of(ask(s, bad(spi)))))
        r = ask(s, msg(GETSPI, [address(EXT_SRC, SRC), address(EXT_DST, DST),
                                spirange(0x8000, 0x8fff)], satype=SATYPE_ESP, seq=51,
                       pid=os.getpid()))
        f = r and EXT_SA in r[1] and sa_fields(r[1][EXT_SA])
        got = errno_of(ask(s, bad(f["spi"], mtype=UPDATE, seq=51))) if f else ("GETSPI", r)
        out.append(("UPDATE of a larval SA with a missing cipher", ENOSYS, got))
    s.send(msg(FLUSH, satype=0, seq=101, pid=os.getpid()))
    return out


def main():
    if "--in-netns" not in sys.argv:
        return subprocess.run(["unshare", "-n", sys.executable, __file__, "--in-netns"]).returncode
    global KTAP
    was_loaded = module_loaded()
    if not was_loaded:
        subprocess.run(["insmod", KO], check=True)
    cases = table_cases()
    same, diff = differential_cases()
    n_diff = len(same) + len(diff) + (2 if MISSING_ENC is not None else 0)
    plan = 1 + len(cases) + 3 + 1 + n_diff
    KTAP = Ktap(plan)
    print("# kernel lacks: %s" % ", ".join(
        [e[1] for e in ENC if not have(e[6])] + [a[1] for a in AUTH if not have(a[3])]))
    t0 = time.monotonic()
    ours_tests(cases)
    print("# kame_ipsec cases took %.1f s" % (time.monotonic() - t0))

    s = open_pfkey()
    mine = run_cases(s, same, diff, ours=True)
    s.close()
    subprocess.run(["rmmod", "kame_ipsec"], check=True)
    if subprocess.run(["modprobe", "af_key"]).returncode != 0:
        for what, want_mine, got_mine in mine:
            test(got_mine == want_mine, "%s: errno %s here (af_key would not load: not compared)"
                 % (what, want_mine), "got %r" % got_mine)
    else:
        s = open_pfkey()
        t0 = time.monotonic()
        theirs = run_cases(s, same, diff, ours=False)
        print("# af_key cases took %.1f s" % (time.monotonic() - t0))
        s.close()
        subprocess.run(["rmmod", "af_key"], check=True)
        for (what, want_mine, got_mine), (_, want_theirs, got_theirs) in zip(mine, theirs):
            test(got_mine == want_mine and got_theirs == want_theirs,
                 "%s: errno %s here, %s from af_key" % (what, want_mine, want_theirs),
                 "got %r here, %r from af_key" % (got_mine, got_theirs))
    if was_loaded:
        subprocess.run(["insmod", KO], check=True)
    return KTAP.finish()


if __name__ == "__main__":
    sys.exit(main())
