#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Statistics (KTAP): each counter of /proc/net/kame_ipsec/ moves when its
event happens, by what it should, and no other counter moves, in either
namespace or in a third one; so does each row of the per-algorithm
histograms (`in_esphist aes-gcm-16 N`); writing 0 resets a file; `ipsecstat`
prints the same values.

    ns A                                       ns B
    192.0.2.1  (SAs 0x1001/0x1002) ---------- 192.0.2.2
    192.0.2.11 (SA 0x2001, keys differ) ----- 192.0.2.12
    192.0.2.21 (AH SAs 0x3001/0x3002) ------- 192.0.2.22
    192.0.2.31 (AH SA 0x3101, keys differ) -- 192.0.2.32
    192.0.2.41 (aes-cbc + hmac-sha256) ------- 192.0.2.42
    192.0.2.51 (aes-cbc, no authenticator) --- 192.0.2.52
    2001:db8::1 (SAs 0x6001/0x6002) --------- 2001:db8::2
    192.0.2.61 (XFRM's SAs 0x7001/0x7002) --- 192.0.2.62
    192.0.2.71 (ESP 0x8001/0x8002) ----------- 192.0.2.72  B's 0x8001: hard 1 byte
    192.0.2.81 (AH 0x8101/0x8102) ------------ 192.0.2.82  B's 0x8101: hard 1 byte
    192.0.2.91 (AH tunnel 0x8201/0x8202) ----- 192.0.2.92
          veth A ========================= veth B

    the test's own namespace: no traffic, its counters never move.

| step          | what happens                                | counters  |
|---------------|---------------------------------------------|-----------|
| ping v4 / v6  | ESP transport both ways                     | esps_input/output, bytes, in/out_success, in_espauthsucc, aes-gcm-16 rows |
| cbc           | ping over aes-cbc + hmac-sha256, aes-cbc    | aes-cbc rows; in_espauthsucc with the ICV only |
| discard       | A pings .3, out policy `discard`            | out_polvio (A) |
| no SA         | A pings .4, `require` with no SA            | out_nosa (A) |
| no route      | A pings through a tunnel to an unrouted end | out_inval (A) |
| bad keys      | .11 -> .12, B holds another key             | esps_badauth (B) |
| esp off (in)  | B has net.inet.esp.enable=0                 | esps_pdrops (B) |
| esp off (out) | A has net.inet.esp.enable=0                 | esps_pdrops (A) |
| clear in      | B pings A from .12, A `require`s ESP        | in_polvio (A) |
| replay        | an ESP frame A sent, sent again             | esps_replay (B) |
| truncated     | the same frame cut short                    | esps_hdrops (B) |
| bad trailer   | ESP under 0x4001's keys, ICV right, padding | esps_badenc (B), no badauth; |
|               | wrong; a control with the right trailer     | the control is answered |
| inner csum    | echo requests with a wrong ICMP checksum    | under 0x4001: answered, no |
|               | under 0x4001's keys and 0x5001's (no ICV);  | IcmpInCsumErrors; under    |
|               | a control with it right under 0x5001        | 0x5001: IcmpInCsumErrors   |
| hard lifetime | ping .71 -> .72 (ESP) and .81 -> .82 (AH)   | esps_invalid/ahs_invalid (B) |
|               | 3 times, B's SA with a hard limit of 1 byte | on the second; the SA goes; |
|               |                                             | the third: esps_notdb/ahs_notdb |
| AH badenc     | AH tunnel under 0x8201's key, ICV right,    | ahs_badenc (B), in_ahauthsucc, |
|               | inner header cut short or not IP; control   | no badauth; the control is answered |
| XFRM's SPI    | ping through XFRM SAs (ip xfrm)             | none; XfrmInNoStates +0 |
| unknown SPI   | ESP (v4, v6) and AH to SPIs nobody has      | esps_notdb/ahs_notdb (B), XfrmInNoStates +1 each |
| reset         | `echo 0 >`, `ipsecstat -z`, no CAP_NET_ADMIN | all 0; EPERM |
| AH            | ping through AH; keys differ; ah.enable=0   | ahs_input/output, bytes, badauth, pdrops, in_ahauthsucc, hmac-sha256 rows |
| flood         | ping -f -c 1000                             | each end's counts agree, rows too |
| rmmod         | a file held open across rmmod               | read fails, EIO |

Runs as root in the test VM.
"""
import errno
import os
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import KO, TOP, Ktap, run_in_netns  # noqa: E402

TOOLS = os.path.join(TOP, "rust", "tools", "target", "release")
SETKEY = os.path.join(TOOLS, "setkey")
IPSECSTAT = os.path.join(TOOLS, "ipsecstat")
PROC = "/proc/net/kame_ipsec"
FILES = ("ipsecstat", "espstat", "ahstat")
NS = {"A": "kame-stats-%d-a" % os.getpid(), "B": "kame-stats-%d-b" % os.getpid()}
KEY1 = "0x0102030405060708090a0b0c0d0e0f1011121314"
KEY2 = "0x1112131415161718191a1b1c1d1e1f2021222324"
KEY3 = "0x2122232425262728292a2b2c2d2e2f3031323334"
KEY4 = "0x3132333435363738393a3b3c3d3e3f4041424344"
AKEY1 = "0x" + "41" * 32
AKEY2 = "0x" + "42" * 32
CKEY1 = "0x" + "51" * 16
CKEY2 = "0x" + "52" * 16
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
# How long a frame put on A's veth may take to be counted at B (and an
# answer at A).
SETTLE = 1.0 if os.environ.get("KERNEL") == "debug" else 0.3
# Native XFRM's SAs (ip xfrm) between .61 and .62: rfc4106(gcm(aes)),
# 16-byte key and 4-byte salt.
XKEY = "0x" + "61" * 20
XFRM = """
xfrm state add src 192.0.2.61 dst 192.0.2.62 proto esp spi 0x7001 mode transport \
    aead 'rfc4106(gcm(aes))' {k} 128
xfrm state add src 192.0.2.62 dst 192.0.2.61 proto esp spi 0x7002 mode transport \
    aead 'rfc4106(gcm(aes))' {k} 128
xfrm policy add src {me} dst {peer} dir out tmpl proto esp mode transport
"""

# The SAs both ends hold: the main pairs for v4 and v6 (the v4 one with a
# replay window: manual SAs have none unless asked) and the AH pair.
SAS = f"""
add 192.0.2.1 192.0.2.2 esp 0x1001 -m transport -r 32 -E aes-gcm-16 {KEY1} ;
add 192.0.2.2 192.0.2.1 esp 0x1002 -m transport -r 32 -E aes-gcm-16 {KEY2} ;
add 2001:db8::1 2001:db8::2 esp 0x6001 -m transport -E aes-gcm-16 {KEY1} ;
add 2001:db8::2 2001:db8::1 esp 0x6002 -m transport -E aes-gcm-16 {KEY2} ;
add 192.0.2.21 192.0.2.22 ah 0x3001 -m transport -A hmac-sha256 {AKEY1} ;
add 192.0.2.22 192.0.2.21 ah 0x3002 -m transport -A hmac-sha256 {AKEY2} ;
add 192.0.2.41 192.0.2.42 esp 0x4001 -m transport -E aes-cbc {CKEY1} -A hmac-sha256 {AKEY1} ;
add 192.0.2.42 192.0.2.41 esp 0x4002 -m transport -E aes-cbc {CKEY2} -A hmac-sha256 {AKEY2} ;
add 192.0.2.51 192.0.2.52 esp 0x5001 -m transport -E aes-cbc {CKEY1} ;
add 192.0.2.52 192.0.2.51 esp 0x5002 -m transport -E aes-cbc {CKEY2} ;
add 192.0.2.91 192.0.2.92 ah 0x8201 -m tunnel -A hmac-sha256 {AKEY1} ;
add 192.0.2.92 192.0.2.91 ah 0x8202 -m tunnel -A hmac-sha256 {AKEY2} ;
"""


def limited(lifetime):
    """The ESP and AH pairs whose .71 -> .72 and .81 -> .82 SAs have the
    setkey lifetime options `lifetime`."""
    return f"""
add 192.0.2.71 192.0.2.72 esp 0x8001 -m transport {lifetime} -E aes-gcm-16 {KEY1} ;
add 192.0.2.72 192.0.2.71 esp 0x8002 -m transport -E aes-gcm-16 {KEY2} ;
add 192.0.2.81 192.0.2.82 ah 0x8101 -m transport {lifetime} -A hmac-sha256 {AKEY1} ;
add 192.0.2.82 192.0.2.81 ah 0x8102 -m transport -A hmac-sha256 {AKEY2} ;
"""


def policies(me, peer, proto, mode="transport"):
    """`require` out to peer and in from it, for proto, in mode (tunnel:
    between the same two addresses)."""
    out, back = ("", "") if mode == "transport" else (f"{me}-{peer}", f"{peer}-{me}")
    return (f"spdadd {me} {peer} any -P out ipsec {proto}/{mode}/{out}/require ;\n"
            f"spdadd {peer} {me} any -P in ipsec {proto}/{mode}/{back}/require ;\n")


# Each end's own: the policies of the shared SAs; an ESP and an AH SA whose
# keys differ (one key at A, another at B) with A's out policy; require-in
# at A for cleartext from .12; discard and require-without-SA out of A; a
# tunnel out of A to 198.51.100.9 whose outer end, 203.0.113.9, A has no
# route to; the ESP and AH SAs to .72 and .82 with no limit at A and a hard
# limit of 1 byte at B. (PF_KEY takes both lifetimes or neither, as af_key:
# a soft limit too, which the hard one, checked first, overtakes.)
CONF = {
    "A": SAS + limited("") + policies("192.0.2.1", "192.0.2.2", "esp") +
    policies("2001:db8::1", "2001:db8::2", "esp") +
    policies("192.0.2.21", "192.0.2.22", "ah") +
    policies("192.0.2.41", "192.0.2.42", "esp") +
    policies("192.0.2.51", "192.0.2.52", "esp") +
    policies("192.0.2.71", "192.0.2.72", "esp") +
    policies("192.0.2.81", "192.0.2.82", "ah") +
    policies("192.0.2.91", "192.0.2.92", "ah", "tunnel") + f"""
add 192.0.2.11 192.0.2.12 esp 0x2001 -m transport -E aes-gcm-16 {KEY3} ;
add 192.0.2.31 192.0.2.32 ah 0x3101 -m transport -A hmac-sha256 {AKEY1} ;
spdadd 192.0.2.11 192.0.2.12 any -P out ipsec esp/transport//require ;
spdadd 192.0.2.31 192.0.2.32 any -P out ipsec ah/transport//require ;
spdadd 192.0.2.12 192.0.2.1 any -P in ipsec esp/transport//require ;
spdadd 192.0.2.1 192.0.2.3 any -P out discard ;
spdadd 192.0.2.1 192.0.2.4 any -P out ipsec esp/transport//require ;
add 192.0.2.1 203.0.113.9 esp 0x1101 -m tunnel -E aes-gcm-16 {KEY1} ;
spdadd 192.0.2.1 198.51.100.9 any -P out ipsec esp/tunnel/192.0.2.1-203.0.113.9/require ;
""",
    "B": SAS + limited("-bs 1 -bh 1") + policies("192.0.2.2", "192.0.2.1", "esp") +
    policies("2001:db8::2", "2001:db8::1", "esp") +
    policies("192.0.2.22", "192.0.2.21", "ah") +
    policies("192.0.2.42", "192.0.2.41", "esp") +
    policies("192.0.2.52", "192.0.2.51", "esp") +
    policies("192.0.2.72", "192.0.2.71", "esp") +
    policies("192.0.2.82", "192.0.2.81", "ah") +
    policies("192.0.2.92", "192.0.2.91", "ah", "tunnel") + f"""
add 192.0.2.11 192.0.2.12 esp 0x2001 -m transport -E aes-gcm-16 {KEY4} ;
add 192.0.2.31 192.0.2.32 ah 0x3101 -m transport -A hmac-sha256 {AKEY2} ;
""",
}


def nsx(n, *cmd, **kw):
    """Runs cmd in namespace n ("A", "B"; None: the test's own)."""
    pre = ["ip", "netns", "exec", NS[n]] if n else []
    return subprocess.run(pre + list(cmd), capture_output=True, text=True, **kw)


def sh(n, cmd):
    r = nsx(n, "sh", "-c", cmd)
    if r.returncode:
        raise RuntimeError("%s: %s: %s%s" % (n, cmd, r.stdout, r.stderr))
    return r.stdout


def topology():
    for n in NS.values():
        subprocess.run(["ip", "netns", "add", n], check=True)
    subprocess.run(["ip", "link", "add", "va", "netns", NS["A"], "type", "veth",
                    "peer", "vb", "netns", NS["B"]], check=True)
    addrs = {"A": ("va", ["192.0.2.%d/24" % i for i in range(1, 92, 10)], "2001:db8::1/64"),
             "B": ("vb", ["192.0.2.%d/24" % i for i in range(2, 93, 10)], "2001:db8::2/64")}
    for n, (dev, v4, v6) in addrs.items():
        for a in v4:
            sh(n, f"ip addr add {a} dev {dev}")
        sh(n, f"ip addr add {v6} dev {dev} nodad")
        sh(n, f"ip link set lo up; ip link set {dev} up")
    # Static neighbours: no ARP/ND to wait for, no ND protected by the v6
    # policies (it would count too).
    mac = {n: sh(n, f"cat /sys/class/net/{dev}/address").strip()
           for n, (dev, _, _) in addrs.items()}
    for n, peer, dev in (("A", "B", "va"), ("B", "A", "vb")):
        for a in addrs[peer][1] + [addrs[peer][2]]:
            ip = a.split("/")[0]
            sh(n, f"ip neigh replace {ip} lladdr {mac[peer]} dev {dev} nud permanent")
    MAC.update(mac)
    # The inner packet's route; the tunnel's outer end has none.
    sh("A", "ip route add 198.51.100.9/32 via 192.0.2.2")
    for n in NS:
        # setkey -c exits 0 whatever the kernel answers: it prints errors.
        r = nsx(n, SETKEY, "-c", input=CONF[n])
        if r.returncode or r.stdout.strip():
            raise RuntimeError("setkey in %s: %s%s" % (n, r.stdout, r.stderr))
    for n, me, peer in (("A", "192.0.2.61", "192.0.2.62"), ("B", "192.0.2.62", "192.0.2.61")):
        r = nsx(n, "ip", "-batch", "-", input=XFRM.format(k=XKEY, me=me, peer=peer))
        if r.returncode:
            raise RuntimeError("ip xfrm in %s: %s%s" % (n, r.stdout, r.stderr))


# Each namespace's veth MAC address, once the topology is up.
MAC = {}


def eth_frame(payload, v6=False, src="A", dst="B"):
    """An Ethernet frame from src's veth to dst's carrying the IP packet
    `payload`."""
    mac = {n: bytes.fromhex(MAC[n].replace(":", "")) for n in (src, dst)}
    return mac[dst] + mac[src] + struct.pack("!H", 0x86dd if v6 else 0x0800) + payload


def ipv4(src, dst, proto, payload):
    """An IPv4 packet, its header checksum right."""
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x5354, 0, 64,
                                proto, 0, socket.inet_aton(src), socket.inet_aton(dst)))
    hdr[10:12] = struct.pack("!H", ip_checksum(bytes(hdr)))
    return bytes(hdr) + payload


