"""What the assistant's two Wyoming clients share (speech recognition and a voice on a machine at
home): reading the configured address, asking a service what it offers, and how long to leave a
service alone after it failed.

A switched-off server must not cost every turn a timeout, and must not be given up on for good
either: after a failure it is tried again after FIRST_BACK_OFF seconds, then twice as long each
time it fails again, up to MAX_BACK_OFF, and back to the start once it answers.
"""

from __future__ import annotations

import asyncio
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


class Unavailable(Exception):
    """The service could not be asked; the message says why, for one line to the caregiver."""


async def read_answer(client, kind, broke_off: type[Exception], why: str):
    """The first event of `kind` (a wyoming event class) the service sends; raises broke_off(why)
    when it hangs up first. Other events (a service may send its own) are passed over."""
    while True:
        event = await client.read_event()
        if event is None:
            raise broke_off(why)
        if kind.is_type(event.type):
            return kind.from_event(event)


async def _describe(host: str, port: int):
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info

    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Describe().event())
        return await read_answer(client, Info, Unavailable, "it closed the connection")


def describe(uri: str, timeout: float = 5.0):
    """The service's `info` (its programs, models, voices and their languages)."""
    address = tcp_address(uri)
    if address is None:
        raise Unavailable(f"'{uri}' is not a Wyoming address like tcp://192.168.1.20:10300")
    try:
        return asyncio.run(asyncio.wait_for(_describe(*address), timeout))
    except asyncio.TimeoutError:
        raise Unavailable(f"it did not answer 'describe' within {timeout:g} s") from None
    except OSError as error:
        raise Unavailable(f"it cannot be reached ({error.strerror or error})") from None


def speaks(codes, language: str) -> bool:
    """True when one of a service's language codes (en_US, id-ID, id) is the language."""
    return any(code.replace("-", "_").split("_")[0].lower() == language for code in codes)


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
