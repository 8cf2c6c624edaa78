"""What the assistant's two Wyoming clients share (speech recognition and a voice on a machine at
home): reading the configured address, and how long to leave a service alone after it failed.

A switched-off server must not cost every turn a timeout, and must not be given up on for good
either: after a failure it is tried again after FIRST_BACK_OFF seconds, then twice as long each
time it fails again, up to MAX_BACK_OFF, and back to the start once it answers.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

FIRST_BACK_OFF = 30.0
MAX_BACK_OFF = 600.0


def tcp_address(uri: str) -> tuple[str, int] | None:
    """(host, port) of tcp://HOST:PORT; None when the setting is not such an address."""
    parsed = urlparse(uri)
    try:
        port = parsed.port
    except ValueError:  # a port that is not a number
        return None
    if parsed.scheme != "tcp" or not parsed.hostname or not port:
        return None
    return parsed.hostname, port


class BackOff:
    """When a failed service may be tried again."""

    def __init__(self, clock=time.monotonic, first: float = FIRST_BACK_OFF, most: float = MAX_BACK_OFF):
        self._clock = clock
        self._first, self._most = first, most
        self._wait = first
        self._retry_at = 0.0

    def ready(self) -> bool:
        return self._clock() >= self._retry_at

    def failed(self) -> float:
        """Note a failure; returns the seconds until the next try."""
        wait = self._wait
        self._retry_at = self._clock() + wait
        self._wait = min(self._most, wait * 2)
        return wait

    def succeeded(self) -> None:
        self._wait = self._first
        self._retry_at = 0.0
