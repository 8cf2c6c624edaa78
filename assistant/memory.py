"""Keep the live loop's resident memory level over weeks of turns (glibc only; elsewhere nothing).

The recogniser and the voice allocate and free tens of MB per turn from several native threads,
and glibc keeps what they free in per-thread arenas (up to eight per core) instead of handing it
back. On a Pi with 1 to 2 GB that is memory the rest of the device needs. Two arenas serve this
loop's few busy threads, and what is free is handed back after each turn, while the assistant
waits for the next one, so the cost falls between turns: in a 40-minute soak of `run` with
faults the process then rested at about 390 MB between turns instead of 520 (the soak's median
turn took 5.1 s with both, 5.15 s without; README, "The live loop under faults").

Holding glibc's mmap threshold at its starting 128 KB was tried too: it took away a 12 MB step
that reloading a voice 40 times in one process showed, but each hearing took 40% longer (0.70 s
to 1.0 s median for a short utterance, and the voice's sentences as much), most likely because
each turn's large buffers were then mapped and unmapped afresh. One 12 MB step in 40 reloads
costs less than that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


@functools.cache
def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None  # musl, macOS: their allocators need neither call
    return libc


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Before the models load and their threads start: glibc fixes its arena limit the first time
    a thread needs a new arena, so a cap set later does nothing."""
    libc = _glibc()
    if libc is None:
        return False
    capped = bool(libc.mallopt(_M_ARENA_MAX, arenas))
    log.debug("malloc arenas capped at %d: %s", arenas, capped)
    return capped


def give_back_free_memory() -> None:
    """Between turns: the pages freed inside every arena returned to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
