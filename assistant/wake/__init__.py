"""Wake words: a small always-on model hears the wake word, and only then does recognition start.

Two engines behind one interface (`WakeEngine`): microWakeWord models (`micro`, pymicro-wakeword,
the default, as Home Assistant's voice hardware uses) and openWakeWord models (`open`,
pyopen-wakeword). Both bring their own TensorFlow Lite runtime and built-in models, so nothing is
downloaded. `phrase` keeps the older way, the recogniser listening for a phrase in the person's
own language, and is also what the live loop falls back to when a wake-word model cannot load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ModelError
from assistant.wake.model_files import spoken_form

__all__ = ["BUILT_IN", "ENGINES", "WakeEngine", "detection_times", "load_engine", "spoken_form"]

ENGINES = ("micro", "open", "phrase")
BUILT_IN = {
    "micro": ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft"),
    "open": ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy"),
}
PACKAGES = {"micro": "pymicro-wakeword", "open": "pyopen-wakeword"}
RATE = 16000
REFRACTORY = 1.5
"""Seconds after a detection in which the same wake word is not counted again (one saying of it
raises the model's score for several frames)."""


class WakeEngine(Protocol):
    spoken: str
    """How the person says it ("Okay Nabu"), for the 'ready' reply."""

    def hears(self, block: np.ndarray) -> bool:
        """Feed 16 kHz mono int16 audio of any length; True once the wake word was just said."""

    def reset(self) -> None:
        """Forget what was heard so far (after a detection, or before listening again)."""


def load_engine(activation) -> WakeEngine:
    """The engine and model the [activation] settings name; ModelError with one line if it cannot load."""
    engine = activation.wake_engine
    if engine not in BUILT_IN:
        raise ModelError(f"activation.wake_engine '{engine}' has no wake-word model (use micro or open)")
    if not activation.wake_model and activation.wake_word not in BUILT_IN[engine]:
        raise ModelError(f"'{activation.wake_word}' is not a built-in wake word of the {engine} engine "
                         f"(choose one of {', '.join(BUILT_IN[engine])}, or set activation.wake_model)")
    try:
        if engine == "micro":
            from assistant.wake.micro import MicroEngine as chosen
        else:
            from assistant.wake.open import OpenEngine as chosen
    except ImportError as error:
        raise ModelError(f"the {engine} wake-word engine is not installed ({error.name or error}); "
                         f"run ./scripts/setup or pip install {PACKAGES[engine]}") from None
    return chosen.load(activation.wake_word, Path(activation.wake_model).expanduser() if activation.wake_model else None)


def detection_times(engine: WakeEngine, samples: np.ndarray, block_seconds: float = 0.1) -> list[float]:
    """Seconds into a recording at which the wake word was heard, fed block by block as a
    microphone would feed it; one saying counts once (REFRACTORY)."""
    engine.reset()
    block = int(RATE * block_seconds)
    times: list[float] = []
    for start in range(0, len(samples), block):
        if engine.hears(samples[start:start + block]):
            at = round((start + block) / RATE, 2)
            if not times or at - times[-1] >= REFRACTORY:
                times.append(at)
    return times
