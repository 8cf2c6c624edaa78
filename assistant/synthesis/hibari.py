"""hibari-tts (Apache-2.0): a small neural English voice; "heart" ships inside the wheel.

Its other voices download from a hub on first use; this assistant never lets it: a voice that is
not on disk is a missing voice (espeak-ng speaks), not a network call in the middle of a reply.
"""

from __future__ import annotations

import os

from assistant.errors import SynthesisError
from assistant.synthesis.natural import to_int16
from assistant.synthesis.profile import VoiceProfile

THREADS = 1
"""onnxruntime threads. One is plenty (hibari makes speech far faster than it is spoken on one
core) and leaves the other core of a 2-core board to the thread that feeds the speaker and to the
recogniser: with two, on this busy 2-core machine, ALSA once reported an underrun while the first
sentence played and the next was being made."""

SEED = 0
"""hibari adds noise to its voice; a fixed seed makes "repeat" say exactly the same audio."""


def model_file(voice: str) -> str:
    """The voice's ONNX file on disk, never downloaded."""
    try:
        from hibari.voices import voice_path
    except ImportError:
        raise SynthesisError("hibari-tts is not installed; fix: ./scripts/setup (or pip install hibari-tts)") from None
    try:
        return voice_path(voice, download_missing=False)
    except (ValueError, FileNotFoundError) as error:
        raise SynthesisError(f"hibari has no voice '{voice}' on this device ({error})") from None


def installed(voice: str) -> bool:
    try:
        return os.path.isfile(model_file(voice))
    except SynthesisError:
        return False


class HibariEngine:
    name = "hibari"

    def __init__(self, voice: str = "heart", model: str | None = None):
        from hibari import Hibari

        self.label = f"hibari {voice}"
        self._tts = Hibari(voice=voice, model=model or model_file(voice), threads=THREADS)
        self.sample_rate = int(self._tts.sample_rate)

    def render(self, text: str, profile: VoiceProfile):
        audio = self._tts(text, speed=profile.hibari_speed, seed=SEED)
        if audio.size == 0:
            raise SynthesisError(f"hibari made no sound for '{text[:40]}'")
        return to_int16(audio, profile.volume, self.sample_rate), self.sample_rate
