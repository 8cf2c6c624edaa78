"""The knowledge base: both languages hold the same ids, every medical statement is sourced, and a
broken file is reported by file, entry and problem."""

from __future__ import annotations

import shutil

import pytest
import yaml

from assistant.errors import KnowledgeError
from assistant.knowledge import LANGUAGE_FILES, load_knowledge, load_knowledge_from
from assistant.resources import data_dir

INTENTS = data_dir("intents")


def read(language: str, name: str) -> dict:
    return yaml.safe_load((INTENTS / language / name).read_text(encoding="utf-8"))


def test_installed_knowledge_loads():
    knowledge = load_knowledge()
    assert set(knowledge.packs) == {"en", "id"}


@pytest.mark.parametrize("name", LANGUAGE_FILES)
def test_both_languages_hold_the_same_ids(name):
    english, indonesian = read("en", name), read("id", name)
    assert set(english) == set(indonesian)
    if name == "language.yaml":
        assert set(english["commands"]) == set(indonesian["commands"])


def test_ids_are_exactly_the_medical_facts_ids():
    rules = load_knowledge().rules
    assert {c.id for c in rules.causes} == {
        "exercise_cramp", "heat_dehydration", "peripheral_neuropathy",
        "spinal_stenosis", "peripheral_artery_disease", "medication_side_effect",
    }
    assert {f.id for f in rules.red_flags} == {
        "pulmonary_embolism", "dvt", "acute_limb_ischemia", "critical_limb_ischemia",
        "cauda_equina", "rhabdomyolysis", "heat_stroke", "stroke", "muscle_injury",
        # MEDICAL_FACTS.md "Serious symptoms beyond the nine"
        "fainting", "heart_warning", "fall_injury", "severe_bleeding", "breathing_difficulty",
    }


def test_every_red_flag_has_a_screen_whose_yes_raises_it():
    """A yes to a screen goes through the same rules as a volunteered sign: each screen's finding,
    with the story that makes the screen due, raises every red flag the screen is for."""
    rules = load_knowledge().rules
    screened = {flag for screen in rules.screens for flag in screen.red_flags}
    assert screened == {rule.id for rule in rules.red_flags}
    by_id = {rule.id: rule for rule in rules.red_flags}
    for screen in rules.screens:
        context = set().union(*(c.all | set(sorted(c.any)[:1]) for c in screen.when)) if screen.when else set()
        present = frozenset({screen.finding, "calf_pain"} | context)
        raised = [flag for flag in screen.red_flags if by_id[flag].matches(present)]
        # a yes to "breath, chest or fainted" without a clot story is the heart or a faint, not a lung clot
        expected = set(screen.red_flags) - ({"pulmonary_embolism", "breathing_difficulty"} if screen.id == "breath_chest_faint" else set())
        assert expected <= set(raised), (screen.id, raised)
        assert screen.always or screen.due(frozenset(context), frozenset()), screen.id


def test_a_red_flag_without_a_screen_is_refused(tmp_path):
    shutil.copytree(INTENTS, tmp_path / "intents")
    rules_file = tmp_path / "intents" / "rules.yaml"
    text = rules_file.read_text(encoding="utf-8")
    rules_file.write_text(text.replace("    red_flags: [severe_bleeding]\n", "    red_flags: [fall_injury]\n"), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="severe_bleeding' has no screening question"):
        load_knowledge_from(tmp_path / "intents")


def test_every_medical_statement_carries_a_known_source():
    knowledge = load_knowledge()
    for pack in knowledge.packs.values():
        for cause in pack.causes.values():
            for statement in (*cause.explanation, *cause.what_to_do, cause.see_doctor):
                assert statement.sources, (pack.code, cause.name)
        for flag in pack.red_flags.values():
            assert all(statement.sources for statement in flag.advice), (pack.code, flag.name)
        for sign in pack.urgent_signs.values():
            assert sign.sources
        # The replies that give medical advice must be the sourced kind.
        for key in ("cramp_now", "cramp_now_short", "self_care", "prevention", "level_self_care",
                    "level_routine", "also_urgent", "see_doctor_if"):
            assert all(statement.sources for statement in pack.replies[key]), (pack.code, key)
    for rule in (*knowledge.rules.red_flags, *knowledge.rules.urgent_signs, *knowledge.rules.causes):
        assert rule.sources


def test_no_medicine_doses_in_anything_said():
    dose = __import__("re").compile(r"\b\d+\s?(mg|milligram|ml|tablet|tablets|pil|butir)\b", __import__("re").I)
    for language in ("en", "id"):
        for name in LANGUAGE_FILES:
            text = (INTENTS / language / name).read_text(encoding="utf-8")
            assert not dose.search(text), (language, name, dose.search(text))


def test_disclaimer_says_not_a_doctor():
    knowledge = load_knowledge()
    assert "doctor" in knowledge.pack("en").reply("disclaimer").lower()
    assert "dokter" in knowledge.pack("id").reply("disclaimer").lower()


def broken_copy(tmp_path, language, name, edit):
    root = tmp_path / "intents"
    shutil.copytree(INTENTS, root)
    path = root / language / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "language, name, edit, expected",
    [
        ("id", "findings.yaml", lambda d: d.pop("swelling"), "intents/id/findings.yaml: swelling: finding 'swelling' is missing"),
        ("en", "causes.yaml", lambda d: d["exercise_cramp"].update(sources=["made_up"]), "intents/en/causes.yaml: exercise_cramp: source 'made_up'"),
        ("en", "red_flags.yaml", lambda d: d.update(bogus={"name": "x", "advice": ["y"], "sources": ["nhs_fast"]}), "unknown red flag 'bogus'"),
        ("id", "questions.yaml", lambda d: d.update(smoker={"text": ""}), "intents/id/questions.yaml: smoker: must be non-empty text"),
        ("en", "replies.yaml", lambda d: d.pop("closing"), "reply exists only in 'id'"),
        ("id", "language.yaml", lambda d: d["sound_folds"].append(["(kh", "k"]), "intents/id/language.yaml: sound_folds[3]: '(kh' is not a valid pattern"),
        ("id", "language.yaml", lambda d: d["sound_folds"].append(["kh"]), "sound_folds[3]: must be a [pattern, replacement] pair"),
    ],
)
def test_broken_file_names_file_entry_and_problem(tmp_path, language, name, edit, expected):
    root = broken_copy(tmp_path, language, name, edit)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge_from(root)
    assert expected in str(caught.value)


def test_invalid_yaml_names_the_line(tmp_path):
    root = tmp_path / "intents"
    shutil.copytree(INTENTS, root)
    (root / "en" / "questions.yaml").write_text("smoker: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge_from(root)
    assert "intents/en/questions.yaml" in str(caught.value) and "not valid YAML" in str(caught.value)
