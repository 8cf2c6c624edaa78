"""Speech out for real: pyttsx3 on espeak-ng, the espeak-ng command fall-back, and `say`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings, VoiceSettings
from assistant.errors import SynthesisError
from assistant.synthesis import (
    Pyttsx3Engine,
    SentenceRenderer,
    espeak_command,
    load_voice,
    render,
    render_to_wav,
    speak,
    split_sentences,
)
from virtual_audio import voiced_seconds

REPO = Path(__file__).resolve().parents[2]
ENGLISH = "Stop and stretch your calf gently. Then walk slowly. If the pain does not go away, see a doctor."
INDONESIAN = "Berhenti dan regangkan betis Anda pelan-pelan. Lalu berjalan perlahan. Jika nyeri tidak hilang, temui dokter."


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as reader:
        assert reader.getnchannels() == 1 and reader.getsampwidth() == 2
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2"), reader.getframerate()


def loud_seconds(samples: np.ndarray, rate: int) -> float:
    window = rate // 50
    usable = samples[: len(samples) - len(samples) % window].astype(np.float32).reshape(-1, window)
    return float((np.sqrt((usable ** 2).mean(axis=1)) > 300).sum() / 50)


class Recording:
    """Wraps a renderer and notes which sentences it was asked for, and when."""

    def __init__(self, inner):
        self.inner, self.calls, self.times = inner, [], []

    def __call__(self, text, profile):
        self.calls.append(text)
        self.times.append(time.monotonic())
        return self.inner(text, profile)


@pytest.fixture
def without_mbrola(monkeypatch, tmp_path):
    """As on a device without mbrola-id1: pyttsx3 speaks espeak-ng's own voices only."""
    from assistant.synthesis import profile

    monkeypatch.setattr(profile, "MBROLA_VOICES", tmp_path / "no-mbrola")


@pytest.fixture(scope="module")
def pyttsx3_renderer():
    return SentenceRenderer(primary=lambda: Pyttsx3Engine.shared().render, fallback=_no_fallback)


def _no_fallback(text, profile):
    raise AssertionError("pyttsx3 failed; the test wanted pyttsx3 itself")


@pytest.mark.parametrize("language, text", [("en", ENGLISH), ("id", INDONESIAN)])
def test_a_reply_renders_to_a_wav_through_pyttsx3(tmp_path, language, text, pyttsx3_renderer, without_mbrola):
    out = tmp_path / f"{language}.wav"
    seconds = render_to_wav(text, language, Settings(), out, renderer=pyttsx3_renderer)
    samples, rate = read_wav(out)
    assert rate == 22050
    assert seconds == pytest.approx(len(samples) / rate)
    # About 18 words at 140-145 words per minute plus two pauses: 6 to 12 seconds.
    assert 5.0 < seconds < 14.0
    assert loud_seconds(samples, rate) > 3.0
    assert not pyttsx3_renderer.using_fallback


def test_each_language_has_its_own_voice(pyttsx3_renderer, without_mbrola):
    english = np.concatenate([chunk for chunk, _ in render("Saya kram.", "en", Settings(), renderer=pyttsx3_renderer)])
    indonesian = np.concatenate([chunk for chunk, _ in render("Saya kram.", "id", Settings(), renderer=pyttsx3_renderer)])
    assert len(english) != len(indonesian) or not np.array_equal(english, indonesian)


def test_indonesian_uses_the_poz_id_voice():
    engine = Pyttsx3Engine.shared()
    assert engine.voice_id(load_voice("id").espeak_own) == "poz/id"
    assert engine.voice_id(load_voice("en").voice).startswith("gmw/en")


def test_indonesian_speaks_with_mb_id1_once_installed_and_espeak_ng_when_it_breaks(caplog):
    # scripts/test installs mbrola-id1, so here it is the Indonesian espeak-ng voice.
    profile = load_voice("id")
    assert profile.voice == "mb-id1" and profile.espeak_own == "id"
    renderer = SentenceRenderer()
    samples, rate = renderer("Betis saya kram.", profile)
    assert rate == 16000 and loud_seconds(samples, rate) > 0.5  # MBROLA's id1 database is cut at 16 kHz
    # A voice whose database went missing after the profile was read: espeak-ng's own voice speaks.
    samples, rate = renderer("Betis saya kram.", replace(profile, voice="mb-id9"))
    assert rate == 22050 and loud_seconds(samples, rate) > 0.5
    assert any("mb-id9 voice failed" in record.getMessage() for record in caplog.records)


def test_voice_profiles_are_slower_than_espeak_default_and_follow_the_settings():
    for language in ("en", "id"):
        assert load_voice(language).rate < 175
    slow = load_voice("en", Settings(voice=VoiceSettings(rate=0.7, volume=0.5)))
    assert slow.rate == round(load_voice("en").rate * 0.7)
    assert slow.volume == pytest.approx(0.5)


def test_slower_settings_give_longer_speech_and_lower_volume_quieter_speech(pyttsx3_renderer):
    def total(settings):
        chunks = list(render("My calf hurts when I walk.", "en", settings, renderer=pyttsx3_renderer))
        return np.concatenate([chunk for chunk, _ in chunks])

    normal = total(Settings())
    slow = total(Settings(voice=VoiceSettings(rate=0.6)))
    quiet = total(Settings(voice=VoiceSettings(volume=0.3)))
    assert len(slow) > 1.3 * len(normal)
    assert np.abs(quiet).max() < 0.6 * np.abs(normal).max()


