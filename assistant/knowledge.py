"""Load intents/ (YAML) into typed, validated dataclasses.

A broken file is reported with the file, the entry and what is wrong, because the person fixing
it is editing data, not reading Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import KnowledgeError
from assistant.resources import data_dir

# libyaml's loader reads intents/ several times faster than the pure-Python one, which every
# command, every service start and every test process pays for; the same safe subset either way.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LANGUAGES = ("en", "id")
TRIAGE_LEVELS = ("none", "self_care", "routine", "urgent", "emergency")
LANGUAGE_FILES = (
    "language.yaml",
    "findings.yaml",
    "causes.yaml",
    "red_flags.yaml",
    "urgent_signs.yaml",
    "questions.yaml",
    "screens.yaml",
    "replies.yaml",
)
COMMANDS = ("repeat", "slower", "louder", "start_over", "stop", "help", "emergency")


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str
    copy: bool = False


@dataclass(frozen=True)
class Condition:
    """One alternative of a rule: every `all` finding present, one of `any` if given, and none of
    `none`; `level`, when given, is the rule's level for this alternative alone."""

    all: frozenset[str]
    any: frozenset[str]
    none: frozenset[str] = frozenset()
    level: str | None = None

    def holds(self, present: set[str] | frozenset[str]) -> bool:
        return (
            self.all <= present
            and (not self.any or bool(self.any & present))
            and not (self.none & present)
        )

    @property
    def findings(self) -> frozenset[str]:
        return self.all | self.any


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    when: tuple[Condition, ...]
    sources: tuple[str, ...]

    def matches(self, present: set[str] | frozenset[str]) -> bool:
        return any(condition.holds(present) for condition in self.when)

    def level_for(self, present: set[str] | frozenset[str]) -> str | None:
        """The highest level among the alternatives that hold, or None when none holds."""
        levels = [c.level or self.level for c in self.when if c.holds(present)]
        return max(levels, key=TRIAGE_LEVELS.index) if levels else None


@dataclass(frozen=True)
class Screen:
    """A direct yes/no question about one group of danger signs, asked before any reassurance.

    A yes makes `finding` present, which the red-flag rules act on; a no denies it and its
    `signs`. The screen is asked in every conversation (`always`) or when one of `when` holds,
    and never once every sign was already said or denied."""

    id: str
    finding: str
    signs: frozenset[str]
    red_flags: tuple[str, ...]
    always: bool
    when: tuple[Condition, ...]
    sources: tuple[str, ...]
    guards: frozenset[str] = frozenset()
    """causes that are never named before this screen is answered (their own danger)"""
    worst: int = 0
    """the highest triage level its red flags can reach (an index of TRIAGE_LEVELS): when the
    questions cannot hold every screen in doubt, the worst outcome is asked about first"""

    def due(self, present: frozenset[str], absent: frozenset[str]) -> bool:
        known = present | absent
        if self.finding in known or self.signs <= known:
            return False
        return self.always or any(condition.holds(present) for condition in self.when)

    def cleared(self, present: frozenset[str], absent: frozenset[str], asked) -> bool:
        """Asked, or every sign it asks about already said or denied."""
        known = present | absent
        return self.id in asked or self.finding in known or self.signs <= known

    def triggers(self) -> frozenset[str]:
        """The findings whose mention makes it due, and the signs it asks about."""
        found = set(self.signs) | {self.finding}
        for condition in self.when:
            found |= condition.findings
        return frozenset(found)


@dataclass(frozen=True)
class Doubt:
    """How a danger cue that is only possibly heard opens its screen (rules.yaml `doubt:`)."""

    near_ratio: float = 80.0
    """A heard word unknown to the language this close (rapidfuzz ratio, 0..100) to a word that
    makes a screen due is possibly that word."""
    unsure_near_ratio: float = 75.0
    """The same, for a description the recogniser itself doubts."""
    min_letters: int = 4
    """Shorter words carry too little sound to guess from."""
    sound_alike: bool = True
    """A word that sounds alike (the language's `sound_key`) is possibly it too."""


