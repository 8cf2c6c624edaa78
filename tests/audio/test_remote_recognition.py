"""recognition.engine = "wyoming": utterances heard by a real wyoming-faster-whisper service,
started here on 127.0.0.1 with the local Whisper base model folder (no download), and the local
engine taking over at once, with one line, when the service is gone or breaks off."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import speech_maker
from assistant import models
from assistant.recognition import load_profile, normalise_text
from processes import free_port, wait_until_listening

pytestmark = pytest.mark.audio

REPO = Path(__file__).resolve().parents[2]
SENTENCES = {
    "en": ["my calf cramps when I walk", "my calf is swollen and red", "it gets better when I sit down",
           "I have diabetes and my feet tingle"],
    "id": ["betis saya kram kalau jalan", "betis saya bengkak dan merah", "enakan kalau duduk"],
}


class WhisperService:
    """The real wyoming-faster-whisper server, on the local Whisper base folder, set up as the
    voice profile sets up the local engine (language, beam, prompt, int8)."""

    def __init__(self, language: str, tmp: Path):
        profile = load_profile(language)
        self.port = free_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "wyoming_faster_whisper", "--uri", self.uri,
                   "--model", str(models.model_path(profile.whisper_model)), "--data-dir", str(tmp),
                   "--stt-library", "faster-whisper", "--local-files-only", "--compute-type", "int8",
                   "--beam-size", str(profile.beam_size), "--language", profile.whisper_language or language,
                   "--cpu-threads", "2"]
        if profile.prompt:
            command += ["--initial-prompt", profile.prompt]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_until_listening(self.port, self.process, 120)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def listen(wav: Path, language: str, config: Path | None = None) -> tuple[dict, str]:
    arguments = [sys.executable, "-m", "assistant"]
    if config is not None:
        arguments += ["--config", str(config)]
    result = subprocess.run([*arguments, "listen", "--wav", str(wav), "--json", "--lang", language], cwd=REPO,
                            capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def remote_config(tmp: Path, uri: str, timeout: float = 30.0) -> Path:
    config = tmp / "config.toml"
    config.write_text(f'[recognition]\nengine = "wyoming"\nuri = "{uri}"\ntimeout = {timeout}\n', encoding="utf-8")
    return config


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("calf-assistant: ")]


@pytest.mark.parametrize("language", ["en", "id"])
def test_listen_through_a_real_wyoming_faster_whisper_matches_the_local_engine(language, tmp_path):
    service = WhisperService(language, tmp_path / "data")
    try:
        config = remote_config(tmp_path, service.uri)
        same = []
        for number, text in enumerate(SENTENCES[language]):
            wav = speech_maker.convert(speech_maker.speak(text, tmp_path / f"{number}.raw.wav",
                                                          speech_maker.VOICES[language][0]),
                                       tmp_path / f"{number}.wav", rate=16000)
            local, _ = listen(wav, language)
            remote, err = listen(wav, language, config)
            assert not notes(err), err  # the service answered: no fallback
            same.append((normalise_text(text), local["transcript"], remote["transcript"]))
        print(same)
        # The same model, language, beam and prompt, but the service decodes with faster-whisper's
        # defaults, which its command line cannot change: with timestamps, and when a pass looks
        # unsure it samples again at a higher temperature, at random. So it sometimes hears a
        # sentence right that the local engine mishears ("my curved crimp where i walk"), and now
        # and then a sampled pass goes astray; what it hears must match the local engine, or the
        # words said, in all but one.
        agree = sum(1 for said, local, remote in same if remote in (local, said))
        assert agree >= len(same) - 1, same
    finally:
        service.stop()


def test_an_unreachable_service_is_one_line_and_the_local_engine_hears(tmp_path):
    wav = speech_maker.convert(speech_maker.speak("my calf is swollen and red", tmp_path / "s.raw.wav"),
                               tmp_path / "s.wav", rate=16000)
    config = remote_config(tmp_path, f"tcp://127.0.0.1:{free_port()}", timeout=5)
    answer, err = listen(wav, "en", config)
    lines = notes(err)
    assert len(lines) == 1 and "not running" in lines[0] and "own recogniser" in lines[0], err
    assert answer["transcript"] == "my calf is swollen and red" and "dvt" in answer["red_flags"], answer


def test_a_service_that_breaks_off_mid_utterance_falls_back_at_once(tmp_path):
    """A real Wyoming peer (the wyoming package's server) that takes the audio and hangs up."""
    from wyoming.audio import AudioStop
    from wyoming.server import AsyncEventHandler, AsyncServer

    class HangsUp(AsyncEventHandler):
        async def handle_event(self, event):
            return not AudioStop.is_type(event.type)  # closes the connection instead of answering

    port = free_port()
    loop = asyncio.new_event_loop()
    server = AsyncServer.from_uri(f"tcp://127.0.0.1:{port}")
    thread = threading.Thread(target=lambda: loop.run_until_complete(server.run(HangsUp)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    wav = speech_maker.convert(speech_maker.speak("my calf is swollen and red", tmp_path / "s.raw.wav"),
                               tmp_path / "s.wav", rate=16000)
    answer, err = listen(wav, "en", remote_config(tmp_path, f"tcp://127.0.0.1:{port}", timeout=10))
    lines = notes(err)
    assert len(lines) == 1 and "stopped mid-utterance" in lines[0], err
    assert "dvt" in answer["red_flags"], answer  # heard locally: the danger is not lost
    # the peer's thread is a daemon: it ends with the test process


def _connected(port: int) -> bool:
    """A client is connected to the local port (an ESTABLISHED entry in /proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def test_the_real_service_killed_mid_utterance_gives_the_local_transcript_and_one_line(tmp_path):
    """wyoming-faster-whisper is killed (SIGKILL, as a power cut of the home server) while it holds
    a long utterance and has not answered: the same process hears it locally, danger included."""
    service = WhisperService("en", tmp_path / "data")
    story = ("my left calf is swollen and red and warm, it started two days ago after a long bus ride, "
             "and it hurts when I walk to the shop and back home again")
    wav = speech_maker.convert(speech_maker.speak(story, tmp_path / "long.raw.wav"), tmp_path / "long.wav", rate=16000)
    config = remote_config(tmp_path, service.uri, timeout=60)
    listening = subprocess.Popen([sys.executable, "-m", "assistant", "--config", str(config), "listen", "--wav",
                                  str(wav), "--json", "--lang", "en"], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _connected(service.port):
            assert listening.poll() is None and time.monotonic() < deadline, "listen never reached the service"
            time.sleep(0.01)
        service.stop()  # the utterance is in flight: Whisper base takes seconds over this much speech
        out, err = listening.communicate(timeout=300)
    finally:
        if listening.poll() is None:
            listening.kill()
        service.stop()
    assert listening.returncode == 0, err
    lines = notes(err)
    assert len(lines) == 1 and "stopped mid-utterance" in lines[0] and "own recogniser" in lines[0], err
    answer = json.loads(out)
    assert "swollen" in answer["transcript"] and "dvt" in answer["red_flags"], answer


def test_doctor_checks_the_configured_service(tmp_path):
    service = WhisperService("en", tmp_path / "data")
    try:
        config = remote_config(tmp_path, service.uri)
        result = subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), "doctor", "--json"],
                                cwd=REPO, capture_output=True, text=True, timeout=300)
        checks = {check["name"]: check for check in json.loads(result.stdout)}
        assert checks["speech service"]["ok"], checks["speech service"]
    finally:
        service.stop()
    result = subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), "doctor", "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    check = {c["name"]: c for c in json.loads(result.stdout)}["speech service"]
    assert not check["ok"] and "wyoming-faster-whisper" in check["fix"], check
