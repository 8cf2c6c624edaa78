"""Test-wide isolation: no test reads or writes the real user's settings, diary or models."""

from __future__ import annotations

import os
import platform
import signal
import sys
from pathlib import Path

import pytest

# tests/helpers holds what unit and audio tests share (processes.py)
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))


# A suite started in the background (a non-interactive shell's `command &`, nohup in a script)
# inherits Ctrl-C ignored, and so would every process a test starts: the tests that press Ctrl-C
# on `run` and `setup` would wait for an exit that cannot come (seen in a CI replica started that
# way: both timed out, the rest passed). A handler here becomes the default again in each child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _one_numeric_path() -> dict[str, str]:
    """CTranslate2's settings that put Whisper on one numeric path on any x86-64 with AVX2.

    By default it picks Intel MKL on Intel processors and oneDNN on AMD ones, each at the widest
    instruction set present, and the small differences in rounding move borderline answers:
    espeak-ng's Indonesian yes/no corpus heard 33 of 42 right through oneDNN with AVX-512, 29
    through MKL, 24 with AVX2, and a yes became a no on two of those paths. CI machines differ, so
    the spoken tests hold their figures on one path; the assistant itself keeps the fastest one.
    One path narrows the spread without closing it: an AVX2-only EPYC still hears a few borderline
    utterances otherwise than an AVX-512 one on this path (capping numpy and OpenBLAS at AVX2 as
    well changed nothing on the AVX-512 machine), so the spoken bars hold the lower of the two.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}  # ARM builds have one backend (Ruy) and no such choice
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return {}
    if " avx2" not in flags:
        return {}
    return {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "DNNL_MAX_CPU_ISA": "AVX2"}


# Set before anything imports ctranslate2, and inherited by every process a test starts.
for _name, _value in _one_numeric_path().items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(autouse=True)
def _private_homes(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    for variable in ("CALF_ASSISTANT_CONFIG", "CALF_ASSISTANT_LANG", "CALF_ASSISTANT_EMERGENCY", "CALF_ASSISTANT_DEBUG"):
        monkeypatch.delenv(variable, raising=False)
    yield home
