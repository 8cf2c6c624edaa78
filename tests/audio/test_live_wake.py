"""`calf-assistant run` woken by a spoken wake word on PulseAudio virtual devices.

The default settings' wake word (okay_nabu, microWakeWord) said into the virtual microphone: other
speech first must not wake it; the wake word then gives the chime and "I am listening", and the
description said after it gets the conversation's answer. Nothing is set to listen at once
(no CALF_ASSISTANT_ACTIVATION=auto): listening starts only because the wake word was heard.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from assistant.audio import load_wav
from assistant.knowledge import load_knowledge
from assistant.live import MAX_TURNS_ENV
from virtual_audio import RATE

REPO = Path(__file__).resolve().parents[2]


def _chime_at(recording: np.ndarray, since: float) -> bool:
    """The chime's two notes are in what the speaker played after `since` seconds: a tenth of a
    second whose sound is nearly all at 659 Hz, and later one nearly all at 880 Hz (speech spreads
    its energy over many frequencies)."""
    played = recording[int(since * RATE):].astype(np.float64)
    window = int(0.1 * RATE)
    frequencies = np.fft.rfftfreq(window, 1 / RATE)
    found = []
    for start in range(0, len(played) - window, window // 4):
        power = np.abs(np.fft.rfft(played[start:start + window] * np.hanning(window))) ** 2
        if power.sum() < 1e3:
            continue
        for note in (659.25, 880.0):
            if power[np.abs(frequencies - note) < 25].sum() > 0.8 * power.sum():
                found.append(note)
    return 659.25 in found and 880.0 in found and found.index(880.0) > found.index(659.25)


def test_the_wake_word_wakes_it_and_nothing_else_does(pulse, virtual_microphone, speaker_recording, speech, tmp_path):
    # Set up as for a walk: the microphone's sound cleaned (noise suppression) before the wake
    # word, the voice detector and the recogniser hear it, so that path runs for real too.
    config = tmp_path / "config.toml"
    config.write_text('language = "en"\nmid_walk = true\n[voice]\nrate = 1.5\n[audio]\nnoise_suppression = 2\n'
                      '[activation]\nmode = "wake"\n', encoding="utf-8")
    other = load_wav(speech.speak("My neighbour walks her dog every morning.", tmp_path / "other.wav", voice="en-us"))
    wake = load_wav(speech.speak_piper("Okay Nabu.", tmp_path / "wake.wav"))
    story = load_wav(speech.speak("I get a cramp in my calf when I walk.", tmp_path / "story.wav", voice="en-us"))
    env = {**os.environ, **pulse.env, MAX_TURNS_ENV: "1", "CALF_ASSISTANT_CONFIG": str(config)}
    env.pop("CALF_ASSISTANT_ACTIVATION", None)
    process = subprocess.Popen([sys.executable, "-m", "assistant", "run"], cwd=REPO, env=env, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    printed: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [printed.put(line) for line in process.stdout], daemon=True)
    reader.start()
    pack = load_knowledge().pack("en")
    lines: list[str] = []

    def read_until(wanted: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = printed.get(timeout=0.2).strip()
            except queue.Empty:
                continue
            if line:
                lines.append(line)
            if line == wanted:
                return True
        return False

    try:
        assert read_until(pack.reply("ready_wake", wake_phrase="Okay Nabu"), 90), lines
        speaker_recording.wait_for_speech(then_silence=1.0, timeout=90)
        virtual_microphone.say(other)
        virtual_microphone.wait_until_said()
        # the wake prompt is printed the moment it wakes: other speech must not get it there
        assert not read_until(pack.reply("wake_prompt"), 4.0), f"other speech woke it: {lines}"
        woken_at = len(speaker_recording.samples()) / RATE
        virtual_microphone.say(wake)
        assert read_until(pack.reply("wake_prompt"), 20), f"the wake word did not wake it: {lines}"
        prompt_end = speaker_recording.wait_for_speech(woken_at, then_silence=0.8, timeout=30)
        virtual_microphone.say(story)
        process.wait(timeout=120)
        reader.join(timeout=10)
        err = process.stderr.read()
    finally:
        process.kill()
    while not printed.empty():
        line = printed.get().strip()
        if line:
            lines.append(line)
    assert process.returncode == 0, err
    assert "Traceback" not in err

    assert lines[0] == pack.reply("ready_wake", wake_phrase="Okay Nabu") and lines[1] == pack.reply("wake_prompt"), lines
    assert len(lines) >= 3 and lines[2].startswith(pack.reply("screen_intro")), lines
    assert _chime_at(speaker_recording.samples()[: int(prompt_end * RATE)], woken_at), "no chime after the wake word"
