#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic between two nodes of a Topology, each result (ok, diagnostics):
a ping sweep of sizes around the MTU; a TCP transfer whose SHA-256 is
computed by both ends, then a UDP echo exchange.

Run as a script, it is one end (server, client) inside a namespace; it
uses the standard library only.
"""
import hashlib
import os
import random
import socket
import subprocess
import sys
import threading

PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)
CHUNK = 1 << 20
UDP_SIZES = [1, 100, 1400, 3000, 8000]
TCP_PORT, UDP_PORT = 5201, 5301


def ping_sizes(mtu, fam):
    """ICMP payload sizes: tiny, typical, the IP packet at MTU-1, MTU and
    MTU+1 (before IPsec adds to it), and one fragmented before IPsec."""
    hdr = 28 if fam == 4 else 48
    return [1, 100, 1400, mtu - hdr - 1, mtu - hdr, mtu - hdr + 1, 3000]


def ping_sweep(topo, src, dst_addr, sizes):
    """Two echoes of each size, the sizes at once."""
    pings = [(size, topo.popen(src, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "3", "-s",
                               str(size), dst_addr, stdout=subprocess.PIPE, text=True))
             for size in sizes]
    bad = []
    for size, p in pings:
        out = p.communicate(timeout=60)[0]
        if p.returncode != 0:
            bad.append("size %d: %s" % (size, (out.strip().splitlines() or ["?"])[-1]))
    return not bad, "\n".join(bad)


def tcp_and_udp(topo, src, dst, dst_addr, nbytes, timeout=900):
    """src sends nbytes of seeded random data to dst over TCP, both ends
    hashing it, then UDP_SIZES datagrams that dst echoes: the two results.
    One helper process at each end (Python starts slowly under TCG)."""
    server = topo.popen(dst, PY, "-S", ME, "server", dst_addr, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
    if server.stdout.readline().strip() != "ready":
        fail = (False, "server did not start: " + server.stdout.read())
        return fail, fail
    client = topo.run(src, PY, "-S", ME, "client", dst_addr, str(nbytes), check=False,
                      timeout=timeout)
    server.kill()
    got = server.communicate()[0].strip()
    out = dict(line.split(" ", 1) for line in client.stdout.splitlines() if " " in line)
    sent = out.get("tcp", "")
    tcp = (sent == got and sent.startswith("%d " % nbytes),
           "sent: %s\nreceived: %s\n%s" % (sent, got, client.stderr.strip()))
    udp = (out.get("udp", "").startswith("all echoed"), out.get("udp", client.stderr.strip()))
    return tcp, udp


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def server(addr):
    """Echoes UDP (a thread, until killed); takes one TCP connection and
    prints its length and SHA-256."""
    u = socket.socket(family(addr), socket.SOCK_DGRAM)
    u.bind((addr, UDP_PORT))
    threading.Thread(target=udp_echo, args=(u,), daemon=True).start()
    srv = socket.create_server((addr, TCP_PORT), family=family(addr))
    print("ready", flush=True)
    srv.settimeout(600)
    conn, _ = srv.accept()
    h, n = hashlib.sha256(), 0
    while True:
        b = conn.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
    conn.close()
    print(n, h.hexdigest(), flush=True)
    threading.Event().wait()


def udp_echo(u):
    while True:
        b, peer = u.recvfrom(65535)
        u.sendto(b, peer)


def client(addr, nbytes):
    """Prints "tcp LENGTH SHA256" of what it sent, then "udp ..."."""
    rnd = random.Random(1)
    try:
        s = socket.create_connection((addr, TCP_PORT), timeout=30)
        h, left = hashlib.sha256(), nbytes
        while left:
            b = rnd.randbytes(min(CHUNK, left))
            s.sendall(b)
            h.update(b)
            left -= len(b)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        print("tcp", nbytes, h.hexdigest(), flush=True)
    except OSError as e:
        print("tcp failed:", e, flush=True)
    u = socket.socket(family(addr), socket.SOCK_DGRAM)
    u.settimeout(2)
    bad, resent = [], 0
    for i, size in enumerate(UDP_SIZES):
        b = bytes([i]) * size
        for _ in range(3):
            u.sendto(b, (addr, UDP_PORT))
            try:
                if u.recvfrom(65535)[0] == b:
                    break
            except socket.timeout:
                resent += 1
        else:
            bad.append(size)
    print("udp", "no echo of %s" % bad if bad else "all echoed", "(sizes %s, %d resent)" %
          (UDP_SIZES, resent))


if __name__ == "__main__":
    cmd, addr, *rest = sys.argv[1:]
    {"server": server, "client": client}[cmd](addr, *map(int, rest))
