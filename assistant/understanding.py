"""Understanding: a sentence someone said, to findings (what is present, what is denied).

The steps, all driven by intents/<lang>/language.yaml and findings.yaml:
normalise (case, accents, colloquial spellings, word endings) -> split into clauses at punctuation
-> spot finding phrases exactly, with a few words between their words, or nearly (recognisers
mishear) -> decide which matches a negation covers (up to "but", a new subject, or eight words;
a lone "no" after a symptom named as a question).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cache

from rapidfuzz import fuzz, process

from assistant.knowledge import Knowledge, LanguagePack, LanguageProfile, canonical_phrase, load_knowledge

MAX_TEXT_CHARS = 2000
"""Longer input is not a description someone said aloud; it is refused before matching."""

# Punctuation that ends a clause for negation purposes; the rest (hyphens, quotes) joins words.
_CLAUSE_PUNCTUATION = re.compile(r"[.,;:!?()\[\]\n]+")
_PAUSE = re.compile(r"\.{2,}|…")
"""A trailing-off pause ("I can't... breathe") is breath taken inside one clause, not its end."""
_NON_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
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
    possible: frozenset[str] = frozenset()
    """Danger cues only possibly heard (an unknown word that sounds like one): they may open a
    screening question, never raise a red flag."""

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
    texts: dict[int, tuple[str, ...]]
    spelling_reach: int
    negations: frozenset[str]
    """the negation words, folded like the phrases"""
    everyday: frozenset[str] = frozenset()
    """the language's everyday words, folded: one heard is itself, not a word of a phrase misheard
    a little more than the rest ("kalau muter" is not "kepala muter")"""


@cache
def _index_for(pack: LanguagePack) -> _PhraseIndex:
    by_length: dict[int, list[tuple[str, str]]] = {}
    for finding, phrases in pack.findings.items():
        for phrase in phrases:
            sounded = " ".join(pack.language.fold(pack.language.stem(word)) for word in phrase.split())
            by_length.setdefault(len(phrase.split()), []).append((finding, sounded))
    frozen = {n: tuple(items) for n, items in by_length.items()}
    texts = {n: tuple(phrase for _, phrase in items) for n, items in frozen.items()}
    reach = max((len(k.split()) for k in pack.language.spelling), default=1)
    profile = pack.language
    negations = frozenset(profile.fold(word) for word in profile.negations)
    everyday = {profile.fold(word) for group in (profile.common_words, profile.negations, profile.subject_words,
                                                 profile.and_words, profile.clause_breakers) for word in group}
    return _PhraseIndex(frozen, texts, reach, negations, frozenset(everyday))


@dataclass(frozen=True)
class _Candidate:
    finding: str
    phrase: str
    start: int
    end: int
    exact: bool
    """every word of the phrase heard as written (with or without words between)"""
    gaps: frozenset[int] = frozenset()
    """positions of the words standing between the phrase's words"""
    composed: bool = False
    """a body part and a symptom word of one clause (language.yaml `body_parts:`)"""


def normalise(text: str, profile: LanguageProfile, spelling_reach: int = 3) -> list[list[str]]:
    """Text to clauses of canonical words."""
    text = _PAUSE.sub(" ", _strip_accents(text.lower()))
    clauses = []
    for chunk in _CLAUSE_PUNCTUATION.split(text):
        words = [profile.stem(w) for w in _apply_spelling(_words(chunk), profile.spelling, spelling_reach)]
        if words:
            clauses.append(words)
    return clauses


