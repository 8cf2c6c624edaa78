"""The blind set of the safety-under-speech work (tests/data/blind_speech/, README there), typed:
patients who reveal danger only when asked, openings with the danger word misheard by one sound,
coordinated descriptions, calm patients; and one-turn coordinated descriptions.

Held to its first run (recorded in the README there and in docs/measurements.md), which was
scored before anything was changed for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.config import Settings
from assistant.dialogue import MAX_QUESTIONS
from assistant.evaluation import load_patients, talk_with
from assistant.understanding import Utterance, understand

FOLDER = Path(__file__).resolve().parents[1] / "data" / "blind_speech"
LANGUAGES = ("en", "id")
DANGER = ("urgent", "emergency")

# First run (2026-12-06), before any change for this set: see tests/data/blind_speech/README.md.
# Per language and kind: how many conversations may end wrong. Typed, every quiet-danger patient
# was caught in both languages. Missed: a "misheard" opening whose slip hid the back (en b23c-11)
# and the stroke patient (b23c-17, both languages), the rest-pain patient in Indonesian (b23c-18),
# a coordinated back-and-legs description (en b23c-22); one calm coordinated Indonesian patient
# was raised to urgent (b23c-23). Utterances: "calf_pain" not found where the person says their
# calf cramped (the matcher reads a calf cramp as "cramp"), a back listed apart from "ache" (en
# b23u-07), and a healed back read as back pain (id b23u-16).
# After the matcher learnt parts added by a too-word and parts listed in their own clauses, and
# that an everyday word is never a phrase's loose word, b23c-22, b23c-23 and b23u-07 end right; the
# limits below are what is still wrong, so a change that loses one of them fails here.
# After a phrase of only everyday words kept its cue word for doubt ("dingil" is possibly "dingin")
# and one leg gone weak or numb asks the stroke screen, id b23c-17 and b23c-18 end right. English
# b23c-11 ("bag" for "back", too short to doubt) and b23c-17 ("weep" for "weak", another sound
# class) still do not.
ALLOWED_WRONG = {
    "en": {"quiet_danger": 0, "misheard": 2, "coordinated": 0, "calm": 0},
    "id": {"quiet_danger": 0, "misheard": 0, "coordinated": 0, "calm": 0},
}
ALLOWED_UTTERANCE_MISSES = {"en": 3, "id": 3}


def kinds(language: str) -> dict[str, str]:
    data = yaml.safe_load((FOLDER / f"conversations_{language}.yaml").read_text(encoding="utf-8"))
    return {str(item["id"]): item["kind"] for item in data["conversations"]}


def outcome(patient, language: str) -> list[str]:
    """What went wrong in one typed conversation (nothing: it ended right)."""
    settings = Settings()
    turn, asked = talk_with(patient, language, settings)
    problems = []
    if not turn.done:
        problems.append("did not end")
    if len(asked) > MAX_QUESTIONS:
        problems.append(f"{len(asked)} questions")
    if patient.red_flags:
        missed = patient.red_flags - set(turn.red_flags)
        if missed:
            problems.append(f"missed {sorted(missed)}")
        if turn.level not in DANGER or not all(n in turn.reply for n in settings.emergency_numbers(language)):
            problems.append(f"level {turn.level} or no number")
    elif turn.red_flags or turn.level in DANGER:
        problems.append(f"calm patient raised to {turn.level} {list(turn.red_flags)}")
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_blind_conversations_typed(language):
    kind_of = kinds(language)
    patients = load_patients(FOLDER / f"conversations_{language}.yaml")
    wrong: dict[str, list[str]] = {}
    for patient in patients:
        problems = outcome(patient, language)
        if problems:
            wrong.setdefault(kind_of[patient.id], []).append(f"{patient.id}: {'; '.join(problems)}")
    totals = {kind: sum(1 for k in kind_of.values() if k == kind) for kind in ALLOWED_WRONG[language]}
    print(f"\n[blind speech, typed, {language}] " + ", ".join(
        f"{kind} {totals[kind] - len(wrong.get(kind, []))}/{totals[kind]}" for kind in totals))
    for lines in wrong.values():
        print("  " + "\n  ".join(lines))
    for kind, allowed in ALLOWED_WRONG[language].items():
        assert len(wrong.get(kind, [])) <= allowed, wrong.get(kind)


@pytest.mark.parametrize("language", LANGUAGES)
def test_blind_coordinated_utterances(language):
    cases = yaml.safe_load((FOLDER / f"utterances_{language}.yaml").read_text(encoding="utf-8"))["cases"]
    misses = []
    for case in cases:
        present = understand(Utterance(case["text"]), language).present
        lacking = set(case.get("findings") or []) - present
        extra = set(case.get("not_findings") or []) & present
        if lacking or extra:
            misses.append(f"{case['id']} '{case['text']}': lacking {sorted(lacking)}, extra {sorted(extra)}")
    print(f"\n[blind coordinated utterances, {language}] {len(cases) - len(misses)}/{len(cases)}")
    print("  " + "\n  ".join(misses))
    assert len(misses) <= ALLOWED_UTTERANCE_MISSES[language], misses


def test_both_languages_have_the_same_blind_ids():
    for name in ("conversations", "utterances"):
        ids = []
        for language in LANGUAGES:
            data = yaml.safe_load((FOLDER / f"{name}_{language}.yaml").read_text(encoding="utf-8"))
            items = data.get("conversations") or data.get("cases")
            ids.append([(str(item["id"]), item.get("kind")) for item in items])
        assert ids[0] == ids[1], name
