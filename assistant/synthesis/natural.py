"""What the natural engines share: loudness, and float audio turned into the int16 the speaker plays."""

from __future__ import annotations

import numpy as np

PEAK = 0.75
"""Each sentence's loudest sample at volume 1.0: espeak-ng's own peak at amplitude 100 (measured,
about 0.75 of full scale), so "louder" and a change of engine sound alike. Natural voices come out
of their models at varying levels (hibari's heart voice peaks near 0.3), hence per sentence."""


LEAD, TAIL = 0.05, 0.15
"""Seconds of a sentence's own quiet kept before and after it. hibari starts a sentence with about
0.35 s of quiet and ends it with 0.5 s (measured); left in, the pause between sentences would be
half as long again as the profile's sentence_pause, and longer than espeak-ng's."""

QUIET = 0.02
"""Below this share of the sentence's peak a sample counts as quiet."""


def trim(audio: np.ndarray, peak: float, rate: int) -> np.ndarray:
    loud = np.nonzero(np.abs(audio) > QUIET * peak)[0]
    if not loud.size:
        return audio
    start = max(0, loud[0] - int(LEAD * rate))
    end = min(audio.size, loud[-1] + int(TAIL * rate))
    return audio[start:end]


def to_int16(audio: np.ndarray, volume: float, rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-6:
        return np.zeros(audio.size, dtype=np.int16)
    audio = trim(audio, peak, rate)
    scaled = np.clip(audio * (PEAK * volume / peak), -1.0, 1.0)
    return (scaled * 32767.0).astype(np.int16)
