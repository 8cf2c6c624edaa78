"""Stand-ins for the microphone shared by the live-loop unit tests (the real one is tested on
PulseAudio virtual devices in tests/audio)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from assistant.errors import DeviceError


def voice(seconds: float) -> np.ndarray:
    """A voiced buzz with syllable-like loudness changes: speech to a VAD, 16 kHz int16."""
    t = np.arange(int(seconds * 16000)) / 16000
    phase = 2 * np.pi * 120 * t
    tone = 5000 * sum(np.sin(k * phase) / k for k in range(1, 25))
    return (tone * (0.55 + 0.45 * np.abs(np.sin(5 * np.pi * t)))).astype(np.int16)


class FakeMicrophone:
    """Hands over `audio` (default: 10 s of quiet) in 0.1 s blocks on every listening turn;
    can fail to open a number of times or fail once while reading, like an unplugged device."""

    def __init__(self, audio=None, fail_opens=0, fail_read=False):
        self.audio, self.fail_opens, self.fail_read = audio, fail_opens, fail_read
        self.opens = self.closes = 0
        self.muted_now = False

    def open(self):
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise DeviceError("cannot open the microphone 'USB' (Device unavailable)")
        return self

    def close(self):
        self.closes += 1

    def flush(self):
        pass

    @contextmanager
    def muted(self):
        self.muted_now = True
        try:
            yield
        finally:
            self.muted_now = False

    def blocks(self):
        if self.fail_read:
            self.fail_read = False
            raise DeviceError("the microphone stopped sending sound (unplugged?)")
        audio = self.audio if self.audio is not None else np.zeros(16000 * 10, dtype=np.int16)
        for start in range(0, len(audio), 1600):
            yield audio[start : start + 1600]
