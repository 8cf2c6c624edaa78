"""The wake words heard for real: spoken by the neural English test voices, espeak-ng and the
human-cut Indonesian voice (an Indonesian speaker says the English wake word too), at several
rates, clean and under brown, pink and traffic-shaped noise 10, 5 and 0 dB below the speech; and an
hour of noise and unrelated speech (the assistant's own replies in both languages among it) that
must never wake it.

The figures are printed per engine, voice family and condition; the bars hold what the first run
measured (FIRST_RUN), so a change that makes a wake word harder to hear fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

import speech_maker
from assistant.audio import load_wav
from assistant.wake import BUILT_IN, detection_times, load_engine

pytestmark = pytest.mark.audio

REPO = Path(__file__).resolve().parents[2]
# (family, voice, rate): hibari's speed is a length scale, espeak-ng's words a minute; Piper's joe
# speaks at its own pace.
VOICES = (("hibari", "hibari", 0.8), ("hibari", "hibari", 1.0), ("piper", "piper", 0),
          ("espeak-en", "en-us", 120), ("espeak-en", "en-gb+m4", 165),
          ("mb-id1", "mb-id1", 120), ("mb-id1", "mb-id1", 160), ("espeak-id", "id", 140))
CONDITIONS = (("clean", None, None), ("brown-10dB", "brownnoise", 10), ("pink-5dB", "pinknoise", 5),
              ("traffic-0dB", "traffic", 0))
SPOKEN = {"okay_nabu": "Okay Nabu", "hey_jarvis": "Hey Jarvis", "alexa": "Alexa", "hey_mycroft": "Hey Mycroft",
          "hey_rhasspy": "Hey Rhasspy"}
NOISE_HOUR = 3600.0

# First run (2026-12-07, Intel Xeon with AVX-512; the engines' own TensorFlow Lite), before any bar:
FIRST_RUN = {
    "micro": "clean and 10 dB 45/64 (70%), all 82/128 (64%); per word clean and 10 dB: okay_nabu 12/16, "
             "hey_jarvis 9/16, alexa 16/16, hey_mycroft 8/16; per family (all conditions): hibari 24/32, "
             "piper 15/16, espeak-en 17/32, mb-id1 21/32, espeak-id 5/16; pink noise 5 dB below 17/32",
    "open": "clean and 10 dB 56/80 (70%), all 95/160 (59%); per word clean and 10 dB: okay_nabu 10/16, "
            "hey_jarvis 16/16, alexa 14/16, hey_mycroft 6/16, hey_rhasspy 10/16; per family: hibari 38/40, "
            "piper 17/20, espeak-en 19/40, mb-id1 16/40, espeak-id 5/20; pink noise 5 dB below 14/40",
}
# The 95% is met by one wake word per engine (alexa on micro, hey_jarvis on open), not by
# all of them: espeak-ng's voices are the hardest to hear, as they are for the recogniser. The
# noise beds are sox's random noise, so the bars sit two sayings under the first run.
BARS = {"micro": {"clean_and_10": 43, "every": 80, "best_word": ("alexa", 15)},
        "open": {"clean_and_10": 54, "every": 93, "best_word": ("hey_jarvis", 15)}}


@dataclass(frozen=True)
class Saying:
    wake_word: str
    family: str
    voice: str
    rate: float
    condition: str
    path: Path


def _render(text: str, voice: str, rate: float, out: Path) -> Path:
    if voice == "hibari":
        return speech_maker.speak_hibari(text, out, speed=rate)
    if voice == "piper":
        return speech_maker.speak_piper(text, out)
    return speech_maker.speak(text, out, voice, int(rate))


def in_noise(clean: Path, out: Path, kind: str | None, below_db: float | None) -> Path:
    if kind is None:
        return speech_maker.convert(clean, out, rate=16000)
    return speech_maker.with_noise_below(clean, out, below_db, kind)


@pytest.fixture(scope="module")
def sayings(tmp_path_factory) -> list[Saying]:
    folder = tmp_path_factory.mktemp("wake")
    made = []
    for word, text in SPOKEN.items():
        for family, voice, rate in VOICES:
            raw = _render(text, voice, rate, folder / f"{word}-{voice}-{rate}.raw.wav")
            padded = speech_maker.pad(raw, folder / f"{word}-{voice}-{rate}.pad.wav", 1.0, 1.0)
            for condition, kind, below in CONDITIONS:
                path = in_noise(padded, folder / f"{word}-{voice}-{rate}-{condition}.wav", kind, below)
                made.append(Saying(word, family, voice, rate, condition, path))
    return made


def _engine(engine: str, word: str):
    return load_engine(SimpleNamespace(wake_engine=engine, wake_word=word, wake_model=""))


def _detected(engine: str, sayings: list[Saying]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(wake word, family, condition) -> (detected, said). Each wake word's sayings are heard as
    one stream, as a microphone left on would feed them; a saying is detected when the wake word
    was heard once within it."""
    found, said = Counter(), Counter()
    for word in BUILT_IN[engine]:
        mine = [s for s in sayings if s.wake_word == word]
        clips = [load_wav(saying.path) for saying in mine]
        starts = np.cumsum([0, *map(len, clips)]) / 16000
        times = np.array(detection_times(_engine(engine, word), np.concatenate(clips)))
        for saying, start, end in zip(mine, starts[:-1], starts[1:]):
            key = (word, saying.family, saying.condition)
            said[key] += 1
            found[key] += int(np.sum((times > start) & (times <= end)) == 1)
    return {key: (found[key], said[key]) for key in said}


def _share(table, where) -> tuple[int, int]:
    return (sum(found for key, (found, _) in table.items() if where(key)),
            sum(said for key, (_, said) in table.items() if where(key)))


