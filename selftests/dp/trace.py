# SPDX-License-Identifier: GPL-2.0
"""One tracepoint's events over a stretch of a test, read through tracefs
(mounted if it is not): Events("skb/kfree_skb").start(), then .stop()
gives the trace text recorded in between."""
import os
import re
import subprocess

TRACING = "/sys/kernel/tracing"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Events:
    """The tracepoint `event` ("group/name")."""

    def __init__(self, event):
        self.event = event
        self.enable = "%s/events/%s/enable" % (TRACING, event)

    def available(self):
        if not os.path.exists(TRACING + "/events"):
            subprocess.run(["mount", "-t", "tracefs", "nodev", TRACING], check=False)
        return os.path.exists(self.enable)

    def start(self):
        write(TRACING + "/trace", "")
        write(self.enable, "1")

    def stop(self):
        """Turns the event off; the trace recorded since start()."""
        write(self.enable, "0")
        with open(TRACING + "/trace") as f:
            return f.read()


class Drops:
    """kame_ipsec's own drops (skb:kfree_skb from a kame_drop_* site) between
    start() and stop(), as (site, reason) pairs."""

    def __init__(self):
        self.ev = Events("skb/kfree_skb")

    def available(self):
        return self.ev.available()

    def start(self):
        self.ev.start()

    def stop(self):
        lines = [ln for ln in self.ev.stop().splitlines()
                 if "kfree_skb" in ln and "kame_drop_" in ln]
        out = []
        for ln in lines:
            m = re.search(r"location=(kame_drop_\w+)\S* .*reason: (\w+)", ln)
            out.append(m.groups() if m else ("?", ln.strip()))
        return out
