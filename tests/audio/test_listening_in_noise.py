"""Listening outdoors: real speech under steady noise, heard through the sound cleaner and the voice
detector that ends an utterance, and then by the recogniser.

Descriptions from the spoken corpora, said by espeak-ng English and the human-cut Indonesian voice
(mb-id1) and espeak-ng Indonesian, with 1.5 s of the noise before the voice (a microphone that was
already listening) and 4 s after it, under pink, brown and traffic-shaped noise 10 to 0 dB below
the speech. An utterance is heard right by the voice detector when it ends on its own (not at the
20 s cap) and keeps all of the speech; noise alone must never start one.

The figures are printed per detector and condition; docs/measurements.md has the first run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

import speech_maker
from assistant.audio import load_wav
from assistant.cleaning import SoundCleaner
from assistant.config import Settings
from assistant.endpoint import END_OF_SPEECH, EndpointConfig, capture, frames_of

pytestmark = pytest.mark.audio

REPO = Path(__file__).resolve().parents[2]
BEFORE, AFTER = 1.5, 4.0
VOICES = {"en": ("en-us", "en-gb+m4"), "id": ("mb-id1", "id")}
CONDITIONS = (("pink-5dB", "pinknoise", 5), ("brown-10dB", "brownnoise", 10), ("traffic-0dB", "traffic", 0))
PER_LANGUAGE = 8


@dataclass(frozen=True)
class Said:
    language: str
    voice: str
    condition: str
    text: str
    speech_seconds: float
    samples: np.ndarray


@pytest.fixture(scope="module")
def descriptions(audio_dir) -> list[Said]:
    folder = audio_dir / "in-noise"
    folder.mkdir(exist_ok=True)
    made = []
    for language, voices in VOICES.items():
        corpus = yaml.safe_load((REPO / "tests" / "data" / "spoken" / f"{language}.yaml").read_text(encoding="utf-8"))
        for index, entry in enumerate(corpus[:PER_LANGUAGE]):
            voice = voices[index % len(voices)]
            raw = speech_maker.speak(entry["text"], folder / f"{language}-{index}.raw.wav", voice, 140)
            padded = speech_maker.pad(raw, folder / f"{language}-{index}.pad.wav", BEFORE, AFTER)
            for name, kind, below in CONDITIONS:
                wav = speech_maker.with_noise_below(padded, folder / f"{language}-{index}-{name}.wav", below, kind,
                                                    repeatable=True)
                made.append(Said(language, voice, name, entry["text"], speech_maker.duration(raw), load_wav(wav)))
    return made


@pytest.fixture(scope="module")
def noise_beds(audio_dir) -> dict[str, np.ndarray]:
    """Ten seconds of each noise alone, at the level it has under the speech."""
    folder = audio_dir / "in-noise"
    folder.mkdir(exist_ok=True)
    quiet = speech_maker.silence(folder / "quiet.wav", 10.0)
    loud = load_wav(speech_maker.speak("ah", folder / "level.raw.wav", "en-us", 140))
    speech_maker.write_wav(folder / "reference.wav", np.concatenate([loud, load_wav(quiet)]))
    beds = {}
    for name, kind, below in CONDITIONS:
        mixed = load_wav(speech_maker.with_noise_below(folder / "reference.wav", folder / f"bed-{name}.wav", below, kind))
        beds[name] = mixed[len(loud) :]
    return beds


def _cleaned(samples: np.ndarray, level: int) -> np.ndarray:
    return SoundCleaner(level, 0).clean_recording(samples) if level else samples


def _ended_right(said: Said, detector: str, cleaning: int) -> bool:
    utterance = capture(frames_of(_cleaned(said.samples, cleaning), 1600), EndpointConfig(voice_detector=detector))
    # Kept all of it: the utterance starts before the voice and lasts at least as long.
    return utterance.reason == END_OF_SPEECH and utterance.seconds >= said.speech_seconds


def _false_starts(beds: dict[str, np.ndarray], detector: str, cleaning: int) -> list[str]:
    config = EndpointConfig(voice_detector=detector, listen_timeout=8.0)
    return [name for name, bed in beds.items()
            if capture(frames_of(_cleaned(bed, cleaning), 1600), config).heard_speech]


def _tally(descriptions: list[Said], detector: str, cleaning: int) -> Counter:
    right = Counter()
    for said in descriptions:
        right[said.condition, "all"] += 1
        right[said.condition, "right"] += _ended_right(said, detector, cleaning)
    return right


def _report(name: str, right: Counter, false: list[str]) -> str:
    conditions = ", ".join(f"{condition} {right[condition, 'right']}/{right[condition, 'all']}" for condition, _k, _b in CONDITIONS)
    return f"[voice detector] {name}: ended on its own with all the speech: {conditions}; noise alone started one: {false or 'never'}"


def test_silero_ends_every_utterance_in_steady_noise_and_webrtcvad_does_not(descriptions, noise_beds):
    """The comparison the default rests on (EndpointConfig.voice_detector): on this corpus's first
    run webrtcvad took every one of the noises for speech, so no utterance ended before the cap,
    while silero ended all of them and started on no noise alone."""
    figures = {}
    for detector, cleaning in (("webrtc", 0), ("silero", 0), ("webrtc", 3), ("silero", 3)):
        right, false = _tally(descriptions, detector, cleaning), _false_starts(noise_beds, detector, cleaning)
        figures[detector, cleaning] = (sum(right[c, "right"] for c, _k, _b in CONDITIONS), false)
        print(_report(f"{detector}, noise suppression {cleaning}", right, false))
    total = len(descriptions)
    silero, webrtc = figures["silero", 0], figures["webrtc", 0]
    assert silero[0] >= total - 1, f"silero ended {silero[0]}/{total} on its own"
    assert silero[1] == [] and figures["silero", 3][1] == []
    assert figures["silero", 3][0] >= total - 1
    assert silero[0] > webrtc[0] and figures["silero", 3][0] >= figures["webrtc", 3][0]


def test_the_default_detector_is_silero_and_hears_a_quiet_room_as_well(audio_dir):
    """Quiet room, the everyday case: both detectors end the utterance soon after the voice."""
    folder = audio_dir / "in-noise"
    folder.mkdir(exist_ok=True)
    raw = speech_maker.speak("my calf hurts when I walk", folder / "quiet.raw.wav", "en-us", 140)
    padded = speech_maker.pad(raw, folder / "quiet.pad.wav", 1.0, 3.0)
    room = load_wav(speech_maker.with_noise(speech_maker.convert(padded, folder / "quiet.wav", rate=16000),
                                            folder / "quiet-room.wav", "brownnoise", 0.002))
    assert EndpointConfig.from_settings(Settings()).voice_detector == "silero"
    for detector in ("silero", "webrtc"):
        utterance = capture(frames_of(room, 1600), EndpointConfig(voice_detector=detector))
        assert utterance.reason == END_OF_SPEECH, detector
        assert speech_maker.duration(raw) <= utterance.seconds <= speech_maker.duration(raw) + 1.0 + 1.2 + 0.5, detector


# ---- noise suppression and what the recogniser hears ---------------------------------------------

ANSWER_VOICES = {"en": ("en-us", "en-gb"), "id": ("mb-id1", "id")}
SUPPRESSION = Settings().audio.noise_suppression or 2
"""The level compared with no suppression: the default if it is on, else WebRTC's middle level."""
DESCRIPTIONS_HEARD = 4


