"""What `calf-assistant run` does with the signals a service manager or a terminal sends it.

SIGTERM (`systemctl stop`, a shutdown) ends the assistant the way Ctrl-C does: the conversation
so far is closed into the diary and the exit code is 0. SIGHUP (`systemctl reload`) reads the
settings file again and loads the voice afresh before the next turn, so a caregiver's change, or a
voice model put right, is taken up without a restart; a conversation going on carries on.

Left to their defaults, both signals would end the process on the spot, without closing the
diary entry; and systemd's Restart=on-failure treats SIGHUP and SIGTERM as clean ends, so an
assistant killed by a stray SIGHUP would never be started again.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: whatever ends cleanly on Ctrl-C ends cleanly on this."""


class Hangup:
    """A SIGHUP remembered until the loop is between two turns and can act on it."""

    def __init__(self) -> None:
        self._asked = threading.Event()

    def ask(self) -> None:
        self._asked.set()

    def take(self) -> bool:
        """True once for any number of SIGHUPs since the last call."""
        asked = self._asked.is_set()
        self._asked.clear()
        return asked


def install() -> tuple[Hangup, Callable[[], None]]:
    """SIGTERM and SIGHUP handled as above until the returned function puts the previous handlers back."""
    hangup = Hangup()
    if threading.current_thread() is not threading.main_thread():
        return hangup, lambda: None  # Python sets handlers from the main thread only (a test may run the loop elsewhere)

    def on_terminate(signum, frame) -> None:
        # Once is enough: a second SIGTERM must not cut into the diary write that closes the entry.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_terminate),
        signal.SIGHUP: signal.signal(signal.SIGHUP, lambda signum, frame: hangup.ask()),
    }

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return hangup, restore