class Utterance:
    """One turn's words, normalised once per language and handed on to every stage that reads
    them (commands, language detection, answers, understanding), so none does it again."""

    def __init__(self, text: str, *, unsure: bool = False):
        self.text = text
        self.unsure = unsure
        """The recogniser doubts these words: a danger cue is looked for more loosely."""
        self._clauses: dict[int, list[list[str]]] = {}
        self._findings: dict[int, Findings] = {}
        self._plain: list[str] | None = None
        self._bare: list[str] | None = None

    @property
    def plain(self) -> list[str]:
        """Canonical words before any language's spelling table."""
        if self._plain is None:
            self._plain = canonical_phrase(self.text).split()
        return self._plain

    @property
    def bare(self) -> list[str]:
        """Lower-case words without accents: what language detection counts."""
        if self._bare is None:
            self._bare = _words(_strip_accents(self.text.lower()))
        return self._bare

    def clauses(self, pack: LanguagePack) -> list[list[str]]:
        key = id(pack)
        if key not in self._clauses:
            self._clauses[key] = normalise(self.text, pack.language, _index_for(pack).spelling_reach)
        return self._clauses[key]

    def spelled(self, pack: LanguagePack) -> list[str]:
        """All the words in one run, after the language's spelling table."""
        return [word for clause in self.clauses(pack) for word in clause]


def heard(text: "str | Utterance") -> Utterance:
    """The text as an Utterance (the same one when it already is)."""
    return text if isinstance(text, Utterance) else Utterance(text)


def _threshold(phrase: str, size: int) -> float | None:
    """How close a misheard window must be; short single words only match exactly."""
    if size == 1:
        return 90.0 if len(phrase) >= 6 else None
    return 82.0 if len(phrase) >= 15 else 86.0


def _near_enough(window: str, phrase: str, score: float, limit: float, everyday: frozenset[str] = frozenset()) -> bool:
    """Word for word, the words must sound alike; a window with a word dropped or added must be
    closer as a whole."""
    window_words, phrase_words = window.split(), phrase.split()
    if len(window_words) != len(phrase_words):
        return score >= max(limit, 90.0)
    if score < limit:
        return False
    # Every word close, or one longer word misheard a little more ("matter" for "better"), but
    # not a short word swapped for another ("sudah" for "suhu", "had" for "healed").
    loose = 0
    for heard, expected in zip(window_words, phrase_words):
        # "dan" is not "badan": short words carry too little sound to guess, unless only an
        # ending differs ("peed" for "pee").
        if min(len(heard), len(expected)) <= 3 and not (heard.startswith(expected) or expected.startswith(heard)):
            return False
        similarity = fuzz.ratio(heard, expected)
        if similarity >= 75:
            continue
        if (similarity >= 65 and heard not in everyday and min(len(heard), len(expected)) >= 5
                and abs(len(heard) - len(expected)) <= 1):
            loose += 1
            continue
        return False
    return loose <= 1


def _same_negation(window: str, phrase: str, negations: frozenset[str]) -> bool:
    """A near match must not gain or lose a negation: "can still go up on my toes" is not
    "cant get up on my toes", and "not short of breath" is not "short of breath"."""
    return {w for w in window.split() if w in negations} == {w for w in phrase.split() if w in negations}


def _spot(words: list[str], index: _PhraseIndex, negations: frozenset[str]) -> list[_Candidate]:
    """Every (finding, phrase, start, end) whose phrase occurs in the words, exactly or nearly."""
    found: list[_Candidate] = []
    for size, items in index.by_length.items():
        phrases = index.texts[size]
        # Recognisers drop or add a word; a window one word shorter or longer may still be the phrase.
        for window_size in sorted({max(1, size - 1), size, size + 1}):
            if window_size > len(words):
                continue
            windows = [" ".join(words[i : i + window_size]) for i in range(len(words) - window_size + 1)]
            scores = process.cdist(windows, phrases, scorer=fuzz.ratio, score_cutoff=82, workers=1)
            for start, column in zip(*scores.nonzero()):
                finding, phrase = items[column]
                score = scores[start][column]
                exact = score == 100 and window_size == size
                limit = _threshold(phrase, size)
                if exact or (
                    limit is not None
                    and _near_enough(windows[start], phrase, score, limit, index.everyday)
                    and _same_negation(windows[start], phrase, negations)
                ):
                    found.append(_Candidate(finding, phrase, int(start), int(start) + window_size, exact))
    found += _gapped(words, index, negations)
    return found


_MAX_GAP = 4
"""Words that may stand between the words of a phrase: "dubur sama kemaluan kok kebas"."""


