"""Which engine speaks, and how a failing one hands over to espeak-ng: the logic alone, with
stand-in engines (tests/audio/test_voices.py breaks real voices and hears what is said)."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from assistant.config import ConfigError, Settings, VoiceSettings, from_table
from assistant.errors import KnowledgeError
from assistant.synthesis import profile as profile_module
from assistant.synthesis import voices
from assistant.synthesis.profile import EngineChoice, load_voice
from assistant.synthesis.voices import Voice, chosen


def _settings(engine: str = "", rate: float = 1.0) -> Settings:
    return replace(Settings(), voice=VoiceSettings(rate=rate, engine=engine))


@pytest.fixture
def installed(monkeypatch):
    """Pretend exactly these engines are installed."""
    present: set[str] = set()
    monkeypatch.setattr(voices, "engine_installed", lambda choice: choice.name in present)
    return present


def test_the_first_installed_engine_of_the_profile_speaks(installed):
    assert chosen(load_voice("en")) is None  # nothing natural installed: espeak-ng
    installed.add("piper")
    assert chosen(load_voice("en")).name == "piper"
    installed.add("hibari")
    assert chosen(load_voice("en")).name == "hibari"
    assert chosen(load_voice("id")).name == "piper"


def test_the_caregivers_choice_wins_where_the_language_has_that_engine(installed):
    installed.update({"hibari", "piper"})
    assert chosen(load_voice("en", _settings("piper"))).name == "piper"
    assert chosen(load_voice("en", _settings("espeak"))) is None
    # hibari speaks only English: for Indonesian the profile's own preference applies.
    assert chosen(load_voice("id", _settings("hibari"))).name == "piper"
    # A chosen engine that is missing is still chosen, so its failure is logged and doctor shows it.
    installed.clear()
    assert chosen(load_voice("en", _settings("piper"))).name == "piper"


def test_a_voice_chosen_while_the_preferred_file_was_missing_is_let_go_when_it_is_back(installed):
    # The caregiver replaces hibari's model: for a moment there is no file and Piper is chosen.
    pool = voices.Voices()
    installed.add("piper")
    stand_in = pool.for_profile(load_voice("en"))
    indonesian = pool.for_profile(load_voice("id"))
    installed.add("hibari")
    back = pool.for_profile(load_voice("en"))
    assert back.choice.name == "hibari" and stand_in.choice.name == "piper"
    assert set(pool._voices.values()) == {back, indonesian}, "Piper's English voice is no longer held"
    assert pool.for_profile(load_voice("en")) is back, "the voice in use is kept, not made again"


def test_slower_scales_every_engines_pace():
    normal, slower = load_voice("en"), load_voice("en", _settings(rate=0.8))
    assert slower.hibari_speed == pytest.approx(normal.hibari_speed * 0.8)
    assert slower.piper_length_scale == pytest.approx(normal.piper_length_scale / 0.8)
    assert slower.rate == round(normal.rate * 0.8)


class _Engine:
    def __init__(self, fail_after: int | None = None):
        self.calls, self.fail_after = 0, fail_after

    def render(self, text, profile):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("the model stopped")
        return np.ones(100, dtype=np.int16), 24000


def _fallback(said: list[str]):
    def speak(text, profile):
        said.append(text)
        return np.ones(50, dtype=np.int16), 22050

    return speak


def test_a_voice_that_does_not_load_is_logged_once_and_espeak_ng_says_everything(caplog):
    said: list[str] = []
    attempts = []

    def broken(choice):
        attempts.append(choice)
        raise OSError("hibari.onnx: invalid protobuf")

    voice = Voice(EngineChoice("hibari", "heart", 0.85), load=broken, fallback=_fallback(said))
    profile = load_voice("en")
    with caplog.at_level(logging.WARNING):
        for sentence in ("One.", "Two.", "Three."):
            assert voice(sentence, profile)[1] == 22050
    assert said == ["One.", "Two.", "Three."] and len(attempts) == 1
    assert len(caplog.records) == 1 and "hibari did not load (OSError" in caplog.records[0].getMessage()
    assert voice.engine_name == "espeak"


def test_a_failure_while_speaking_hands_that_same_sentence_to_espeak_ng(caplog):
    said: list[str] = []
    voice = Voice(EngineChoice("piper", "piper-x", 1.2), load=lambda choice: _Engine(fail_after=2),
                  fallback=_fallback(said))
    profile = load_voice("en")
    rates = [voice(sentence, profile)[1] for sentence in ("One.", "Two.", "Three.")]
    assert rates == [24000, 22050, 22050] and said == ["Two.", "Three."]
    assert "piper failed to speak" in voice.problem


def test_a_voice_service_that_comes_back_is_used_again_without_a_sentence_waiting(caplog):
    """A Wyoming voice: down at start, so espeak-ng speaks; tried again in the background only
    after the back-off; once it answers, the next sentence is the service's again."""
    now, up, said = [0.0], [False], []

    def service(choice):
        if not up[0]:
            raise OSError("connection refused")
        return _Engine()

    voice = Voice(EngineChoice("wyoming", "", 1.0, "tcp://127.0.0.1:10200"), load=service,
                  fallback=_fallback(said), clock=lambda: now[0])
    profile = load_voice("en")
    with caplog.at_level(logging.WARNING):
        voice.load()
    assert "trying the service again in 30 s" in caplog.records[-1].getMessage()
    up[0] = True
    now[0] = 10.0
    assert voice("One.", profile)[1] == 22050  # still within the back-off: no try at all
    voice.wait_for_retry(5)
    assert voice.engine_name == "espeak"
    now[0] = 31.0
    assert voice("Two.", profile)[1] == 22050, "the sentence in hand never waits for the try"
    voice.wait_for_retry(5)
    assert voice.engine_name == "wyoming" and voice.problem == ""
    assert voice("Three.", profile)[1] == 24000 and said == ["One.", "Two."]
    assert "voice back" in caplog.records[-1].getMessage()