def ipv6(src, dst, proto, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), proto, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def xfrm_nostates(n):
    """XFRM's XfrmInNoStates in namespace n."""
    for line in sh(n, "cat /proc/net/xfrm_stat").splitlines():
        w = line.split()
        if w and w[0] == "XfrmInNoStates":
            return int(w[1])
    raise RuntimeError("no XfrmInNoStates in %s's /proc/net/xfrm_stat" % n)


def icmp_echo(ident, seq, data):
    """An ICMP echo request, its checksum right."""
    m = bytearray(struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data)
    m[2:4] = struct.pack("!H", ip_checksum(bytes(m)))
    return bytes(m)


def esp_cbc_sha256(spi, seq, ekey, akey, payload, next_header, pad=None, pad_len=None):
    """An ESP packet (SPI onward) under AES-CBC and HMAC-SHA-256 (16-byte
    ICV, RFC 4868): `payload`, then `pad` (default RFC 4303's 1, 2, 3, ...
    up to the block), the pad length byte (default len(pad)) and
    next_header, encrypted under a random IV; the ICV over it all verifies.
    Without `akey`, AES-CBC alone: no ICV."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    if pad is None:
        pad = bytes(range(1, 1 + (-(len(payload) + 2) % 16)))
    plain = payload + pad + bytes([len(pad) if pad_len is None else pad_len, next_header])
    iv = os.urandom(16)
    e = Cipher(algorithms.AES(ekey), modes.CBC(iv)).encryptor()
    body = struct.pack("!II", spi, seq) + iv + e.update(plain) + e.finalize()
    if akey is None:
        return body
    mac = hmac.HMAC(akey, hashes.SHA256())
    mac.update(body)
    return body + mac.finalize()[:16]


def ah_sha256(src, dst, spi, seq, akey, next_header, payload):
    """An IPv4 packet from src to dst carrying AH (RFC 4302) under
    HMAC-SHA-256 (16-byte ICV, RFC 4868; a 28-byte header, RFC 4302's
    alignment) and then `payload`: the ICV covers the IP header with its
    mutable fields zeroed (TOS, flags and fragment offset, TTL, checksum:
    ah_cleartos 1 and ah_offsetmask 0, the defaults; no options), the AH
    header with the ICV zeroed, and the payload."""
    from cryptography.hazmat.primitives import hashes, hmac
    ah = struct.pack("!BBHII", next_header, 28 // 4 - 2, 0, spi, seq)
    packet = bytearray(ipv4(src, dst, 51, ah + bytes(16) + payload))
    massaged = bytearray(packet)
    for i in (1, 6, 7, 8, 10, 11):
        massaged[i] = 0
    mac = hmac.HMAC(akey, hashes.SHA256())
    mac.update(bytes(massaged))
    packet[32:48] = mac.finalize()[:16]
    return bytes(packet)


def read_stats(n, files=FILES):
    """Every counter of namespace n (in `files`), as name -> value, and
    every histogram row shown (the nonzero ones), as "histogram algorithm"
    -> value."""
    out = {}
    for f in files:
        for line in sh(n, f"cat {PROC}/{f}").splitlines():
            *name, value = line.split()
            out[" ".join(name)] = int(value)
    return out


def is_row(k):
    """Whether a read_stats key is a histogram row."""
    return " " in k


def ping(n, dst, src=None):
    """One echo request; whether a reply came."""
    cmd = ["ping", "-c", "1", "-W", "2"] + (["-I", src] if src else []) + [dst]
    return nsx(n, *cmd).returncode == 0


class Counters:
    """Snapshots of all three namespaces; `step` checks the deltas."""

    def __init__(self, t):
        self.t = t
        self.last = self.snap()

    @staticmethod
    def snap():
        return {n: read_stats(n) for n in ("A", "B", None)}

    def step(self, desc, want, check=None):
        """want: {ns: {counter: delta or callable}} for the counters that
        must move; every other counter of every namespace must not."""
        now = self.snap()
        delta = {n: {k: now[n][k] - self.last[n].get(k, 0) for k in now[n]} for n in now}
        self.last = now
        bad = []
        for n in now:
            w = want.get(n, {})
            for k, d in delta[n].items():
                exp = w.get(k, 0)
                ok = exp(d) if callable(exp) else d == exp
                if not ok:
                    bad.append("%s %s moved by %d, want %s" % (
                        n or "own ns", k, d, exp.__doc__ if callable(exp) else exp))
            missing = set(w) - set(delta[n])
            bad += ["%s: no counter %s" % (n, k) for k in sorted(missing)]
        if check:
            bad += check(delta)
        self.t.test(not bad, desc, "\n".join(bad))
        return delta


def some(d):
    """> 0"""
    return d > 0


def ping_counts(requests, replies, alg="aes-gcm-16", icv=True):
    """A's and B's counters for `requests` protected pings each answered
    (`replies` of them) in both directions, over ESP SAs encrypting with
    `alg`, with an ICV or without."""
    w = {
        "A": {"out_success": requests, "esps_output": requests, "esps_obytes": some,
              "esps_input": replies, "esps_ibytes": some if replies else 0,
              "in_success": replies, "in_espauthsucc": replies if icv else 0,
              "out_esphist " + alg: requests, "in_esphist " + alg: replies},
        "B": {"esps_input": requests, "esps_ibytes": some, "in_success": requests,
              "out_success": replies, "esps_output": replies,
              "esps_obytes": some if replies else 0,
              "in_espauthsucc": requests if icv else 0,
              "in_esphist " + alg: requests, "out_esphist " + alg: replies},
    }
    # A row that stays at 0 is not shown.
    return {n: {k: v for k, v in w[n].items() if v != 0 or not is_row(k)} for n in w}


def esp_sent(alg="aes-gcm-16"):
    """The counters of one ESP packet sent."""
    return {"out_success": 1, "esps_output": 1, "esps_obytes": some, "out_esphist " + alg: 1}


def bytes_agree(delta, p="esps"):
    """What one end sent as ESP (AH: p="ahs") payload, the other received."""
    bad = []
    for tx, rx in (("A", "B"), ("B", "A")):
        if delta[tx][p + "_obytes"] != delta[rx][p + "_ibytes"]:
            bad.append("%s sent %d %s bytes, %s received %d" % (
                tx, delta[tx][p + "_obytes"], p, rx, delta[rx][p + "_ibytes"]))
    return bad


def injected_ping_counts(icv=True):
    """ping_counts(1, 1, "aes-cbc", icv) for an echo request built here and
    put on A's wire: A counts the answer only, not the request."""
    w = ping_counts(1, 1, "aes-cbc", icv=icv)
    for k in ("out_success", "esps_output", "esps_obytes", "out_esphist aes-cbc"):
        del w["A"][k]
    return w