def _gapped(words: list[str], index: _PhraseIndex, negations: frozenset[str]) -> list[_Candidate]:
    """Two- and three-word phrases whose words come in order with a few others between them."""
    positions: dict[str, list[int]] = {}
    for position, word in enumerate(words):
        positions.setdefault(word, []).append(position)
    found = []
    for size in (2, 3):
        for finding, phrase in index.by_length.get(size, ()):
            parts = phrase.split()
            for first in positions.get(parts[0], ()):
                cursor, budget, used = first, _MAX_GAP, [first]
                for part in parts[1:]:
                    following = [p for p in positions.get(part, ()) if cursor < p <= cursor + 1 + budget]
                    if not following:
                        break
                    budget -= following[0] - cursor - 1
                    cursor = following[0]
                    used.append(cursor)
                else:
                    if cursor - first + 1 > size:
                        window = " ".join(words[first : cursor + 1])
                        gaps = frozenset(range(first, cursor + 1)) - set(used)
                        if _same_negation(window, phrase, negations):
                            found.append(_Candidate(finding, phrase, first, cursor + 1, True, gaps))
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
        # "but" or a new subject ("... my calf cramps") starts a statement the negation does not reach.
        if word in profile.subject_words or word in profile.clause_breakers:
            return False
    # "bengkak tidak ada", "swelling none": a denial after the finding that ends the clause.
    for gap in range(3):
        rest = words[end + gap :]
        for phrase in profile.post_negations:
            if rest == phrase.split():
                return True
    return False


def _without_overlaps(
    candidates: list[_Candidate], markers: frozenset[str], hides: dict[str, frozenset[str]] | None = None
) -> list[_Candidate]:
    """Resolve competing spans.

    - Where spans of one finding overlap, the longest stays. Spans of different findings may
      overlap ("swollen" inside "swollen and warm"): dropping either could hide a danger sign.
    - A near (fuzzy) span that swallows an exact phrase of another finding goes: "sore and
      swollen" is swelling and pain, not a misheard "hot and swollen"; so does a gapped span
      whose filler words are another finding's phrase.
    - A finding that `hides` another (intents/rules.yaml) removes that finding's spans where
      they overlap: "nearly fainted" is not a faint, "hampir jatuh" is not a fall.
    """
    hides = hides or {}
    hiding = [c for c in candidates if c.finding in hides]
    candidates = [
        c for c in candidates
        if not any(c.finding in hides[h.finding] and h.start < c.end and c.start < h.end for h in hiding)
    ]
    exact_medical = [c for c in candidates if c.exact and not c.gaps and c.finding not in markers]

    def swallows(c: _Candidate, e: _Candidate) -> bool:
        if e.finding == c.finding or not (c.start <= e.start and e.end <= c.end):
            return False
        if not c.exact:
            return True
        # A phrase heard with words between its words must not share a word with another
        # finding's phrase that reaches into the gap: "lama [baru enakan kalau] duduk" is not
        # "lama duduk" when "kalau duduk" is heard. "new [walking] routine" is fine.
        other = set(range(e.start, e.end))
        return bool(c.gaps & other) and bool(other - c.gaps)

    candidates = [
        c for c in candidates
        # A body part and its symptom share their words with other phrases by nature ("legs ache").
        if (c.exact and not c.gaps) or c.composed or not any(swallows(c, e) for e in exact_medical)
    ]
    candidates.sort(key=lambda c: (-(c.end - c.start), not c.exact, c.start))
    kept: list[_Candidate] = []
    for candidate in candidates:
        overlaps_same = any(k.finding == candidate.finding and k.start < candidate.end and candidate.start < k.end for k in kept)
        if not overlaps_same:
            kept.append(candidate)
    return sorted(kept, key=lambda c: c.start)


@dataclass(frozen=True)
class _BodyParts:
    """A language's body-part findings, folded like the words they are compared with."""

    finding: str
    parts: tuple[tuple[str, ...], ...]
    symptoms: frozenset[str]
    other_senses: tuple[tuple[str, ...], ...]
    fine_words: frozenset[str]


