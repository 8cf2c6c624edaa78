"""The spoken test sets read as text: what the understanding gets right when nothing is misheard.

The spoken tests (tests/audio/test_recognition.py) measure recogniser and understanding together;
this one separates them, so a miss there can be told apart as a mishearing or a misunderstanding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.answer import answer_text
from assistant.config import Settings

SPOKEN = Path(__file__).resolve().parents[1] / "data" / "spoken"
SETS = sorted(path.stem for path in SPOKEN.glob("*.yaml"))


@pytest.mark.parametrize("name", SETS)
def test_every_red_flag_and_no_false_alarm_when_heard_perfectly(name):
    language = name.rsplit("_", 1)[-1] if "_" in name else name
    missed, alarms, wrong_cause, with_cause = [], [], [], 0
    for entry in yaml.safe_load((SPOKEN / f"{name}.yaml").read_text(encoding="utf-8")):
        triage = answer_text(entry["text"], language, Settings()).triage
        expected = set(entry.get("red_flags", []))
        if expected and not expected & set(triage.red_flags):
            missed.append(entry["text"])
        if not expected and triage.red_flags:
            alarms.append((entry["text"], triage.red_flags))
        if entry.get("causes"):
            with_cause += 1
            if not set(entry["causes"]) & {cause for cause, _ in triage.causes[:2]}:
                wrong_cause.append(entry["text"])
    assert not missed and not alarms, (missed, alarms)
    assert len(wrong_cause) <= 0.1 * with_cause, wrong_cause
