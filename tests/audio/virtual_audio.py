"""Real audio devices without hardware: a private PulseAudio daemon with a virtual microphone and
a virtual speaker, for the live-path tests.

- the speaker is `module-null-sink` (calf_speaker); recording its monitor hears what was said;
- the microphone is `module-pipe-source` (calf_mic) fed from a FIFO. The pipe source only produces
  audio while someone writes, so a feeder thread writes silence in real time and, on request, an
  utterance; without it a reader would wait forever instead of hearing a quiet room.

The daemon runs as the current user (root in CI works: pulseaudio only warns) with its own runtime
folder and socket, so it never meets a desktop's sound server, and is stopped by its own pid.
Clients reach it through PULSE_SERVER; PortAudio reaches it through ALSA's pulse plugin, which
shows up in sounddevice as the `pulse` and `default` devices.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

RATE = 16_000
SINK, SOURCE = "calf_speaker", "calf_mic"


class PulseServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = folder / "native"
        self.fifo = folder / "mic.fifo"  # created by module-pipe-source itself (it fails if it exists)
        self.log = folder / "pulseaudio.log"
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to find this server (and no other)."""
        return {"PULSE_SERVER": f"unix:{self.socket}"}

    def _daemon_env(self) -> dict[str, str]:
        home = self.folder / "home"
        runtime = self.folder / "run"
        for path in (home, runtime):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = dict(os.environ)
        env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), PULSE_RUNTIME_PATH=str(runtime / "pulse"),
                   XDG_CONFIG_HOME=str(home / ".config"))
        env.pop("PULSE_SERVER", None)
        return env

    def start(self, timeout: float = 15.0) -> "PulseServer":
        if not shutil.which("pulseaudio"):
            raise RuntimeError("pulseaudio is not installed (./scripts/setup installs it)")
        script = self.folder / "calf.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name={SINK} rate=22050 channels=1\n"
            f"load-module module-pipe-source source_name={SOURCE} file={self.fifo} format=s16le rate={RATE} channels=1\n"
            f"set-default-sink {SINK}\n"
            f"set-default-source {SOURCE}\n"
        )
        # -n: no default.pa (no hardware probing, no suspend-on-idle); never exit when idle.
        command = ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1",
                   "--use-pid-file=no", "--log-target=stderr", "--log-level=error"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=self._daemon_env(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pulseaudio exited at start: {self.log.read_text(errors='replace')}")
            if self.fifo.exists() and self.pactl("info").returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pulseaudio did not start within {timeout:.0f} s: {self.log.read_text(errors='replace')}")

    def pactl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *arguments], env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=10)

    def stop(self) -> None:
        process, self.process = self.process, None
        _terminate(process)


class VirtualMicrophone:
    """Feeds the pipe source in real time: silence, or the utterances handed to `say()`."""

    def __init__(self, fifo: Path, chunk_seconds: float = 0.02, noise_level: float = 0.0):
        self.fifo = fifo
        self.chunk = int(RATE * chunk_seconds)
        self.noise_level = noise_level
        self._pending: queue.Queue[np.ndarray] = queue.Queue()
        self._current = np.zeros(0, dtype=np.int16)
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._rng = np.random.default_rng(3)
        self._thread = threading.Thread(target=self._run, name="virtual-microphone", daemon=True)

    def start(self) -> "VirtualMicrophone":
        self._thread.start()
        return self

    def say(self, samples: np.ndarray) -> None:
        """Queue 16 kHz mono int16 speech; it starts at the next chunk boundary."""
        self._idle.clear()
        self._pending.put(np.asarray(samples, dtype=np.int16))

    def wait_until_said(self, timeout: float = 30.0) -> bool:
        return self._idle.wait(timeout)

    def _next_chunk(self) -> np.ndarray:
        while self._current.size < self.chunk:
            try:
                self._current = np.concatenate([self._current, self._pending.get_nowait()])
            except queue.Empty:
                break
        if self._current.size == 0:
            self._idle.set()
            if self.noise_level:
                return self._rng.normal(0, self.noise_level, self.chunk).astype(np.int16)
            return np.zeros(self.chunk, dtype=np.int16)
        chunk, self._current = self._current[: self.chunk], self._current[self.chunk :]
        if chunk.size < self.chunk:
            chunk = np.concatenate([chunk, np.zeros(self.chunk - chunk.size, dtype=np.int16)])
        return chunk

    def _run(self) -> None:
        # Opening a FIFO for writing blocks until the reader (the daemon) has it open: it has.
        with open(self.fifo, "wb", buffering=0) as pipe:
            started, written = time.monotonic(), 0
            while not self._stop.is_set():
                try:
                    pipe.write(self._next_chunk().astype("<i2").tobytes())
                except BrokenPipeError:
                    return
                written += self.chunk
                # Real-time pacing: the daemon reads at the source's rate; running ahead would
                # fill the pipe and make "now" in the test drift from "now" in the recording.
                delay = started + written / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class MonitorRecorder:
    """Records what the virtual speaker plays (its monitor source) with parec, as 16 kHz mono."""

    def __init__(self, server: PulseServer, out: Path):
        self.server = server
        self.out = out
        self.process: subprocess.Popen | None = None

    def start(self) -> "MonitorRecorder":
        command = ["parec", "-d", f"{SINK}.monitor", "--format=s16le", f"--rate={RATE}", "--channels=1",
                   "--latency-msec=50"]
        with open(self.out, "wb") as sink:
            self.process = subprocess.Popen(command, env={**os.environ, **self.server.env}, stdout=sink,
                                            stderr=subprocess.DEVNULL)
        return self

    def samples(self) -> np.ndarray:
        """What has been recorded so far (the recording goes on)."""
        data = self.out.read_bytes()
        return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").copy()

    def wait_for_speech(self, since: float = 0.0, *, then_silence: float = 0.0, timeout: float = 60.0,
                        min_voiced: float = 0.5) -> float:
        """Wait until at least `min_voiced` s were spoken after `since` (seconds into the recording)
        and no more speech arrived for `then_silence` s of wall time; returns the recording's end.

        Wall time, because a null sink's monitor only produces samples while something plays.
        """
        deadline = time.monotonic() + timeout
        voiced, changed = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            samples = self.samples()
            now_voiced = voiced_seconds(samples[int(since * RATE):])
            if now_voiced != voiced:
                voiced, changed = now_voiced, time.monotonic()
            if voiced >= min_voiced and time.monotonic() - changed >= then_silence:
                return len(samples) / RATE
            time.sleep(0.05)
        raise TimeoutError(f"no speech of {min_voiced} s followed by {then_silence} s of quiet on the speaker")

    def stop(self) -> np.ndarray:
        process, self.process = self.process, None
        _terminate(process)
        return self.samples()