@cache
def _body_parts_for(pack: LanguagePack) -> tuple[_BodyParts, ...]:
    profile = pack.language

    def sounded(phrase: str) -> tuple[str, ...]:
        return tuple(profile.fold(profile.stem(word)) for word in phrase.split())

    return tuple(
        _BodyParts(entry.finding, tuple(sounded(p) for p in entry.parts),
                   frozenset(w for s in entry.symptoms for w in sounded(s)),
                   tuple(sounded(p) for p in entry.other_senses), frozenset(w for f in entry.fine_words for w in sounded(f)))
        for entry in profile.body_parts
    )


_PART_ONLY_CLAUSE = 4
"""A clause this short that names a body part and no symptom ("my lower back,") is a list item
whose symptom comes in the next clause ("... the calves too, they ache")."""


def _occurrences(words: list[str], phrase: tuple[str, ...]) -> list[int]:
    size = len(phrase)
    return [i for i in range(len(words) - size + 1) if tuple(words[i : i + size]) == phrase]


def _part_positions(words: list[str], entry: _BodyParts) -> list[tuple[int, int]]:
    """(start, end) of each body part named in its own sense ("back", not "walk back home")."""
    taken: set[int] = set()
    for phrase in entry.other_senses:
        for start in _occurrences(words, phrase):
            taken.update(range(start, start + len(phrase)))
    found = []
    for part in entry.parts:
        for start in _occurrences(words, part):
            end = start + len(part)
            if taken & set(range(start, end)) or set(words[end : end + 2]) & entry.fine_words:
                continue
            found.append((start, end))
    return found


def _body_part_spots(words: list[str], number: int, clauses: list[list[str]], pack: LanguagePack) -> list[_Candidate]:
    """Body part and symptom word in one clause, with any words between them that do not start
    another statement ("but"); or a short clause naming only the part, whose symptom is said in
    the clause after it."""
    profile = pack.language
    found = []
    for entry in _body_parts_for(pack):
        symptoms = [i for i, word in enumerate(words) if word in entry.symptoms]
        for start, end in _part_positions(words, entry):
            if symptoms:
                nearest = min(symptoms, key=lambda i: min(abs(i - start), abs(i - (end - 1))))
                low, high = min(start, nearest), max(end - 1, nearest)
                if any(words[i] in profile.clause_breakers for i in range(low, high + 1)):
                    continue
                gaps = frozenset(range(low, high + 1)) - set(range(start, end)) - {nearest}
                found.append(_Candidate(entry.finding, " ".join(words[start:end]), low, high + 1, True, gaps, True))
            elif _symptom_follows(words, number, clauses, entry, profile) or _adds_a_part(words, number, clauses, entry, profile):
                found.append(_Candidate(entry.finding, " ".join(words[start:end]), start, end, True, frozenset(), True))
    return found


_LISTED_PARTS = 3
"""How many short clauses naming only body parts may come before the one with their symptom:
"my back, oh and my thighs, they ache"."""


def _symptom_follows(words: list[str], number: int, clauses: list[list[str]], entry: _BodyParts,
                     profile: LanguageProfile) -> bool:
    """A short clause naming only the part, with its symptom in one of the next clauses, where
    the clauses between name only parts too."""
    if len(words) > _PART_ONLY_CLAUSE:
        return False
    for following in clauses[number + 1 : number + 1 + _LISTED_PARTS]:
        sounded = {profile.fold(word) for word in following}
        if sounded & entry.symptoms:
            return True
        if len(following) > _PART_ONLY_CLAUSE:
            return False
    return False


def _adds_a_part(words: list[str], number: int, clauses: list[list[str]], entry: _BodyParts,
                 profile: LanguageProfile) -> bool:
    """A short clause that adds the part to the clause before ("my calves ache on the walk, and
    my back as well"; "betis pegel, pinggang juga"): the symptom said there is the part's too."""
    if not number or len(words) > _PART_ONLY_CLAUSE + 2:
        return False
    text = f" {' '.join(words)} "
    if not any(f" {' '.join(profile.fold(w) for w in phrase.split())} " in text for phrase in profile.too_words):
        return False
    return bool({profile.fold(word) for word in clauses[number - 1]} & entry.symptoms)


