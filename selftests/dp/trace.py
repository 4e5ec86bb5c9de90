# SPDX-License-Identifier: GPL-2.0
"""One tracepoint's events over a stretch of a test, read through tracefs
(mounted if it is not): Events("skb/kfree_skb").start(), then .stop()
gives the trace text recorded in between."""
import os
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
