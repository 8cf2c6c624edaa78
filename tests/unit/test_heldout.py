"""The foundation issue's done-when bar on descriptions written apart from the tuning corpus:
every red flag caught, no false alarm, cause in the top two for 90% or more, out-of-domain as none."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evaluation import evaluate, load_cases, text_answerer

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("corpus", ["heldout", "blind"])
@pytest.mark.parametrize("language", ["en", "id"])
def test_descriptions_written_apart_from_the_tuning_corpus(corpus, language):
    report = evaluate(load_cases(DATA / corpus / f"{language}.yaml"), language, text_answerer(Settings()))
    misses = "\n".join(report.misses)
    assert report.red_flag_recall == 1.0, misses
    assert report.false_alarm_cases == 0, misses
    assert report.top2_accuracy >= 0.9, misses
    assert report.out_of_domain_accuracy >= 0.9, misses