# ---- danger cues only possibly heard ---------------------------------------------------------


@dataclass(frozen=True)
class _DoubtIndex:
    targets: tuple[tuple[str, str], ...]
    """(sounded word, finding) for the distinctive words of the findings that open a screen"""
    texts: tuple[str, ...]
    keys: dict[str, frozenset[str]]
    """sound key -> findings whose distinctive words have it"""
    known: frozenset[str]
    """every word the language's phrases and lists use: a heard word among them was heard as itself"""
    triggers: frozenset[str]
    """the findings that open a screen"""


_doubt_indexes: dict[int, _DoubtIndex] = {}


def _doubt_index(pack: LanguagePack, knowledge: Knowledge) -> _DoubtIndex:
    cached = _doubt_indexes.get(id(pack))
    if cached is not None:
        return cached
    profile = pack.language
    rules = knowledge.rules
    triggers = frozenset().union(*(screen.triggers() for screen in rules.screens)) if rules.screens else frozenset()
    # Words that only build sentences (negations, subjects, joining words), and those plus the
    # language's commonest words.
    structural = {profile.fold(w) for w in (*profile.negations, *profile.subject_words, *profile.and_words)}
    everyday = structural | {profile.fold(w) for w in profile.common_words}
    known = set(everyday)
    for phrases in pack.findings.values():
        for phrase in phrases:
            known.update(profile.fold(profile.stem(word)) for word in phrase.split())
    for said, canonical in profile.spelling.items():
        known.update(profile.fold(word) for word in (said + " " + canonical).split())
    for answers in (profile.yes, profile.no, profile.unsure, profile.sometimes, *profile.commands.values()):
        for phrase in answers:
            known.update(profile.fold(word) for word in phrase.split())
    # A phrase made only of everyday words ("kaki dingin", "back hurts") still has a cue word: its
    # words that are not structural.
    targets: set[tuple[str, str]] = set()
    for finding in triggers:
        for phrase in pack.findings.get(finding, ()):
            words = [(profile.fold(profile.stem(word)), profile.fold(word)) for word in phrase.split()]
            words = [(sounded, folded) for sounded, folded in words if len(sounded) >= rules.doubt.min_letters]
            cues = [sounded for sounded, folded in words if folded not in everyday]
            if not cues:
                cues = [sounded for sounded, folded in words if folded not in structural]
            targets.update((sounded, finding) for sounded in cues)
    ordered = tuple(sorted(targets))
    keys: dict[str, set[str]] = {}
    for word, finding in ordered:
        keys.setdefault(profile.sound_key(word), set()).add(finding)
    index = _DoubtIndex(ordered, tuple(w for w, _ in ordered), {k: frozenset(v) for k, v in keys.items()},
                        frozenset(known), triggers)
    _doubt_indexes[id(pack)] = index
    return index


def _possibly_heard(clauses: list[list[str]], pack: LanguagePack, knowledge: Knowledge, unsure: bool) -> set[str]:
    """Findings that open a screen and that the words would say if one unknown heard word (or two
    run together) were the cue word it sounds like: "tinggang" for "pinggang", "dima dima" for
    "tiba tiba". The cue word is put in its place and the clause read again, so a word shared by
    many phrases ("suddenly") only counts where the rest of a phrase is there too."""
    doubt = knowledge.rules.doubt
    profile = pack.language
    index = _doubt_index(pack, knowledge)
    phrases = _index_for(pack)
    if not index.targets:
        return set()
    limit = doubt.unsure_near_ratio if unsure else doubt.near_ratio
    possible: set[str] = set()
    for words in clauses:
        sounded = [profile.fold(word) for word in words]
        unknown = [word not in index.known for word in sounded]
        # (start, end, heard): one unknown word, or two words run together ("sud only", "tiba tiga").
        pieces = [(i, i + 1, word) for i, word in enumerate(sounded) if unknown[i] and len(word) >= doubt.min_letters]
        pieces += [(i, i + 2, sounded[i] + sounded[i + 1]) for i in range(len(sounded) - 1)
                   if len(sounded[i] + sounded[i + 1]) >= doubt.min_letters + 2]
        if not pieces:
            continue
        before = {c.finding for c in _spot(sounded, phrases, phrases.negations)}
        heard = [piece[2] for piece in pieces]
        scores = process.cdist(heard, index.texts, scorer=fuzz.ratio, score_cutoff=limit, workers=1)
        swaps: set[tuple[int, int, str]] = set()
        for row, column in zip(*scores.nonzero()):
            start, end, said = pieces[row]
            target = index.targets[column][0]
            if len(target) > doubt.min_letters and len(said) > doubt.min_letters and said != target:
                swaps.add((start, end, target))
        if doubt.sound_alike:
            for start, end, said in pieces:
                if end - start == 1 or any(unknown[start:end]):
                    key = profile.sound_key(said)
                    swaps |= {(start, end, target) for target, _ in index.targets
                              if target != said and profile.sound_key(target) == key}
        for start, end, target in swaps:
            changed = sounded[:start] + [target] + sounded[end:]
            after = {c.finding for c in _spot(changed, phrases, phrases.negations)}
            possible |= (after - before) & index.triggers
    return possible


