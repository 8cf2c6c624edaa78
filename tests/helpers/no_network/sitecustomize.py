"""Test helper, never shipped: put this folder on PYTHONPATH to forbid network use in a process.

Python imports sitecustomize at start-up, so the audit hook is in place before any product code
runs. Every attempt to resolve a name or reach a non-local-socket address is written to the file
named by CALF_NETWORK_LOG (so an attempt the product catches and hides is still seen) and refused.
"""

import os
import socket
import sys

_LOG = os.environ.get("CALF_NETWORK_LOG", "")
_EVENTS = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname",
           "socket.gethostbyaddr", "socket.getnameinfo"}


def _record(event, detail):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as stream:
            stream.write(f"{event} {detail!r}\n")


def _hook(event, args):
    if event not in _EVENTS:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock = args[0]
        if getattr(sock, "family", None) == socket.AF_UNIX:
            return  # local IPC (e.g. a sound server's socket) is not the network
        detail = args[1] if len(args) > 1 else None
    else:
        detail = args[0] if args else None
    _record(event, detail)
    raise PermissionError(f"network access blocked by the test: {event} {detail!r}")


sys.addaudithook(_hook)
