"""`calf-assistant chat --json --audio` for real: espeak-ng recordings, Whisper base, the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import speech_maker
from assistant.knowledge import load_knowledge

pytestmark = pytest.mark.audio

REPO = Path(__file__).resolve().parents[2]


def test_a_spoken_conversation_through_chat_audio_survives_a_missing_file(tmp_path):
    story = speech_maker.speak("I get a cramp in my calf when I walk.", tmp_path / "story.wav", "en-us")
    yes = speech_maker.speak("Yes.", tmp_path / "yes.wav", "en-us")
    missing = tmp_path / "no-such-turn.wav"
    lines = "\n".join(str(path) for path in (story, missing, yes)) + "\n"
    done = subprocess.run([sys.executable, "-m", "assistant", "chat", "--json", "--audio", "--lang", "en"],
                          cwd=REPO, input=lines, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(objects) == 4, done.stdout  # the greeting, then one object per line
    greeting, told, broken, answered = objects
    assert "transcript" not in greeting
    assert "cramp" in told["transcript"] and told["expect"] == "yes_no"
    assert broken["transcript"] == "" and broken["reply"] == load_knowledge().pack("en").reply("recording_unreadable")
    assert broken["expect"] == "yes_no", "a broken file changes nothing in the conversation"
    assert answered["transcript"] == "yes"
    assert load_knowledge().pack("en").reply("answer_unclear") not in answered["reply"]
    notes = [line for line in done.stderr.splitlines() if line.startswith("calf-assistant: ")]
    assert len(notes) == 1 and missing.name in notes[0], done.stderr
    assert "Traceback" not in done.stderr