_SHORT_QUESTION = 3
"""A clause this short followed by a lone "no" was a symptom named as a question."""


def _answers_no(words: list[str], profile: LanguageProfile) -> bool:
    said = " ".join(words)
    return said in profile.post_negations or said in profile.no


def understand(text: "str | Utterance", language: str, knowledge: Knowledge | None = None) -> Findings:
    knowledge = knowledge or load_knowledge()
    pack = knowledge.pack(language)
    utterance = heard(text)
    if id(pack) not in utterance._findings:
        utterance._findings[id(pack)] = _understand(utterance, pack, knowledge)
    return utterance._findings[id(pack)]


def _understand(utterance: Utterance, pack: LanguagePack, knowledge: Knowledge) -> Findings:
    language = pack.code
    profile = pack.language
    index = _index_for(pack)
    clauses = utterance.clauses(pack)
    matches: list[Match] = []
    for number, words in enumerate(clauses):
        if number and _answers_no(words, profile) and len(clauses[number - 1]) <= _SHORT_QUESTION:
            # "Swelling? None." / "Bengkak? Ndak.": the denial is its own clause.
            matches = [replace(m, negated=True) if m.clause == number - 1 else m for m in matches]
            continue
        # Folding keeps one word per word, so a spot's positions are positions in `words` too.
        sounded = [profile.fold(word) for word in words]
        found = _spot(sounded, index, index.negations) + _body_part_spots(sounded, number, clauses, pack)
        spots = _without_overlaps(found, knowledge.rules.markers, knowledge.rules.hides)
        masked = _masked_negations(words, profile)
        # "tidak bisa menahan kencing dan selangkangan mati rasa": the "tidak" belongs to the first
        # finding and must not deny the second.
        for spot in spots:
            if not spot.composed:
                masked.update(p for p in range(spot.start, spot.end) if words[p] in profile.negations)
        for spot in spots:
            # A negation inside the phrase itself ("cannot move my leg") is part of the finding;
            # between a body part and its symptom word it denies them ("my back doesnt hurt").
            negated = _is_negated(words, spot.start, spot.end, profile, masked) or (
                spot.composed and any(words[p] in profile.negations and p not in masked for p in spot.gaps))
            matches.append(Match(spot.finding, spot.phrase, number, spot.start, spot.end, negated))
    present = {m.finding for m in matches if not m.negated}
    # Said once and denied once: keep it as present, because missing a danger sign costs more.
    absent = {m.finding for m in matches if m.negated} - present
    possible = _possibly_heard(clauses, pack, knowledge, utterance.unsure) - present - absent
    return Findings(language, frozenset(present), frozenset(absent), tuple(matches), frozenset(possible))


def detect_language(text: "str | Utterance", default: str, knowledge: Knowledge | None = None) -> str:
    """The language whose everyday words and symptom words the text uses most."""
    knowledge = knowledge or load_knowledge()
    words = heard(text).bare
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
