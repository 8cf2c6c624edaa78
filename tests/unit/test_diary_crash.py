"""A pulled plug at any moment: the assistant killed with SIGKILL at random points, over many runs.

Every turn whose reply came out is in the diary (the turn is committed before its reply is
spoken), the file passes SQLite's integrity check, and the entry reads as cut off once its
writer is gone.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import diary
from processes import LineReader

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0
LINES = ["my calf cramps when I walk", "no", "no", "no", "yes", "no", "no", "no"]
RUNS = 12


class Talk:
    def __init__(self, *arguments: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant", *arguments], cwd=ROOT, env={**os.environ, "PULSE_SERVER": "unix:/none"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.reader = LineReader(self.process, TIMEOUT)
        self.line, self.send = self.reader.line, self.reader.send

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)


def check_diary(committed: list[str], in_flight: str | None) -> None:
    if not diary.diary_path().exists():
        assert not committed, "answered turns but no diary"
        return
    with sqlite3.connect(diary.diary_path()) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    entries = diary.load()
    if not committed:
        # nothing meaningful was answered yet: at most the turn in flight made an entry
        assert len(entries) <= 1
        return
    [entry] = entries
    heard = list(entry.heard)
    assert heard[: len(committed)] == committed, (heard, committed)
    assert heard[len(committed):] in ([], [in_flight]), (heard, committed, in_flight)
    if not entry.finished:
        assert not entry.in_progress, "a killed writer's entry must read as cut off, not in progress"


@pytest.mark.parametrize("run", range(RUNS))
def test_chat_killed_at_a_random_point_loses_no_committed_turn(run, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    chance = random.Random(run)
    answered = chance.randint(0, len(LINES) - 1)
    talk = Talk("chat", "--json")
    talk.line()  # the greeting
    committed: list[str] = []
    for text in LINES[:answered]:
        talk.send(text)
        reply = json.loads(talk.line())
        committed.append(text)
        if reply["done"]:
            break
    in_flight = None
    if chance.random() < 0.5 and len(committed) < len(LINES):
        # killed while the next turn is being worked on (or written)
        in_flight = LINES[len(committed)]
        talk.send(in_flight)
        time.sleep(chance.uniform(0.0, 0.05))
    talk.kill()
    check_diary(committed, in_flight)


def test_the_live_loop_killed_mid_conversation_keeps_its_turns(tmp_path, monkeypatch):
    """The typed live loop (no microphone here) goes through the same Conversation."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    talk = Talk("run", "--typed")
    talk.line()  # "Type what you feel, then press Enter."
    committed = []
    for text in LINES[:3]:
        talk.send(text)
        talk.line()
        committed.append(text)
        time.sleep(0.2)
    talk.kill()
    check_diary(committed, None)
