"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def buzz_is_speech(monkeypatch):
    """The live-loop tests speak with fakes.voice, a harmonic buzz: webrtcvad takes it for a voice,
    Silero (the default detector) rightly does not. These tests are about the loop, not the
    detector, so they listen with webrtcvad; Silero is tested on real speech in tests/audio."""
    from assistant import endpoint

    monkeypatch.setattr(endpoint, "speech_test_for", endpoint.webrtc_speech_test)
