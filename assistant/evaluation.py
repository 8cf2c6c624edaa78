"""Score the understanding and triage on a labelled utterance corpus (used by scripts/eval and tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from assistant.answer import answer_text
from assistant.config import Settings

Answerer = Callable[[str, str], dict]
"""(text, language) -> the JSON object of `ask` (lang, triage, red_flags, causes)."""


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    kind: str
    triage: str
    red_flags: frozenset[str]
    causes: frozenset[str]


@dataclass
class Report:
    language: str
    cases: int = 0
    flags_expected: int = 0
    flags_caught: int = 0
    false_alarm_cases: int = 0
    quiet_cases: int = 0
    """cases where no red flag is expected: the denominator of false alarms"""
    cause_cases: int = 0
    top1: int = 0
    top2: int = 0
    level_right: int = 0
    out_of_domain: int = 0
    out_of_domain_right: int = 0
    danger_cases: int = 0
    """cases whose expected level is urgent or emergency"""
    danger_answered: int = 0
    """of those, answered as urgent or emergency with every emergency number in the reply"""
    misses: list[str] = field(default_factory=list)

    @staticmethod
    def _share(part: int, whole: int) -> float:
        return part / whole if whole else 1.0

    @property
    def red_flag_recall(self) -> float:
        return self._share(self.flags_caught, self.flags_expected)

    @property
    def false_alarm_rate(self) -> float:
        return self._share(self.false_alarm_cases, self.quiet_cases) if self.quiet_cases else 0.0

    @property
    def top1_accuracy(self) -> float:
        return self._share(self.top1, self.cause_cases)

    @property
    def top2_accuracy(self) -> float:
        return self._share(self.top2, self.cause_cases)

    @property
    def level_accuracy(self) -> float:
        return self._share(self.level_right, self.cases)

    @property
    def out_of_domain_accuracy(self) -> float:
        return self._share(self.out_of_domain_right, self.out_of_domain)

    @property
    def danger_answered_share(self) -> float:
        return self._share(self.danger_answered, self.danger_cases)


def load_cases(path: Path) -> list[Case]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Case(
            id=str(item["id"]),
            text=str(item["text"]),
            kind=str(item.get("kind", "")),
            triage=str(item["triage"]),
            red_flags=frozenset(item.get("red_flags") or ()),
            causes=frozenset(item.get("causes") or ()),
        )
        for item in data["cases"]
    ]


def text_answerer(settings: Settings) -> Answerer:
    return lambda text, language: answer_text(text, language, settings).to_dict()


DANGER_LEVELS = ("urgent", "emergency")


def evaluate(cases: list[Case], language: str, answer: Answerer, settings: Settings | None = None) -> Report:
    numbers = (settings or Settings()).emergency_numbers(language)
    report = Report(language)
    for case in cases:
        result = answer(case.text, language)
        report.cases += 1
        got_flags = set(result["red_flags"])
        got_causes = [c["id"] for c in result["causes"]]
        problems = []
        report.flags_expected += len(case.red_flags)
        report.flags_caught += len(case.red_flags & got_flags)
        if case.red_flags - got_flags:
            problems.append(f"missed {sorted(case.red_flags - got_flags)}")
        if not case.red_flags:
            report.quiet_cases += 1
            if got_flags:
                report.false_alarm_cases += 1
                problems.append(f"false alarm {sorted(got_flags)}")
        if case.causes:
            report.cause_cases += 1
            report.top1 += bool(got_causes[:1] and got_causes[0] in case.causes)
            in_top2 = bool(set(got_causes[:2]) & case.causes)
            report.top2 += in_top2
            if not in_top2:
                problems.append(f"causes {got_causes[:2]} not {sorted(case.causes)}")
        if case.triage in DANGER_LEVELS:
            report.danger_cases += 1
            if result["triage"] in DANGER_LEVELS and all(number in result["reply"] for number in numbers):
                report.danger_answered += 1
            else:
                problems.append("not answered as urgent with the emergency number")
        if case.triage == "none":
            report.out_of_domain += 1
            report.out_of_domain_right += result["triage"] == "none"
        if result["triage"] == case.triage:
            report.level_right += 1
        else:
            problems.append(f"level {result['triage']} not {case.triage}")
        if problems:
            report.misses.append(f"{case.id}: {'; '.join(problems)} | {case.text}")
    return report


def table(reports: list[Report]) -> str:
    """A Markdown table, one row per language, for the terminal and the README."""
    header = (
        "| language | cases | red-flag recall | false alarms | cause top-1 | cause top-2 | level | out-of-domain "
        "| danger answered as urgent, with the number |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    rows = [
        f"| {r.language} | {r.cases} | {r.red_flag_recall:.0%} ({r.flags_caught}/{r.flags_expected}) "
        f"| {r.false_alarm_rate:.1%} ({r.false_alarm_cases}/{r.quiet_cases}) | {r.top1_accuracy:.0%} "
        f"| {r.top2_accuracy:.0%} ({r.top2}/{r.cause_cases}) | {r.level_accuracy:.0%} "
        f"| {r.out_of_domain_accuracy:.0%} ({r.out_of_domain_right}/{r.out_of_domain}) "
        f"| {r.danger_answered_share:.0%} ({r.danger_answered}/{r.danger_cases}) |"
        for r in reports
    ]
    return "\n".join([header, *rows])


# ---- hidden patients: whole conversations, the danger screens included ---------------------------


@dataclass(frozen=True)
class Patient:
    """Someone who opens with a description and answers each question from what is true of them.

    `answers` maps a screen id, a question id or a finding id to what they say; `otherwise` is
    said to anything else. The expectation is either red flags (with their level) or calm."""

    id: str
    opening: str
    answers: dict[str, str]
    otherwise: str
    red_flags: frozenset[str]
    triage: str | None
    calm: bool
    causes: frozenset[str]
    open_signs: tuple[str, ...]


def load_patients(path: Path) -> list[Patient]:
    """Patients from a file of `conversations:`, in either shape: the patient shape (opening,
    answers, otherwise, expect) or a chat script (tests/data/conversations/) that opens with one
    line and then leaves the answers to its hidden patient (other scripts are skipped)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    patients = []
    for item in data["conversations"]:
        if "opening" not in item:
            item = _patient_from_script(item)
            if item is None:
                continue
        expect = item.get("expect") or {}
        patients.append(
            Patient(
                id=str(item["id"]),
                opening=str(item["opening"]),
                answers={str(k): str(v) for k, v in (item.get("answers") or {}).items()},
                otherwise=str(item.get("otherwise", "no")),
                red_flags=frozenset(expect.get("red_flags") or ()),
                triage=expect.get("triage"),
                calm=bool(expect.get("calm", False)),
                causes=frozenset(expect.get("causes") or ()),
                open_signs=tuple(expect.get("open") or ()),
            )
        )
    return patients


