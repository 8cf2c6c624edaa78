"""Scripted conversations through the real `python -m assistant chat --json`, one process each.

tests/data/conversations/<lang>.yaml holds the scripts. A script has fixed `turns` (what the person
types and what to check in the answer), then optionally a `patient`: a hidden patient who answers
whatever yes/no question comes next from their own findings, so the script does not depend on the
order triage picks questions in. `end` checks the last answer. Checks name reply keys and ids,
never sentences, so the wording can change in intents/ without touching the tests.

Every answer is read line by line with a timeout before the next line is sent: that proves the
greeting comes first, one object per line, and flushing at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml

from assistant.config import Settings, from_table
from assistant.dialogue import MAX_QUESTIONS, Dialogue
from assistant.knowledge import COMMANDS, LanguagePack, load_knowledge
from assistant.reply import spoken_numbers
from processes import LineReader

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "conversations"
KNOWLEDGE = load_knowledge()
TIMEOUT = 30.0
KEYS = {"lang", "triage", "red_flags", "causes", "reply", "expect", "done"}


def scripts(language: str) -> list[dict[str, Any]]:
    return yaml.safe_load((DATA / f"{language}.yaml").read_text(encoding="utf-8"))["conversations"]


ALL = [(language, script) for language in ("en", "id") for script in scripts(language)]


class Chat:
    """The chat process, read one line at a time with a deadline."""

    def __init__(self, arguments: list[str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant", *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=ROOT, env=os.environ.copy(),
        )
        self.reader = LineReader(self.process, TIMEOUT)

    def read(self) -> dict[str, Any]:
        try:
            line = self.reader.line()
        except AssertionError as error:
            raise AssertionError(f"{error} (not flushed?); stderr: {self.stderr()}") from None
        data = json.loads(line)
        assert set(data) == KEYS, data
        return data

    def send(self, text: str | bytes) -> dict[str, Any]:
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()
        answer = self.read()
        # Exactly one object per line: nothing more may follow until the next line is sent.
        assert not self.reader.buffer, f"more than one object for one line: {self.reader.buffer!r}"
        return answer

    def close(self) -> int:
        self.process.stdin.close()
        code = self.process.wait(timeout=TIMEOUT)
        rest = self.process.stdout.read()
        assert not rest.strip(), f"output after end of input: {rest!r}"
        return code

    def stderr(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.stderr.read().decode(errors="replace")[-2000:]


def settings_for(script: dict[str, Any]) -> Settings:
    return from_table(dict(script.get("settings", {})), "script")


def question_in(reply: str, pack: LanguagePack) -> str:
    """The cause question or danger screen the reply ends with."""
    for question_id in [*pack.questions, *pack.screens]:
        if reply.endswith(pack.question_text(question_id)):
            return question_id
    raise AssertionError(f"a yes/no answer was expected but no question ends the reply: {reply!r}")


def check(answer: dict[str, Any], expected: dict[str, Any], context: dict[str, Any]) -> None:
    pack: LanguagePack = context["pack"]
    settings: Settings = context["settings"]
    where = f"{context['id']} turn {context['turn']}: {answer}"
    if "lang" in expected:
        assert answer["lang"] == expected["lang"], where
    if "expect" in expected:
        assert answer["expect"] == expected["expect"], where
    if "done" in expected:
        assert answer["done"] is expected["done"], where
    if "triage" in expected:
        assert answer["triage"] == expected["triage"], where
    for flag in expected.get("red_flags", []):
        assert flag in answer["red_flags"], where
    if expected.get("no_red_flags"):
        assert answer["red_flags"] == [], where
    if "top2" in expected:
        assert expected["top2"] in [cause["id"] for cause in answer["causes"][:2]], where
    numbers = spoken_numbers(pack, settings)
    for key in expected.get("reply_keys", []):
        assert pack.reply(key, numbers=numbers) in answer["reply"], f"{key} missing in {where}"
    for key in expected.get("not_reply_keys", []):
        assert pack.reply(key, numbers=numbers) not in answer["reply"], f"{key} present in {where}"
    if "numbers" in expected:
        for number in settings.emergency_numbers(pack.code):
            assert answer["reply"].count(number) >= expected["numbers"], f"{number} in {where}"
    if "same_as" in expected:
        assert answer["reply"] == context["replies"][expected["same_as"]], where
    if "question" in expected:
        assert question_in(answer["reply"], pack), where
    for screen_id in expected.get("open_signs", []):
        said = pack.screens[screen_id].if_unsure.text.format(numbers=numbers)
        assert said in answer["reply"], f"open sign {screen_id} not named in {where}"
    if "questions_at_most" in expected:
        assert context["asked"] <= expected["questions_at_most"], where


def _asks(reply: str, pack: LanguagePack) -> bool:
    try:
        return bool(question_in(reply, pack))
    except AssertionError:
        return False


def answer_for(question: str, patient: dict[str, Any]) -> str:
    finding = KNOWLEDGE.rules.asked_finding(question)
    answers = patient.get("answers", {})
    return str(answers.get(finding, answers.get(question, patient.get("otherwise", "I don't know"))))


def run_script(language: str, script: dict[str, Any], tmp_path: Path) -> None:
    settings = settings_for(script)
    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps(dict(script.get("settings", {}))), encoding="utf-8")
    arguments = ["--config", str(config), "chat", "--json", *script.get("args", ["--lang", language])]
    pack = KNOWLEDGE.pack(script.get("lang", language))
    chat = Chat(arguments)
    try:
        greeting = chat.read()
        assert greeting["expect"] == "free" and not greeting["done"]
        assert pack.reply("greeting") in greeting["reply"]
        replies = [greeting["reply"]]
        context = {"pack": pack, "settings": settings, "id": script["id"], "replies": replies, "turn": 0}
        answer = greeting
        for number, turn in enumerate(script.get("turns", []), start=1):
            said = turn["say"].encode("latin-1") if turn.get("bytes") else turn["say"]
            answer = chat.send(said)
            replies.append(answer["reply"])
            check(answer, turn, {**context, "turn": number})
        patient = script.get("patient")
        asked = 0
        while patient and not answer["done"]:
            assert answer["expect"] == "yes_no", f"{script['id']}: patient expected a question: {answer}"
            question = question_in(answer["reply"], pack)
            answer = chat.send(answer_for(question, patient))
            replies.append(answer["reply"])
            asked += 1
            assert asked <= MAX_QUESTIONS, f"{script['id']}: more than {MAX_QUESTIONS} questions"
        questions = sum(1 for reply in replies[1:-1] if _asks(reply, pack))
        check(answer, script.get("end", {}), {**context, "turn": "end", "asked": questions})
        assert chat.close() == 0
    except BaseException:
        chat.stderr()
        raise
    if "saved_voice" in script:
        stored = tomllib.loads(config.read_text(encoding="utf-8"))
        for key, value in script["saved_voice"].items():
            assert stored["voice"][key] == pytest.approx(value), stored


@pytest.mark.parametrize(("language", "script"), ALL, ids=[f"{s['id']}" for _, s in ALL])
def test_conversation(language, script, tmp_path):
    run_script(language, script, tmp_path)


def test_enough_scripts_and_coverage():
    """At least 20 per language; every cause reached and every command used in each language."""
    for language in ("en", "id"):
        items = scripts(language)
        assert len(items) >= 20
        reached = {s["end"]["top2"] for s in items if "top2" in s.get("end", {})}
        assert reached == {cause.id for cause in KNOWLEDGE.rules.causes}, language
        used = {command for s in items for command in s.get("commands", [])}
        assert set(COMMANDS) <= used, (language, set(COMMANDS) - used)
        kinds = {kind for s in items for kind in s.get("kinds", [])}
        assert {"red_flag_mid", "unclear", "start_over", "dont_know", "hedged", "full_sentence", "screen_reveal",
                "screen_unsure", "screen_sentence", "calm_vague", "mid_walk"} <= kinds
        # every red flag revealed by a screening answer alone, in each language
        revealed = {flag for s in items if "screen_reveal" in s.get("kinds", [])
                    for flag in s.get("end", {}).get("red_flags", []) + [f for t in s["turns"] for f in t.get("red_flags", [])]}
        assert revealed >= {rule.id for rule in KNOWLEDGE.rules.red_flags}, (language, set(KNOWLEDGE.rules.red_flags) - revealed)


def test_bad_lines_get_a_clear_reply_never_a_traceback(tmp_path):
    chat = Chat(["chat", "--json", "--lang", "en"])
    chat.read()
    pack = KNOWLEDGE.pack("en")
    too_long = chat.send("my calf " * 1000)
    assert too_long["reply"] == pack.reply("too_long")
    binary = chat.send(b"\xff\xfe\x00\x01 \x9c\x80")
    assert binary["reply"] == pack.reply("unreadable_input")
    empty = chat.send("")
    assert empty["reply"] == pack.reply("empty_input")
    still = chat.send("my calf cramps when I walk")
    assert still["expect"] == "yes_no"
    assert chat.close() == 0
    assert "Traceback" not in chat.process.stderr.read().decode()


def test_plain_text_mode_prints_reply_lines(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "--lang", "en"],
        input="my calf cramps when I walk\nstop\n", capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
    )
    pack = KNOWLEDGE.pack("en")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 3
    assert lines[0] == pack.reply("greeting") and lines[2] == pack.reply("stop_ack")


# ---- hidden patients, in process: every cause, both languages, several ways of answering ---------

PATIENTS: dict[str, dict[str, bool]] = {
    "exercise_cramp": {"hard_exercise": True, "new_routine": True},
    "heat_dehydration": {"hot_weather": True, "little_fluid": True, "heavy_sweating": True},
    "peripheral_neuropathy": {"tingling_numb_feet": True, "diabetes": True, "symptoms_at_rest": True},
    "spinal_stenosis": {"eases_sitting_leaning": True, "back_pain": True, "standing_trigger": True},
    "peripheral_artery_disease": {"eases_standing_still": True, "smoker": True, "same_distance": True},
    "medication_side_effect": {"new_medicine": True, "statin": True},
}
OPENINGS = {
    "en": ("my calf cramps when I walk", "my calf hurts when I walk"),
    "id": ("betis saya kram kalau jalan", "betis saya sakit kalau jalan"),
}
STYLES = {
    "en": ({"yes": "yes", "no": "no"}, {"yes": "yeah", "no": "nope"}, {"yes": "I think so", "no": "not really"}),
    "id": ({"yes": "iya", "no": "tidak"}, {"yes": "betul", "no": "nggak"}, {"yes": "he'eh", "no": "enggak"}),
}


@pytest.mark.parametrize("cause", sorted(PATIENTS))
@pytest.mark.parametrize("language", ["en", "id"])
def test_hidden_patient_ends_on_the_right_cause(cause, language):
    dialogue = Dialogue(Settings())
    profile = PATIENTS[cause]
    for opening in OPENINGS[language]:
        for style in STYLES[language]:
            state, turn = dialogue.start(language)
            state, turn = dialogue.step(state, opening)
            asked = []
            while not turn.done:
                finding = KNOWLEDGE.rules.asked_finding(turn.question)
                asked.append(turn.question)
                state, turn = dialogue.step(state, style["yes" if profile.get(finding) else "no"])
            top = [cid for cid, _ in turn.causes[:2]]
            assert cause in top, (language, opening, style, asked, turn.causes)
            # the two screens every conversation gets come first, before any cause question
            assert asked[:2] == ["clot_signs", "breath_chest_faint"], asked
            assert len(asked) <= MAX_QUESTIONS and not turn.red_flags
