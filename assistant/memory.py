"""Keep the live loop's resident memory level over weeks of turns (glibc only; elsewhere nothing).

The recogniser and the voice allocate and free tens of MB per turn from several native threads,
and glibc keeps what they free in per-thread arenas (up to eight per core) instead of handing it
back. On a Pi with 1 to 2 GB that is memory the rest of the device needs. Two arenas serve this
loop's few busy threads, and what is free is handed back after each turn, while the assistant
waits for the next one, so the cost falls between turns: in a 40-minute soak of `run` with
faults the process then rested at about 390 MB between turns instead of 520 (the soak's median
turn took 5.1 s with both, 5.15 s without; README, "The live loop under faults").

Reloading a voice leaves more. Loading hibari, breaking it and repairing it 40 times in one
process (Whisper hearing a recording and a reply spoken between) stayed level, then stepped up
12 MB at the tenth load and kept it. glibc raises its mmap threshold each time a large block that
had a mapping of its own is freed (up to 32 MB), so once a voice has been unloaded the next
model's blocks come from the arenas instead, mixed with the recogniser's buffers, and not all of
what they leave there goes back even with malloc_trim. With the threshold held at glibc's
starting value, large blocks keep mappings of their own and are returned whole when freed: the
same 30 reloads stayed within 0.5 MB, 24 MB lower, each cycle as quick.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 128 * 1024
"""glibc's own starting value, held there: blocks this size and larger get their own mapping."""


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


def tame_allocator(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Before the models load and their threads start: glibc fixes its arena limit the first time
    a thread needs a new arena, and a model loaded before the threshold is fixed may already sit
    in an arena, so either set later does less or nothing."""
    libc = _glibc()
    if libc is None:
        return False
    capped = bool(libc.mallopt(_M_ARENA_MAX, arenas))
    fixed = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
    log.debug("malloc arenas capped at %d: %s; mmap threshold fixed at %d: %s", arenas, capped, mmap_threshold, fixed)
    return capped and fixed


def give_back_free_memory() -> None:
    """Between turns: the pages freed inside every arena returned to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
