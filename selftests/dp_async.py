#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The data path through asynchronous crypto drivers (KTAP; issue 5 item
3): a cryptd (or pcrypt) instance is put in front of the algorithm an SA
allocates, over NETLINK_CRYPTO (dp/crypto_user.py), so every request
returns -EINPROGRESS and completes later from the driver's workqueue;
the harness traffic runs through it, and the data path is torn down while
packets are still queued there.

  [a] veth0 ------------------------------ veth0 [b]     tcpdump on both
      192.0.2.1                    192.0.2.2

  Name                         Description
  ALG: sync                    negative control: without an instance the
                               name resolves to a synchronous driver, whose
                               refcnt our two SAs raise (by 2, or 4 where an
                               ahash is built over an shash) and flush gives
                               back (the measurement below would show a
                               wrapper that is not used)
  ALG: TMPL instance           NETLINK_CRYPTO NEWALG TMPL(NAME); NAME now
                               resolves to it in /proc/crypto
  IMPLS ALG: SAs use it        adding kame_ipsec's SAs raises the instance's
                               refcnt by one per SA (XFRM's SAs are added
                               after the measurement)
  IMPLS ALG: ping a>b ... wire the harness traffic (dp/case.py)
  IMPLS ALG: stats add up      at each kame_ipsec end, esps_output/ahs_output
                               equals the packets with its outbound SPI on
                               the wire, esps_input/ahs_input and in_success
                               the packets with its inbound SPI; no crypto,
                               ICV, replay, layout or exit drop
  IMPLS ALG: freed on delete   deleting our SAs (SADB_FLUSH), before XFRM's
                               states go, lowers the refcnt by what they
                               hold
  ALG: TMPL instance deleted   DELALG succeeds: nothing holds it any more
  teardown WHAT: ...           kame_ipsec at both ends, ESP AES-GCM inside AH
                               HMAC-SHA-256 through cryptd, ping floods both
                               ways; then WHAT (SA delete, SADB_FLUSH, netns
                               exit, rmmod) while packets are queued in
                               cryptd: it completes, the instances' refcnt
                               comes back (the transforms were freed once
                               the last completion ran) and the kernel log
                               has no splat
  cleanup                      every namespace created is gone

IMPLS is kame/xfrm, xfrm/kame (XFRM sends the TCP) and kame/kame. XFRM's
SAs use the same instance: both ends run asynchronously. KAME_ASYNC_ONLY
(a regular expression) picks cases by name ("teardown" for the teardown
part), KAME_ASYNC_IMPLS the implementation pairs (e.g. "kame/kame"),
KAME_ASYNC_TEARDOWN the teardowns; KAME_DP_MIB (default 2) sizes the TCP
transfer.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ktap import KO, Ktap, kmsg, run_in_netns, splats_since  # noqa: E402
from dp import case, crypto_user as cu  # noqa: E402
from dp.sa import SETKEY, Config, Scenario  # noqa: E402
from dp.topo import Topology, leftover  # noqa: E402

MIB = int(os.environ.get("KAME_DP_MIB", "2"))
GCM, CBC = ("aes-gcm-16", None), ("aes-cbc", "hmac-sha256")
IMPLS = [("kame", "xfrm"), ("xfrm", "kame"), ("kame", "kame")]
# (template, scenario, the name our SAs allocate, instance kind, impls)
CASES = [
    ("cryptd", Scenario(esp=GCM), "seqiv(rfc4106(gcm(aes)))", "aead", IMPLS),
    ("cryptd", Scenario(esp=CBC), "echainiv(authenc(hmac(sha256),cbc(aes)))", "aead", IMPLS),
    ("cryptd", Scenario(esp=CBC, esn=True), "echainiv(authencesn(hmac(sha256),cbc(aes)))",
     "aead", IMPLS),
    ("cryptd", Scenario(ah="hmac-sha256"), "hmac(sha256)", "hash", IMPLS),
    ("pcrypt", Scenario(esp=GCM), "seqiv(rfc4106(gcm(aes)))", "aead", [("kame", "kame")]),
]
PER_IMPL = ["SAs use it"] + case.CHECKS + ["stats add up", "freed on delete"]
TEARDOWN = ["SA delete", "SADB_FLUSH", "netns exit", "rmmod"]
TEARDOWN_CHECKS = ["traffic through cryptd", "done", "transforms freed", "no kernel splat"]
# The bundle the teardown runs, and what it allocates.
BUNDLE = Scenario(esp=GCM, ah="hmac-sha256")
BUNDLE_ALGS = [("seqiv(rfc4106(gcm(aes)))", "aead"), ("hmac(sha256)", "hash")]
ERRORS = ["esps_hdrops", "esps_replay", "esps_badauth", "esps_badenc", "esps_crypto",
          "esps_invalid", "ahs_hdrops", "ahs_replay", "ahs_badauth", "ahs_badenc",
          "ahs_crypto", "ahs_invalid", "in_polvio", "out_inval", "exit_drops"]


