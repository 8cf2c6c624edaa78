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


def evaluate(cases: list[Case], language: str, answer: Answerer) -> Report:
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
        "| language | cases | red-flag recall | false alarms | cause top-1 | cause top-2 | level | out-of-domain |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    rows = [
        f"| {r.language} | {r.cases} | {r.red_flag_recall:.0%} ({r.flags_caught}/{r.flags_expected}) "
        f"| {r.false_alarm_rate:.1%} ({r.false_alarm_cases}/{r.quiet_cases}) | {r.top1_accuracy:.0%} "
        f"| {r.top2_accuracy:.0%} ({r.top2}/{r.cause_cases}) | {r.level_accuracy:.0%} "
        f"| {r.out_of_domain_accuracy:.0%} ({r.out_of_domain_right}/{r.out_of_domain}) |"
        for r in reports
    ]
    return "\n".join([header, *rows])