def test_a_service_still_down_is_tried_less_and_less_often():
    now, attempts = [0.0], []

    def refused(choice):
        attempts.append(now[0])
        raise OSError("connection refused")

    voice = Voice(EngineChoice("wyoming", "", 1.0, "tcp://127.0.0.1:10200"), load=refused,
                  fallback=_fallback([]), clock=lambda: now[0])
    profile = load_voice("en")
    voice.load()  # fails: the next try after 30 s
    for moment in (29.0, 30.0, 89.0, 90.0, 209.0, 210.0):
        now[0] = moment
        voice("A sentence.", profile)
        voice.wait_for_retry(5)
    assert attempts == [0.0, 30.0, 90.0, 210.0], "30 s, then 60 s, then 120 s"
    assert voice.engine_name == "espeak"


def test_a_broken_local_model_is_not_tried_again():
    attempts = []

    def broken(choice):
        attempts.append(choice)
        raise OSError("invalid protobuf")

    now = [0.0]
    voice = Voice(EngineChoice("piper", "piper-x", 1.2), load=broken, fallback=_fallback([]), clock=lambda: now[0])
    voice.load()
    now[0] = 10_000.0
    voice("One.", load_voice("en"))
    voice.wait_for_retry(5)
    assert len(attempts) == 1


def test_loading_happens_once_at_start_not_at_the_first_reply():
    engine = _Engine()
    voice = Voice(EngineChoice("hibari", "heart", 0.85), load=lambda choice: engine).load()
    assert engine.calls == 1, "the warm-up sentence was made at load"
    voice("Call 112 now.", load_voice("en"))
    assert engine.calls == 2


def test_a_broken_engine_list_in_a_voice_profile_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "en.toml").write_text('[synthesis]\nengines = ["hibari", "festival"]\n', encoding="utf-8")
    monkeypatch.setattr(profile_module, "data_dir", lambda name: tmp_path)
    with pytest.raises(KnowledgeError) as caught:
        load_voice("en")
    assert "voices/en.toml" in str(caught.value) and "engines" in str(caught.value) and "\n" not in str(caught.value)
    (tmp_path / "en.toml").write_text('[synthesis]\nengines = ["hibari"]\n[synthesis.hibari]\nspeed = 5\n', encoding="utf-8")
    with pytest.raises(KnowledgeError, match="speed must be between 0.5 and 2.0"):
        load_voice("en")


def test_an_unknown_voice_engine_in_the_settings_is_one_line():
    with pytest.raises(ConfigError) as caught:
        from_table({"voice": {"engine": "festival"}}, "config.toml")
    assert "voice.engine must be one of hibari, piper, espeak" in str(caught.value)


def test_the_mbrola_voice_is_preferred_when_installed_and_offered_when_not(tmp_path, monkeypatch):
    from assistant import wizard
    from assistant.models import load_engines
    from assistant.synthesis import profile

    monkeypatch.setattr(profile, "MBROLA_VOICES", tmp_path)
    assert profile.espeak_voice(["mb-id1", "id"]) == "id"
    (tmp_path / "id1").mkdir()
    (tmp_path / "id1" / "id1").write_bytes(b"diphones")
    assert profile.espeak_voice(["mb-id1", "id"]) == "mb-id1"
    assert profile.espeak_voice("en-gb") == "en-gb"

    entry = load_engines()["mbrola-id1"]
    assert "non-commercial" in entry["licence"] and "apt-get install mbrola-id1" in entry["install"]
    monkeypatch.setitem(entry, "file", str(tmp_path / "absent"))
    offers = wizard.voice_offers("id")
    assert len(offers) == 1 and "mbrola-id1" in offers[0] and "non-free" in offers[0]
    assert wizard.voice_offers("en") == []