def label(tmpl, sc):
    return "%s %s" % (tmpl, sc.name)


# What the suite runs by default (the whole set takes half an hour under
# TCG): AES-GCM through cryptd against XFRM both ways and against
# ourselves, AH through cryptd and AES-GCM through pcrypt against
# ourselves, and every teardown. KAME_DP_FULL=1 runs everything.
SUITE = r"^cryptd pair transport v4 esp aes-gcm-16$|^cryptd pair transport v4 ah |^pcrypt |teardown"
SUITE_IMPLS = {"cryptd pair transport v4 ah hmac-sha256": "kame/kame"}


def selected():
    """The cases, implementation pairs and teardowns the environment asks
    for (the suite's few by default, everything with KAME_DP_FULL=1)."""
    full = os.environ.get("KAME_DP_FULL") == "1" or "KAME_ASYNC_ONLY" in os.environ
    only = re.compile(os.environ.get("KAME_ASYNC_ONLY", "" if full else SUITE))
    pairs = re.compile(os.environ.get("KAME_ASYNC_IMPLS", ""))
    cases = [c[:4] + ([i for i in c[4] if pairs.search("/".join(i))
                       and (full or SUITE_IMPLS.get(label(c[0], c[1]), "/".join(i))
                            == "/".join(i))],)
             for c in CASES if only.search(label(c[0], c[1]))]
    tds = re.compile(os.environ.get("KAME_ASYNC_TEARDOWN", ""))
    teardowns = [t for t in TEARDOWN if tds.search(t)] if only.search("teardown") else []
    return cases, teardowns


def setkey(topo, node, text, timeout=120):
    r = topo.run(node, SETKEY, "-c", input=text, check=False, timeout=timeout)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        raise RuntimeError("setkey in %s: %s%s" % (node, r.stdout, r.stderr))


def stats(topo, node):
    """Every kame_ipsec counter of `node`, name -> value (histogram rows
    as "histogram algorithm" -> value)."""
    out = topo.run(node, "cat", *("/proc/net/kame_ipsec/" + f
                                  for f in ("ipsecstat", "espstat", "ahstat"))).stdout
    return {" ".join(k): int(v) for *k, v in (line.split() for line in out.splitlines())}


def negative_control(k, tmpl, sc, name):
    """Without an instance, NAME is a synchronous driver and our SAs take
    it: the same refcnt measurement the async cases make."""
    desc = "%s: sync: %s resolves to a synchronous driver our SAs use" % (label(tmpl, sc), name)
    try:
        with Topology() as topo:
            e = cu.resolve(name)
            if e is None:
                # Nothing instantiated yet: the first SA builds it.
                Config(sc, topo).install("a", "kame")
                setkey(topo, "a", "flush;\nspdflush;\n")
                e = cu.resolve(name)
            driver = e["driver"]
            before = cu.refcnt(driver)
            Config(sc, topo).install("a", "kame")
            added = cu.refcnt(driver)
            setkey(topo, "a", "flush;\n")
            after = cu.wait_refcnt(driver, before)
        # Each SA's transform holds the driver once, twice where an ahash
        # is built over an shash (crypto_init_ahash_using_shash() takes
        # its own reference): a positive, even rise for our two SAs.
        rise = added - before
        ok = (not driver.startswith(("cryptd(", "pcrypt(")) and rise > 0 and rise % 2 == 0 and
              after == before)
        k.test(ok, desc + " (%s)" % driver, "%s: refcnt %s, with our 2 SAs %s, after flush %s"
               % (driver, before, added, after))
    except Exception as ex:
        k.test(False, desc, "%s: %s" % (type(ex).__name__, ex))


def spis_of(cfg, node, topo, proto):
    addr = topo.addr(node, 4)
    out = [sa.spi for sa in cfg.sas if sa.proto == proto and sa.src == addr]
    inn = [sa.spi for sa in cfg.sas if sa.proto == proto and sa.dst == addr]
    return out, inn