def ah_ping_counts():
    """ping_counts(1, 1) for AH with hmac-sha256."""
    w = ping_counts(1, 1)

    def ah(k):
        k = k.replace("esps_", "ahs_").replace("espauthsucc", "ahauthsucc")
        return k.replace("esphist aes-gcm-16", "ahhist hmac-sha256")
    return {n: {ah(k): v for k, v in w[n].items()} for n in w}


def ah_sent():
    """The counters of one AH packet sent."""
    return {"out_success": 1, "ahs_output": 1, "ahs_obytes": some,
            "out_ahhist hmac-sha256": 1}


# The capture helper, run in A: sends one echo request and prints the ESP
# frame it went out in, as hex. `send` mode puts a frame on the wire.
HELPER = r"""
import socket, subprocess, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(("va", 0))
if sys.argv[1] == "send":
    s.send(bytes.fromhex(sys.argv[2]))
    sys.exit(0)
subprocess.run(["ping", "-c", "1", "-W", "2", "192.0.2.2"], capture_output=True)
s.settimeout(2)
while True:
    f, a = s.recvfrom(4096)
    # Outgoing IPv4 ESP from .1 to .2.
    if a[2] == 4 and f[12:14] == b"\x08\x00" and f[23] == 50 and \
            f[26:34] == bytes([192, 0, 2, 1, 192, 0, 2, 2]):
        print(f.hex())
        break
"""