def _figures(engine: str, table) -> dict[str, str]:
    """Printed, and the shape FIRST_RUN keeps: per wake word, per voice family, per condition."""
    rows = {}
    for position, name in ((0, "word"), (1, "family"), (2, "condition")):
        for value in dict.fromkeys(key[position] for key in table):
            hits, total = _share(table, lambda key: key[position] == value)
            rows[f"{name} {value}"] = f"{hits}/{total}"
    for word in dict.fromkeys(key[0] for key in table):
        hits, total = _share(table, lambda key: key[0] == word and key[2] in ("clean", "brown-10dB"))
        rows[f"word {word} clean and 10 dB"] = f"{hits}/{total}"
    print()
    for label, row in rows.items():
        print(f"{engine} {label}: {row}")
    return rows


@pytest.mark.parametrize("engine", ["micro", "open"])
def test_spoken_wake_words_are_heard_in_every_voice_and_noise(engine, sayings):
    table = _detected(engine, sayings)
    _figures(engine, table)
    hits, total = _share(table, lambda key: key[2] in ("clean", "brown-10dB"))
    every = _share(table, lambda key: True)
    print(f"{engine}: clean and 10 dB {hits}/{total}, all conditions {every[0]}/{every[1]}")
    bars = BARS[engine]
    assert hits >= bars["clean_and_10"] and every[0] >= bars["every"], (hits, every)
    best, best_bar = bars["best_word"]
    assert _share(table, lambda key: key[0] == best and key[2] in ("clean", "brown-10dB"))[0] >= best_bar


def _unrelated_hour(folder: Path) -> np.ndarray:
    """An hour of what a wake word must ignore: every reply of the assistant in both languages
    (English by espeak-ng and Piper, Indonesian by mb-id1 and espeak-ng), the descriptions people
    give, and stretches of noise alone; speech over a noise bed that changes kind as it goes."""
    from voice_check import reply_texts

    # A reply that names the wake words (setup's question about them) would wake it rightly.
    speech = [(text, "en-us") for key, text in reply_texts("en") if key != "wizard_wake_word"]
    speech += [(text, "mb-id1") for key, text in reply_texts("id") if key != "wizard_wake_word"]
    for language, voice in (("en", "en-gb+m4"), ("id", "id")):
        cases = yaml.safe_load((REPO / "tests" / "data" / "utterances" / f"{language}.yaml").read_text(encoding="utf-8"))
        speech += [(case["text"], voice) for case in cases["cases"][:60]]
    clips, seconds = [], 0.0
    gap = np.zeros(8000, dtype=np.int16)
    for index, (text, voice) in enumerate(speech):
        raw = speech_maker.speak(text, folder / f"talk-{index}.wav", voice, 150)
        clip = load_wav(raw)
        raw.unlink()
        clips += [clip, gap]
        seconds += (len(clip) + len(gap)) / 16000
    talk = np.concatenate(clips)
    beds = [load_wav(speech_maker.noise(folder / "brown.wav", 300, "brownnoise", 0.05)),
            load_wav(speech_maker.noise(folder / "pink.wav", 300, "pinknoise", 0.03)),
            load_wav(speech_maker.noise(folder / "traffic.wav", 300, "traffic", 0.5))]
    hour = int(NOISE_HOUR * 16000)
    bed = np.concatenate([beds[i % 3] for i in range(hour // len(beds[0]) + 1)])[:hour].astype(np.float64)
    # the talk runs twice through the hour (at different places in the noise), between noise alone
    mixed = bed.copy()
    for start in (0, hour // 2):
        length = min(len(talk), hour - start)
        mixed[start:start + length] += talk[:length]
    return np.clip(mixed, -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def unrelated_hour(tmp_path_factory) -> np.ndarray:
    return _unrelated_hour(tmp_path_factory.mktemp("unrelated"))


def test_an_hour_of_noise_and_other_speech_never_wakes_the_micro_engine(unrelated_hour):
    false_wakes = {word: detection_times(_engine("micro", word), unrelated_hour) for word in BUILT_IN["micro"]}
    print(f"micro: false wakes in {len(unrelated_hour) / 16000 / 60:.0f} min: "
          + ", ".join(f"{word} {len(times)}" for word, times in false_wakes.items()))
    assert false_wakes["okay_nabu"] == [], false_wakes  # the default wake word: none at all
    assert all(times == [] for times in false_wakes.values()), false_wakes  # none for any, as first measured


def test_twenty_minutes_of_it_never_wake_the_open_engine(unrelated_hour):
    """openWakeWord costs some thirty times more (its speech embedding), so CI hears a third of the
    hour with the default wake word."""
    stretch = unrelated_hour[: 20 * 60 * 16000]
    times = detection_times(_engine("open", "okay_nabu"), stretch)
    print(f"open: false wakes in 20 min: okay_nabu {len(times)} at {times}")
    assert times == []


def test_the_wake_command_prints_when_it_was_heard(sayings, tmp_path):
    """`calf-assistant wake --wav FILE --json`, as a caregiver checks a recording."""
    saying = next(s for s in sayings if s.wake_word == "okay_nabu" and s.voice == "piper" and s.condition == "clean")
    quiet = speech_maker.silence(tmp_path / "quiet.wav", 2.0)
    both = tmp_path / "twice.wav"
    speech_maker._run(["sox", str(saying.path), str(quiet), str(saying.path), str(both)])
    result = subprocess.run([sys.executable, "-m", "assistant", "wake", "--wav", str(both), "--json"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["wake_word"] == "Okay Nabu" and report["engine"] == "micro"
    assert len(report["detections"]) == 2, report
    first, second = report["detections"]
    assert 1.0 <= first <= 3.0 and second - first == pytest.approx(speech_maker.duration(saying.path) + 2.0, abs=1.0)