def stats_add_up(topo, cfg, impls, packets):
    """(ok, diagnostics): each kame_ipsec end's counters against the wire."""
    seqs = {}
    for _, _, chain, _ in packets:
        for _, spi, _ in chain:
            if spi is not None:
                seqs[spi] = seqs.get(spi, 0) + 1
    bad, notes = [], []
    for node, impl in zip(cfg.sc.peers, impls):
        if impl != "kame":
            continue
        st = stats(topo, node)
        for proto, pre in (("esp", "esps"), ("ah", "ahs")):
            if proto not in cfg.sc.protos:
                continue
            out, inn = spis_of(cfg, node, topo, proto)
            wire_out, wire_in = sum(seqs.get(s, 0) for s in out), sum(seqs.get(s, 0) for s in inn)
            notes.append("%s: %s_output %d, on the wire %d; %s_input %d, on the wire %d" % (
                node, pre, st[pre + "_output"], wire_out, pre, st[pre + "_input"], wire_in))
            if st[pre + "_output"] != wire_out or st[pre + "_input"] != wire_in or wire_in == 0:
                bad.append("%s: %s counts differ from the wire" % (node, pre))
        outer = "ahs" if "ah" in cfg.sc.protos else "esps"
        if st["in_success"] != st[outer + "_input"]:
            bad.append("%s: in_success %d, %s_input %d" % (node, st["in_success"], outer,
                                                           st[outer + "_input"]))
        errs = {e: st[e] for e in ERRORS if st.get(e)}
        if errs:
            bad.append("%s: drops %s" % (node, errs))
    return not bad, "\n".join(bad + notes)


def run_impl(k, tmpl, sc, impls, driver):
    """One scenario through the instance: the PER_IMPL lines."""
    lab = "%s %s: " % ("/".join(impls), label(tmpl, sc))
    res = {}
    try:
        with Topology() as topo:
            cfg = Config(sc, topo)
            kame = [n for n, i in zip(sc.peers, impls) if i == "kame"]
            want = 2 * len(sc.protos) * len(kame)
            # The previous pair's XFRM transforms go with its bundles,
            # lazily: wait until only the registration holds the instance.
            before = cu.wait_refcnt(driver, 1, secs=30)
            for n in kame:
                cfg.install(n, "kame")
            added = cu.refcnt(driver)
            res["SAs use it"] = (added == before + want, "%s refcnt %s, with %d SAs of ours %s"
                                 % (driver, before, want, added))
            for n, i in zip(sc.peers, impls):
                if i == "xfrm":
                    cfg.install(n, "xfrm")
            traffic, _, cap = case.exercise(topo, cfg, MIB)
            res.update(traffic)
            res["stats add up"] = stats_add_up(topo, cfg, impls, cap.packets())
            cap.remove()
            # Our SAs go first, while XFRM's states (and the bundles that
            # keep them, freed lazily) still hold theirs: the fall is ours.
            mid = cu.refcnt(driver)
            for n in kame:
                setkey(topo, n, "flush;\n")
            after = cu.wait_refcnt(driver, mid - want)
            res["freed on delete"] = (after == mid - want,
                                      "refcnt %s with our %d SAs, %s after SADB_FLUSH (want %s)"
                                      % (mid, want, after, mid - want))
            for n, i in zip(sc.peers, impls):
                if i == "xfrm":
                    topo.run(n, "ip", "xfrm", "state", "flush")
    except Exception as ex:
        res = {n: (False, "%s: %s" % (type(ex).__name__, ex)) for n in PER_IMPL}
    for n in PER_IMPL:
        r = res.get(n, (False, "not reached"))
        k.test(r[0], lab + n, r[1])


def run_case(k, tmpl, sc, name, kind, impls):
    negative_control(k, tmpl, sc, name)
    lab = label(tmpl, sc)
    try:
        driver = cu.new_instance(tmpl, name, kind)
        got = cu.resolve(name)
        ok = got is not None and got["driver"] == driver
        k.test(ok, "%s: %s instance: %s resolves to %s" % (lab, tmpl, name, driver),
               "resolves to %s" % (got and got["driver"]))
    except Exception as ex:
        k.test(False, "%s: %s instance" % (lab, tmpl), "%s: %s" % (type(ex).__name__, ex))
        driver = None
    for impls_ in impls:
        if driver is None:
            for n in PER_IMPL:
                k.test(False, "%s %s: %s" % ("/".join(impls_), lab, n), "no instance")
        else:
            run_impl(k, tmpl, sc, impls_, driver)
    try:
        cu.del_instance(driver)
        k.test(cu.entry(driver) is None, "%s: %s instance deleted" % (lab, tmpl))
    except Exception as ex:
        k.test(False, "%s: %s instance deleted" % (lab, tmpl), "%s: %s" % (type(ex).__name__, ex))


