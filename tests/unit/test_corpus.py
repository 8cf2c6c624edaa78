"""The utterance corpus bar from the foundation issue: every red flag caught, no red flag on
negated or calm cases, cause in the top two for at least 95%, out-of-domain answered as none."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evaluation import evaluate, load_cases, text_answerer

CORPUS = Path(__file__).resolve().parents[1] / "data" / "utterances"


@pytest.fixture(scope="module", params=["en", "id"])
def report(request):
    cases = load_cases(CORPUS / f"{request.param}.yaml")
    assert len(cases) >= 150
    return evaluate(cases, request.param, text_answerer(Settings()))


def test_every_red_flag_is_caught(report):
    missed = [m for m in report.misses if "missed" in m]
    assert report.red_flag_recall == 1.0, "\n".join(missed)


def test_no_false_alarms(report):
    alarms = [m for m in report.misses if "false alarm" in m]
    assert report.false_alarm_cases == 0, "\n".join(alarms)


def test_cause_in_top_two(report):
    wrong = [m for m in report.misses if "causes" in m]
    assert report.top2_accuracy >= 0.95, "\n".join(wrong)


def test_out_of_domain_is_none(report):
    assert report.out_of_domain_accuracy == 1.0, "\n".join(report.misses)


def test_levels_match(report):
    wrong = [m for m in report.misses if "level" in m]
    assert report.level_accuracy >= 0.9, "\n".join(wrong)
