# SPDX-License-Identifier: GPL-2.0
"""A scenario (protocols, mode, families, algorithms) and its configuration
at one IPsec peer, written two ways from one description: `ip xfrm` commands
for Linux's XFRM and a setkey(8) configuration for kame_ipsec, so either
end can be either.

  Scenario(esp=("aes-cbc", "hmac-sha256"), ah=None, mode="tunnel",
           fam="v6-in-v4", topo="pair", esn=False)

`esp` is (cipher or AEAD, authenticator or None); `ah` an authenticator;
with both, ESP is applied first and AH outside it (setkey's
`esp/... ah/...`, XFRM's templates in the same order). In tunnel mode the
first protocol tunnels and the second is transport between the outer
addresses. fam is the inner family, then the outer one if it differs.
esn gives every SA 64-bit sequence numbers and a 32-packet replay window
(XFRM's `flag esn`, our setkey's `-f esn`).
"""
import hashlib
import os
from dataclasses import dataclass

from dp import algs

SETKEY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "rust", "tools", "target", "release", "setkey")
FAMS = {"v4": (4, 4), "v6": (6, 6), "v6-in-v4": (6, 4), "v4-in-v6": (4, 6)}
# SPI of each protocol's SA from the first peer to the second; +1 back.
SPI_BASE = {"esp": 0xe5000010, "ah": 0xa4000010}


@dataclass(frozen=True)
class Scenario:
    esp: tuple = None
    ah: str = None
    mode: str = "transport"
    fam: str = "v4"
    topo: str = "pair"
    esn: bool = False

    @property
    def name(self):
        parts = [self.topo, self.mode, self.fam]
        if self.esp:
            parts.append("esp " + "/".join(a for a in self.esp if a))
        if self.ah:
            parts.append("ah " + self.ah)
        if self.esn:
            parts.append("esn")
        return " ".join(parts)

    @property
    def protos(self):
        return [p for p in ("esp", "ah") if getattr(self, p)]

    @property
    def peers(self):
        """The two IPsec peers, initiator-side first."""
        return ("r", "b") if self.topo == "gateway" else ("a", "b")

    def algs(self):
        """The setkey names of every algorithm used."""
        return [a for a in (self.esp or ()) + (self.ah,) if a]


@dataclass(frozen=True)
class Sa:
    proto: str
    spi: int
    src: str
    dst: str
    mode: str
    enc: algs.Alg
    enc_key: bytes
    auth: algs.Alg
    auth_key: bytes


def key(spi, n, salt=0):
    """n deterministic key bytes for the SA `spi`; another salt, another key."""
    out = b""
    while len(out) < n:
        out += hashlib.sha256(b"%d/%d/%d" % (spi, salt, len(out))).digest()
    return out[:n]


