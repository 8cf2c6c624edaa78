"""Triage: red flags outrank causes, scores are shares, questions separate the causes."""

from __future__ import annotations

import pytest

from assistant.knowledge import load_knowledge
from assistant.triage import rank_causes, next_question, triage
from assistant.understanding import Findings

RULES = load_knowledge().rules


def findings(*present, absent=()):
    return Findings("en", frozenset(present), frozenset(absent))


def test_red_flag_outranks_a_clear_cause():
    result = triage(findings("cramp", "hard_exercise", "swelling", "redness"))
    assert result.red_flags == ("dvt",)
    assert result.level == "urgent"
    assert result.causes[0][0] == "exercise_cramp"


def test_emergency_beats_urgent():
    result = triage(findings("swelling", "redness", "breathless", "calf_pain"))
    assert set(result.red_flags) == {"pulmonary_embolism", "dvt"}
    assert result.level == "emergency"


def test_urgent_sign_without_a_red_flag_id():
    result = triage(findings("cramp", "long_cramp"))
    assert result.red_flags == () and result.urgent_signs == ("long_cramp",)
    assert result.level == "urgent"


def test_out_of_domain_has_no_causes():
    result = triage(findings())
    assert result.level == "none" and result.causes == () and not result.in_domain


def test_scores_are_shares_best_first():
    ranking = rank_causes(frozenset({"cramp", "walking_trigger"}), frozenset(), RULES)
    assert sum(score for _, score in ranking) == pytest.approx(1.0)
    assert [s for _, s in ranking] == sorted((s for _, s in ranking), reverse=True)


def test_no_question_once_the_ranking_is_clear():
    present = frozenset({"cramp", "walking_trigger", "eases_standing_still", "same_distance", "smoker"})
    assert rank_causes(present, frozenset(), RULES)[0][0] == "peripheral_artery_disease"
    assert next_question(present, frozenset(), RULES) is None


def test_questions_already_answered_are_not_asked():
    present = frozenset({"cramp", "walking_trigger", "hard_exercise"})
    question = next_question(present, frozenset({"eases_standing_still"}), RULES)
    assert question not in ("hard_exercise", "eases_standing_still")


@pytest.mark.parametrize("cause", [c.id for c in RULES.causes])
@pytest.mark.parametrize("opening", [{"cramp"}, {"calf_pain", "walking_trigger"}, {"cramp", "walking_trigger"}])
def test_four_answers_put_every_cause_in_the_top_two(cause, opening):
    """A patient who answers from their own cause's typical findings."""
    model = {c.id: c for c in RULES.causes}[cause]
    present, absent, asked = set(opening), set(), set()
    for _ in range(4):
        question = next_question(frozenset(present), frozenset(absent), RULES, frozenset(asked))
        if question is None:
            break
        asked.add(question)
        finding = RULES.questions[question]
        (present if model.likelihood.get(finding, RULES.background) >= 0.5 else absent).add(finding)
    top_two = [c for c, _ in rank_causes(frozenset(present), frozenset(absent), RULES)[:2]]
    assert cause in top_two
