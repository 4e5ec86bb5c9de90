#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic between two nodes of a Topology, each function returning
(ok, diagnostics): a ping sweep of sizes around the MTU, a TCP transfer
whose SHA-256 is computed by both ends, a UDP echo exchange.

Run as a script, it is the far end (tcp-server, tcp-client, udp-echo,
udp-client) inside a namespace; it uses the standard library only.
"""
import hashlib
import os
import random
import socket
import subprocess
import sys

PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)
CHUNK = 1 << 20
UDP_SIZES = [1, 100, 1400, 3000, 8000]


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


def tcp_transfer(topo, src, dst, dst_addr, nbytes, port=5201, timeout=900):
    """src sends nbytes of seeded random data to dst; both hash it."""
    server = topo.popen(dst, PY, ME, "tcp-server", dst_addr, str(port),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if server.stdout.readline().strip() != "ready":
        return False, "server did not start: " + server.stdout.read()
    client = topo.run(src, PY, ME, "tcp-client", dst_addr, str(port), str(nbytes), "1",
                      check=False, timeout=timeout)
    try:
        got = server.communicate(timeout=60)[0].strip()
    except subprocess.TimeoutExpired:
        server.kill()
        got = "(server still reading)"
    sent = client.stdout.strip()
    ok = client.returncode == 0 and sent == got and sent.startswith("%d " % nbytes)
    return ok, "sent: %s %s\nreceived: %s" % (sent, client.stderr.strip(), got)


def udp_exchange(topo, src, dst, dst_addr, port=5301):
    server = topo.popen(dst, PY, ME, "udp-echo", dst_addr, str(port),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if server.stdout.readline().strip() != "ready":
        return False, "server did not start: " + server.stdout.read()
    r = topo.run(src, PY, ME, "udp-client", dst_addr, str(port), check=False, timeout=120)
    server.kill()
    server.wait()
    out = (r.stdout + r.stderr).strip()
    print("# " + out, flush=True)
    return r.returncode == 0, out


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def tcp_server(addr, port):
    srv = socket.create_server((addr, port), family=family(addr))
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
    print(n, h.hexdigest())


def tcp_client(addr, port, nbytes, seed):
    rnd = random.Random(seed)
    s = socket.create_connection((addr, port), timeout=120)
    h, left = hashlib.sha256(), nbytes
    while left:
        b = rnd.randbytes(min(CHUNK, left))
        s.sendall(b)
        h.update(b)
        left -= len(b)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    print(nbytes, h.hexdigest())


def udp_echo(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        b, peer = s.recvfrom(65535)
        s.sendto(b, peer)


def udp_client(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(2)
    bad, resent = [], 0
    for i, size in enumerate(UDP_SIZES):
        b = bytes([i]) * size
        for _ in range(3):
            s.sendto(b, (addr, port))
            try:
                if s.recvfrom(65535)[0] == b:
                    break
            except socket.timeout:
                resent += 1
        else:
            bad.append(size)
    print("udp sizes %s: %s, %d resent" % (UDP_SIZES, "no echo of %s" % bad if bad else
                                          "all echoed", resent))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    cmd, addr, port, *rest = sys.argv[1:]
    {"tcp-server": tcp_server, "tcp-client": tcp_client, "udp-echo": udp_echo,
     "udp-client": udp_client}[cmd](addr, int(port), *map(int, rest))
