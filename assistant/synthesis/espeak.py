"""espeak-ng: through pyttsx3 (espeak-ng's library in this process), else the espeak-ng command.

This is the safety voice: it speaks when a natural engine is missing or fails, so it must depend
on nothing that a natural engine needs. pyttsx3's espeak driver prints ("Audio saved to ...") and
espeak itself writes to stderr; none of that may reach the person's terminal, so every call runs
with the file descriptors silenced.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import tempfile
import threading
import wave
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from assistant.devices import quiet_native_output
from assistant.errors import SynthesisError
from assistant.synthesis.profile import VoiceProfile

log = logging.getLogger(__name__)

Chunk = tuple[np.ndarray, int]
"""Mono int16 samples and their sample rate."""

_ESPEAK_TIMEOUT = 30.0


class Pyttsx3Engine:
    """pyttsx3's espeak driver, rendering to a temporary WAV (it has no in-memory output)."""

    def __init__(self):
        import pyttsx3

        with quiet_native_output():
            self._engine = pyttsx3.init("espeak")
        self._voices: dict[str, str] = {}
        self._applied: tuple[str, int, float] | None = None
        with quiet_native_output():
            for voice in self._engine.getProperty("voices"):
                for name in [voice.id, voice.id.rsplit("/", 1)[-1], *(voice.languages or [])]:
                    self._voices.setdefault(str(name).lower(), voice.id)

    @staticmethod
    @lru_cache(maxsize=1)
    def shared() -> "Pyttsx3Engine":
        """One per process: espeak-ng itself is one per process, and so is what was applied to it."""
        return Pyttsx3Engine()

    def voice_id(self, voice: str) -> str:
        """pyttsx3 ids look like 'gmw/en' or 'poz/id'; the profile says 'en-gb' or 'id'."""
        base, _, variant = voice.lower().partition("+")
        if base not in self._voices:
            raise SynthesisError(f"pyttsx3 has no voice '{voice}'")
        found = self._voices[base]
        return f"{found}+{variant}" if variant else found

    @staticmethod
    def _synchronize() -> None:
        from pyttsx3.drivers import _espeak

        _espeak.Synchronize()

    def _apply(self, profile: VoiceProfile) -> None:
        """Voice, rate and volume, in the one order espeak-ng honours.

        espeak-ng (1.51, synchronous mode) keeps a new rate or volume aside and applies it only
        when a voice is selected, and selecting the voice already in use does nothing; measured:
        without this, a changed speed ("slower" from the person) was ignored or applied one reply
        late. So: rate and volume first, then a different voice, then the wanted one.
        """
        wanted = (self.voice_id(profile.voice), profile.rate, profile.volume)
        if wanted == self._applied:
            return
        voice, rate, volume = wanted
        self._engine.setProperty("rate", rate)
        self._engine.setProperty("volume", volume)
        other = next(found for found in self._voices.values() if found != voice)
        self._engine.setProperty("voice", other)
        self._engine.setProperty("voice", voice)
        self._applied = wanted

    def render(self, text: str, profile: VoiceProfile) -> Chunk:
        handle, path = tempfile.mkstemp(prefix="calf-say-", suffix=".wav")
        os.close(handle)
        try:
            with quiet_native_output():
                # pyttsx3 runs espeak-ng in its asynchronous mode: settings are commands queued to
                # espeak's own thread. Changing them while it still finishes the last sentence
                # raced (measured: empty audio, or a speed applied one reply late), so wait.
                self._synchronize()
                self._apply(profile)
                self._synchronize()
                self._engine.save_to_file(text, path)
                self._engine.runAndWait()
            return read_wav_bytes(Path(path).read_bytes())
        finally:
            Path(path).unlink(missing_ok=True)


def espeak_command(text: str, profile: VoiceProfile) -> Chunk:
    """The espeak-ng program itself: the fall-back when pyttsx3 is missing or broken."""
    command = ["espeak-ng", "-v", profile.voice, "-s", str(profile.rate), "-a", str(profile.amplitude),
               "--stdout", "--stdin"]
    try:
        done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, timeout=_ESPEAK_TIMEOUT)
    except FileNotFoundError:
        raise SynthesisError("espeak-ng is not installed; fix: sudo apt-get install -y espeak-ng") from None
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"espeak-ng took longer than {_ESPEAK_TIMEOUT:.0f} s and was stopped") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SynthesisError(f"espeak-ng failed with voice '{profile.voice}': {reason[0] if reason else done.returncode}")
    return read_wav_bytes(done.stdout)


def read_wav_bytes(data: bytes) -> Chunk:
    """16-bit mono WAV bytes to samples; espeak-ng's --stdout header has a placeholder length."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            if reader.getsampwidth() != 2:
                raise SynthesisError(f"the voice produced {8 * reader.getsampwidth()}-bit audio, expected 16-bit")
            rate, channels = reader.getframerate(), reader.getnchannels()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise SynthesisError(f"the voice produced unreadable audio ({error})") from None
    samples = np.frombuffer(frames[: len(frames) - len(frames) % (2 * channels)], dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples.astype(np.int16), rate


Renderer = Callable[[str, VoiceProfile], Chunk]


class SentenceRenderer:
    """pyttsx3 while it works; after its first failure, the espeak-ng command for good."""

    def __init__(self, primary: Callable[[], Renderer] | None = None, fallback: Renderer = espeak_command):
        self._make_primary = primary or (lambda: Pyttsx3Engine.shared().render)
        self._primary: Renderer | None = None
        self._broken = False
        self._fallback = fallback
        self._lock = threading.Lock()

    @property
    def using_fallback(self) -> bool:
        return self._broken

    def __call__(self, text: str, profile: VoiceProfile) -> Chunk:
        with self._lock:
            # pyttsx3 does not list espeak-ng's MBROLA voices, so those are the command's alone.
            if not self._broken and not profile.voice.startswith("mb-"):
                try:
                    if self._primary is None:
                        self._primary = self._make_primary()
                    samples, rate = self._primary(text, profile)
                    if samples.size:
                        return samples, rate
                    raise SynthesisError("pyttsx3 produced no audio")
                except Exception as error:  # any pyttsx3 or driver failure: the command still works
                    log.warning("pyttsx3 failed (%s: %s); using the espeak-ng command", type(error).__name__, error)
                    self._broken = True
            try:
                return self._fallback(text, profile)
            except SynthesisError as error:
                if not profile.voice.startswith("mb-") or profile.espeak_own == profile.voice:
                    raise
                # The MBROLA program or its database broke after the profile was read: espeak-ng's
                # own voice still speaks, so the reply is never lost to an optional extra.
                log.warning("the %s voice failed (%s); speaking with espeak-ng's %s", profile.voice, error, profile.espeak_own)
            except Exception as error:
                raise SynthesisError(f"speech synthesis failed ({type(error).__name__}: {error})") from None
        return self(text, replace(profile, voice=profile.espeak_own))


@lru_cache(maxsize=1)
def espeak_renderer() -> SentenceRenderer:
    # One per process: espeak can only be initialised once per process (pyttsx3 keeps it alive).
    return SentenceRenderer()
