# SPDX-License-Identifier: GPL-2.0
"""Algorithms by setkey's name (rust/tools/src/algs.rs), with what `ip xfrm`
needs for the same SA: the crypto API name, key length and ICV length the
module uses (rust/core/algs.rs: RFC 4868's 128/192/256 bits for HMAC-SHA-2,
96 for HMAC-MD5, HMAC-SHA-1 and AES-XCBC, the AEAD's own for AEADs), so that
the XFRM side is given `auth-trunc ... 128` where af_key would have said 96.

Left out: blowfish-cbc, cast128-cbc, camellia-cbc, twofish-cbc (not in
selftests/vm/kernel.config), hmac-ripemd160 and keyed-md5/keyed-sha1 (the
module has no such algorithm), aes-ccm-* and chacha20-poly1305 (the module
has them, our setkey has no name for them yet).
"""
from collections import namedtuple

# kind: "aead", "cipher" or "auth"; key: bytes (AEAD and aes-ctr keys
# include the 4-byte salt or nonce); icv: bits; tcpdump: the cipher name
# tcpdump -E takes (OpenSSL's, "-cbc" added by tcpdump), or None.
Alg = namedtuple("Alg", "name kind xfrm key icv tcpdump")

TABLE = [
    Alg("aes-gcm-16", "aead", "rfc4106(gcm(aes))", 20, 128, None),
    Alg("aes-gcm-12", "aead", "rfc4106(gcm(aes))", 20, 96, None),
    Alg("aes-gcm-8", "aead", "rfc4106(gcm(aes))", 20, 64, None),
    Alg("null_aes_gmac", "aead", "rfc4543(gcm(aes))", 20, 128, None),
    Alg("aes-cbc", "cipher", "cbc(aes)", 16, 0, "aes128"),
    Alg("aes-ctr", "cipher", "rfc3686(ctr(aes))", 20, 0, None),
    Alg("3des-cbc", "cipher", "cbc(des3_ede)", 24, 0, "3des"),
    Alg("des-cbc", "cipher", "cbc(des)", 8, 0, None),
    Alg("null", "cipher", "ecb(cipher_null)", 0, 0, None),
    Alg("hmac-md5", "auth", "hmac(md5)", 16, 96, None),
    Alg("hmac-sha1", "auth", "hmac(sha1)", 20, 96, None),
    Alg("hmac-sha256", "auth", "hmac(sha256)", 32, 128, None),
    Alg("hmac-sha384", "auth", "hmac(sha384)", 48, 192, None),
    Alg("hmac-sha512", "auth", "hmac(sha512)", 64, 256, None),
    Alg("aes-xcbc-mac", "auth", "xcbc(aes)", 16, 96, None),
]
BY_NAME = {a.name: a for a in TABLE}


def get(name):
    return BY_NAME[name]


def tcpdump_name(enc, auth):
    """tcpdump -E's algorithm for ESP with `enc` and `auth` (Alg or None),
    or None if tcpdump cannot decode it: it knows CBC ciphers only and
    strips a 12-byte ICV ("-hmac96") or none."""
    if enc is None or enc.tcpdump is None:
        return None
    if auth is None:
        return enc.tcpdump + "-cbc"
    return enc.tcpdump + "-cbc-hmac96" if auth.icv == 96 else None
