# SPDX-License-Identifier: GPL-2.0
"""The kernel crypto API's user configuration interface (NETLINK_CRYPTO,
include/uapi/linux/cryptouser.h) from Python, and /proc/crypto.

An asynchronous wrapper is put in front of an algorithm by asking for the
template instance by driver name (CRYPTO_MSG_NEWALG with `cryptd(DRIVER)`
or `pcrypt(DRIVER)`, DRIVER being what NAME resolves to now: the request
waits for an algorithm of exactly that name, and the instance's driver
name is the template's around its inner driver's, while its name is
NAME): the crypto manager builds it, and it registers under NAME with a
higher priority (cryptd: +50, pcrypt: +100), so every later allocation
of NAME (esp4's, ah4's, ours) gets it.
CRYPTO_MSG_DELALG removes it again once nothing uses it (EBUSY before).

/proc/crypto shows each algorithm's name, driver, priority and refcnt:
one for the registration plus one per transform allocated from it, so a
transform that really uses an instance shows in its refcnt.

Run as a script: `new TEMPLATE NAME aead|hash`, `del DRIVER`, `show NAME`.
"""
import errno
import os
import socket
import struct
import sys
import time

NETLINK_CRYPTO = 21
CRYPTO_MSG_NEWALG, CRYPTO_MSG_DELALG = 0x10, 0x11
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
CRYPTO_MAX_NAME = 64
# struct crypto_user_alg: three names, then type, mask, refcnt, flags.
USER_ALG = struct.Struct("=%ds%ds%dsIIII" % ((CRYPTO_MAX_NAME,) * 3))
NLMSG_HDR = struct.Struct("=IHHII")
# (type, mask) that make the template build an AEAD or a hash instance
# (CRYPTO_ALG_TYPE_AEAD with CRYPTO_ALG_TYPE_MASK; CRYPTO_ALG_TYPE_HASH
# with CRYPTO_ALG_TYPE_AHASH_MASK, which shash and ahash both meet).
KINDS = {"aead": (0x3, 0xf), "hash": (0xe, 0xe)}


def _request(msg_type, driver, name="", ty=0, mask=0):
    """Sends one request and reads its acknowledgement; OSError with the
    kernel's errno if it refused."""
    body = USER_ALG.pack(name.encode(), driver.encode(), b"", ty, mask, 0, 0)
    hdr = NLMSG_HDR.pack(NLMSG_HDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK,
                         1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_CRYPTO) as s:
        s.bind((0, 0))
        s.sendto(hdr + body, (0, 0))
        reply = s.recv(65536)
    length, rtype, _, _, _ = NLMSG_HDR.unpack_from(reply)
    if rtype != NLMSG_ERROR or length < NLMSG_HDR.size + 4:
        raise RuntimeError("NETLINK_CRYPTO: unexpected reply type %d" % rtype)
    err = -struct.unpack_from("=i", reply, NLMSG_HDR.size)[0]
    if err:
        raise OSError(err, "%s %s: %s" % ("NEWALG" if msg_type == CRYPTO_MSG_NEWALG else
                                           "DELALG", driver, os.strerror(err)))


def proc_crypto():
    """Every entry of /proc/crypto, in its order (newest first), as dicts of
    its fields (strings)."""
    entries, cur = [], {}
    with open("/proc/crypto") as f:
        for line in f:
            if not line.strip():
                if cur:
                    entries.append(cur)
                cur = {}
                continue
            k, _, v = line.partition(":")
            cur[k.strip()] = v.strip()
    if cur:
        entries.append(cur)
    return entries


def resolve(name):
    """The entry an allocation of `name` gets: the highest priority among
    the usable (not larval, not internal, tested) entries called so, the
    newest of equals, as crypto_alg_lookup() picks; None if there is none."""
    best = None
    for e in proc_crypto():
        if (e.get("name") != name or e.get("type") == "larval" or
                e.get("internal") == "yes" or e.get("selftest") != "passed"):
            continue
        if best is None or int(e["priority"]) > int(best["priority"]):
            best = e
    return best


def entry(driver):
    """The /proc/crypto entry of `driver`, or None."""
    return next((e for e in proc_crypto() if e.get("driver") == driver), None)


def refcnt(driver):
    """The refcnt of `driver`; None if it is not registered."""
    e = entry(driver)
    return int(e["refcnt"]) if e else None


def wait_refcnt(driver, want, secs=20):
    """Polls the driver's refcnt until it is `want` (transforms are freed
    after a grace period, or after the last packet in crypto); the last
    value read (after `secs` at the most)."""
    end = time.monotonic() + secs
    while True:
        got = refcnt(driver)
        if got == want or time.monotonic() > end:
            return got
        time.sleep(0.2)


def instances(template, name):
    """Drivers of `template` instances registered under `name`."""
    return [e["driver"] for e in proc_crypto()
            if e.get("name") == name and e.get("driver", "").startswith(template + "(")]


def new_instance(template, name, kind):
    """Instantiates `template` around what `name` resolves to (kind "aead"
    or "hash"); its driver name. An instance already there is returned."""
    have = instances(template, name)
    if have:
        return have[0]
    ty, mask = KINDS[kind]
    inner = resolve(name)
    if inner is None:
        # Not built yet (a template such as seqiv(...) is instantiated by
        # its first user): have the crypto manager build it.
        _request(CRYPTO_MSG_NEWALG, name, ty=ty, mask=mask)
        inner = resolve(name)
    if inner is None:
        raise RuntimeError("%s: no such algorithm after NEWALG" % name)
    _request(CRYPTO_MSG_NEWALG, "%s(%s)" % (template, inner["driver"]), ty=ty, mask=mask)
    have = instances(template, name)
    if not have:
        raise RuntimeError("%s(%s) created, but not listed in /proc/crypto" % (template, name))
    return have[0]


def del_instance(driver):
    """Unregisters a template instance (EBUSY while transforms use it)."""
    _request(CRYPTO_MSG_DELALG, driver)


def main(argv):
    cmd, *args = argv
    if cmd == "new":
        print(new_instance(*args))
    elif cmd == "del":
        del_instance(*args)
    elif cmd == "show":
        e = resolve(args[0])
        print("%s -> %s" % (args[0], "%s (priority %s, refcnt %s)" % (
            e["driver"], e["priority"], e["refcnt"]) if e else "nothing"))
    else:
        return errno.EINVAL
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