@dataclass(frozen=True)
class CauseModel:
    id: str
    prior: float
    level: str
    likelihood: dict[str, float]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    findings: tuple[str, ...]
    leg_findings: frozenset[str]
    markers: frozenset[str]
    """findings that only say what the talk is about; a longer phrase never hides them"""
    hides: dict[str, frozenset[str]]
    """finding -> findings its words stand for when they overlap ("nearly fainted" is no faint)"""
    domain: tuple[Condition, ...]
    """other combinations of findings that mean the talk is about legs"""
    background: float
    causes: tuple[CauseModel, ...]
    red_flags: tuple[Rule, ...]
    urgent_signs: tuple[Rule, ...]
    questions: dict[str, str]
    """question id -> the finding it asks about"""
    report_threshold: float
    screens: tuple[Screen, ...] = ()
    """in the order they are asked"""
    doubt: Doubt = field(default_factory=Doubt)

    def screen(self, screen_id: str) -> Screen | None:
        return next((s for s in self.screens if s.id == screen_id), None)

    def asked_finding(self, question_id: str) -> str:
        """The finding a yes/no question or a screen is about."""
        screen = self.screen(question_id)
        return screen.finding if screen else self.questions[question_id]


@dataclass(frozen=True)
class Statement:
    """A sentence the assistant says; medical ones carry their sources."""

    text: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class CauseText:
    name: str
    explanation: tuple[Statement, ...]
    what_to_do: tuple[Statement, ...]
    see_doctor: Statement


@dataclass(frozen=True)
class ScreenText:
    question: Statement
    if_unsure: Statement
    """said at the end when the person was not sure: the sign to watch for and what to do then"""


@dataclass(frozen=True)
class RedFlagText:
    name: str
    advice: tuple[Statement, ...]


@dataclass(frozen=True)
class LanguageProfile:
    name: str
    spelling: dict[str, str]
    negations: frozenset[str]
    post_negations: tuple[str, ...]
    clause_breakers: frozenset[str]
    and_words: frozenset[str]
    subject_words: frozenset[str]
    common_words: frozenset[str]
    yes: tuple[str, ...]
    no: tuple[str, ...]
    unsure: tuple[str, ...]
    sometimes: tuple[str, ...]
    commands: dict[str, tuple[str, ...]]
    suffixes: tuple[str, ...] = ()
    sound_folds: tuple[tuple[re.Pattern[str], str], ...] = ()
    """(pattern, replacement) per word: one sound a recogniser writes in more than one way."""
    sound_classes: tuple[tuple[re.Pattern[str], str], ...] = ()
    """(pattern, replacement) per word: sounds a recogniser confuses ("tiba"/"dima") made one."""
    body_parts: tuple["BodyPartFinding", ...] = ()
    """findings made of a body part and a symptom word anywhere in one clause"""
    too_words: tuple[str, ...] = ()
    """words that add a body part to the clause before ("and my back as well")"""

    def sound_key(self, word: str) -> str:
        """The word as its sound classes: words a recogniser confuses share a key."""
        word = self.fold(word)
        for pattern, replacement in self.sound_classes:
            word = pattern.sub(replacement, word)
        return word

    def fold(self, word: str) -> str:
        """The word as it sounds: both the phrases and what was heard are folded alike."""
        for pattern, replacement in self.sound_folds:
            word = pattern.sub(replacement, word)
        return word

    def stem(self, word: str) -> str:
        """A word without its possessive ending ("kakinya" -> "kaki"), when enough remains."""
        for suffix in self.suffixes:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                return word[: -len(suffix)]
        return word


@dataclass(frozen=True)
class BodyPartFinding:
    """A finding said as a body part and a symptom word in one clause, with other words between
    them: "pain in my calves and my back" is back pain (language.yaml `body_parts:`)."""

    finding: str
    parts: tuple[str, ...]
    """the body part, one or more words each ("back", "lower back")"""
    symptoms: frozenset[str]
    """single words that say it hurts"""
    other_senses: tuple[str, ...] = ()
    """phrases where the part's word means something else ("walk back", "back home")"""
    fine_words: frozenset[str] = frozenset()
    """words right after the part that say it is well ("my back is fine")"""


