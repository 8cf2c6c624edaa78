"""Test-wide isolation: no test reads or writes the real user's settings, diary or models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/helpers holds what unit and audio tests share (processes.py)
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))


@pytest.fixture(autouse=True)
def _private_homes(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    for variable in ("CALF_ASSISTANT_CONFIG", "CALF_ASSISTANT_LANG", "CALF_ASSISTANT_EMERGENCY", "CALF_ASSISTANT_DEBUG"):
        monkeypatch.delenv(variable, raising=False)
    yield home
