"""The safety net: danger asked about before reassurance, every serious symptom taken seriously.

Hidden patients talk to the real dialogue (assistant/evaluation.py talk_with); one-turn cases go
through the same path as `calf-assistant ask`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answer import answer_text
from assistant.config import Settings
from assistant.dialogue import MAX_QUESTIONS
from assistant.evaluation import evaluate, evaluate_conversations, load_cases, load_patients, text_answerer
from assistant.knowledge import load_knowledge
from assistant.reply import spoken_numbers

DATA = Path(__file__).resolve().parents[1] / "data"
LANGUAGES = ("en", "id")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("corpus", ["conversations/{lang}.yaml", "blind_safety/conversations_{lang}.yaml"])
def test_hidden_patients_end_right(corpus, language):
    """Every patient who reveals danger only when asked ends with that red flag, its level and the
    number; calm ones end without an alarm, on their cause, within seven questions."""
    report = evaluate_conversations(load_patients(DATA / corpus.format(lang=language)), language, Settings())
    assert report.danger_patients >= 13 and report.calm_patients >= 9
    assert report.ended_right == report.conversations, "\n".join(report.misses)
    assert report.most_questions <= MAX_QUESTIONS


@pytest.mark.parametrize("language", LANGUAGES)
def test_blind_serious_symptoms_are_urgent_with_the_number_and_denials_stay_calm(language):
    cases = load_cases(DATA / "blind_safety" / f"utterances_{language}.yaml")
    report = evaluate(cases, language, text_answerer(Settings()))
    assert report.red_flag_recall == 1.0, "\n".join(report.misses)
    assert report.danger_answered == report.danger_cases >= 44, "\n".join(report.misses)
    assert report.false_alarm_cases == 0, "\n".join(report.misses)


THE_ISSUE = [
    ("en", "I passed out during my walk", "fainting", "emergency"),
    ("en", "I can't breathe properly", "breathing_difficulty", "emergency"),
    ("en", "I tripped and hit my head", "fall_injury", "urgent"),
    ("id", "saya jatuh dan nggak bisa bangun", "fall_injury", "emergency"),
    ("id", "jantung saya berdebar dan pusing kalau jalan", "heart_warning", "emergency"),
    ("en", "when I walk the pain spreads from my chest to my left arm and jaw", "heart_warning", "emergency"),
]


@pytest.mark.parametrize(("language", "text", "flag", "level"), THE_ISSUE)
def test_serious_symptoms_outside_the_leg_are_never_off_topic(language, text, flag, level):
    settings = Settings()
    answer = answer_text(text, language, settings)
    pack = load_knowledge().pack(language)
    assert flag in answer.triage.red_flags and answer.triage.level == level
    assert pack.reply("out_of_domain") not in answer.reply
    assert all(number in answer.reply for number in settings.emergency_numbers(language))


def test_chest_pain_without_clot_signs_is_the_heart_not_a_lung_clot():
    answer = answer_text("I get chest pain when I walk", "en", Settings())
    assert answer.triage.red_flags == ("heart_warning",)
    with_clot = answer_text("my calf is swollen since my flight and now I have chest pain", "en", Settings())
    assert {"pulmonary_embolism", "heart_warning"} <= set(with_clot.triage.red_flags)


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "I did not faint"), ("en", "I didn't fall, my calf just cramped"), ("id", "nggak jatuh kok"),
     ("id", "tidak pingsan, cuma betis kram"), ("en", "no swelling"), ("id", "tidak bengkak")],
)
def test_denials_raise_nothing(language, text):
    answer = answer_text(text, language, Settings())
    assert answer.triage.red_flags == () and not answer.triage.is_danger


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "my calf cramps when I walk"), ("en", "my tooth hurts"), ("id", "betis saya kram kalau jalan"), ("en", "")],
)
def test_one_turn_replies_end_with_what_to_watch_for_and_the_number(language, text):
    settings = Settings()
    pack = load_knowledge().pack(language)
    answer = answer_text(text, language, settings)
    assert answer.reply.endswith(pack.reply("watch_for", numbers=spoken_numbers(pack, settings)))


def test_danger_replies_do_not_add_the_calm_safety_net():
    settings = Settings()
    pack = load_knowledge().pack("en")
    answer = answer_text("my calf is swollen, red and warm", "en", settings)
    assert answer.triage.is_danger and pack.reply("watch_for", numbers="112") not in answer.reply