def _answers_in_noise(language: str, folder: Path) -> list[tuple[str, str, str, Path]]:
    """Every answer form in two voices, 1 s of noise before it, pink noise 5 dB under the speech
    (the same noise on every run, so the two hearings compare like with like)."""
    from test_answers import FORMS, RATES

    made = []
    for index, said in enumerate(FORMS[language]):
        for turn, voice in enumerate(ANSWER_VOICES[language]):
            rate = RATES[(index + turn) % len(RATES)]
            raw = speech_maker.speak(said, folder / f"{language}-{index}-{turn}.raw.wav", voice, rate)
            padded = speech_maker.pad(raw, folder / f"{language}-{index}-{turn}.pad.wav", 1.0, 0.6)
            wav = speech_maker.with_noise_below(padded, folder / f"{language}-{index}-{turn}.wav", 5, repeatable=True)
            made.append((said, f"{voice}@{rate}", "pink noise 5 dB under", wav))
    return made


def _suppressed(renderings, level: int, folder: Path):
    cleaned = []
    for said, voice, condition, wav in renderings:
        out = folder / f"{Path(wav).stem}.ns{level}.wav"
        speech_maker.write_wav(out, SoundCleaner(level, 0).clean_recording(load_wav(wav)))
        cleaned.append((said, voice, f"{condition}, suppression {level}", out))
    return cleaned