class Config:
    """What one peer of `sc` in `topo` is given."""

    def __init__(self, sc, topo, salt=0):
        self.sc, self.topo = sc, topo
        inner, outer = FAMS[sc.fam]
        p, q = sc.peers
        self.outer = (topo.addr(p, outer), topo.addr(q, outer))
        # Traffic selectors of each side: a's address, or a's network when
        # a gateway (r) protects it.
        self.inner = (topo.subnet("a", inner) if sc.topo == "gateway" else
                      topo.addr("a", inner) + ("/32" if inner == 4 else "/128"),
                      topo.addr("b", inner) + ("/32" if inner == 4 else "/128"))
        self.sas = []
        for i, proto in enumerate(sc.protos):
            mode = "tunnel" if sc.mode == "tunnel" and i == 0 else "transport"
            for d, (src, dst) in enumerate((self.outer, self.outer[::-1])):
                spi = SPI_BASE[proto] + d
                if proto == "esp":
                    enc = algs.get(sc.esp[0])
                    auth = algs.get(sc.esp[1]) if sc.esp[1] else None
                else:
                    enc, auth = None, algs.get(sc.ah)
                self.sas.append(Sa(proto, spi, src, dst, mode, enc,
                                   key(spi, enc.key, salt) if enc else b"",
                                   auth, key(spi + 0x100, auth.key, salt) if auth else b""))

    def spis(self):
        """{(src, dst): [SPI of each protocol, outermost first]}."""
        out = {}
        for sa in reversed(self.sas):
            out.setdefault((sa.src, sa.dst), []).append(sa.spi)
        return out

    def _side(self, node):
        """(local selector, remote selector, local outer, remote outer)."""
        first = node == self.sc.peers[0]
        sel = self.inner if first else self.inner[::-1]
        out = self.outer if first else self.outer[::-1]
        return sel + out

    def xfrm(self, node, policies=True):
        """`ip xfrm` argument lists for `node`."""
        cmds = []
        for sa in self.sas:
            c = ["state", "add", "src", sa.src, "dst", sa.dst, "proto", sa.proto,
                 "spi", "0x%08x" % sa.spi, "mode", sa.mode]
            if sa.enc and sa.enc.kind == "aead":
                c += ["aead", sa.enc.xfrm, hexkey(sa.enc_key), str(sa.enc.icv)]
            elif sa.enc:
                c += ["enc", sa.enc.xfrm, hexkey(sa.enc_key)]
            if sa.auth:
                c += ["auth-trunc", sa.auth.xfrm, hexkey(sa.auth_key), str(sa.auth.icv)]
            flags = ["esn"] if self.sc.esn else []
            if sa.mode == "tunnel" and FAMS[self.sc.fam][0] != FAMS[self.sc.fam][1]:
                flags.append("af-unspec")
            if self.sc.esn:
                c += ["replay-window", "32"]
            if flags:
                c += ["flag"] + flags
            cmds.append(c)
        if not policies:
            return cmds
        lsel, rsel, lout, rout = self._side(node)
        dirs = [("out", lsel, rsel, lout, rout), ("in", rsel, lsel, rout, lout)]
        if node == "r":
            dirs.append(("fwd", rsel, lsel, rout, lout))
        for d, src, dst, osrc, odst in dirs:
            c = ["policy", "add", "src", src, "dst", dst, "dir", d]
            for i, proto in enumerate(self.sc.protos):
                c += ["tmpl"]
                if self.sc.mode == "tunnel" and i == 0:
                    c += ["src", osrc, "dst", odst, "proto", proto, "mode", "tunnel"]
                else:
                    c += ["proto", proto, "mode", "transport"]
            cmds.append(c)
        return cmds

    def setkey(self, node, policies=True):
        """setkey(8) configuration text for `node`."""
        lines = []
        for sa in self.sas:
            s = "add %s %s %s 0x%08x -m %s" % (sa.src, sa.dst, sa.proto, sa.spi, sa.mode)
            if self.sc.esn:
                s += " -r 32 -f esn"
            if sa.enc:
                s += " -E %s" % sa.enc.name + (" " + hexkey(sa.enc_key) if sa.enc.key else "")
            if sa.auth:
                s += " -A %s %s" % (sa.auth.name, hexkey(sa.auth_key))
            lines.append(s + ";")
        if not policies:
            return "\n".join(lines) + "\n"
        lsel, rsel, lout, rout = self._side(node)
        for d, src, dst, osrc, odst in (("out", lsel, rsel, lout, rout),
                                        ("in", rsel, lsel, rout, lout)):
            reqs = []
            for i, proto in enumerate(self.sc.protos):
                if self.sc.mode == "tunnel":
                    reqs.append("%s/%s/%s-%s/require" % (proto, "tunnel" if i == 0 else
                                                         "transport", osrc, odst))
                else:
                    reqs.append("%s/transport//require" % proto)
            lines.append("spdadd %s %s any -P %s ipsec %s;" % (src, dst, d, " ".join(reqs)))
        return "\n".join(lines) + "\n"

    def install(self, node, impl, policies=True):
        """Configures `node` as `impl` ("xfrm" or "kame")."""
        if impl == "xfrm":
            self.topo.run(node, "ip", "-batch", "-", input="".join(
                "xfrm " + " ".join(a if a else '""' for a in c) + "\n"
                for c in self.xfrm(node, policies)))
        else:
            r = self.topo.run(node, SETKEY, "-c", input=self.setkey(node, policies),
                              check=False)
            if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
                raise RuntimeError("setkey in %s: %s%s" % (node, r.stdout, r.stderr))


def hexkey(b):
    return "0x" + b.hex() if b else ""
