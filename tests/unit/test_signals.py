"""SIGTERM ends `run` cleanly with the diary closed; SIGHUP reloads the settings and the voice and
never ends it (systemd does not restart a process that a SIGHUP ended)."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant import diary, signals
from assistant.chat import Conversation
from assistant.config import EmergencySettings, Settings, VoiceSettings
from assistant.live import Immediately, Mouth, SpokenLoop
from assistant.recognition import Transcript
from fakes import FakeMicrophone, voice
from processes import LineReader

pytestmark = pytest.mark.usefixtures("buzz_is_speech")

ROOT = Path(__file__).resolve().parents[2]


def typed_run(*arguments: str) -> tuple[subprocess.Popen, LineReader]:
    process = subprocess.Popen([sys.executable, "-m", "assistant", *arguments, "run", "--typed", "--lang", "en"],
                               cwd=ROOT, env={**os.environ, "PULSE_SERVER": "unix:/none"},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = LineReader(process, 30.0)
    reader.line()  # "Type what you feel, then press Enter."
    return process, reader


def test_sigterm_ends_the_loop_with_exit_0_and_the_entry_closed_as_cut_off():
    process, reader = typed_run()
    reader.send("my calf cramps when I walk")
    reader.line()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert b"Traceback" not in process.stderr.read()
    with sqlite3.connect(diary.diary_path()) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [entry] = diary.load()
    assert entry.heard == ("my calf cramps when I walk",)
    assert not entry.finished and not entry.in_progress


def test_sighup_does_not_end_the_loop(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('language = "en"\n', encoding="utf-8")
    process, reader = typed_run("--config", str(config))
    try:
        process.send_signal(signal.SIGHUP)
        reader.send("my calf cramps when I walk")
        assert reader.line(), "still answering after SIGHUP"
        assert process.poll() is None
    finally:
        process.stdin.close()
    assert process.wait(timeout=30) == 0


class Ears:
    def hear(self, samples, phrases=None, **listening):
        return Transcript("my calf cramps when I walk", 0.9, True)


def test_after_sighup_the_next_turn_has_the_reread_settings_and_a_fresh_voice(monkeypatch):
    import assistant.live as live
    import assistant.synthesis as synthesis

    first = Settings(voice=VoiceSettings(rate=1.0))
    changed = replace(first, language="id", voice=VoiceSettings(rate=1.3), emergency=EmergencySettings(en=("911",)))
    conversation = Conversation(first)
    forgotten, loaded, spoken = [], [], []
    monkeypatch.setattr(synthesis, "forget_stale_voices", lambda: forgotten.append(True))
    monkeypatch.setattr(live, "load_voices", lambda settings: loaded.append(settings.voice.rate))
    speak = lambda text, language, settings: spoken.append(settings.voice.rate)  # noqa: E731
    microphone = FakeMicrophone(np.concatenate([voice(1.0), np.zeros(32000, np.int16)]))
    hangup = signals.Hangup()
    loop = SpokenLoop(first, conversation, Ears(), microphone, Mouth(first, microphone, speak=speak, out=io.StringIO()),
                      Immediately(), max_turns=2, sleep=lambda seconds: None, listen_timeout=2.0, hangup=hangup,
                      reread=lambda: changed)
    hangup.ask()
    hangup.ask()  # two before the next turn are one reload
    assert loop.run() == 0
    assert forgotten == [True] and loaded == [1.3]
    assert spoken[-1] == 1.3, "the reply after SIGHUP is spoken with the new rate"
    assert conversation.settings.emergency.en == ("911",)
    assert conversation.dialogue.settings.emergency.en == ("911",)
    assert loop.settings.language == "en", "the language stays until a restart"


def test_a_broken_settings_file_on_sighup_keeps_the_settings_in_use(capsys):
    from assistant.errors import ConfigError

    def broken():
        raise ConfigError("config.toml: voice.rate must be a number")

    settings = Settings(voice=VoiceSettings(rate=1.2))
    loop = SpokenLoop(settings, lambda text: "reply", Ears(), FakeMicrophone(), Mouth(settings, speak=lambda *a: None,
                      out=io.StringIO()), Immediately(), max_turns=0, reread=broken)
    loop.reload()
    assert loop.settings.voice.rate == 1.2
    [line] = capsys.readouterr().err.splitlines()
    assert "not reloaded" in line and "voice.rate" in line


def test_sighup_gives_the_microphone_the_new_noise_suppression(monkeypatch):
    import assistant.live as live
    from assistant.cleaning import SoundCleaner
    from assistant.config import AudioSettings

    monkeypatch.setattr(live, "load_voices", lambda settings: None)
    settings = Settings()
    wanted = [replace(settings, audio=AudioSettings(noise_suppression=2)), settings]
    microphone = FakeMicrophone()
    microphone.cleaner = None
    loop = SpokenLoop(settings, lambda text: "reply", Ears(), microphone, Mouth(settings, speak=lambda *a: None,
                      out=io.StringIO()), Immediately(), max_turns=0, reread=lambda: wanted.pop(0))
    loop.reload()
    assert isinstance(microphone.cleaner, SoundCleaner) and microphone.cleaner.noise_suppression == 2
    loop.reload()
    assert microphone.cleaner is None


def test_sigterm_is_raised_once_then_ignored_until_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    hangup, restore = signals.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert hangup.take() and not hangup.take()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")
        except signals.Terminated:
            pass
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


def test_sighup_loads_a_voice_again_only_if_it_failed_or_its_model_file_changed(monkeypatch):
    from assistant.synthesis import voices
    from assistant.synthesis.profile import EngineChoice

    on_disk = {"identity": ("hibari.onnx", 7, 1000, 1)}
    monkeypatch.setattr(voices, "model_identity", lambda choice: on_disk["identity"])

    class Engine:
        def render(self, text, profile):
            return np.ones(160, np.int16), 16000

    def broken(choice):
        raise RuntimeError("Protobuf parsing failed")

    pool = voices.Voices()
    choice = EngineChoice("hibari", "heart")
    pool._voices["en"] = voices.Voice(choice, load=lambda choice: Engine()).load()
    pool._voices["id"] = voices.Voice(choice, load=broken, fallback=lambda text, profile: None).load()
    pool.forget_stale()
    assert list(pool._voices) == ["en"], "the working voice is kept, the failed one goes"
    on_disk["identity"] = ("hibari.onnx", 8, 1000, 2)  # the file replaced (repaired, or broken)
    pool.forget_stale()
    assert not pool._voices


def test_speech_interrupted_by_sigterm_lets_the_sentence_playing_end_before_exit():
    """A PortAudio stream still open when the process exits makes it abort (SIGABRT, not exit 0):
    on Ctrl-C or SIGTERM the sentence playing is let finish, the rest is not said."""
    import time

    from assistant.synthesis import speak

    class Speaker:
        played, closed = [], False

        def play_all(self, chunks):
            for samples, rate in chunks:
                time.sleep(0.3)  # a sentence being heard
                self.played.append(len(samples))
            self.closed = True

    def renderer(sentence, profile):
        if sentence.startswith("Third"):
            raise signals.Terminated()
        return np.ones(160, np.int16), 16000

    speaker = Speaker()
    try:
        speak("First one. Second one. Third one. Fourth one.", "en", Settings(), speaker=speaker, renderer=renderer)
        raise AssertionError("not interrupted")
    except signals.Terminated:
        pass
    assert speaker.closed, "the speaker had finished before the interruption went on"
    assert len(speaker.played) <= 2
