"""Triage: findings to a level, red flags, ranked causes and the next most useful question.

Red flags come first and outrank everything: they are explicit rules over findings
(intents/rules.yaml), checked before any cause is weighed. Causes are ranked with a small naive
Bayes model whose numbers live in the same file, so the next question can be chosen by how much
its answer is expected to separate the remaining causes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assistant.knowledge import Knowledge, Rules, load_knowledge
from assistant.understanding import Findings

LEVEL_ORDER = ("none", "self_care", "routine", "urgent", "emergency")
ROUTINE_SHARE = 0.3
"""A routine cause with this share of the evidence is worth a doctor's visit even if not top."""
CLEAR_LEAD = 0.75
"""When the best cause holds this share, further questions add little."""


@dataclass(frozen=True)
class Triage:
    level: str
    red_flags: tuple[str, ...]
    urgent_signs: tuple[str, ...]
    causes: tuple[tuple[str, float], ...]
    """(cause id, score 0..1), best first; only causes worth naming."""
    next_question: str | None
    in_domain: bool

    @property
    def is_danger(self) -> bool:
        return self.level in ("urgent", "emergency")


def _higher(a: str, b: str) -> str:
    return a if LEVEL_ORDER.index(a) >= LEVEL_ORDER.index(b) else b


def rank_causes(present: frozenset[str], absent: frozenset[str], rules: Rules) -> list[tuple[str, float]]:
    """Posterior share of each cause given what was said and denied, best first."""
    relevant = set()
    for cause in rules.causes:
        relevant.update(cause.likelihood)
    logs = []
    for cause in rules.causes:
        total = math.log(cause.prior)
        for finding in present & relevant:
            total += math.log(cause.likelihood.get(finding, rules.background))
        for finding in absent & relevant:
            total += math.log(1.0 - cause.likelihood.get(finding, rules.background))
        logs.append(total)
    peak = max(logs)
    weights = [math.exp(value - peak) for value in logs]
    norm = sum(weights)
    ranked = [(cause.id, weight / norm) for cause, weight in zip(rules.causes, weights)]
    return sorted(ranked, key=lambda pair: -pair[1])


def _entropy(shares: list[float]) -> float:
    return -sum(p * math.log(p) for p in shares if p > 0)


def _open_questions(present, absent, rules: Rules, asked) -> list[tuple[str, str]]:
    return [
        (question_id, finding)
        for question_id, finding in rules.questions.items()
        if question_id not in asked and finding not in present and finding not in absent
    ]


def _expected_entropy(present, absent, rules: Rules, finding: str, depth: int, asked: frozenset[str]) -> float:
    """Entropy of the cause ranking expected after asking about `finding`, then (depth 2) the best
    follow-up for each answer. Looking one answer ahead finds pairs of questions that separate
    causes no single question does (heat versus nerves after a vague opening)."""
    ranking = rank_causes(present, absent, rules)
    by_id = {cause.id: cause for cause in rules.causes}
    p_yes = sum(share * by_id[c].likelihood.get(finding, rules.background) for c, share in ranking)
    outcomes = ((p_yes, present | {finding}, absent), (1 - p_yes, present, absent | {finding}))
    total = 0.0
    for weight, now_present, now_absent in outcomes:
        if depth > 1:
            follow_ups = _open_questions(now_present, now_absent, rules, asked)
            entropy = min(
                (_expected_entropy(now_present, now_absent, rules, f, depth - 1, asked | {q}) for q, f in follow_ups),
                default=_entropy([share for _, share in rank_causes(now_present, now_absent, rules)]),
            )
        else:
            entropy = _entropy([share for _, share in rank_causes(now_present, now_absent, rules)])
        total += weight * entropy
    return total


