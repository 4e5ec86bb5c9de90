#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A small PF_KEY v2 client for the selftests (raw messages, no parsing
beyond the base header).  As a command:

  pfkey_probe.py create [TYPE [PROTO]]   open a socket, print ok or the errno name
  pfkey_probe.py hold                    open a socket, print "ready", wait for stdin EOF
  pfkey_probe.py send TYPE [SEQ]         send a bare header, print the reply header
"""
import ctypes
import errno
import os
import select
import socket
import struct
import sys

PF_KEY = 15
PF_KEY_V2 = 2
SOCK_RAW = socket.SOCK_RAW
HDR = struct.Struct("=BBBBHHII")  # struct sadb_msg


def errname(e):
    if e.errno == errno.EOPNOTSUPP:  # Python names 95 ENOTSUP, its alias
        return "EOPNOTSUPP"
    return errno.errorcode.get(e.errno, str(e.errno))


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def recvmsg_raw(s, bufsize, flags=0):
    """recvmsg(2) without a name buffer (Python's recvmsg wants to know the
    address family's sockaddr size).  Returns (return value, bytes, msg_flags)."""
    return recvmsg_iov(s, [bufsize], flags)


def recvmsg_iov(s, sizes, flags=0):
    """recvmsg(2), without a name buffer, into one iovec per size in `sizes`:
    returns (return value, the bytes of all iovecs joined, msg_flags)."""
    bufs = [ctypes.create_string_buffer(n) for n in sizes]
    iovs = (_Iovec * len(sizes))(*[_Iovec(ctypes.cast(b, ctypes.c_void_p), n)
                                   for b, n in zip(bufs, sizes)])
    msg = _Msghdr(None, 0, iovs, len(sizes), None, 0, 0)
    n = _libc.recvmsg(s.fileno(), ctypes.byref(msg), flags)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return n, b"".join(b.raw for b in bufs)[:n], msg.flags


def recv_at(s, addr, bufsize, flags=0):
    """recv(2) to the raw address `addr`: the return value, or -errno."""
    n = _libc.recv(s.fileno(), ctypes.c_void_p(addr), bufsize, flags)
    return n if n >= 0 else -ctypes.get_errno()


def open_pfkey(sock_type=SOCK_RAW, proto=PF_KEY_V2):
    return socket.socket(PF_KEY, sock_type, proto)


def header(msg_type, satype=0, seq=0, pid=0, version=PF_KEY_V2, reserved=0,
           length=2, errno_=0):
    return HDR.pack(version, msg_type, errno_, satype, length, reserved, seq, pid)


def decode(buf):
    v, t, e, sa, ln, rsv, seq, pid = HDR.unpack(buf[:HDR.size])
    return dict(version=v, type=t, errno=e, satype=sa, len=ln, reserved=rsv,
                seq=seq, pid=pid)


def try_send(s, buf, flags=0):
    """Writes buf; returns the count written or the errno name."""
    try:
        return s.send(buf, flags)
    except OSError as e:
        return errname(e)


def try_recv(s, bufsize, flags=0):
    """Reads one message; returns its bytes or the errno name."""
    try:
        return s.recv(bufsize, flags)
    except OSError as e:
        return errname(e)


def read_reply(s, timeout=1.0, bufsize=65536):
    """The next message queued for s, or None if none arrives in time."""
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return None
    return s.recv(bufsize)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "create":
        sock_type = int(argv[2]) if len(argv) > 2 else SOCK_RAW
        proto = int(argv[3]) if len(argv) > 3 else PF_KEY_V2
        try:
            open_pfkey(sock_type, proto).close()
            print("ok")
        except OSError as e:
            print(errname(e))
        return 0
    if cmd == "hold":
        s = open_pfkey()
        print("ready", flush=True)
        sys.stdin.read()
        s.close()
        return 0
    if cmd == "send":
        s = open_pfkey()
        seq = int(argv[3]) if len(argv) > 3 else 1
        n = try_send(s, header(int(argv[2]), seq=seq, pid=os.getpid()))
        rep = read_reply(s)
        print("write=%s reply=%s" % (n, decode(rep) if rep else None))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