def _patient_from_script(script: dict) -> dict | None:
    turns, patient, end = script.get("turns") or [], script.get("patient"), script.get("end") or {}
    if not patient or len(turns) != 1 or script.get("settings") or script.get("args"):
        return None
    if end.get("red_flags"):
        expect = {"red_flags": end["red_flags"], "triage": end.get("triage")}
    else:
        expect = {"calm": True, "causes": [end["top2"]] if end.get("top2") else [], "open": end.get("open_signs")}
    return {"id": script["id"], "opening": turns[0]["say"], "answers": patient.get("answers"),
            "otherwise": patient.get("otherwise", "no"), "expect": expect}


@dataclass
class ConversationReport:
    language: str
    conversations: int = 0
    ended_right: int = 0
    danger_patients: int = 0
    danger_found: int = 0
    calm_patients: int = 0
    calm_alarms: int = 0
    calm_questions: list[int] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def mean_questions(self) -> float:
        return sum(self.calm_questions) / len(self.calm_questions) if self.calm_questions else 0.0

    @property
    def most_questions(self) -> int:
        return max(self.calm_questions, default=0)


MAX_PATIENT_TURNS = 20
"""A conversation still asking after this many answers has gone round in circles."""


def talk_with(patient: Patient, language: str, settings: Settings):
    """Run the real dialogue with the patient answering; returns (last turn, questions asked)."""
    from assistant.dialogue import Dialogue
    from assistant.knowledge import load_knowledge

    rules = load_knowledge().rules
    dialogue = Dialogue(settings)
    state, turn = dialogue.start(language)
    state, turn = dialogue.step(state, patient.opening)
    asked: list[str] = []
    while not turn.done and turn.question and len(asked) < MAX_PATIENT_TURNS:
        asked.append(turn.question)
        said = patient.answers.get(turn.question, patient.answers.get(rules.asked_finding(turn.question), patient.otherwise))
        state, turn = dialogue.step(state, said)
    return turn, asked


def evaluate_conversations(patients: list[Patient], language: str, settings: Settings) -> ConversationReport:
    from assistant.dialogue import MAX_QUESTIONS
    from assistant.knowledge import load_knowledge
    from assistant.reply import open_sign_sentences

    pack = load_knowledge().pack(language)
    numbers = settings.emergency_numbers(language)
    report = ConversationReport(language)
    for patient in patients:
        turn, asked = talk_with(patient, language, settings)
        report.conversations += 1
        problems = []
        if not turn.done:
            problems.append("did not end")
        if patient.red_flags:
            report.danger_patients += 1
            if patient.red_flags - set(turn.red_flags):
                problems.append(f"missed {sorted(patient.red_flags - set(turn.red_flags))}")
            if patient.triage and turn.level != patient.triage:
                problems.append(f"level {turn.level} not {patient.triage}")
            if not all(number in turn.reply for number in numbers):
                problems.append("no emergency number")
            if not problems:
                report.danger_found += 1
        else:
            report.calm_patients += 1
            report.calm_questions.append(len(asked))
            if turn.red_flags or turn.level in ("urgent", "emergency"):
                report.calm_alarms += 1
                problems.append(f"false alarm {turn.level} {list(turn.red_flags)}")
            top2 = {cause for cause, _ in turn.causes[:2]}
            if patient.causes and not patient.causes & top2:
                problems.append(f"causes {[c for c, _ in turn.causes[:2]]} not {sorted(patient.causes)}")
            if len(asked) > MAX_QUESTIONS:
                problems.append(f"{len(asked)} questions")
            for screen_id in patient.open_signs:
                if open_sign_sentences([screen_id], pack, settings)[0] not in turn.reply:
                    problems.append(f"open sign {screen_id} not named")
        if problems:
            report.misses.append(f"{patient.id}: {'; '.join(problems)} | asked {asked} | {patient.opening}")
        else:
            report.ended_right += 1
    return report


def conversation_table(reports: list[ConversationReport]) -> str:
    header = (
        "| language | conversations | ended right | danger found | false alarms (calm) | questions per calm conversation (mean, most) |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    rows = [
        f"| {r.language} | {r.conversations} | {r.ended_right}/{r.conversations} | {r.danger_found}/{r.danger_patients} "
        f"| {r.calm_alarms}/{r.calm_patients} | {r.mean_questions:.1f}, {r.most_questions} |"
        for r in reports
    ]
    return "\n".join([header, *rows])
