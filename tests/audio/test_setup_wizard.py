"""The setup wizard once, interactively through a terminal, on PulseAudio virtual devices.

The virtual microphone says the answers with espeak-ng; the virtual speaker's monitor proves the
wizard spoke. One run only: every spoken step plays in real time (about two minutes even at --rate 1.5).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

from assistant.audio import load_wav
from assistant.config import load_settings
from virtual_audio import voiced_seconds


def _utterance(speech, folder: Path, text: str):
    wav = speech.speak(text, folder / f"{abs(hash(text))}.wav", voice="id")
    return load_wav(wav)


def test_interactive_setup_hears_the_microphone_and_speaks(virtual_microphone, speaker_recording, speech, tmp_path, _private_homes):
    complaint = _utterance(speech, tmp_path, "betis saya kram kalau berjalan")
    answer = _utterance(speech, tmp_path, "tidak, tidak pernah")
    child = pexpect.spawn(sys.executable, ["-m", "assistant", "setup", "--rate", "1.5"], env=dict(os.environ), encoding="utf-8", timeout=180)
    child.logfile_read = sys.stdout
    child.expect_exact("en / id / auto [en]:")
    child.sendline("id")
    child.expect_exact("1 / 2 / 3 [2]:")  # loudness; the speed came from --rate, to keep this test short
    child.sendline("")
    child.expect(r"input device number \(Enter for the system default\): |Sekarang mikrofon")
    if "number" in child.after:
        child.sendline("")
    child.expect_exact("(listening for")
    virtual_microphone.say(complaint)
    child.expect_exact("Saya mendengar: ")
    child.expect(r"betis|kram")
    child.expect(r"output device number \(Enter for the system default\): |Sekarang pengeras suara")
    if "number" in child.after:
        child.sendline("")
    child.expect_exact("(y/n) [y]:")
    child.sendline("y")
    child.expect_exact("emergency number(s) (id) [112,119]:")
    child.sendline("")
    child.expect_exact("enter / button / wake [enter]:")
    child.sendline("button")
    child.expect_exact("alerts: MQTT address:")
    child.sendline("")
    child.expect_exact("alerts: web address:")
    child.sendline("")
    child.expect_exact("Model pengenal suara sudah siap.")
    for spoken in (complaint, answer):
        child.expect_exact("(listening for")
        virtual_microphone.say(spoken)
        child.expect_exact("> ")
    child.expect_exact("Pengaturan disimpan di")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    settings = load_settings(_private_homes / "config" / "calf-assistant" / "config.toml")
    assert settings.language == "id" and settings.activation.mode == "button"
    assert settings.emergency.id == ("112", "119")
    assert voiced_seconds(speaker_recording.stop()) > 3.0  # the steps were really spoken


def test_english_setup_plays_the_sample_in_each_installed_voice_and_keeps_the_choice(speaker_recording, _private_homes):
    """hibari (the default), Piper's joe voice (the tests install the [piper] extra) and espeak-ng
    each say the sample on the virtual speaker; the caregiver's pick is saved."""
    child = pexpect.spawn(sys.executable, ["-m", "assistant", "setup", "--lang", "en", "--rate", "1.5", "--volume", "1.0",
                                           "--skip-audio-test", "--input-device", "", "--output-device", "",
                                           "--skip-models", "--skip-test-conversation"],
                          env=dict(os.environ), encoding="utf-8", timeout=180)
    child.logfile_read = sys.stdout
    for label in ("voice 1: hibari (heart)", "voice 2: piper (piper-en_US-joe-medium)", "voice 3: espeak-ng (en-gb)"):
        child.expect_exact(label)
        child.expect_exact("This is how I will speak.")
    child.expect_exact("voice 1 / 2 / 3 [1]:")
    child.sendline("2")
    child.expect_exact("voice = piper")
    child.expect_exact("emergency number(s) (en) [112]:")
    child.sendline("")
    child.expect_exact("enter / button / wake [enter]:")
    child.sendline("")
    child.expect_exact("alerts: MQTT address:")
    child.sendline("")
    child.expect_exact("alerts: web address:")
    child.sendline("")
    child.expect_exact("Setup is finished.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    settings = load_settings(_private_homes / "config" / "calf-assistant" / "config.toml")
    assert settings.voice.engine == "piper"
    log = (_private_homes / "state" / "calf-assistant" / "calf-assistant.log").read_text(encoding="utf-8")
    assert "voice loaded: hibari heart" in log and "voice loaded: piper piper-en_US-joe-medium" in log, log
    assert "espeak-ng instead" not in log
    assert voiced_seconds(speaker_recording.stop()) > 6.0  # three samples and the steps after them