# Compared by identity: caches keyed on a pack must not hash its dictionaries.
@dataclass(frozen=True, eq=False)
class LanguagePack:
    code: str
    language: LanguageProfile
    findings: dict[str, tuple[str, ...]]
    causes: dict[str, CauseText]
    red_flags: dict[str, RedFlagText]
    urgent_signs: dict[str, Statement]
    questions: dict[str, str]
    replies: dict[str, tuple[Statement, ...]]
    screens: dict[str, ScreenText] = field(default_factory=dict)

    def question_text(self, question_id: str) -> str:
        """What is said to ask a cause question or a screen."""
        screen = self.screens.get(question_id)
        return screen.question.text if screen else self.questions[question_id]

    def reply(self, key: str, **values: Any) -> str:
        """All sentences of one reply key, placeholders filled, as one string."""
        return " ".join(self.reply_sentences(key, **values))

    def reply_sentences(self, key: str, **values: Any) -> list[str]:
        try:
            statements = self.replies[key]
        except KeyError:
            raise KnowledgeError(f"intents/{self.code}/replies.yaml: reply '{key}' is missing") from None
        try:
            return [statement.text.format(**values) for statement in statements]
        except (KeyError, IndexError) as error:
            raise KnowledgeError(
                f"intents/{self.code}/replies.yaml: reply '{key}' uses an unknown placeholder {error}"
            ) from None


@dataclass(frozen=True)
class Knowledge:
    rules: Rules
    sources: dict[str, Source]
    packs: dict[str, LanguagePack] = field(default_factory=dict)

    def pack(self, language: str) -> LanguagePack:
        return self.packs[language]


