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

import contextlib
import signal
import threading
from typing import Callable, Iterator

# What a person or a service manager sends; Python acts on them in the main thread only.
ASKED_OF_THE_MAIN_THREAD = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


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


def leave_to_the_main_thread() -> None:
    """Block Ctrl-C, SIGTERM and SIGHUP in the calling (worker) thread and the threads it starts.

    The kernel hands a process's signal to any thread that does not block it; one that lands in
    a thread waiting on the sound device interrupts its system call there for nothing, since
    Python acts on signals in the main thread only. Blocked elsewhere, they reach the main thread.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, ASKED_OF_THE_MAIN_THREAD)


@contextlib.contextmanager
def held_back_from_new_threads() -> Iterator[None]:
    """Threads started inside (a sound stream's callback thread, say) are born blocking the signals
    above, as a new thread inherits its creator's mask; the main thread's own mask is then put back,
    and a signal that came meanwhile is delivered there."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, ASKED_OF_THE_MAIN_THREAD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