def capture(n):
    r = nsx(n, sys.executable, "-c", HELPER, "capture")
    return bytes.fromhex(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else None


def send_frame(n, frame):
    return nsx(n, sys.executable, "-c", HELPER, "send", frame.hex()).returncode == 0


def ip_checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def truncated(frame, esp_len):
    """The frame's IPv4 ESP packet cut to `esp_len` bytes of ESP, its
    header's length and checksum fixed."""
    ihl = (frame[14] & 0x0f) * 4
    ip = bytearray(frame[14:14 + ihl])
    ip[2:4] = struct.pack("!H", ihl + esp_len)
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", ip_checksum(bytes(ip)))
    return frame[:14] + bytes(ip) + frame[14 + ihl:14 + ihl + esp_len]


# Writes argv[2] to file argv[1]; prints the errno's name if that fails.
WRITER = r"""
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(fd, sys.argv[2].encode())
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def proc_write(n, f, text, drop_cap=False):
    """Writes text to a stats file of n (as root without CAP_NET_ADMIN if
    drop_cap); the errno's name, or '' if the write succeeded."""
    pre = ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin"] if drop_cap else []
    r = nsx(n, *pre, sys.executable, "-c", WRITER, "%s/%s" % (PROC, f), text)
    return (r.stdout + r.stderr).strip()


def plural(n, what):
    """n and what as netstat words them: "1 packet", "2 packets"."""
    return "%d %s%s" % (n, what, "" if n == 1 else "s")


def bad_trailer(t, c):
    """ESP packets A never sent, built here under SA 0x4001's keys (.41 to
    .42, aes-cbc + hmac-sha256): their ICV verifies but the trailer does
    not (pad length beyond the payload; padding not 1, 2, 3, ...): B counts
    esps_badenc, not esps_badauth, and delivers nothing. The control, built
    the same way with a right trailer, is delivered and answered. The SA
    has no replay window: any sequence number goes."""
    names = ("bad trailer: pad length beyond the payload: esps_badenc at B, ICV good",
             "bad trailer: padding not 1, 2, 3, ...: esps_badenc at B, ICV good",
             "control: the same packet with a right trailer is delivered and answered",
             "control: padding past a block (36 bytes: 1, 2, 3, ...) is delivered and answered")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        for n in names:
            t.skip(n, "python3-cryptography is missing")
        return
    ekey, akey = bytes.fromhex(CKEY1[2:]), bytes.fromhex(AKEY1[2:])
    # 26 bytes of echo request: 4 bytes of padding to the block.
    echo = icmp_echo(0x4b41, 1, b"kame-ipsec badenc!")
    src, dst = "192.0.2.41", "192.0.2.42"
    dropped = {"esps_input": 1, "in_espauthsucc": 1, "esps_badenc": 1,
               "in_esphist aes-cbc": 1}
    for seq, name, kw in ((100, names[0], {"pad_len": 255}),
                          (101, names[1], {"pad": bytes(4)})):
        esp = esp_cbc_sha256(0x4001, seq, ekey, akey, echo, 1, **kw)
        send_frame("A", eth_frame(ipv4(src, dst, 50, esp)))
        time.sleep(SETTLE)
        c.step(name, {"B": dropped})
    # B takes each and answers through 0x4002; A takes the answer. RFC
    # 4303 2.4 allows padding up to 255 bytes: the input reads a trailer
    # whose padding is longer than a block a second time, whole.
    want = injected_ping_counts()
    for seq, name, kw in ((102, names[2], {}),
                          (103, names[3], {"pad": bytes(range(1, 37))})):
        esp = esp_cbc_sha256(0x4001, seq, ekey, akey, echo, 1, **kw)
        send_frame("A", eth_frame(ipv4(src, dst, 50, esp)))
        time.sleep(SETTLE)  # B's answer, through ESP, to A
        c.step(name, want)


def icmp_csum_errors(n):
    """IcmpInCsumErrors in namespace n (/proc/net/snmp)."""
    lines = [w.split() for w in sh(n, "cat /proc/net/snmp").splitlines() if w.startswith("Icmp:")]
    return int(lines[1][lines[0].index("InCsumErrors")])


def inner_checksums(t, c):
    """Echo requests A never sent, built here with a wrong ICMP checksum.
    Under SA 0x4001's keys (aes-cbc + hmac-sha256) the ICV vouches for
    every byte, so B does not sum the inner packet again (as WireGuard;
    XFRM sums it): it answers, and IcmpInCsumErrors stays. Under 0x5001's
    (aes-cbc alone, no ICV) the stack sums it, drops it and counts
    IcmpInCsumErrors. A control with the checksum right under 0x5001 is
    answered. Neither SA has a replay window: any sequence number goes."""
    names = ("inner csum: authenticated, a wrong ICMP checksum is not summed again: answered",
             "inner csum: no ICV, a wrong ICMP checksum is summed: IcmpInCsumErrors at B",
             "control: the same with the checksum right, no ICV: answered")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        for n in names:
            t.skip(n, "python3-cryptography is missing")
        return
    good = icmp_echo(0x4b42, 1, b"kame-ipsec checksums")
    bad = good[:2] + bytes([good[2] ^ 0x5a]) + good[3:]

    def csum_errors(want):
        before = icmp_csum_errors("B")

        def check(_delta):
            moved = icmp_csum_errors("B") - before
            return [] if moved == want else ["IcmpInCsumErrors at B moved by %d, want %d"
                                             % (moved, want)]
        return check

    ekey1, akey1 = bytes.fromhex(CKEY1[2:]), bytes.fromhex(AKEY1[2:])
    icv = (0x4001, "192.0.2.41", "192.0.2.42", akey1)
    no_icv = (0x5001, "192.0.2.51", "192.0.2.52", None)
    for (spi, src, dst, akey), echo, name, want, errors in (
            (icv, bad, names[0], injected_ping_counts(), 0),
            (no_icv, bad, names[1],
             {"B": {"esps_input": 1, "esps_ibytes": some, "in_success": 1,
                    "in_esphist aes-cbc": 1}}, 1),
            (no_icv, good, names[2], injected_ping_counts(icv=False), 0)):
        check = csum_errors(errors)
        esp = esp_cbc_sha256(spi, 200, ekey1, akey, echo, 1)
        send_frame("A", eth_frame(ipv4(src, dst, 50, esp)))
        time.sleep(SETTLE)  # B's answer, if any, through ESP, to A
        c.step(name, want, check)


def sa_gone(n, spi):
    """Waits until namespace n's SAD has no SA with `spi`; whether it went."""
    end = time.monotonic() + 10
    while "(0x%08x)" % spi in sh(n, SETKEY + " -D"):
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def hard_lifetime(t, c, proto):
    """An inbound SA at its hard lifetime by bytes: B's copy of the SA from
    .71 to .72 (ESP 0x8001; AH: .81 to .82, 0x8101) has a hard limit of 1
    byte (setkey -bs 1 -bh 1: the hard limit, checked first, wins), A's
    none. The limits are checked before each packet (XFRM's rule): the
    first ping passes and reaches them; the second packet finds the hard
    one reached and is dropped at B as esps_invalid (ahs_invalid), after
    esps_input and its histogram row counted it, and B's key state removes
    the SA (hard EXPIRE). Only once the SA is gone does the third go, for
    no SA then: esps_notdb (ahs_notdb). So no packet races the removal and
    every delta is exact."""
    esp = proto == "esp"
    spi, src, dst = (0x8001, "192.0.2.71", "192.0.2.72") if esp else \
        (0x8101, "192.0.2.81", "192.0.2.82")
    p, row = ("esps", "in_esphist aes-gcm-16") if esp else ("ahs", "in_ahhist hmac-sha256")
    sent = esp_sent() if esp else ah_sent()
    ok = ping("A", dst, src=src)
    t.test(ok, "%s: a ping through an SA with a hard lifetime of 1 byte at B" % proto)
    c.step("%s: the first packet counted as any other (the limit is reached)" % proto,
           ping_counts(1, 1) if esp else ah_ping_counts(), lambda d: bytes_agree(d, p))
    ok = ping("A", dst, src=src)
    c.step("%s: the next packet finds the hard limit reached: %s_invalid at B, no answer" % (
        proto, p), {"A": sent, "B": {p + "_input": 1, row: 1, p + "_invalid": 1}},
        lambda d: ["the ping was answered"] if ok else [])
    t.test(sa_gone("B", spi), "%s: B's key state removes the SA (hard EXPIRE)" % proto,
           sh("B", SETKEY + " -D"))
    before = xfrm_nostates("B")
    ok = ping("A", dst, src=src)
    after = xfrm_nostates("B")
    c.step("%s: a packet once the SA is gone: %s_notdb, XfrmInNoStates +1" % (proto, p),
           {"A": sent, "B": {p + "_notdb": 1}},
           lambda d: (["the ping was answered"] if ok else []) +
           ([] if after == before + 1 else
            ["XfrmInNoStates %d -> %d, want +1" % (before, after)]))


def ah_badenc(t, c):
    """AH packets A never sent, built here under SA 0x8201's key (a tunnel
    from .91 to .92, hmac-sha256): their ICV verifies (B counts them in
    in_ahauthsucc, their bytes in ahs_ibytes) but what they carry cannot
    be decapsulated: an inner IPv4 header cut short, and a next header that
    is not IP (UDP). B counts ahs_badenc, not ahs_badauth, and delivers
    nothing. The control, built the same way around a whole echo request
    from .91 to .92, is delivered and answered through 0x8202. The SA has
    no replay window: any sequence number goes."""
    names = ("AH tunnel, inner IPv4 header cut short: ahs_badenc at B, ICV good",
             "AH tunnel, next header UDP, not IP: ahs_badenc at B, ICV good",
             "control: the same packet around a whole echo request is delivered and answered")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        for n in names:
            t.skip(n, "python3-cryptography is missing")
        return
    akey = bytes.fromhex(AKEY1[2:])
    src, dst = "192.0.2.91", "192.0.2.92"
    inner = ipv4(src, dst, 1, icmp_echo(0x4b41, 2, b"kame-ipsec ah badenc"))
    for seq, name, nh, payload in ((100, names[0], 4, inner[:12]),
                                   (101, names[1], 17, inner)):
        send_frame("A", eth_frame(ah_sha256(src, dst, 0x8201, seq, akey, nh, payload)))
        time.sleep(SETTLE)
        c.step(name, {"B": {"ahs_input": 1, "in_ahhist hmac-sha256": 1, "in_ahauthsucc": 1,
                            "ahs_ibytes": len(payload), "ahs_badenc": 1}})
    send_frame("A", eth_frame(ah_sha256(src, dst, 0x8201, 102, akey, 4, inner)))
    time.sleep(SETTLE)  # B's answer, through AH, to A
    # B takes it and answers through 0x8202; A takes the answer.
    want = ah_ping_counts()
    for k in ("out_success", "ahs_output", "ahs_obytes", "out_ahhist hmac-sha256"):
        del want["A"][k]
    want["B"]["ahs_ibytes"] = len(inner)
    c.step(names[2], want, lambda d: [] if d["B"]["ahs_obytes"] == d["A"]["ahs_ibytes"] else
           ["B sent %d AH bytes, A received %d" % (d["B"]["ahs_obytes"], d["A"]["ahs_ibytes"])])


def spi_owners(t, c):
    """SPIs by owner: XFRM's (a ping through SAs set up with ip xfrm, which
    we hand on and XFRM delivers: no counter of ours moves), nobody's (ESP
    over IPv4 and IPv6, and AH, each counted once in esps_notdb/ahs_notdb
    and once in XFRM's XfrmInNoStates). Our own SPIs count nothing there:
    every other step checks that esps_notdb and ahs_notdb stay 0."""
    x0 = xfrm_nostates("B"), xfrm_nostates("A")
    ok = ping("A", "192.0.2.62", src="192.0.2.61")
    t.test(ok, "ping through XFRM's own SAs beside ours (XFRM delivers what we hand on)")
    x1 = xfrm_nostates("B"), xfrm_nostates("A")
    c.step("XFRM's SPIs: no counter of ours moves (esps_notdb +0), XfrmInNoStates +0",
           {}, lambda d: [] if x1 == x0 else ["XfrmInNoStates (B, A) %s -> %s" % (x0, x1)])
    ah = struct.pack("!BBHII", 1, 5, 0, 0xdead0002, 1) + bytes(16) + icmp_echo(1, 1, b"ah")
    for name, frame, counter in (
            ("ESP to an SPI nobody has: esps_notdb +1, XfrmInNoStates +1",
             eth_frame(ipv4("192.0.2.1", "192.0.2.2", 50,
                            struct.pack("!II", 0xdead0001, 1) + bytes(48))), "esps_notdb"),
            ("ESP over IPv6 to an SPI nobody has: esps_notdb +1, XfrmInNoStates +1",
             eth_frame(ipv6("2001:db8::1", "2001:db8::2", 50,
                            struct.pack("!II", 0xdead0001, 1) + bytes(48)), v6=True),
             "esps_notdb"),
            ("AH to an SPI nobody has: ahs_notdb +1, XfrmInNoStates +1",
             eth_frame(ipv4("192.0.2.21", "192.0.2.22", 51, ah)), "ahs_notdb")):
        before = xfrm_nostates("B")
        send_frame("A", frame)
        time.sleep(SETTLE)
        after = xfrm_nostates("B")
        c.step(name, {"B": {counter: 1}},
               lambda d: [] if after == before + 1 else
               ["XfrmInNoStates %d -> %d, want +1" % (before, after)])


def main():
    t = Ktap(58)
    for tool in (SETKEY, IPSECSTAT):
        if not os.access(tool, os.X_OK):
            print("# %s is missing: make tools" % tool)
            return 1
    try:
        topology()
        c = Counters(t)
        names = set(c.last["A"])
        t.test(all(os.path.exists(f"{PROC}/{f}") for f in FILES) and
               {"in_success", "esps_input", "ahs_input", "in_espauthsucc",
                "in_ahauthsucc", "esps_notdb", "ahs_notdb"} <= names and
               all(v == 0 and not is_row(k) for n in c.last for k, v in c.last[n].items()),
               "the three files exist in every namespace, all counters at 0, no rows",
               c.last)

        ok = ping("A", "192.0.2.2")
        t.test(ok, "v4 ping through ESP transport")
        c.step("v4 ping: esps_input/output, bytes, in/out_success on both ends",
               ping_counts(1, 1), bytes_agree)

        ok = ping("A", "2001:db8::2")
        t.test(ok, "v6 ping through ESP transport")
        c.step("v6 ping: the same counters", ping_counts(1, 1), bytes_agree)

        ping("A", "192.0.2.3")
        c.step("discard policy: out_polvio", {"A": {"out_polvio": 1}})

        ping("A", "192.0.2.4")
        c.step("require with no SA: out_nosa", {"A": {"out_nosa": 1}})

        ping("A", "198.51.100.9")
        c.step("a tunnel SA whose outer end has no route: out_inval",
               {"A": {"out_inval": 1}})

        ping("A", "192.0.2.12", src="192.0.2.11")
        c.step("keys differ: esps_badauth at the receiver",
               {"A": esp_sent(),
                "B": {"esps_input": 1, "esps_badauth": 1, "in_esphist aes-gcm-16": 1}})

        sh("B", "sysctl -qw net.inet.esp.enable=0")
        ping("A", "192.0.2.2")
        sh("B", "sysctl -qw net.inet.esp.enable=1")
        c.step("net.inet.esp.enable=0 at the receiver: esps_pdrops only",
               {"A": esp_sent(), "B": {"esps_pdrops": 1}})

        sh("A", "sysctl -qw net.inet.esp.enable=0")
        ping("A", "192.0.2.2")
        sh("A", "sysctl -qw net.inet.esp.enable=1")
        c.step("net.inet.esp.enable=0 at the sender: esps_pdrops, nothing sent",
               {"A": {"esps_pdrops": 1}})

        ping("B", "192.0.2.1", src="192.0.2.12")
        c.step("cleartext where a require in-policy applies: in_polvio",
               {"A": {"in_polvio": 1}})

        frame = capture("A")
        t.test(frame is not None, "an ESP frame captured on A's veth")
        c.step("the captured ping counted as any other", ping_counts(1, 1), bytes_agree)

        if frame:
            send_frame("A", frame)
            c.step("the same ESP frame again: esps_replay",
                   {"B": {"esps_input": 1, "esps_replay": 1, "in_esphist aes-gcm-16": 1}})
            # ESP header, 8 bytes of IV and 4 of data: short of GCM's ICV.
            send_frame("A", truncated(frame, 20))
            c.step("a truncated ESP packet: esps_hdrops",
                   {"B": {"esps_input": 1, "esps_hdrops": 1, "in_esphist aes-gcm-16": 1}})
        else:
            t.skip("the same ESP frame again: esps_replay", "no frame captured")
            t.skip("a truncated ESP packet: esps_hdrops", "no frame captured")

        # CBC: counted in its own rows; an SA without an authenticator
        # verifies no ICV.
        ok = ping("A", "192.0.2.42", src="192.0.2.41")
        t.test(ok, "v4 ping through ESP aes-cbc + hmac-sha256")
        c.step("aes-cbc + hmac-sha256: the aes-cbc rows, in_espauthsucc",
               ping_counts(1, 1, "aes-cbc"), bytes_agree)
        ok = ping("A", "192.0.2.52", src="192.0.2.51")
        t.test(ok, "v4 ping through ESP aes-cbc without an authenticator")
        c.step("aes-cbc alone: the aes-cbc rows, no in_espauthsucc",
               ping_counts(1, 1, "aes-cbc", icv=False), bytes_agree)

        # AH: a protected ping, keys that differ, ah.enable=0.
        ok = ping("A", "192.0.2.22", src="192.0.2.21")
        t.test(ok, "v4 ping through AH transport")
        c.step("AH ping: ahs_input/output, bytes, in/out_success on both ends",
               ah_ping_counts(), lambda d: bytes_agree(d, "ahs"))
        ping("A", "192.0.2.32", src="192.0.2.31")
        c.step("AH keys differ: ahs_badauth at the receiver",
               {"A": ah_sent(),
                "B": {"ahs_input": 1, "ahs_badauth": 1, "in_ahhist hmac-sha256": 1}})
        sh("B", "sysctl -qw net.inet.ah.enable=0")
        ping("A", "192.0.2.22", src="192.0.2.21")
        sh("B", "sysctl -qw net.inet.ah.enable=1")
        c.step("net.inet.ah.enable=0 at the receiver: ahs_pdrops",
               {"A": ah_sent(), "B": {"ahs_pdrops": 1}})

        bad_trailer(t, c)
        inner_checksums(t, c)
        hard_lifetime(t, c, "esp")
        hard_lifetime(t, c, "ah")
        ah_badenc(t, c)
        spi_owners(t, c)

        # The tool against the files: a sentence for every counter, a
        # title for every histogram with rows, a line for every row.
        r = nsx("B", IPSECSTAT)
        b = read_stats("B")
        rows = [k for k in b if is_row(k)]
        titles = {k.split()[0] for k in rows}
        want = ["ipsec:", "esp:", "ah:",
                "\t%s in" % plural(b["esps_input"], "packet"),
                "\t%s dropped; replay" % plural(b["esps_replay"], "packet"),
                "\t%s shorter than header shows" % plural(b["esps_hdrops"], "packet"),
                "\t%s in" % plural(b["esps_ibytes"], "byte"),
                "\t%s considered authentic" % plural(b["in_espauthsucc"], "packet"),
                "\t%s dropped; bad padding or inner header" % plural(b["esps_badenc"], "packet"),
                "\t%s dropped; no SA for the SPI (ours or XFRM's)" % plural(b["esps_notdb"],
                                                                      "packet"),
                "\t%s dropped; bad authentication" % plural(b["ahs_badauth"], "packet"),
                "\tESP input histogram:",
                "\t\taes-gcm-16: %d" % b["in_esphist aes-gcm-16"],
                "\t\taes-cbc: %d" % b["in_esphist aes-cbc"],
                "\tESP output histogram:",
                "\tAH input histogram:",
                "\t\thmac-sha256: %d" % b["in_ahhist hmac-sha256"],
                "\tAH output histogram:"]
        lines = r.stdout.splitlines()
        unknown = [l for l in lines if l.split()[-1] in b]
        t.test(r.returncode == 0 and all(w in lines for w in want) and not unknown and
               titles == {"in_esphist", "out_esphist", "in_ahhist", "out_ahhist"} and
               len(lines) == 3 + len(b) + len(titles),
               "ipsecstat prints a sentence for every counter, every histogram row",
               r.stdout + r.stderr)

        # Resets.
        err = proc_write("B", "espstat", "0", drop_cap=True)
        t.test(err == "EPERM" and read_stats("B") == b,
               "a reset without CAP_NET_ADMIN fails with EPERM, changes nothing", err)
        err = proc_write("B", "espstat", "1")
        t.test(err == "EINVAL" and read_stats("B") == b,
               "writing anything but 0 fails with EINVAL", err)
        others = ("ipsecstat", "ahstat")
        before = read_stats("B", others)
        err = proc_write("B", "espstat", "0\n")
        esp, now = read_stats("B", ("espstat",)), read_stats("B", others)
        t.test(not err and all(v == 0 and not is_row(k) for k, v in esp.items()) and
               now == before and now["in_ahhist hmac-sha256"] and now["in_success"] and
               read_stats("A") == c.last["A"],
               "echo 0 > espstat resets B's ESP counters and histograms only",
               err or (esp, now))
        r = nsx("A", IPSECSTAT, "-z")
        a = read_stats("A")
        t.test(r.returncode == 0 and "\t1 inbound packet violated security policy" in r.stdout and
               "\tESP output histogram:" in r.stdout and
               all(v == 0 and not is_row(k) for k, v in a.items()),
               "ipsecstat -z prints A's counters, then all read 0", r.stdout + r.stderr)
        c.last = c.snap()
        ok = ping("A", "192.0.2.2")
        c.step("after the resets, a ping counts from 0 again", ping_counts(1, 1), bytes_agree)
        # Many packets on both vCPUs: every one counted once, at each end.
        r = nsx("A", "ping", "-f", "-q", "-c", "1000", "192.0.2.2")
        m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
        sent, got = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)

        def flood(delta):
            a, b = delta["A"], delta["B"]
            pairs = [("A out_success", a["out_success"], sent),
                     ("A esps_output", a["esps_output"], sent),
                     ("B esps_input", b["esps_input"], a["esps_output"]),
                     ("B esps_output", b["esps_output"], b["in_success"]),
                     ("A esps_input", a["esps_input"], b["esps_output"]),
                     ("A in_success", a["in_success"], got)]
            # Every packet in its algorithm's row, every ICV verified.
            for n, d in (("A", a), ("B", b)):
                pairs += [(n + " in_esphist aes-gcm-16", d["in_esphist aes-gcm-16"],
                           d["esps_input"]),
                          (n + " out_esphist aes-gcm-16", d["out_esphist aes-gcm-16"],
                           d["esps_output"]),
                          (n + " in_espauthsucc", d["in_espauthsucc"], d["esps_input"])]
            return ["%s %d, want %d" % p for p in pairs if p[1] != p[2]] + bytes_agree(delta)
        moved = ("out_success", "esps_output", "esps_obytes", "esps_input", "esps_ibytes",
                 "in_success", "in_espauthsucc", "in_esphist aes-gcm-16",
                 "out_esphist aes-gcm-16")
        c.step("ping -f -c 1000: each packet counted once at each end",
               {"A": {k: some for k in moved}, "B": {k: some for k in moved}}, flood)
        t.test(all(v == 0 for v in c.last[None].values()),
               "the test's own namespace counted nothing", c.last[None])

        # Unloading with a file open: the reader gets EIO, not freed memory.
        fd = os.open(f"{PROC}/espstat", os.O_RDONLY)
        first = os.read(fd, 4096)
        if subprocess.run(["rmmod", "kame_ipsec"], capture_output=True).returncode == 0:
            # (lseek fails too, with EINVAL: procfs's answer for a
            # removed entry.)
            try:
                after = os.read(fd, 4096)
            except OSError as e:
                after = errno.errorcode.get(e.errno, e.errno)
            os.close(fd)
            subprocess.run(["insmod", KO], check=True)
            t.test(first.startswith(b"esps_input ") and after == "EIO",
                   "rmmod with a stats file open: a later read fails with EIO", after)
        else:
            os.close(fd)
            t.skip("rmmod with a stats file open", "the module is in use")
    finally:
        for n in NS.values():
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
