"""Understanding: a sentence someone said, to findings (what is present, what is denied).

The steps, all driven by intents/<lang>/language.yaml and findings.yaml:
normalise (case, punctuation, colloquial spellings) -> split into clauses -> spot finding phrases
exactly or fuzzily (recognisers mishear) -> decide which matches a negation covers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz, process

from assistant.knowledge import Knowledge, LanguagePack, LanguageProfile, load_knowledge

MAX_TEXT_CHARS = 2000
"""Longer input is not a description someone said aloud; it is refused before matching."""

# Punctuation that ends a clause for negation purposes; the rest (hyphens, quotes) joins words.
_CLAUSE_PUNCTUATION = re.compile(r"[.,;:!?()\[\]\n]+")
_NON_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
_VOWELS = re.compile(r"[aeiou\s]+")
_NEGATION_REACH = 8
"""How many words after a negation it can cover: "no swelling, redness or warmth" but not a whole story."""


@dataclass(frozen=True)
class Match:
    finding: str
    phrase: str
    clause: int
    start: int
    end: int
    negated: bool


@dataclass(frozen=True)
class Findings:
    language: str
    present: frozenset[str]
    absent: frozenset[str]
    matches: tuple[Match, ...] = ()

    def is_empty(self) -> bool:
        return not self.present and not self.absent


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _apply_spelling(tokens: list[str], spelling: dict[str, str], longest: int) -> list[str]:
    """Replace colloquial spellings, longest multi-word forms first."""
    out: list[str] = []
    index = 0
    while index < len(tokens):
        for size in range(min(longest, len(tokens) - index), 0, -1):
            key = " ".join(tokens[index : index + size])
            if key in spelling:
                out.extend(spelling[key].split())
                index += size
                break
        else:
            out.append(tokens[index])
            index += 1
    return out


def _words(text: str) -> list[str]:
    text = text.replace("'", "").replace("’", "")
    # "kadang-kadang" and "tiba-tiba" are one word said twice; keep both halves as words.
    return _NON_WORD.sub(" ", text).split()


@dataclass(frozen=True)
class _PhraseIndex:
    """The phrases of one language, prepared once for fast exact and fuzzy spotting."""

    by_length: dict[int, tuple[tuple[str, str], ...]]
    """token count -> (finding, phrase)"""
    skeletons: dict[int, tuple[str, ...]]
    spelling_reach: int


@cache
def _index_for(pack: LanguagePack) -> _PhraseIndex:
    by_length: dict[int, list[tuple[str, str]]] = {}
    for finding, phrases in pack.findings.items():
        for phrase in phrases:
            by_length.setdefault(len(phrase.split()), []).append((finding, phrase))
    frozen = {n: tuple(items) for n, items in by_length.items()}
    skeletons = {n: tuple(_skeleton(p) for _, p in items) for n, items in frozen.items()}
    reach = max((len(k.split()) for k in pack.language.spelling), default=1)
    return _PhraseIndex(frozen, skeletons, reach)


def _skeleton(text: str) -> str:
    """Consonants only: recognisers keep consonants better than vowels ("kasa mutang" ~ "kesemutan")."""
    return _VOWELS.sub("", text)


def normalise(text: str, profile: LanguageProfile, spelling_reach: int = 3) -> list[list[str]]:
    """Text to clauses of canonical words."""
    text = _strip_accents(text.lower())
    clauses = []
    for chunk in _CLAUSE_PUNCTUATION.split(text):
        words = _apply_spelling(_words(chunk), profile.spelling, spelling_reach)
        if words:
            clauses.append(words)
    return clauses


def _split_on_breakers(clauses: list[list[str]], profile: LanguageProfile) -> list[list[str]]:
    """Split further where a new statement starts: "but", or "and" followed by a new subject."""
    result = []
    for words in clauses:
        current: list[str] = []
        for position, word in enumerate(words):
            following = words[position + 1] if position + 1 < len(words) else ""
            starts_new = word in profile.clause_breakers or (
                word in profile.and_words and following in profile.subject_words
            )
            if starts_new and current:
                result.append(current)
                current = []
            current.append(word)
        if current:
            result.append(current)
    return result


def _threshold(phrase: str, size: int) -> float | None:
    """How close a misheard window must be; short single words only match exactly."""
    if size == 1:
        return 90.0 if len(phrase) >= 6 else None
    return 82.0 if len(phrase) >= 15 else 86.0


def _spot(words: list[str], index: _PhraseIndex) -> list[tuple[str, str, int, int]]:
    """Every (finding, phrase, start, end) whose phrase occurs in the words, exactly or nearly."""
    found: list[tuple[str, str, int, int]] = []
    for size, items in index.by_length.items():
        if size > len(words) + 1:
            continue
        window_sizes = sorted({max(1, size - 1), size, size + 1} if size > 1 else {1, 2})
        for window_size in window_sizes:
            if window_size > len(words):
                continue
            windows = [" ".join(words[i : i + window_size]) for i in range(len(words) - window_size + 1)]
            phrases = [phrase for _, phrase in items]
            if window_size == size:
                phrase_set = {p: n for n, p in enumerate(phrases)}
                for start, window in enumerate(windows):
                    if window in phrase_set:
                        for finding, phrase in items:
                            if phrase == window:
                                found.append((finding, phrase, start, start + window_size))
            scores = process.cdist(windows, phrases, scorer=fuzz.ratio, score_cutoff=80, workers=1)
            skeleton_scores = process.cdist(
                [_skeleton(w) for w in windows], index.skeletons[size], scorer=fuzz.ratio, score_cutoff=90, workers=1
            )
            for start, row in enumerate(scores):
                for column in row.nonzero()[0]:
                    finding, phrase = items[column]
                    limit = _threshold(phrase, size)
                    plain = row[column]
                    sounds_alike = (
                        len(phrase) >= 7 and skeleton_scores[start][column] >= 90 and plain >= 65
                    )
                    if limit is not None and (plain >= limit or sounds_alike) and plain < 100:
                        found.append((finding, phrase, start, start + window_size))
            # Sound-alike windows below the plain cutoff of 80 are not in `scores`; check them too.
            for start, row in enumerate(skeleton_scores):
                for column in row.nonzero()[0]:
                    finding, phrase = items[column]
                    if len(phrase) < 7 or _threshold(phrase, size) is None:
                        continue
                    plain = fuzz.ratio(windows[start], phrase)
                    if 65 <= plain < 80:
                        found.append((finding, phrase, start, start + window_size))
    return found


def _masked_negations(words: list[str], profile: LanguageProfile) -> set[int]:
    """Positions of negation words that are part of "I don't know"-like phrases, not denials."""
    masked: set[int] = set()
    for phrase in profile.unsure:
        parts = phrase.split()
        for start in range(len(words) - len(parts) + 1):
            if words[start : start + len(parts)] == parts:
                masked.update(range(start, start + len(parts)))
    return masked


def _is_negated(words: list[str], start: int, end: int, profile: LanguageProfile, masked: set[int]) -> bool:
    for position in range(start - 1, max(-1, start - 1 - _NEGATION_REACH), -1):
        word = words[position]
        if word in profile.negations and position not in masked:
            return True
        # A new subject ("... my calf cramps") starts a new statement the negation does not reach.
        if word in profile.subject_words:
            return False
    # "bengkak tidak ada", "swelling none": a denial after the finding that ends the clause.
    for gap in range(3):
        rest = words[end + gap :]
        for phrase in profile.post_negations:
            if rest == phrase.split():
                return True
    return False


def _without_overlaps(candidates: list[tuple[str, str, int, int]]) -> list[tuple[str, str, int, int]]:
    """Keep the longest phrase where several spans of the same finding overlap."""
    candidates.sort(key=lambda c: (-(c[3] - c[2]), c[2]))
    kept: list[tuple[str, str, int, int]] = []
    for candidate in candidates:
        finding, _, start, end = candidate
        if not any(k[0] == finding and k[2] < end and start < k[3] for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda c: c[2])


def understand(text: str, language: str, knowledge: Knowledge | None = None) -> Findings:
    knowledge = knowledge or load_knowledge()
    pack = knowledge.pack(language)
    profile = pack.language
    index = _index_for(pack)
    clauses = _split_on_breakers(normalise(text, profile, index.spelling_reach), profile)
    matches: list[Match] = []
    for number, words in enumerate(clauses):
        masked = _masked_negations(words, profile)
        for finding, phrase, start, end in _without_overlaps(_spot(words, index)):
            # A negation inside the phrase itself ("cannot move my leg") is part of the finding.
            negated = _is_negated(words, start, end, profile, masked)
            matches.append(Match(finding, phrase, number, start, end, negated))
    present = {m.finding for m in matches if not m.negated}
    # Said once and denied once: keep it as present, because missing a danger sign costs more.
    absent = {m.finding for m in matches if m.negated} - present
    return Findings(language, frozenset(present), frozenset(absent), tuple(matches))


def detect_language(text: str, default: str, knowledge: Knowledge | None = None) -> str:
    """The language whose everyday words and symptom words the text uses most."""
    knowledge = knowledge or load_knowledge()
    words = _words(_strip_accents(text.lower()))
    best, best_score = default, 0
    for code, pack in knowledge.packs.items():
        vocabulary = _vocabulary(pack)
        score = sum(1 for word in words if word in vocabulary)
        if score > best_score or (score == best_score and code == default):
            best, best_score = code, score
    return best


@cache
def _vocabulary(pack: LanguagePack) -> frozenset[str]:
    words = set(pack.language.common_words) | set(pack.language.spelling)
    for phrases in pack.findings.values():
        for phrase in phrases:
            words.update(phrase.split())
    return frozenset(w for w in words if len(w) > 1)
