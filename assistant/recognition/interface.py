"""What every recognition engine shares: the audio it takes, the Transcript it gives, the
Recogniser protocol, and the written form the understanding step reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000
# Below this level (about -60 dBFS) a recording holds no speech a microphone could have caught.
_SILENCE_RMS = 30.0


@dataclass(frozen=True)
class Transcript:
    text: str
    """What was heard, lower case as the engine gives it; empty when nothing was understood."""

    confidence: float
    """0..1, the engine's own certainty; 0 for an empty transcript."""

    final: bool
    """False for a partial result while the person is still speaking."""

    unsure: bool = False
    """The engine heard words but doubts them (Whisper below the profile's whisper_unsure_below):
    the live conversation asks the person to say it again rather than act on a mishearing."""

    alternatives: tuple[str, ...] = ()
    """Other readings of the same audio the engine found nearly as likely (Whisper's n-best),
    normalised like `text`; a danger cue only in one of them is possibly said."""


class Recogniser(Protocol):
    language: str
    streams: bool
    """True when accept() decodes as it is fed, so feeding it while the person speaks saves time."""

    def accept(self, samples: np.ndarray) -> Transcript | None:
        """Feed 16 kHz mono int16 samples; returns a partial transcript when the engine has one."""

    def finish(self) -> Transcript:
        """End of the utterance: the final transcript; the recogniser is then ready for the next."""

    def set_grammar(self, phrases: list[str] | None) -> None:
        """Only listen for these phrases (anything else gives an empty text); None lifts it."""

    def reset(self) -> None:
        """Forget the audio of the current utterance."""



def is_silent(samples: np.ndarray) -> bool:
    if samples.size == 0:
        return True
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < _SILENCE_RMS


def normalise_text(text: str) -> str:
    """Lower case, punctuation dropped: the form the understanding step reads."""
    kept = "".join(ch if ch.isalnum() or ch in " '-" else " " for ch in text.lower())
    return " ".join(kept.split())


def hear_whole(recogniser, samples: np.ndarray) -> Transcript:
    """One utterance, already recorded: whole to an engine that hears it at once (Whisper, a
    Wyoming service), in 0.2 s blocks to a streaming one (Vosk), the way the microphone delivers it."""
    if hasattr(recogniser, "transcribe"):
        return recogniser.transcribe(samples)
    recogniser.reset()
    step = SAMPLE_RATE // 5
    for start in range(0, len(samples), step):
        recogniser.accept(samples[start : start + step])
    return recogniser.finish()
