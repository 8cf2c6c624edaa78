"""The live loop's memory housekeeping, on this machine's own allocator (a subprocess each)."""

import subprocess
import sys
import textwrap

from assistant import memory


def test_the_device_allocator_is_glibc():
    # Debian and Raspberry Pi OS are glibc systems: if the calls are missing, the fix is not in use.
    assert memory._glibc() is not None


# Freed blocks below the topmost one stay in the heap: what a turn's native buffers leave behind.
_FREED_IN_A_THREAD = textwrap.dedent("""
    import ctypes, threading
    from assistant import memory

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def resident_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    def work():
        blocks = [libc.malloc(64 * 1024) for _ in range(1600)]
        for block in blocks:
            ctypes.memset(block, 1, 64 * 1024)
        for block in blocks[:-1]:
            libc.free(block)

    {before}
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    held = resident_mb()
    memory.give_back_free_memory()
    print(held, resident_mb())
""")


def _run(before: str = "") -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _FREED_IN_A_THREAD.format(before=before)],
                         capture_output=True, text=True, check=True).stdout
    held, after = map(float, out.split())
    return held, after


def test_memory_freed_by_a_turn_is_handed_back_between_turns():
    held, after = _run()
    assert held - after > 60, (held, after)  # of the 100 MB freed, most goes back


def test_the_arena_cap_is_accepted_before_threads_start():
    held, after = _run("assert memory.cap_arenas()")
    assert held - after > 60, (held, after)