def test_sentences_are_rendered_one_at_a_time(pyttsx3_renderer):
    lengths = []

    def measured(text, profile):
        samples, rate = pyttsx3_renderer(text, profile)
        lengths.append(len(samples))
        return samples, rate

    recording = Recording(measured)
    chunks = render(ENGLISH, "en", Settings(), renderer=recording)
    first, rate = next(chunks)
    assert recording.calls == ["Stop and stretch your calf gently."], "the first sentence comes before the rest is made"
    rest = list(chunks)
    assert len(rest) == 2 and len(recording.calls) == 3
    # A pause follows every sentence but the last.
    pause = round(load_voice("en").sentence_pause * rate)
    assert len(first) == lengths[0] + pause and not np.any(first[-pause:])
    assert len(rest[-1][0]) == lengths[-1]


def test_splitting_keeps_numbers_and_uses_line_breaks():
    assert split_sentences("Call 112 now! Is it 3.5 km? Yes.\nRest") == ["Call 112 now!", "Is it 3.5 km?", "Yes.", "Rest"]


def test_speaking_starts_while_later_sentences_are_still_rendered(pyttsx3_renderer):
    class SlowRenderer(Recording):
        def __call__(self, text, profile):
            if self.calls:
                time.sleep(0.4)  # a slow Raspberry Pi
            return super().__call__(text, profile)

    class ListeningSpeaker:
        def __init__(self):
            self.arrivals = []

        def play_all(self, chunks):
            for _ in chunks:
                self.arrivals.append(time.monotonic())

    renderer, speaker = SlowRenderer(pyttsx3_renderer), ListeningSpeaker()
    speak(ENGLISH, "en", Settings(), speaker=speaker, renderer=renderer)
    assert len(speaker.arrivals) == 3
    assert speaker.arrivals[0] < renderer.times[-1], "the first sentence reached the speaker before the last was rendered"


def test_the_espeak_ng_command_takes_over_when_pyttsx3_fails(tmp_path):
    def broken():
        raise RuntimeError("could not initialize espeak")

    renderer = SentenceRenderer(primary=broken)
    out = tmp_path / "fallback.wav"
    seconds = render_to_wav(ENGLISH, "en", Settings(), out, renderer=renderer)
    samples, rate = read_wav(out)
    assert renderer.using_fallback
    assert rate == 22050 and 5.0 < seconds < 14.0 and loud_seconds(samples, rate) > 3.0


def test_a_pyttsx3_failure_mid_reply_does_not_lose_a_sentence():
    calls = []

    def flaky(text, profile):
        calls.append(text)
        if len(calls) > 1:
            raise OSError("driver crashed")
        return espeak_command(text, profile)

    renderer = SentenceRenderer(primary=lambda: flaky)
    chunks = list(render(ENGLISH, "en", Settings(), renderer=renderer))
    assert len(chunks) == 3 and all(chunk.size > 10000 for chunk, _ in chunks)


def test_when_no_voice_works_the_error_is_one_line(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    def broken():
        raise RuntimeError("no driver")

    with pytest.raises(SynthesisError) as caught:
        list(render("Hello.", "en", Settings(), renderer=SentenceRenderer(primary=broken)))
    assert "espeak-ng is not installed" in str(caught.value) and "\n" not in str(caught.value)


def test_pyttsx3_prints_nothing_to_the_terminal(capfd):
    renderer = SentenceRenderer(primary=lambda: Pyttsx3Engine.shared().render, fallback=_no_fallback)
    list(render("Hello. I am ready.", "en", Settings(), renderer=renderer))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def _cli(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant", *arguments], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_say_out_writes_one_wav_and_prints_nothing(tmp_path):
    out = tmp_path / "reply.wav"
    done = _cli("say", "--lang", "id", "--out", str(out), INDONESIAN)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    samples, rate = read_wav(out)
    assert 5.0 < len(samples) / rate < 14.0 and loud_seconds(samples, rate) > 3.0


def test_say_into_a_missing_folder_is_a_usage_error(tmp_path):
    done = _cli("say", "--out", str(tmp_path / "no" / "such" / "reply.wav"), "Hello.")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot write" in done.stderr


def test_say_plays_on_the_speaker(pulse, speaker_recording):
    done = _cli("say", "--lang", "en", "I am ready. Tell me what you feel.", env=pulse.env)
    time.sleep(0.3)
    heard = speaker_recording.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert voiced_seconds(heard) > 1.0


def test_speak_in_process_plays_every_sentence_on_the_speaker(pulse, speaker_recording):
    speak(ENGLISH, "en", Settings())
    time.sleep(0.3)
    heard = speaker_recording.stop()
    assert voiced_seconds(heard) > 3.0


def test_without_any_speaker_say_fails_in_one_line():
    done = _cli("say", "Hello.", env={"PULSE_SERVER": "unix:/nonexistent/socket"})
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "no speaker was found" in done.stderr


def test_the_spoken_reply_can_be_understood(tmp_path, pyttsx3_renderer):
    """Round trip: what the assistant says is clear enough for a recogniser to catch its key words."""
    from assistant.recognition import recognise
    from assistant.audio import load_wav

    out = tmp_path / "round.wav"
    render_to_wav(ENGLISH, "en", Settings(), out, renderer=pyttsx3_renderer)
    text = recognise(load_wav(out), "en").text.lower()
    assert "calf" in text and "doctor" in text, text