def _terminate(process: subprocess.Popen | None) -> None:
    """Stop a helper process by its own pid: politely first, then for sure."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def voiced_seconds(samples: np.ndarray, threshold: int = 500, window: int = 320) -> float:
    """Seconds of 20 ms windows louder than the threshold: how much was actually spoken."""
    usable = samples[: len(samples) - len(samples) % window].astype(np.float32)
    if usable.size == 0:
        return 0.0
    rms = np.sqrt((usable.reshape(-1, window) ** 2).mean(axis=1))
    return float((rms > threshold).sum() * window / RATE)


# ---- fixtures (imported by tests/audio/conftest.py) ----------------------------------------------

import pytest  # noqa: E402


def _refresh_portaudio() -> None:
    """PortAudio lists devices once at start; a process that imported it before must look again."""
    import sys

    if "sounddevice" in sys.modules:
        from assistant.devices import refresh

        refresh()


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory):
    """One private PulseAudio daemon for the session (about 0.2 s to start)."""
    server = PulseServer(tmp_path_factory.mktemp("pulse")).start()
    yield server
    server.stop()


@pytest.fixture()
def pulse(pulse_server, monkeypatch):
    """The daemon, made the sound server of this test and of the processes it starts."""
    for name, value in pulse_server.env.items():
        monkeypatch.setenv(name, value)
    _refresh_portaudio()
    yield pulse_server
    monkeypatch.undo()
    _refresh_portaudio()


ROOM_NOISE = 6.0
"""The quiet of a room, far below speech (about -75 dBFS): a live microphone is never exactly
zero, and the assistant takes 5 s of exact zeros for a microphone that went away. The soak feeds
it; the other live tests keep their exact silence, as their recognition figures were measured so."""


@pytest.fixture()
def virtual_microphone(pulse):
    microphone = VirtualMicrophone(pulse.fifo).start()
    yield microphone
    microphone.stop()


@pytest.fixture()
def speaker_recording(pulse, tmp_path):
    """Starts recording the virtual speaker; call .stop() to get the samples."""
    recorder = MonitorRecorder(pulse, tmp_path / "speaker.raw").start()
    yield recorder
    recorder.stop()


# ---- by hand: scripts/virtual-audio ---------------------------------------------------------------


def main() -> int:
    """Run the virtual devices in the foreground; each line typed is spoken into the microphone."""
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import speech_maker

    from assistant.audio import load_wav

    folder = Path(tempfile.mkdtemp(prefix="calf-virtual-audio-"))
    server = PulseServer(folder).start()
    microphone = VirtualMicrophone(server.fifo, noise_level=ROOM_NOISE).start()
    print(f"export PULSE_SERVER={server.env['PULSE_SERVER']}", flush=True)
    print("# in another terminal: run that export, then calf-assistant run; speaker: "
          f"parec -d {SINK}.monitor | aplay. Type a sentence (or 'wav FILE') to speak it here; Ctrl-D stops.",
          flush=True)
    try:
        for number, line in enumerate(sys.stdin):
            line = line.strip()
            if not line:
                continue
            if line.startswith("wav "):
                path = Path(line[4:].strip())
            else:
                path = speech_maker.speak(line, folder / f"line-{number}.wav", voice="en-us")
            microphone.say(load_wav(path))
        microphone.wait_until_said()
    except KeyboardInterrupt:
        pass
    finally:
        microphone.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
