"""What the natural engines share: loudness, and float audio turned into the int16 the speaker plays."""

from __future__ import annotations

import numpy as np

PEAK = 0.75
"""Each sentence's loudest sample at volume 1.0: espeak-ng's own peak at amplitude 100 (measured,
about 0.75 of full scale), so "louder" and a change of engine sound alike. Natural voices come out
of their models at varying levels (hibari's heart voice peaks near 0.3), hence per sentence."""


def to_int16(audio: np.ndarray, volume: float) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-6:
        return np.zeros(audio.size, dtype=np.int16)
    scaled = np.clip(audio * (PEAK * volume / peak), -1.0, 1.0)
    return (scaled * 32767.0).astype(np.int16)
