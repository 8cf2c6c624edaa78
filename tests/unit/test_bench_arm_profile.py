"""scripts/bench --profile arm: the rows a Raspberry Pi runs, beside this machine's default, and the
ratios between them (the real run is tests/unit/test_bench.py's; no timing is asserted here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402


def test_a_pi_uses_the_thread_rule_of_the_recogniser_itself():
    assert bench.pi_threads(4) == 3  # one core of four left to the microphone and the voice
    assert bench.pi_threads(2) == 2


def test_the_arm_rows_are_the_light_models_on_the_pis_threads_beside_the_x86_default():
    rows = bench.arm_cases(["en", "id"])
    by = {(row.lang, row.role, row.engine): row for row in rows}
    assert by[("en", "x86", "whisper")].model == "whisper-base"
    assert by[("en", "arm", "whisper")].model == "whisper-tiny.en"
    assert by[("id", "arm", "whisper")].model == "whisper-base"  # no light Indonesian model
    assert by[("en", "arm", "vosk")].model == "vosk-model-small-en-us-0.15"
    threads = min(3, os.cpu_count() or 1)
    assert all(row.threads == threads for row in rows if row.role == "arm" and row.engine == "whisper")
    assert "ARM default" in by[("en", "arm", "whisper")].label


def test_the_comparison_is_a_ratio_per_language():
    def row(lang, role, rtf, wait):
        return {"lang": lang, "role": role, "engine": "whisper", "label": f"{lang} {role}",
                "metrics": {"load_s": 1.0, "rtf": rtf, "eos_to_final_s": wait, "eos_to_first_audio_s": wait,
                            "peak_rss_mb": 400}}

    compared = bench.arm_comparison([row("en", "x86", 0.2, 1.0), row("en", "arm", 0.1, 0.4), row("id", "x86", 0.2, 1.0)])
    assert [c["lang"] for c in compared] == ["en"]  # no ARM row measured for id: no ratio
    assert compared[0]["ratios"]["rtf"] == 0.5 and compared[0]["ratios"]["eos_to_first_audio_s"] == 0.4
    assert "0.50x" in bench.arm_table(compared)
