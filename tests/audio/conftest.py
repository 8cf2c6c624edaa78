"""Fixtures for the spoken tests: one prepared models folder and one audio folder per session.

The test-wide conftest gives every test a fresh XDG data folder; models are too big to prepare per
test, so the audio tests share one folder through CALF_ASSISTANT_MODELS for the whole session.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_maker  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def shared_models(tmp_path_factory):
    from assistant import models

    folder = tmp_path_factory.mktemp("models")
    previous = os.environ.get("CALF_ASSISTANT_MODELS")
    os.environ["CALF_ASSISTANT_MODELS"] = str(folder)
    models.prepare()
    yield folder
    if previous is None:
        os.environ.pop("CALF_ASSISTANT_MODELS", None)
    else:
        os.environ["CALF_ASSISTANT_MODELS"] = previous


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("spoken")


@pytest.fixture(scope="session")
def speech():
    """The speech_maker module, for tests that make their own recordings."""
    return speech_maker

# PulseAudio virtual microphone and speaker for the live-path tests (see virtual_audio.py).
from virtual_audio import pulse, pulse_server, speaker_recording, virtual_microphone  # noqa: E402,F401