def next_question(
    present: frozenset[str],
    absent: frozenset[str],
    rules: Rules,
    asked: frozenset[str] = frozenset(),
    lookahead: int = 2,
) -> str | None:
    """The unasked question whose answer (and best follow-up) is expected to shrink uncertainty
    about the cause most; None when the ranking is already clear or nothing would help."""
    ranking = rank_causes(present, absent, rules)
    if ranking[0][1] >= CLEAR_LEAD:
        return None
    current = _entropy([share for _, share in ranking])
    best, best_gain = None, 0.02
    for question_id, finding in _open_questions(present, absent, rules, asked):
        gain = current - _expected_entropy(present, absent, rules, finding, lookahead, asked | {question_id})
        if gain > best_gain:
            best, best_gain = question_id, gain
    return best


def next_screen(
    present: frozenset[str], absent: frozenset[str], rules: Rules, asked, *, emergency_only: bool = False
) -> str | None:
    """The first screen that is due and not yet asked, in the order intents/rules.yaml lists them.
    `emergency_only`: only screens for a sign that would make it an emergency (asked once an
    urgent danger is already known, because the answer changes what to do)."""
    levels = {rule.id: rule.level for rule in rules.red_flags}
    for screen in rules.screens:
        if screen.id in asked or not screen.due(present, absent):
            continue
        if emergency_only and not any(levels[flag] == "emergency" for flag in screen.red_flags):
            continue
        return screen.id
    return None


def doubtful_screens(present: frozenset[str], absent: frozenset[str], possible: frozenset[str], rules: Rules,
                     asked) -> list[str]:
    """Screens that only a possibly heard cue makes due (a near match, another hypothesis of the
    recogniser), worst outcome first; the screens due for certain are not among them."""
    opened = []
    for screen in rules.screens:
        if screen.cleared(present, absent, asked) or screen.due(present, absent):
            continue
        if screen.due(present | possible, absent) or possible & (screen.signs | {screen.finding}):
            opened.append(screen)
    return [screen.id for screen in sorted(opened, key=lambda screen: -screen.worst)]


def guarding_screens(causes, present: frozenset[str], absent: frozenset[str], rules: Rules, asked) -> list[str]:
    """Screens still to be answered before any of `causes` may be named, worst outcome first."""
    wanted = set(causes)
    guards = [screen for screen in rules.screens
              if screen.guards & wanted and not screen.cleared(present, absent, asked)]
    return [screen.id for screen in sorted(guards, key=lambda screen: -screen.worst)]


def triage(findings: Findings, knowledge: Knowledge | None = None, asked: frozenset[str] = frozenset()) -> Triage:
    rules = (knowledge or load_knowledge()).rules
    present, absent = findings.present, findings.absent
    flag_levels = {rule.id: rule.level_for(present) for rule in rules.red_flags}
    red_flags = tuple(flag_id for flag_id, flag_level in flag_levels.items() if flag_level)
    urgent_signs = tuple(rule.id for rule in rules.urgent_signs if rule.matches(present))
    # "No swelling, no redness" is still talk about legs, even with nothing present.
    mentioned = present | absent
    in_domain = bool(mentioned & rules.leg_findings) or any(c.holds(mentioned) for c in rules.domain)

    level = "none"
    for flag_id in red_flags:
        level = _higher(level, flag_levels[flag_id])
    if urgent_signs:
        level = _higher(level, "urgent")

    causes: tuple[tuple[str, float], ...] = ()
    question = None
    if in_domain:
        ranking = rank_causes(present, absent, rules)
        causes = tuple((cid, round(score, 3)) for cid, score in ranking if score >= rules.report_threshold)
        levels = {cause.id: cause.level for cause in rules.causes}
        cause_level = levels[ranking[0][0]]
        if any(levels[cid] == "routine" and score >= ROUTINE_SHARE for cid, score in ranking):
            cause_level = "routine"
        level = _higher(level, cause_level)
        question = next_question(present, absent, rules, asked)
    return Triage(level, red_flags, urgent_signs, causes, question, in_domain)
