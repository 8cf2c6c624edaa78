"""Cleaning the microphone's sound before anything hears it: noise suppression and automatic gain.

WebRTC's audio processing (through webrtc-noise-gain, as wyoming-satellite uses it) works on 10 ms
blocks of 16 kHz mono int16 and keeps its noise estimate and gain from block to block, so one
cleaner follows one microphone for as long as it is open. The wake-word engine, the end-of-speech
detector and the recogniser all read the cleaned sound, because they all read the microphone.

Both settings are off at 0: `[audio] noise_suppression` 1..4 (WebRTC's levels, 4 the strongest)
and `auto_gain` 1..31 (the loudness it aims for, in dB below full scale: 31 the quietest).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

BLOCK = 160
"""Samples in WebRTC's one block size: 10 ms at 16 kHz."""

NOISE_SUPPRESSION_LEVELS = range(0, 5)
AUTO_GAIN_LEVELS = range(0, 32)


class SoundCleaner:
    """Feed any length of 16 kHz mono int16; whole 10 ms blocks come back cleaned, the rest waits."""

    def __init__(self, noise_suppression: int, auto_gain: int):
        from webrtc_noise_gain import AudioProcessor

        self.noise_suppression = noise_suppression
        self.auto_gain = auto_gain
        self._processor = AudioProcessor(auto_gain, noise_suppression)
        self._waiting = np.zeros(0, dtype=np.int16)

    def clean(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        if self._waiting.size:
            samples = np.concatenate([self._waiting, samples])
        whole = samples.size - samples.size % BLOCK
        self._waiting = samples[whole:].copy()
        if not whole:
            return np.zeros(0, dtype=np.int16)
        raw = samples[:whole].tobytes()
        step = BLOCK * 2
        cleaned = b"".join(self._processor.Process10ms(raw[start:start + step]).audio
                           for start in range(0, len(raw), step))
        return np.frombuffer(cleaned, dtype=np.int16).copy()

    def clean_recording(self, samples: np.ndarray) -> np.ndarray:
        """A whole recording, its last part block padded with silence so nothing is cut."""
        samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        short = -samples.size % BLOCK
        padded = np.concatenate([samples, np.zeros(short, dtype=np.int16)])
        return self.clean(padded)[: samples.size]


def settings_problems(noise_suppression: int, auto_gain: int) -> list[str]:
    problems = []
    if noise_suppression not in NOISE_SUPPRESSION_LEVELS:
        problems.append(f"audio.noise_suppression must be 0 (off) to 4 (strongest), not {noise_suppression}")
    if auto_gain not in AUTO_GAIN_LEVELS:
        problems.append(f"audio.auto_gain must be 0 (off) to 31 (dB below full scale to aim for), not {auto_gain}")
    return problems


def cleaner_for(audio_settings, note=log.warning) -> SoundCleaner | None:
    """The cleaner the settings ask for, or None: off, or its library missing (heard as it is,
    never deaf: `note` gets one line saying so)."""
    noise_suppression, auto_gain = audio_settings.noise_suppression, audio_settings.auto_gain
    if not noise_suppression and not auto_gain:
        return None
    try:
        return SoundCleaner(noise_suppression, auto_gain)
    except ImportError:
        note("noise suppression and automatic gain need webrtc-noise-gain, which is not installed "
             "(run ./scripts/setup); the microphone is heard as it is")
    except Exception as error:  # the native library failed to load on this machine
        note(f"noise suppression and automatic gain could not start ({error}); the microphone is heard as it is")
    return None