class _Reader:
    """Checks shapes while reading, so each complaint can name file and entry."""

    def __init__(self, path: Path):
        self.path = path
        self.label = "/".join(path.parts[-2:]) if path.parent.name in LANGUAGES else path.name
        self.label = f"intents/{self.label}"

    def fail(self, entry: str, problem: str) -> KnowledgeError:
        where = f"{self.label}: {entry}: " if entry else f"{self.label}: "
        return KnowledgeError(where + problem)

    def load(self) -> dict[str, Any]:
        try:
            data = yaml.load(self.path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
        except FileNotFoundError:
            raise self.fail("", "file is missing") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise self.fail("", f"{where}not valid YAML ({problem})") from None
        if not isinstance(data, dict):
            raise self.fail("", "must be a mapping of ids to entries")
        return data

    def mapping(self, entry: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(entry, "must be a mapping")
        return value

    def text(self, entry: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(entry, "must be non-empty text")
        return value.strip()

    def texts(self, entry: str, value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.fail(entry, "must be a list of texts")
        return tuple(self.text(f"{entry}[{index}]", item) for index, item in enumerate(value))

    def number(self, entry: str, value: Any, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self.fail(entry, f"must be a number from {low} to {high}")
        return float(value)

    def sources(self, entry: str, value: Any, known: dict[str, Source]) -> tuple[str, ...]:
        ids = self.texts(f"{entry}.sources", value)
        for source_id in ids:
            if source_id not in known:
                raise self.fail(entry, f"source '{source_id}' is not in intents/sources.yaml")
        return ids

    def statement(self, entry: str, value: Any, known: dict[str, Source], *, medical: bool) -> Statement:
        """Plain text, or {text, sources}; medical statements must carry sources."""
        if isinstance(value, dict):
            text = self.text(f"{entry}.text", value.get("text"))
            return Statement(text, self.sources(entry, value.get("sources"), known))
        if medical:
            raise self.fail(entry, "a medical statement needs {text: ..., sources: [...]}")
        return Statement(self.text(entry, value))

    def statements(self, entry: str, value: Any, known: dict[str, Source], *, medical: bool) -> tuple[Statement, ...]:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.fail(entry, "must not be empty")
        return tuple(
            self.statement(f"{entry}[{index}]" if len(items) > 1 else entry, item, known, medical=medical)
            for index, item in enumerate(items)
        )

    def exact_ids(self, data: dict[str, Any], expected: tuple[str, ...] | list[str], what: str) -> None:
        missing = [key for key in expected if key not in data]
        extra = [key for key in data if key not in expected]
        if missing:
            raise self.fail(missing[0], f"{what} '{missing[0]}' is missing")
        if extra:
            raise self.fail(extra[0], f"unknown {what} '{extra[0]}' (not in intents/rules.yaml)")


def _read_sources(root: Path) -> dict[str, Source]:
    reader = _Reader(root / "sources.yaml")
    table = reader.mapping("sources", reader.load().get("sources"))
    sources = {}
    for source_id, entry in table.items():
        entry = reader.mapping(source_id, entry)
        sources[source_id] = Source(
            id=source_id,
            title=reader.text(f"{source_id}.title", entry.get("title")),
            url=str(entry.get("url") or ""),
            copy=bool(entry.get("copy", False)),
        )
    return sources


def _read_rule(reader: _Reader, rule_id: str, entry: Any, findings: set[str], sources, *, level: str | None) -> Rule:
    entry = reader.mapping(rule_id, entry)
    if level is None:
        level = entry.get("level")
        if level not in ("urgent", "emergency"):
            raise reader.fail(rule_id, "level must be urgent or emergency")
    conditions = _read_conditions(reader, f"{rule_id}.when", entry.get("when"), findings)
    if not conditions:
        raise reader.fail(rule_id, "'when' must be a list of alternatives")
    return Rule(rule_id, level, conditions, reader.sources(rule_id, entry.get("sources"), sources))


def _read_conditions(reader: _Reader, where: str, alternatives: Any, findings: set[str]) -> tuple[Condition, ...]:
    if not isinstance(alternatives, list):
        raise reader.fail(where, "must be a list of alternatives")
    conditions = []
    for index, alternative in enumerate(alternatives):
        place = f"{where}[{index}]"
        alternative = reader.mapping(place, alternative)
        all_of = frozenset(reader.texts(f"{place}.all", alternative.get("all", []), allow_empty=True))
        any_of = frozenset(reader.texts(f"{place}.any", alternative.get("any", []), allow_empty=True))
        none_of = frozenset(reader.texts(f"{place}.none", alternative.get("none", []), allow_empty=True))
        if not all_of and not any_of:
            raise reader.fail(place, "needs 'all' or 'any'")
        unknown = sorted((all_of | any_of | none_of) - findings)
        if unknown:
            raise reader.fail(place, f"unknown finding '{unknown[0]}'")
        level = alternative.get("level")
        if level is not None and level not in ("urgent", "emergency"):
            raise reader.fail(place, "level must be urgent or emergency")
        conditions.append(Condition(all_of, any_of, none_of, level))
    return tuple(conditions)


def _read_rules(root: Path, sources: dict[str, Source]) -> Rules:
    reader = _Reader(root / "rules.yaml")
    data = reader.load()
    finding_table = reader.mapping("findings", data.get("findings"))
    findings = tuple(finding_table)
    known = set(findings)
    leg = frozenset(f for f, props in finding_table.items() if (props or {}).get("leg"))
    markers = frozenset(f for f, props in finding_table.items() if (props or {}).get("marker"))
    hides = {}
    for finding, props in finding_table.items():
        hidden = frozenset(reader.texts(f"findings.{finding}.hides", (props or {}).get("hides", []), allow_empty=True))
        if hidden - known:
            raise reader.fail(f"findings.{finding}.hides", f"unknown finding '{sorted(hidden - known)[0]}'")
        if hidden:
            hides[finding] = hidden
    background = reader.number("background", data.get("background"), 0.01, 0.5)

    causes = []
    for cause_id, entry in reader.mapping("causes", data.get("causes")).items():
        entry = reader.mapping(cause_id, entry)
        likelihood = reader.mapping(f"{cause_id}.likelihood", entry.get("likelihood"))
        for finding, value in likelihood.items():
            if finding not in known:
                raise reader.fail(f"{cause_id}.likelihood", f"unknown finding '{finding}'")
            reader.number(f"{cause_id}.likelihood.{finding}", value, 0.01, 0.99)
        level = entry.get("level")
        if level not in ("self_care", "routine"):
            raise reader.fail(cause_id, "level must be self_care or routine")
        causes.append(
            CauseModel(
                id=cause_id,
                prior=reader.number(f"{cause_id}.prior", entry.get("prior"), 0.001, 1.0),
                level=level,
                likelihood={k: float(v) for k, v in likelihood.items()},
                sources=reader.sources(cause_id, entry.get("sources"), sources),
            )
        )
    red_flags = tuple(
        _read_rule(reader, flag_id, entry, known, sources, level=None)
        for flag_id, entry in reader.mapping("red_flags", data.get("red_flags")).items()
    )
    urgent = tuple(
        _read_rule(reader, sign_id, entry, known, sources, level="urgent")
        for sign_id, entry in reader.mapping("urgent_signs", data.get("urgent_signs")).items()
    )
    questions = {}
    for question_id, entry in reader.mapping("questions", data.get("questions")).items():
        finding = reader.mapping(question_id, entry).get("finding")
        if finding not in known:
            raise reader.fail(question_id, f"unknown finding '{finding}'")
        questions[question_id] = finding
    domain = _read_conditions(reader, "domain", data.get("domain", []), known)
    levels = {rule.id: max([TRIAGE_LEVELS.index(rule.level), *(TRIAGE_LEVELS.index(c.level) for c in rule.when if c.level)])
              for rule in red_flags}
    screens = _read_screens(reader, data.get("screens"), known, levels, {c.id for c in causes}, sources)
    unscreened = [rule.id for rule in red_flags if not any(rule.id in s.red_flags for s in screens)]
    if unscreened:
        raise reader.fail("screens", f"red flag '{unscreened[0]}' has no screening question")
    return Rules(
        findings=findings,
        domain=domain,
        leg_findings=leg,
        markers=markers,
        hides=hides,
        background=background,
        causes=tuple(causes),
        red_flags=red_flags,
        urgent_signs=urgent,
        questions=questions,
        report_threshold=reader.number("report_threshold", data.get("report_threshold"), 0.0, 1.0),
        screens=screens,
        doubt=_read_doubt(reader, data.get("doubt", {})),
    )


def _read_doubt(reader: _Reader, value: Any) -> Doubt:
    entry = reader.mapping("doubt", value)
    return Doubt(
        near_ratio=reader.number("doubt.near_ratio", entry.get("near_ratio", Doubt.near_ratio), 50, 100),
        unsure_near_ratio=reader.number("doubt.unsure_near_ratio", entry.get("unsure_near_ratio", Doubt.unsure_near_ratio), 50, 100),
        min_letters=int(reader.number("doubt.min_letters", entry.get("min_letters", Doubt.min_letters), 2, 12)),
        sound_alike=entry.get("sound_alike", True) is True,
    )


def _read_screens(reader: _Reader, table: Any, findings: set[str], flags: dict[str, int], causes: set[str],
                  sources) -> tuple[Screen, ...]:
    screens = []
    for screen_id, entry in reader.mapping("screens", table).items():
        entry = reader.mapping(screen_id, entry)
        finding = entry.get("finding")
        if finding not in findings:
            raise reader.fail(screen_id, f"unknown finding '{finding}'")
        signs = frozenset(reader.texts(f"{screen_id}.signs", entry.get("signs")))
        if signs - findings:
            raise reader.fail(f"{screen_id}.signs", f"unknown finding '{sorted(signs - findings)[0]}'")
        screened = reader.texts(f"{screen_id}.red_flags", entry.get("red_flags"))
        if set(screened) - set(flags):
            raise reader.fail(f"{screen_id}.red_flags", f"unknown red flag '{sorted(set(screened) - set(flags))[0]}'")
        always = entry.get("always", False) is True
        when = _read_conditions(reader, f"{screen_id}.when", entry.get("when", []), findings)
        if not always and not when:
            raise reader.fail(screen_id, "needs 'always: true' or a 'when' list")
        guards = frozenset(reader.texts(f"{screen_id}.guards", entry.get("guards", []), allow_empty=True))
        if guards - causes:
            raise reader.fail(f"{screen_id}.guards", f"unknown cause '{sorted(guards - causes)[0]}'")
        screens.append(
            Screen(screen_id, finding, signs, screened, always, when, reader.sources(screen_id, entry.get("sources"), sources),
                   guards=guards, worst=max(flags[flag] for flag in screened))
        )
    return tuple(screens)


_TOKEN = re.compile(r"[^\w\s]+", re.UNICODE)


def canonical_phrase(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation as spaces: the form phrases are kept in."""
    text = text.lower().replace("'", "").replace("’", "")
    return " ".join(_TOKEN.sub(" ", text).split())


def _phrases(reader: _Reader, entry: str, value: Any) -> tuple[str, ...]:
    return tuple(canonical_phrase(p) for p in reader.texts(entry, value))


def _read_language(reader: _Reader) -> LanguageProfile:
    data = reader.load()
    spelling = reader.mapping("spelling", data.get("spelling", {}))
    commands = reader.mapping("commands", data.get("commands"))
    reader.exact_ids(commands, COMMANDS, "command")

    def words(key: str) -> frozenset[str]:
        return frozenset(_phrases(reader, key, data.get(key)))

    return LanguageProfile(
        name=reader.text("name", data.get("name")),
        spelling={canonical_phrase(str(k)): canonical_phrase(str(v)) for k, v in spelling.items()},
        negations=words("negations"),
        post_negations=_phrases(reader, "post_negations", data.get("post_negations")),
        clause_breakers=words("clause_breakers"),
        and_words=words("and_words"),
        subject_words=words("subject_words"),
        common_words=words("common_words"),
        yes=_phrases(reader, "yes", data.get("yes")),
        no=_phrases(reader, "no", data.get("no")),
        unsure=_phrases(reader, "unsure", data.get("unsure")),
        sometimes=_phrases(reader, "sometimes", data.get("sometimes", ["sometimes"])),
        commands={name: _phrases(reader, f"commands.{name}", commands[name]) for name in COMMANDS},
        suffixes=reader.texts("suffixes", data.get("suffixes", []), allow_empty=True),
        sound_folds=_sound_folds(reader, data.get("sound_folds", [])),
        sound_classes=_sound_folds(reader, data.get("sound_classes", []), "sound_classes"),
        body_parts=_body_parts(reader, data.get("body_parts", {})),
        too_words=_phrases(reader, "too_words", data.get("too_words")),
    )


def _body_parts(reader: _Reader, value: Any) -> tuple[BodyPartFinding, ...]:
    found = []
    for finding, entry in reader.mapping("body_parts", value).items():
        entry = reader.mapping(f"body_parts.{finding}", entry)
        found.append(BodyPartFinding(
            finding=finding,
            parts=_phrases(reader, f"body_parts.{finding}.parts", entry.get("parts")),
            symptoms=frozenset(_phrases(reader, f"body_parts.{finding}.symptoms", entry.get("symptoms"))),
            other_senses=_phrases(reader, f"body_parts.{finding}.other_senses", entry.get("other_senses", [])),
            fine_words=frozenset(_phrases(reader, f"body_parts.{finding}.fine_words", entry.get("fine_words", []))),
        ))
    return tuple(found)


def _sound_folds(reader: _Reader, value: Any, key: str = "sound_folds") -> tuple[tuple[re.Pattern[str], str], ...]:
    if not isinstance(value, list):
        raise reader.fail(key, "must be a list of [pattern, replacement] pairs")
    folds = []
    for index, pair in enumerate(value):
        entry = f"{key}[{index}]"
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise reader.fail(entry, "must be a [pattern, replacement] pair of texts")
        try:
            folds.append((re.compile(pair[0]), pair[1]))
        except re.error as error:
            raise reader.fail(entry, f"'{pair[0]}' is not a valid pattern ({error})") from None
    return tuple(folds)


def _read_pack(root: Path, code: str, rules: Rules, sources: dict[str, Source]) -> LanguagePack:
    folder = root / code

    def reader(name: str) -> _Reader:
        return _Reader(folder / name)

    language = _read_language(reader("language.yaml"))

    r = reader("findings.yaml")
    data = r.load()
    r.exact_ids(data, rules.findings, "finding")
    findings = {finding: _phrases(r, finding, data[finding]) for finding in rules.findings}

    r = reader("causes.yaml")
    data = r.load()
    r.exact_ids(data, [c.id for c in rules.causes], "cause")
    causes = {}
    for cause_id, entry in data.items():
        entry = r.mapping(cause_id, entry)
        cause_sources = r.sources(cause_id, entry.get("sources"), sources)

        def said(key: str) -> tuple[Statement, ...]:
            return tuple(Statement(text, cause_sources) for text in r.texts(f"{cause_id}.{key}", entry.get(key)))

        causes[cause_id] = CauseText(
            name=r.text(f"{cause_id}.name", entry.get("name")),
            explanation=said("explanation"),
            what_to_do=said("what_to_do"),
            see_doctor=Statement(r.text(f"{cause_id}.see_doctor", entry.get("see_doctor")), cause_sources),
        )

    r = reader("red_flags.yaml")
    data = r.load()
    r.exact_ids(data, [f.id for f in rules.red_flags], "red flag")
    red_flags = {}
    for flag_id, entry in data.items():
        entry = r.mapping(flag_id, entry)
        flag_sources = r.sources(flag_id, entry.get("sources"), sources)
        red_flags[flag_id] = RedFlagText(
            name=r.text(f"{flag_id}.name", entry.get("name")),
            advice=tuple(Statement(text, flag_sources) for text in r.texts(f"{flag_id}.advice", entry.get("advice"))),
        )

    r = reader("urgent_signs.yaml")
    data = r.load()
    r.exact_ids(data, [s.id for s in rules.urgent_signs], "urgent sign")
    urgent_signs = {
        sign_id: Statement(
            r.text(f"{sign_id}.text", r.mapping(sign_id, entry).get("text")),
            r.sources(sign_id, entry.get("sources"), sources),
        )
        for sign_id, entry in data.items()
    }

    r = reader("questions.yaml")
    data = r.load()
    r.exact_ids(data, list(rules.questions), "question")
    questions = {}
    for question_id, entry in data.items():
        text = entry.get("text") if isinstance(entry, dict) else entry
        questions[question_id] = r.text(question_id, text)

    r = reader("screens.yaml")
    data = r.load()
    r.exact_ids(data, [s.id for s in rules.screens], "screen")
    screens = {}
    for screen_id, entry in data.items():
        entry = r.mapping(screen_id, entry)
        screen_sources = r.sources(screen_id, entry.get("sources"), sources)
        screens[screen_id] = ScreenText(
            question=Statement(r.text(f"{screen_id}.question", entry.get("question")), screen_sources),
            if_unsure=Statement(r.text(f"{screen_id}.if_unsure", entry.get("if_unsure")), screen_sources),
        )

    r = reader("replies.yaml")
    replies = {
        key: r.statements(key, value, sources, medical=False) for key, value in r.load().items()
    }
    return LanguagePack(code, language, findings, causes, red_flags, urgent_signs, questions, replies, screens)


def load_knowledge_from(root: Path) -> Knowledge:
    sources = _read_sources(root)
    rules = _read_rules(root, sources)
    packs = {code: _read_pack(root, code, rules, sources) for code in LANGUAGES}
    first, *others = packs.values()
    for pack in others:
        for key in first.replies.keys() ^ pack.replies.keys():
            owner = first.code if key in first.replies else pack.code
            raise KnowledgeError(
                f"intents/{owner}/replies.yaml: {key}: reply exists only in '{owner}'; every language needs it"
            )
    return Knowledge(rules=rules, sources=sources, packs=packs)


@cache
def load_knowledge() -> Knowledge:
    """The installed knowledge base, read once per process."""
    return load_knowledge_from(data_dir("intents"))
