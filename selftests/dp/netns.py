# SPDX-License-Identifier: GPL-2.0
"""Running Python code inside a named network namespace (`ip netns add`),
for the tests that open sockets there themselves: setns(2) moves only the
calling thread, and sockets it opens stay in that namespace afterwards."""
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_ns(name, fn):
    """fn() run with this thread in namespace `name`; back where it was
    after, whatever fn does."""
    # This thread's own namespace (setns moves one thread only).
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns " + name)
        return fn()
    finally:
        _libc.setns(orig, CLONE_NEWNET)
        os.close(fd)
        os.close(orig)
