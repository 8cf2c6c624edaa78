"""Which of a Wyoming voice service's voices speaks each language (from its `describe`), with a
stand-in `describe`; the real wyoming-piper is in tests/audio/test_remote_voice.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from assistant.errors import SynthesisError
from assistant.synthesis import wyoming

PIPER = {"en_GB-alan-low": ["en_GB"], "en_US-joe-medium": ["en_US"], "id_ID-news_tts-medium": ["id_ID"],
         "de_DE-thorsten-low": ["de_DE"]}


def service(monkeypatch, voices: dict[str, list[str]]):
    asked = []

    def describe(uri, timeout=5.0):
        asked.append(uri)
        listed = [SimpleNamespace(name=name, languages=codes) for name, codes in voices.items()]
        return SimpleNamespace(tts=[SimpleNamespace(voices=listed)] if voices else [])

    monkeypatch.setattr(wyoming, "describe", describe)
    return asked


@pytest.mark.parametrize(
    ("named", "language", "voice"),
    [("en_US-joe-medium", "en", "en_US-joe-medium"),
     ("en_US-joe-medium", "id", "id_ID-news_tts-medium"),  # never the English voice for Indonesian
     ("en_US-joe-medium, id_ID-news_tts-medium", "id", "id_ID-news_tts-medium"),
     ("de_DE-thorsten-low,en_US-joe-medium", "en", "en_US-joe-medium"),
     ("", "en", "en_GB-alan-low"),
     ("my-own-voice", "id", "my-own-voice")],  # not listed: the caregiver's call
)
def test_each_language_gets_a_voice_that_speaks_it(monkeypatch, named, language, voice):
    service(monkeypatch, PIPER)
    assert wyoming.WyomingEngine("tcp://10.0.0.2:10200", named).voice_for(language) == voice


def test_a_language_the_service_cannot_speak_is_left_to_the_device(monkeypatch):
    service(monkeypatch, {"en_US-joe-medium": ["en_US"]})
    with pytest.raises(SynthesisError, match="no voice for language 'id'"):
        wyoming.WyomingEngine("tcp://10.0.0.2:10200", "en_US-joe-medium").voice_for("id")


def test_a_service_that_lists_no_voices_gets_the_named_one_or_its_default(monkeypatch):
    service(monkeypatch, {})
    assert wyoming.WyomingEngine("tcp://10.0.0.2:10200", "").voice_for("id") == ""
    assert wyoming.WyomingEngine("tcp://10.0.0.2:10200", "x").voice_for("id") == "x"


def test_the_service_is_asked_once_per_language(monkeypatch):
    asked = service(monkeypatch, PIPER)
    engine = wyoming.WyomingEngine("tcp://10.0.0.2:10200", "en_US-joe-medium")
    for _ in range(3):
        engine.voice_for("en")
    assert len(asked) == 1