def flood(topo, src, dst_addr):
    """A ping flood (1000-byte payloads) until killed."""
    return topo.popen(src, "ping", "-q", "-f", "-s", "1000", dst_addr,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def teardown(k, what, drivers):
    """Traffic through cryptd at both ends, then `what` while it runs."""
    res = {}
    mark = "kame-async: teardown %s" % what
    kmsg(mark)
    base = {d: cu.refcnt(d) for d in drivers}
    topo = Topology(prefix="dp-%d-td%d-" % (os.getpid(), TEARDOWN.index(what)))
    try:
        topo.__enter__()
        cfg = Config(BUNDLE, topo)
        for n in BUNDLE.peers:
            cfg.install(n, "kame")
        floods = [flood(topo, "a", topo.addr("b", 4)), flood(topo, "b", topo.addr("a", 4))]
        time.sleep(3)
        st = stats(topo, "a")
        used = {d: cu.refcnt(d) for d in drivers}
        res["traffic through cryptd"] = (
            st["esps_output"] > 0 and st["ahs_input"] > 0 and
            all(used[d] == base[d] + 4 for d in drivers),
            "a: esps_output %d, ahs_input %d; refcnt %s, before %s" % (
                st["esps_output"], st["ahs_input"], used, base))
        t = time.monotonic()
        if what == "SA delete":
            for n in BUNDLE.peers:
                setkey(topo, n, "".join("delete %s %s %s 0x%08x;\n" % (sa.src, sa.dst, sa.proto,
                                                                       sa.spi)
                                        for sa in cfg.sas), timeout=600)
            done = (True, "")
        elif what == "SADB_FLUSH":
            for n in BUNDLE.peers:
                setkey(topo, n, "flush;\n")
            done = (True, "")
        elif what == "netns exit":
            for p in floods:
                p.kill()
            topo.__exit__(None, None, None)
            topo = None
            done = (True, "")
        else:
            r = subprocess.run(["rmmod", "kame_ipsec"], capture_output=True, text=True)
            done = (r.returncode == 0, r.stderr)
            subprocess.run(["insmod", KO], check=True)
        res["done"] = (done[0], "%s (%.1f s)" % (done[1], time.monotonic() - t))
        print("# teardown %s took %.1f s" % (what, time.monotonic() - t), flush=True)
        after = {d: cu.wait_refcnt(d, base[d], secs=60) for d in drivers}
        res["transforms freed"] = (after == base, "refcnt %s, before %s" % (after, base))
    except Exception as ex:
        res.setdefault("done", (False, "%s: %s" % (type(ex).__name__, ex)))
    finally:
        if topo is not None:
            topo.__exit__(None, None, None)
    time.sleep(1)
    bad = splats_since(mark)
    res["no kernel splat"] = (not bad, "\n".join(bad[:20]))
    for n in TEARDOWN_CHECKS:
        r = res.get(n, (False, "not reached"))
        k.test(r[0], "teardown %s: %s" % (what, n), r[1])


def run_teardowns(k, teardowns):
    try:
        drivers = [cu.new_instance("cryptd", n, kind) for n, kind in BUNDLE_ALGS]
    except Exception as ex:
        for what in teardowns:
            for n in TEARDOWN_CHECKS:
                k.test(False, "teardown %s: %s" % (what, n), "%s: %s" % (type(ex).__name__, ex))
        k.test(False, "teardown: cryptd instances deleted", "not made")
        return
    for what in teardowns:
        teardown(k, what, drivers)
    try:
        for d in drivers:
            cu.del_instance(d)
        k.test(all(cu.entry(d) is None for d in drivers), "teardown: cryptd instances deleted")
    except Exception as ex:
        k.test(False, "teardown: cryptd instances deleted", "%s: %s" % (type(ex).__name__, ex))


def main():
    cases, teardowns = selected()
    plan = sum(3 + len(PER_IMPL) * len(c[4]) for c in cases) + 1
    if teardowns:
        plan += len(teardowns) * len(TEARDOWN_CHECKS) + 1
    k = Ktap(plan)
    for c in cases:
        run_case(k, *c)
    if teardowns:
        run_teardowns(k, teardowns)
    left = leftover("dp-%d-" % os.getpid())
    k.test(not left, "cleanup: every namespace created is gone", left)
    return k.finish()


if __name__ == "__main__":
    sys.exit(run_in_netns(main))