def test_answers_and_descriptions_in_5db_noise_with_and_without_suppression(descriptions, audio_dir):
    from test_answers import _named, _rate, _share, hear_all
    from test_recognition import word_accuracy

    from assistant.live import Ears

    folder = audio_dir / "in-noise-answers"
    folder.mkdir(exist_ok=True)
    answered = {}
    for language in ("en", "id"):
        renderings = _answers_in_noise(language, folder)
        off = hear_all(language, renderings)
        print(f"\n[in 5 dB noise, {language}] without suppression:")
        off.print_misses()
        on = hear_all(language, _suppressed(renderings, SUPPRESSION, folder))
        ears = Ears(Settings(language=language))
        spoken = [said for said in descriptions if said.language == language and said.condition == "pink-5dB"]
        accuracy = {}
        for level in (0, SUPPRESSION):
            heard = []
            for said in spoken[:DESCRIPTIONS_HEARD]:
                # The way the live loop hears it: cleaned, cut by the voice detector, then recognised.
                utterance = capture(frames_of(_cleaned(said.samples, level), 1600), EndpointConfig())
                heard.append(word_accuracy(said.text, ears.hear(utterance.audio).text))
            accuracy[level] = float(np.mean(heard))
        print(f"\n[in 5 dB noise, {language}] answers without suppression {_rate(off.answers)}, with suppression "
              f"{SUPPRESSION} {_rate(on.answers)}; yes/no swaps {len(off.swaps)} and {len(on.swaps)}; descriptions' "
              f"words heard {accuracy[0]:.0%} and {accuracy[SUPPRESSION]:.0%}")
        on.print_misses()
        answered[language] = (off, on, accuracy)
    # First run (2026-12-07, AMD EPYC with AVX-512): English answers 23/26 without and with
    # suppression 2, no swap either way, descriptions' words 75% and 79%; Indonesian 13/34 and
    # 12/34, swaps 1 and 3 (a no heard as yes: "enggak", "ndak", "belum"), words 37% and 38%. So
    # suppression stays off by default (config.AudioSettings.noise_suppression). The bars keep the
    # measurement honest: English no worse, Indonesian no worse than that first run, above all in
    # a no that was not said, the one miss that hides a danger sign.
    (en_off, en_on, en_words), (id_off, id_on, id_words) = answered["en"], answered["id"]
    assert _share(en_on.answers) >= _share(en_off.answers) and len(en_on.swaps) <= len(en_off.swaps)
    assert en_words[SUPPRESSION] >= en_words[0] - 0.05
    assert _right(id_on) >= _right(id_off) - 2 and len(id_on.swaps) <= len(id_off.swaps) + 2
    assert id_words[SUPPRESSION] >= id_words[0] - 0.05
    assert len(en_on.false_no) <= len(en_off.false_no), _named(en_on.false_no)
    # Indonesian, first run: "ulangi" (repeat) heard as "bukan" (no) with suppression.
    assert len(id_on.false_no) <= len(id_off.false_no) + 1, _named(id_on.false_no)


def _right(tally) -> int:
    return sum(h.read_as == h.want for h in tally.answers)
