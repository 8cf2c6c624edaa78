"""A red flag spoken into `calf-assistant run` on PulseAudio virtual devices reaches the caregiver:
the real broker and the real HTTP receiver get the alert within 2 s of the printed reply, while
the reply is still being spoken."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from alert_parts import broker, receiver, subscriber  # noqa: F401  (pytest fixtures)
from assistant.audio import load_wav
from assistant.live import ACTIVATION_ENV, MAX_TURNS_ENV
from processes import LineReader

REPO = Path(__file__).resolve().parents[2]
RED_FLAG = "My calf hurts, I have chest pain, and I cannot breathe."


def test_a_spoken_red_flag_reaches_the_caregiver_within_two_seconds(pulse, virtual_microphone, speaker_recording, speech,
                                                                     tmp_path, broker, subscriber, receiver, _private_homes):
    carer = subscriber("calf-live/alert")
    config = tmp_path / "config.toml"
    config.write_text('language = "en"\nmid_walk = true\n[voice]\nrate = 1.5\n[alerts]\n'
                      f'mqtt_uri = "{broker.uri}"\nmqtt_topic = "calf-live"\nwebhook_url = "{receiver.url}"\n')
    said = load_wav(speech.speak(RED_FLAG, tmp_path / "red_flag.wav", voice="en-us"))
    env = {**os.environ, **pulse.env, ACTIVATION_ENV: "auto", MAX_TURNS_ENV: "1", "CALF_ASSISTANT_CONFIG": str(config)}
    process = subprocess.Popen([sys.executable, "-m", "assistant", "run"], cwd=REPO, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        speaker_recording.wait_for_speech(then_silence=1.0, timeout=90)
        virtual_microphone.say(said)
        reader = LineReader(process, timeout=120)
        while b"112" not in (line := reader.line()):
            pass
        replied = time.monotonic()
        deadline = replied + 2.0
        while not (carer.on("calf-live/alert") and receiver.posts) and time.monotonic() < deadline:
            time.sleep(0.02)
        alert = carer.on("calf-live/alert")
        assert alert and receiver.posts, f"no alert within 2 s of the reply {line!r}"
        assert alert[0]["level"] == "emergency" and alert[0]["red_flags"]
        assert receiver.posts[0]["body"]["id"] == alert[0]["id"]
        process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0
    speaker_recording.stop()
    assert len(carer.on("calf-live/alert")) == 1 and len(receiver.posts) == 1
